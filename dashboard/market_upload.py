"""The Market page's candle upload: a CSV or Parquet file for one instrument and timeframe, checked and
loaded by the same service as ``load_candles`` (a bad row refuses the whole file, naming its line).

Without JavaScript the form posts and the page comes back with the report; with it (static/js/
market_upload.js) the file goes up with a progress bar and the report comes back as JSON.
"""

import tempfile
from pathlib import Path

from django import forms
from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from market import selectors as market_selectors
from market import services as market_services
from market import timeframes
from tradingops.roles import Role

from .actions import ActionView

MAX_UPLOAD_BYTES = 512 * 1024 * 1024
SUFFIXES = (".csv", ".parquet")


class CandleUploadForm(forms.Form):
    symbol = forms.CharField(max_length=32)
    timeframe = forms.ChoiceField(choices=[(t, t) for t in timeframes.ALL], initial="1h")
    file = forms.FileField(help_text="CSV or Parquet: open time (UTC), open, high, low, close, volume.")
    skip_bad = forms.BooleanField(required=False, label="Skip bad rows", help_text="Load the rest and say how many.")

    def clean_symbol(self):
        instrument = market_selectors.instrument_get(symbol=self.cleaned_data["symbol"])
        if instrument is None:
            raise forms.ValidationError(
                "Unknown symbol: an admin creates it first (POST /api/v1/market/instruments or load_candles --create)."
            )
        return instrument

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if Path(upload.name).suffix.lower() not in SUFFIXES:
            raise forms.ValidationError(f"{upload.name}: a .csv or .parquet file.")
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"{upload.name}: at most {MAX_UPLOAD_BYTES // 2**20} MB.")
        return upload


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def candle_upload(form: CandleUploadForm) -> market_services.LoadReport:
    """Spool the upload to a file with its suffix (the reader picks CSV or Parquet by it) and load it."""
    upload = form.cleaned_data["file"]
    with tempfile.NamedTemporaryFile(suffix=Path(upload.name).suffix.lower()) as spool:
        for chunk in upload.chunks():
            spool.write(chunk)
        spool.flush()
        try:
            return market_services.candles_load_file(
                instrument=form.cleaned_data["symbol"],
                timeframe=form.cleaned_data["timeframe"],
                path=spool.name,
                skip_bad=form.cleaned_data["skip_bad"],
            )
        except OSError as exc:  # a file the reader cannot open (e.g. not Parquet inside): the upload's fault
            raise market_services.CandleLoadError(f"{upload.name}: {exc}") from exc


def report_text(symbol: str, timeframe: str, report) -> str:
    return (
        f"{symbol} {timeframe}: {report.loaded:,} candle(s) loaded, {report.already_loaded:,} already stored, "
        f"{len(report.skipped_bad):,} bad row(s) skipped, {len(report.gaps):,} gap(s)."
    )


class MarketUploadView(ActionView):
    """Operators load candles from a file (the role check is the dashboard's, see RolePageMixin)."""

    role = Role.OPERATOR
    form_class = CandleUploadForm

    def act(self, request, form):
        symbol, timeframe = request.POST.get("symbol", ""), request.POST.get("timeframe", "")
        report = candle_upload(form)
        text = report_text(symbol, timeframe, report)
        if _wants_json(request):
            return JsonResponse(
                {
                    "message": text,
                    "loaded": report.loaded,
                    "already_loaded": report.already_loaded,
                    "skipped_bad": [str(b) for b in report.skipped_bad[:10]],
                    "gaps": len(report.gaps),
                },  # fmt: skip
                status=201,
            )
        messages.success(request, text)
        return redirect(reverse("dashboard:market") + f"?symbol={symbol}&timeframe={timeframe}")

    def refused(self, request, form, error):
        errors = {name: [str(e) for e in errs] for name, errs in form.errors.items()}
        if _wants_json(request):
            return JsonResponse(errors, status=error.status_code if error else 400)
        for name, errs in errors.items():
            messages.error(request, f"Upload refused ({name}): {' '.join(errs)}")
        symbol, timeframe = request.POST.get("symbol", ""), request.POST.get("timeframe", "")
        return redirect(reverse("dashboard:market") + f"?symbol={symbol}&timeframe={timeframe}")
