"""Normalized audit logs as OCSF events, for SIEMs and data lakes.

Security teams rarely read a connector's own JSON: their tools ingest the
Open Cybersecurity Schema Framework (OCSF). :func:`to_ocsf` turns one
:class:`~connector_core.models.AIAuditLog` into one OCSF event, picking the
class by what the action *is* (a sign-in, a change to a user, a change to a
configured entity, a file moving into the platform, or any other call), so a
SIEM's existing authentication and IAM content applies to AI platforms
without new rules. ``docs/exports.md`` lists the mapping for people.

Two rules keep the export trustworthy as evidence:

* nothing is lost: whatever no OCSF attribute took (the platform's record as
  received, our activity type and action, the metadata, the risk findings,
  and a field whose value the schema's type refuses, such as an address
  that is not an email address) travels in ``unmapped``;
* nothing is invented: an attribute appears only when the log knows its
  value. The one exception is forced by the schema: an object the class
  requires that must name one of its identifying attributes (the source
  endpoint of API and File Hosting Activity, the group of Group Management)
  is named ``"unknown"`` when the log does not say.

The module is in three parts: the routing of actions onto classes
(:mod:`~connector_core.export._ocsf_routing`, with :func:`ocsf_class_for`),
the building of the event (here), and :func:`validate_ocsf`, a light check
of events against the schema's requirements given as data
(:mod:`~connector_core.export._ocsf_requirements`). The complete check
against the schema is :mod:`connector_core.testing.ocsf`.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
import ipaddress
import re
from collections.abc import Mapping
from typing import Any, Final

from connector_core import metadata_keys as keys
from connector_core.export._ocsf_requirements import validate_ocsf
from connector_core.export._ocsf_routing import (
    AUTHENTICATION,
    ENTITY_MANAGEMENT,
    FAILURE,
    FILE_HOSTING,
    GROUP_MANAGEMENT,
    SUCCESS,
    TENANT_PREFIX,
    USER_MANAGEMENT,
    ocsf_class_for,
    route,
)
from connector_core.models import AIAuditLog, RiskSeverity
from connector_core.serialization import unstructure


__all__ = [
    "OCSF_VERSION",
    "UNKNOWN_ENDPOINT",
    "aiaudit_version",
    "ocsf_class_for",
    "platform_display_name",
    "to_ocsf",
    "validate_ocsf",
]

OCSF_VERSION: Final = "1.9.0"
"""The schema version written to ``metadata.version``.

The mapping is validated against the 1.9.0 development schema, and it needs
1.9.0: User Management (3007) replaces the deprecated Account Change there.
The ``-dev`` suffix is left out because consumers compare release numbers
and the classes used here are the ones 1.9.0 defines.
"""

UNKNOWN_ENDPOINT: Final[Mapping[str, str]] = {"name": "unknown"}
"""The source endpoint of a request whose origin the platform did not report.

Only used where the class requires ``src_endpoint`` (API Activity, File
Hosting Activity); an empty object would break the endpoint's "at least one
identifying attribute" constraint.
"""

_UNKNOWN_GROUP: Final[Mapping[str, str]] = {"name": "unknown"}
"""The group of a Group Management event that names neither id nor name."""

# OCSF's email_t pattern. fullmatch, because the schema's ``$`` means the end
# of the text, where Python's would also let a final newline through.
_EMAIL: Final = re.compile(
    r"[a-zA-Z0-9!#$%&'*+-/=?^_`{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+"
)
_IP_MAX_LENGTH: Final = 40  # ip_t's max_len
_API_KEY: Final = "API Key"

_VENDOR: Final = "aiaudit"
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MILLISECOND: Final = dt.timedelta(milliseconds=1)

_STATUS_NAMES: Final[Mapping[int, str]] = {SUCCESS: "Success", FAILURE: "Failure"}

_INFORMATIONAL: Final = 1
_SEVERITY_IDS: Final[Mapping[RiskSeverity, int]] = {
    RiskSeverity.LOW: 2,
    RiskSeverity.MEDIUM: 3,
    RiskSeverity.HIGH: 4,
    RiskSeverity.CRITICAL: 5,
}
_SEVERITY_NAMES: Final[Mapping[int, str]] = {
    1: "Informational",
    2: "Low",
    3: "Medium",
    4: "High",
    5: "Critical",
}

# metadata.actor_type -> OCSF user type (type_id, caption).
_USER_TYPES: Final[Mapping[str, tuple[int, str]]] = {
    "user": (1, "User"),
    "admin": (2, "Admin"),
    "system": (3, "System"),
    "service_account": (4, "Service"),
}
_USER_TYPE_OTHER: Final = 99

_REGULAR_FILE: Final = 1


def platform_display_name(
    platform: str, display_names: Mapping[str, str] | None = None
) -> str:
    """The name people know a platform by, for output people read.

    The names belong to the plugins (each connector class's
    ``display_name``), so the caller that holds the registry passes them in
    *display_names*; a platform it does not name, or a caller without a
    registry, gets its identifier title-cased (``my_platform`` → ``My
    Platform``) rather than an error.
    """
    if display_names is not None:
        name = display_names.get(platform)
        if isinstance(name, str) and name.strip():
            return name
    return platform.replace("_", " ").title()


@functools.cache
def aiaudit_version() -> str | None:
    """The installed aiaudit version, or ``None`` when running from a tree.

    Cached: the package metadata lookup reads files and exports call it for
    every event.
    """
    try:
        return importlib.metadata.version("aiaudit")
    except importlib.metadata.PackageNotFoundError:
        return None


def _compact(**values: Any) -> dict[str, Any]:
    # Attributes appear only when known: an OCSF consumer reads null and
    # absent alike, but absent keeps events small and honest.
    return {key: value for key, value in values.items() if value is not None}


def _text(value: object) -> str | None:
    # Metadata comes from platforms; only non-empty strings are identifiers.
    return value if isinstance(value, str) and value else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _first_text(*candidates: object) -> str | None:
    for candidate in candidates:
        text = _text(candidate)
        if text is not None:
            return text
    return None


def _email(value: str | None) -> str | None:
    """*value* if OCSF's email type takes it (platforms send what they like)."""
    return value if value and _EMAIL.fullmatch(value) else None


def _ip(value: str | None) -> str | None:
    """*value* if it is one IP address (not "unknown", not a proxy chain)."""
    if not value or len(value) > _IP_MAX_LENGTH:
        return None
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return None
    return value


def _epoch_ms(moment: dt.datetime) -> int:
    # Integer arithmetic: float seconds * 1000 can be off by one millisecond.
    return (moment - _EPOCH) // _MILLISECOND


def _actor_user(log: AIAuditLog) -> dict[str, Any]:
    actor_type = _text(log.metadata.get(keys.ACTOR_TYPE))
    type_id, type_name = None, None
    if actor_type is not None:
        # Another kind of actor (a bot) is "Other", named as the source names it.
        type_id, type_name = _USER_TYPES.get(actor_type, (_USER_TYPE_OTHER, actor_type))
    key = _text(log.metadata.get(keys.API_KEY_ID))
    return _compact(
        uid=log.user_id,
        email_addr=_email(log.user_email),
        type_id=type_id,
        type=type_name,
        # An API key acting for someone is their credential, in OCSF's terms.
        programmatic_credentials=[{"uid": key, "type": _API_KEY}] if key else None,
    )


def _target_user(log: AIAuditLog) -> dict[str, Any] | None:
    """The user a user-management event is about, when the metadata names one.

    A user acted on is the event's resource as well, so its id serves when
    no target is named; an invitation names only the invited address, which
    then also serves as the user name (OCSF wants a name or id for every
    user).
    """
    metadata = log.metadata
    resource_is_user = metadata.get(keys.RESOURCE_TYPE) == "user"
    uid = _first_text(
        metadata.get(keys.TARGET_USER_ID),
        metadata.get(keys.RESOURCE_ID) if resource_is_user else None,
    )
    email = _text(metadata.get(keys.TARGET_USER_EMAIL))
    if uid is None and email is None:
        return None
    return _compact(
        uid=uid, email_addr=_email(email), name=email if uid is None else None
    )


def _place(log: AIAuditLog) -> dict[str, Any] | None:
    """The location as OCSF takes it: only with a city, country or region.

    OCSF wants a location to name at least one of those; coordinates alone
    (or a time zone) stay in ``unmapped``.
    """
    location = log.location
    if location is None or not (location.city or location.country or location.region):
        return None
    coordinates = location.coordinates
    return _compact(
        city=location.city,
        country=location.country,
        region=location.region,
        lat=coordinates.latitude if coordinates else None,
        long=coordinates.longitude if coordinates else None,
    )


def _src_endpoint(log: AIAuditLog) -> dict[str, Any] | None:
    ip = _ip(log.ip_address)
    if ip is None:
        return None
    return _compact(ip=ip, location=_place(log))


def _severity_id(log: AIAuditLog) -> int:
    return max(
        (_SEVERITY_IDS[risk.severity] for risk in log.risk_indicators),
        default=_INFORMATIONAL,
    )


def _entity(log: AIAuditLog) -> dict[str, Any]:
    metadata = log.metadata
    segments = log.action.removeprefix(TENANT_PREFIX).split(".")
    noun = "_".join(segments[:-1]) or segments[0]
    entity_type = _text(metadata.get(keys.RESOURCE_TYPE)) or noun
    uid = _text(metadata.get(keys.RESOURCE_ID))
    if uid is None and entity_type in {"organization", "settings"}:
        # Organization-wide settings belong to the organization itself.
        uid = _text(log.organization_id)
    name = _text(metadata.get(keys.RESOURCE_NAME))
    if uid is None and name is None:
        name = entity_type
    return _compact(uid=uid, name=name, type=entity_type)


def _group(log: AIAuditLog) -> dict[str, Any]:
    metadata = log.metadata
    group = _compact(
        uid=_first_text(metadata.get(keys.GROUP_ID), metadata.get(keys.RESOURCE_ID)),
        name=_text(metadata.get(keys.GROUP_NAME)),
    )
    # The class requires a group, and a group must name an id or a name.
    return group or dict(_UNKNOWN_GROUP)


def _file(log: AIAuditLog) -> dict[str, Any]:
    """The file of a file event: the first of ``metadata.files``, else ids.

    A file event is about one file (a connector emits one log per file);
    any further files stay in ``unmapped.metadata.files``.
    """
    metadata = log.metadata
    files = metadata.get(keys.FILES)
    first: Mapping[str, Any] = {}
    if isinstance(files, list | tuple) and files:
        first = _mapping(unstructure(files[0]))
    size = first.get("file_size")
    extension = _text(first.get("file_type"))
    return _compact(
        name=_first_text(
            first.get("file_name"),
            metadata.get(keys.FILE_NAME),
            first.get("file_id"),
            metadata.get(keys.FILE_ID),
        )
        or "unknown",
        type_id=_REGULAR_FILE,
        type="Regular File",
        uid=_first_text(first.get("file_id"), metadata.get(keys.FILE_ID)),
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        ext=extension if extension and extension != "unknown" else None,
    )


def _resources(log: AIAuditLog) -> list[dict[str, Any]] | None:
    # What an API call touched, named the way the metadata names it.
    metadata = log.metadata
    assistant_type = _text(metadata.get(keys.ASSISTANT_TYPE)) or "assistant"
    found: list[dict[str, Any]] = []
    for kind, uid_key, name_key in (
        ("conversation", keys.CONVERSATION_ID, keys.CONVERSATION_TITLE),
        (assistant_type, keys.ASSISTANT_ID, keys.ASSISTANT_NAME),
        ("project", keys.PROJECT_ID, keys.PROJECT_NAME),
    ):
        uid = _text(metadata.get(uid_key))
        if uid is not None:
            found.append(
                _compact(uid=uid, type=kind, name=_text(metadata.get(name_key)))
            )
    resource_id = _text(metadata.get(keys.RESOURCE_ID))
    if resource_id is not None:
        found.append(
            _compact(uid=resource_id, type=_text(metadata.get(keys.RESOURCE_TYPE)))
        )
    return found or None


def _unmapped(log: AIAuditLog) -> dict[str, Any]:
    """What no OCSF attribute holds, so the export loses nothing.

    ``action`` is kept even where ``api.operation`` repeats it, so one query
    on ``unmapped.action`` finds our vocabulary in every class. A user email
    or IP address the schema's types refuse, and a location the source
    endpoint could not carry, are kept here as the log has them.
    """
    unmapped: dict[str, Any] = {
        "activity_type": log.activity_type.value,
        "action": log.action,
    }
    if log.metadata:
        unmapped["metadata"] = unstructure(dict(log.metadata))
    if log.risk_indicators:
        unmapped["risk_indicators"] = unstructure(log.risk_indicators)
    if log.user_email and _email(log.user_email) is None:
        unmapped["user_email"] = log.user_email
    if log.ip_address and _ip(log.ip_address) is None:
        unmapped["ip_address"] = log.ip_address
    if log.location is not None:
        if _ip(log.ip_address) is None or _place(log) is None:
            unmapped["location"] = unstructure(log.location)
        if log.location.timezone is not None:
            unmapped["location_timezone"] = log.location.timezone
    unmapped["raw"] = unstructure(dict(log.raw))
    return unmapped


def to_ocsf(
    log: AIAuditLog,
    *,
    product_name: str = "aiaudit",
    product_version: str | None = None,
    display_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Return *log* as one OCSF event (a JSON-ready dict).

    ``product_name``/``product_version`` describe the software that reported
    the event (this framework, or a host embedding it); the platform the
    event happened on is ``metadata.log_name`` and ``service``/``api``,
    named from *display_names* (platform → the connector's
    ``display_name``; see :func:`platform_display_name`).

    Only model fields and the neutral metadata keys of
    :mod:`connector_core.metadata_keys` are read: a log lacking a key (one
    stored by an earlier version) exports with that attribute left out.
    """
    routed = route(log)
    cls = routed.cls
    activity_name = cls.activities.get(routed.activity_id, log.action)
    severity_id = _severity_id(log)
    display = platform_display_name(log.platform, display_names)
    actor_user = _actor_user(log)
    src_endpoint = _src_endpoint(log)
    http_request = _compact(user_agent=log.user_agent) or None
    metadata = log.metadata

    event: dict[str, Any] = {
        "class_uid": cls.uid,
        "class_name": cls.name,
        "category_uid": cls.category_uid,
        "category_name": cls.category_name,
        "activity_id": routed.activity_id,
        "activity_name": activity_name,
        "type_uid": cls.uid * 100 + routed.activity_id,
        "type_name": f"{cls.name}: {activity_name}",
        "time": _epoch_ms(log.timestamp),
        "time_dt": unstructure(log.timestamp),
        "severity_id": severity_id,
        "severity": _SEVERITY_NAMES[severity_id],
        "status_id": routed.status_id,
        "status": _STATUS_NAMES[routed.status_id],
        "message": f"{log.action} by {log.user_email or log.user_id} on {display}",
        "metadata": _compact(
            version=OCSF_VERSION,
            product=_compact(
                name=product_name,
                vendor_name=_VENDOR,
                version=product_version or aiaudit_version(),
            ),
            uid=log.id,
            original_time=_text(metadata.get(keys.ORIGINAL_TIME)),
            log_name=log.platform,
            event_code=log.native_type,
            tenant_uid=_text(log.organization_id),
            # time_dt belongs to the datetime profile, so it is declared.
            profiles=["datetime"],
        ),
        "actor": {"user": actor_user},
    }
    if routed.status_id == FAILURE:
        event.update(
            _compact(
                status_code=_text(metadata.get(keys.ERROR_CODE)),
                status_detail=_text(metadata.get(keys.ERROR_MESSAGE)),
            )
        )

    if cls is AUTHENTICATION:
        event["user"] = dict(actor_user)
        event["service"] = {"name": display}
        is_mfa = metadata.get(keys.IS_MFA)
        if isinstance(is_mfa, bool):
            event["is_mfa"] = is_mfa
    elif cls is USER_MANAGEMENT:
        event["user"] = _target_user(log) or dict(actor_user)
    elif cls is GROUP_MANAGEMENT:
        event["group"] = _group(log)
        target = _target_user(log)
        if target is not None:
            # 1.9.0 deprecates Group Management's ``user`` for ``users``.
            event["users"] = [target]
    elif cls is ENTITY_MANAGEMENT:
        event["entity"] = _entity(log)
    elif cls is FILE_HOSTING:
        event["file"] = _file(log)
        src_endpoint = src_endpoint or dict(UNKNOWN_ENDPOINT)
    else:
        event["api"] = {"operation": log.action, "service": {"name": display}}
        event["resources"] = _resources(log)
        src_endpoint = src_endpoint or dict(UNKNOWN_ENDPOINT)

    event["src_endpoint"] = src_endpoint
    event["http_request"] = http_request
    event["unmapped"] = _unmapped(log)
    return {key: value for key, value in event.items() if value is not None}
