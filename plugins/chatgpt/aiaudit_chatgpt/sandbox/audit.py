"""Over 800 lines: the columns, id cipher and query planner share one row layout.

The organization's audit log, as ``/v1/organization/audit_logs`` serves it.

A million events must page fast and fit in little memory, so nothing here is
a list of dicts. Each event is a row of compact columns (time, type, actor,
project, resource); the JSON record is rendered from its row and a per-event
hash only when a page asks for it. Filters are answered from per-value index
arrays found with ``bisect``: the cost of a page depends on the page size,
never on where in the stream it starts.

Ordering is what the real endpoint does: newest first, by ``effective_at``
and, within a second, by the event's position. ``after=<id>`` continues with
older events, ``before=<id>`` returns the page of newer events just above it.

Event ids look like the real ones (``audit_log-<token>_<yyyymmdd>``) and
encode the event's position through a keyed permutation, so a cursor is
decoded without a lookup table and a forged one is refused.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import random
from array import array
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import attrs

from aiaudit_chatgpt.sandbox._web import Publication
from aiaudit_chatgpt.sandbox.org import Organization, stable_token
from aiaudit_chatgpt.sandbox.poison import dumps, poison_admin
from aiaudit_chatgpt.sandbox.risk_seeds import (
    ABROAD,
    MIN_EVENTS,
    SeededEvent,
    plan,
    seeded_admin_key_id,
)
from connector_core.sandbox import OFFICE_HOURS


if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence


__all__ = [
    "EVENT_TYPES",
    "TENANT_EVENT_TYPES",
    "AuditLogData",
    "AuditQuery",
]


@attrs.frozen
class _Kind:
    name: str
    weight: float
    resource: str | None = None  # the pool its payload ``id`` is drawn from
    project: bool = False  # scoped to a project
    session_only: bool = False  # only a signed-in person does this
    null_actor: float = 0.0  # share of events with no actor (SCIM, expiry)
    tenant: bool = False  # returned only with tenant_only=true


_KINDS: Final = (
    _Kind("login.succeeded", 300, session_only=True),
    _Kind("login.failed", 40, session_only=True),
    _Kind("logout.succeeded", 100, session_only=True),
    _Kind("logout.failed", 3, session_only=True),
    _Kind("api_key.created", 30, "api_key", project=True),
    _Kind("api_key.updated", 10, "api_key", project=True),
    _Kind("api_key.deleted", 15, "api_key", project=True),
    _Kind("project.created", 8, "project", project=True),
    _Kind("project.updated", 8, "project", project=True),
    _Kind("project.archived", 2, "project", project=True),
    _Kind("project.deleted", 1, "project", project=True),
    _Kind("user.added", 10, "user"),
    _Kind("user.updated", 7, "user"),
    _Kind("user.deleted", 3, "user", null_actor=0.5),
    _Kind("invite.sent", 12, "invite"),
    _Kind("invite.accepted", 9, "invite"),
    _Kind("invite.deleted", 2, "invite", null_actor=0.6),
    _Kind("service_account.created", 3, "service_account", project=True),
    _Kind("service_account.updated", 2, "service_account", project=True),
    _Kind("service_account.deleted", 1, "service_account", project=True),
    _Kind("organization.updated", 2, "organization"),
    _Kind("rate_limit.updated", 3, "rate_limit", project=True),
    _Kind("rate_limit.deleted", 0.5, "rate_limit", project=True),
    _Kind("role.created", 1, "role"),
    _Kind("role.updated", 0.7, "role"),
    _Kind("role.deleted", 0.3, "role"),
    _Kind("role.assignment.created", 3, "role"),
    _Kind("role.assignment.deleted", 1, "role"),
    _Kind("group.created", 0.5, "group"),
    _Kind("group.updated", 0.5, "group"),
    _Kind("group.deleted", 0.2, "group"),
    _Kind("ip_allowlist.created", 0.3, "ip_allowlist"),
    _Kind("ip_allowlist.updated", 0.3, "ip_allowlist"),
    _Kind("ip_allowlist.config.activated", 0.2, "ip_allowlist"),
    _Kind("checkpoint.permission.created", 0.3, "checkpoint", project=True),
    _Kind("certificate.created", 0.2, "certificate"),
    _Kind("scim.enabled", 0.05, "organization", null_actor=1.0),
    _Kind("external_key.registered", 0.2, "external_key"),
    # In the spec's enum but without a payload schema: passed through as is.
    _Kind("resource.deleted", 0.5, "resource"),
    _Kind("tunnel.created", 0.2, "tunnel"),
    # Tenant-scoped: only with tenant_only=true.
    _Kind("role.bound_to_resource", 3, "connector", tenant=True),
    _Kind("role.unbound_from_resource", 1, "connector", tenant=True),
    _Kind("tenant.user.added", 2, "user", tenant=True),
    _Kind("tenant.user.removed", 0.5, "user", tenant=True),
    _Kind("tenant.policy.updated", 0.5, "policy", tenant=True),
    _Kind("tenant.group.member.added", 1, "group", tenant=True),
    _Kind("tenant.session_revocation.started", 0.2, "user", tenant=True),
    # Never drawn: only planned (risk_seeds). Last, so that the codes and
    # the draws of the kinds above stay what they were.
    _Kind("tenant.admin_api_key.created", 0, "admin_api_key", tenant=True),
    _Kind("tenant.sso_connection.created", 0, "sso_connection", tenant=True),
)

EVENT_TYPES: Final = tuple(kind.name for kind in _KINDS)
"""Every event type the sandbox generates."""

TENANT_EVENT_TYPES: Final = frozenset(k.name for k in _KINDS if k.tenant)
"""The tenant-scoped ones, served only with ``tenant_only=true``."""

_CODE: Final = {kind.name: code for code, kind in enumerate(_KINDS)}
_TENANT_CODES: Final = frozenset(_CODE[name] for name in TENANT_EVENT_TYPES)
_SESSION_CODES: Final = frozenset(c for c, k in enumerate(_KINDS) if k.session_only)

_MASK32: Final = 0xFFFFFFFF
_MULTIPLIER: Final = 0x9E3779B1  # odd, so invertible modulo 2**32
_INVERSE: Final = pow(_MULTIPLIER, -1, 1 << 32)
_TOKEN_WIDTH: Final = 7  # 36**7 > 2**32

_HOUR_WEIGHTS: Final = (
    1, 1, 1, 1, 1, 2, 4, 8, 14, 18, 19, 18, 15, 17, 19, 18, 16, 12, 8, 6, 4, 3, 2, 1,
)  # fmt: skip
_WEEKDAY_WEIGHTS: Final = (10, 10, 10, 10, 9, 3, 2)  # Monday first
_BURST_SHARE: Final = 0.04  # events that share their second with the previous
_SESSION_SHARE: Final = 0.75  # of actions a person takes signed in
_USER_KEY_SHARE: Final = 0.15  # with their own API key; the rest are services

_USER_AGENTS: Final = (
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Safari/605.1.15"
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
    ),
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "OpenAI/Python 1.99.0",
)
_PLACES: Final = (
    ("US", "San Francisco", "California", "CA", "13335", "37.77490", "-122.41940"),
    ("US", "New York", "New York", "NY", "7922", "40.71280", "-74.00600"),
    ("GB", "London", "England", "ENG", "5089", "51.50740", "-0.12780"),
    ("DE", "Berlin", "Berlin", "BE", "3320", "52.52000", "13.40500"),
    ("IN", "Mumbai", "Maharashtra", "MH", "55256", "19.07283", "72.88261"),
    ("JP", "Tokyo", "Tokyo", "13", "2516", "35.67620", "139.65030"),
)
_LOGIN_ERRORS: Final = (
    ("invalid_credentials", "Wrong email or password."),
    ("mfa_failed", "The verification code is incorrect."),
    ("sso_error", "The identity provider rejected the sign-in."),
)


def _permute(index: int, key: int) -> int:
    return ((index * _MULTIPLIER) & _MASK32) ^ key


def _unpermute(token: int, key: int) -> int:
    return ((token ^ key) * _INVERSE) & _MASK32


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = []
    while value:
        value, rest = divmod(value, 36)
        out.append(digits[rest])
    return "".join(reversed(out)).rjust(_TOKEN_WIDTH, "0")


@attrs.frozen(kw_only=True)
class AuditQuery:
    """A parsed ``audit_logs`` request.

    Attributes:
        gt, gte, lt, lte: Bounds on ``effective_at`` (Unix seconds).
        event_types: Only these types; ``None`` means every type of the
            requested scope (tenant or not).
        actor_ids: User ids, service-account ids or API-key tracking ids.
        actor_emails: Emails of the acting users.
        project_ids: Only events scoped to these projects.
        resource_ids: Only events performed on these targets.
        tenant_only: Tenant-scoped events instead of organization ones.
        limit: Page size, 1 to 100.
        after: Continue with events older than this id.
        before: The page of events newer than this id.
    """

    gt: int | None = None
    gte: int | None = None
    lt: int | None = None
    lte: int | None = None
    event_types: frozenset[str] | None = None
    actor_ids: frozenset[str] | None = None
    actor_emails: frozenset[str] | None = None
    project_ids: frozenset[str] | None = None
    resource_ids: frozenset[str] | None = None
    tenant_only: bool = False
    limit: int = 20
    after: str | None = None
    before: str | None = None


class InvalidCursorError(ValueError):
    """An ``after``/``before`` id that this log never issued."""


class AuditLogData:
    """The generated audit log of one organization.

    Build it with :meth:`generate`; query it with :meth:`page`.
    """

    def __init__(
        self,
        org: Organization,
        *,
        times: array[int],
        types: bytearray,
        actors: array[int],
        projects: array[int],
        resources: array[int],
        resource_ids: list[str],
    ) -> None:
        self.org = org
        self.times = times
        self.types = types
        self.actors = actors
        self.projects = projects
        self.resources = resources
        self.resource_ids = resource_ids
        self._key = int(stable_token(org.seed, "audit-ids", length=8), 16)
        self._users = len(org.users)
        self._resource_codes = {rid: code for code, rid in enumerate(resource_ids)}
        self._by_type = _index(types, len(_KINDS))
        self._by_actor = _index(actors, 2 * self._users + len(org.service_accounts))
        self._by_project = _index(projects, len(org.projects))
        self._by_resource = _index(resources, len(resource_ids))
        self._user_codes = {u.id: u.index for u in org.users}
        self._email_codes = {u.email: u.index for u in org.users}
        self._key_codes = {u.key_id: self._users + u.index for u in org.users}
        self._sa_codes = {
            sa.id: 2 * self._users + sa.index for sa in org.service_accounts
        }
        self._sa_codes.update(
            {sa.key_id: 2 * self._users + sa.index for sa in org.service_accounts}
        )
        self._project_codes = {p.id: p.index for p in org.projects}
        self.publication = Publication(0.0)
        self.hidden: frozenset[int] = frozenset()
        self.poisoned: dict[int, str] = {}
        """Events served spoiled, by position, with the spoil (``poisoned``)."""
        self.seeded: dict[int, SeededEvent] = {}
        """The planned events (:mod:`.risk_seeds`), by position."""
        """Positions held back until :attr:`publication` says (``late``)."""

    def __len__(self) -> int:
        return len(self.times)

    # -- generation ---------------------------------------------------------

    @classmethod
    def generate(cls, org: Organization, *, events: int) -> AuditLogData:
        """Generate *events* events over the organization's time span."""
        rng = random.Random(f"audit:{org.seed}")  # noqa: S311 - test data
        times = _event_times(rng, org, events)
        types = bytearray(
            rng.choices(
                range(len(_KINDS)), weights=[k.weight for k in _KINDS], k=events
            )
        )
        _office_hours_keys(times, types)
        people = rng.choices(range(len(org.users)), weights=org.user_weights, k=events)
        pools = _resource_pools(org)
        offsets: dict[str, int] = {}
        resource_ids: list[str] = []
        for name, pool in pools.items():
            offsets[name] = len(resource_ids)
            resource_ids.extend(pool)
        actors = array("l", [0]) * events
        projects = array("h", [-1]) * events
        resources = array("l", [-1]) * events
        for i in range(events):
            kind = _KINDS[types[i]]
            actors[i] = actor = _pick_actor(rng, org, kind, people[i])
            if kind.project:
                projects[i] = _pick_project(rng, org, actor)
            if kind.resource is not None:
                if kind.resource == "project" and projects[i] >= 0:
                    pick = projects[i]
                else:
                    pick = rng.randrange(len(pools[kind.resource]))
                resources[i] = offsets[kind.resource] + pick
        columns = (times, types, actors, projects, resources)
        seeds = plan(org) if events >= MIN_EVENTS else []
        columns, seeded = _with_seeds(org, columns, seeds, offsets)
        times, types, actors, projects, resources = columns
        data = cls(
            org,
            times=times,
            types=types,
            actors=actors,
            projects=projects,
            resources=resources,
            resource_ids=resource_ids,
        )
        data.seeded = seeded
        return data

    # -- ids ----------------------------------------------------------------

    def event_id(self, index: int) -> str:
        """The public id of the event at *index*."""
        day = datetime.fromtimestamp(self.times[index], UTC).strftime("%Y%m%d")
        return f"audit_log-{_base36(_permute(index, self._key))}_{day}"

    def index_of(self, event_id: str) -> int:
        """The position of *event_id*.

        Raises:
            InvalidCursorError: The id was never issued by this log.
        """
        prefix, _, rest = event_id.partition("-")
        token, _, day = rest.partition("_")
        if prefix != "audit_log" or len(token) != _TOKEN_WIDTH or len(day) != 8:  # noqa: PLR2004
            raise InvalidCursorError(event_id)
        try:
            index = _unpermute(int(token, 36), self._key)
        except ValueError:
            raise InvalidCursorError(event_id) from None
        if index >= len(self.times) or self.event_id(index) != event_id:
            raise InvalidCursorError(event_id)
        return index

    # -- rendering ----------------------------------------------------------

    def event_type(self, index: int) -> str:
        return _KINDS[self.types[index]].name

    def record(self, index: int) -> dict[str, Any]:
        """The event at *index* as the API serves it."""
        kind = _KINDS[self.types[index]]
        digest = hashlib.blake2b(
            index.to_bytes(8, "little"),
            key=self.org.seed.to_bytes(8, "little", signed=True),
            digest_size=16,
        ).digest()
        record: dict[str, Any] = {
            "id": self.event_id(index),
            "object": "organization.audit_log",
            "type": kind.name,
            "effective_at": self.times[index],
            "actor": self._actor(self.actors[index], digest, self.seeded.get(index)),
        }
        project = self.projects[index]
        if project >= 0:
            p = self.org.projects[project]
            record["project"] = {"id": p.id, "name": p.name}
        payload = self._payload(kind, index, digest)
        seeded = self.seeded.get(index)
        if seeded is not None and seeded.payload:
            payload = {**(payload or {}), **seeded.payload}
        if payload is not None:
            record[kind.name] = payload
        poison = self.poisoned.get(index)
        if poison is not None:
            poison_admin(record, poison)
        return record

    def poison_candidates(self) -> list[int]:
        """Organization events whose actor is a session (which has a user
        id, an email and an IP address to spoil), oldest first."""
        users = self._users
        return [
            i
            for i in range(len(self.times))
            if 0 <= self.actors[i] < users and self.types[i] not in _TENANT_CODES
        ]

    def records(self, indices: Iterable[int]) -> list[dict[str, Any]]:
        return [self.record(i) for i in indices]

    def _actor(
        self, code: int, digest: bytes, seeded: SeededEvent | None = None
    ) -> dict[str, Any] | None:
        users = self._users
        if code < 0:
            return None
        if code < users:
            user = self.org.users[code]
            # People sign in from home, and now and then from somewhere else.
            travel = digest[0] < 16  # noqa: PLR2004 - about 6% of sessions
            if seeded is not None and seeded.place is not None:
                travel = False
            place = _PLACES[(code * 7 + travel * digest[1]) % len(_PLACES)]
            subnet = (code * 37 + travel * digest[2]) % 200 + 20
            if seeded is not None and seeded.place == "abroad":
                place, subnet = ABROAD, 177
            ip = f"{subnet}.{(code * 11) % 256}.{digest[3]}.{digest[4] % 254 + 1}"
            return {
                "type": "session",
                "session": {
                    "user": {"id": user.id, "email": user.email},
                    "ip_address": ip,
                    "user_agent": _USER_AGENTS[digest[5] % 3],
                    "ja3": digest[6:10].hex() * 4,
                    "ja4": f"t13d{1500 + digest[10]}h2_{digest[11:14].hex()}",
                    "ip_address_details": {
                        "country": place[0],
                        "city": place[1],
                        "region": place[2],
                        "region_code": place[3],
                        "asn": place[4],
                        "latitude": place[5],
                        "longitude": place[6],
                    },
                },
            }
        if code < 2 * users:
            user = self.org.users[code - users]
            return {
                "type": "api_key",
                "api_key": {
                    "id": user.key_id,
                    "type": "user",
                    "user": {"id": user.id, "email": user.email},
                },
            }
        sa = self.org.service_accounts[code - 2 * users]
        return {
            "type": "api_key",
            "api_key": {
                "id": sa.key_id,
                "type": "service_account",
                "service_account": {"id": sa.id},
            },
        }

    def _payload(  # noqa: C901, PLR0911, PLR0912 - one branch per event family
        self, kind: _Kind, index: int, digest: bytes
    ) -> dict[str, Any] | None:
        name = kind.name
        rid = self.resource_ids[self.resources[index]] if kind.resource else None
        pick = digest[12]
        if name in {"login.succeeded", "logout.succeeded"}:
            return {}
        if name in {"login.failed", "logout.failed"}:
            code, message = _LOGIN_ERRORS[pick % len(_LOGIN_ERRORS)]
            return {"error_code": code, "error_message": message}
        if name == "api_key.created":
            scopes = ["api.model.request"] if pick % 3 else ["api.all"]
            return {"id": rid, "data": {"scopes": scopes}}
        if name == "api_key.updated":
            return {"id": rid, "changes_requested": {"scopes": ["api.model.read"]}}
        if name == "project.created":
            project = self.org.projects[self.projects[index]]
            return {"id": rid, "data": {"name": project.name, "title": project.name}}
        if name == "project.updated":
            return {"id": rid, "changes_requested": {"title": f"Renamed {pick}"}}
        if name in {"user.added", "service_account.created"}:
            return {"id": rid, "data": {"role": "owner" if pick < 26 else "member"}}  # noqa: PLR2004
        if name in {"user.updated", "service_account.updated"}:
            return {"id": rid, "changes_requested": {"role": "member"}}
        if name == "invite.sent":
            person = self.org.users[digest[13] % self._users]
            return {"id": rid, "data": {"email": person.email, "role": "member"}}
        if name == "organization.updated":
            return {
                "id": rid,
                "changes_requested": {"threads_ui_visibility": "OWNERS"},
            }
        if name == "rate_limit.updated":
            return {
                "id": rid,
                "changes_requested": {"max_requests_per_1_minute": 500 + pick},
            }
        if name == "role.created":
            return {
                "id": rid,
                "role_name": f"custom-role-{pick % 5}",
                "permissions": ["api.model.request"],
                "resource_type": "api.organization",
                "resource_id": self.org.org_id,
            }
        if name in {"role.assignment.created", "role.assignment.deleted"}:
            person = self.org.users[digest[13] % self._users]
            return {
                "id": rid,
                "principal_id": person.id,
                "principal_type": "user",
                "resource_id": self.org.org_id,
                "resource_type": "api.organization",
            }
        if name == "group.created":
            return {"id": rid, "data": {"group_name": f"team-{pick % 9}"}}
        if name == "ip_allowlist.created":
            return {"id": rid, "name": "office", "allowed_ips": ["203.0.113.0/24"]}
        if name == "ip_allowlist.updated":
            return {"id": rid, "allowed_ips": ["203.0.113.0/24", "198.51.100.7"]}
        if name == "ip_allowlist.config.activated":
            return {"configs": [{"id": rid, "name": "office"}]}
        if name == "checkpoint.permission.created":
            project = self.org.projects[self.projects[index]]
            return {
                "id": rid,
                "data": {
                    "project_id": project.id,
                    "fine_tuned_model_checkpoint": f"ft:gpt-4o-mini:acme::{pick}",
                },
            }
        if name == "certificate.created":
            return {"id": rid, "name": "mtls-gateway"}
        if name in {"role.bound_to_resource", "role.unbound_from_resource"}:
            connector = f"connector_{pick % 7}"
            return {
                "id": f"{self.org.workspace_id}__{connector}",
                "role_id": f"role_{pick % 3}",
                "resource_id": rid,
                "resource_type": "chatgpt.connector",
                "permissions": ["connector.use"],
                "workspace_id": self.org.workspace_id,
                "connector_id": connector,
                "connector_name": ("Google Drive", "Slack", "GitHub")[pick % 3],
                "enabled": name == "role.bound_to_resource",
                "source": "role_toggle",
            }
        return {"id": rid} if rid is not None else None

    # -- querying -----------------------------------------------------------

    def page(self, query: AuditQuery) -> tuple[list[int], bool]:
        """The event positions of one page, newest first, and ``has_more``.

        Raises:
            InvalidCursorError: ``after`` or ``before`` is not one of ours.
        """
        low, high = self._time_range(query)
        sources, check = self._plan(query, low, high)
        limit = query.limit
        if query.before is not None:
            start = max(low, self.index_of(query.before) + 1)
            found = _take(_ascending(sources, start, high), check, limit + 1)
            has_more = len(found) > limit
            return list(reversed(found[:limit])), has_more
        end = high
        if query.after is not None:
            end = min(high, self.index_of(query.after))
        found = _take(_descending(sources, end, low), check, limit + 1)
        return found[:limit], len(found) > limit

    def select(self, query: AuditQuery) -> Iterator[int]:
        """Every matching position, newest first, ignoring limit and cursors."""
        low, high = self._time_range(query)
        sources, check = self._plan(query, low, high)
        for index in _descending(sources, high, low):
            if check(index):
                yield index

    def _time_range(self, query: AuditQuery) -> tuple[int, int]:
        times = self.times
        low, high = 0, len(times)
        if query.gte is not None:
            low = max(low, bisect.bisect_left(times, query.gte))
        if query.gt is not None:
            low = max(low, bisect.bisect_right(times, query.gt))
        if query.lte is not None:
            high = min(high, bisect.bisect_right(times, query.lte))
        if query.lt is not None:
            high = min(high, bisect.bisect_left(times, query.lt))
        return low, max(low, high)

    def _plan(
        self, query: AuditQuery, low: int, high: int
    ) -> tuple[Sequence[Sequence[int]] | None, Any]:
        """Pick the most selective index to walk and the checks for the rest."""
        type_codes = (
            frozenset(_CODE[t] for t in query.event_types if t in _CODE)
            if query.event_types is not None
            else frozenset(
                c
                for c in range(len(_KINDS))
                if (c in _TENANT_CODES) == query.tenant_only
            )
        )
        dimensions: list[tuple[frozenset[int], list[array[int]], Any]] = [
            (type_codes, self._by_type, self.types)
        ]
        actor_codes = self._actor_codes(query)
        if actor_codes is not None:
            dimensions.append((actor_codes, self._by_actor, self.actors))
        if query.project_ids is not None:
            codes = frozenset(
                self._project_codes[p]
                for p in query.project_ids
                if p in self._project_codes
            )
            dimensions.append((codes, self._by_project, self.projects))
        if query.resource_ids is not None:
            codes = frozenset(
                self._resource_codes[r]
                for r in query.resource_ids
                if r in self._resource_codes
            )
            dimensions.append((codes, self._by_resource, self.resources))

        def size(dim: tuple[frozenset[int], list[array[int]], Any]) -> int:
            codes, index, _ = dim
            return sum(
                bisect.bisect_left(index[c], high) - bisect.bisect_left(index[c], low)
                for c in codes
            )

        sizes = [size(d) for d in dimensions]
        driver = min(range(len(dimensions)), key=sizes.__getitem__)
        # Walking the plain range is cheapest when no filter narrows it much.
        walk_all = sizes[driver] * 2 >= high - low
        sources = (
            None
            if walk_all
            else [dimensions[driver][1][c] for c in dimensions[driver][0]]
        )
        checks = [
            (codes, column)
            for n, (codes, _, column) in enumerate(dimensions)
            if walk_all or n != driver
        ]

        def check(index: int) -> bool:
            return all(column[index] in codes for codes, column in checks)

        if self.hidden and not self.publication.published():
            hidden, visible = self.hidden, check

            def check(index: int) -> bool:
                return index not in hidden and visible(index)

        return sources, check

    def _actor_codes(self, query: AuditQuery) -> frozenset[int] | None:
        if query.actor_ids is None and query.actor_emails is None:
            return None
        codes: set[int] = set()
        for actor in query.actor_ids or ():
            if actor in self._user_codes:
                user = self._user_codes[actor]
                codes.update((user, self._users + user))
            elif actor in self._key_codes:
                codes.add(self._key_codes[actor])
            elif actor in self._sa_codes:
                codes.add(self._sa_codes[actor])
        email_codes: set[int] = set()
        for email in query.actor_emails or ():
            if email in self._email_codes:
                user = self._email_codes[email]
                email_codes.update((user, self._users + user))
        if query.actor_ids is not None and query.actor_emails is not None:
            return frozenset(codes & email_codes)
        return frozenset(codes | email_codes)

    # -- ground truth -------------------------------------------------------

    def iter_records(
        self, *, tenant_only: bool | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every record, oldest first; ``tenant_only`` picks one scope."""
        for index in range(len(self.times)):
            if (
                tenant_only is None
                or (self.types[index] in _TENANT_CODES) == tenant_only
            ):
                yield self.record(index)

    def write_ground_truth(self, path: str) -> int:
        """Write every record as JSON lines, oldest first; return the count."""
        count = 0
        with open(path, "wb") as out:  # noqa: PTH123 - a plain path string is fine
            for record in self.iter_records():
                out.write(dumps(record))
                out.write(b"\n")
                count += 1
        return count


def _event_times(rng: random.Random, org: Organization, events: int) -> array[int]:
    """Sorted event times with a weekly and daily rhythm, and some bursts."""
    start = org.start.replace(minute=0, second=0, microsecond=0)
    hours = max(1, int((org.end - start).total_seconds() // 3600))
    slot_weights = [
        _WEEKDAY_WEIGHTS[(start + timedelta(hours=h)).weekday()]
        * _HOUR_WEIGHTS[(start + timedelta(hours=h)).hour]
        for h in range(hours)
    ]
    base = int(start.timestamp())
    first, last = int(org.start.timestamp()), int(org.end.timestamp()) - 1
    slots = rng.choices(range(hours), weights=slot_weights, k=events)
    raw = sorted(
        min(last, max(first, base + slot * 3600 + rng.randrange(3600)))
        for slot in slots
    )
    for i in range(1, events):
        if rng.random() < _BURST_SHARE:
            raw[i] = raw[i - 1]
    return array("q", raw)


def _is_off_hours(moment: int) -> bool:
    """Outside the core's office hours: a night or a weekend."""
    when = datetime.fromtimestamp(moment, UTC)
    first, last = OFFICE_HOURS
    return not first <= when.hour < last or when.weekday() >= 5  # noqa: PLR2004


def _office_hours_keys(times: array[int], types: bytearray) -> None:
    """Drawn key creations that fall off hours become key updates (the same
    pools and draws), so the keys made at night are the planned ones."""
    created, updated = _CODE["api_key.created"], _CODE["api_key.updated"]
    for i, code in enumerate(types):
        if code == created and _is_off_hours(times[i]):
            types[i] = updated


_Columns = tuple["array[int]", bytearray, "array[int]", "array[int]", "array[int]"]


def _with_seeds(
    org: Organization,
    columns: _Columns,
    seeds: list[SeededEvent],
    offsets: dict[str, int],
) -> tuple[_Columns, dict[int, SeededEvent]]:
    """The columns with *seeds* (oldest first) in place of as many random
    events, still sorted by time, and the seeds by their new position.

    The events given up are drawn from the seed, so the log keeps its size
    and every run gives up the same ones.
    """
    if not seeds:
        return columns, {}
    times, types, actors, projects, resources = columns
    rng = random.Random(f"audit-seeds:{org.seed}")  # noqa: S311 - test data
    dropped = frozenset(rng.sample(range(len(times)), len(seeds)))
    new_times, new_types = array("q"), bytearray()
    new_actors, new_projects, new_resources = array("l"), array("h"), array("l")
    seeded: dict[int, SeededEvent] = {}

    def put_seed(seed: SeededEvent) -> None:
        seeded[len(new_times)] = seed
        new_times.append(seed.when)
        new_types.append(_CODE[seed.kind])
        new_actors.append(seed.actor)
        new_projects.append(seed.project)
        pool, pick = seed.resource if seed.resource is not None else ("", -1)
        new_resources.append(offsets[pool] + pick if pool else -1)

    waiting = iter(seeds)
    upcoming = next(waiting, None)
    for i, moment in enumerate(times):
        if i in dropped:
            continue
        while upcoming is not None and upcoming.when < moment:
            put_seed(upcoming)
            upcoming = next(waiting, None)
        new_times.append(moment)
        new_types.append(types[i])
        new_actors.append(actors[i])
        new_projects.append(projects[i])
        new_resources.append(resources[i])
    while upcoming is not None:
        put_seed(upcoming)
        upcoming = next(waiting, None)
    return (new_times, new_types, new_actors, new_projects, new_resources), seeded


def _pick_actor(rng: random.Random, org: Organization, kind: _Kind, person: int) -> int:
    """An actor code: the person's session, their key, a service account, or none."""
    users = len(org.users)
    roll = rng.random()
    if kind.null_actor and roll < kind.null_actor:
        return -1
    if kind.session_only or roll < _SESSION_SHARE:
        return person
    if roll < _SESSION_SHARE + _USER_KEY_SHARE:
        return users + person
    return 2 * users + rng.randrange(len(org.service_accounts))


def _pick_project(rng: random.Random, org: Organization, actor: int) -> int:
    """A service account acts in its own project; people anywhere."""
    users = len(org.users)
    if actor >= 2 * users:
        return org.service_accounts[actor - 2 * users].project
    return rng.randrange(len(org.projects))


def _index(column: Sequence[int], size: int) -> list[array[int]]:
    """Positions per value of *column*, ascending; -1 values are left out."""
    index = [array("l") for _ in range(size)]
    for position, value in enumerate(column):
        if value >= 0:
            index[value].append(position)
    return index


def _resource_pools(org: Organization) -> dict[str, list[str]]:
    seed = org.seed
    return {
        "api_key": [u.key_id for u in org.users]
        + [sa.key_id for sa in org.service_accounts],
        "project": [p.id for p in org.projects],
        "user": [u.id for u in org.users],
        "invite": [
            f"invite-{stable_token(seed, 'inv', u.index, length=20)}" for u in org.users
        ],
        "service_account": [sa.id for sa in org.service_accounts],
        "organization": [org.org_id],
        "rate_limit": [f"rl-{stable_token(seed, 'rl', p.index)}" for p in org.projects],
        "role": [f"role_{stable_token(seed, 'role', n)}" for n in range(6)],
        "group": [f"group_{stable_token(seed, 'group', n)}" for n in range(9)],
        "ip_allowlist": [f"ipal_{stable_token(seed, 'ipal', n)}" for n in range(2)],
        "checkpoint": [f"cp_{stable_token(seed, 'cp', n)}" for n in range(5)],
        "certificate": [f"cert_{stable_token(seed, 'cert', n)}" for n in range(3)],
        "external_key": [f"ek_{stable_token(seed, 'ek', n)}" for n in range(2)],
        "resource": [f"res_{stable_token(seed, 'res', n)}" for n in range(50)],
        "tunnel": [f"tun_{stable_token(seed, 'tun', n)}" for n in range(3)],
        "connector": [f"conn_{stable_token(seed, 'conn', n)}" for n in range(7)],
        "policy": [f"pol_{stable_token(seed, 'pol', n)}" for n in range(4)],
        "admin_api_key": [seeded_admin_key_id(seed)],
        "sso_connection": [f"sso_{stable_token(seed, 'sso', 0)}"],
    }


def _descending(
    sources: Sequence[Sequence[int]] | None, below: int, floor: int
) -> Iterator[int]:
    """Positions in [floor, below) from the sources, largest first."""
    if sources is None:
        yield from range(below - 1, floor - 1, -1)
        return
    heap: list[tuple[int, int, int]] = []
    for n, source in enumerate(sources):
        at = bisect.bisect_left(source, below) - 1
        if at >= 0 and source[at] >= floor:
            heap.append((-source[at], n, at))
    heapq.heapify(heap)
    while heap:
        neg, n, at = heap[0]
        yield -neg
        at -= 1
        source = sources[n]
        if at >= 0 and source[at] >= floor:
            heapq.heapreplace(heap, (-source[at], n, at))
        else:
            heapq.heappop(heap)


def _ascending(
    sources: Sequence[Sequence[int]] | None, start: int, ceiling: int
) -> Iterator[int]:
    """Positions in [start, ceiling) from the sources, smallest first."""
    if sources is None:
        yield from range(start, ceiling)
        return
    heap: list[tuple[int, int, int]] = []
    for n, source in enumerate(sources):
        at = bisect.bisect_left(source, start)
        if at < len(source) and source[at] < ceiling:
            heap.append((source[at], n, at))
    heapq.heapify(heap)
    while heap:
        value, n, at = heap[0]
        yield value
        at += 1
        source = sources[n]
        if at < len(source) and source[at] < ceiling:
            heapq.heapreplace(heap, (source[at], n, at))
        else:
            heapq.heappop(heap)


def _take(positions: Iterator[int], check: Any, count: int) -> list[int]:
    found: list[int] = []
    for index in positions:
        if check(index):
            found.append(index)
            if len(found) == count:
                break
    return found
