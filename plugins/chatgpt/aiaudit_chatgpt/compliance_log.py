"""The Compliance Logs Platform's records, as unified logs.

An export file is JSONL: one record a line, each a conversation message, a
sign-in, a workspace admin action or another record type. A conversation
message can yield several logs (the message, the conversation's creation,
one per attached file); every other record yields one, mapped by its
``type`` and ``event_type`` through the table, or passed through under its
own name when nobody mapped it yet.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Final

import attrs
import cattrs

from aiaudit_chatgpt.event_map import (
    CONVERSATION_MESSAGE,
    PLATFORM,
    TABLE,
    Row,
    risk_indicators,
)
from aiaudit_chatgpt.fields import (
    SYSTEM_USER,
    UNKNOWN_ORG,
    assistant_keys,
    error_evidence,
    fill_neutral_keys,
    iso_time,
    require_object,
    short,
    text,
    unix_time,
)
from aiaudit_chatgpt.wire import (
    READ_COMPLIANCE,
    READ_MESSAGE,
    Author,
    ComplianceActor,
    ComplianceRecord,
    ConversationMessage,
    File,
)
from connector_core import metadata_keys as keys
from connector_core.exceptions import RecordRefusedError
from connector_core.models import AIAuditLog
from connector_core.wire import describe_structure_error


if TYPE_CHECKING:
    from collections.abc import Iterable


__all__ = ["compliance_logs"]

_MSG_USER: Final = TABLE.messages["user_message"]
_MSG_FIRST: Final = TABLE.messages["first_message"]
_MSG_FILE: Final = TABLE.messages["attached_file"]
_MSG_RESPONSE: Final = TABLE.messages["response"]


def compliance_logs(
    raw: object, *, log_id: str, workspace_id: str | None
) -> list[AIAuditLog]:
    """One record of export file *log_id* as logs; raises :class:`RecordRefusedError`.

    *workspace_id* stands in for the organization when the record names no
    principal and no workspace of its own.
    """
    record = require_object(raw)
    try:
        wire: ComplianceRecord = READ_COMPLIANCE(record)
    except cattrs.BaseValidationError as exc:
        kind, event = text(record.get("type")), text(record.get("event_type"))
        raise RecordRefusedError(
            f"malformed compliance log record: {describe_structure_error(exc)}",
            native_id=text(record.get("event_id")),
            native_type=f"{kind}:{event}" if kind and event else kind,
        ) from None
    native_type = (
        wire.type if wire.event_type is None else f"{wire.type}:{wire.event_type}"
    )
    try:
        return _compliance_logs_from(record, wire, native_type, log_id, workspace_id)
    except RecordRefusedError as refused:
        refused.native_id = wire.event_id or None
        refused.native_type = native_type or None
        raise


def _compliance_logs_from(
    record: dict[str, Any],
    wire: ComplianceRecord,
    native_type: str,
    log_id: str,
    workspace_id: str | None,
) -> list[AIAuditLog]:
    if not wire.event_id:
        raise RecordRefusedError("event_id is empty")
    if not wire.type:
        raise RecordRefusedError("type is empty")
    timestamp = iso_time(wire.timestamp, "timestamp")
    # What original_time() makes of the string just parsed (so not empty).
    metadata: dict[str, Any] = {
        "log_id": log_id,
        keys.ORIGINAL_TIME: str(wire.timestamp),
    }
    user_id, user_email = _compliance_actor(wire.actor, metadata)
    principal = wire.principal.id if wire.principal is not None else None
    base = _Base(
        id=wire.event_id,
        timestamp=timestamp,
        user_id=user_id,
        user_email=user_email,
        organization_id=principal or wire.workspace_id or workspace_id or UNKNOWN_ORG,
        native_type=native_type,
        raw=record,
    )
    if wire.type == CONVERSATION_MESSAGE:
        return _conversation_logs(record, base, metadata)
    return [_event_log(wire, record, base, metadata)]


@attrs.frozen(kw_only=True)
class _Base:
    """What every log derived from one compliance record shares."""

    id: str
    timestamp: dt.datetime
    user_id: str
    user_email: str | None
    organization_id: str
    native_type: str
    raw: dict[str, Any]

    def log(
        self,
        row: Row,
        metadata: dict[str, Any],
        *,
        suffix: str = "",
        action: str | None = None,
        ip_address: str | None = None,
        user_agent: str | None = None,
        evidence: tuple[str, ...] = (),
    ) -> AIAuditLog:
        action = action or row.action
        return AIAuditLog(
            id=self.id + suffix,
            platform=PLATFORM,
            timestamp=self.timestamp,
            user_id=self.user_id,
            user_email=self.user_email,
            organization_id=self.organization_id,
            activity_type=row.activity,
            action=action,
            metadata=metadata,
            ip_address=ip_address,
            user_agent=user_agent,
            risk_indicators=risk_indicators(action, evidence),
            native_type=self.native_type,
            raw=self.raw,
        )


def _compliance_actor(
    actor: ComplianceActor | None, metadata: dict[str, Any]
) -> tuple[str, str | None]:
    """User id and email; a record without an actor is the platform's own.

    Only ``ACCOUNT_USER`` is documented; another actor type that still names
    a user is kept, with its type in ``actor_type``, rather than refused.
    """
    if actor is None:
        metadata["actor_type"] = "system"
        return SYSTEM_USER, None
    if not actor.user_id:
        raise RecordRefusedError(
            f"actor (type {short(actor.type)}) names no user_id; cannot tell who acted"
        )
    kind = actor.type or "ACCOUNT_USER"
    metadata["actor_type"] = "user" if kind == "ACCOUNT_USER" else kind.lower()
    return actor.user_id, text(actor.user_email)


def _event_log(
    wire: ComplianceRecord,
    record: dict[str, Any],
    base: _Base,
    metadata: dict[str, Any],
) -> AIAuditLog:
    """AUTH_LOG, AUDIT_LOG and every other record type: one log."""
    events = TABLE.events.get(wire.type)
    row = (
        events.get(wire.event_type)
        if events is not None and wire.event_type is not None
        else None
    )
    details = record.get("event_details")
    if details is not None:
        metadata["details"] = details
    if row is None:
        action = wire.type.lower()
        if wire.event_type:
            action = f"{action}.{wire.event_type.lower()}"
        row = Row(
            action=action,
            activity=TABLE.other_types.get(wire.type, TABLE.pass_through_activity),
        )
    action = row.action
    if row.widened is not None and row.narrowed is not None:
        action = _sharing_action(row, details)
        audience = _visibility(details)
        if audience is not None:
            metadata[keys.VISIBILITY] = audience
    fill_neutral_keys(metadata, details, action)
    ip_address = user_agent = None
    if isinstance(details, dict):
        ip_address = text(details.get("ip_address"))
        user_agent = text(details.get("user_agent"))
    return base.log(
        row,
        metadata,
        action=action,
        ip_address=ip_address,
        user_agent=user_agent,
        evidence=error_evidence(details),
    )


_PUBLIC_VISIBILITIES: Final = frozenset({"gpt-store"})
"""ChatGPT's words for "listed for everyone"; the neutral key says public."""


def _visibility(details: object) -> str | None:
    """The new audience of a sharing change, in the neutral key's words
    (``invite_only``, ``workspace``, ``workspace_with_link``,
    ``anyone_with_link``, ``public``)."""
    if not isinstance(details, dict):
        return None
    new = text(details.get("new_visibility"))
    if not new:
        return None
    if new in _PUBLIC_VISIBILITIES:
        return "public"
    return new.strip().lower().replace("-", "_")


def _sharing_action(row: Row, details: object) -> str:
    """``share.created`` when sharing widened, ``share.revoked`` when narrowed."""
    if not isinstance(details, dict):
        return row.action
    ranks = TABLE.visibility
    old = ranks.get(text(details.get("old_visibility")) or "")
    new = ranks.get(text(details.get("new_visibility")) or "")
    if old is None or new is None or old == new:
        return row.action
    return (row.widened if new > old else row.narrowed) or row.action


def _conversation_logs(
    record: dict[str, Any], base: _Base, metadata: dict[str, Any]
) -> list[AIAuditLog]:
    """A message as its logs: prompt (+ creation, + files) or response."""
    try:
        body: ConversationMessage = READ_MESSAGE(record)
    except cattrs.BaseValidationError as exc:
        raise RecordRefusedError(
            f"malformed conversation message: {describe_structure_error(exc)}"
        ) from None
    message, conversation = body.message, body.conversation
    role = message.author.role or message.author.type
    if not role:
        raise RecordRefusedError(
            "message.author has neither role nor type; "
            "cannot tell a prompt from a response"
        )
    metadata["conversation_id"] = conversation.id
    metadata["conversation_title"] = conversation.title
    metadata["message_id"] = message.id
    for key in ("gpt_id", "gpt_name", "project_id", "project_name"):
        value = getattr(conversation, key)
        if value is not None:
            metadata[key] = value
    if conversation.gpt_id is not None:
        metadata.update(assistant_keys(conversation.gpt_id, conversation.gpt_name))
    if message.author.client_type is not None:
        metadata["client_type"] = message.author.client_type
    logs = []
    # Only an explicit null parent marks the first message; a missing key
    # says nothing.
    raw_message = record["message"]
    if "parent_id" in raw_message and raw_message["parent_id"] is None:
        # The log keeps a copy of metadata as it is now (AIAuditLog copies).
        logs.append(base.log(_MSG_FIRST, metadata, suffix=":created"))
    files = _file_references(message.files or (), base.timestamp)
    if role == "user":
        logs.extend(_prompt_logs(base, metadata, files))
    else:
        logs.append(_response_log(base, metadata, message.author, role, files))
    return logs


def _prompt_logs(
    base: _Base, metadata: dict[str, Any], files: list[dict[str, Any]]
) -> list[AIAuditLog]:
    """The user's message, then one ``file.uploaded`` per attached file."""
    if files:
        metadata["files"] = files
    logs = [base.log(_MSG_USER, metadata)]
    for reference in files:
        file_metadata = {
            **metadata,
            "file_id": reference["file_id"],
            "file_name": reference["file_name"],
            "files": [reference],
        }
        logs.append(
            base.log(
                _MSG_FILE,
                file_metadata,
                suffix=f":file:{reference['file_id']}",
                evidence=(reference["file_name"],),
            )
        )
    return logs


def _response_log(
    base: _Base,
    metadata: dict[str, Any],
    author: Author,
    role: str,
    files: list[dict[str, Any]],
) -> AIAuditLog:
    """Anything not from the user (assistant, tool, system): model output.

    Files on a response were produced by the model, not uploaded, so they
    are listed without ``file.uploaded`` events or risk indicators.
    """
    metadata["author_role"] = role
    if author.model is not None:
        metadata["model"] = author.model
    if author.tool_name is not None:
        metadata["tool_name"] = author.tool_name
    if files:
        metadata["files"] = files
    return base.log(_MSG_RESPONSE, metadata)


def _file_references(
    files: Iterable[File], fallback: dt.datetime
) -> list[dict[str, Any]]:
    """Attached files as FileReference-shaped dicts, one per distinct id."""
    references: dict[str, dict[str, Any]] = {}
    for file in files:
        if not file.id or file.id in references:
            continue
        name = file.name or file.id
        uploaded = _file_time(file.created_at) or fallback
        references[file.id] = {
            "file_id": file.id,
            "file_name": name,
            "file_type": _file_type(name),
            "file_size": None,
            "uploaded_at": uploaded.isoformat().replace("+00:00", "Z"),
            "is_sensitive": None,
        }
    return list(references.values())


def _file_time(value: object) -> dt.datetime | None:
    # Seconds in the published records, null once the file has expired.
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return unix_time(value, "created_at")
        if isinstance(value, str):
            return iso_time(value, "created_at")
    except RecordRefusedError:
        return None
    return None


def _file_type(name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    return extension.lower() if dot and stem and extension else "unknown"
