"""The one exception handler of the API: every application error becomes the same answer.

- :class:`tradingops.errors.Invalid` and Django's ``ValidationError``: 400, field by field;
- :class:`tradingops.errors.Conflict`: 409, field by field;
- :class:`tradingops.errors.Unavailable`, the database or the broker unreachable: 503 with
  ``Retry-After`` (and no internals in the body);
- the rest: DRF's own handling (401, 403, 404, 405, 415, 429 with ``Retry-After``...).
"""

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from tradingops import errors

logger = logging.getLogger(__name__)

DEPENDENCY_RETRY_AFTER = 5


def _dependency_errors() -> tuple[type[BaseException], ...]:
    return (
        DatabaseOperationalError,
        DatabaseInterfaceError,
        BrokerOperationalError,
        RedisConnectionError,
        RedisTimeoutError,
    )


DEPENDENCY_ERRORS = _dependency_errors()


def to_app_error(exc: BaseException) -> errors.AppError | None:
    """The application error an exception means, if any (also used by the dashboard)."""
    if isinstance(exc, errors.AppError):
        return exc
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {errors.NON_FIELD: exc.messages}
        return errors.Invalid(detail)
    if isinstance(exc, DEPENDENCY_ERRORS):
        logger.warning("dependency unavailable: %s: %s", type(exc).__name__, exc)
        return errors.Unavailable(
            "A service this request needs is unavailable; try again shortly.", retry_after=DEPENDENCY_RETRY_AFTER
        )
    return None


def exception_handler(exc, context):
    app_error = to_app_error(exc)
    if app_error is None:
        return drf_exception_handler(exc, context)
    if isinstance(app_error, errors.Invalid):
        return drf_exception_handler(exceptions.ValidationError(app_error.detail), context)
    response = Response(app_error.detail, status=app_error.status_code)
    if isinstance(app_error, errors.Unavailable):
        response["Retry-After"] = str(app_error.retry_after)
    return response
