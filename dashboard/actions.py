"""The dashboard's actions (a POST that calls one service) refuse in the API's vocabulary.

:class:`ActionView` calls the view's :meth:`~ActionView.act`; whatever it raises that
:func:`tradingops.api.exceptions.to_app_error` maps (``Invalid``, ``Conflict``, ``Unavailable``,
Django's ``ValidationError``, a database or broker that is down) is put on the form's fields it
names and handed to :meth:`~ActionView.refused`, which shows it where the action was taken. The
rest is a bug and propagates.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpResponse
from django.views import View

from tradingops.api.exceptions import to_app_error
from tradingops.errors import NON_FIELD, AppError, Unavailable

NON_FIELD_KEYS = frozenset({NON_FIELD, "__all__", "detail"})


def _messages(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [f"{key}: {text}" for key, item in value.items() for text in _messages(item)]
    if isinstance(value, list | tuple):
        return [text for item in value for text in _messages(item)]
    return [str(value)]


def error_items(error: AppError) -> list[tuple[str | None, list[str]]]:
    """``(field, messages)`` pairs; ``None`` for what names no field."""
    detail = error.detail
    if isinstance(detail, list):
        return [(None, _messages(detail))]
    return [(None if key in NON_FIELD_KEYS else key, _messages(value)) for key, value in detail.items()]


def error_text(error: AppError) -> str:
    """One sentence for a banner: each message, after the field it names."""
    return "; ".join(
        " ".join(texts) if field is None else f"{field}: {' '.join(texts)}" for field, texts in error_items(error)
    )


def add_to_form(form: forms.Form, error: AppError) -> None:
    """Put each message on the field it names (``params.multiplier`` on ``multiplier``), the rest on the form."""
    if hasattr(form, "add_api_errors"):  # a form that maps the API's nested paths itself
        form.add_api_errors(error.detail)
        return
    for field, texts in error_items(error):
        name = field.rsplit(".", 1)[-1] if field else None
        if name in form.fields:
            form.add_error(name, texts)
        else:
            form.add_error(None, [f"{field}: {text}" if field else text for text in texts])


class ActionView(View):
    """A POST that calls a service: ``form_class`` validates the input (if any), :meth:`act` calls
    the service and answers, :meth:`refused` shows a refusal (bad input or an application error)."""

    form_class: type[forms.Form] | None = None

    def post(self, request, *args, **kwargs) -> HttpResponse:
        form = self.form_class(request.POST, request.FILES) if self.form_class is not None else None
        if form is not None and not form.is_valid():
            return self.refused(request, form, None, *args, **kwargs)
        try:
            return self.act(request, form, *args, **kwargs)
        except Exception as exc:
            error = to_app_error(exc)
            if error is None:
                raise
        if form is not None:
            add_to_form(form, error)
        response = self.refused(request, form, error, *args, **kwargs)
        if isinstance(error, Unavailable) and response.status_code == error.status_code:
            response["Retry-After"] = str(error.retry_after)
        return response

    def act(self, request, form: forms.Form | None, *args, **kwargs) -> HttpResponse:
        raise NotImplementedError

    def refused(self, request, form: forms.Form | None, error: AppError | None, *args, **kwargs) -> HttpResponse:
        raise NotImplementedError
