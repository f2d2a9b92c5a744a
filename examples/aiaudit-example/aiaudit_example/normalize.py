"""From the Reports API's activities to aiaudit's logs.

An *activity* is who (``actor``), when and in which application (``id``),
and one or more *events*, each with a ``name`` and ``parameters``. Every
event becomes one :class:`AIAuditLog`. The fields read are described as
frozen attrs classes and read with the core's strict converter, so a record
of another shape is refused with the JSON path at fault, and quarantined by
the reader, instead of misread.

The table :data:`APPLICATIONS` is the whole mapping; being data, it also
answers which requests a filter needs, so the two never disagree.

The usage report is read the same way: each daily bucket of requests,
tokens and cost per model and project becomes one
:class:`~connector_core.ModelUsageRecord`, or is refused with the reason;
and so is the directory's user listing, each user one
:class:`~connector_core.DirectoryMember` named by the profile id its
activities name them by.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import attrs
import cattrs
from connector_core import (
    AIActivityType,
    AIAuditLog,
    DirectoryMember,
    MemberStatus,
    ModelUsageRecord,
    RecordRefusedError,
    describe_structure_error,
    strict_converter,
)


PLATFORM: Final = "example"

PUBLICATION_LAG: Final = timedelta(minutes=15)
"""How long after its time an activity may still appear in a listing: the
API assembles activity from many services (the sandbox's ``late`` profile
does the same)."""

APPLICATIONS: Final = {
    "login": {
        "login_success": ("user.login", AIActivityType.LOGIN),
        "login_failure": ("user.login.failed", AIActivityType.LOGIN),
        "logout": ("user.logout", AIActivityType.LOGOUT),
    },
    "assistant": {
        "prompt_submitted": ("conversation.message", AIActivityType.CONVERSATION),
        "file_uploaded": ("file.uploaded", AIActivityType.FILE_UPLOAD),
        "conversation_exported": ("data.exported", AIActivityType.DATA_EXPORT),
    },
}
"""Application, then native event name, then its action and activity type."""

PERMISSIONS: Final = {app: f"reports.{app}.readonly" for app in APPLICATIONS}
"""The scope a key needs to read each application."""

USAGE_PATH: Final = "/admin/reports/v1/usage/models"

DIRECTORY_PATH: Final = "/admin/directory/v1/users"
"""The directory's user listing, paged like the reports."""
"""The usage report: daily buckets per model and project."""


def parse_time(text: str) -> datetime:
    """An RFC 3339 time; one without a zone is refused, as guessing one
    would shift the audit trail."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def log_id(application: str, moment: datetime, qualifier: str, index: int) -> str:
    """The API names an activity by application, time and qualifier; an
    activity holds events, hence the index. Epoch milliseconds make two
    spellings of one instant one id."""
    return f"{application}:{round(moment.timestamp() * 1000)}:{qualifier}:{index}"


# The envelopes: only the fields read. Names are the API's own.
@attrs.frozen
class ActivityId:
    time: str
    uniqueQualifier: str  # noqa: N815
    applicationName: str  # noqa: N815
    customerId: str  # noqa: N815


@attrs.frozen
class Actor:
    email: str | None = None
    profileId: str | None = None  # noqa: N815


@attrs.frozen
class Parameter:
    name: str
    value: Any = None
    intValue: str | None = None  # noqa: N815 - the API sends int64 as text
    boolValue: bool | None = None  # noqa: N815
    multiValue: tuple[str, ...] | None = None  # noqa: N815


@attrs.frozen
class Event:
    name: str
    parameters: tuple[Parameter, ...] = ()


@attrs.frozen
class Activity:
    id: ActivityId
    events: tuple[Event, ...]
    actor: Actor = Actor()
    ipAddress: str | None = None  # noqa: N815


_read_activity = strict_converter().get_structure_hook(Activity)


def normalize_activity(raw: Any, platform: str = PLATFORM) -> list[AIAuditLog]:
    """The logs of one activity, as *platform* (a subclass's name).

    Raises:
        RecordRefusedError: It cannot be read; the reason names what is wrong.
    """
    try:
        activity = _read_activity(raw, Activity)
    except (cattrs.BaseValidationError, TypeError) as exc:
        reason = f"malformed activity: {describe_structure_error(exc)}"
        raise RecordRefusedError(reason) from None
    ident, actor = activity.id, activity.actor
    app = ident.applicationName

    def refuse(reason: str) -> RecordRefusedError:
        return RecordRefusedError(
            reason, native_id=ident.uniqueQualifier, native_type=app
        )

    table = APPLICATIONS.get(app)
    if table is None:
        raise refuse(f"id.applicationName: unknown application {app!r}")
    user_id = actor.profileId or actor.email
    if not user_id:
        raise refuse("actor: neither profileId nor email")
    if not activity.events:
        raise refuse("events: the activity has none")
    try:
        moment = parse_time(ident.time)
    except ValueError as exc:
        raise refuse(f"id.time: {exc}") from None
    logs = []
    for index, event in enumerate(activity.events):
        if event.name not in table:
            raise refuse(f"events[{index}].name: unknown {app} event {event.name!r}")
        try:
            parameters = _parameters(event)
        except ValueError as exc:
            raise refuse(f"events[{index}].parameters: {exc}") from None
        action, activity_type = table[event.name]
        logs.append(
            AIAuditLog(
                id=log_id(app, moment, ident.uniqueQualifier, index),
                platform=platform,
                timestamp=moment,
                user_id=user_id,
                user_email=actor.email,
                organization_id=ident.customerId,
                activity_type=activity_type,
                action=action,
                metadata={"application": app, **parameters},
                ip_address=activity.ipAddress,
                native_type=f"{app}.{event.name}",
                raw=raw,
            )
        )
    return logs


def _parameters(event: Event) -> dict[str, Any]:
    """The API spells a value by its type; the metadata keeps it typed."""
    found: dict[str, Any] = {}
    for p in event.parameters:
        if p.intValue is not None:
            found[p.name] = int(p.intValue)  # ValueError: not an integer
        elif p.boolValue is not None:
            found[p.name] = p.boolValue
        else:
            found[p.name] = p.value if p.multiValue is None else list(p.multiValue)
    return found


@attrs.frozen
class Cost:
    amount: str  # a decimal, as text: money is never a binary float on the wire
    currencyCode: str = "USD"  # noqa: N815


@attrs.frozen
class UsageBucket:
    startTime: str  # noqa: N815
    endTime: str  # noqa: N815
    model: str
    projectId: str  # noqa: N815
    requests: str | None = None  # int64 as text, as every count of the API
    inputTokens: str | None = None  # noqa: N815
    outputTokens: str | None = None  # noqa: N815
    cost: Cost | None = None


_read_bucket = strict_converter().get_structure_hook(UsageBucket)


def usage_id(start: datetime, model: str, project: str) -> str:
    """A bucket is named by its day, model and project, never its figures:
    the day's bucket read again while the day is open replaces the stored
    one."""
    return f"usage:{round(start.timestamp() * 1000)}:{model}:{project}"


def normalize_usage(raw: Any, platform: str = PLATFORM) -> ModelUsageRecord:
    """The record of one usage bucket, as *platform*.

    Raises:
        RecordRefusedError: It cannot be read; the reason names what is wrong.
    """
    try:
        bucket = _read_bucket(raw, UsageBucket)
    except (cattrs.BaseValidationError, TypeError) as exc:
        reason = f"malformed usage bucket: {describe_structure_error(exc)}"
        raise RecordRefusedError(reason, native_type="model_usage") from None
    try:
        start = parse_time(bucket.startTime)
        cost = None if bucket.cost is None else Decimal(bucket.cost.amount)
        return ModelUsageRecord(
            id=usage_id(start, bucket.model, bucket.projectId),
            platform=platform,
            start=start,
            end=parse_time(bucket.endTime),
            model=bucket.model,
            requests=_count(bucket.requests),
            input_tokens=_count(bucket.inputTokens),
            output_tokens=_count(bucket.outputTokens),
            cost=None if cost is None else float(cost),
            currency="USD" if bucket.cost is None else bucket.cost.currencyCode,
            dimensions={"project_id": bucket.projectId},
            raw=raw,
        )
    except (ValueError, TypeError, InvalidOperation) as exc:
        raise RecordRefusedError(
            f"usage bucket: {exc}",
            native_id=f"{bucket.startTime}/{bucket.model}/{bucket.projectId}",
            native_type="model_usage",
        ) from None


def _count(text: str | None) -> int | None:
    return None if text is None else int(text)  # ValueError: not an integer


@attrs.frozen
class UserName:
    fullName: str | None = None  # noqa: N815 - the API's name


@attrs.frozen
class DirectoryUser:
    """The fields of a directory user the connector reads."""

    id: str
    primaryEmail: str | None = None  # noqa: N815 - the API's name
    name: UserName | None = None
    isAdmin: bool = False  # noqa: N815 - the API's name
    suspended: bool = False
    creationTime: str | None = None  # noqa: N815 - the API's name


_read_user = strict_converter().get_structure_hook(DirectoryUser)


def normalize_member(raw: Any) -> DirectoryMember:
    """The directory member of one listed user.

    Raises:
        RecordRefusedError: It cannot be read; the reason names what is wrong.
    """
    try:
        user = _read_user(raw, DirectoryUser)
    except (cattrs.BaseValidationError, TypeError) as exc:
        reason = f"malformed directory user: {describe_structure_error(exc)}"
        raise RecordRefusedError(reason, native_type="directory_user") from None
    try:
        return DirectoryMember(
            user_id=user.id,
            email=user.primaryEmail,
            name=None if user.name is None else user.name.fullName,
            role="admin" if user.isAdmin else "user",
            status=MemberStatus.SUSPENDED if user.suspended else MemberStatus.ACTIVE,
            created_at=None
            if user.creationTime is None
            else parse_time(user.creationTime),
            raw=raw,
        )
    except (ValueError, TypeError) as exc:
        raise RecordRefusedError(
            f"directory user: {exc}",
            native_id=user.id if isinstance(user.id, str) else None,
            native_type="directory_user",
        ) from None
