"""The time window the list endpoints filter by: ``since`` (at or after) and ``until`` (before), ISO 8601
times with a zone, and ``until`` not before ``since`` (a 400 naming ``until``)."""

import django_filters as filters
from django import forms

from .fields import AwareIsoDateTimeFilter

UNTIL_BEFORE_SINCE = "Must not be before 'since'."


def since_filter(field_name: str = "ts", *, help_text: str = "At or after (ISO 8601).") -> AwareIsoDateTimeFilter:
    return AwareIsoDateTimeFilter(field_name=field_name, lookup_expr="gte", help_text=help_text)


def until_filter(field_name: str = "ts", *, help_text: str = "Before (ISO 8601).") -> AwareIsoDateTimeFilter:
    return AwareIsoDateTimeFilter(field_name=field_name, lookup_expr="lt", help_text=help_text)


class TimeWindowForm(forms.Form):
    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", UNTIL_BEFORE_SINCE)
        return data


class TimeWindowFilterSet(filters.FilterSet):
    """``since``/``until`` over ``ts``. A subclass names its model and fields in
    ``class Meta(TimeWindowFilterSet.Meta)`` (which carries the form that checks the order); a model
    whose time is another field redeclares both: ``since = since_filter("created_at")``."""

    since = since_filter()
    until = until_filter()

    class Meta:
        form = TimeWindowForm
