"""Unknown query parameters are refused on every API operation: a 400 naming each, before the view
runs, so that a typo (``?stauts=failed``) is never silently an unfiltered answer.

What an operation accepts is what its OpenAPI schema documents (its filter set's fields, its
pagination's ``cursor``/``limit``/``offset``/``page``, the query serializers and parameters given
to ``extend_schema``), plus DRF's ``format``: one source for the documentation and the check, so
that they cannot disagree. The schema is generated once per process, on the first API request.
Operations the schema leaves out (the schema and docs views, the API root) are not checked.
"""

from __future__ import annotations

from functools import cache

from django.http import JsonResponse
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

ALWAYS_ACCEPTED = frozenset({"format"})  # DRF's URL_FORMAT_OVERRIDE, on every view


@cache
def documented_parameters() -> dict[tuple[type, str], frozenset[str]]:
    """``(view class, method)`` -> the query parameters its operation documents."""

    # Quietly, and leaving drf-spectacular's warning counts as they were: its schema command
    # (and the schema test's --fail-on-warn) reads them, and they are its own generation's to report.
    warnings, errors = dict(GENERATOR_STATS._warn_cache), dict(GENERATOR_STATS._error_cache)
    generator = SchemaGenerator()
    try:
        with GENERATOR_STATS.silence():
            schema = generator.get_schema(request=None, public=True)
    finally:
        GENERATOR_STATS.reset()
        GENERATOR_STATS._warn_cache.update(warnings)
        GENERATOR_STATS._error_cache.update(errors)
    known: dict[tuple[type, str], frozenset[str]] = {}
    for path, _regex, method, callback in generator.endpoints:
        view = generator.create_view(callback, method)
        operation = schema["paths"].get(generator.coerce_path(path, method, view), {}).get(method.lower())
        if operation is None:
            continue
        names = frozenset(p["name"] for p in operation.get("parameters", ()) if p["in"] == "query")
        key = (callback.cls, method)
        known[key] = known.get(key, frozenset()) | names
    return known


def unknown_parameters(view_class: type, method: str, names) -> tuple[list[str], frozenset[str]] | None:
    """The unknown names among ``names`` and what the operation takes; None when it is not checked."""
    accepted = documented_parameters().get((view_class, "GET" if method == "HEAD" else method))
    if accepted is None:
        return None
    return sorted(set(names) - accepted - ALWAYS_ACCEPTED), accepted


class RefuseUnknownQueryParameters:
    """Middleware: answers 400, naming each unknown query parameter, for a DRF view's request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        view_class = getattr(view_func, "cls", None)  # set by DRF's as_view(); Django pages have none
        if view_class is None or not request.GET:
            return None
        found = unknown_parameters(view_class, request.method, request.GET.keys())
        if found is None or not found[0]:
            return None
        unknown, accepted = found
        takes = ", ".join(sorted(accepted | ALWAYS_ACCEPTED))
        message = f"Unknown query parameter. This operation takes: {takes}."
        return JsonResponse({name: [message] for name in unknown}, status=400)
