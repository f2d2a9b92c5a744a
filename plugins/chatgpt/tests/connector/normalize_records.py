"""What the ChatGPT normalizer's tests share: the pinned organization, the
shipped table and mapping document, the checks every log must pass, and
builders of native records in each API's shape.

A module of its own, imported by name (the test folder is on the path), as
``chatgpt_history`` is.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import tomllib
from pathlib import Path
from typing import Any

from aiaudit_chatgpt.normalize import Normalizer
from connector_core.models import (
    AIActivityType,
    AIAuditLog,
)


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
