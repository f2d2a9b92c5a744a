"""Audit events the sandbox places on purpose, so every kind of security
risk has rows to show in any seed's history.

Random generation makes most risks likely but none certain: a burst of
failed sign-ins, a key created at night or a first sign-in from abroad may
or may not come up. These events are planned instead, from the seed and the
time span alone, and take the place of as many random events, so the log
keeps the size asked for. ``docs/sandbox.md`` lists them.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Final

import attrs

from aiaudit_chatgpt.sandbox.org import stable_token
from connector_core.sandbox import history_moment


if TYPE_CHECKING:
    from aiaudit_chatgpt.sandbox.org import Organization


__all__ = ["ABROAD", "MIN_EVENTS", "SeededEvent", "plan"]

ABROAD: Final = (
    "BR",
    "Sao Paulo",
    "Sao Paulo",
    "SP",
    "28573",
    "-23.55052",
    "-46.63331",
)
"""Where the traveller's last sign-in comes from: a country no generated
session uses (the random places are in ``audit._PLACES``)."""

MIN_EVENTS: Final = 200
"""Below this many events the log is too small to give up some for the
planned ones; it is then all random."""

_BURST_FAILURES: Final = 7
_BURST_GAP: Final = timedelta(seconds=80)
_HOME_SIGN_INS: Final = (0.1, 0.3, 0.5, 0.7)


@attrs.frozen(kw_only=True)
class SeededEvent:
    """One planned event, in the terms of the audit log's columns.

    Attributes:
        when: Unix seconds.
        kind: The event type.
        actor: The actor code (a user's index for their session, users plus
            the index for their own key, -1 for none).
        project: The project's index, or -1.
        resource: The pool the payload ``id`` is drawn from and the pick.
        place: For a session: ``"home"`` (the user's usual place) or
            ``"abroad"`` (:data:`ABROAD`); ``None`` lets the hash choose.
        payload: Fields laid over the generated payload.
    """

    when: int
    kind: str
    actor: int
    project: int = -1
    resource: tuple[str, int] | None = None
    place: str | None = None
    payload: dict[str, Any] | None = None


def seeded_admin_key_id(seed: int) -> str:
    """The admin key the plan creates (not in the ``admin_api_keys``
    listing, which holds the keys from before the history)."""
    return f"key_{stable_token(seed, 'seeded-admin-key', length=16)}"


def plan(org: Organization) -> list[SeededEvent]:
    """The planned events of *org*'s history, oldest first.

    Who does what is drawn from the seed; when is a fraction of the span at
    a fixed clock time (:func:`~connector_core.sandbox.history_moment`),
    so each lands inside the history whatever its length, and an event
    that cannot keep its clock time is left out.
    """
    rng = random.Random(f"risk-seeds:{org.seed}")  # noqa: S311 - test data
    users = len(org.users)
    owner = 0  # users 0 and 1 are the organization's owners
    # Four different members, none an owner: the one who fumbles a password,
    # the traveller, the one promoted, the one who makes a key at night.
    burst, traveller, promoted, night_owl = rng.sample(range(2, users), 4)
    events: list[SeededEvent] = []

    def at(
        fraction: float, clock: time, *, weekend: bool | None = None
    ) -> datetime | None:
        return history_moment(org.start, org.end, fraction, clock, weekend=weekend)

    def add(moment: datetime | None, kind: str, actor: int, **fields: Any) -> None:
        if moment is not None:
            events.append(
                SeededEvent(
                    when=int(moment.timestamp()), kind=kind, actor=actor, **fields
                )
            )

    # 1. A burst of failed sign-ins, 80 seconds apart, then the one that works.
    first = at(0.8, time(10, 5), weekend=False)
    if first is not None:
        for n in range(_BURST_FAILURES):
            add(
                first + n * _BURST_GAP,
                "login.failed",
                burst,
                place="home",
                payload={
                    "error_code": "invalid_credentials",
                    "error_message": "Wrong email or password.",
                },
            )
        add(
            first + _BURST_FAILURES * _BURST_GAP, "login.succeeded", burst, place="home"
        )

    # 3. Keys created off hours: a user's key at 02:13 on a weekday, an admin
    # key on a weekend afternoon; one more in office hours for contrast.
    add(
        at(0.6, time(2, 13), weekend=False),
        "api_key.created",
        night_owl,
        project=0,
        resource=("api_key", night_owl),
        place="home",
        payload={"data": {"scopes": ["api.all"]}},
    )
    add(
        at(0.45, time(15, 40), weekend=True),
        "tenant.admin_api_key.created",
        owner,
        resource=("admin_api_key", 0),
        place="home",
    )
    add(
        at(0.4, time(11, 20), weekend=False),
        "api_key.created",
        night_owl,
        project=0,
        resource=("api_key", night_owl),
        place="home",
    )

    # 4. Role changes: an owner gives a member the owner role, then an admin
    # role on the organization.
    for fraction, role in ((0.55, 0), (0.65, 1)):
        add(
            at(fraction, time(14, 2), weekend=False),
            "role.assignment.created",
            owner,
            resource=("role", role),
            place="home",
            payload={"principal_id": org.users[promoted].id, "principal_type": "user"},
        )

    # 5. Weeks of sign-ins from home, then one from a country never seen.
    for fraction in _HOME_SIGN_INS:
        add(at(fraction, time(9, 30)), "login.succeeded", traveller, place="home")
    add(at(0.93, time(16, 45)), "login.succeeded", traveller, place="abroad")

    # 6. Settings: SCIM, the IP allowlist, single sign-on.
    add(
        at(0.2, time(13, 0), weekend=False),
        "scim.enabled",
        -1,
        resource=("organization", 0),
    )
    add(
        at(0.25, time(10, 10), weekend=False),
        "ip_allowlist.created",
        owner,
        resource=("ip_allowlist", 0),
        place="home",
    )
    add(
        at(0.25, time(10, 25), weekend=False),
        "ip_allowlist.config.activated",
        owner,
        resource=("ip_allowlist", 0),
        place="home",
    )
    add(
        at(0.15, time(11, 0), weekend=False),
        "tenant.sso_connection.created",
        owner,
        resource=("sso_connection", 0),
        place="home",
    )
    return sorted(events, key=lambda event: event.when)
