"""The Compliance API's custom GPT objects, as unified logs and automations.

The ``/gpts`` listing is a snapshot, not a feed: each read returns every
live GPT with its latest configuration. A GPT is read in two views, as the
events its snapshot implies (``gpt.created``, and ``gpt.updated`` when the
latest configuration is newer than the GPT) and as an automation for the
inventory; both views come from one checked reading of the object.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import attrs
import cattrs

from aiaudit_chatgpt.event_map import PLATFORM, TABLE
from aiaudit_chatgpt.fields import (
    UNKNOWN_ORG,
    assistant_keys,
    got,
    items,
    original_time,
    require_object,
    text,
    unix_time,
)
from aiaudit_chatgpt.wire import (
    STRUCTURE_GPT,
    STRUCTURE_GPT_CONFIG,
    Gpt,
    GptConfig,
)
from connector_core import metadata_keys as keys
from connector_core.exceptions import RecordRefusedError
from connector_core.models import (
    AIAuditLog,
    AutomationEvent,
    AutomationOwner,
    AutomationStatus,
    AutomationType,
)
from connector_core.wire import describe_structure_error


__all__ = ["GPT_NATIVE_TYPE", "gpt_automation", "gpt_logs"]

GPT_NATIVE_TYPE: Final = "compliance.workspace.gpt"
_GPT_CONFIG_NATIVE_TYPE: Final = "compliance.workspace.gpt.configuration"
_GPT_CREATED: Final = TABLE.gpts["created"]
_GPT_UPDATED: Final = TABLE.gpts["updated"]


def gpt_logs(raw: object, workspace_id: str | None) -> list[AIAuditLog]:
    """A GPT object as its events; raises :class:`RecordRefusedError` if it
    cannot be."""
    gpt = _read_gpt(raw)
    record = gpt.record
    metadata: dict[str, Any] = {
        "gpt_id": gpt.wire.id,
        "gpt_name": gpt.name,
        **assistant_keys(gpt.wire.id, gpt.name),
        "sharing": gpt.visibility,
        "tools": list(gpt.tools),
    }
    if gpt.action_domains:
        metadata["action_domains"] = list(gpt.action_domains)
    organization_id = workspace_id or UNKNOWN_ORG
    logs = [
        AIAuditLog(
            id=f"{_GPT_CREATED.action}:{gpt.wire.id}",
            platform=PLATFORM,
            timestamp=gpt.created_at,
            user_id=gpt.wire.owner_id,
            user_email=text(gpt.wire.owner_email),
            organization_id=organization_id,
            activity_type=_GPT_CREATED.activity,
            action=_GPT_CREATED.action,
            metadata=_with_time(
                {**metadata, "actor_type": "user"}, record.get("created_at")
            ),
            native_type=GPT_NATIVE_TYPE,
            raw=record,
        )
    ]
    config = gpt.config
    if gpt.updated_at is not None and config is not None:
        author = config.version_author
        author_id = text(author.id) if author is not None else None
        version = config.id or gpt.updated_at.isoformat()
        logs.append(
            AIAuditLog(
                id=f"{_GPT_UPDATED.action}:{gpt.wire.id}:{version}",
                platform=PLATFORM,
                timestamp=gpt.updated_at,
                user_id=author_id or gpt.wire.owner_id,
                user_email=(
                    text(author.email)
                    if author is not None and author_id
                    else text(gpt.wire.owner_email)
                ),
                organization_id=organization_id,
                activity_type=_GPT_UPDATED.activity,
                action=_GPT_UPDATED.action,
                metadata=_with_time(
                    {**metadata, "actor_type": "user", "config_id": config.id},
                    _config_created_at(record),
                ),
                native_type=_GPT_CONFIG_NATIVE_TYPE,
                raw=record,
            )
        )
    return logs


def _with_time(metadata: dict[str, Any], written: object) -> dict[str, Any]:
    when = original_time(written)
    if when is not None:
        metadata[keys.ORIGINAL_TIME] = when
    return metadata


def _config_created_at(record: dict[str, Any]) -> object:
    # The update's own time, as written: the latest configuration's.
    configs = items(record.get("latest_config"))
    return configs[0].get("created_at") if configs else None


def gpt_automation(raw: object, workspace_id: str | None) -> AutomationEvent:
    """A GPT object as an automation; raises :class:`RecordRefusedError` if it
    cannot be."""
    gpt = _read_gpt(raw)
    wire, config = gpt.wire, gpt.config
    metadata: dict[str, Any] = {
        "sharing": gpt.visibility,
        "shared_with": list(gpt.recipients),
        "config_id": config.id if config is not None else None,
        "knowledge_files": [
            name
            for item in items(config.files if config is not None else None)
            if isinstance(item, dict) and (name := text(item.get("name")))
        ],
    }
    if gpt.action_domains:
        metadata["action_domains"] = list(gpt.action_domains)
    if workspace_id is not None:
        metadata["workspace_id"] = workspace_id
    return AutomationEvent(
        id=wire.id,
        name=gpt.name or wire.id,
        type=AutomationType.GPT,
        platform=PLATFORM,
        # The listing returns live GPTs only; drafts never appear.
        status=AutomationStatus.ACTIVE,
        trigger="conversation",
        actions=gpt.tools,
        metadata=metadata,
        created_at=gpt.created_at,
        last_triggered=None,
        last_modified=gpt.updated_at or gpt.config_created_at,
        owner=AutomationOwner(
            id=wire.owner_id,
            name=text(wire.builder_name) or text(wire.owner_email) or wire.owner_id,
            email=text(wire.owner_email),
        ),
        description=text(config.description) if config is not None else None,
        permissions=gpt.permissions,
    )


@attrs.frozen(kw_only=True)
class _GptView:
    """A GPT object, checked, with what both views of it need."""

    record: dict[str, Any]
    wire: Gpt
    config: GptConfig | None
    name: str | None
    created_at: dt.datetime
    config_created_at: dt.datetime | None
    updated_at: dt.datetime | None  # the latest config, when newer
    visibility: str | None
    recipients: tuple[str, ...]
    permissions: tuple[str, ...]
    tools: tuple[str, ...]
    action_domains: tuple[str, ...]


def _read_gpt(raw: object) -> _GptView:
    record = require_object(raw)
    native_id = text(record.get("id"))
    try:
        wire: Gpt = STRUCTURE_GPT(record, Gpt)
    except cattrs.BaseValidationError as exc:
        raise RecordRefusedError(
            f"malformed custom GPT: {describe_structure_error(exc)}",
            native_id=native_id,
        ) from None
    configs = items(wire.latest_config)
    if configs and not isinstance(configs[0], dict):
        raise RecordRefusedError(
            f"latest_config[0]: expected an object, {got(configs[0])}",
            native_id=native_id,
        )
    try:
        config = STRUCTURE_GPT_CONFIG(configs[0], GptConfig) if configs else None
    except cattrs.BaseValidationError as exc:
        problems = describe_structure_error(exc, "latest_config[0]")
        raise RecordRefusedError(
            f"malformed custom GPT: {problems}", native_id=native_id
        ) from None
    try:
        return _gpt_view(record, wire, config)
    except RecordRefusedError as refused:
        refused.native_id = native_id
        raise


def _gpt_view(record: dict[str, Any], wire: Gpt, config: GptConfig | None) -> _GptView:
    if not wire.id:
        raise RecordRefusedError("id is empty")
    if not wire.owner_id:
        raise RecordRefusedError("owner_id is empty")
    created_at = unix_time(wire.created_at, "created_at")
    config_created_at = None
    if config is not None and config.created_at is not None:
        config_created_at = unix_time(config.created_at, "latest_config[0].created_at")
    sharing = wire.sharing if isinstance(wire.sharing, dict) else {}
    permissions = sharing.get("permissions")
    tools: list[str] = []
    domains: list[str] = []
    for tool in items(config.tools if config is not None else None):
        if not isinstance(tool, dict):
            continue
        if (kind := text(tool.get("type"))) and kind not in tools:
            tools.append(kind)
        if (domain := text(tool.get("action_domain"))) and domain not in domains:
            domains.append(domain)
    return _GptView(
        record=record,
        wire=wire,
        config=config,
        name=text(config.name) if config is not None else None,
        created_at=created_at,
        config_created_at=config_created_at,
        updated_at=(
            config_created_at
            if config_created_at is not None and config_created_at > created_at
            else None
        ),
        visibility=text(sharing.get("visibility")),
        recipients=tuple(
            email
            for person in sharing.get("recipients") or ()
            if isinstance(person, dict) and (email := text(person.get("email")))
        )
        if isinstance(sharing.get("recipients"), list)
        else (),
        permissions=tuple(
            name
            for name in ("can_read", "can_view_config", "can_write")
            if isinstance(permissions, dict) and permissions.get(name) is True
        ),
        tools=tuple(tools),
        action_domains=tuple(domains),
    )
