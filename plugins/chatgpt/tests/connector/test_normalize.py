"""The ChatGPT normalizer: native records in, unified logs (or quarantine) out.

The sandbox's generated records stand in for the real APIs; the spec's event
enum and the mapping document are checked against the shipped table so that
neither can fall behind it.
"""

from __future__ import annotations

import copy
import datetime as dt
import importlib.resources
import re
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from contract_data import OPENAI_ADMIN, contract
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiaudit_chatgpt import normalize
from aiaudit_chatgpt.event_map import (
    STREAM_ADMIN,
    STREAM_COMPLIANCE,
    STREAM_GPTS,
    UNIFIED_ACTIONS,
    NativeFilter,
    actions_of,
    is_tenant_scoped,
    native_filter,
)
from aiaudit_chatgpt.normalize import UNEXPECTED, Normalizer
from aiaudit_chatgpt.sandbox.audit import AuditLogData
from aiaudit_chatgpt.sandbox.compliance_data import ComplianceData
from aiaudit_chatgpt.sandbox.org import Organization
from connector_core.models import (
    AIActivityType,
    AIAuditLog,
    AIRiskType,
    AutomationEvent,
    AutomationStatus,
    AutomationType,
    Coordinates,
    GeoLocation,
    RiskSeverity,
)
from connector_core.streams import QuarantinedRecord


ROOT = Path(__file__).resolve().parents[4]
DOC = (ROOT / "docs" / "chatgpt-mapping.md").read_text(encoding="utf-8")
TABLE = tomllib.loads(
    importlib.resources.files("aiaudit_chatgpt")
    .joinpath("event_map.toml")
    .read_text(encoding="utf-8")
)
ORG_ID = "org-test"
WORKSPACE_ID = "ws-test"
T0 = 1_735_689_600  # 2025-01-01T00:00:00Z
NORMALIZER = Normalizer(organization_id=ORG_ID, workspace_id=WORKSPACE_ID)


def assert_valid(log: AIAuditLog) -> None:
    """What every produced log must satisfy, whatever it came from."""
    assert isinstance(log, AIAuditLog)
    assert log.platform == "chatgpt"
    assert log.timestamp.tzinfo is not None
    assert log.timestamp.utcoffset() == dt.timedelta(0)
    assert isinstance(log.user_id, str)
    assert log.user_id
    assert log.id
    assert log.action
    assert isinstance(log.activity_type, AIActivityType)
    assert log.native_type
    assert log.organization_id


# --------------------------------------------------------------------------
# Record builders
# --------------------------------------------------------------------------


def admin_record(native_type: str = "api_key.created", **changes: Any) -> dict:
    record: dict[str, Any] = {
        "id": "audit_log-abc_20250101",
        "object": "organization.audit_log",
        "type": native_type,
        "effective_at": T0,
        "actor": {
            "type": "session",
            "session": {
                "user": {"id": "user-1", "email": "ada@example.com"},
                "ip_address": "203.0.113.7",
                "user_agent": "Mozilla/5.0",
                "ja3": "a0e9f5d64349fb13191bc781f81f42e1",
                "ip_address_details": {
                    "country": "US",
                    "city": "San Francisco",
                    "region": "California",
                    "region_code": "CA",
                    "asn": "1234",
                    "latitude": "37.77490",
                    "longitude": "-122.41940",
                },
            },
        },
        native_type: {"id": "key_abc", "data": {"scopes": ["api.model.request"]}},
    }
    record.update(changes)
    return record


def api_key_actor(kind: str) -> dict:
    if kind == "user":
        owner = {"user": {"id": "user-2", "email": "bob@example.com"}}
    else:
        owner = {"service_account": {"id": "svc_acct_1"}}
    return {"type": "api_key", "api_key": {"id": "key_track", "type": kind, **owner}}


def message_record(
    *,
    role: str = "user",
    parent_id: str | None = None,
    files: list[dict] | None = None,
    event_id: str = "evt_1",
) -> dict:
    author: dict[str, Any] = {"type": role, "role": role, "client_type": "web"}
    if role == "assistant":
        author["model"] = "gpt-4o"
    return {
        "event_id": event_id,
        "type": "CONVERSATION_MESSAGE",
        "principal": {"id": "ws-principal", "type": "CHATGPT_WORKSPACE"},
        "actor": {
            "type": "ACCOUNT_USER",
            "user_id": "user-1",
            "user_email": "ada@example.com",
        },
        "timestamp": "2025-01-01T09:30:00.123456Z",
        "message": {
            "id": "msg_2",
            "parent_id": parent_id,
            "created_at": "2025-01-01T09:30:00.123456Z",
            "author": author,
            "content": {"type": "text", "value": "Compare these contracts."},
            "files": files or [],
            "annotations": [],
        },
        "conversation": {
            "id": "conv_1",
            "title": "Contract review",
            "created_at": "2025-01-01T09:30:00.123456Z",
            "is_pinned": False,
            "is_temporary_chat": False,
            "gpt_id": "g-123",
            "gpt_name": "Contract Reviewer",
        },
    }


def file_item(file_id: str, name: str, created_at: object = T0 + 5.5) -> dict:
    return {
        "id": file_id,
        "object": "compliance.workspace.conversation.message.file",
        "name": name,
        "created_at": created_at,
        "download_url": f"https://files.example.invalid/{file_id}",
    }


def event_record(record_type: str, event_type: str, details: dict) -> dict:
    return {
        "event_id": "evt_9",
        "type": record_type,
        "principal": {"id": "ws-principal", "type": "CHATGPT_WORKSPACE"},
        "actor": {"type": "ACCOUNT_USER", "user_id": "user-1", "user_email": "a@x.io"},
        "timestamp": "2025-01-01T09:30:00.000001Z",
        "event_type": event_type,
        "workspace_id": "ws-record",
        "event_details": {"detail_type": event_type, **details},
    }


def gpt_record(*, config_created_at: float = T0 + 3600.0, **changes: Any) -> dict:
    record: dict[str, Any] = {
        "object": "compliance.workspace.gpt",
        "id": "g-abc",
        "created_at": float(T0),
        "owner_id": "user-1",
        "owner_email": "ada@example.com",
        "builder_name": "Ada Lovelace",
        "sharing": {
            "object": "compliance.workspace.gpt.sharing",
            "visibility": "invite-only",
            "permissions": {"can_read": True, "can_view_config": True},
            "recipients": [{"id": "user-2", "email": "bob@example.com"}],
        },
        "latest_config": {
            "object": "list",
            "data": [
                {
                    "object": "compliance.workspace.gpt.configuration",
                    "id": "gzm_cnf_1",
                    "name": "Contract Reviewer",
                    "description": "Reviews contracts.",
                    "created_at": config_created_at,
                    "version_author": {"id": "user-3", "email": "cy@example.com"},
                    "files": {"data": [{"id": "file-k", "name": "playbook.pdf"}]},
                    "tools": {
                        "data": [
                            {"type": "browser"},
                            {"type": "custom_action", "action_domain": "api.acme.io"},
                        ]
                    },
                }
            ],
            "has_more": False,
        },
    }
    record.update(changes)
    return record


# --------------------------------------------------------------------------
# The sandbox's records normalize cleanly
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def org() -> Organization:
    return Organization.generate(
        seed=1,
        events=3000,
        start=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        end=dt.datetime(2025, 1, 22, tzinfo=dt.UTC),
    )


@pytest.fixture(scope="module")
def audit(org) -> AuditLogData:
    return AuditLogData.generate(org, events=3000)


@pytest.fixture(scope="module")
def compliance(org) -> ComplianceData:
    return ComplianceData.generate(org, messages=2000)


@pytest.fixture(scope="module")
def normalizer(org) -> Normalizer:
    return Normalizer(organization_id=org.org_id, workspace_id=org.workspace_id)


def test_every_sandbox_admin_record_normalizes(audit, normalizer, org):
    records = list(audit.iter_records())
    assert len(records) == 3000
    seen = Counter()
    for record in records:
        log = normalizer.admin_audit_log(record)
        assert not isinstance(log, QuarantinedRecord), log
        assert_valid(log)
        assert log.id == record["id"]
        assert log.native_type == record["type"]
        assert log.raw == record
        assert log.organization_id == org.org_id
        assert log.timestamp == dt.datetime.fromtimestamp(
            record["effective_at"], dt.UTC
        )
        seen[log.metadata["actor_type"]] += 1
    assert set(seen) == {"user", "service_account", "system"}


def test_every_sandbox_compliance_record_normalizes(compliance, normalizer, org):
    actions: Counter[str] = Counter()
    records = 0
    for log_file in compliance.iter_log_files():
        for record in compliance.iter_file_records(log_file.id):
            records += 1
            logs = normalizer.compliance_record(record, log_id=log_file.id)
            assert not isinstance(logs, QuarantinedRecord), logs
            assert logs
            assert len({log.id for log in logs}) == len(logs)
            for log in logs:
                assert_valid(log)
                assert log.organization_id == org.workspace_id
                assert log.metadata["log_id"] == log_file.id
                actions[log.action] += 1
    assert records == sum(compliance.records_count.values())
    assert {
        "conversation.message",
        "conversation.created",
        "conversation.response",
        "file.uploaded",
        "user.login",
        "user.login.failed",
    } <= set(actions)
    assert actions["conversation.message"] == actions["conversation.response"] == 1000


def test_every_sandbox_gpt_normalizes(compliance, normalizer, org):
    gpts, has_more = compliance.gpts_page(None, 1000)
    assert gpts
    assert not has_more
    for gpt in gpts:
        assert compliance.gpt(next(g for g in org.gpts if g.id == gpt["id"])) == gpt
        logs = normalizer.custom_gpt(gpt)
        assert not isinstance(logs, QuarantinedRecord), logs
        assert logs[0].action == "gpt.created"
        assert logs[0].id == f"gpt.created:{gpt['id']}"
        for log in logs:
            assert_valid(log)
        automation = normalizer.automation(gpt)
        assert isinstance(automation, AutomationEvent), automation
        assert automation.type is AutomationType.GPT
        assert automation.owner is not None
        assert automation.owner.id == gpt["owner_id"]


def test_sandbox_logs_are_found_again_by_their_action_filter(
    audit, compliance, normalizer
):
    """Pushdown never loses a log: its action's filter asks for its source."""
    for record in audit.iter_records():
        log = normalizer.admin_audit_log(record)
        wanted = native_filter({log.action}).admin_event_types
        assert wanted is not None
        assert record["type"] in wanted
    for log_file in list(compliance.iter_log_files())[:40]:
        for record in compliance.iter_file_records(log_file.id):
            for log in normalizer.compliance_record(record, log_id=log_file.id):
                wanted = native_filter({log.action}).compliance_event_types
                assert wanted is not None
                assert record["type"] in wanted


def test_stream_actions_cover_what_the_sandbox_produces(audit, normalizer):
    admin_actions = {normalizer.admin_audit_log(r).action for r in audit.iter_records()}
    mapped = admin_actions & UNIFIED_ACTIONS
    assert mapped <= set(actions_of(STREAM_ADMIN))
    # Whatever is not ours is a pass-through of a tenant-scoped type here.
    assert all(is_tenant_scoped(a) for a in admin_actions - UNIFIED_ACTIONS)
    assert set(actions_of(STREAM_GPTS)) == {"gpt.created", "gpt.updated"}
    assert "file.uploaded" in actions_of(STREAM_COMPLIANCE)
    for stream in (STREAM_ADMIN, STREAM_COMPLIANCE, STREAM_GPTS):
        assert set(actions_of(stream)) <= UNIFIED_ACTIONS
        assert list(actions_of(stream)) == sorted(actions_of(stream))
    with pytest.raises(ValueError, match="unknown stream"):
        actions_of("nope")


# --------------------------------------------------------------------------
# The table against the spec and the documentation
# --------------------------------------------------------------------------


def spec_event_types() -> list[str]:
    return contract(OPENAI_ADMIN)["components"]["schemas"]["AuditLogEventType"]["enum"]


def expected_mapping(native_type: str) -> tuple[str, str]:
    """The (action, activity) the table documents for *native_type*."""
    row = TABLE["admin"]["types"].get(native_type)
    if row is not None:
        return row["action"], row["activity"]
    prefixes = [p for p in TABLE["admin"]["prefixes"] if native_type.startswith(p)]
    assert prefixes, f"{native_type} is neither listed nor under a prefix rule"
    assert TABLE["admin"]["prefixes"][prefixes[0]]["rule"] == "pass_through"
    return native_type, TABLE["defaults"]["pass_through_activity"]


def test_table_covers_the_spec_event_enum():
    enum = spec_event_types()
    assert len(enum) == 145
    # Every listed type is a real one: a typo would silently never match.
    assert set(TABLE["admin"]["types"]) <= set(enum)
    for native_type in enum:
        action, activity = expected_mapping(native_type)
        log = NORMALIZER.admin_audit_log(admin_record(native_type))
        assert isinstance(log, AIAuditLog), log
        assert (log.action, log.activity_type.value) == (action, activity)
        if native_type in TABLE["admin"]["types"]:
            assert f"`{native_type}`" in DOC
        else:
            assert any(f"`{prefix}*`" in DOC for prefix in TABLE["admin"]["prefixes"])


def test_an_unknown_admin_type_passes_through_as_a_settings_change():
    log = NORMALIZER.admin_audit_log(admin_record("sso.enforced"))
    assert isinstance(log, AIAuditLog)
    assert log.action == "sso.enforced"
    assert log.activity_type is AIActivityType.SETTINGS_CHANGE
    assert log.native_type == "sso.enforced"
    assert log.metadata["resource_type"] == "sso"


def doc_rows() -> list[str]:
    return [line for line in DOC.splitlines() if line.startswith("|")]


def has_row(*cells: object) -> bool:
    spans = [f"`{cell}`" for cell in cells]
    return any(all(span in row for span in spans) for row in doc_rows())


def values(value: object) -> list[str]:
    """Every scalar value in the table, as text."""
    if isinstance(value, dict):
        return [text for child in value.values() for text in values(child)]
    if isinstance(value, list):
        return [text for item in value for text in values(item)]
    return [] if isinstance(value, bool) else [str(value)]


def entry_names() -> list[str]:
    """The names of the table's entries (not of its sections or fields)."""
    tables = [
        TABLE["admin"]["types"],
        TABLE["admin"]["prefixes"],
        TABLE["compliance"]["messages"],
        TABLE["compliance"]["events"],
        *TABLE["compliance"]["events"].values(),
        TABLE["compliance"]["other_types"],
        TABLE["gpts"],
        TABLE["risks"],
    ]
    return [name for table in tables for name in table]


def test_doc_lists_every_entry_of_the_table():
    expected = set(entry_names()) | (set(values(TABLE)) - {"1", "pass_through"})
    missing = sorted(text for text in expected if text not in DOC)
    assert not missing, f"missing from docs/chatgpt-mapping.md: {missing}"


def test_doc_admin_tables_match_the_table_row_by_row():
    for native, row in TABLE["admin"]["types"].items():
        assert has_row(native, row["action"], row["activity"], row["resource"]), native
        if row.get("tenant"):
            assert any(f"`{native}`" in r and "yes" in r for r in doc_rows()), native
    for prefix in TABLE["admin"]["prefixes"]:
        assert has_row(f"{prefix}*"), prefix


def test_doc_tables_match_the_rest_of_the_table_row_by_row():
    for row in TABLE["compliance"]["messages"].values():
        assert has_row(row["action"], row["activity"]), row
    for record_type, events in TABLE["compliance"]["events"].items():
        for event_type, row in events.items():
            actions = [row["action"], row.get("widened"), row.get("narrowed")]
            assert has_row(
                f"{record_type}:{event_type}",
                *[a for a in actions if a],
                row["activity"],
            ), event_type
    for record_type, activity in TABLE["compliance"]["other_types"].items():
        assert has_row(record_type, activity), record_type
    for row in TABLE["gpts"].values():
        assert has_row(row["action"], row["activity"]), row
    for action, risk in TABLE["risks"].items():
        assert has_row(action, risk["type"], risk["severity"]), action
        assert any(
            f"`{action}`" in r and f"| {risk['confidence']} |" in r for r in doc_rows()
        )
    for action in TABLE["vocabulary"]["reserved"]:
        assert f"`{action}`" in DOC


def test_table_ships_inside_the_package():
    resource = importlib.resources.files("aiaudit_chatgpt").joinpath("event_map.toml")
    assert resource.is_file()


def test_table_activities_are_all_activity_types():
    rows = [
        *TABLE["admin"]["types"].values(),
        *TABLE["compliance"]["messages"].values(),
        *(
            r
            for events in TABLE["compliance"]["events"].values()
            for r in events.values()
        ),
        *TABLE["gpts"].values(),
    ]
    for row in rows:
        AIActivityType(row["activity"])
        assert re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", row["action"]), row
    for activity in TABLE["compliance"]["other_types"].values():
        AIActivityType(activity)


# --------------------------------------------------------------------------
# Admin actors and fields
# --------------------------------------------------------------------------


def test_session_actor_gives_user_ip_agent_and_location():
    log = NORMALIZER.admin_audit_log(admin_record())
    assert isinstance(log, AIAuditLog)
    assert (log.user_id, log.user_email) == ("user-1", "ada@example.com")
    assert log.metadata["actor_type"] == "user"
    assert log.ip_address == "203.0.113.7"
    assert log.user_agent == "Mozilla/5.0"
    assert log.location == GeoLocation(
        country="US",
        region="California",
        city="San Francisco",
        coordinates=Coordinates(latitude=37.7749, longitude=-122.4194),
    )
    assert log.organization_id == ORG_ID
    assert log.timestamp == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    assert log.action == "api_key.created"
    assert log.activity_type is AIActivityType.API_KEY_CREATED
    assert log.metadata["resource_type"] == "api_key"
    assert log.metadata["resource_id"] == "key_abc"
    assert log.metadata["details"] == {
        "id": "key_abc",
        "data": {"scopes": ["api.model.request"]},
    }
    assert log.risk_indicators == ()


def test_user_api_key_actor():
    log = NORMALIZER.admin_audit_log(admin_record(actor=api_key_actor("user")))
    assert isinstance(log, AIAuditLog)
    assert (log.user_id, log.user_email) == ("user-2", "bob@example.com")
    assert log.metadata["actor_type"] == "user"
    assert log.metadata["api_key_id"] == "key_track"
    assert log.ip_address is None
    assert log.location is None


def test_service_account_actor_has_no_email():
    log = NORMALIZER.admin_audit_log(
        admin_record(actor=api_key_actor("service_account"))
    )
    assert isinstance(log, AIAuditLog)
    assert (log.user_id, log.user_email) == ("svc_acct_1", None)
    assert log.metadata["actor_type"] == "service_account"
    assert log.metadata["api_key_id"] == "key_track"


def test_null_actor_is_the_system():
    log = NORMALIZER.admin_audit_log(admin_record("scim.enabled", actor=None))
    assert isinstance(log, AIAuditLog)
    assert (log.user_id, log.user_email) == ("system", None)
    assert log.metadata["actor_type"] == "system"


def test_missing_actor_key_is_the_system_too():
    record = admin_record()
    del record["actor"]
    log = NORMALIZER.admin_audit_log(record)
    assert isinstance(log, AIAuditLog)
    assert log.user_id == "system"


def test_project_goes_to_metadata():
    record = admin_record(project={"id": "proj_1", "name": "Default project"})
    log = NORMALIZER.admin_audit_log(record)
    assert isinstance(log, AIAuditLog)
    assert log.metadata["project_id"] == "proj_1"
    assert log.metadata["project_name"] == "Default project"


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        (
            {"country": "IN", "latitude": "19.07283", "longitude": "72.88261"},
            GeoLocation(
                country="IN",
                coordinates=Coordinates(latitude=19.07283, longitude=72.88261),
            ),
        ),
        (
            {"country": "DE", "city": "Berlin", "latitude": "north"},
            GeoLocation(country="DE", city="Berlin"),
        ),
        (
            {"city": "Nowhere", "latitude": "91", "longitude": "0"},
            GeoLocation(city="Nowhere"),
        ),
        (
            {"country": "FR", "latitude": "NaN", "longitude": "inf"},
            GeoLocation(country="FR"),
        ),
        (
            {"latitude": 48.85, "longitude": 2.35},
            GeoLocation(coordinates=Coordinates(latitude=48.85, longitude=2.35)),
        ),
        ({"country": ["US"], "latitude": True, "longitude": {}}, None),
        ({}, None),
        ("somewhere", None),
        (None, None),
    ],
)
def test_ip_address_details_become_a_location(details, expected):
    record = admin_record()
    record["actor"]["session"]["ip_address_details"] = details
    log = NORMALIZER.admin_audit_log(record)
    assert isinstance(log, AIAuditLog)
    assert log.location == expected


def test_failed_login_is_a_low_security_event():
    record = admin_record(
        "login.failed",
        **{"login.failed": {"error_code": "mfa_failed", "error_message": "Bad code."}},
    )
    log = NORMALIZER.admin_audit_log(record)
    assert isinstance(log, AIAuditLog)
    assert log.action == "user.login.failed"
    assert log.activity_type is AIActivityType.LOGIN
    (risk,) = log.risk_indicators
    assert risk.type is AIRiskType.SECURITY_EVENT
    assert risk.severity is RiskSeverity.LOW
    assert risk.confidence == 60
    assert risk.evidence == ("error_code: mfa_failed", "error_message: Bad code.")


def test_unconfigured_organization_is_unknown():
    log = Normalizer(organization_id=None, workspace_id=None).admin_audit_log(
        admin_record()
    )
    assert isinstance(log, AIAuditLog)
    assert log.organization_id == "unknown"


# --------------------------------------------------------------------------
# Compliance records
# --------------------------------------------------------------------------


def test_first_user_message_with_two_files():
    record = message_record(
        files=[file_item("file-a", "q3-forecast.xlsx"), file_item("file-b", "msa.pdf")]
    )
    logs = NORMALIZER.compliance_record(record, log_id="log-1")
    assert isinstance(logs, list), logs
    assert [log.action for log in logs] == [
        "conversation.created",
        "conversation.message",
        "file.uploaded",
        "file.uploaded",
    ]
    assert [log.id for log in logs] == [
        "evt_1:created",
        "evt_1",
        "evt_1:file:file-a",
        "evt_1:file:file-b",
    ]
    created, message, upload_a, upload_b = logs
    for log in logs:
        assert_valid(log)
        assert (log.user_id, log.user_email) == ("user-1", "ada@example.com")
        assert log.organization_id == "ws-principal"
        assert log.native_type == "CONVERSATION_MESSAGE"
        assert log.timestamp == dt.datetime(2025, 1, 1, 9, 30, 0, 123456, tzinfo=dt.UTC)
        assert log.metadata["conversation_id"] == "conv_1"
        assert log.metadata["conversation_title"] == "Contract review"
        assert log.metadata["message_id"] == "msg_2"
        assert log.metadata["gpt_id"] == "g-123"
    assert created.activity_type is AIActivityType.CONVERSATION
    assert created.risk_indicators == ()
    assert message.activity_type is AIActivityType.CONVERSATION
    assert message.risk_indicators == ()
    assert [f["file_id"] for f in message.metadata["files"]] == ["file-a", "file-b"]
    assert upload_a.activity_type is AIActivityType.FILE_UPLOAD
    assert upload_a.metadata["files"] == [
        {
            "file_id": "file-a",
            "file_name": "q3-forecast.xlsx",
            "file_type": "xlsx",
            "file_size": None,
            "uploaded_at": "2025-01-01T00:00:05.500000Z",
            "is_sensitive": None,
        }
    ]
    for upload, name in ((upload_a, "q3-forecast.xlsx"), (upload_b, "msa.pdf")):
        (risk,) = upload.risk_indicators
        assert risk.type is AIRiskType.SENSITIVE_DATA
        assert risk.severity is RiskSeverity.MEDIUM
        assert risk.confidence == 80
        assert risk.description == "File uploaded to ChatGPT"
        assert risk.evidence == (name,)
        assert upload.metadata["file_name"] == name


def test_later_message_is_not_a_creation_and_duplicate_files_count_once():
    files = [file_item("file-a", "a.pdf"), file_item("file-a", "a.pdf")]
    logs = NORMALIZER.compliance_record(
        message_record(parent_id="msg_1", files=files), log_id="log-1"
    )
    assert isinstance(logs, list)
    assert [log.action for log in logs] == ["conversation.message", "file.uploaded"]


def test_missing_parent_id_says_nothing_about_creation():
    record = message_record()
    del record["message"]["parent_id"]
    logs = NORMALIZER.compliance_record(record, log_id="log-1")
    assert isinstance(logs, list)
    assert [log.action for log in logs] == ["conversation.message"]


def test_expired_file_time_falls_back_to_the_message_time():
    record = message_record(parent_id="m", files=[file_item("f", "notes", None)])
    logs = NORMALIZER.compliance_record(record, log_id="log-1")
    assert isinstance(logs, list)
    (reference,) = logs[1].metadata["files"]
    assert reference["uploaded_at"] == "2025-01-01T09:30:00.123456Z"
    assert reference["file_type"] == "unknown"


def test_assistant_message_is_a_response_with_its_model():
    logs = NORMALIZER.compliance_record(
        message_record(role="assistant", parent_id="msg_1"), log_id="log-1"
    )
    assert isinstance(logs, list)
    (log,) = logs
    assert log.action == "conversation.response"
    assert log.activity_type is AIActivityType.MODEL_USAGE
    assert log.metadata["model"] == "gpt-4o"
    assert log.metadata["author_role"] == "assistant"
    assert log.id == "evt_1"
    assert log.risk_indicators == ()


def test_files_on_a_response_are_not_uploads():
    record = message_record(
        role="assistant", parent_id="m", files=[file_item("f", "chart.png")]
    )
    logs = NORMALIZER.compliance_record(record, log_id="log-1")
    assert isinstance(logs, list)
    assert [log.action for log in logs] == ["conversation.response"]
    assert logs[0].metadata["files"][0]["file_id"] == "f"


def test_author_type_alone_tells_the_role():
    """The published example record has ``author.type`` and no ``role``."""
    record = message_record(parent_id="m")
    del record["message"]["author"]["role"]
    logs = NORMALIZER.compliance_record(record, log_id="log-1")
    assert isinstance(logs, list)
    assert logs[0].action == "conversation.message"


@pytest.mark.parametrize(
    ("event_type", "action", "activity"),
    [
        ("LOGIN_SUCCEEDED", "user.login", AIActivityType.LOGIN),
        ("LOGIN_FAILED", "user.login.failed", AIActivityType.LOGIN),
        ("LOGOUT", "user.logout", AIActivityType.LOGOUT),
    ],
)
def test_auth_log(event_type, action, activity):
    details = {
        "ip_address": "198.51.100.4",
        "user_agent": "ChatGPT/1.0",
        "failure_reason": "invalid_password",
    }
    logs = NORMALIZER.compliance_record(
        event_record("AUTH_LOG", event_type, details), log_id="log-a"
    )
    assert isinstance(logs, list)
    (log,) = logs
    assert (log.action, log.activity_type) == (action, activity)
    assert log.native_type == f"AUTH_LOG:{event_type}"
    assert log.id == "evt_9"
    assert log.ip_address == "198.51.100.4"
    assert log.user_agent == "ChatGPT/1.0"
    assert log.metadata["details"]["failure_reason"] == "invalid_password"
    if action == "user.login.failed":
        (risk,) = log.risk_indicators
        assert risk.type is AIRiskType.SECURITY_EVENT
        assert risk.evidence == ("failure_reason: invalid_password",)
    else:
        assert log.risk_indicators == ()


@pytest.mark.parametrize(
    ("event_type", "details", "action", "activity"),
    [
        (
            "USER_ROLE_CHANGED",
            {"new_role": "account-admin"},
            "user.role.updated",
            "settings_change",
        ),
        (
            "WORKSPACE_SETTING_UPDATED",
            {"setting": "memory"},
            "settings.updated",
            "settings_change",
        ),
        (
            "CONNECTOR_ENABLED",
            {"connector": "GitHub"},
            "integration.enabled",
            "integration_created",
        ),
        (
            "MEMBER_INVITED",
            {"invitee_email": "n@x.io"},
            "user.invited",
            "settings_change",
        ),
        (
            "GPT_SHARING_CHANGED",
            {"old_visibility": "invite-only", "new_visibility": "workspace"},
            "share.created",
            "settings_change",
        ),
        (
            "GPT_SHARING_CHANGED",
            {"old_visibility": "gpt-store", "new_visibility": "workspace-with-link"},
            "share.revoked",
            "settings_change",
        ),
        (
            "GPT_SHARING_CHANGED",
            {"old_visibility": "workspace", "new_visibility": "secret-club"},
            "share.updated",
            "settings_change",
        ),
        ("SSO_CONFIGURED", {}, "audit_log.sso_configured", "settings_change"),
    ],
)
def test_audit_log(event_type, details, action, activity):
    logs = NORMALIZER.compliance_record(
        event_record("AUDIT_LOG", event_type, details), log_id="log-b"
    )
    assert isinstance(logs, list)
    (log,) = logs
    assert (log.action, log.activity_type.value) == (action, activity)
    assert log.native_type == f"AUDIT_LOG:{event_type}"


def test_other_record_types_pass_through_lowercased():
    record = event_record("CODEX_LOG", "PROMPT_SENT", {"model": "gpt-5.1-codex-max"})
    record["client_id"] = "CODEX_CLI"
    logs = NORMALIZER.compliance_record(record, log_id="log-c")
    assert isinstance(logs, list)
    (log,) = logs
    assert log.action == "codex_log.prompt_sent"
    assert log.activity_type is AIActivityType.MODEL_USAGE
    assert log.native_type == "CODEX_LOG:PROMPT_SENT"
    unknown = {k: v for k, v in record.items() if k != "event_type"}
    unknown["type"] = "BRAND_NEW_LOG"
    logs = NORMALIZER.compliance_record(unknown, log_id="log-c")
    assert isinstance(logs, list)
    assert logs[0].action == "brand_new_log"
    assert logs[0].activity_type is AIActivityType.SETTINGS_CHANGE
    assert logs[0].native_type == "BRAND_NEW_LOG"


def test_compliance_organization_falls_back_to_the_workspace():
    record = event_record("AUTH_LOG", "LOGIN_SUCCEEDED", {})
    del record["principal"]
    logs = NORMALIZER.compliance_record(record, log_id="l")
    assert isinstance(logs, list)
    assert logs[0].organization_id == "ws-record"
    del record["workspace_id"]
    logs = NORMALIZER.compliance_record(record, log_id="l")
    assert isinstance(logs, list)
    assert logs[0].organization_id == WORKSPACE_ID


def test_compliance_actor_shapes():
    record = event_record("AUTH_LOG", "LOGIN_SUCCEEDED", {})
    record["actor"] = None
    logs = NORMALIZER.compliance_record(record, log_id="l")
    assert isinstance(logs, list)
    assert (logs[0].user_id, logs[0].metadata["actor_type"]) == ("system", "system")
    record["actor"] = {"type": "API_KEY_USER", "user_id": "user-9"}
    logs = NORMALIZER.compliance_record(record, log_id="l")
    assert isinstance(logs, list)
    assert (logs[0].user_id, logs[0].user_email) == ("user-9", None)
    assert logs[0].metadata["actor_type"] == "api_key_user"


# --------------------------------------------------------------------------
# Custom GPTs
# --------------------------------------------------------------------------


def test_custom_gpt_created_and_updated():
    logs = NORMALIZER.custom_gpt(gpt_record())
    assert isinstance(logs, list), logs
    created, updated = logs
    assert created.id == "gpt.created:g-abc"
    assert created.action == "gpt.created"
    assert created.activity_type is AIActivityType.INTEGRATION_CREATED
    assert created.timestamp == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    assert (created.user_id, created.user_email) == ("user-1", "ada@example.com")
    assert created.organization_id == WORKSPACE_ID
    assert created.metadata["gpt_id"] == "g-abc"
    assert created.metadata["gpt_name"] == "Contract Reviewer"
    assert created.metadata["sharing"] == "invite-only"
    assert created.metadata["tools"] == ["browser", "custom_action"]
    assert created.metadata["action_domains"] == ["api.acme.io"]
    assert created.native_type == "compliance.workspace.gpt"
    assert updated.id == "gpt.updated:g-abc:gzm_cnf_1"
    assert updated.action == "gpt.updated"
    assert updated.timestamp == dt.datetime(2025, 1, 1, 1, tzinfo=dt.UTC)
    assert (updated.user_id, updated.user_email) == ("user-3", "cy@example.com")
    assert updated.metadata["config_id"] == "gzm_cnf_1"
    assert updated.native_type == "compliance.workspace.gpt.configuration"


def test_custom_gpt_never_edited_has_no_update():
    logs = NORMALIZER.custom_gpt(gpt_record(config_created_at=float(T0)))
    assert isinstance(logs, list)
    assert [log.action for log in logs] == ["gpt.created"]


def test_custom_gpt_with_a_bare_config_array():
    """The published example has ``latest_config`` as a plain array."""
    record = gpt_record()
    record["latest_config"] = record["latest_config"]["data"]
    logs = NORMALIZER.custom_gpt(record)
    assert isinstance(logs, list)
    assert logs[0].metadata["gpt_name"] == "Contract Reviewer"


def test_custom_gpt_as_an_automation():
    automation = NORMALIZER.automation(gpt_record())
    assert isinstance(automation, AutomationEvent), automation
    assert automation.id == "g-abc"
    assert automation.name == "Contract Reviewer"
    assert automation.type is AutomationType.GPT
    assert automation.platform == "chatgpt"
    assert automation.status is AutomationStatus.ACTIVE
    assert automation.trigger == "conversation"
    assert automation.actions == ("browser", "custom_action")
    assert automation.permissions == ("can_read", "can_view_config")
    assert automation.created_at == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    assert automation.last_modified == dt.datetime(2025, 1, 1, 1, tzinfo=dt.UTC)
    assert automation.last_triggered is None
    assert automation.owner is not None
    assert automation.owner.id == "user-1"
    assert automation.owner.name == "Ada Lovelace"
    assert automation.owner.email == "ada@example.com"
    assert automation.description == "Reviews contracts."
    assert automation.metadata["shared_with"] == ["bob@example.com"]
    assert automation.metadata["knowledge_files"] == ["playbook.pdf"]
    assert automation.metadata["action_domains"] == ["api.acme.io"]


# --------------------------------------------------------------------------
# Filter pushdown
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        (
            {"user.login", "file.uploaded"},
            NativeFilter(
                admin_event_types=frozenset({"login.succeeded"}),
                compliance_event_types=frozenset({"AUTH_LOG", "CONVERSATION_MESSAGE"}),
                gpts=False,
            ),
        ),
        (
            {"gpt.created"},
            NativeFilter(
                admin_event_types=frozenset(),
                compliance_event_types=frozenset(),
                gpts=True,
            ),
        ),
        (
            None,
            NativeFilter(
                admin_event_types=None, compliance_event_types=None, gpts=True
            ),
        ),
        (
            {"tenant.user.added"},
            NativeFilter(
                admin_event_types=frozenset({"tenant.user.added"}),
                compliance_event_types=frozenset(),
                gpts=False,
            ),
        ),
        (
            {"user.invited", "share.revoked"},
            NativeFilter(
                admin_event_types=frozenset({"invite.sent"}),
                compliance_event_types=frozenset({"AUDIT_LOG"}),
                gpts=False,
            ),
        ),
        (
            {"codex_log.prompt_sent"},
            NativeFilter(
                admin_event_types=frozenset(),
                compliance_event_types=frozenset({"CODEX_LOG"}),
                gpts=False,
            ),
        ),
        # Reserved: ours, but no API reports it.
        (
            {"file.downloaded"},
            NativeFilter(
                admin_event_types=frozenset(),
                compliance_event_types=frozenset(),
                gpts=False,
            ),
        ),
        # A native name that is mapped to something else is never produced.
        (
            {"login.succeeded", "not an action"},
            NativeFilter(
                admin_event_types=frozenset(),
                compliance_event_types=frozenset(),
                gpts=False,
            ),
        ),
        (
            [],
            NativeFilter(
                admin_event_types=frozenset(),
                compliance_event_types=frozenset(),
                gpts=False,
            ),
        ),
    ],
)
def test_native_filter(actions, expected):
    assert native_filter(actions) == expected


def test_native_filter_takes_a_lone_string_as_one_action():
    assert native_filter("user.logout").admin_event_types == frozenset(
        {"logout.succeeded"}
    )


def test_every_mapped_admin_type_is_reachable_by_its_action():
    for native, row in TABLE["admin"]["types"].items():
        found = native_filter([row["action"]]).admin_event_types
        assert found is not None
        assert native in found


def test_tenant_scope():
    assert is_tenant_scoped("tenant.user.added")
    assert is_tenant_scoped("tenant.admin_api_key.created")
    assert is_tenant_scoped("role.bound_to_resource")
    assert not is_tenant_scoped("api_key.created")
    assert not is_tenant_scoped("brand.new")


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


# --------------------------------------------------------------------------
# The core's neutral metadata keys, filled from ChatGPT's shapes
# --------------------------------------------------------------------------


def _admin(native_type: str, payload: object, **changes: Any) -> AIAuditLog:
    log = NORMALIZER.admin_audit_log(
        admin_record(native_type, **{native_type: payload}, **changes)
    )
    assert isinstance(log, AIAuditLog), log
    return log


@pytest.mark.parametrize(
    ("native_type", "payload", "expected"),
    [
        (
            "project.created",
            {"id": "p1", "data": {"name": "Forecasting"}},
            "Forecasting",
        ),
        ("project.updated", {"id": "p1", "changes_requested": {"title": "New"}}, "New"),
        ("role.created", {"id": "r1", "role_name": "auditor"}, "auditor"),
        ("ip_allowlist.created", {"id": "i1", "name": "office"}, "office"),
        ("api_key.created", {"id": "k1", "data": {"scopes": ["x"]}}, None),
    ],
)
def test_the_resource_name_is_read_where_the_payload_keeps_it(
    native_type, payload, expected
):
    assert _admin(native_type, payload).metadata.get("resource_name") == expected


def test_a_project_event_without_a_name_takes_the_projects():
    log = _admin(
        "project.archived", {"id": "p1"}, project={"id": "p1", "name": "Forecasting"}
    )
    assert log.metadata["resource_name"] == "Forecasting"


def test_group_target_user_and_error_keys():
    group = _admin("group.created", {"id": "g1", "data": {"group_name": "Finance"}})
    assert group.metadata["group_name"] == "Finance"
    added = _admin("user.added", {"id": "user-new", "data": {"role": "member"}})
    assert added.metadata["target_user_id"] == "user-new"
    invited = _admin("invite.sent", {"id": "inv", "data": {"email": "n@example.com"}})
    assert invited.metadata["target_user_email"] == "n@example.com"
    assert "target_user_id" not in invited.metadata
    failed = _admin(
        "login.failed", {"error_code": "invalid_password", "error_message": "Wrong"}
    )
    assert (failed.metadata["error_code"], failed.metadata["error_message"]) == (
        "invalid_password",
        "Wrong",
    )
    auth = NORMALIZER.compliance_record(
        event_record(
            "AUTH_LOG", "LOGIN_FAILED", {"failure_reason": "mfa", "is_mfa": True}
        ),
        log_id="l",
    )
    assert isinstance(auth, list)
    assert auth[0].metadata["error_message"] == "mfa"
    assert auth[0].metadata["is_mfa"] is True


def test_original_time_is_the_time_as_written():
    assert _admin("api_key.created", {"id": "k"}).metadata["original_time"] == str(T0)
    messages = NORMALIZER.compliance_record(message_record(), log_id="l")
    assert isinstance(messages, list)
    assert {log.metadata["original_time"] for log in messages} == {
        "2025-01-01T09:30:00.123456Z"
    }
    created, updated = NORMALIZER.custom_gpt(gpt_record())  # type: ignore[misc]
    assert created.metadata["original_time"] == str(float(T0))
    # The update happened when its configuration was made, not the GPT.
    assert updated.metadata["original_time"] == str(T0 + 3600.0)


def test_a_custom_gpt_is_an_assistant():
    created, _ = NORMALIZER.custom_gpt(gpt_record())  # type: ignore[misc]
    messages = NORMALIZER.compliance_record(message_record(), log_id="l")
    assert isinstance(messages, list)
    for log in (created, messages[0]):
        assert log.metadata["assistant_type"] == "gpt"
        assert log.metadata["assistant_id"] == log.metadata["gpt_id"]
        assert log.metadata["assistant_name"] == log.metadata["gpt_name"]
