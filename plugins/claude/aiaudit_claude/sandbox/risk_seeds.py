"""Activities the sandbox places on purpose, so every kind of security risk
the feed can show has rows in any seed's history.

Random activity makes most risks likely but none certain. These are planned
from the seed and the time span alone, with a generator of their own, so
the random activities stay what they were; ``docs/claude.md`` lists them.
The feed carries no country on a sign-in (an ``ip_address`` only), so no
sign-in from a new country is planned: that would need a field the API does
not have.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Final

from aiaudit_claude.sandbox.data import Activity, format_created, stable_id
from connector_core.sandbox import history_moment


if TYPE_CHECKING:
    from aiaudit_claude.sandbox.data import OrgData


__all__ = ["PLANNED_TYPES", "SEEDED_UPLOADS", "plan"]

PLANNED_TYPES: Final = frozenset(
    {
        "org_directory_sync_activated",
        "org_sso_connection_activated",
        "org_ip_restriction_created",
    }
)
"""The types only the plan makes (the others are in ``ACTIVITY_MIX`` too)."""

SEEDED_UPLOADS: Final = (
    ("soc2-report.pdf", "payroll-2026-11.xlsx"),
    ("prod.env",),
    ("customers-export.csv", "vpn-gateway.pem"),
)
"""The sensitive files three people upload (one tuple each)."""

_ADMIN: Final = 7
"""The member :meth:`OrgData.members` lists as an admin."""
_BURST_FAILURES: Final = 7
_BURST_GAP: Final = timedelta(seconds=75)
_AGENT: Final = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Safari/605.1.15"
)


def plan(data: OrgData) -> list[Activity]:
    """The planned activities of *data*'s history.

    Each is placed at a fraction of the span and a fixed UTC clock time
    (:func:`~connector_core.sandbox.history_moment`); one that cannot keep
    its clock time in a short history is left out.
    """
    rng = random.Random(f"risk-seeds:{data.seed}")  # noqa: S311 - test data
    people = [n for n in range(len(data.users)) if n != _ADMIN]
    burst, promoted, *uploaders = rng.sample(people, 2 + len(SEEDED_UPLOADS))
    admin = data.users[_ADMIN]
    parent = (data.parent_id, data.parent_uuid)
    made: list[Activity] = []

    def at(
        fraction: float, clock: time, *, weekend: bool | None = None
    ) -> datetime | None:
        return history_moment(data.start, data.end, fraction, clock, weekend=weekend)

    def add(
        moment: datetime | None,
        kind: str,
        actor: dict[str, Any],
        fields: dict[str, Any] | None = None,
        *,
        scoped: bool = True,
    ) -> None:
        if moment is None:
            return
        activity_id = f"activity_{stable_id(data.seed, f'risk-seed-{len(made)}', 26)}"
        org = parent if scoped else (None, None)
        record: dict[str, Any] = {
            "id": activity_id,
            "created_at": format_created(moment),
            "organization_id": org[0],
            "organization_uuid": org[1],
            "actor": actor,
            "type": kind,
            **(fields or {}),
        }
        made.append(Activity(record=record, created_at=moment, id=activity_id))

    def person(user: dict[str, str]) -> dict[str, Any]:
        return {
            "type": "user_actor",
            "email_address": user["email"],
            "user_id": user["user_id"],
            "ip_address": f"192.0.2.{10 + data.users.index(user) % 200}",
            "user_agent": _AGENT,
        }

    # 1. A burst of failed single sign-ons, 75 seconds apart, then one that works.
    first = at(0.8, time(10, 5), weekend=False)
    if first is not None:
        user = data.users[burst]
        for n in range(_BURST_FAILURES):
            add(
                first + n * _BURST_GAP,
                "sso_login_failed",
                {
                    "type": "unauthenticated_user_actor",
                    "unauthenticated_email_address": user["email"],
                    "ip_address": "203.0.113.66",
                    "user_agent": _AGENT,
                },
                scoped=False,
            )
        add(
            first + _BURST_FAILURES * _BURST_GAP,
            "sso_login_succeeded",
            person(user),
            scoped=False,
        )

    # 2. Sensitive uploads by three people, among the ordinary ones.
    for n, (uploader, names) in enumerate(zip(uploaders, SEEDED_UPLOADS, strict=True)):
        chat = f"claude_chat_{stable_id(data.seed, f'chat-{n}')}"
        for k, name in enumerate(names):
            file_id = f"claude_file_{stable_id(data.seed, f'risk-file-{n}-{k}')}"
            add(
                at(0.3 + 0.2 * n, time(11, 15 + 10 * k), weekend=False),
                "claude_file_uploaded",
                person(data.users[uploader]),
                {
                    "filename": name,
                    "claude_file_id": file_id,
                    "claude_chat_id": chat,
                    "claude_project_id": None,
                },
            )

    # 3. Keys created off hours: an Admin API key at 02:13 on a weekday, a
    # Compliance Access Key on a weekend afternoon.
    add(
        at(0.6, time(2, 13), weekend=False),
        "admin_api_key_created",
        person(admin),
        {
            "admin_api_key_id": f"adminkey_{stable_id(data.seed, 'risk-admin-key')}",
            "scopes": ["read:compliance_activities"],
        },
    )
    add(
        at(0.45, time(15, 40), weekend=True),
        "api_key_created",
        person(admin),
        {
            "api_key_id": f"apikey_{stable_id(data.seed, 'risk-weekend-key')}",
            "scopes": ["read:compliance_activities"],
            "restricted_to_organization": False,
        },
    )

    # 4. A member made an admin, then an owner.
    target = data.users[promoted]
    for fraction, (before, after) in (
        (0.55, ("user", "membership_admin")),
        (0.65, ("membership_admin", "owner")),
    ):
        add(
            at(fraction, time(14, 2), weekend=False),
            "claude_user_role_updated",
            person(admin),
            {
                "user_id": target["user_id"],
                "user_email": target["email"],
                "previous_role": before,
                "current_role": after,
            },
        )

    # 6. Settings: directory sync (SCIM), single sign-on, an IP restriction.
    add(
        at(0.15, time(10, 0), weekend=False),
        "org_directory_sync_activated",
        person(admin),
    )
    add(
        at(0.15, time(10, 30), weekend=False),
        "org_sso_connection_activated",
        person(admin),
        {
            "connection_id": f"conn_{stable_id(data.seed, 'risk-sso', 26)}",
            "connection_type": "OktaSAML",
        },
    )
    add(
        at(0.25, time(10, 10), weekend=False),
        "org_ip_restriction_created",
        person(admin),
    )
    return made
