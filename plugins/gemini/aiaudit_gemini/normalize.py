"""From the Reports API's activities to aiaudit's logs.

An activity (``admin#reports#activity``) holds an ``id`` (time, unique
qualifier, application, customer), an ``actor``, where it came from
(``ipAddress``, ``networkInfo``, ``userDeviceInfo``) and one or more
``events``, each a ``type``, a ``name`` and typed ``parameters``. Each
event becomes one log, identified as :func:`aiaudit_gemini.identity.log_id`
says: the events of an activity share its ``id``, so the event's place in
``events`` is part of the log's.

An activity whose ``id`` cannot be read is quarantined whole; an event that
cannot be read is quarantined alone, with its log id as the native id, and
its siblings are kept. Identity values that no honest record holds (a NUL
or another control character, a lone surrogate, an id of thousands of
characters) are refused rather than stored.

Parameters are flattened to ``{name: value}``: ``intValue`` (int64 sent as
a JSON string) becomes an int, ``multiValue`` a list, ``messageValue`` a
nested mapping and ``multiMessageValue`` a list of them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import attrs

from aiaudit_gemini.apps import TABLE as APPS
from aiaudit_gemini.apps import grant_risks
from aiaudit_gemini.event_map import PLATFORM, Row, native_type, risk, row_for
from aiaudit_gemini.identity import log_id
from connector_core import (
    AIAuditLog,
    QuarantinedRecord,
    RecordRefusedError,
    normalize_or_quarantine,
)
from connector_core import metadata_keys as keys
from connector_core.models import GeoLocation


if TYPE_CHECKING:
    from connector_core.models import AIRiskIndicator


__all__ = [
    "PLACEHOLDER_PROFILE_ID",
    "ActivityId",
    "flatten",
    "format_time",
    "normalize_event",
    "parse_time",
    "read_activity",
    "read_id",
]

PLACEHOLDER_PROFILE_ID: Final = "105250506097979753968"
"""The ``actor.profileId`` Google writes when it has none to give (an
external or deleted account): not anyone's id, so treated as absent."""

_INT64: Final = re.compile(r"-?[0-9]{1,19}")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_MAX_ID: Final = 512
"""The longest identity value accepted: an email is at most 320
characters, a Google id a few dozen."""

_CALLER_TYPES: Final = {"USER": "user", "KEY": "service_account"}
"""``actor.callerType`` in the core's ``actor_type`` words: ``KEY`` is an
OAuth consumer key or a robot acting for the domain."""


def parse_time(text: str) -> datetime:
    """An RFC 3339 time (``id.time``, with milliseconds and ``Z``); one
    without a zone is refused, as guessing one would shift the audit trail."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and ``Z``: what ``startTime`` and
    ``endTime`` take, exact to the microsecond."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def _problem(value: str) -> str | None:
    """Why *value* is no honest identity value, or ``None``."""
    if _CONTROL.search(value):
        return "holds a control character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "holds a lone surrogate"
    if len(value) > _MAX_ID:
        return f"is {len(value)} characters long"
    return None


def _identity(value: object, where: str, *, native_id: str | None) -> str | None:
    """An optional identity string, checked; ``None`` when absent or blank."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordRefusedError(f"{where}: not a string", native_id=native_id)
    problem = _problem(value)
    if problem is not None:
        raise RecordRefusedError(f"{where} {problem}", native_id=native_id)
    return value or None


class ActivityId:
    """An activity's ``id``, read and checked."""

    __slots__ = ("application", "customer", "qualifier", "text", "time")

    def __init__(
        self,
        time: datetime,
        text: str,
        qualifier: str,
        application: str,
        customer: str,
    ) -> None:
        self.time = time
        self.text = text
        self.qualifier = qualifier
        self.application = application
        self.customer = customer

    def log_id(self, index: int) -> str:
        return log_id(self.customer, self.application, self.time, self.qualifier, index)


def _loose_id(raw: object) -> str | None:
    """Whatever of an unreadable activity's id can name it in quarantine."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), Mapping):
        return None
    parts = [raw["id"].get(k) for k in ("customerId", "applicationName", "time")]
    parts.append(raw["id"].get("uniqueQualifier"))
    if not all(isinstance(p, str) for p in parts):
        return None
    text = ":".join(parts)
    return text if _problem(text) is None else None


def read_id(raw: object) -> ActivityId:
    """The ``id`` of an activity.

    Raises:
        RecordRefusedError: The activity or its id cannot be read.
    """
    loose = _loose_id(raw)
    if not isinstance(raw, Mapping):
        raise RecordRefusedError("malformed activity: not an object")
    found = raw.get("id")
    if not isinstance(found, Mapping):
        raise RecordRefusedError("malformed activity: id is not an object")
    texts: dict[str, str] = {}
    for name in ("time", "uniqueQualifier", "applicationName", "customerId"):
        value = found.get(name)
        if not isinstance(value, str) or not value:
            raise RecordRefusedError(
                f"malformed activity: id.{name} is missing or not a string",
                native_id=loose,
            )
        problem = _problem(value)
        if problem is not None:
            raise RecordRefusedError(f"id.{name} {problem}", native_id=None)
        texts[name] = value
    if not _INT64.fullmatch(texts["uniqueQualifier"]):
        raise RecordRefusedError("id.uniqueQualifier is not an int64", native_id=loose)
    try:
        moment = parse_time(texts["time"])
    except ValueError as exc:
        raise RecordRefusedError(f"id.time: {exc}", native_id=loose) from None
    return ActivityId(
        time=moment,
        text=texts["time"],
        qualifier=texts["uniqueQualifier"],
        application=texts["applicationName"],
        customer=texts["customerId"],
    )


def _int(value: object, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT64.fullmatch(value):
        return int(value)
    raise ValueError(f"{where}: not an int64")


def _typed(kind: type | tuple[type, ...], label: str) -> Callable[[object, str], Any]:
    def read(value: object, where: str) -> Any:
        if not isinstance(value, kind) or (
            kind is not bool and isinstance(value, bool)
        ):
            raise ValueError(f"{where}: not {label}")
        return value

    return read


def _all(
    item: Callable[[object, str], Any], label: str
) -> Callable[[object, str], Any]:
    def read(values: object, where: str) -> list[Any]:
        if not isinstance(values, list):
            raise ValueError(f"{where}: not a list of {label}")  # noqa: TRY004
        return [item(v, where) for v in values]

    return read


def _message(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: not an object")  # noqa: TRY004
    return flatten(value.get("parameter", []), where)


_VALUES: Final[Mapping[str, Callable[[object, str], Any]]] = {
    "value": _typed(str, "a string"),
    "intValue": _int,
    "boolValue": _typed(bool, "a boolean"),
    "multiValue": _all(_typed(str, "a string"), "strings"),
    "multiIntValue": _all(_int, "int64s"),
    "multiBoolValue": _all(_typed(bool, "a boolean"), "booleans"),
    "messageValue": _message,
    "multiMessageValue": _all(_message, "objects"),
}
"""How each of a parameter's value fields is read, in the order tried."""


def _value(parameter: Mapping[str, Any], where: str) -> Any:
    """The one value a parameter carries, as Python; ``None`` without one."""
    for field, read in _VALUES.items():
        if field in parameter:
            return read(parameter[field], f"{where}.{field}")
    return None


def flatten(parameters: object, where: str = "parameters") -> dict[str, Any]:
    """``[{name, <one value field>}...]`` as ``{name: value}``.

    Raises:
        ValueError: A parameter is not of this shape; the message says where.
    """
    if not isinstance(parameters, list):
        raise ValueError(f"{where}: not a list")  # noqa: TRY004 - a refusal's reason
    flat: dict[str, Any] = {}
    for index, parameter in enumerate(parameters):
        here = f"{where}[{index}]"
        if not isinstance(parameter, Mapping):
            raise ValueError(f"{here}: not an object")  # noqa: TRY004
        name = parameter.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{here}: name is missing")
        flat[name] = _value(parameter, f"{where}.{name}")
    return flat


def _text_of(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _grant(
    details: Mapping[str, Any], access: str | None
) -> tuple[dict[str, Any], tuple[AIRiskIndicator, ...]]:
    """The neutral app keys of a ``token`` event, and its risk indicators
    (a grant's only: a revocation or an API call grants nothing)."""
    name = _text_of(details.get("app_name"))
    client_id = _text_of(details.get("client_id"))
    scopes = details.get("scope")
    scope_list = (
        [s for s in scopes if isinstance(s, str)] if isinstance(scopes, list) else []
    )
    if not scope_list and isinstance(details.get("scope_data"), list):
        scope_list = [
            d["scope_name"]
            for d in details["scope_data"]
            if isinstance(d, Mapping) and isinstance(d.get("scope_name"), str)
        ]
    bucket = details.get("product_bucket")
    buckets = [bucket] if isinstance(bucket, str) else []
    app = APPS.ai_app(client_id, name)
    reaches = APPS.reaches_of(scope_list, buckets)
    metadata: dict[str, Any] = {
        keys.APP_IS_AI: app is not None,
        keys.APP_REACHES: reaches,
    }
    if name is not None:
        metadata[keys.APP_NAME] = name
        metadata[keys.RESOURCE_NAME] = name
    if client_id is not None:
        metadata[keys.APP_ID] = client_id
        metadata[keys.RESOURCE_ID] = client_id
    if scope_list:
        metadata[keys.APP_SCOPES] = scope_list
    if access is not None:
        metadata[keys.APP_ACCESS] = access
    if app is not None:
        metadata["ai_app"] = app.name
    risks = (
        grant_risks(name or client_id or "", app is not None, reaches)
        if access == "granted"
        else ()
    )
    return metadata, risks


@attrs.frozen(kw_only=True)
class _Actor:
    user_id: str
    email: str | None
    profile: str | None
    caller: str | None
    ip: str | None


def _actor(raw: Mapping[str, Any], rid: str, native: str) -> _Actor:
    """Who acted: their profile id (the placeholder is none), else their
    email, else the consumer key of a ``KEY`` caller."""
    actor = raw.get("actor", {})
    if not isinstance(actor, Mapping):
        raise RecordRefusedError(
            "actor: not an object", native_id=rid, native_type=native
        )
    email = _identity(actor.get("email"), "actor.email", native_id=rid)
    profile = _identity(actor.get("profileId"), "actor.profileId", native_id=rid)
    if profile == PLACEHOLDER_PROFILE_ID:
        profile = None
    key = _identity(actor.get("key"), "actor.key", native_id=rid)
    caller = _text_of(actor.get("callerType"))
    return _Actor(
        user_id=profile or email or key or (caller.lower() if caller else "unknown"),
        email=email,
        profile=profile,
        caller=caller,
        ip=_identity(raw.get("ipAddress"), "ipAddress", native_id=rid),
    )


_ACTIVITY_FIELDS: Final = (
    ("networkInfo", "network_info"),
    ("userDeviceInfo", "user_device_info"),
    ("resourceDetails", "resource_details"),
    ("ownerDomain", "owner_domain"),
    ("isAgenticAction", "is_agentic_action"),
)
_ACTOR_FIELDS: Final = (
    ("applicationInfo", "actor_application"),
    ("agentAttributionInfo", "agent"),
)


def _context(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Where the activity came from, kept under snake_case names."""
    found = {meta: raw[field] for field, meta in _ACTIVITY_FIELDS if field in raw}
    actor = raw.get("actor")
    if isinstance(actor, Mapping):
        found.update((m, actor[f]) for f, m in _ACTOR_FIELDS if f in actor)
    return found


def _location(raw: Mapping[str, Any]) -> GeoLocation | None:
    """Where the request came from, as Google resolved its address
    (``networkInfo``: ISO 3166 country and subdivision)."""
    network = raw.get("networkInfo")
    if not isinstance(network, Mapping):
        return None
    country = _text_of(network.get("regionCode"))
    region = _text_of(network.get("subdivisionCode"))
    if country is None and region is None:
        return None
    return GeoLocation(country=country, region=region)


def _feature(row: Row, name: str, details: Mapping[str, Any]) -> dict[str, Any]:
    """Where an AI feature was used, and which, as the row says."""
    found: dict[str, Any] = {}
    product = row.feature_app
    if product is None and row.feature_app_param is not None:
        product = _text_of(details.get(row.feature_app_param))
    feature = name if row.feature_event else row.feature
    if feature is None and row.feature_param is not None:
        feature = _text_of(details.get(row.feature_param))
    if product is not None:
        found[keys.FEATURE_APP] = product
    if feature is not None:
        found[keys.FEATURE] = feature
    return found


def _outcome(
    row: Row, event: Mapping[str, Any], details: Mapping[str, Any]
) -> dict[str, Any]:
    """Success or failure: a failed attempt by its name (``login_failure``)
    or by ``status.eventStatus`` FAILED, with why when it says."""
    found: dict[str, Any] = {}
    failed = row.failure
    status = event.get("status")
    if isinstance(status, Mapping):
        found["status"] = dict(status)
        failed = failed or status.get("eventStatus") == "FAILED"
        if _text_of(status.get("errorMessage")):
            found[keys.ERROR_MESSAGE] = status["errorMessage"]
        code = status.get("errorCode", status.get("httpStatusCode"))
        if isinstance(code, str | int) and not isinstance(code, bool):
            found[keys.ERROR_CODE] = str(code)
    if row.error_param is not None and _text_of(details.get(row.error_param)):
        found[keys.ERROR_MESSAGE] = details[row.error_param]
    found["outcome"] = "failure" if failed else "success"
    return found


def _event(
    raw: Mapping[str, Any], index: int, rid: str
) -> tuple[Mapping[str, Any], str, str | None]:
    """``events[index]``, its name and its type, checked."""
    event = raw["events"][index]
    if not isinstance(event, Mapping):
        raise RecordRefusedError(f"events[{index}]: not an object", native_id=rid)
    name = _identity(event.get("name"), f"events[{index}].name", native_id=rid)
    if name is None:
        raise RecordRefusedError(f"events[{index}]: name is missing", native_id=rid)
    kind = _identity(event.get("type"), f"events[{index}].type", native_id=rid)
    return event, name, kind


def normalize_event(
    raw: Mapping[str, Any],
    activity: ActivityId,
    index: int,
    platform: str = PLATFORM,
) -> AIAuditLog:
    """The log of ``events[index]`` of the activity *raw*, whose id is
    *activity*.

    Raises:
        RecordRefusedError: It cannot be read; the reason names what is wrong.
    """
    rid = activity.log_id(index)
    event, name, kind = _event(raw, index, rid)
    native = native_type(kind, name)
    try:
        details = flatten(event.get("parameters", []), f"events[{index}].parameters")
    except ValueError as exc:
        raise RecordRefusedError(str(exc), native_id=rid, native_type=native) from None
    actor = _actor(raw, rid, native)
    row = row_for(activity.application, kind, name)
    caller = actor.caller or "USER"
    metadata: dict[str, Any] = {
        keys.ORIGINAL_TIME: activity.text,
        keys.DETAILS: details,
        keys.ACTOR_TYPE: _CALLER_TYPES.get(caller, caller.lower()),
        "application": activity.application,
        "unique_qualifier": activity.qualifier,
        "event_index": index,
        "event_type": kind,
        "event_name": name,
        **_context(raw),
        **_feature(row, name, details),
        **_outcome(row, event, details),
    }
    if actor.profile is not None:
        metadata["profile_id"] = actor.profile
    if row.resource is not None:
        metadata[keys.RESOURCE_TYPE] = row.resource
    risks: list[AIRiskIndicator] = []
    if activity.application == "token":
        grant, grant_risk = _grant(details, row.app_access)
        metadata.update(grant)
        risks.extend(grant_risk)
    if row.risk is not None:
        risks.append(risk(row.risk, (actor.email or "", name)))
    if details.get("is_suspicious") is True:
        risks.append(risk("suspicious", (actor.email or "", actor.ip or "")))
    return AIAuditLog(
        id=rid,
        platform=platform,
        timestamp=activity.time,
        user_id=actor.user_id,
        user_email=actor.email,
        organization_id=activity.customer,
        activity_type=row.activity,
        action=row.action_for(name),
        metadata=metadata,
        ip_address=actor.ip,
        location=_location(raw),
        risk_indicators=tuple(risks),
        native_type=native,
        raw=raw,
    )


def read_activity(
    stream: str, raw: object, platform: str = PLATFORM
) -> list[AIAuditLog | QuarantinedRecord]:
    """The logs of one activity, each event's log or quarantined record.

    An activity whose ``id`` or ``events`` cannot be read is quarantined
    whole; an event that cannot be read, alone.
    """
    try:
        activity = read_id(raw)
    except RecordRefusedError as exc:
        return [QuarantinedRecord.of_failure(stream, raw, exc)]
    assert isinstance(raw, Mapping)  # noqa: S101 - read_id checked it
    events = raw.get("events")
    if not isinstance(events, Sequence) or isinstance(events, str) or not events:
        refused = RecordRefusedError(
            "malformed activity: events is missing, empty or not a list",
            native_id=activity.log_id(0),
        )
        return [QuarantinedRecord.of_failure(stream, raw, refused)]
    return [
        normalize_or_quarantine(
            stream,
            raw,
            functools.partial(
                normalize_event, activity=activity, index=index, platform=platform
            ),
            where=f"events[{index}]",
        )
        for index in range(len(events))
    ]
