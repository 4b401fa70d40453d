"""Input serializers shared by every app: unknown fields are refused, by name.

DRF ignores fields it does not know; a typo (``max_trade_per_day``) then passes silently and the
client believes a limit is set. Every input serializer derives from :class:`StrictInputSerializer`.
"""

from rest_framework import serializers

from .filters import UNTIL_BEFORE_SINCE

# What the browsable API's HTML forms add to the fields they post.
FORM_FIELDS = {"csrfmiddlewaretoken"}


class StrictInputMixin:
    def to_internal_value(self, data):
        if hasattr(data, "keys") and not isinstance(data, str):
            unknown = sorted(set(data.keys()) - set(self.fields) - FORM_FIELDS)
            if unknown:
                raise serializers.ValidationError(dict.fromkeys(unknown, ["Unknown field."]))
        return super().to_internal_value(data)


class StrictInputSerializer(StrictInputMixin, serializers.Serializer):
    pass


class TimeWindowInputMixin:
    """Optional ``since`` and ``until``, ``until`` not before ``since`` (the filter sets' rule)."""

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if attrs.get("since") and attrs.get("until") and attrs["since"] > attrs["until"]:
            raise serializers.ValidationError({"until": UNTIL_BEFORE_SINCE})
        return attrs
