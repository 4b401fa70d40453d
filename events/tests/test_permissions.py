"""The permission matrix of every events endpoint, for each role."""

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from events.services import emit

ROLES = ("anonymous", "nobody", "viewer", "operator", "admin")
ANONYMOUS_STATUS = 401


@pytest.fixture
def chain_event(db):
    return emit("intent", {"action": "note"}, source="user:ada", run_id="r1")


def _endpoints(event):
    return [
        ("get", "/api/v1/", "viewer"),
        ("get", "/api/v1/events", "viewer"),
        ("get", f"/api/v1/events/{event.event_id}", "viewer"),
        ("get", f"/api/v1/events/chains/{event.correlation_id}", "viewer"),
        ("get", "/api/v1/runs", "viewer"),
        ("get", "/api/v1/runs/r1", "viewer"),
        ("get", "/api/schema/", "viewer"),
        ("post", "/api/v1/events", "operator"),
    ]


def _expected(role: str, needed: str, ok: int) -> int:
    if role == "anonymous":
        return ANONYMOUS_STATUS
    if role == "nobody":
        return 403
    return ok if ROLES.index(role) >= ROLES.index(needed) else 403


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(role, client_for, chain_event):
    client = client_for(None if role == "anonymous" else role)
    for method, url, needed in _endpoints(chain_event):
        body = {"type": "intent", "payload": {"action": "note"}} if method == "post" else None
        response = getattr(client, method)(url, body, format="json") if body else client.get(url)
        ok = 201 if method == "post" else 200
        assert response.status_code == _expected(role, needed, ok), (role, method, url, response.status_code)


def test_health_needs_no_credentials(client, db):
    assert client.get("/api/v1/health").status_code == 200


def test_token_authentication(users, client):
    token = Token.objects.create(user=users["viewer"])
    assert client.get("/api/v1/events", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200
    assert client.get("/api/v1/events", HTTP_AUTHORIZATION="Token wrong").status_code == 401


def test_session_login_page_and_browsable_api(users, client):
    login_page = client.get("/accounts/login/")
    assert login_page.status_code == 200
    assert b'name="username"' in login_page.content
    response = client.post("/accounts/login/", {"username": "vera", "password": "pw-vera"})
    assert response.status_code == 302
    page = client.get("/api/v1/events", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert b"Event List Create" in page.content or b"Events" in page.content


def test_tokens_can_be_made_with_a_management_command(users):

    call_command("drf_create_token", "otto")
    assert Token.objects.filter(user=users["operator"]).exists()
