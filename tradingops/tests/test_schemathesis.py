"""The whole OpenAPI schema fuzzed by schemathesis, as an admin and as a viewer: no request may
get a 5xx, and every answer conforms to the schema (status code, body, content type, headers).
Marked slow; bounded by examples per operation (SCHEMATHESIS_EXAMPLES, default 15) and
by the test's timeout."""

import os

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from events.services import emit
from market.tests.factories import InstrumentFactory
from tradingops.celery import app as celery_app
from wallets.tests.factories import WalletFactory

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "15"))


@pytest.fixture
def world(transactional_db, users):
    """A little of everything, so that detail endpoints have something to find."""

    InstrumentFactory()
    emit("intent", {"action": "note", "note": "seed"}, source="user:ada", run_id="r1")
    WalletFactory(name="paper", funds={"USDT": "1000"})
    return users


def _fuzz(schema, headers: dict, seen: dict) -> list[str]:

    checks = [
        not_a_server_error,
        status_code_conformance,
        response_schema_conformance,
        content_type_conformance,
        response_headers_conformance,
    ]

    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
        )
        def run(case):
            response = case.call(headers=headers)
            seen[response.status_code // 100] = seen.get(response.status_code // 100, 0) + 1
            seen["operations"].add(case.operation.label)
            case.validate_response(response, checks=checks, headers=headers)

        try:
            run()
        except BaseException as exc:  # noqa: BLE001 - collected (hypothesis raises groups), reported below
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    return failures


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_no_request_gets_a_server_error(world, role, settings):

    settings.LOGIN_FAILURES_PER_IP = 10**9
    token = Token.objects.create(user=world[role]).key
    headers = {"Authorization": f"Token {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application(), headers=headers)
    seen = {"operations": set()}
    try:
        failures = _fuzz(schema, headers, seen)
    finally:
        celery_app.control.purge()  # the tasks the fuzzing enqueued (no worker runs here)
    counts = {f"{k}xx": v for k, v in seen.items() if k != "operations"}
    print(f"{role}: {len(seen['operations'])} operations, responses {counts}")  # noqa: T201
    assert not failures, "\n\n".join(failures)
    assert len(seen["operations"]) >= 50  # the whole schema was exercised
    assert seen.get(2, 0) > 100  # authenticated: most operations answered with data
