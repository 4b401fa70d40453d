import re
from collections.abc import Callable
from typing import Any

from django.http import Http404
from django.urls import URLPattern, URLResolver
from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def api_endpoints(patterns, prefix: str = "") -> list[tuple[str, str, str]]:
    """(area, name, path) of every endpoint under the API root, read from the URLconf itself, so
    a new endpoint is listed without touching this view."""
    found = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            area = entry.app_name or entry.namespace or ""
            for _, name, path in api_endpoints(entry.url_patterns, prefix + str(entry.pattern)):
                found.append((area, name, path))
        elif isinstance(entry, URLPattern) and entry.name and entry.name != "api-root":
            found.append(("", entry.name, _CONVERTER.sub(r"{\1}", prefix + str(entry.pattern))))
    return found


class ApiRootView(APIView):
    """TradingOps API v1, every endpoint by area. Paths with ``{...}`` take an id; every endpoint
    needs a user; the OpenAPI schema and its docs are under ``docs``."""

    @extend_schema(exclude=True)
    def get(self, request):
        from tradingops.urls import api_v1  # noqa: PLC0415 - tradingops.urls imports this view

        base = reverse("api-root", request=request)
        areas: dict[str, dict[str, str]] = {}
        for area, name, path in api_endpoints(api_v1):
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


class ChildListView(ListAPIView):
    """The list of one parent's rows (a run's trades, a wallet's ledger): a 404 naming the parent when
    it does not exist (an empty page would say it exists and has none), and the model's empty queryset
    while drf-spectacular builds the schema. A subclass names the URL's ``parent_kwarg``, the selectors'
    keyword for it (``parent_param``), ``parent_exists`` and ``children`` (selectors, as staticmethods,
    called with ``parent_param=``) and the 404's ``parent_missing`` (formatted with ``parent_param``)."""

    parent_kwarg = "pk"
    parent_param: str
    parent_missing: str
    parent_exists: Callable[..., Any]
    children: Callable[..., Any]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reads the model only
            return self.get_serializer_class().Meta.model.objects.none()
        parent = {self.parent_param: self.kwargs[self.parent_kwarg]}
        if not self.parent_exists(**parent):
            raise Http404(self.parent_missing.format(**parent))
        return self.children(**parent)
