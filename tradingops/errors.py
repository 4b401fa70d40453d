"""The application's errors: one vocabulary for every app, mapped to HTTP in one place
(``tradingops.api.exceptions.exception_handler``; the dashboard reads the same attributes).

- :class:`Invalid`: the request is wrong; 400 naming the field(s).
- :class:`Conflict`: the request is right but the state does not allow it now; 409.
- :class:`Unavailable`: a dependency (database, broker) is down; 503 with ``Retry-After``.

Services raise these (or Django's ``ValidationError``, which means the same as ``Invalid``),
never DRF exceptions: services do not know they are behind HTTP.
"""

from typing import Any

NON_FIELD = "non_field_errors"


class AppError(Exception):
    status_code = 500
    default_field = NON_FIELD

    def __init__(self, message: str | dict[str, Any] | list[Any] = "", *, field: str | None = None):
        super().__init__(message)
        if isinstance(message, dict | list):
            self.errors: dict[str, Any] | list[Any] = message
        else:
            self.errors = {field or self.default_field: [str(message)]}
        self.field = field

    @property
    def detail(self) -> dict[str, Any] | list[Any]:
        if isinstance(self.errors, dict):
            return {key: value if isinstance(value, list | dict) else [value] for key, value in self.errors.items()}
        return self.errors


class Invalid(AppError):
    status_code = 400


class Conflict(AppError):
    status_code = 409


class Unavailable(AppError):
    """A dependency is down; ``retry_after`` seconds is when to try again."""

    status_code = 503
    default_field = "detail"

    def __init__(self, message: str = "A service this needs is unavailable.", *, retry_after: int = 5):
        super().__init__(message)
        self.retry_after = retry_after
        self.errors = {"detail": str(message)}

    @property
    def detail(self) -> dict[str, Any]:
        return dict(self.errors)
