"""From the Activity Feed's records to aiaudit's logs.

An activity is one flat JSON object: the common fields (``id``,
``created_at``, ``organization_id``, ``organization_uuid``, ``actor``,
``type``) and, beside them at the top level, the fields of its type. The
common fields are read with the core's strict converter, so a record of
another shape is refused with the path at fault and quarantined by the
reader instead of misread; everything else is kept as metadata.

The feed is open-ended on purpose: a ``type`` the table does not list passes
through under its own name, an ``actor.type`` this module does not know is
read for whichever identifier it carries, and unknown fields are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import attrs
import cattrs

from aiaudit_claude.event_map import PLATFORM, risk_indicators, row_for
from connector_core import (
    AIAuditLog,
    RecordRefusedError,
    describe_structure_error,
    strict_converter,
)
from connector_core import metadata_keys as keys


__all__ = [
    "COMMON_FIELDS",
    "UNSCOPED",
    "actor_identity",
    "format_time",
    "normalize_activity",
    "parse_time",
]

COMMON_FIELDS: Final = frozenset(
    {"id", "created_at", "organization_id", "organization_uuid", "actor", "type"}
)
"""The fields every activity has; the others are its type's, kept as metadata."""

UNSCOPED: Final = "unscoped"
"""The organization of a record the feed ties to none (sign-ins, Compliance
API calls) when the connection was not told its parent organization."""

# The identifier each known actor kind carries, in the order tried. An actor
# of a kind not listed is read for the first of all of them it has.
_ACTOR_IDS: Final[Mapping[str, tuple[str, ...]]] = {
    "user_actor": ("user_id",),
    "api_actor": ("api_key_id",),
    "admin_api_key_actor": ("admin_api_key_id",),
    "unauthenticated_user_actor": ("unauthenticated_email_address",),
    "scim_directory_sync_actor": ("directory_id", "workos_event_id"),
    "service_account_actor": ("service_account_id",),
    "federated_identity_actor": ("subject",),
    "system_actor": ("service",),
    "anthropic_actor": (),
}
_ANY_ACTOR_ID: Final = (
    "user_id",
    "api_key_id",
    "admin_api_key_id",
    "service_account_id",
    "directory_id",
    "email_address",
    "unauthenticated_email_address",
    "id",
)


def parse_time(text: str) -> datetime:
    """An RFC 3339 time; one without a zone is refused, as guessing one
    would shift the audit trail."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and ``Z``: what the feed's
    ``created_at.*`` filters take, exact to the microsecond."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


@attrs.frozen
class Actor:
    type: str


@attrs.frozen
class Activity:
    """The common fields of an activity, as the feed names them."""

    id: str
    created_at: str
    type: str
    actor: Actor
    organization_id: str | None = None
    organization_uuid: str | None = None


_read_activity = strict_converter().get_structure_hook(Activity)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def actor_identity(actor: Mapping[str, Any]) -> tuple[str, str | None]:
    """Who acted: an id for ``user_id`` and the mailbox, if any.

    A person has their ``user_…`` id; a key its key id; SCIM its directory;
    Anthropic itself is ``anthropic``; a system process its service (or
    ``system``); a federated workload its token's subject. Someone not yet
    signed in is known
    only by the address they typed, which is also their mailbox; without
    one they are ``unauthenticated``.
    """
    kind = str(actor.get("type"))
    email = _text(actor.get("email_address")) or _text(
        actor.get("unauthenticated_email_address")
    )
    for name in _ACTOR_IDS.get(kind, _ANY_ACTOR_ID):
        found = _text(actor.get(name))
        if found is not None:
            return found, email
    if kind == "anthropic_actor":
        return "anthropic", email
    if kind == "unauthenticated_user_actor":
        return "unauthenticated", email
    if kind == "system_actor":
        return "system", email
    return kind, email


def _file_keys(raw: Mapping[str, Any], metadata: dict[str, Any]) -> None:
    """The feed's ``filename`` and ``claude_file_id`` under the shared keys
    too, so exports and risk rules read a file's name as on every platform."""
    name, file_id = _text(raw.get("filename")), _text(raw.get("claude_file_id"))
    if name is not None:
        metadata[keys.FILE_NAME] = name
    if file_id is not None:
        metadata.setdefault(keys.FILE_ID, file_id)


def normalize_activity(
    raw: Any,
    platform: str = PLATFORM,
    organization: str = UNSCOPED,
    members: Mapping[str, str] | None = None,
) -> list[AIAuditLog]:
    """The log of one activity, as *platform* (a subclass's name).

    *organization* is the parent organization, for records the feed ties to
    no organization. *members* maps a member's address (lowercase) to their
    ``user_…`` id: someone not yet signed in is known by the address they
    typed, and when it is a member's, the activity is that member's, so one
    person is one user (their failed sign-ins beside the rest).

    Raises:
        RecordRefusedError: It cannot be read; the reason names what is wrong.
    """
    try:
        activity = _read_activity(raw, Activity)
    except (cattrs.BaseValidationError, TypeError) as exc:
        reason = f"malformed activity: {describe_structure_error(exc)}"
        native_id = raw.get("id") if isinstance(raw, Mapping) else None
        raise RecordRefusedError(
            reason, native_id=native_id if isinstance(native_id, str) else None
        ) from None
    try:
        moment = parse_time(activity.created_at)
    except ValueError as exc:
        raise RecordRefusedError(
            f"created_at: {exc}", native_id=activity.id, native_type=activity.type
        ) from None
    if not activity.id:
        raise RecordRefusedError("id: empty", native_type=activity.type)
    actor: Mapping[str, Any] = raw["actor"]
    user_id, email = actor_identity(actor)
    if members and user_id == email and email is not None:
        user_id = members.get(email.lower(), user_id)
    row = row_for(activity.type)
    metadata: dict[str, Any] = {
        key: value for key, value in raw.items() if key not in COMMON_FIELDS
    }
    metadata["actor_type"] = activity.actor.type
    if row.resource is not None:
        metadata["resource_type"] = row.resource
    if activity.organization_uuid is not None:
        metadata["organization_uuid"] = activity.organization_uuid
    _file_keys(raw, metadata)
    return [
        AIAuditLog(
            id=activity.id,
            platform=platform,
            timestamp=moment,
            user_id=user_id,
            user_email=email,
            organization_id=activity.organization_id
            or activity.organization_uuid
            or organization,
            activity_type=row.activity,
            action=row.action,
            metadata=metadata,
            ip_address=_text(actor.get("ip_address")),
            user_agent=_text(actor.get("user_agent")),
            risk_indicators=risk_indicators(row.action, raw),
            native_type=activity.type,
            raw=raw,
        )
    ]
