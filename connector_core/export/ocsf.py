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
  received, our activity type and action, the metadata, the risk findings)
  travels in ``unmapped``;
* nothing is invented: an attribute appears only when the log knows its
  value. The single exception is forced by the schema: a class that requires
  ``src_endpoint`` gets ``{"name": "unknown"}`` when the platform did not say
  where a request came from, because an endpoint must name at least one of
  its identifying attributes.

:func:`validate_ocsf` checks an event against the schema's requirements. It
takes the requirements as data (the classes and objects with their required
attributes, activities and constraints) rather than bundling a copy of the
schema, so the check follows whatever schema version the caller holds.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
import re
from collections.abc import Mapping
from typing import Any, Final, TypeGuard

import attrs

from connector_core import metadata_keys as keys
from connector_core.models import AIActivityType, AIAuditLog, RiskSeverity
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

_VENDOR: Final = "aiaudit"
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MILLISECOND: Final = dt.timedelta(milliseconds=1)

_SUCCESS: Final = 1
_FAILURE: Final = 2
_STATUS_NAMES: Final[Mapping[int, str]] = {_SUCCESS: "Success", _FAILURE: "Failure"}

_OTHER: Final = 99
"""OCSF's "Other" activity: the source's own value is in ``activity_name``."""

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


# --------------------------------------------------------------------------
# Classes and the routing of actions onto them
# --------------------------------------------------------------------------


@attrs.frozen
class _Class:
    name: str
    uid: int
    category_uid: int
    category_name: str
    activities: Mapping[int, str]


_IAM: Final = (3, "Identity & Access Management")
_APPLICATION: Final = (6, "Application Activity")

_AUTHENTICATION: Final = _Class(
    "Authentication", 3002, *_IAM, {1: "Logon", 2: "Logoff"}
)
_ENTITY_MANAGEMENT: Final = _Class(
    "Entity Management",
    3004,
    *_IAM,
    {
        1: "Create",
        2: "Read",
        3: "Update",
        4: "Delete",
        5: "Move",
        8: "Enable",
        9: "Disable",
        10: "Activate",
        11: "Deactivate",
        12: "Suspend",
        13: "Resume",
    },
)
_GROUP_MANAGEMENT: Final = _Class(
    "Group Management",
    3006,
    *_IAM,
    {3: "Add User", 4: "Remove User", 5: "Delete", 6: "Create", 9: "Update"},
)
_USER_MANAGEMENT: Final = _Class(
    "User Management",
    3007,
    *_IAM,
    {
        1: "Create",
        2: "Update",
        3: "Delete",
        4: "Enable",
        5: "Disable",
        6: "Lock",
        7: "Unlock",
        16: "Assign Roles",
        17: "Remove Roles",
    },
)
_API_ACTIVITY: Final = _Class(
    "API Activity",
    6003,
    *_APPLICATION,
    {1: "Create", 2: "Read", 3: "Update", 4: "Delete"},
)
_FILE_HOSTING: Final = _Class(
    "File Hosting Activity",
    6006,
    *_APPLICATION,
    {
        1: "Upload",
        2: "Download",
        3: "Update",
        4: "Delete",
        5: "Rename",
        6: "Copy",
        7: "Move",
        8: "Restore",
        9: "Preview",
        12: "Share",
        13: "Unshare",
        14: "Open",
    },
)

# Sign-ins: (activity, status) per action.
_AUTH_ACTIONS: Final[Mapping[str, tuple[int, int]]] = {
    "user.login": (1, _SUCCESS),
    "user.login.failed": (1, _FAILURE),
    "user.logout": (2, _SUCCESS),
    "user.logout.failed": (2, _FAILURE),
}

# The last segment of an action is its verb; each class reads verbs its way.
_USER_VERBS: Final[Mapping[str, int]] = {
    "added": 1,
    "created": 1,
    "invited": 1,
    "provisioned": 1,
    "updated": 2,
    "changed": 2,
    "upserted": 2,
    "removed": 3,
    "deleted": 3,
    "revoked": 3,
    # An accepted invitation turns a pending account into an active one.
    "accepted": 4,
    "enabled": 4,
    "disabled": 5,
    "locked": 6,
    "unlocked": 7,
}
_ENTITY_VERBS: Final[Mapping[str, int]] = {
    "created": 1,
    "added": 1,
    "registered": 1,
    "provisioned": 1,
    "issued": 1,
    "bound_to_resource": 1,
    "read": 2,
    "viewed": 2,
    "looked_up": 2,
    "updated": 3,
    "changed": 3,
    "upserted": 3,
    "attached": 3,
    "detached": 3,
    "deleted": 4,
    "removed": 4,
    "revoked": 4,
    "unbound_from_resource": 4,
    "moved": 5,
    "enabled": 8,
    "disabled": 9,
    "activated": 10,
    "deactivated": 11,
    # An archived project stays readable but can no longer be used.
    "archived": 11,
    "suspended": 12,
    "resumed": 13,
}
_GROUP_VERBS: Final[Mapping[str, int]] = {
    "created": 6,
    "updated": 9,
    "deleted": 5,
}
_GROUP_MEMBER_VERBS: Final[Mapping[str, int]] = {"added": 3, "removed": 4}
_FILE_VERBS: Final[Mapping[str, int]] = {
    "uploaded": 1,
    "downloaded": 2,
    "updated": 3,
    "deleted": 4,
    "renamed": 5,
    "copied": 6,
    "moved": 7,
    "restored": 8,
    "previewed": 9,
    "shared": 12,
    "unshared": 13,
    "opened": 14,
}
_API_VERBS: Final[Mapping[str, int]] = {
    "created": 1,
    "added": 1,
    "sent": 1,
    "read": 2,
    "viewed": 2,
    "listed": 2,
    "exported": 2,
    "updated": 3,
    "changed": 3,
    "enabled": 3,
    "disabled": 3,
    "deleted": 4,
    "removed": 4,
    "revoked": 4,
}
# Actions whose last segment is a noun, not a verb.
_API_ACTIONS: Final[Mapping[str, int]] = {
    "conversation.message": 1,
    "conversation.response": 1,
}

_USER_NOUNS: Final = frozenset({"user", "invite", "membership", "member"})
_ENTITY_NOUNS: Final = frozenset(
    {
        "api_key",
        "admin_api_key",
        "project_api_key",
        "project",
        "service_account",
        "settings",
        "organization",
        "role",
        "rate_limit",
        "scim",
        "ip_allowlist",
        "certificate",
        "checkpoint",
        "external_key",
        "workload_identity_provider",
        "workload_identity_provider_mapping",
        "resource",
        "tunnel",
        "integration",
    }
)
_TENANT_PREFIX: Final = "tenant."
_ASSIGN_ROLES: Final = 16
_FILE_ACTIVITY_TYPES: Final[Mapping[AIActivityType, int]] = {
    AIActivityType.FILE_UPLOAD: 1,
    AIActivityType.FILE_DOWNLOAD: 2,
}
_KEY_ACTIVITY_TYPES: Final = frozenset(
    {AIActivityType.API_KEY_CREATED, AIActivityType.API_KEY_DELETED}
)


@attrs.frozen
class _Route:
    cls: _Class
    activity_id: int
    status_id: int = _SUCCESS


@attrs.frozen
class _Action:
    """An action split into what the routing rules look at."""

    core: str  # without the ``tenant.`` prefix
    tenant: bool
    segments: tuple[str, ...]

    @classmethod
    def parse(cls, action: str) -> _Action:
        core = action.removeprefix(_TENANT_PREFIX)
        return cls(
            core=core,
            tenant=action.startswith(_TENANT_PREFIX),
            segments=tuple(core.split(".")),
        )

    @property
    def noun(self) -> str:
        return self.segments[0]

    @property
    def verb(self) -> str:
        return self.segments[-1]

    @property
    def status(self) -> int:
        return _FAILURE if self.verb == "failed" else _SUCCESS


def _authentication(log: AIAuditLog, action: _Action) -> _Route | None:
    if action.core in _AUTH_ACTIONS:
        activity, status = _AUTH_ACTIONS[action.core]
        return _Route(_AUTHENTICATION, activity, status)
    if log.activity_type in {AIActivityType.LOGIN, AIActivityType.LOGOUT}:
        # Another platform's sign-in under its own action name.
        activity = 1 if log.activity_type is AIActivityType.LOGIN else 2
        return _Route(_AUTHENTICATION, activity, action.status)
    return None


def _group_management(log: AIAuditLog, action: _Action) -> _Route | None:
    if action.noun != "group":
        return None
    # group.member.added, not group.added: a membership, not a group, changed.
    inner = action.segments[1:-1]
    verbs = _GROUP_MEMBER_VERBS if {"member", "user"} & set(inner) else _GROUP_VERBS
    return _Route(_GROUP_MANAGEMENT, verbs.get(action.verb, _OTHER), action.status)


def _user_management(log: AIAuditLog, action: _Action) -> _Route | None:
    if action.noun not in _USER_NOUNS and not action.noun.endswith("_invite"):
        return None
    role_change = "role" in action.segments[1:-1] and action.verb in {
        "updated",
        "changed",
    }
    activity = _ASSIGN_ROLES if role_change else _USER_VERBS.get(action.verb, _OTHER)
    return _Route(_USER_MANAGEMENT, activity, action.status)


def _file_hosting(log: AIAuditLog, action: _Action) -> _Route | None:
    by_type = _FILE_ACTIVITY_TYPES.get(log.activity_type)
    if action.noun != "file" and by_type is None:
        return None
    activity = _FILE_VERBS.get(action.verb, by_type or _OTHER)
    return _Route(_FILE_HOSTING, activity, action.status)


def _entity_management(log: AIAuditLog, action: _Action) -> _Route | None:
    if not (
        action.noun in _ENTITY_NOUNS
        or action.tenant
        or log.activity_type in _KEY_ACTIVITY_TYPES
    ):
        return None
    activity = _ENTITY_VERBS.get(action.verb, _OTHER)
    return _Route(_ENTITY_MANAGEMENT, activity, action.status)


_RULES: Final = (
    _authentication,
    _group_management,
    _user_management,
    _file_hosting,
    _entity_management,
)
"""Tried in order; the first that claims an action decides its class."""


def _route(log: AIAuditLog) -> _Route:
    """Decide class, activity and status from the action (and activity type).

    Tenant-scoped admin events (``tenant.user.added``) are the organization
    events one level up, so the ``tenant.`` prefix is looked through; a
    tenant event that is not about users or groups is an administrative
    change to a tenant resource, hence Entity Management. Whatever no rule
    claims (conversations, GPTs, pass-through types) is an API call.
    """
    action = _Action.parse(log.action)
    for rule in _RULES:
        route = rule(log, action)
        if route is not None:
            return route
    activity = _API_ACTIONS.get(action.core, _API_VERBS.get(action.verb, _OTHER))
    return _Route(_API_ACTIVITY, activity, action.status)


def ocsf_class_for(log: AIAuditLog) -> tuple[str, int]:
    """The OCSF class *log* is exported as: ``(class name, class_uid)``.

    For callers that route or count events by class without building them.
    """
    route = _route(log)
    return route.cls.name, route.cls.uid


# --------------------------------------------------------------------------
# Building the event
# --------------------------------------------------------------------------


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


def _epoch_ms(moment: dt.datetime) -> int:
    # Integer arithmetic: float seconds * 1000 can be off by one millisecond.
    return (moment - _EPOCH) // _MILLISECOND


def _actor_user(log: AIAuditLog) -> dict[str, Any]:
    actor_type = _text(log.metadata.get(keys.ACTOR_TYPE))
    type_id, type_name = None, None
    if actor_type is not None:
        # Another kind of actor (a bot) is "Other", named as the source names it.
        type_id, type_name = _USER_TYPES.get(actor_type, (_USER_TYPE_OTHER, actor_type))
    return _compact(
        uid=log.user_id,
        email_addr=log.user_email or None,
        type_id=type_id,
        type=type_name,
        # An API key acting for someone is their credential, in OCSF's terms.
        credential_uid=_text(log.metadata.get(keys.API_KEY_ID)),
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
    return _compact(uid=uid, email_addr=email, name=email if uid is None else None)


def _src_endpoint(log: AIAuditLog) -> dict[str, Any] | None:
    if log.ip_address is None:
        return None
    location = log.location
    place = None
    if location is not None:
        coordinates = location.coordinates
        place = (
            _compact(
                city=location.city,
                country=location.country,
                region=location.region,
                lat=coordinates.latitude if coordinates else None,
                long=coordinates.longitude if coordinates else None,
            )
            or None
        )
    return _compact(ip=log.ip_address, location=place)


def _severity_id(log: AIAuditLog) -> int:
    return max(
        (_SEVERITY_IDS[risk.severity] for risk in log.risk_indicators),
        default=_INFORMATIONAL,
    )


def _entity(log: AIAuditLog) -> dict[str, Any]:
    metadata = log.metadata
    segments = log.action.removeprefix(_TENANT_PREFIX).split(".")
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
    return _compact(
        uid=_first_text(metadata.get(keys.GROUP_ID), metadata.get(keys.RESOURCE_ID)),
        name=_text(metadata.get(keys.GROUP_NAME)),
    )


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
    on ``unmapped.action`` finds our vocabulary in every class.
    """
    unmapped: dict[str, Any] = {
        "activity_type": log.activity_type.value,
        "action": log.action,
    }
    if log.metadata:
        unmapped["metadata"] = unstructure(dict(log.metadata))
    if log.risk_indicators:
        unmapped["risk_indicators"] = unstructure(log.risk_indicators)
    if log.location is not None and log.location.timezone is not None:
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
    route = _route(log)
    cls = route.cls
    activity_name = cls.activities.get(route.activity_id, log.action)
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
        "activity_id": route.activity_id,
        "activity_name": activity_name,
        "type_uid": cls.uid * 100 + route.activity_id,
        "type_name": f"{cls.name}: {activity_name}",
        "time": _epoch_ms(log.timestamp),
        "time_dt": unstructure(log.timestamp),
        "severity_id": severity_id,
        "severity": _SEVERITY_NAMES[severity_id],
        "status_id": route.status_id,
        "status": _STATUS_NAMES[route.status_id],
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
    if route.status_id == _FAILURE:
        event.update(
            _compact(
                status_code=_text(metadata.get(keys.ERROR_CODE)),
                status_detail=_text(metadata.get(keys.ERROR_MESSAGE)),
            )
        )

    if cls is _AUTHENTICATION:
        event["user"] = dict(actor_user)
        event["service"] = {"name": display}
        is_mfa = metadata.get(keys.IS_MFA)
        if isinstance(is_mfa, bool):
            event["is_mfa"] = is_mfa
    elif cls is _USER_MANAGEMENT:
        event["user"] = _target_user(log) or dict(actor_user)
    elif cls is _GROUP_MANAGEMENT:
        event["group"] = _group(log)
        target = _target_user(log)
        if target is not None:
            event["user"] = target
    elif cls is _ENTITY_MANAGEMENT:
        event["entity"] = _entity(log)
    elif cls is _FILE_HOSTING:
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


# --------------------------------------------------------------------------
# Validation against the schema's requirements
# --------------------------------------------------------------------------

# Which object each attribute name holds. The requirements data lists objects
# by object name, while events name attributes (src_endpoint is an endpoint).
_OBJECT_OF_ATTRIBUTE: Final[Mapping[str, str]] = {
    "metadata": "metadata",
    "product": "product",
    "user": "user",
    "users": "user",
    "actor": "actor",
    "api": "api",
    "src_endpoint": "network_endpoint",
    "dst_endpoint": "network_endpoint",
    "file": "file",
    "entity": "managed_entity",
    "entity_result": "managed_entity",
    "group": "group",
    "service": "service",
    "http_request": "http_request",
    "ldap_person": "ldap_person",
}
# Free-form content, whatever its keys are called.
_OPAQUE: Final = frozenset({"unmapped", "raw_data", "data", "xattributes"})
_UNIVERSAL_ACTIVITIES: Final = frozenset({0, _OTHER})
_TAG: Final = re.compile(r"<[^>]+>")


def _present(container: Mapping[str, Any], name: str) -> bool:
    return container.get(name) is not None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_requirements(
    container: Mapping[str, Any], spec: Mapping[str, Any], where: str
) -> list[str]:
    problems = [
        f"{where}: missing required attribute {name!r}"
        for name in spec.get("required") or ()
        if not _present(container, name)
    ]
    constraints = _mapping(spec.get("constraints"))
    at_least_one = constraints.get("at_least_one")
    if at_least_one and not any(_present(container, n) for n in at_least_one):
        problems.append(f"{where}: needs at least one of {sorted(at_least_one)}")
    just_one = constraints.get("just_one")
    if just_one and sum(_present(container, n) for n in just_one) != 1:
        problems.append(f"{where}: needs exactly one of {sorted(just_one)}")
    return problems


def _check_objects(
    value: Any, attribute: str, path: str, objects: Mapping[str, Any]
) -> list[str]:
    if isinstance(value, list):
        problems: list[str] = []
        for index, item in enumerate(value):
            problems += _check_objects(item, attribute, f"{path}[{index}]", objects)
        return problems
    object_name = _OBJECT_OF_ATTRIBUTE.get(attribute)
    if not isinstance(value, Mapping):
        if object_name is not None:
            return [f"{path}: must be an object ({object_name}), got {value!r}"]
        return []
    problems = []
    if object_name is not None and object_name in objects:
        problems += _check_requirements(value, objects[object_name], path)
    for key, child in value.items():
        if key not in _OPAQUE:
            problems += _check_objects(child, key, f"{path}.{key}", objects)
    return problems


def _check_class(event: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    caption = spec.get("caption", "?")
    where = f"{caption} ({spec.get('class_uid')})"
    problems = _check_requirements(event, spec, where)
    deprecated = spec.get("deprecated")
    if deprecated:
        note = _TAG.sub("", str(_mapping(deprecated).get("message", "")))
        problems.append(f"{where}: class is deprecated. {note}".rstrip())
    if "category_uid" in event and event["category_uid"] != spec.get("category_uid"):
        problems.append(
            f"{where}: category_uid {event['category_uid']!r} should be "
            f"{spec.get('category_uid')}"
        )
    if "class_name" in event and event["class_name"] != caption:
        problems.append(
            f"{where}: class_name {event['class_name']!r} should be {caption!r}"
        )
    activity_id = event.get("activity_id")
    activities = {int(k): v for k, v in _mapping(spec.get("activity_id")).items()}
    if _is_int(activity_id):
        if activity_id not in activities and activity_id not in _UNIVERSAL_ACTIVITIES:
            problems.append(f"{where}: activity_id {activity_id} is not defined")
        expected = activities.get(activity_id)
        name = event.get("activity_name")
        if expected is not None and name is not None and name != expected:
            problems.append(
                f"{where}: activity_name {name!r} should be {expected!r} "
                f"for activity_id {activity_id}"
            )
    return problems


def validate_ocsf(event: Mapping[str, Any], reference: Mapping[str, Any]) -> list[str]:
    """Return the problems of *event* against the schema's requirements.

    *reference* is the requirements data: ``{"classes": {name: {"class_uid",
    "category_uid", "activity_id", "required", "constraints", "deprecated"}},
    "objects": {name: {"required", "constraints"}}}``. Checked: the class is
    known and not deprecated; its required attributes and ``at_least_one``/
    ``just_one`` constraints hold; ``category_uid``, ``class_name``,
    ``activity_id``/``activity_name`` agree with the class; ``type_uid`` is
    ``class_uid * 100 + activity_id``; ``time`` is an integer (milliseconds);
    and every nested object meets its own requirements. ``unmapped`` is
    free-form and not inspected. An empty list means valid.
    """
    problems: list[str] = []
    class_uid = event.get("class_uid")
    activity_id = event.get("activity_id")
    if not _is_int(class_uid):
        problems.append(f"class_uid must be an integer, got {class_uid!r}")
    else:
        classes = _mapping(reference.get("classes")).values()
        spec = next((c for c in classes if c.get("class_uid") == class_uid), None)
        if spec is None:
            problems.append(f"class_uid {class_uid} is not a known class")
        else:
            problems += _check_class(event, spec)
    if not _is_int(activity_id):
        problems.append(f"activity_id must be an integer, got {activity_id!r}")
    elif _is_int(class_uid):
        expected = class_uid * 100 + activity_id
        if event.get("type_uid") != expected:
            problems.append(
                f"type_uid {event.get('type_uid')!r} should be {expected} "
                "(class_uid * 100 + activity_id)"
            )
    if "time" in event and not _is_int(event["time"]):
        problems.append(
            f"time must be integer epoch milliseconds, got {event['time']!r}"
        )
    objects = _mapping(reference.get("objects"))
    for key, value in event.items():
        if key not in _OPAQUE:
            problems += _check_objects(value, key, key, objects)
    return problems
