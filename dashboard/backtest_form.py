"""The Backtests page's start form: a few fields turned into the API's request body, and the API's
field errors (nested, DRF-shaped) mapped back onto these fields."""

from django import forms

from agents.engine import PRESETS
from market import timeframes


def _preset_help() -> str:
    return "; ".join(
        f"{name}: " + ", ".join(f"{p.name}={p.default}" for p in preset.params) for name, preset in PRESETS.items()
    )


class BacktestForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    symbol = forms.CharField(max_length=32)
    timeframe = forms.ChoiceField(choices=[(t, t) for t in timeframes.ALL], initial="1h")
    start = forms.DateTimeField(required=False, help_text="UTC; empty: from the first candle.")
    end = forms.DateTimeField(required=False, help_text="UTC; empty: to the last candle.")
    initial_cash = forms.DecimalField(min_value=1, initial=10000)
    preset = forms.ChoiceField(choices=[(p, p) for p in sorted(PRESETS)], initial="sma_cross")
    params = forms.CharField(required=False, help_text=f"name=value, comma-separated. Defaults: {_preset_help()}")

    def clean_params(self) -> dict:
        params = {}
        for part in filter(None, (p.strip() for p in self.cleaned_data["params"].split(","))):
            key, sep, value = part.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise forms.ValidationError(f"'{part}' is not name=value.")
            text = value.strip()
            try:
                params[key.strip()] = int(text)
            except ValueError:
                try:
                    params[key.strip()] = float(text)
                except ValueError:
                    raise forms.ValidationError(f"'{text}' is not a number.") from None
        return params

    def request_body(self) -> dict:
        data = self.cleaned_data
        body = {
            "symbols": [data["symbol"]],
            "timeframe": data["timeframe"],
            "initial_cash": str(data["initial_cash"]),
            "strategy": {"preset": data["preset"], "params": data["params"]},
        }
        if data["name"]:
            body["name"] = data["name"]
        for key in ("start", "end"):
            if data[key]:
                body[key] = data[key].isoformat()
        return body

    def add_api_errors(self, detail) -> None:
        """Put the API's errors on the fields they name; what names no field goes on the form."""
        for path, message in _flatten(detail):
            head = path[0] if path else ""
            if head == "symbols":
                field = "symbol"
            elif head == "strategy":
                field = "params" if len(path) > 1 and path[1] == "params" else "preset"
            elif head in self.fields:
                field = head
            else:
                field = None
            label = ".".join(str(p) for p in path[1:]) if field in ("params",) and len(path) > 2 else ""
            self.add_error(field, f"{label}: {message}" if label else message)


def _flatten(detail, path=()):
    if isinstance(detail, dict):
        for key, value in detail.items():
            yield from _flatten(value, (*path, key) if key != "non_field_errors" else path)
    elif isinstance(detail, list):
        for item in detail:
            yield from _flatten(item, path) if isinstance(item, dict | list) else [(path, str(item))]
    else:
        yield path, str(detail)
