from django.core.management import call_command


def test_the_openapi_schema_is_valid_and_generates_without_warnings(tmp_path, db):
    """Every endpoint is documented: an unguessable view or an enum collision fails here."""
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = target.read_text()
    for path in (
        "/api/v1/events:",
        "/api/v1/market/candles:",
        "/api/v1/live/portfolio:",
        "/api/v1/backtests:",
        "/api/v1/wallets:",
    ):
        assert path in schema
