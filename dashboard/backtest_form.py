"""The Backtests page's start form: every field the API takes, turned into its request body, and the
API's field errors (nested, DRF-shaped) mapped back onto these fields.

A field left empty (or not posted at all) is left out of the body, so the API's default applies: the
form and the API cannot disagree about a default. The risk limits take a number or ``off`` (null,
no limit); their defaults are the backtest defaults, shown in the box.
"""

from django import forms

from agents.engine import PRESETS
from agents.engine.sizing import METHODS, PRICES
from backtests.config import BACKTEST_RISK_DEFAULTS, FILL_TIMINGS
from market import timeframes

OFF = "off"

RISK_LABELS = {
    "daily_risk_budget": ("Daily risk budget", "fraction of the day's starting equity, e.g. 0.02"),
    "risk_per_trade": ("Risk per trade", "fraction of equity one trade may risk (entry to stop), e.g. 0.01"),
    "max_trades_per_day": ("Max trades per day", "entries per UTC day"),
    "max_trades_per_symbol_per_day": ("Max trades per symbol per day", "entries per symbol per UTC day"),
    "max_open_positions": ("Max open positions", "positions held at once"),
    "max_cost_to_reward": ("Max cost to reward", "round-trip costs / distance to the target (with a target)"),
}


def _preset_help() -> str:
    return "; ".join(
        f"{name}: " + ", ".join(f"{p.name}={p.default}" for p in preset.params) for name, preset in PRESETS.items()
    )


def _shown(value) -> str:
    return OFF if value is None else str(value)


class DateTimeLocal(forms.DateTimeInput):
    """A browser date-time picker; the value is read as UTC."""

    input_type = "datetime-local"

    def __init__(self):
        super().__init__(format="%Y-%m-%dT%H:%M")


class BacktestForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    symbol = forms.CharField(max_length=32)
    timeframe = forms.ChoiceField(choices=[(t, t) for t in timeframes.ALL], initial="1h")
    start = forms.DateTimeField(required=False, widget=DateTimeLocal(), help_text="UTC; empty: from the first candle.")
    end = forms.DateTimeField(required=False, widget=DateTimeLocal(), help_text="UTC; empty: to the last candle.")
    initial_cash = forms.DecimalField(min_value=1, initial=10000)
    preset = forms.ChoiceField(choices=[(p, p) for p in sorted(PRESETS)], initial="sma_cross")
    params = forms.CharField(required=False, help_text=f"name=value, comma-separated. Defaults: {_preset_help()}")
    # sizing, levels, costs
    sizing_method = forms.ChoiceField(
        label="Sizing", choices=[(m, m) for m in METHODS], initial="equity_fraction", required=False,
        help_text="equity_fraction: share of equity (1 = all in); fixed_qty: units; fixed_notional: quote; "
        "risk: share of equity lost at the stop (needs a stop).",
    )  # fmt: skip
    sizing_value = forms.DecimalField(
        label="Sizing value", required=False, initial=1, help_text="Empty with risk sizing: the risk per trade."
    )
    sizing_price = forms.ChoiceField(
        label="Size at", choices=[(p, p) for p in PRICES], initial="signal", required=False,
        help_text="signal: at the signal bar's close; fill: at the fill price, when the order fills.",
    )  # fmt: skip
    stop = forms.CharField(
        required=False,
        max_length=500,
        help_text="A price rule, e.g. low_10 or close - 2 * atr_14. Empty: the preset's (breakout: 2 * atr_14).",
    )
    target = forms.CharField(required=False, max_length=500, help_text="A price rule, e.g. high_20. Empty: none.")
    fee_rate = forms.DecimalField(
        label="Fee rate", required=False, initial="0.001", help_text="Of notional, each side."
    )
    slippage_bps = forms.DecimalField(label="Slippage (bps)", required=False, initial=5, help_text="Each side.")
    fill_timing = forms.ChoiceField(
        choices=[(f, f) for f in FILL_TIMINGS], initial=FILL_TIMINGS[0], required=False,
        help_text="next_open: a signal on a close fills at the next bar's open.",
    )  # fmt: skip
    close_at_end = forms.BooleanField(
        label="Close at end", required=False,
        help_text="Exit what is still open at the last bar's open "
        "(backtesting.py finalize_trades, Freqtrade force_exit).",
    )  # fmt: skip
    min_notional = forms.DecimalField(
        label="Min notional", required=False, min_value=0, help_text="Quote currency. Empty: the instrument's minimum."
    )
    cooldown_after_loss_s = forms.IntegerField(
        label="Cooldown after a loss (s)", required=False, min_value=0, initial=0, help_text="0: none."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, (label, help_text) in RISK_LABELS.items():
            default = BACKTEST_RISK_DEFAULTS[name]
            self.fields[name] = forms.CharField(
                label=label,
                required=False,
                initial=_shown(default),
                help_text=f"{help_text}. A number, or {OFF} for no limit (0 would allow none). "
                f"Default: {_shown(default)}.",
            )

    @property
    def risk_fields(self):
        return [self[name] for name in RISK_LABELS]

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

    def clean(self):
        data = super().clean()
        for name in RISK_LABELS:
            text = (data.get(name) or "").strip().lower()
            if text in ("", OFF, "none", "null"):
                data[name] = None if text else ""  # "" = not given: the default applies
                continue
            try:
                float(text)
            except ValueError:
                self.add_error(name, f"'{text}' is not a number or {OFF}.")
                continue
            data[name] = text
        return data

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
        for key in ("fee_rate", "slippage_bps"):
            if data.get(key) is not None:
                body[key] = str(data[key])
        if data.get("fill_timing"):
            body["fill_timing"] = data["fill_timing"]
        if data.get("close_at_end"):
            body["close_at_end"] = True
        if data.get("sizing_method"):
            value = data.get("sizing_value")
            body["sizing"] = {
                "method": data["sizing_method"],
                "value": None if value is None else str(value),
                "price": data.get("sizing_price") or "signal",
            }
            if value is None and data["sizing_method"] == "equity_fraction":
                body["sizing"]["value"] = "1"
        for key in ("stop", "target"):
            if (data.get(key) or "").strip():
                body["strategy"][key] = data[key].strip()
        risk = {}
        for name in RISK_LABELS:
            if data.get(name) != "":
                risk[name] = data.get(name)
        if data.get("min_notional") is not None:
            risk["min_notional"] = str(data["min_notional"])
        if data.get("cooldown_after_loss_s") is not None:
            risk["cooldown_after_loss_s"] = data["cooldown_after_loss_s"]
        if risk:
            body["risk"] = risk
        return body

    def add_api_errors(self, detail) -> None:
        """Put the API's errors on the fields they name; what names no field goes on the form."""
        for path, message in _flatten(detail):
            head = path[0] if path else ""
            sub = str(path[1]) if len(path) > 1 else ""
            if head == "symbols":
                field = "symbol"
            elif head == "strategy":
                if sub == "params":
                    field = "params"
                elif sub in ("stop", "target"):
                    field = sub
                else:
                    field = "preset"
            elif head == "sizing":
                field = {"value": "sizing_value", "price": "sizing_price"}.get(sub, "sizing_method")
            elif head == "risk" and sub in self.fields:
                field = sub
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
