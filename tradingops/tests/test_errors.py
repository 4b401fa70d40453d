"""One error vocabulary: the application's errors and what the API answers for each."""

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError
from kombu.exceptions import OperationalError as BrokerDown
from rest_framework.permissions import AllowAny
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from events.services import EventRejected
from tradingops import errors
from wallets.services import ReconciliationBusy


def _answer(exc: Exception):
    class Raising(APIView):
        permission_classes = [AllowAny]
        authentication_classes = []

        def get(self, request):
            raise exc

    return Raising.as_view()(APIRequestFactory().get("/x"))


def test_invalid_is_a_400_naming_the_field():
    response = _answer(errors.Invalid("Must be positive.", field="qty"))
    assert (response.status_code, response.data) == (400, {"qty": ["Must be positive."]})


def test_invalid_with_several_fields():
    response = _answer(errors.Invalid({"qty": ["Too big."], "price": "Too small."}))
    assert response.status_code == 400
    assert response.data == {"qty": ["Too big."], "price": ["Too small."]}


def test_conflict_is_a_409_naming_the_field():
    response = _answer(errors.Conflict("Already running.", field="status"))
    assert (response.status_code, response.data) == (409, {"status": ["Already running."]})


def test_unavailable_is_a_503_with_retry_after():
    response = _answer(errors.Unavailable("The broker is down.", retry_after=7))
    assert response.status_code == 503
    assert response["Retry-After"] == "7"
    assert response.data == {"detail": "The broker is down."}


def test_a_django_validation_error_is_a_400_by_field():
    response = _answer(DjangoValidationError({"symbol": "Unknown symbol."}))
    assert (response.status_code, response.data) == (400, {"symbol": ["Unknown symbol."]})


def test_the_database_down_is_a_503_with_retry_after():
    response = _answer(OperationalError("connection refused"))
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert "connection refused" not in str(response.data)


def test_the_broker_down_is_a_503_with_retry_after():

    response = _answer(BrokerDown("Error 111 connecting to redis"))
    assert response.status_code == 503
    assert "Retry-After" in response


@pytest.mark.parametrize("error", [errors.Invalid, errors.Conflict, errors.Unavailable])
def test_every_application_error_is_an_app_error(error):
    assert issubclass(error, errors.AppError)


def test_a_busy_reconciliation_is_a_conflict():

    assert issubclass(ReconciliationBusy, errors.Conflict)


def test_a_refused_event_is_invalid():

    assert issubclass(EventRejected, errors.Invalid)


def test_an_api_path_no_route_matches_is_a_json_404(client_for):
    response = client_for("viewer").get("/api/v1/wallets/-467/transactions")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


def test_a_dashboard_path_no_route_matches_is_the_html_404(client_for):
    response = client_for("viewer").get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("component", ["LedgerEntry", "Run", "Sweep"])
def test_a_creator_that_may_be_the_system_is_nullable_in_the_schema(client_for, component):
    """Found by schemathesis: a deposit booked by the system has no created_by."""
    schema = client_for("viewer").get("/api/schema/?format=json").json()
    assert schema["components"]["schemas"][component]["properties"]["created_by"].get("nullable") is True
