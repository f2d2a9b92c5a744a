"""Validate sandbox answers against the published API specifications.

The specs are contract data restated in ``tests/contracts`` (the component
schemas the tests validate against, with everything they reach through
``$ref``); a test that validates a response against them fails when the
sandbox drifts from the real API.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
import referencing
from contract_data import CHATGPT_COMPLIANCE, OPENAI_ADMIN, contract


SPECS = {"admin": OPENAI_ADMIN, "compliance": CHATGPT_COMPLIANCE}


def _nullable_to_anyof(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` as JSON Schema (3.1 dropped it)."""
    if isinstance(node, dict):
        node = {k: _nullable_to_anyof(v) for k, v in node.items()}
        if node.pop("nullable", False):
            return {"anyOf": [node, {"type": "null"}]}
        return node
    if isinstance(node, list):
        return [_nullable_to_anyof(v) for v in node]
    return node


@functools.cache
def document(name: str) -> dict[str, Any]:
    """The spec's restated subset: ``"admin"`` or ``"compliance"``."""
    return _nullable_to_anyof(contract(SPECS[name]))


@functools.cache
def _registry(name: str) -> tuple[referencing.Registry, str]:
    uri = f"urn:aiaudit:{name}"
    resource = referencing.Resource.from_contents(
        document(name), default_specification=referencing.jsonschema.DRAFT202012
    )
    return referencing.Registry().with_resource(uri, resource), uri


def validate(spec: str, schema_name: str, instance: Any) -> None:
    """Raise ``jsonschema.ValidationError`` unless *instance* fits the schema.

    :param spec: ``"admin"`` or ``"compliance"``.
    :param schema_name: A name under ``components/schemas``.
    """
    registry, uri = _registry(spec)
    validator = jsonschema.Draft202012Validator(
        {"$ref": f"{uri}#/components/schemas/{schema_name}"}, registry=registry
    )
    validator.validate(instance)
