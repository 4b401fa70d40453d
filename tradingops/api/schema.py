"""OpenAPI postprocessing: every operation documents the error answers the one exception handler
gives (tradingops/api/exceptions.py), so that clients (and schemathesis' status code check) know
them: 400 field by field, 401, 403, 404, 409, 429 and 503 with ``Retry-After``."""

ERROR_BODY = {
    "oneOf": [
        {"type": "object", "description": "field name -> list of messages, or {'detail': message}"},
        {"type": "array", "description": "one object per item of a batch"},
    ]
}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}}
ERRORS = {
    "400": ("Invalid: the body names each field that is wrong.", {}),
    "401": ("No or wrong credentials.", {}),
    "403": ("The user's role does not allow this.", {}),
    "404": ("Not found.", {}),
    "409": ("Conflict with the current state (or an Idempotency-Key used for another request).", {}),
    "429": ("Too many requests (throttle or lockout).", RETRY_AFTER),
    "503": ("A dependency (database, broker) is unavailable.", RETRY_AFTER),
}
METHODS = {"get", "post", "put", "patch", "delete"}


def add_error_responses(result, generator, request, public):
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for code, (description, headers) in ERRORS.items():
                if code in responses:
                    continue
                response = {"description": description, "content": {"application/json": {"schema": ERROR_BODY}}}
                if headers:
                    response["headers"] = headers
                responses[code] = response
    return result
