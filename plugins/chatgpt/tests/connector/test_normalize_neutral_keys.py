"""The core's neutral metadata keys, filled from ChatGPT's shapes."""

from __future__ import annotations

from typing import Any

import pytest
from normalize_records import (
    NORMALIZER,
    T0,
    admin_record,
    event_record,
    gpt_record,
    message_record,
)

from connector_core.models import (
    AIAuditLog,
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
