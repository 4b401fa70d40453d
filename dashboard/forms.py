from django import forms


class OperatorNoteForm(forms.Form):
    """An operator's note on the decision log: stored as an ``intent`` event naming the user."""

    note = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    symbol = forms.CharField(max_length=32, required=False, help_text="Optional, e.g. SOL-USDT.")


class OperatorIntentForm(forms.Form):
    """Pause, resume, flatten, replan or set the risk multiplier: an operator intent, as in the API."""

    action = forms.ChoiceField(
        choices=[
            ("pause", "Pause"),
            ("resume", "Resume"),
            ("flatten", "Flatten"),
            ("replan", "Replan"),
            ("set_risk_multiplier", "Set risk multiplier"),
        ]
    )
    FLATTEN_ALL_WORD = "FLATTEN ALL"
    symbol = forms.CharField(
        max_length=32, required=False, help_text=f"Flatten one symbol; empty flattens all (type {FLATTEN_ALL_WORD})."
    )
    multiplier = forms.DecimalField(required=False, min_value=0, max_digits=6, decimal_places=4)
    confirmation = forms.CharField(
        max_length=16, required=False, help_text=f"Only to flatten every position: type {FLATTEN_ALL_WORD}."
    )
    note = forms.CharField(max_length=2000, required=False)

    def clean(self):
        data = super().clean()
        if data.get("action") == "set_risk_multiplier" and data.get("multiplier") is None:
            self.add_error("multiplier", "Give the new multiplier.")
        if (
            data.get("action") == "flatten"
            and not data.get("symbol")
            and data.get("confirmation") != self.FLATTEN_ALL_WORD
        ):
            self.add_error(
                "confirmation",
                f"Flattening every position needs {self.FLATTEN_ALL_WORD} typed here (or give a symbol).",
            )
        return data


class KillSwitchForm(forms.Form):
    """Admins: engaging or releasing the kill switch needs the word typed and a reason."""

    WORD = "KILL"
    engaged = forms.TypedChoiceField(choices=[("1", "Engage"), ("0", "Release")], coerce=lambda v: v == "1")
    reason = forms.CharField(max_length=500)
    confirmation = forms.CharField(max_length=16, help_text=f"Type {WORD} to confirm.")

    def clean_confirmation(self):
        if self.cleaned_data["confirmation"] != self.WORD:
            raise forms.ValidationError(f"Type {self.WORD} to confirm.")
        return self.cleaned_data["confirmation"]


class ModeForm(forms.Form):
    """Admins: paper or live; live also needs the word the service asks for."""

    mode = forms.ChoiceField(choices=[("paper", "Paper"), ("live", "Live")])
    confirmation = forms.CharField(max_length=16, required=False)
    reason = forms.CharField(max_length=500, required=False)


class WhatIfForm(forms.Form):
    """What-if on one risk rule of a completed backtest, as ``POST /api/v1/backtests/<id>/what-if``."""

    OFF = "off"

    rule = forms.ChoiceField(choices=[])
    values = forms.CharField(
        max_length=500,
        help_text=f"Comma-separated values of the limit; {OFF} switches it off. E.g. 1, 2, 4, {OFF}",
    )

    def __init__(self, *args, rules: tuple[str, ...] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rule"].choices = [(r, r.replace("_", " ")) for r in rules]

    def clean_values(self) -> list:
        """``"1, 2.5, off"`` -> ``[1, "2.5", None]``: whole numbers as integers, the rest as the decimal
        strings the API takes; what the config refuses is named by the service."""
        out: list = []
        for item in (part.strip() for part in self.cleaned_data["values"].split(",")):
            if not item:
                continue
            if item.lower() in (self.OFF, "null", "none"):
                out.append(None)
            else:
                out.append(int(item) if item.lstrip("-").isdigit() else item)
        if not out:
            raise forms.ValidationError("Give at least one value.")
        return out
