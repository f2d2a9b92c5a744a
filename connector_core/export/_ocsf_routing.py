"""Which OCSF class, activity and status an audit log becomes.

The action decides, not the platform: its last segment is a verb each class
reads in its own activity vocabulary, and its first names what was acted on
(a user, a group, a configured entity, a file). The rules are tried in
order and the first that claims an action wins; whatever none claims is an
API call. ``docs/exports.md`` lists the mapping for people.

Part of :mod:`connector_core.export.ocsf`, which re-exports
:func:`ocsf_class_for`; the names here without an underscore are shared
with the event builder only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import attrs

from connector_core.models import AIActivityType, AIAuditLog


SUCCESS: Final = 1
FAILURE: Final = 2
OTHER: Final = 99
"""OCSF's "Other" activity: the source's own value is in ``activity_name``."""

TENANT_PREFIX: Final = "tenant."
"""Tenant-scoped admin actions are the organization's one level up."""


@attrs.frozen
class OCSFClass:
    """An OCSF event class as the export uses it: ids, names, activities."""

    name: str
    uid: int
    category_uid: int
    category_name: str
    activities: Mapping[int, str]


_IAM: Final = (3, "Identity & Access Management")
_APPLICATION: Final = (6, "Application Activity")

AUTHENTICATION: Final = OCSFClass(
    "Authentication", 3002, *_IAM, {1: "Logon", 2: "Logoff"}
)
ENTITY_MANAGEMENT: Final = OCSFClass(
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
GROUP_MANAGEMENT: Final = OCSFClass(
    "Group Management",
    3006,
    *_IAM,
    {3: "Add User", 4: "Remove User", 5: "Delete", 6: "Create", 9: "Update"},
)
USER_MANAGEMENT: Final = OCSFClass(
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
API_ACTIVITY: Final = OCSFClass(
    "API Activity",
    6003,
    *_APPLICATION,
    {1: "Create", 2: "Read", 3: "Update", 4: "Delete"},
)
FILE_HOSTING: Final = OCSFClass(
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
    "user.login": (1, SUCCESS),
    "user.login.failed": (1, FAILURE),
    "user.logout": (2, SUCCESS),
    "user.logout.failed": (2, FAILURE),
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
_ASSIGN_ROLES: Final = 16
_FILE_ACTIVITY_TYPES: Final[Mapping[AIActivityType, int]] = {
    AIActivityType.FILE_UPLOAD: 1,
    AIActivityType.FILE_DOWNLOAD: 2,
}
_KEY_ACTIVITY_TYPES: Final = frozenset(
    {AIActivityType.API_KEY_CREATED, AIActivityType.API_KEY_DELETED}
)


@attrs.frozen
class Route:
    """Where one log lands: its class, activity and status."""

    cls: OCSFClass
    activity_id: int
    status_id: int = SUCCESS


@attrs.frozen
class _Action:
    """An action split into what the routing rules look at."""

    core: str  # without the ``tenant.`` prefix
    tenant: bool
    segments: tuple[str, ...]

    @classmethod
    def parse(cls, action: str) -> _Action:
        core = action.removeprefix(TENANT_PREFIX)
        return cls(
            core=core,
            tenant=action.startswith(TENANT_PREFIX),
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
        return FAILURE if self.verb == "failed" else SUCCESS


def _authentication(log: AIAuditLog, action: _Action) -> Route | None:
    if action.core in _AUTH_ACTIONS:
        activity, status = _AUTH_ACTIONS[action.core]
        return Route(AUTHENTICATION, activity, status)
    if log.activity_type in {AIActivityType.LOGIN, AIActivityType.LOGOUT}:
        # Another platform's sign-in under its own action name.
        activity = 1 if log.activity_type is AIActivityType.LOGIN else 2
        return Route(AUTHENTICATION, activity, action.status)
    return None


def _group_management(log: AIAuditLog, action: _Action) -> Route | None:
    if action.noun != "group":
        return None
    # group.member.added, not group.added: a membership, not a group, changed.
    inner = action.segments[1:-1]
    verbs = _GROUP_MEMBER_VERBS if {"member", "user"} & set(inner) else _GROUP_VERBS
    return Route(GROUP_MANAGEMENT, verbs.get(action.verb, OTHER), action.status)


def _user_management(log: AIAuditLog, action: _Action) -> Route | None:
    if action.noun not in _USER_NOUNS and not action.noun.endswith("_invite"):
        return None
    role_change = "role" in action.segments[1:-1] and action.verb in {
        "updated",
        "changed",
    }
    activity = _ASSIGN_ROLES if role_change else _USER_VERBS.get(action.verb, OTHER)
    return Route(USER_MANAGEMENT, activity, action.status)


def _file_hosting(log: AIAuditLog, action: _Action) -> Route | None:
    by_type = _FILE_ACTIVITY_TYPES.get(log.activity_type)
    if action.noun != "file" and by_type is None:
        return None
    activity = _FILE_VERBS.get(action.verb, by_type or OTHER)
    return Route(FILE_HOSTING, activity, action.status)


def _entity_management(log: AIAuditLog, action: _Action) -> Route | None:
    if not (
        action.noun in _ENTITY_NOUNS
        or action.tenant
        or log.activity_type in _KEY_ACTIVITY_TYPES
    ):
        return None
    activity = _ENTITY_VERBS.get(action.verb, OTHER)
    return Route(ENTITY_MANAGEMENT, activity, action.status)


_RULES: Final = (
    _authentication,
    _group_management,
    _user_management,
    _file_hosting,
    _entity_management,
)
"""Tried in order; the first that claims an action decides its class."""


def route(log: AIAuditLog) -> Route:
    """Decide class, activity and status from the action (and activity type).

    Tenant-scoped admin events (``tenant.user.added``) are the organization
    events one level up, so the ``tenant.`` prefix is looked through; a
    tenant event that is not about users or groups is an administrative
    change to a tenant resource, hence Entity Management. Whatever no rule
    claims (conversations, GPTs, pass-through types) is an API call.
    """
    action = _Action.parse(log.action)
    for rule in _RULES:
        found = rule(log, action)
        if found is not None:
            return found
    activity = _API_ACTIONS.get(action.core, _API_VERBS.get(action.verb, OTHER))
    return Route(API_ACTIVITY, activity, action.status)


def ocsf_class_for(log: AIAuditLog) -> tuple[str, int]:
    """The OCSF class *log* is exported as: ``(class name, class_uid)``.

    For callers that route or count events by class without building them.
    """
    found = route(log)
    return found.cls.name, found.cls.uid
