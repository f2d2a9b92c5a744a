"""The sync engine against the ChatGPT sandbox, on SQLite and PostgreSQL:
its four streams stored exactly, and the figures of its own usage analytics
equal to the store's. (The engine's own rules are the core's tests, on the
example plugin.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aiaudit_chatgpt.sandbox.server import ChatGPTSandbox
from connector_core import Registry
from connector_core.models import AIAuditLogQuery, AIDateRange
from connector_core.sandbox import SandboxOptions
from connector_core.store import open_store
from connector_core.store.base import LogFilter
from connector_core.sync import sync_connection


END = datetime(2025, 3, 1, tzinfo=UTC)
START = END - timedelta(days=14)
WHOLE = AIAuditLogQuery(start_date=START, end_date=END - timedelta(seconds=1))


@pytest.fixture
def store(store_url):
    """A new, empty, open store of the test's kind (SQLite and PostgreSQL)."""
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
async def sandbox():
    options = SandboxOptions(seed=5, events=2_500, days=14, end=END)
    async with ChatGPTSandbox.run(options) as running:
        yield running


@pytest.fixture
def registry():
    return Registry.load(environ={"AIAUDIT_PLUGINS": "chatgpt"})


def _truth(sandbox):
    """What the sandbox serves, normalized: built from its data, not read
    through the connector under test."""
    return list(sandbox.expected_logs(WHOLE).values())


async def _sync(registry, sandbox, store, **kwargs):
    async with registry.create("chatgpt", sandbox.connector_config()) as connector:
        return await sync_connection(
            connector,
            store,
            connection="acme",
            since=START,
            until=WHOLE.end_date,
            **kwargs,
        )


async def test_sync_stores_the_ground_truth_and_a_second_sync_adds_nothing(
    registry, sandbox, store
):
    report = await _sync(registry, sandbox, store)
    truth = _truth(sandbox)
    stored = list(store.iter_logs(LogFilter(connection="acme")))
    assert report.ok, [s.error for s in report.streams]
    assert report.inserted == len(truth) == len(stored)
    assert {log.id: log for log in stored} == {log.id: log for log in truth}
    assert set(store.checkpoints("acme")) == {s.stream for s in report.streams}
    again = await _sync(registry, sandbox, store)
    assert again.inserted == 0
    assert store.count_logs(LogFilter(connection="acme")) == len(truth)


async def test_store_analytics_agree_with_the_connector(registry, sandbox, store):
    """The figures computed in the database equal the connector's own, on the
    same events (the connector's model usage and head count come from the
    platform's usage and directory APIs, which the store does not see)."""
    await _sync(registry, sandbox, store)
    period = AIDateRange(start=WHOLE.start_date, end=WHOLE.end_date)
    stored = store.usage_analytics(period, platform="chatgpt", connection="acme")
    async with registry.create("chatgpt", sandbox.connector_config()) as connector:
        live = await connector.get_usage_analytics(period)
    for field in (
        "total_events",
        "active_users",
        "top_users",
        "events_by_type",
        "daily_breakdown",
    ):
        assert getattr(stored, field) == getattr(live, field), field
    assert stored.total_events > 0
