"""A JSON Schema checker for the part of the language lib/kubectl_usercert/schemas/ uses: type (one
or a list), const, enum, properties, required, additionalProperties: false, items, oneOf, $ref
to a sibling file, and format: date-time. Small on purpose: the contract's schemas stay plain."""

import json
import re
from pathlib import Path

SCHEMAS = Path(__file__).resolve().parent.parent / "lib" / "kubectl_usercert" / "schemas"
_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def load(name):
    return json.loads((SCHEMAS / name).read_text())


def problems(value, schema, where="$"):
    """Every way `value` breaks `schema`, as 'PATH: what' lines (none: it conforms)."""
    if "$ref" in schema:
        return problems(value, load(schema["$ref"]), where)
    if "oneOf" in schema:
        fits = [option for option in schema["oneOf"] if not problems(value, option, where)]
        return [] if len(fits) == 1 else [f"{where}: fits {len(fits)} of the oneOf choices, not exactly one"]
    found = []
    if "const" in schema and value != schema["const"]:
        found.append(f"{where}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if "type" in schema and not _is_type(value, schema["type"]):
        return found + [f"{where}: {type(value).__name__} is not {schema['type']}"]
    if schema.get("format") == "date-time" and isinstance(value, str) and not _DATE_TIME.fullmatch(value):
        found.append(f"{where}: {value!r} is not an RFC 3339 UTC time")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        found += [f"{where}: {key} is missing" for key in schema.get("required", []) if key not in value]
        if schema.get("additionalProperties") is False:
            found += [f"{where}: {key} is not in the schema" for key in value if key not in properties]
        for key, item in value.items():
            if key in properties:
                found += problems(item, properties[key], f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += problems(item, schema["items"], f"{where}[{index}]")
    return found


def _is_type(value, names):
    for name in [names] if isinstance(names, str) else names:
        if name == "integer" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if name in _TYPES and isinstance(value, _TYPES[name]) and not (name != "boolean" and isinstance(value, bool)):
            return True
    return False


def check(obj):
    """Assert `obj` conforms to the schema of its kind."""
    found = problems(obj, load(f"{obj['kind']}.json"))
    assert not found, "\n".join(found)
