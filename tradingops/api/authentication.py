"""Token authentication that counts wrong tokens per client address (as wrong passwords are
counted, tradingops/lockout.py): guessing tokens gets 429 with Retry-After, not endless 401s.
DRF checks permissions before throttles, so its anonymous throttle never sees these requests."""

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from tradingops import lockout


class LockoutTokenAuthentication(TokenAuthentication):
    def authenticate(self, request):
        ip = lockout.client_ip(request)
        scheme = request.META.get("HTTP_AUTHORIZATION", "").split(" ", 1)[0]
        if scheme.lower() == self.keyword.lower():
            wait = lockout.retry_after(username="", ip=ip)
            if wait:
                raise exceptions.Throttled(wait=wait, detail="Too many failed authentications from this address.")
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            lockout.record_failure(username="", ip=ip)
            raise
