"""The security risks the sandbox's applications can show are in its
history, whatever the seed.

The sandbox plans them (``aiaudit_gemini.sandbox.risk_seeds``;
``docs/gemini.md``): a burst of failed sign-ins and a sign-in from a new
country. Here the history a demo would sync is read through the connector
and scored by the risk engine with the built-in rules, and each planned risk
is looked for among the engine's findings.
"""

from __future__ import annotations

import asyncio

import pytest
from conftest import END, connector, read, whole_history

from aiaudit_gemini.sandbox.server import GeminiSandbox
from connector_core import AIDateRange, SandboxOptions
from connector_core.testing.risk import Assessed, assessed


DAYS = 30  # the demo's default history


async def history(seed: int, events: int) -> Assessed:
    """The engine's findings in the sign-in stream a demo syncs."""
    options = SandboxOptions(seed=seed, events=events, days=DAYS, end=END)
    async with GeminiSandbox.run(options) as running:
        query = whole_history(running)
        reading = await read(connector(running), query, streams=("login",))
    assert reading.quarantined == []
    period = AIDateRange(start=query.start_date, end=query.end_date)
    return assessed(reading.logs, period)


@pytest.fixture(scope="module", params=[(7, 4_000), (2024, 1_200)], ids=str)
def seeded(request) -> Assessed:
    """The demo's seed and another, each read and scored once a module."""
    seed, events = request.param
    return asyncio.run(history(seed, events))


def test_a_burst_of_failed_signins(seeded):
    assert seeded.found("failed_sign_in_burst")


def test_a_signin_from_a_new_country(seeded):
    found = seeded.found("new_country_sign_in")
    assert [event.country for f in found for event in f.events] == ["BR"]
