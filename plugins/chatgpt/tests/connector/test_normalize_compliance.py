"""Compliance API records (messages, files, auth and audit logs) and custom GPTs."""

from __future__ import annotations

import datetime as dt

import pytest
from normalize_records import (
    NORMALIZER,
    T0,
    WORKSPACE_ID,
    assert_valid,
    event_record,
    file_item,
    gpt_record,
    message_record,
)

from connector_core.models import (
    AIActivityType,
    AIRiskType,
    AutomationEvent,
    AutomationStatus,
    AutomationType,
    RiskSeverity,
)


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
