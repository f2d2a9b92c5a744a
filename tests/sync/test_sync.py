"""The sync engine against the example plugin's sandbox, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from aiaudit_example.normalize import normalize_activity
from aiaudit_example.sandbox import ExampleSandbox

from connector_core import Registry
from connector_core.exceptions import ConnectionBusyError
from connector_core.models import AIAuditLogQuery, AIDateRange
from connector_core.sandbox import SandboxOptions
from connector_core.store import open_store
from connector_core.store.base import LogFilter
from connector_core.sync import sync_connection


END = datetime(2025, 3, 1, tzinfo=UTC)
START = END - timedelta(days=14)
WHOLE = AIAuditLogQuery(start_date=START, end_date=END - timedelta(seconds=1))


@pytest.fixture
async def sandbox():
    options = SandboxOptions(seed=5, events=2_500, days=14, end=END)
    async with ExampleSandbox.run(options) as running:
        yield running


@pytest.fixture
def registry():
    return Registry.load(environ={"AIAUDIT_PLUGINS": "example"})


def _truth(sandbox):
    """What the sandbox serves in the range, normalized: built from its
    generated data, not read through the connector under test."""
    data = sandbox.data
    return [
        log
        for activities in data.by_app.values()
        for activity in activities
        if WHOLE.start_date <= activity.time <= WHOLE.end_date
        for log in normalize_activity(activity.to_json(data.customer_id))
    ]


async def _sync(registry, sandbox, store, **kwargs):
    async with registry.create("example", sandbox.config()) as connector:
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
    same events (the example plugin leaves ``get_usage_analytics`` to the
    core's default, which reads the streams and counts in Python)."""
    await _sync(registry, sandbox, store)
    period = AIDateRange(start=WHOLE.start_date, end=WHOLE.end_date)
    stored = store.usage_analytics(period, platform="example", connection="acme")
    async with registry.create("example", sandbox.config()) as connector:
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


async def test_filters_read_back_from_the_store(registry, sandbox, store):
    await _sync(registry, sandbox, store)
    truth = _truth(sandbox)
    logins = [log for log in truth if log.action == "user.login"]
    assert logins
    read = list(store.iter_logs(LogFilter(connection="acme", actions=("user.login",))))
    assert [log.id for log in read] == [
        log.id for log in sorted(logins, key=lambda x: (x.timestamp, x.id))
    ]
    busiest = Counter(log.user_email for log in truth if log.user_email).most_common(1)[
        0
    ][0]
    by_user = list(store.iter_logs(LogFilter(connection="acme", user_ids=(busiest,))))
    assert {log.id for log in by_user} == {
        log.id for log in truth if log.user_email == busiest
    }


async def test_a_second_process_on_the_same_connection_is_told_clearly(
    registry, sandbox, store_url
):
    holder = open_store(store_url)
    other = open_store(store_url)
    try:
        with holder.lock("acme"):
            async with registry.create("example", sandbox.config()) as connector:
                with pytest.raises(
                    ConnectionBusyError, match="being synced by another process"
                ):
                    await sync_connection(
                        connector,
                        other,
                        connection="acme",
                        since=START,
                        until=WHOLE.end_date,
                    )
    finally:
        holder.close()
        other.close()


async def test_a_sync_cancelled_midway_commits_whole_batches_and_resumes(
    registry, sandbox, store
):
    """Ctrl-C during a sync stops it promptly; what is stored is whole
    batches, and the next run completes with nothing lost or doubled."""
    enough = asyncio.Event()

    class Progress:
        def update(self, report):
            if report.inserted >= 200:
                enough.set()

    async with registry.create("example", sandbox.config()) as connector:
        task = asyncio.create_task(
            sync_connection(
                connector,
                store,
                connection="acme",
                since=START,
                until=WHOLE.end_date,
                progress=Progress(),
            )
        )
        await enough.wait()
        started = asyncio.get_running_loop().time()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert asyncio.get_running_loop().time() - started < 1.0
    partial = store.count_logs(LogFilter(connection="acme"))
    await _sync(registry, sandbox, store)
    truth = _truth(sandbox)
    stored = [log.id for log in store.iter_logs(LogFilter(connection="acme"))]
    assert 0 < partial <= len(truth)
    assert sorted(stored) == sorted(log.id for log in truth)
