"""The security risks the sandbox's applications can show are in its
history, whatever the seed.

The sandbox plans them (``aiaudit_gemini.sandbox.risk_seeds``;
``docs/gemini.md``): a burst of failed sign-ins and a sign-in from a new
country. Here the history a demo would sync is read through the connector,
and each is looked for in the normalized logs with a predicate that restates
its rule.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from conftest import END, connector, read, whole_history

from aiaudit_gemini.sandbox.server import GeminiSandbox
from connector_core import AIAuditLog, SandboxOptions


if TYPE_CHECKING:
    from collections.abc import Iterable


DAYS = 30  # the demo's default history


def failed_signin_bursts(logs: Iterable[AIAuditLog]) -> set[str]:
    """Users with 5 or more failed sign-ins within 10 minutes."""
    failures: dict[str, list[datetime]] = defaultdict(list)
    for log in logs:
        if log.action == "user.login.failed":
            failures[log.user_id].append(log.timestamp)
    found = set()
    for user, times in failures.items():
        times.sort()
        for n in range(len(times) - 4):
            if times[n + 4] - times[n] <= timedelta(minutes=10):
                found.add(user)
    return found


def new_country_signins(logs: Iterable[AIAuditLog]) -> list[AIAuditLog]:
    """Sign-ins from a country none of the user's 3 or more earlier
    sign-ins with a country came from."""
    seen: dict[str, list[str]] = defaultdict(list)
    found = []
    for log in sorted(logs, key=lambda log: log.timestamp):
        if log.action != "user.login":
            continue
        country = log.location.country if log.location is not None else None
        if country is None:
            continue
        earlier = seen[log.user_id]
        if len(earlier) >= 3 and country not in earlier:
            found.append(log)
        earlier.append(country)
    return found


async def history(seed: int, events: int) -> list[AIAuditLog]:
    options = SandboxOptions(seed=seed, events=events, days=DAYS, end=END)
    async with GeminiSandbox.run(options) as running:
        reading = await read(
            connector(running), whole_history(running), streams=("login",)
        )
    assert reading.quarantined == []
    return reading.logs


@pytest.fixture(scope="module", params=[(7, 4_000), (2024, 1_200)], ids=str)
def logs(request) -> list[AIAuditLog]:
    """The demo's seed and another, each read once a module."""
    seed, events = request.param
    return asyncio.run(history(seed, events))


def test_a_burst_of_failed_signins(logs):
    assert failed_signin_bursts(logs)


def test_a_signin_from_a_new_country(logs):
    found = new_country_signins(logs)
    assert [log.location.country for log in found] == ["BR"]
