"""Input fields that refuse what the database cannot store or what is ambiguous.

- A time must carry its zone: a zone-less time was taken as UTC, silently.
- Its UTC offset must be within ±14:00 (the widest in use, Kiribati): Python parses offsets up to
  ±23:59, Postgres refuses those past ±15:59 with an error that was a 500.
"""

from datetime import UTC, datetime, timedelta

import django_filters
from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

MAX_UTC_OFFSET = timedelta(hours=14)
NEEDS_ZONE = "Give a time zone, e.g. 2024-09-20T12:00:00Z or +02:00."
OFFSET_RANGE = "The UTC offset must be between -14:00 and +14:00."


def aware_datetime_error(value: datetime) -> str | None:
    """Why ``value`` is refused, or None when it is fine."""
    offset = value.utcoffset()
    if offset is None:
        return NEEDS_ZONE
    if abs(offset) > MAX_UTC_OFFSET:
        return OFFSET_RANGE
    return None


def parse_aware_datetime(text: str) -> datetime:
    """Parse an ISO 8601 time that must carry a zone within ±14:00; raises ValueError saying why."""
    try:
        value = parse_datetime(text.strip())
    except ValueError:
        value = None
    if value is None:
        raise ValueError("Not an ISO 8601 date and time.")
    error = aware_datetime_error(value)
    if error:
        raise ValueError(error)
    return value


class AwareDateTimeField(serializers.DateTimeField):
    """A DRF DateTimeField that refuses zone-less times and offsets past ±14:00."""

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parse_aware_datetime(value)
            except ValueError as exc:
                raise serializers.ValidationError(str(exc)) from None
        elif isinstance(value, datetime) and (error := aware_datetime_error(value)):
            raise serializers.ValidationError(error)
        return super().to_internal_value(value)


class AwareIsoDateTimeFormField(forms.DateTimeField):
    zone_less_is_utc = False

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if not isinstance(value, datetime):
            try:
                value = parse_datetime(str(value).strip())
            except ValueError:
                value = None
            if value is None:
                raise DjangoValidationError(self.error_messages["invalid"], code="invalid")
        if value.utcoffset() is None and self.zone_less_is_utc:
            value = value.replace(tzinfo=UTC)
        error = aware_datetime_error(value)
        if error:
            raise DjangoValidationError(error, code="invalid")
        return value


class UtcIsoDateTimeFormField(AwareIsoDateTimeFormField):
    zone_less_is_utc = True


class AwareIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """django-filter's ISO 8601 filter, with the same refusals."""

    field_class = AwareIsoDateTimeFormField


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """For forms whose time inputs say they are UTC (the dashboard's ``datetime-local``): a
    zone-less time is UTC; offsets past ±14:00 are still refused."""

    field_class = UtcIsoDateTimeFormField
