import json
from datetime import date, datetime

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Q
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination

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


class KeysetCursorPagination(CursorPagination):
    """Cursor pagination on the whole ordering key (e.g. ``type, -ts, -id``), for lists a person
    sorts by a column with many equal values.

    DRF's ``CursorPagination`` positions on the first ordering field alone and steps over equal
    values with an offset capped at 1,000 (``offset_cutoff``): sorted by type, the 1,001st fill
    would repeat pages for ever. Here the cursor holds every ordering field's value of the row it
    stops at, and the next page is ``WHERE (key, ts, id) comes after that row``, spelled out per
    field so that each field keeps its own direction. The last field must be unique (``id``).

    The ordering is the queryset's own (a FilterSet's ordering filter sets it), else ``ordering``.
    """

    ordering = ("-ts", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 1000

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self.get_page_size(request)
        if not self.page_size:
            return None
        self.base_url = request.build_absolute_uri()
        self.ordering = tuple(queryset.query.order_by) or tuple(self.ordering)
        self._model = queryset.model
        self.cursor = self.decode_cursor(request)
        reverse = bool(self.cursor and self.cursor.reverse)
        ordering = [_flip(name) for name in self.ordering] if reverse else list(self.ordering)
        queryset = queryset.order_by(*ordering)
        if self.cursor is not None:
            queryset = queryset.filter(_after(ordering, self.cursor.position))
        results = list(queryset[: self.page_size + 1])
        more = len(results) > self.page_size
        self.page = results[: self.page_size]
        if reverse:
            self.page.reverse()
            self.has_next, self.has_previous = True, more
        else:
            self.has_next, self.has_previous = more, self.cursor is not None
        self.display_page_controls = self.template is not None and (self.has_next or self.has_previous)
        return self.page

    def get_next_link(self):
        if not self.has_next or not self.page:
            return None
        return self._link(self._position(self.page[-1]), reverse=False)

    def get_previous_link(self):
        if not self.has_previous or not self.page:
            return None
        return self._link(self._position(self.page[0]), reverse=True)

    def _link(self, position: list, *, reverse: bool) -> str:
        return self.encode_cursor(Cursor(offset=0, reverse=reverse, position=json.dumps(position)))

    def _position(self, instance) -> list:
        values = []
        for name in self.ordering:
            value = getattr(instance, name.lstrip("-"))
            values.append(value.isoformat() if isinstance(value, datetime) else value)
        return values

    def decode_cursor(self, request):
        """A cursor is client input: each value must fit its ordering field, else a 400 naming
        ``cursor`` (never a 500 from the database)."""
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise ValidationError({"cursor": ["Invalid cursor."]}) from None
        if cursor is None:
            return None
        try:
            values = json.loads(cursor.position or "")
            if not isinstance(values, list) or len(values) != len(self.ordering):
                raise ValueError("wrong length")
            position = [self._parse(name.lstrip("-"), value) for name, value in zip(self.ordering, values, strict=True)]
        except (ValueError, TypeError):
            raise ValidationError({"cursor": ["Invalid cursor."]}) from None
        return Cursor(offset=0, reverse=cursor.reverse, position=position)

    def _parse(self, name: str, value):
        try:
            field = self._model._meta.get_field(name)
        except FieldDoesNotExist:
            field = None  # an annotation: the sorts that use one annotate text
        if isinstance(field, models.DateTimeField):
            return parse_aware_datetime(str(value))
        if isinstance(field, models.IntegerField | models.AutoField):
            if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63:
                raise ValueError("not a position")
            return value
        if not isinstance(value, str):
            raise ValueError("not a position")
        return value


def _flip(name: str) -> str:
    return name[1:] if name.startswith("-") else f"-{name}"


def _after(ordering: list[str], position: list) -> Q:
    """Rows strictly after ``position`` in ``ordering``: ``a > x OR (a = x AND b > y) OR ...``,
    each comparison in its own field's direction."""
    condition = Q()
    for i, name in enumerate(ordering):
        field = name.lstrip("-")
        equal = {other.lstrip("-"): position[j] for j, other in enumerate(ordering[:i])}
        condition |= Q(**equal, **{f"{field}__{'lt' if name.startswith('-') else 'gt'}": position[i]})
    return condition
