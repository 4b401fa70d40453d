"""Unknown query parameters are refused on every API operation (400 naming them), so that a typo
(``?stauts=failed``) is not silently an unfiltered answer. What an operation accepts is what its
OpenAPI schema documents, plus ``format``."""

import uuid

import pytest
from drf_spectacular import drainage
from drf_spectacular.generators import SchemaGenerator

from agents.models import Intent
from tradingops.api import query_params


def _operations() -> list[tuple[str, str]]:
    """Every operation, with a well-formed value for each path parameter (the refusal comes before
    any lookup, so nothing needs to exist)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in ("get", "post", "patch"):
                continue
            concrete = path
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    kind = parameter["schema"]
                    value = "1" if kind.get("type") == "integer" else str(uuid.uuid4())
                    concrete = concrete.replace("{" + parameter["name"] + "}", value)
            found.append((method.upper(), concrete))
    return found


@pytest.mark.parametrize(("method", "path"), _operations())
def test_every_operation_refuses_an_unknown_query_parameter_by_name(client_for, method, path):
    client = client_for("admin")
    response = getattr(client, method.lower())(f"{path}?colour=red", {} if method != "GET" else None,
                                               format="json")  # fmt: skip
    assert response.status_code == 400, (method, path, response.status_code)
    body = response.json()
    assert list(body) == ["colour"], body
    assert "Unknown query parameter" in body["colour"][0]


def test_the_message_lists_what_the_operation_takes(client_for):
    body = client_for("viewer").get("/api/v1/backtests", {"stauts": "failed"}).json()
    assert "status" in body["stauts"][0]


def test_a_refused_post_writes_nothing(client_for):
    response = client_for("operator").post("/api/v1/agents/intents?dry_run=1", {"action": "pause"}, format="json")
    assert response.status_code == 400
    assert "dry_run" in response.json()
    assert not Intent.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/backtests?status=queued&limit=5&format=json",
        "/api/v1/events?after=0&limit=1000&type=fill,trade_blocked&run_id=live",
        "/api/v1/events?type=fill,trade_blocked&since=2024-01-01T00:00:00.000Z&limit=1000",
        "/api/v1/market/candles?symbol=SOL-USDT&timeframe=1h&limit=500&indicators=sma_20,ema_50",
        "/api/v1/wallets/reconcile/history?limit=10",
        "/api/v1/live/positions?open=1",
        "/api/v1/events/chains/00000000-0000-0000-0000-000000000000?all=1&limit=5&offset=0",
    ],
)
def test_documented_parameters_and_the_dashboards_requests_pass(client_for, sol, url):
    """The dashboard's own requests (static/js: live.js, market.js, wallets.js) among them."""
    response = client_for("viewer").get(url)
    assert response.status_code != 400, response.content


def test_the_check_leaves_the_schema_generators_warning_counts_alone(client_for, monkeypatch, capsys):
    """drf-spectacular's schema command (and the schema test's --fail-on-warn) reads its global
    warning counts: generating the schema for the check must neither add to them nor print."""

    real = SchemaGenerator.get_schema

    def with_a_warning(self, *args, **kwargs):
        drainage.warn("a warning of the check's own generation")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SchemaGenerator, "get_schema", with_a_warning)
    query_params.documented_parameters.cache_clear()
    before = dict(drainage.GENERATOR_STATS._warn_cache), dict(drainage.GENERATOR_STATS._error_cache)
    assert client_for("viewer").get("/api/v1/backtests", {"colour": "red"}).status_code == 400
    assert (dict(drainage.GENERATOR_STATS._warn_cache), dict(drainage.GENERATOR_STATS._error_cache)) == before
    assert "a warning of the check's own generation" not in capsys.readouterr().err
    query_params.documented_parameters.cache_clear()
