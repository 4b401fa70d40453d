"""The API's JSON parser: refuses, by name, what Postgres or the code behind would choke on.

- NUL (``\\u0000``) in a string or a key: ``jsonb`` cannot store it (it was a 500 after validation).
- Nesting deeper than ``MAX_JSON_DEPTH``: no payload needs it, and recursive code (validation,
  rendering) must not meet a thousand levels (the parser itself raised RecursionError: a 500).
"""

from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

MAX_JSON_DEPTH = 32
NUL = "\x00"


class SafeJSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested too deep (at most {MAX_JSON_DEPTH} levels).") from None
        check_json(data)
        return data


def check_json(data) -> None:
    """Raise a DRF ValidationError naming the first NUL's path, or say the data is too deep."""
    stack = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ParseError(f"JSON parse error - nested too deep (at most {MAX_JSON_DEPTH} levels).")
        if isinstance(value, str):
            if NUL in value:
                raise ValidationError({path or "non_field_errors": ["NUL characters (\\u0000) are not allowed."]})
        elif isinstance(value, dict):
            for key, item in value.items():
                if NUL in key:
                    raise ValidationError({path or "non_field_errors": ["NUL characters are not allowed in keys."]})
                stack.append((item, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                stack.append((item, f"{path}.{index}" if path else str(index), depth + 1))
