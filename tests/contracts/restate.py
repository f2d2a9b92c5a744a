"""Restate the parts of public specifications the contract tests use.

The contract tests validate the sandbox's answers and the OCSF export against
the published specifications, but the project carries only the subset they
need, as its own fixtures in this folder. This script makes those fixtures
from a copy of the public document, so refreshing them when a spec changes
is one command per fixture::

    python tests/contracts/restate.py openai-admin path/to/openapi.yaml
    python tests/contracts/restate.py chatgpt-compliance path/to/openapi.json
    python tests/contracts/restate.py ocsf path/to/classes.json

There is no default input: the document is always named on the command line.
The output is written beside this script (``--output`` names another file).

For an OpenAPI document it keeps the component schemas the tests validate
against and every schema they reach through ``$ref``, and drops what cannot
change a validation result: paths, the ``description``, ``title``,
``example(s)`` and ``x-*`` annotations of schemas. Property names, types,
``required``, ``enum``, ``nullable``, ``format``, ``oneOf``/``anyOf``/
``allOf``, ``additionalProperties`` and ``discriminator`` stay as published.

For OCSF it reads the class requirements resolved from the schema's class
files (``required`` through ``extends`` and ``$include``; profiles left out):
``{"classes": {...}, "objects": {...}}``, and keeps of each class and object
the attributes ``validate_ocsf`` reads.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path
from typing import Any


HERE = Path(__file__).resolve().parent

OPENAPI = {
    "openai-admin": {
        "output": "openai-admin-api.json",
        "document": "OpenAI API OpenAPI specification (openapi.yaml)",
        "url": (
            "https://github.com/openai/openai-openapi/blob/"
            "f85dbe223d40e1a31cba812ab2d755c7e98a92a3/openapi.yaml"
        ),
        "roots": [
            # The sandbox's admin answers (tests/sandbox).
            "ListAuditLogsResponse",
            "ErrorResponse",
            "UsageResponse",
            "UsageCompletionsResult",
            "CostsResult",
            "UserListResponse",
            "ProjectListResponse",
            "ApiKeyList",
            # The event-type enum the normalizer's table is checked against.
            "AuditLogEventType",
        ],
    },
    "chatgpt-compliance": {
        "output": "chatgpt-compliance-api.json",
        "document": (
            "ChatGPT Enterprise Compliance API OpenAPI document "
            "(OpenAI, https://chatgpt.com/admin/api-reference; public copy "
            "rappdw/chatgpt-data api_docs/openapi.json, committed 2025-03-04)"
        ),
        "url": "https://github.com/rappdw/chatgpt-data/blob/main/api_docs/openapi.json",
        "roots": ["GenericList", "WorkspaceUser", "GPT", "Project"],
    },
}

OCSF = {
    "output": "ocsf-classes.json",
    "document": "Open Cybersecurity Schema Framework (OCSF) schema, ocsf/ocsf-schema",
    "url": "https://github.com/ocsf/ocsf-schema/tree/a5cfc68e",
    "class_keys": [
        "caption",
        "class_uid",
        "category_uid",
        "deprecated",
        "constraints",
        "activity_id",
        "required",
    ],
    "object_keys": ["caption", "deprecated", "constraints", "required"],
}

# Keywords whose value is a map of name -> schema (the names are data).
_SCHEMA_MAPS = {"properties", "patternProperties", "$defs", "definitions"}
# Keywords whose value is one schema (or, for old-style items, a list).
_SCHEMA_ONE = {
    "items",
    "additionalProperties",
    "additionalItems",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
}
_SCHEMA_LISTS = {"allOf", "anyOf", "oneOf", "prefixItems"}
# Annotations: no effect on whether an instance is valid.
_ANNOTATIONS = {"description", "title", "example", "examples", "externalDocs"}
_REF = re.compile(r"^#/components/schemas/([^/]+)$")


def strip_schema(schema: Any) -> Any:
    """*schema* without its annotations, walking only schema positions."""
    if isinstance(schema, list):
        return [strip_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return copy.deepcopy(schema)
    kept: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _ANNOTATIONS or key.startswith("x-"):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            kept[key] = {name: strip_schema(s) for name, s in value.items()}
        elif key in _SCHEMA_ONE or key in _SCHEMA_LISTS:
            kept[key] = strip_schema(value)
        else:
            kept[key] = copy.deepcopy(value)
    return kept


def references(node: Any) -> set[str]:
    """The component schemas *node* names through ``$ref`` (or a mapping)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                match = _REF.match(value)
                if match is None:
                    msg = f"unsupported $ref {value!r}: only component schemas"
                    raise SystemExit(msg)
                found.add(match.group(1))
            elif key == "mapping" and isinstance(value, dict):
                found |= {
                    m.group(1)
                    for v in value.values()
                    if isinstance(v, str) and (m := _REF.match(v))
                }
            else:
                found |= references(value)
    elif isinstance(node, list):
        for value in node:
            found |= references(value)
    return found


def closure(schemas: dict[str, Any], roots: list[str]) -> list[str]:
    """*roots* and every schema reachable from them, sorted."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in schemas:
            msg = f"schema {name!r} is not in the document's components/schemas"
            raise SystemExit(msg)
        seen.add(name)
        todo.extend(references(schemas[name]) - seen)
    return sorted(seen)


def load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix in {".yaml", ".yml"}:
        import yaml  # noqa: PLC0415 - only this input needs it

        return yaml.safe_load(text)
    return json.loads(text)


def restate_openapi(kind: str, document: dict[str, Any], url: str) -> dict[str, Any]:
    spec = OPENAPI[kind]
    schemas = document["components"]["schemas"]
    names = closure(schemas, spec["roots"])
    return {
        "source": {
            "document": spec["document"],
            "version": str(document["info"]["version"]),
            "url": url,
            "kept": (
                f"components/schemas {', '.join(spec['roots'])} and the "
                "schemas they reach through $ref, as published; annotations "
                "(description, title, example(s), x-*) and paths dropped: "
                "they cannot change whether an answer validates"
            ),
        },
        "openapi": document["openapi"],
        "info": {
            "title": document["info"]["title"],
            "version": document["info"]["version"],
        },
        "components": {"schemas": {n: strip_schema(schemas[n]) for n in names}},
    }


def restate_ocsf(
    document: dict[str, Any], url: str, version: str | None
) -> dict[str, Any]:
    if version is None:
        found = re.search(r"schema version (\S+?)\)", str(document.get("source", "")))
        if found is None:
            msg = "the OCSF schema version is not in the input: pass --version"
            raise SystemExit(msg)
        version = found.group(1)

    def pick(entry: dict[str, Any], keys: list[str]) -> dict[str, Any]:
        return {k: copy.deepcopy(entry[k]) for k in keys if k in entry}

    return {
        "source": {
            "document": OCSF["document"],
            "version": version,
            "url": url,
            "kept": (
                "the classes the export can produce (and the deprecated "
                "Account Change it must not) and the objects their attributes "
                "hold; of each, the uid, caption, category, activities, "
                "deprecation, required attributes and constraints, resolved "
                "through extends and $include with profiles left out. "
                "Recommended and optional attributes are dropped: the "
                "validator does not check them"
            ),
        },
        "classes": {
            name: pick(entry, OCSF["class_keys"])
            for name, entry in document["classes"].items()
        },
        "objects": {
            name: pick(entry, OCSF["object_keys"])
            for name, entry in document["objects"].items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("contract", choices=[*OPENAPI, "ocsf"])
    parser.add_argument("document", type=Path, help="a copy of the public document")
    parser.add_argument(
        "--url", help="where the copy was taken from, if not the cited one"
    )
    parser.add_argument("--version", help="OCSF only: the schema version of the input")
    parser.add_argument("--output", type=Path, help="default: beside this script")
    args = parser.parse_args(argv)

    document = load(args.document)
    if args.contract == "ocsf":
        fixture = restate_ocsf(document, args.url or OCSF["url"], args.version)
        output = OCSF["output"]
    else:
        spec = OPENAPI[args.contract]
        fixture = restate_openapi(args.contract, document, args.url or spec["url"])
        output = spec["output"]
    target = args.output or HERE / output
    target.write_text(
        json.dumps(fixture, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"{target}: {target.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
