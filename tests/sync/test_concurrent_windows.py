"""The example plugin's windows read concurrently, end to end over HTTP.

The example connector reads each stream with ``read_windows``; its sandbox
runs as a process, and the reference is the sandbox's ground truth (the ids
it says it serves), never another read. Whatever the concurrency, a read
returns exactly that; a window that fails fails the read, and a read again
from the last checkpoint yielded loses nothing and repeats nothing before
it; a storm of 429s backs the connection's concurrency off and loses
nothing; a read or a sync cancelled or closed half-way leaves no task and
no session behind; and the core's pages, which read again from checkpoints,
split the history exactly although the connection is configured for
concurrency.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

import attrs
import pytest
from aiaudit_example.connector import USAGE_STREAM, Resume
from aiaudit_example.normalize import PUBLICATION_LAG

from connector_core.exceptions import ServerError
from connector_core.http import RetryPolicy, retry_policy_override
from connector_core.models import AIAuditLogQuery
from connector_core.registry import Registry
from connector_core.store.base import LogFilter
from connector_core.sync import sync_connection
from connector_core.testing import stop_half_way, track_sessions
from connector_core.testing.processes import running_sandbox


SEED = "11"
"""With ``server_error`` at 1%, the sandbox fails its 77th request first:
after the first windows of the first stream, long before its end."""


@pytest.fixture(scope="module")
def registry():
    return Registry.load(environ={"AIAUDIT_PLUGINS": "example"})


@pytest.fixture(scope="module")
def sandbox():
    with running_sandbox(
        "example", "--events", "5000", "--days", "20", "--seed", SEED
    ) as described:
        yield described


@pytest.fixture(scope="module")
def failing_sandbox():
    """The same history, and 1% of the requests answered 503."""
    with running_sandbox(
        "example",
        *("--events", "5000", "--days", "20", "--seed", SEED),
        *("--faults", "server_error", "--fault-rate", "0.01"),
    ) as described:
        yield described


@pytest.fixture(scope="module")
def throttling_sandbox():
    """A smaller history behind a low rate limit: a 429 storm at 16 in flight."""
    with running_sandbox(
        "example", "--events", "1000", "--days", "5", "--rate-limit", "10"
    ) as described:
        yield described


def _query(described) -> AIAuditLogQuery:
    """The sandbox's whole history."""
    start, end = (datetime.fromisoformat(t) for t in described["details"]["history"])
    return AIAuditLogQuery(start_date=start, end_date=end - timedelta(microseconds=1))


def _truth(described) -> list[str]:
    return described["details"]["conformance"]["expected_ids"]


def _config(described, concurrency: int) -> dict:
    return described["config"] | {"concurrency": concurrency}


@attrs.define
class _Read:
    """What a read of every stream yielded, up to where it stopped."""

    logs: list = attrs.Factory(list)
    quarantined: list = attrs.Factory(list)
    checkpoints: dict = attrs.Factory(dict)  # stream -> the last one yielded


async def _read_all(connector, query, read: _Read, start: dict | None = None) -> None:
    for info in await connector.list_streams():
        checkpoint = (start or {}).get(info.name)
        batches = connector.read_stream(info.name, checkpoint, query)
        async with contextlib.aclosing(batches):
            async for batch in batches:
                read.logs.extend(batch.logs)
                read.quarantined.extend(batch.quarantined)
                if batch.checkpoint is not None:
                    read.checkpoints[info.name] = dict(batch.checkpoint)


def _ids(logs) -> list[str]:
    return [entry.id for entry in logs]


@pytest.mark.parametrize("concurrency", [1, 4, 16])
async def test_every_concurrency_reads_exactly_the_ground_truth(
    registry, sandbox, concurrency
):
    read = _Read()
    async with registry.create("example", _config(sandbox, concurrency)) as connector:
        await _read_all(connector, _query(sandbox), read)
    ids = _ids(read.logs)
    assert not read.quarantined
    assert len(ids) == len(set(ids)), "no log read twice"
    assert sorted(ids) == sorted(_truth(sandbox))
    # The read's last checkpoint is its end, whatever order windows finished in.
    end = datetime.fromisoformat(sandbox["details"]["history"][1])
    for stream, checkpoint in read.checkpoints.items():
        if stream == USAGE_STREAM:
            continue  # not windowed: the day it read last, read again next time
        assert Resume.from_dict(stream, checkpoint).since == end


async def test_a_failing_window_fails_the_read_and_its_checkpoint_resumes_exactly(
    registry, failing_sandbox
):
    query = _query(failing_sandbox)
    config = _config(failing_sandbox, 8)
    first = _Read()
    with retry_policy_override(RetryPolicy(max_attempts=1)):
        async with registry.create("example", config) as connector:
            before = asyncio.all_tasks()
            with pytest.raises(ServerError):
                await _read_all(connector, query, first)
            assert asyncio.all_tasks() <= before, "the other windows were cancelled"
    end = datetime.fromisoformat(failing_sandbox["details"]["history"][1])
    assert any(
        Resume.from_dict(stream, checkpoint).since < end
        for stream, checkpoint in first.checkpoints.items()
    ), "the read failed half-way, after a checkpoint"
    # Read again from the last checkpoints, riding out the sandbox's 503s.
    again = _Read()
    with retry_policy_override(RetryPolicy(backoff_base=0.01, backoff_max=0.05)):
        async with registry.create("example", config) as connector:
            await _read_all(connector, query, again, first.checkpoints)
    rerun = _ids(again.logs)
    assert len(rerun) == len(set(rerun)), "the second read repeats nothing"
    read_first = set(_ids(first.logs))
    for stream, checkpoint in first.checkpoints.items():
        since = Resume.from_dict(stream, checkpoint).since
        older = [
            entry.id
            for entry in again.logs
            if entry.id in read_first
            and entry.id.startswith(stream.removesuffix("_activity") + ":")
            and entry.timestamp < since
        ]
        assert not older, f"{stream}: read again before its checkpoint"
        assert all(
            entry.timestamp >= since - PUBLICATION_LAG
            for entry in again.logs
            if entry.id.startswith(stream.removesuffix("_activity") + ":")
        )
    assert read_first | set(rerun) == set(_truth(failing_sandbox)), "nothing lost"


async def test_a_429_storm_backs_off_and_loses_nothing(registry, throttling_sandbox):
    read = _Read()
    config = _config(throttling_sandbox, 16)
    async with registry.create("example", config) as connector:
        await _read_all(connector, _query(throttling_sandbox), read)
        throttle = connector.instance.pace.concurrency
    ids = _ids(read.logs)
    assert throttle.backoffs > 0
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(_truth(throttling_sandbox))


@pytest.mark.parametrize("how", ["cancel", "close"])
async def test_a_read_stopped_half_way_leaves_no_task_or_session(
    registry, sandbox, how
):
    before = asyncio.all_tasks()
    with track_sessions() as sessions:
        # No block: the read opens its own session and must close it.
        connector = registry.create("example", _config(sandbox, 16))
        batches = connector.read_stream("assistant_activity", None, _query(sandbox))
        await stop_half_way(batches, how)  # after pages of several windows
        left = asyncio.all_tasks() - before
        assert not left, [task.get_name() for task in left]
        assert sessions
        assert all(session.closed for session in sessions)
        await connector.aclose()


async def test_pages_split_the_history_exactly_at_any_configured_concurrency(
    registry, sandbox
):
    """Outside a block nothing is parked: every page reads again from its
    cursor's checkpoint and skips what earlier pages returned, which is
    exact only if those reads repeat the first one log for log."""
    query = attrs.evolve(_query(sandbox), limit=397)
    connector = registry.create("example", _config(sandbox, 16))
    ids: list[str] = []
    pages = 0
    while True:
        page = await connector.get_ai_audit_logs(query)
        ids.extend(_ids(page.logs))
        pages += 1
        if not page.has_more:
            break
        query = attrs.evolve(query, cursor=page.next_cursor)
    assert pages > 10  # many cursors, each read again
    assert len(ids) == len(set(ids)), "no log on two pages"
    assert sorted(ids) == sorted(_truth(sandbox))


async def test_a_sync_cancelled_half_way_cancels_every_window_and_closes_its_session(
    registry, sandbox, store
):
    """Ctrl-C during a sync at concurrency 16: every window's task ends and
    the connector's session closes before the cancellation returns; what
    was stored is whole batches, and the next sync completes the ground
    truth, nothing doubled."""
    query = _query(sandbox)
    enough = asyncio.Event()

    class Progress:
        def update(self, report) -> None:
            if report.inserted >= 300:
                enough.set()

    before = asyncio.all_tasks()
    with track_sessions() as sessions:
        connector = registry.create("example", _config(sandbox, 16))
        task = asyncio.create_task(
            sync_connection(
                connector,
                store,
                connection="acme",
                since=query.start_date,
                until=query.end_date,
                progress=Progress(),
            )
        )
        await enough.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        left = asyncio.all_tasks() - before
        assert not left, [t.get_name() for t in left]
        assert sessions
        assert all(session.closed for session in sessions)
        await connector.aclose()

    partial = store.count_logs(LogFilter(connection="acme"))
    async with registry.create("example", _config(sandbox, 16)) as again:
        report = await sync_connection(
            again,
            store,
            connection="acme",
            since=query.start_date,
            until=query.end_date,
        )
    assert report.ok, [s.error for s in report.streams]
    stored = [log.id for log in store.iter_logs(LogFilter(connection="acme"))]
    assert 300 <= partial < len(stored)
    assert len(stored) == len(set(stored))
    assert set(stored) == set(_truth(sandbox))
