"""The restated specs in ``tests/contracts`` still catch a broken answer.

The fixtures keep only the schemas the tests validate against and what those
reach through ``$ref``. Each test here takes a real answer from the sandbox,
checks that it validates, then breaks it the way a drifting sandbox could
(a wrong enum value, a missing required key, a wrong type several ``$ref``s
deep) and checks the fixture rejects it: a subset that lost a schema or a
constraint would let these through.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jsonschema
import pytest
from contract_data import (
    CHATGPT_COMPLIANCE,
    CONTRACTS,
    OPENAI_ADMIN,
    ContractDataError,
    contract,
)
from openapi_spec import validate


ADMIN = "/v1/organization"
Breakage = Callable[[dict[str, Any]], None]


async def answer(http, sandbox, path, params=(), *, compliance=False):
    key = sandbox.keys.compliance if compliance else sandbox.keys.admin
    if compliance:
        workspace = sandbox.state.org.workspace_id
        path = f"/v1/compliance/workspaces/{workspace}{path}"
    async with http.get(
        sandbox.api_url + path,
        params=list(params),
        headers={"Authorization": f"Bearer {key}"},
    ) as response:
        return response.status, await response.json()


def assert_caught(spec: str, schema: str, body: dict[str, Any], breakage: Breakage):
    validate(spec, schema, body)  # the real answer fits
    broken = copy.deepcopy(body)
    breakage(broken)
    with pytest.raises(jsonschema.ValidationError):
        validate(spec, schema, broken)


def _set(*path: Any, to: Any) -> Breakage:
    def apply(body: dict[str, Any]) -> None:
        node: Any = body
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = to

    return apply


def _drop(*path: Any) -> Breakage:
    def apply(body: dict[str, Any]) -> None:
        node: Any = body
        for step in path[:-1]:
            node = node[step]
        del node[path[-1]]

    return apply


def _first_session(body: dict[str, Any]) -> int:
    return next(
        i
        for i, record in enumerate(body["data"])
        if ((record.get("actor") or {}).get("session") or {}).get("user")
    )


AUDIT_BREAKAGES = {
    "unknown event type": _set("data", 0, "type", to="user.teleported"),
    "no effective_at": _drop("data", 0, "effective_at"),
    "effective_at as text": _set("data", 0, "effective_at", to="2025-02-01"),
    "actor type outside its enum": _set("data", 0, "actor", "type", to="robot"),
    "no has_more": _drop("has_more"),
    "object not list": _set("object", to="page"),
}


@pytest.mark.parametrize("breakage", AUDIT_BREAKAGES.values(), ids=AUDIT_BREAKAGES)
async def test_a_broken_audit_log_page_is_caught(http, sandbox, breakage):
    status, body = await answer(http, sandbox, f"{ADMIN}/audit_logs", [("limit", 20)])
    assert status == 200
    assert body["data"]
    assert_caught("admin", "ListAuditLogsResponse", body, breakage)


async def test_a_wrong_type_four_refs_deep_is_caught(http, sandbox):
    """ListAuditLogsResponse > AuditLog > AuditLogActor > ...Session > ...User."""
    status, body = await answer(http, sandbox, f"{ADMIN}/audit_logs", [("limit", 100)])
    assert status == 200
    index = _first_session(body)
    breakage = _set("data", index, "actor", "session", "user", "email", to=42)
    assert_caught("admin", "ListAuditLogsResponse", body, breakage)


async def test_a_broken_error_answer_is_caught(http, sandbox):
    status, body = await answer(
        http, sandbox, f"{ADMIN}/audit_logs", [("limit", "lots")]
    )
    assert status == 400
    assert_caught("admin", "ErrorResponse", body, _drop("error", "code"))
    assert_caught("admin", "ErrorResponse", body, _set("error", "message", to=None))


async def test_a_broken_usage_bucket_is_caught(http, sandbox, sandbox_options):
    start = int((sandbox_options.end - timedelta(days=7)).timestamp())
    status, body = await answer(
        http, sandbox, f"{ADMIN}/usage/completions", [("start_time", start)]
    )
    assert status == 200
    bucket = next(i for i, b in enumerate(body["data"]) if b["results"])
    for breakage in (
        _set("data", bucket, "results", 0, "input_tokens", to="many"),
        _set("data", bucket, "results", 0, "object", to="organization.usage.x"),
        _set("data", bucket, "start_time", to=1.5),
        _drop("next_page"),
    ):
        assert_caught("admin", "UsageResponse", body, breakage)


@pytest.mark.parametrize(
    ("path", "schema", "breakage"),
    [
        ("users", "UserListResponse", _set("data", 0, "added_at", to="today")),
        ("users", "UserListResponse", _set("data", 0, "object", to="user")),
        ("projects", "ProjectListResponse", _drop("data", 0, "created_at")),
        ("projects", "ProjectListResponse", _set("data", 0, "residency", to="MARS")),
        ("admin_api_keys", "ApiKeyList", _drop("data", 0, "redacted_value")),
    ],
)
async def test_a_broken_directory_listing_is_caught(
    http, sandbox, path, schema, breakage
):
    status, body = await answer(http, sandbox, f"{ADMIN}/{path}")
    assert status == 200
    assert body["data"]
    assert_caught("admin", schema, body, breakage)


@pytest.mark.parametrize(
    ("path", "schema", "breakage"),
    [
        ("/users", "WorkspaceUser", _set("role", to="superuser")),
        ("/users", "WorkspaceUser", _set("created_at", to="2025-02-01")),
        ("/gpts", "GPT", _set("sharing", "visibility", to="everyone")),
        (
            "/gpts",
            "GPT",
            _set("latest_config", "data", 0, "created_at", to="yesterday"),
        ),
        ("/projects", "Project", _set("object", to="compliance.workspace.gpt")),
    ],
)
async def test_a_broken_compliance_object_is_caught(
    http, sandbox, path, schema, breakage
):
    status, body = await answer(http, sandbox, path, compliance=True)
    assert status == 200
    validate("compliance", "GenericList", body)
    assert body["data"]
    assert_caught("compliance", schema, body["data"][0], breakage)
    assert_caught("compliance", "GenericList", body, _set("has_more", to="no"))


# -- the fixtures themselves -----------------------------------------------


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


@pytest.mark.parametrize("name", [OPENAI_ADMIN, CHATGPT_COMPLIANCE])
def test_every_ref_resolves_inside_the_fixture(name):
    schemas = contract(name)["components"]["schemas"]
    refs = _refs(schemas)
    assert refs
    for ref in refs:
        assert re.fullmatch(r"#/components/schemas/[^/]+", ref), ref
        assert ref.rsplit("/", 1)[1] in schemas, f"{name}: {ref} is dangling"


@pytest.mark.parametrize("name", [OPENAI_ADMIN, CHATGPT_COMPLIANCE])
def test_every_fixture_names_its_public_source(name):
    source = contract(name)["source"]
    assert set(source) == {"document", "version", "url", "kept"}
    assert source["url"].startswith("https://")
    assert all(source.values())


def test_the_event_enum_is_the_specs_whole_list():
    schemas = contract(OPENAI_ADMIN)["components"]["schemas"]
    enum = schemas["AuditLogEventType"]["enum"]
    assert len(enum) == len(set(enum)) == 145
    assert {"login.succeeded", "api_key.created", "user.added"} <= set(enum)


def test_a_missing_fixture_fails_and_names_the_file():
    with pytest.raises(ContractDataError, match=r"contracts/nope\.json is missing"):
        contract("nope.json")
    assert CONTRACTS.is_dir()
