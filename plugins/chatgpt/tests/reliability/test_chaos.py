"""Chaos sync: faults on the wire, and still every event exactly once.

Each scenario syncs the ChatGPT sandbox into a real store while the sandbox
disturbs a share of the requests with one fault profile (or all of them,
``mixed``): 429 storms, 5xx, connection resets, answers slower than the
client's timeout, truncated JSON and downloads, HTML pages served with 200,
boundary records served twice. The stored set must equal the ground truth.

CI runs short scenarios; ``AIAUDIT_CHAOS=long`` (the ``chaos`` nox session)
runs bigger ones. Both skip the wall-clock waits between retries (a 429
storm would otherwise cost a second a fault) but keep the retry logic, the
timeouts and the Retry-After handling itself, which the transport tests
cover with an injected clock. The retry policy is the default one: limited
by time (``max_elapsed``), not by a count, and the waits not slept still
count against that budget, so a scenario stops exactly where a real sync
would. ``test_transient_faults`` runs the real command with real waits.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from aiaudit_chatgpt.sandbox.faults import PROFILES
from aiaudit_chatgpt.sandbox.server import ChatGPTSandbox
from connector_core import Registry
from connector_core.http import RetryPolicy
from connector_core.models import AIAuditLogQuery
from connector_core.sandbox import SandboxOptions
from connector_core.store import open_store
from connector_core.store.base import LogFilter
from connector_core.sync import sync_connection


LONG = os.environ.get("AIAUDIT_CHAOS") == "long"
EVENTS = 12_000 if LONG else 1_500
DAYS = 10 if LONG else 5
RATE = 0.2
END = datetime(2025, 5, 1, tzinfo=UTC)
QUERY = AIAuditLogQuery(
    start_date=END - timedelta(days=DAYS), end_date=END - timedelta(seconds=1)
)


async def _no_wait(seconds: float) -> None:
    """Backoff without the wall-clock wait, for the short CI runs."""


def _harden(connector, *, timeout: float) -> list:
    """A short client timeout (so slow answers time out) and no waiting
    between retries; the retry logic and policy are the real defaults."""
    transports = [
        t for t in (connector.instance.admin, connector.instance.compliance) if t
    ]
    for transport in transports:
        transport._timeout = transport._stream_timeout = __import__(
            "aiohttp"
        ).ClientTimeout(total=timeout)
        # No attempt count: the scenario rides on the time budget alone.
        assert transport._policy == RetryPolicy()
        transport._sleep = _no_wait
    return transports


@pytest.mark.parametrize("profile", PROFILES)
async def test_chaos_sync_equals_the_ground_truth(profile, store_url):
    options = SandboxOptions(
        seed=31, events=EVENTS, days=DAYS, end=END, faults=profile, fault_rate=RATE
    )
    registry = Registry.load(environ={"AIAUDIT_PLUGINS": "chatgpt"})
    store = open_store(store_url)
    try:
        async with ChatGPTSandbox.run(options) as sandbox:
            injector = sandbox.state.faults
            injector.slow_seconds = 0.6
            async with registry.create(
                "chatgpt", sandbox.connector_config()
            ) as connector:
                transports = _harden(connector, timeout=0.3)
                report = await sync_connection(
                    connector,
                    store,
                    connection="chaos",
                    since=QUERY.start_date,
                    until=QUERY.end_date,
                )
                requests = sum(t.requests_made for t in transports)
                retries = sum(t.retries for t in transports)
            expected = sandbox.expected_logs(QUERY)
            injected = dict(injector.injected)
        stored = [log.id for log in store.iter_logs(LogFilter(connection="chaos"))]
        quarantined = Counter(q.record.reason for q in store.quarantined("chaos"))
    finally:
        store.close()
    doubled = len(stored) - len(set(stored))
    missing = set(expected) - set(stored)
    extra = set(stored) - set(expected)
    figures = {
        "requests": requests,
        "faults": sum(injected.values()),
        "retries": retries,
        "expected": len(expected),
        "stored": len(stored),
        "duplicates": doubled,
        "missing": len(missing),
        "quarantined": sum(quarantined.values()),
    }
    reasons = dict(quarantined)
    print(f"\n[{profile} @ {RATE:.0%}] {figures} faults={injected} reasons={reasons}")
    assert report.ok, [s.error for s in report.streams]
    assert sum(injected.values()) > 0, "the profile disturbed nothing"
    assert doubled == 0
    assert not missing
    assert not extra
    assert not quarantined
