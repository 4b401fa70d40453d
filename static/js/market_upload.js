// The Market page's candle upload with a progress bar: the file goes up over XHR (fetch has no upload
// progress), the server answers JSON with the load report. Without this script the form posts as usual.
const form = document.querySelector('form[data-action="candle-upload"]');
if (form) {
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    bar.hidden = false;
    bar.value = 0;
    status.textContent = "Uploading…";
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) {
        bar.value = Math.round((100 * e.loaded) / e.total);
        status.textContent = `Uploading… ${bar.value}%`;
      }
    });
    xhr.upload.addEventListener("load", () => {
      bar.removeAttribute("value"); // indeterminate while the server checks and loads the rows
      status.textContent = "Checking and loading the rows…";
    });
    xhr.addEventListener("load", () => {
      let body = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = { file: [`The server answered ${xhr.status}.`] };
      }
      bar.value = 100;
      if (xhr.status === 201) {
        status.textContent = body.message;
      } else {
        status.textContent = Object.entries(body).map(([k, v]) => `${k}: ${[].concat(v).join(" ")}`).join("; ");
      }
    });
    xhr.addEventListener("error", () => {
      status.textContent = "The upload failed: the connection was lost.";
    });
    xhr.send(new FormData(form));
  });
}
