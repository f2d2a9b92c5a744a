"""Google discovery-document schemas as JSON Schema, for the contract tests.

A discovery document describes its types in a dialect of its own: ``$ref``
names a schema by its ``id``, int64 values travel as strings with
``format: int64``, times as strings with ``format: date-time``, and an object
may carry any property it does not name. The conversion keeps the types and
tightens the rest, so that a page which invents a field, prints a qualifier
as a number or a time without its zone fails validation.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import jsonschema


INT64 = r"^-?[0-9]+$"
RFC3339 = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$"
)
_INT32 = (-(2**31), 2**31 - 1)

FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(RFC3339, value):
        return False
    datetime.fromisoformat(value)  # a real date and time, not just digits
    return True


def convert(node: dict[str, Any]) -> dict[str, Any]:  # noqa: C901, PLR0911 - one branch per type
    """One discovery schema node as JSON Schema."""
    if "$ref" in node:
        return {"$ref": f"#/$defs/{node['$ref']}"}
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        extra = node.get("additionalProperties")
        return {
            "type": "object",
            "properties": {
                name: convert(child)
                for name, child in node.get("properties", {}).items()
            },
            "additionalProperties": False if extra is None else convert(extra),
        }
    if kind == "array":
        return {"type": "array", "items": convert(node.get("items", {}))}
    if kind == "string":
        found: dict[str, Any] = {"type": "string"}
        form = node.get("format")
        if form in {"int64", "uint64"}:
            found["pattern"] = INT64
        elif form == "date-time":
            found["format"] = "date-time"
        if "enum" in node:
            found["enum"] = list(node["enum"])
        return found
    if kind == "integer":
        found = {"type": "integer"}
        if node.get("format") == "int32":
            found["minimum"], found["maximum"] = _INT32
        return found
    if kind in {"boolean", "number"}:
        return {"type": kind}
    if kind == "any" or kind is None:
        return {}
    raise ValueError(f"unknown discovery type {kind!r}")


def json_schema(document: dict[str, Any], root: str) -> dict[str, Any]:
    """The discovery document's schema *root*, with every schema it may
    reference under ``$defs``."""
    defs = {name: convert(schema) for name, schema in document["schemas"].items()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": defs,
        "$ref": f"#/$defs/{root}",
    }


def validator(document: dict[str, Any], root: str) -> jsonschema.Draft202012Validator:
    schema = json_schema(document, root)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=FORMATS)


def problems(check: jsonschema.Draft202012Validator, value: object) -> list[str]:
    """Every way *value* breaks the schema, each with where."""
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in check.iter_errors(value)
    ]
