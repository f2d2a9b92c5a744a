"""The sandbox's seeded organization and its activity.

A parent organization with one linked organization, people of every role,
keys of every kind (Compliance Access Keys with and without each scope, an
Admin API key), and activity of every family the feed reports, by every
actor kind: people signed in or not yet, API keys, Admin API keys, the
SCIM directory sync and Anthropic itself. Times are whole seconds, as the
API's examples print them, and about one activity in twelve shares its
second with the one before, so ties on ``created_at`` (broken by id) are
exercised on every read.

Everything is drawn from the seed: the same seed, the same organization.
"""

from __future__ import annotations

import hashlib
import random
import string
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

from connector_core.sandbox import office_hours


__all__ = [
    "ACTIVITY_MIX",
    "ALL_SCOPES",
    "UNLISTED_TYPE",
    "Activity",
    "ApiKey",
    "OrgData",
    "format_created",
    "stable_id",
]

ALL_SCOPES: Final = (
    "read:compliance_activities",
    "read:compliance_user_data",
    "delete:compliance_user_data",
    "read:compliance_org_data",
)
"""The Compliance Access Key scopes."""

_ALPHABET: Final = string.digits + string.ascii_letters

ACTIVITY_MIX: Final[dict[str, float]] = {
    # sign-in and sign-out
    "sso_login_initiated": 6,
    "sso_login_succeeded": 14,
    "sso_login_failed": 2,
    "magic_link_login_succeeded": 3,
    "magic_link_login_failed": 1,
    "social_login_succeeded": 3,
    "user_logged_out": 5,
    # chats, files, projects
    "claude_chat_created": 22,
    "claude_chat_deleted": 3,
    "claude_file_uploaded": 9,
    "claude_file_deleted": 2,
    "claude_file_exported": 1,
    "platform_file_uploaded": 3,
    "claude_project_created": 2,
    "claude_project_sharing_updated": 1.5,
    # keys
    "api_key_created": 0.6,
    "scoped_api_key_deleted": 0.4,
    "admin_api_key_created": 0.4,
    "platform_api_key_created": 1,
    # members and roles
    "org_user_invite_sent": 1.5,
    "claude_user_role_updated": 1,
    "org_user_deleted": 0.5,
    "role_assignment_granted": 0.8,
    "platform_workspace_member_added": 1,
    "scim_user_created": 1,
    # settings, integrations, exports
    "claude_organization_settings_updated": 0.8,
    "org_compliance_api_settings_updated": 0.2,
    "integration_user_connected": 1.5,
    "audit_log_export_started": 0.3,
    # the vendor and automation acting: Anthropic, a system process, a
    # service account's key, a federated workload identity
    "claude_chat_snapshot_deleted": 0.4,
    "group_member_removed": 0.4,
    "marketplace_created": 0.3,
    "claude_code_security_scan_created": 0.4,
    # newer than any list of types: the feed's ``type`` is an open string
    "claude_canvas_published": 0.5,
}
"""The types generated, with their relative weights."""

UNLISTED_TYPE: Final = "claude_canvas_published"
"""A type no published list names, as the feed keeps adding them: a reader
must pass it through, not refuse it."""

_TIED_SHARE: Final = 0.08
_KEY_CREATIONS: Final = frozenset(
    {"api_key_created", "admin_api_key_created", "platform_api_key_created"}
)


def stable_id(seed: int, purpose: str, length: int = 24) -> str:
    """A base-62 id drawn from *seed* and *purpose*: stable across runs."""
    digest = hashlib.blake2b(f"{seed}:{purpose}".encode(), digest_size=32).digest()
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(length):
        number, rest = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[rest])
    return "".join(chars)


def format_created(moment: datetime) -> str:
    """How the feed prints ``created_at``: whole seconds, ``Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@attrs.frozen
class ApiKey:
    """A key the sandbox accepts.

    Attributes:
        secret: What the client sends.
        key_id: What the feed names it (``apikey_…``, ``adminkey_…``).
        kind: ``compliance`` or ``admin``.
        scopes: The Compliance API scopes it holds.
    """

    secret: str
    key_id: str
    kind: str
    scopes: frozenset[str]


@attrs.frozen
class Activity:
    """One activity, served as :attr:`record`; sorted by :attr:`key`."""

    record: dict[str, Any] = attrs.field(eq=False)
    created_at: datetime
    id: str

    @property
    def key(self) -> tuple[datetime, str]:
        return (self.created_at, self.id)

    @property
    def type(self) -> str:
        return str(self.record["type"])

    @property
    def actor_user_id(self) -> str | None:
        value = self.record["actor"].get("user_id")
        return value if isinstance(value, str) else None


DOMAIN: Final = "acme-corp.example"
"""The seeded company's email domain: the fictional company the project's
other sandboxes seed too, so a demo of several platforms shows the same
people on more than one of them (counted once across platforms)."""

_FIRST_NAMES: Final = (
    "ada", "alan", "amara", "ben", "carla", "chen", "dana", "diego", "elif",
    "emma", "farah", "felix", "grace", "hana", "ivan", "jonas", "kofi", "lena",
    "liam", "maya", "mei", "nadia", "noah", "olga", "omar", "priya", "quinn",
    "ravi", "sara", "sven", "tara", "theo", "uma", "viktor", "wen", "yara",
)  # fmt: skip
_LAST_NAMES: Final = (
    "abbott", "bauer", "costa", "dubois", "eriksen", "fischer", "garcia",
    "haddad", "ito", "jensen", "kowalski", "lindqvist", "moreau", "nakamura",
    "okafor", "petrov", "quintero", "rossi", "schmidt", "tanaka", "usman",
    "varga", "weber", "xu",
)  # fmt: skip


def _members(rng: random.Random, seed: int, count: int) -> list[dict[str, str]]:
    """*count* members with distinct first.last emails at :data:`DOMAIN`."""
    members: list[dict[str, str]] = []
    taken: set[str] = set()
    for n in range(count):
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        local, suffix = f"{first}.{last}", 2
        while local in taken:
            local, suffix = f"{first}.{last}{suffix}", suffix + 1
        taken.add(local)
        members.append(
            {
                "user_id": f"user_{stable_id(seed, f'user-{n}')}",
                "email": f"{local}@{DOMAIN}",
            }
        )
    return members


@attrs.define
class OrgData:
    """A seeded parent organization and its activity, oldest first."""

    seed: int
    start: datetime
    end: datetime
    parent_id: str
    parent_uuid: str
    linked: list[tuple[str, str]]
    users: list[dict[str, str]]
    keys: dict[str, ApiKey]
    activities: list[Activity]

    @classmethod
    def generate(
        cls, *, seed: int, events: int, start: datetime, end: datetime
    ) -> OrgData:
        rng = random.Random(seed)  # noqa: S311 - generated data, not security
        parent = (f"org_{stable_id(seed, 'org')}", _uuid(seed, "org"))
        linked = [parent, (f"org_{stable_id(seed, 'org-2')}", _uuid(seed, "org-2"))]
        users = _members(rng, seed, max(8, events // 40))
        keys = _keys(seed)
        data = cls(
            seed=seed,
            start=start,
            end=end,
            parent_id=parent[0],
            parent_uuid=parent[1],
            linked=linked,
            users=users,
            keys=keys,
            activities=[],
        )
        maker = _Maker(data, rng)
        span = int((end - start).total_seconds())
        previous: datetime | None = None
        types = list(ACTIVITY_MIX)
        weights = list(ACTIVITY_MIX.values())
        made = 0
        while made < events:
            if previous is not None and rng.random() < _TIED_SHARE:
                moment = previous
            else:
                moment = start + timedelta(seconds=rng.randrange(span))
            previous = moment
            kind = types[made] if made < len(types) else rng.choices(types, weights)[0]
            if kind in _KEY_CREATIONS:
                # Keys made at night or on a weekend are the planned ones.
                moment = previous = office_hours(moment, start, end)
            data.activities.append(maker.make(kind, moment, made))
            made += 1
        # Imported here: the plan builds this module's activities.
        from aiaudit_claude.sandbox.risk_seeds import plan  # noqa: PLC0415

        data.activities.extend(plan(data))
        data.activities.sort(key=lambda a: a.key)
        return data

    def add(self, activity: Activity) -> None:
        """One more activity, kept in order."""
        self.activities.append(activity)
        self.activities.sort(key=lambda a: a.key)

    def members(self) -> list[dict[str, Any]]:
        """The Admin API's users: every member, as ``/v1/organizations/users``
        lists them, in the order they were added."""
        roles = ("user", "developer", "admin", "billing", "claude_code_user")
        return [
            {
                "id": user["user_id"],
                "type": "user",
                "email": user["email"],
                "name": f"Member {number:03d}",
                "role": roles[0] if number % 7 else roles[number % 5],
                "added_at": format_created(self.start - timedelta(days=400 - number)),
            }
            for number, user in enumerate(self.users)
        ]

    def key_named(self, kind: str, scopes: frozenset[str] | None = None) -> ApiKey:
        for key in self.keys.values():
            if key.kind == kind and (scopes is None or key.scopes == scopes):
                return key
        raise LookupError(kind)


def _uuid(seed: int, purpose: str) -> str:
    digest = hashlib.blake2b(f"{seed}:{purpose}".encode(), digest_size=16).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"


def _keys(seed: int) -> dict[str, ApiKey]:
    """Every key kind: a full compliance key, one per missing scope (the
    feed's scope missing first), an Admin API key."""
    found: list[ApiKey] = [
        ApiKey(
            secret=f"sk-ant-api01-{stable_id(seed, 'key-full', 40)}",
            key_id=f"apikey_{stable_id(seed, 'key-full-id')}",
            kind="compliance",
            scopes=frozenset(ALL_SCOPES),
        ),
        ApiKey(
            secret=f"sk-ant-admin01-{stable_id(seed, 'key-admin', 40)}",
            key_id=f"adminkey_{stable_id(seed, 'key-admin-id')}",
            kind="admin",
            scopes=frozenset({"read:compliance_activities"}),
        ),
    ]
    for scope in ALL_SCOPES:
        name = scope.replace(":", "-")
        found.append(
            ApiKey(
                secret=f"sk-ant-api01-{stable_id(seed, f'key-no-{name}', 40)}",
                key_id=f"apikey_{stable_id(seed, f'key-no-{name}-id')}",
                kind="compliance",
                scopes=frozenset(ALL_SCOPES) - {scope},
            )
        )
    return {key.secret: key for key in found}


_AGENTS: Final = (
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Safari/605.1.15"
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/126.0 Safari/537.36"
    ),
    "Claude/1.0 (Desktop; macOS)",
)
_FILES: Final = ("quarterly_report.pdf", "notes.txt", "roadmap.docx", "data.csv")
_UNSCOPED: Final = frozenset(
    {
        "sso_login_initiated",
        "sso_login_succeeded",
        "sso_login_failed",
        "magic_link_login_succeeded",
        "magic_link_login_failed",
        "social_login_succeeded",
        "user_logged_out",
    }
)
"""Types the feed ties to no organization."""


class _Maker:
    """Builds one activity of a type, with its actor and its own fields."""

    def __init__(self, data: OrgData, rng: random.Random) -> None:
        self.data = data
        self.rng = rng
        self.weights = [1.0 / (rank + 1) for rank in range(len(data.users))]

    def _user(self) -> dict[str, str]:
        return self.rng.choices(self.data.users, self.weights)[0]

    def _ip(self) -> str:
        return f"192.0.2.{self.rng.randrange(1, 255)}"

    def _user_actor(self, user: dict[str, str] | None = None) -> dict[str, Any]:
        user = user or self._user()
        return {
            "type": "user_actor",
            "email_address": user["email"],
            "user_id": user["user_id"],
            "ip_address": self._ip(),
            "user_agent": self.rng.choice(_AGENTS),
        }

    def _actor(self, kind: str) -> dict[str, Any]:
        data, rng = self.data, self.rng
        if kind in {
            "sso_login_initiated",
            "sso_login_failed",
            "magic_link_login_failed",
        }:
            actor: dict[str, Any] = {
                "type": "unauthenticated_user_actor",
                "ip_address": f"203.0.113.{rng.randrange(1, 255)}",
                "user_agent": rng.choice(_AGENTS),
            }
            if rng.random() < 0.9:  # noqa: PLR2004 - the address is optional
                actor["unauthenticated_email_address"] = self._user()["email"]
            return actor
        if kind == "platform_file_uploaded":
            return {
                "type": "api_actor",
                "api_key_id": "apikey_"
                + stable_id(data.seed, f"app-key-{rng.randrange(3)}"),
                "ip_address": f"198.51.100.{rng.randrange(1, 255)}",
                "user_agent": "anthropic-sdk-python/0.40",
            }
        if kind in {"platform_api_key_created", "platform_workspace_member_added"}:
            admin = data.key_named("admin")
            return {
                "type": "admin_api_key_actor",
                "admin_api_key_id": admin.key_id,
                "ip_address": "198.51.100.20",
                "user_agent": "provisioning/2.1",
            }
        if kind == "scim_user_created":
            return {
                "type": "scim_directory_sync_actor",
                "workos_event_id": "event_"
                + stable_id(data.seed, f"scim-{rng.random()}", 26),
                "directory_id": f"directory_{stable_id(data.seed, 'directory', 26)}",
                "idp_connection_type": "OktaSCIMV2",
            }
        if kind == "claude_organization_settings_updated" and rng.random() < 0.3:  # noqa: PLR2004
            return {"type": "anthropic_actor", "email_address": None}
        return self._automation(kind) or self._user_actor()

    def _automation(self, kind: str) -> dict[str, Any] | None:
        """The actors that are not a person: the vendor, a system process,
        a service account's key, a federated workload identity."""
        seed, rng = self.data.seed, self.rng
        if kind == "claude_chat_snapshot_deleted":
            return {"type": "anthropic_actor", "email_address": None}
        if kind == "group_member_removed":
            return {"type": "system_actor", "service": "directory-reconciliation"}
        if kind == "marketplace_created":
            return {
                "type": "service_account_actor",
                "service_account_id": f"svcacct_{stable_id(seed, 'service-account')}",
                "ip_address": f"203.0.113.{rng.randrange(1, 255)}",
                "user_agent": "ci-runner/2.3",
            }
        if kind == "claude_code_security_scan_created":
            return {
                "type": "federated_identity_actor",
                "issuer": "https://token.actions.example.test",
                "subject": f"repo:example/app{rng.randrange(3)}:ref:refs/heads/main",
                "audience": ["https://api.anthropic.com"],
                "ip_address": f"203.0.113.{rng.randrange(1, 255)}",
                "user_agent": "deploy-bot/1.0",
            }
        return None

    def make(self, kind: str, moment: datetime, number: int) -> Activity:
        data = self.data
        activity_id = f"activity_{stable_id(data.seed, f'activity-{number}', 26)}"
        if kind in _UNSCOPED:
            org: tuple[str | None, str | None] = (None, None)
        else:
            org = self.rng.choices(data.linked, (0.8, 0.2))[0]
        record: dict[str, Any] = {
            "id": activity_id,
            "created_at": format_created(moment),
            "organization_id": org[0],
            "organization_uuid": org[1],
            "actor": self._actor(kind),
            "type": kind,
        }
        record.update(self._fields(kind, number))
        return Activity(record=record, created_at=moment, id=activity_id)

    def _fields(self, kind: str, number: int) -> dict[str, Any]:  # noqa: C901, PLR0911, PLR0912 - one branch per family
        seed, rng = self.data.seed, self.rng
        chat = f"claude_chat_{stable_id(seed, f'chat-{rng.randrange(400)}')}"
        project = f"claude_proj_{stable_id(seed, f'proj-{rng.randrange(40)}')}"
        file_id = f"claude_file_{stable_id(seed, f'file-{number}')}"
        filename = rng.choice(_FILES)
        other = self._user()
        if kind == "magic_link_login_succeeded":
            return {"auth_method": "magic_link", "mfa_method": None}
        if kind == "social_login_succeeded":
            return {"provider": "google", "auth_method": "social", "mfa_method": None}
        if kind in {"claude_chat_created", "claude_chat_deleted"}:
            in_project = rng.random() < 0.3  # noqa: PLR2004
            return {
                "claude_chat_id": chat,
                "claude_project_id": project if in_project else None,
            }
        if kind == "claude_file_uploaded":
            return {
                "filename": filename,
                "claude_file_id": file_id,
                "claude_chat_id": chat,
                "claude_project_id": None,
            }
        if kind in {"claude_file_deleted", "claude_file_exported"}:
            return {"claude_file_id": file_id, "filename": filename}
        if kind == "platform_file_uploaded":
            return {
                "file_id": f"file_{stable_id(seed, f'pf-{number}')}",
                "session_id": None,
            }
        if kind == "claude_project_created":
            return {"claude_project_id": project}
        if kind == "claude_project_sharing_updated":
            return {
                "claude_project_id": project,
                "audience": [
                    {"type": "user", "user_id": other["user_id"], "role": "editor"}
                ],
            }
        if kind == "api_key_created":
            return {
                "api_key_id": f"apikey_{stable_id(seed, f'made-{number}')}",
                "scopes": ["read:compliance_activities"],
                "restricted_to_organization": False,
            }
        if kind == "scoped_api_key_deleted":
            return {
                "api_key_id": f"apikey_{stable_id(seed, f'gone-{number}')}",
                "api_key_name": "siem-forwarder",
                "scopes": ["read:compliance_activities"],
            }
        if kind == "admin_api_key_created":
            return {
                "admin_api_key_id": f"adminkey_{stable_id(seed, f'adm-{number}')}",
                "scopes": [],
            }
        if kind == "platform_api_key_created":
            return {"api_key_id": f"apikey_{stable_id(seed, f'plat-{number}')}"}
        if kind == "org_user_invite_sent":
            return {
                "invited_email": f"invitee{number}@example.test",
                "invited_role": "user",
            }
        if kind == "claude_user_role_updated":
            return {
                "user_id": other["user_id"],
                "user_email": other["email"],
                "previous_role": "user",
                "current_role": rng.choice(("owner", "membership_admin")),
            }
        if kind == "org_user_deleted":
            return {
                "deleted_user_id": other["user_id"],
                "deleted_user_email": other["email"],
            }
        if kind == "role_assignment_granted":
            return {
                "target_id": other["user_id"],
                "target_type": "user",
                "role": "project_admin",
                "resource_type": "project",
                "resource_id": project,
            }
        if kind == "platform_workspace_member_added":
            return {
                "workspace_id": f"wrkspc_{stable_id(seed, 'ws')}",
                "user_id": other["user_id"],
            }
        if kind == "scim_user_created":
            return {"user_id": other["user_id"]}
        if kind == "claude_organization_settings_updated":
            return {
                "updates": [
                    {
                        "type": "data_retention_days",
                        "previous_value": "365",
                        "current_value": "90",
                    }
                ]
            }
        if kind == "org_compliance_api_settings_updated":
            return {
                "compliance_api_enabled": True,
                "compliance_api_logging_enabled": True,
            }
        if kind == "integration_user_connected":
            return {
                "integration_type": "remote_mcp_server",
                "mcp_server_id": f"mcpsrv_{stable_id(seed, 'mcp')}",
                "mcp_server_name": "Tracker",
            }
        if kind == "claude_chat_snapshot_deleted":
            snapshot = stable_id(seed, f"snapshot-{number}")
            return {"claude_chat_snapshot_id": f"claude_chat_snapshot_{snapshot}"}
        if kind == "group_member_removed":
            return {
                "group_id": f"group_{stable_id(seed, f'group-{rng.randrange(5)}')}",
                "member_ids": [other["user_id"]],
            }
        if kind == "marketplace_created":
            return {"marketplace_id": f"marketplace_{stable_id(seed, f'mkt-{number}')}"}
        if kind == "claude_code_security_scan_created":
            return {
                "scan_id": f"scan_{stable_id(seed, f'scan-{number}')}",
                "scan_project_id": f"scanproj_{stable_id(seed, 'scan-project')}",
            }
        if kind == UNLISTED_TYPE:
            return {"canvas_id": f"canvas_{stable_id(seed, f'canvas-{number}')}"}
        if kind == "audit_log_export_started":
            return {"from_date": "2024-01-01", "to_date": "2024-12-31"}
        return {}
