"""The API documents its inputs: every field a request body takes has a description, every POST
with a body shows at least one example, and every example is valid against the schema it
illustrates. Walks the schema drf-spectacular generates, so a new field or endpoint without docs
fails here."""

import copy

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator

WRITE_METHODS = ("post", "put", "patch")


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _resolve(schema: dict, node: dict) -> tuple[dict, str]:
    """A node with its ``$ref`` followed, and the name it is known by (for the failure message)."""
    name = ""
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        node = schema["components"]["schemas"][name]
    return node, name


def _undescribed(schema: dict, node: dict, where: str, seen: set[str]) -> list[str]:
    """Writable properties without a description, through nested objects, arrays and allOf/oneOf."""
    node, name = _resolve(schema, node)
    if name:
        if name in seen:
            return []
        seen.add(name)
        where = name
    missing = []
    for part in node.get("allOf", []) + node.get("oneOf", []) + node.get("anyOf", []):
        missing += _undescribed(schema, part, where, seen)
    if "items" in node:
        missing += _undescribed(schema, node["items"], where, seen)
    for prop, sub in node.get("properties", {}).items():
        if sub.get("readOnly"):
            continue
        # the property's own text: an enum's or a nested serializer's component text is not about this field
        if not sub.get("description"):
            missing.append(f"{where}.{prop}")
        missing += _undescribed(schema, sub, f"{where}.{prop}", seen)
    return missing


def _bodies(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in WRITE_METHODS and "requestBody" in operation:
                media = operation["requestBody"]["content"].get("application/json")
                if media:
                    yield f"{method.upper()} {path}", method, media


def _json_schema(schema: dict, node: dict) -> dict:
    """OpenAPI 3.0's ``nullable`` as JSON Schema's ``type: [..., "null"]``, components inlined as
    ``$defs`` so that refs resolve."""

    def convert(value):
        if isinstance(value, dict):
            out = {k: convert(v) for k, v in value.items() if k not in ("nullable", "readOnly", "writeOnly")}
            if "$ref" in out:
                out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/$defs/")
            if value.get("nullable"):
                if "type" in out:
                    out["type"] = [out["type"], "null"]
                elif "enum" in out:
                    out["enum"] = [*out["enum"], None]
                else:
                    out = {"anyOf": [out, {"type": "null"}]}
            if value.get("readOnly"):  # not part of a request
                return False
            return out
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    converted = convert(copy.deepcopy(node))
    converted["$defs"] = convert(copy.deepcopy(schema["components"]["schemas"]))
    return converted


def test_every_request_field_has_a_description(schema):
    seen: set[str] = set()
    missing = []
    for operation, _, media in _bodies(schema):
        missing += [f"{operation}: {field}" for field in _undescribed(schema, media["schema"], operation, seen)]
    assert not missing, "request fields without help_text:\n" + "\n".join(missing)


def test_every_post_shows_an_example(schema):
    posts = [(operation, media) for operation, method, media in _bodies(schema) if method == "post"]
    assert len(posts) >= 10
    without = [operation for operation, media in posts if not media.get("examples")]
    assert not without, "POST operations without an OpenAPI example:\n" + "\n".join(without)


def test_every_request_example_is_valid_against_its_schema(schema):
    checked, invalid = 0, []
    for operation, _, media in _bodies(schema):
        validator = jsonschema.Draft202012Validator(_json_schema(schema, media["schema"]))
        for name, example in media.get("examples", {}).items():
            checked += 1
            errors = [
                f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(example["value"])
            ]
            if errors:
                invalid.append(f"{operation} example {name!r}: {errors}")
    assert checked >= 10
    assert not invalid, "\n".join(invalid)


def test_the_check_finds_a_field_without_description(schema):
    """The walk is not vacuous: a property with no description, nested in an array of objects, is reported."""
    broken = copy.deepcopy(schema)
    broken["components"]["schemas"]["Thing"] = {
        "type": "object",
        "properties": {"inner": {"type": "array", "items": {"type": "object", "properties": {"bare": {}}}}},
    }
    body = {"$ref": "#/components/schemas/Thing"}
    assert _undescribed(broken, body, "POST /x", set()) == ["Thing.inner", "Thing.inner.bare"]
    validator = jsonschema.Draft202012Validator(
        _json_schema(broken, {"type": "object", "properties": {"qty": {"type": "string", "nullable": True}}})
    )
    assert validator.is_valid({"qty": None})
    assert not validator.is_valid({"qty": 1})
