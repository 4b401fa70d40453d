"""Real Chromium (Debian's /usr/bin/chromium) driven by Playwright against the real server."""

import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "dashboard"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _ensure_chromium() -> str | None:
    """Install Debian's Chromium if it is missing; the reason it cannot be had, else None."""
    if Path(CHROMIUM).exists():
        return None
    if shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False, capture_output=True)
    return None if Path(CHROMIUM).exists() else f"{CHROMIUM} is absent and `apt-get install chromium` failed"


# Module scope: Playwright's sync API keeps an event loop running in this thread while it is open,
# and async tests in later modules (pytest-asyncio) cannot start theirs until it is stopped.
@pytest.fixture(scope="module")
def chromium():
    reason = _ensure_chromium()
    if reason:
        pytest.skip(reason)

    # Playwright's sync API keeps an event loop running in this thread, which makes Django refuse
    # ORM calls from the test body; they are plain synchronous calls, so allow them (the approach
    # the Django and Playwright docs give for this setup).
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


class Tab:
    """A browser tab that records console errors and saves screenshots under artifacts/."""

    def __init__(self, context, base_url: str):
        self.context = context
        self.base = f"http://{base_url}"
        self.page = context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))

    def goto(self, path: str):
        return self.page.goto(self.base + path)

    def login(self, username: str, path: str = "/"):
        self.goto(f"/accounts/login/?next={quote(path)}")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", "pw-" + username)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(self.base + path)

    def wait_for(self, expression: str, timeout: float = 30000) -> None:
        """``page.wait_for_function`` without its in-page ``eval``, which the site's
        Content-Security-Policy (script-src 'self') refuses: poll ``page.evaluate`` instead."""
        deadline = time.monotonic() + timeout / 1000
        while not self.page.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression} still false after {timeout} ms")
            self.page.wait_for_timeout(50)

    def screenshot(self, name: str):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def open_tab(chromium, asgi_server):
    contexts = []

    def make(**context_options) -> Tab:
        context = chromium.new_context(**{"viewport": {"width": 1280, "height": 900}, **context_options})
        contexts.append(context)
        return Tab(context, asgi_server)

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def server_side():
    """Run a service call in a plain thread, as a request or a Celery task would.

    Playwright's sync API keeps an asyncio loop in the test's thread, where ``async_to_sync``
    (used to publish to the channel layer after commit) refuses to run.
    """

    def run(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="server-side") as pool:
        yield lambda fn, *args, **kwargs: pool.submit(run, fn, *args, **kwargs).result()
