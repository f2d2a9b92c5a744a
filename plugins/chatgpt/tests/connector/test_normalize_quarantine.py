"""Malformed records are quarantined with a reason, and arbitrary JSON never raises."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from normalize_records import (
    NORMALIZER,
    T0,
    admin_record,
    api_key_actor,
    assert_valid,
    event_record,
    file_item,
    gpt_record,
    message_record,
)

from aiaudit_chatgpt import normalize
from aiaudit_chatgpt.event_map import (
    STREAM_ADMIN,
    STREAM_COMPLIANCE,
    STREAM_GPTS,
)
from aiaudit_chatgpt.normalize import UNEXPECTED
from connector_core.models import (
    AIAuditLog,
    AutomationEvent,
)
from connector_core.streams import QuarantinedRecord


# --------------------------------------------------------------------------
# Malformed records are quarantined with a reason
# --------------------------------------------------------------------------


def without(record: dict, *path: str) -> dict:
    record = copy.deepcopy(record)
    parent = record
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return record


def replaced(record: dict, value: object, *path: str) -> dict:
    record = copy.deepcopy(record)
    parent = record
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return record


CALLS = {
    "admin": NORMALIZER.admin_audit_log,
    "compliance": lambda raw: NORMALIZER.compliance_record(raw, log_id="log-x"),
    "gpt": NORMALIZER.custom_gpt,
    "automation": NORMALIZER.automation,
}
ADMIN = admin_record()
MESSAGE = message_record(files=[file_item("file-a", "a.pdf")])
AUTH = event_record("AUTH_LOG", "LOGIN_FAILED", {})
GPT = gpt_record()

MALFORMED = [
    ("admin", [ADMIN], "record is an array, not a JSON object"),
    ("admin", "audit", "record is a string, not a JSON object"),
    ("admin", None, "record is null, not a JSON object"),
    ("admin", {}, "id: required but missing; type: required but missing"),
    (
        "admin",
        without(ADMIN, "id"),
        "malformed admin audit log record: id: required but missing",
    ),
    ("admin", replaced(ADMIN, 7, "id"), "id: expected a string, got int 7"),
    ("admin", replaced(ADMIN, "", "id"), "id is empty"),
    ("admin", without(ADMIN, "effective_at"), "effective_at: required but missing"),
    (
        "admin",
        replaced(ADMIN, "2025-01-01", "effective_at"),
        "effective_at: expected an integer, got str '2025-01-01'",
    ),
    (
        "admin",
        replaced(ADMIN, 1735689600.5, "effective_at"),
        "expected an integer, got float",
    ),
    (
        "admin",
        {**ADMIN, "effective_at": True},
        "expected an integer, got bool True",
    ),
    (
        "admin",
        replaced(ADMIN, 1735689600000, "effective_at"),
        "effective_at looks like milliseconds (1735689600000); expected Unix seconds",
    ),
    ("admin", replaced(ADMIN, 10**20, "effective_at"), "is far beyond any Unix time"),
    ("admin", replaced(ADMIN, -5, "effective_at"), "effective_at is negative (-5)"),
    (
        "admin",
        replaced(ADMIN, "robot", "actor", "type"),
        "actor.type 'robot' is neither",
    ),
    (
        "admin",
        replaced(ADMIN, "me", "actor"),
        "actor: expected an object, got str 'me'",
    ),
    ("admin", {**ADMIN, "actor": {"type": "session"}}, "actor.session is missing"),
    ("admin", without(ADMIN, "actor", "type"), "actor.type: required but missing"),
    (
        "admin",
        without(ADMIN, "actor", "session", "user"),
        "actor.session.user: required",
    ),
    (
        "admin",
        without(ADMIN, "actor", "session", "user", "id"),
        "actor.session.user.id: required",
    ),
    (
        "admin",
        replaced(ADMIN, "", "actor", "session", "user", "id"),
        "actor.session.user.id is empty",
    ),
    (
        "admin",
        replaced(ADMIN, 42, "actor", "session", "user_agent"),
        "actor.session.user_agent: expected a string",
    ),
    ("admin", {**ADMIN, "actor": {"type": "api_key"}}, "actor.api_key is missing"),
    (
        "admin",
        replaced(ADMIN, api_key_actor("robot"), "actor"),
        "actor.api_key.type 'robot' is neither 'user' nor 'service_account'",
    ),
    (
        "admin",
        without(
            replaced(ADMIN, api_key_actor("user"), "actor"), "actor", "api_key", "user"
        ),
        "actor.api_key.user is missing",
    ),
    (
        "admin",
        without(
            replaced(ADMIN, api_key_actor("service_account"), "actor"),
            "actor",
            "api_key",
            "service_account",
        ),
        "actor.api_key.service_account is missing",
    ),
    (
        "admin",
        replaced(ADMIN, {"name": "p"}, "project"),
        "project.id: required but missing",
    ),
    (
        "admin",
        replaced(ADMIN, ["p"], "project"),
        "project: expected an object, got list",
    ),
    ("compliance", [], "record is an array, not a JSON object (log file log-x)"),
    ("compliance", without(AUTH, "event_id"), "event_id: required but missing"),
    (
        "compliance",
        replaced(AUTH, "yesterday", "timestamp"),
        "timestamp 'yesterday' is not an ISO 8601 time",
    ),
    (
        "compliance",
        replaced(AUTH, "2025-01-01T09:30:00", "timestamp"),
        "timestamp '2025-01-01T09:30:00' has no UTC offset",
    ),
    (
        "compliance",
        replaced(AUTH, T0, "timestamp"),
        "timestamp: expected a string, got int",
    ),
    (
        "compliance",
        replaced(AUTH, {"type": "ACCOUNT_USER"}, "actor"),
        "names no user_id",
    ),
    (
        "compliance",
        replaced(AUTH, 5, "event_type"),
        "event_type: expected a string, got int 5",
    ),
    (
        "compliance",
        without(MESSAGE, "message"),
        "malformed conversation message: message: required",
    ),
    (
        "compliance",
        without(MESSAGE, "conversation"),
        "conversation: required but missing",
    ),
    (
        "compliance",
        replaced(MESSAGE, "a.pdf", "message", "files"),
        "message.files: expected an array, got str",
    ),
    (
        "compliance",
        without(MESSAGE, "message", "files", 0, "id"),
        "message.files[0].id: required but missing",
    ),
    (
        "compliance",
        replaced(MESSAGE, {"client_type": "web"}, "message", "author"),
        "message.author has neither role nor type",
    ),
    (
        "compliance",
        without(MESSAGE, "message", "author"),
        "message.author: required but missing",
    ),
    ("gpt", [], "record is an array, not a JSON object"),
    ("gpt", without(GPT, "created_at"), "created_at: required but missing"),
    (
        "gpt",
        replaced(GPT, 1735689600000.0, "created_at"),
        "created_at looks like milliseconds",
    ),
    ("gpt", replaced(GPT, float("nan"), "created_at"), "created_at is nan"),
    ("gpt", without(GPT, "owner_id"), "owner_id: required but missing"),
    (
        "gpt",
        {**GPT, "created_at": True},
        "created_at: expected a number, got bool",
    ),
    (
        "gpt",
        replaced(GPT, ["x"], "latest_config"),
        "latest_config[0]: expected an object",
    ),
    (
        "gpt",
        replaced(GPT, [{"name": 3}], "latest_config"),
        "latest_config[0].name: expected a string, got int 3",
    ),
    ("automation", without(GPT, "id"), "id: required but missing"),
    ("automation", replaced(GPT, "", "owner_id"), "owner_id is empty"),
]


@pytest.mark.parametrize(
    ("call", "raw", "reason"),
    MALFORMED,
    ids=[f"{call}-{n}" for n, (call, _, _) in enumerate(MALFORMED)],
)
def test_malformed_records_are_quarantined_with_a_reason(call, raw, reason):
    result = CALLS[call](raw)
    assert isinstance(result, QuarantinedRecord), result
    assert reason in result.reason
    assert not result.reason.startswith(UNEXPECTED)
    expected_stream = {
        "admin": STREAM_ADMIN,
        "compliance": STREAM_COMPLIANCE,
        "gpt": STREAM_GPTS,
        "automation": STREAM_GPTS,
    }[call]
    assert result.stream == expected_stream
    assert result.raw


def test_quarantine_keeps_the_record_and_its_identity():
    result = NORMALIZER.admin_audit_log(replaced(ADMIN, 1735689600000, "effective_at"))
    assert isinstance(result, QuarantinedRecord)
    assert result.native_id == "audit_log-abc_20250101"
    assert result.native_type == "api_key.created"
    assert '"effective_at":1735689600000' in result.raw
    result = NORMALIZER.compliance_record(
        replaced(AUTH, "soon", "timestamp"), log_id="log-x"
    )
    assert isinstance(result, QuarantinedRecord)
    assert result.native_id == "evt_9"
    assert result.native_type == "AUTH_LOG:LOGIN_FAILED"


def test_unserializable_input_is_quarantined_with_its_repr():
    result = NORMALIZER.admin_audit_log({"id": 10**30, "type": "\ud800"})
    assert isinstance(result, QuarantinedRecord)
    assert "1000000000000000000000000000000" in result.raw


# --------------------------------------------------------------------------
# Property: arbitrary JSON never raises
# --------------------------------------------------------------------------

REAL_KEYS = [
    "id", "type", "effective_at", "actor", "session", "user", "email", "api_key",
    "service_account", "project", "name", "ip_address", "user_agent",
    "ip_address_details", "country", "city", "region", "latitude", "longitude",
    "event_id", "timestamp", "principal", "user_id", "user_email", "event_type",
    "event_details", "workspace_id", "message", "conversation", "author", "role",
    "model", "files", "parent_id", "created_at", "owner_id", "owner_email",
    "builder_name", "latest_config", "data", "sharing", "visibility",
    "recipients", "permissions", "tools", "action_domain", "version_author",
    "old_visibility", "new_visibility", "api_key.created", "login.failed",
]  # fmt: skip
REAL_VALUES = [
    "session", "api_key", "user", "service_account", "ACCOUNT_USER",
    "CONVERSATION_MESSAGE", "AUTH_LOG", "AUDIT_LOG", "CODEX_LOG", "LOGIN_FAILED",
    "GPT_SHARING_CHANGED", "assistant", "invite-only", "gpt-store",
    "login.failed", "api_key.created", "tenant.user.added",
    "2025-01-01T00:00:00Z", "2025-01-01T00:00:00", "0001-01-01T00:00:00+01:00",
    "37.7", "1e400", T0, float(T0), 10**12, -1,
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(REAL_VALUES)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(REAL_KEYS) | st.text(max_size=6), children, max_size=6
        )
    ),
    max_leaves=24,
)
BASES = [
    admin_record(),
    admin_record(actor=api_key_actor("user")),
    admin_record("login.failed", actor=api_key_actor("service_account")),
    message_record(files=[file_item("f1", "a.pdf"), file_item("f2", "b")]),
    message_record(role="assistant", parent_id="m"),
    event_record("AUDIT_LOG", "GPT_SHARING_CHANGED", {"old_visibility": "workspace"}),
    event_record("AUTH_LOG", "LOGIN_FAILED", {"ip_address": "192.0.2.1"}),
    gpt_record(),
]


def paths(value: object, prefix: tuple = ()) -> list[tuple]:
    found = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return found
    for key, child in items:
        found.append((*prefix, key))
        found.extend(paths(child, (*prefix, key)))
    return found


@st.composite
def mutated_records(draw) -> object:
    """A real record with one node replaced by arbitrary JSON, or removed."""
    record = copy.deepcopy(draw(st.sampled_from(BASES)))
    path = draw(st.sampled_from(paths(record)))
    parent = record
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    return record


any_input = json_values | mutated_records()


def check(result: object, kinds: tuple[type, ...]) -> None:
    if isinstance(result, QuarantinedRecord):
        assert not result.reason.startswith(UNEXPECTED), result.reason
        assert result.reason
        return
    assert isinstance(result, kinds), result
    for item in result if isinstance(result, list) else [result]:
        if isinstance(item, AIAuditLog):
            assert_valid(item)


PROPERTY = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY
@given(any_input)
def test_admin_never_raises(raw):
    check(NORMALIZER.admin_audit_log(raw), (AIAuditLog,))


@PROPERTY
@given(any_input)
def test_compliance_never_raises(raw):
    check(NORMALIZER.compliance_record(raw, log_id="log-h"), (list,))


@PROPERTY
@given(any_input)
def test_custom_gpt_never_raises(raw):
    check(NORMALIZER.custom_gpt(raw), (list,))


@PROPERTY
@given(any_input)
def test_automation_never_raises(raw):
    check(NORMALIZER.automation(raw), (AutomationEvent,))


def test_module_exports_what_the_connector_codes_against():
    for name in (
        "STREAM_ADMIN",
        "STREAM_COMPLIANCE",
        "STREAM_GPTS",
        "NativeFilter",
        "native_filter",
        "Normalizer",
        "actions_of",
        "UNIFIED_ACTIONS",
    ):
        assert name in normalize.__all__
    assert (STREAM_ADMIN, STREAM_COMPLIANCE, STREAM_GPTS) == (
        "admin_audit_logs",
        "compliance_logs",
        "custom_gpts",
    )
