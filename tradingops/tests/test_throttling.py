"""Throttling and lockout: 429 with Retry-After, per user, per anonymous IP, per account at login."""

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


def test_a_user_past_the_rate_gets_429_with_retry_after(client_for, settings):
    settings.API_THROTTLE_USER = "5/min"
    client = client_for("viewer")
    codes = [client.get("/api/v1/events").status_code for _ in range(7)]
    assert codes[:5] == [200] * 5
    assert codes[5:] == [429, 429]
    response = client.get("/api/v1/events")
    assert int(response["Retry-After"]) > 0


def test_users_are_throttled_separately(client_for, settings):
    settings.API_THROTTLE_USER = "2/min"
    viewer, operator = client_for("viewer"), client_for("operator")
    assert [viewer.get("/api/v1/events").status_code for _ in range(3)] == [200, 200, 429]
    assert operator.get("/api/v1/events").status_code == 200


def test_anonymous_callers_are_throttled_per_ip(db, settings):
    """On the endpoints open to anonymous callers (none but health, which is exempt, today)."""

    class Open(APIView):
        permission_classes = [AllowAny]

        def get(self, request):
            return Response({})

    settings.API_THROTTLE_ANON = "3/min"
    view, factory = Open.as_view(), APIRequestFactory()
    codes = [view(factory.get("/open")).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert view(factory.get("/open", REMOTE_ADDR="10.0.0.9")).status_code == 200


def test_guessing_tokens_locks_the_address_out(db, settings):
    settings.LOGIN_FAILURES_PER_IP = 5
    client = Client()
    codes = [client.get("/api/v1/events", HTTP_AUTHORIZATION=f"Token guess{i}").status_code for i in range(7)]
    assert codes[:5] == [401] * 5
    assert codes[5:] == [429, 429]
    assert int(client.get("/api/v1/events", HTTP_AUTHORIZATION="Token x")["Retry-After"]) > 0
    assert Client(REMOTE_ADDR="10.0.0.3").get("/api/v1/events", HTTP_AUTHORIZATION="Token y").status_code == 401


def test_health_is_not_throttled(client, db, settings):
    settings.API_THROTTLE_ANON = "2/min"
    assert [client.get("/api/v1/health").status_code for _ in range(5)] == [200] * 5


def _login(client, username, password):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_wrong_passwords_lock_the_account_even_for_the_right_one(make_user, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 5
    make_user("ada", "admin")
    client = Client()
    for _ in range(30):
        _login(client, "ada", "wrong")
    response = _login(client, "ada", "pw-ada")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session
    # from another address too: the account is locked, not only the address
    assert _login(Client(REMOTE_ADDR="10.0.0.7"), "ada", "pw-ada").status_code == 429


def test_one_address_trying_many_accounts_is_locked(make_user, settings):
    settings.LOGIN_FAILURES_PER_IP = 10
    settings.LOGIN_FAILURES_PER_ACCOUNT = 100
    make_user("ada", "admin")
    client = Client()
    for index in range(10):
        _login(client, f"user{index}", "wrong")
    assert _login(client, "ada", "pw-ada").status_code == 429
    assert _login(Client(REMOTE_ADDR="10.0.0.8"), "ada", "pw-ada").status_code == 302


def test_a_right_password_before_the_limit_logs_in(make_user, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 5
    make_user("ada", "admin")
    client = Client()
    for _ in range(4):
        assert _login(client, "ada", "wrong").status_code == 200
    assert _login(client, "ada", "pw-ada").status_code == 302


def test_the_admin_login_is_locked_too(make_user, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    make_user("ada", "admin", is_staff=True)
    client = Client()
    for _ in range(3):
        client.post("/admin/login/", {"username": "ada", "password": "wrong"})
    assert client.post("/admin/login/", {"username": "ada", "password": "pw-ada"}).status_code == 429
