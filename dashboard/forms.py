from django import forms


class OperatorNoteForm(forms.Form):
    """An operator's note on the decision log: stored as an ``intent`` event naming the user."""

    note = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    symbol = forms.CharField(max_length=32, required=False, help_text="Optional, e.g. SOL-USDT.")
