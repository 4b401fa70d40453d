"""API throttles whose rates are read from the settings at each request (set from the
environment: ``API_THROTTLE_USER``, ``API_THROTTLE_ANON``; empty turns one off). DRF's own read
them once at import. Past the rate: 429 with ``Retry-After``."""

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class UserThrottle(UserRateThrottle):
    def get_rate(self):
        return getattr(settings, "API_THROTTLE_USER", None) or None


class AnonThrottle(AnonRateThrottle):
    def get_rate(self):
        return getattr(settings, "API_THROTTLE_ANON", None) or None
