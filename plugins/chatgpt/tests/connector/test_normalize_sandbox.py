"""The sandbox's generated records, every one, through the ChatGPT normalizer."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from normalize_records import (
    assert_valid,
)

from aiaudit_chatgpt.event_map import (
    STREAM_ADMIN,
    STREAM_COMPLIANCE,
    STREAM_GPTS,
    UNIFIED_ACTIONS,
    actions_of,
    is_tenant_scoped,
    native_filter,
)
from aiaudit_chatgpt.normalize import Normalizer
from aiaudit_chatgpt.sandbox.audit import AuditLogData
from aiaudit_chatgpt.sandbox.compliance_data import ComplianceData
from aiaudit_chatgpt.sandbox.org import Organization
from connector_core.models import (
    AutomationEvent,
    AutomationType,
)
from connector_core.streams import QuarantinedRecord


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
