from datetime import date

from django.db import models
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination

from tradingops.api.fields import parse_aware_datetime


class CheckedCursorMixin:
    """A cursor is client input: its position is checked against the ordering field's type, so a
    forged one is a 400 naming ``cursor`` (a position time past ±15:59 was a 500 from Postgres)."""

    def paginate_queryset(self, queryset, request, view=None):
        self._cursor_model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise ValidationError({"cursor": ["Invalid cursor."]}) from None
        if cursor is None or cursor.position is None:
            return cursor
        model = getattr(self, "_cursor_model", None)
        name = self.ordering[0].lstrip("-") if isinstance(self.ordering, list | tuple) else self.ordering.lstrip("-")
        try:
            field = model._meta.get_field(name) if model is not None else None
        except Exception:  # noqa: BLE001 - an annotation, not a model field: the database checks it
            field = None
        try:
            if isinstance(field, models.DateTimeField):
                parse_aware_datetime(cursor.position)
            elif isinstance(field, models.DateField):
                date.fromisoformat(cursor.position)
            elif isinstance(field, models.IntegerField):
                value = int(cursor.position)
                if abs(value) >= 2**63:
                    raise ValueError("out of range")
        except ValueError:
            raise ValidationError({"cursor": ["Invalid cursor."]}) from None
        return cursor


class NewestFirstCursorPagination(CheckedCursorMixin, CursorPagination):
    """Time series, newest first. The cursor position is ``ts``; ties fall back to ``-id``."""

    ordering = ("-ts", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 1000
