"""Activities the sandbox places on purpose, so the security risks its two
applications can show have rows in any seed's history.

The ``login`` application can show a burst of failed sign-ins, and the
``assistant`` application sensitive uploads (``file_uploaded`` with a
``file_name``). The API has no country, API keys, roles or settings, so no
other risk is planned. Each is drawn from the seed and the time span alone,
with a generator of its own, so the random activity stays what it was.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Final

from connector_core.sandbox import history_moment


if TYPE_CHECKING:
    from aiaudit_example.sandbox import Activity


__all__ = ["MIN_EVENTS", "SEEDED_UPLOADS", "plan"]

MIN_EVENTS: Final = 200
"""Below this many activities a history is a test's small one: nothing is
planned, so what such a test counts stays random data only."""

SEEDED_UPLOADS: Final = (
    ("soc2-report.pdf", "payroll-2026-11.xlsx"),
    ("prod.env",),
    ("customers-export.csv", "backup-2026.sql"),
)
"""The sensitive files three people upload (one tuple each)."""

_BURST_FAILURES: Final = 7
_BURST_GAP: Final = timedelta(seconds=90)


def plan(
    seed: int,
    start: datetime,
    end: datetime,
    users: list[tuple[str, str]],
) -> list[Activity]:
    """The planned activities of the history [*start*, *end*) of *users*
    (email and profile id), unsorted.

    Each is placed at a fraction of the span and a fixed UTC clock time; one
    that cannot keep its clock time in a short history is left out.
    """
    from aiaudit_example.sandbox import Activity  # noqa: PLC0415 - it imports us

    rng = random.Random(f"risk-seeds:{seed}")  # noqa: S311 - test data
    burst, *uploaders = rng.sample(users, 1 + len(SEEDED_UPLOADS))
    made: list[Activity] = []

    def add(
        moment: datetime | None,
        application: str,
        user: tuple[str, str],
        name: str,
        params: tuple[tuple[str, Any], ...],
    ) -> None:
        if moment is None:
            return
        digest = hashlib.blake2b(f"{seed}:risk-seed:{len(made)}".encode()).digest()
        made.append(
            Activity(
                application=application,
                time=moment,
                unique_qualifier=str(int.from_bytes(digest[:7], "big")),
                email=user[0],
                profile_id=user[1],
                ip_address="203.0.113.66",
                events=((name, params),),
            )
        )

    # A burst of failed sign-ins, 90 seconds apart, then the one that works.
    first = history_moment(start, end, 0.8, time(10, 5), weekend=False)
    if first is not None:
        for n in range(_BURST_FAILURES):
            add(
                first + n * _BURST_GAP,
                "login",
                burst,
                "login_failure",
                (("login_failure_type", "login_failure_invalid_password"),),
            )
        add(
            first + _BURST_FAILURES * _BURST_GAP,
            "login",
            burst,
            "login_success",
            (("is_second_factor", True),),
        )

    # Sensitive uploads by three people, among the ordinary ``report-N.pdf``.
    for n, (user, names) in enumerate(zip(uploaders, SEEDED_UPLOADS, strict=True)):
        for k, name in enumerate(names):
            add(
                history_moment(start, end, 0.3 + 0.2 * n, time(11, 15 + 10 * k)),
                "assistant",
                user,
                "file_uploaded",
                (("file_name", name), ("file_size", 40_000 + 1_000 * k)),
            )
    return made
