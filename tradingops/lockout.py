"""Login lockout, per account and per client address, in the cache (Redis in production).

After ``LOGIN_FAILURES_PER_ACCOUNT`` wrong passwords for one username, or ``LOGIN_FAILURES_PER_IP``
from one address (whatever the usernames), logins are refused for ``LOGIN_LOCKOUT_SECONDS`` with
429 and ``Retry-After``: even the right password, so a guesser learns nothing. Counted by the
authentication backend (every login form: site, admin, browsable API), enforced by the middleware
on those forms' POSTs. A successful login clears its account's count.
"""

import hashlib
import time

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.http import HttpResponse

LOGIN_PATHS = ("/accounts/login/", "/admin/login/", "/api-auth/login/")


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _key(kind: str, value: str) -> str:
    return f"login-lockout:{kind}:{hashlib.sha256(value.lower().encode()).hexdigest()[:32]}"


def _limits() -> tuple[tuple[str, int], ...]:
    return (("account", settings.LOGIN_FAILURES_PER_ACCOUNT), ("ip", settings.LOGIN_FAILURES_PER_IP))


def retry_after(*, username: str, ip: str) -> int:
    """Seconds until a login may be tried again; 0 when it may now."""
    now = time.time()
    wait = 0
    for (kind, limit), value in zip(_limits(), (username, ip), strict=True):
        if not value:
            continue
        entry = cache.get(_key(kind, value))
        if entry and entry["count"] >= limit:
            wait = max(wait, int(entry["until"] - now) + 1)
    return wait


def record_failure(*, username: str, ip: str) -> None:
    now = time.time()
    seconds = settings.LOGIN_LOCKOUT_SECONDS
    for kind, value in (("account", username), ("ip", ip)):
        if not value:
            continue
        key = _key(kind, value)
        entry = cache.get(key) or {"count": 0}
        entry = {"count": entry["count"] + 1, "until": now + seconds}
        cache.set(key, entry, timeout=seconds)


def clear_account(username: str) -> None:
    cache.delete(_key("account", username))


class LockoutModelBackend(ModelBackend):
    """Django's ModelBackend, counting failures and refusing while locked."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        ip = client_ip(request) if request is not None else ""
        name = username or kwargs.get("username") or ""
        if retry_after(username=name, ip=ip):
            return None
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            record_failure(username=name, ip=ip)
        else:
            clear_account(name)
        return user


class LoginLockoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST" and request.path in LOGIN_PATHS:
            wait = retry_after(username=request.POST.get("username", ""), ip=client_ip(request))
            if wait:
                response = HttpResponse(
                    "Too many failed logins: try again later.", status=429, content_type="text/plain"
                )
                response["Retry-After"] = str(wait)
                return response
        return self.get_response(request)
