import re

from django.urls import URLPattern, URLResolver
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def _endpoints(patterns, prefix: str = "") -> list[tuple[str, str, str]]:
    """(area, name, path) of every endpoint under the API root, read from the URLconf itself, so
    a new endpoint is listed without touching this view."""
    found = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            area = entry.app_name or entry.namespace or ""
            for _, name, path in _endpoints(entry.url_patterns, prefix + str(entry.pattern)):
                found.append((area, name, path))
        elif isinstance(entry, URLPattern) and entry.name and entry.name != "api-root":
            found.append(("", entry.name, _CONVERTER.sub(r"{\1}", prefix + str(entry.pattern))))
    return found


class ApiRootView(APIView):
    """TradingOps API v1, every endpoint by area. Paths with ``{...}`` take an id; every endpoint
    needs a user; the OpenAPI schema and its docs are under ``docs``."""

    @extend_schema(exclude=True)
    def get(self, request):
        from tradingops.urls import api_v1

        base = reverse("api-root", request=request)
        areas: dict[str, dict[str, str]] = {}
        for area, name, path in _endpoints(api_v1):
            areas.setdefault(area or "other", {})[name] = base + path
        areas["docs"] = {"schema": reverse("schema", request=request), "docs": reverse("swagger-ui", request=request)}
        return Response(dict(sorted(areas.items())))


class InputFormMixin:
    """The browsable API draws a write's form from ``get_serializer()``: without this, views
    whose ``serializer_class`` is their output showed output fields and answered 400, and plain
    APIViews offered raw JSON only. ``input_serializers`` maps a method to its input serializer."""

    input_serializers: dict = {}

    def get_serializer(self, *args, **kwargs):
        input_class = self.input_serializers.get(self.request.method)
        if input_class is not None:
            kwargs.setdefault("context", {"request": self.request, "view": self})
            return input_class(*args, **kwargs)
        parent = getattr(super(), "get_serializer", None)
        return parent(*args, **kwargs) if parent is not None else None
