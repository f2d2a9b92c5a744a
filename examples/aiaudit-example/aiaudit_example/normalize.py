"""From the Reports API's activities to aiaudit's normalized logs.

An *activity* is what the API pages through: who (``actor``), when and
which application (``id``), and one or more *events*, each with a ``name``
and ``parameters``. Every event becomes one :class:`AIAuditLog`; an activity
that cannot be read becomes one :class:`QuarantinedRecord` with the reason,
so a bad record is kept as evidence and never costs its neighbours.

The table below is the whole mapping. Keeping it data, not code, means the
connector can answer "which requests does this filter need?" from the same
table it normalizes with, so the two can never disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import attrs
import orjson
from connector_core import AIActivityType, AIAuditLog, QuarantinedRecord


if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


__all__ = [
    "APPLICATIONS",
    "PERMISSIONS",
    "PLATFORM",
    "PUBLICATION_LAG",
    "EventKind",
    "actions_of",
    "format_time",
    "log_id",
    "native_names",
    "normalize_activity",
    "parse_time",
    "stream_of",
]

PLATFORM: Final = "example"

PUBLICATION_LAG: Final = timedelta(minutes=15)
"""How long after its time an activity may still appear in a listing.

Reports-style APIs assemble activity from many services and publish some
of it minutes late; a reader that checkpoints past a stretch re-reads its
last ``PUBLICATION_LAG`` next time (the sandbox's ``late`` profile does the
same to the connector)."""


@attrs.frozen
class EventKind:
    """What one native event name means in aiaudit's vocabulary."""

    action: str
    activity_type: AIActivityType


APPLICATIONS: Final[Mapping[str, Mapping[str, EventKind]]] = {
    "login": {
        "login_success": EventKind("user.login", AIActivityType.LOGIN),
        "login_failure": EventKind("user.login.failed", AIActivityType.LOGIN),
        "logout": EventKind("user.logout", AIActivityType.LOGOUT),
    },
    "assistant": {
        "prompt_submitted": EventKind(
            "conversation.message", AIActivityType.CONVERSATION
        ),
        "file_uploaded": EventKind("file.uploaded", AIActivityType.FILE_UPLOAD),
        "conversation_exported": EventKind("data.exported", AIActivityType.DATA_EXPORT),
    },
}
"""Application name, then native event name, then its meaning."""

PERMISSIONS: Final[Mapping[str, str]] = {
    application: f"reports.{application}.readonly" for application in APPLICATIONS
}
"""The scope a key needs to read each application, as permission checks
name it."""


def stream_of(application: str) -> str:
    """The stream that reads *application*: one stream per application,
    because the API lists one application per request."""
    return f"{application}_activity"


def actions_of(application: str) -> tuple[str, ...]:
    """The normalized actions *application* can produce, sorted."""
    return tuple(sorted(kind.action for kind in APPLICATIONS[application].values()))


def native_names(application: str, actions: Iterable[str]) -> frozenset[str]:
    """The native event names of *application* that produce *actions*.

    Empty when none does: the stream then needs no request at all.
    """
    wanted = frozenset(actions)
    return frozenset(
        name
        for name, kind in APPLICATIONS[application].items()
        if kind.action in wanted
    )


def parse_time(text: object) -> datetime:
    """An RFC 3339 time as the API writes it (``2025-02-14T10:00:00.123Z``).

    Raises:
        ValueError: Not such a time, or one without a zone: guessing a zone
            would silently shift the audit trail.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected an RFC 3339 string, got {type(text).__name__}")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """*moment* as the API reads it: RFC 3339 in UTC with a ``Z``."""
    return (
        moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    )


def log_id(
    application: str, moment: datetime, unique_qualifier: str, index: int
) -> str:
    """The normalized id of event *index* of an activity.

    The API identifies an activity by its time and ``uniqueQualifier`` within
    an application; an activity may hold several events, hence the index.
    The time is taken as epoch milliseconds so that two spellings of one
    instant give one id.
    """
    millis = round(moment.timestamp() * 1000)
    return f"{application}:{millis}:{unique_qualifier}:{index}"


def _parameters(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event's parameters as a plain mapping.

    The API spells a value by its type (``value``, ``intValue`` as a string,
    ``boolValue``, ``multiValue``); the metadata keeps the typed value.
    """
    found: dict[str, Any] = {}
    for parameter in event.get("parameters") or ():
        name = parameter["name"]
        if "intValue" in parameter:
            found[name] = int(parameter["intValue"])
        elif "boolValue" in parameter:
            found[name] = bool(parameter["boolValue"])
        elif "multiValue" in parameter:
            found[name] = list(parameter["multiValue"])
        else:
            found[name] = parameter.get("value")
    return found


def normalize_activity(
    activity: object, *, stream: str, platform: str = PLATFORM
) -> list[AIAuditLog] | QuarantinedRecord:
    """The logs of one activity, or the activity quarantined with the reason."""
    try:
        return _logs(activity, platform=platform)
    except (KeyError, TypeError, ValueError) as exc:
        native_id = native_type = None
        if isinstance(activity, dict):
            ident = activity.get("id")
            if isinstance(ident, dict):
                native_id = str(ident.get("uniqueQualifier"))
            events = activity.get("events")
            if isinstance(events, list) and events and isinstance(events[0], dict):
                native_type = str(events[0].get("name"))
        return QuarantinedRecord.of(
            stream,
            f"{type(exc).__name__}: {exc}",
            orjson.dumps(activity, default=str),
            native_id=native_id,
            native_type=native_type,
        )


def _logs(activity: object, *, platform: str) -> list[AIAuditLog]:
    if not isinstance(activity, dict):
        raise TypeError(f"an activity is an object, got {type(activity).__name__}")
    ident = activity["id"]
    application = ident["applicationName"]
    table = APPLICATIONS.get(application)
    if table is None:
        raise ValueError(f"unknown application {application!r}")
    moment = parse_time(ident["time"])
    qualifier = str(ident["uniqueQualifier"])
    actor = activity.get("actor") or {}
    user_id = actor.get("profileId") or actor.get("email")
    if not user_id:
        raise ValueError("the activity names no actor")
    events = activity["events"]
    if not isinstance(events, list) or not events:
        raise ValueError("the activity has no events")
    logs = []
    for index, event in enumerate(events):
        name = event["name"]
        kind = table.get(name)
        if kind is None:
            raise ValueError(f"unknown {application} event {name!r}")
        logs.append(
            AIAuditLog(
                id=log_id(application, moment, qualifier, index),
                platform=platform,
                timestamp=moment,
                user_id=str(user_id),
                user_email=actor.get("email"),
                organization_id=str(ident["customerId"]),
                activity_type=kind.activity_type,
                action=kind.action,
                metadata={"application": application, **_parameters(event)},
                ip_address=activity.get("ipAddress"),
                native_type=f"{application}.{name}",
                raw=activity,
            )
        )
    return logs
