"""Pages and plain streams the core derives from a connector's streams."""

from __future__ import annotations

import asyncio
import math
import sys
from datetime import timedelta
from typing import ClassVar

import attrs
import pytest
import toy
from structlog.testing import capture_logs

from connector_core import Registry, hookimpl
from connector_core.exceptions import ConfigurationError
from connector_core.models import AIAuditLogQuery
from connector_core.streams import QuarantinedRecord, StreamBatch


QUERY = AIAuditLogQuery(start_date=toy.START, end_date=toy.START + timedelta(days=30))


@pytest.fixture
async def connector():
    registry = Registry.load(entry_points=False, plugins=[("toy", toy)], environ={})
    async with registry.create("toy", {"token": "good", "events": 40}) as conn:
        yield conn


async def page_all(connector, query):
    pages, cursor = [], None
    while True:
        page = await connector.get_ai_audit_logs(attrs.evolve(query, cursor=cursor))
        pages.append(page)
        if not page.has_more:
            return pages
        cursor = page.next_cursor


@pytest.mark.parametrize("limit", [1, 3, 4, 5, 7, 13, 26, 40, 100])
async def test_pages_are_disjoint_and_their_union_is_one_full_read(connector, limit):
    everything = [log async for log in connector.stream_ai_audit_logs(QUERY)]
    pages = await page_all(connector, attrs.evolve(QUERY, limit=limit))
    paged = [log for page in pages for log in page.logs]
    assert [log.id for log in paged] == [log.id for log in everything]
    assert len(everything) == 40
    assert all(len(page.logs) == limit for page in pages[:-1])
    assert pages[-1].total_count == 40
    assert pages[-1].next_cursor is None


async def test_a_filter_is_applied_across_streams(connector):
    query = attrs.evolve(QUERY, event_types=("file.uploaded",), limit=3)
    paged = [log for page in await page_all(connector, query) for log in page.logs]
    expected = [log for log in connector.instance.logs if log.action == "file.uploaded"]
    assert paged == expected


async def test_a_page_resumes_from_the_streams_checkpoint(connector):
    """On a handle that did not read the page before (another process, say),
    a page reads again from the checkpoint its cursor names."""
    first = await connector.get_ai_audit_logs(attrs.evolve(QUERY, limit=10))
    registry = Registry.load(entry_points=False, plugins=[("toy", toy)], environ={})
    async with registry.create("toy", {"token": "good", "events": 40}) as other:
        await other.get_ai_audit_logs(
            attrs.evolve(QUERY, limit=10, cursor=first.next_cursor)
        )
        stream, checkpoint = other.instance.reads[0]
    assert stream == "events"
    assert checkpoint == {"next": 8}  # not a read from the start


async def test_a_cursor_belongs_to_its_query(connector):
    first = await connector.get_ai_audit_logs(attrs.evolve(QUERY, limit=5))
    other = attrs.evolve(
        QUERY, limit=5, event_types=("user.login",), cursor=first.next_cursor
    )
    with pytest.raises(ConfigurationError, match="belongs to another query"):
        await connector.get_ai_audit_logs(other)


@pytest.mark.parametrize("cursor", ["garbage", "e30", "eyJ2IjoyfQ", "!!!"])
async def test_a_foreign_cursor_is_refused(connector, cursor):
    with pytest.raises(ConfigurationError, match="not one this connector issued"):
        await connector.get_ai_audit_logs(attrs.evolve(QUERY, cursor=cursor))


async def test_the_range_is_inclusive_and_a_future_window_is_empty(connector):
    logs = connector.instance.logs
    query = AIAuditLogQuery(start_date=logs[3].timestamp, end_date=logs[6].timestamp)
    page = await connector.get_ai_audit_logs(query)
    assert [log.id for log in page.logs] == [log.id for log in logs[3:7]]
    future = AIAuditLogQuery(
        start_date=logs[-1].timestamp + timedelta(days=1),
        end_date=logs[-1].timestamp + timedelta(days=2),
    )
    assert (await connector.get_ai_audit_logs(future)).logs == ()
    assert [log async for log in connector.stream_ai_audit_logs(future)] == []


async def test_quarantined_records_are_reported_not_lost(connector):
    bad = QuarantinedRecord.of("events", "missing id", b'{"type": "x"}')
    connector.instance.quarantine[("events", 0)] = (bad,)
    with capture_logs() as events:
        page = await connector.get_ai_audit_logs(QUERY)
        streamed = [log async for log in connector.stream_ai_audit_logs(QUERY)]
    assert page.metadata.warnings == ("1 record(s) of events quarantined: missing id",)
    assert len(streamed) == 40
    warnings = [e for e in events if e["event"] == "stream.quarantined"]
    assert len(warnings) == 2
    assert warnings[0]["reasons"] == ["missing id"]


def test_quarantined_records_are_cut_but_marked():
    huge = "x" * 100_000
    record = QuarantinedRecord.of("s", "too big", huge)
    assert record.truncated
    assert len(record.raw) == 64 * 1024
    assert QuarantinedRecord.of("s", "bad utf-8", b"\xff\xfe{").raw == "\ufffd\ufffd{"


class _Recording(toy.ToyConnector):
    """The toy, which ignores the page hint, with a record of the queries
    its reads got and of the batches they were asked for."""

    platform: ClassVar[str] = "recording"

    def __init__(self, config, *, session=None) -> None:
        super().__init__(config, session=session)
        self.hints: list[int | None] = []
        self.pulled = 0

    @hookimpl
    async def read_stream(self, stream, checkpoint, query):
        self.hints.append(query.limit)
        async for batch in super().read_stream(stream, checkpoint, query):
            self.pulled += 1
            yield batch


class _Paged(toy.ToyConnector):
    """A platform that pages oldest first by offset, a position a read can
    resume at: its reader honours the hint, one checkpoint per request."""

    platform: ClassVar[str] = "paged"
    most: ClassVar[int] = 100  # the platform's largest page

    def __init__(self, config, *, session=None) -> None:
        super().__init__(config, session=session)
        self.requests = 0

    @hookimpl
    async def read_stream(self, stream, checkpoint, query):
        split = len(self.logs) * 2 // 3
        logs = self.logs[:split] if stream == "events" else self.logs[split:]
        at = checkpoint["next"] if checkpoint else 0
        size = min(query.limit or self.most, self.most)
        while at < len(logs):
            self.requests += 1  # one request: a page of `size`
            page = logs[at : at + size]
            at += len(page)
            yield StreamBatch(logs=tuple(page), checkpoint={"next": at})


class _Coarse(toy.ToyConnector):
    """A platform served a whole file or snapshot at a time: a stream's
    only checkpoint is at its end, so a page re-read from a checkpoint
    re-reads the stream. Reads are counted on the class, as a handle
    outside ``async with`` builds a plugin object per call."""

    platform: ClassVar[str] = "coarse"
    opened: ClassVar[list[str]] = []
    closed: ClassVar[list[str]] = []
    fail_at: ClassVar[int | None] = None  # the log a read fails at
    stale_at: ClassVar[int | None] = None  # the log the first read fails at

    @classmethod
    def reset(cls) -> None:
        cls.opened.clear()
        cls.closed.clear()
        cls.fail_at = None
        cls.stale_at = None

    @classmethod
    def open_reads(cls) -> int:
        return len(cls.opened) - len(cls.closed)

    @hookimpl
    async def read_stream(self, stream, checkpoint, query):
        type(self).opened.append(stream)
        split = len(self.logs) * 2 // 3
        offset = 0 if stream == "events" else split
        logs = self.logs[:split] if stream == "events" else self.logs[split:]
        try:
            if checkpoint:
                return  # at the end
            for at in range(0, len(logs), 3):
                await asyncio.sleep(0)  # another task may run between batches
                if self.fail_at is not None and offset + at + 3 > self.fail_at:
                    raise RuntimeError(f"the platform failed at {self.fail_at}")
                stale = self.stale_at is not None and len(self.opened) == 1
                if stale and offset + at + 3 > self.stale_at:  # type: ignore[operator]
                    raise ConnectionResetError("the idle download was dropped")
                yield StreamBatch(
                    logs=tuple(logs[at : at + 3]),
                    checkpoint={"done": True} if at + 3 >= len(logs) else None,
                )
        finally:
            type(self).closed.append(stream)


@hookimpl
def aiaudit_register_connectors(register):
    register(_Recording)
    register(_Paged)
    register(_Coarse)


def _create(platform: str, events: int = 40):
    registry = Registry.load(
        entry_points=False, plugins=[("paging", sys.modules[__name__])], environ={}
    )
    return registry.create(platform, {"token": "good", "events": events})


async def test_a_reader_is_told_what_a_page_still_needs():
    async with _create("recording") as conn:
        first = await conn.get_ai_audit_logs(attrs.evolve(QUERY, limit=10))
        # Ten logs; the cursor is two logs past the checkpoint at eight.
        assert conn.instance.hints == [10]
    # On a handle that did not read the first page (this one parked it).
    async with _create("recording") as conn:
        second = await conn.get_ai_audit_logs(
            attrs.evolve(QUERY, limit=10, cursor=first.next_cursor)
        )
        assert conn.instance.hints == [12]
        assert [log.id for log in second.logs] == [
            log.id for log in conn.instance.logs[10:20]
        ]
        conn.instance.hints.clear()
        # A plain stream reads to the end, whatever limit the host's query has.
        streamed = conn.stream_ai_audit_logs(attrs.evolve(QUERY, limit=5))
        assert len([entry async for entry in streamed]) == 40
        assert conn.instance.hints == [None, None]


async def test_a_page_full_at_a_checkpoint_ends_there():
    """Eight logs fill the page exactly at the toy's checkpoint: the page
    ends there, without asking the reader for the batch after it, and the
    next page resumes at that checkpoint."""
    async with _create("recording") as conn:
        first = await conn.get_ai_audit_logs(attrs.evolve(QUERY, limit=8))
        assert first.has_more
        assert conn.instance.pulled == 2  # two batches of four, no look ahead
    async with _create("recording") as conn:  # one that did not park the read
        await conn.get_ai_audit_logs(
            attrs.evolve(QUERY, limit=8, cursor=first.next_cursor)
        )
        assert conn.instance.reads[0] == ("events", {"next": 8})


async def test_logs_that_end_with_a_full_page_are_followed_by_an_empty_one():
    async with _create("recording") as conn:
        pages = await page_all(conn, attrs.evolve(QUERY, limit=40))
    assert [len(page.logs) for page in pages] == [40, 0]
    assert [page.has_more for page in pages] == [True, False]
    assert pages[-1].total_count == 40
    assert pages[-1].next_cursor is None


@pytest.mark.parametrize("limit", [1, 3, 10, 26, 100])
async def test_a_reader_that_honours_the_hint_costs_a_request_a_page(limit):
    query = attrs.evolve(QUERY, end_date=toy.START + timedelta(days=70))
    async with _create("paged", events=300) as conn:
        everything = [log async for log in conn.stream_ai_audit_logs(query)]
        conn.instance.requests = 0
        pages = await page_all(conn, attrs.evolve(query, limit=limit))
        requests = conn.instance.requests
    assert [log.id for page in pages for log in page.logs] == [
        log.id for log in everything
    ]
    assert len(everything) == 300
    # A page each, and one more where a page spans the two streams.
    assert requests <= math.ceil(300 / limit) + 1


@pytest.fixture
def coarse():
    _Coarse.reset()
    yield _Coarse
    _Coarse.reset()


def _ids(pages):
    return [log.id for page in pages for log in page.logs]


def _same(one, other) -> bool:
    return (one.logs, one.has_more, one.next_cursor, one.total_count) == (
        other.logs,
        other.has_more,
        other.next_cursor,
        other.total_count,
    )


@pytest.mark.parametrize("limit", [1, 4, 7, 13, 40])
async def test_paging_inside_a_block_reads_each_stream_once(coarse, limit):
    """The read a full page stops is parked on the handle and the next page
    continues it: a stream checkpointed only at its end is read once, not
    once a page."""
    async with _create("coarse") as conn:
        everything = [log.id async for log in conn.stream_ai_audit_logs(QUERY)]
        coarse.reset()
        pages = await page_all(conn, attrs.evolve(QUERY, limit=limit))
        assert coarse.opened == ["events", "extras"]
    assert _ids(pages) == everything
    assert len(everything) == 40
    assert all(len(page.logs) == limit for page in pages[:-1])
    assert pages[-1].total_count == 40
    assert coarse.open_reads() == 0


@pytest.mark.parametrize("limit", [1, 7, 40])
async def test_paging_outside_a_block_re_reads_to_the_same_pages(coarse, limit):
    async with _create("coarse") as conn:
        parked = await page_all(conn, attrs.evolve(QUERY, limit=limit))
    coarse.reset()
    conn = _create("coarse")
    pages = await page_all(conn, attrs.evolve(QUERY, limit=limit))
    assert len(coarse.opened) == len(pages) + 1  # a read a page, and one more
    assert coarse.open_reads() == 0
    assert [(p.logs, p.next_cursor, p.total_count) for p in pages] == [
        (p.logs, p.next_cursor, p.total_count) for p in parked
    ]


async def test_a_cursor_used_twice_gives_the_same_page(coarse):
    query = attrs.evolve(QUERY, limit=5)
    async with _create("coarse") as conn:
        first = await conn.get_ai_audit_logs(query)
        cursor = attrs.evolve(query, cursor=first.next_cursor)
        again = await conn.get_ai_audit_logs(cursor)  # the parked read
        opened = len(coarse.opened)
        retried = await conn.get_ai_audit_logs(cursor)  # re-read
        assert len(coarse.opened) == opened + 1
        then = await conn.get_ai_audit_logs(
            attrs.evolve(query, cursor=retried.next_cursor)
        )
    assert _same(again, retried)
    assert [log.id for log in then.logs] == [f"evt-{i:05d}" for i in range(10, 15)]
    assert coarse.open_reads() == 0


async def test_a_page_resumed_on_another_handle_equals_the_parked_one(coarse):
    query = attrs.evolve(QUERY, limit=6)
    async with _create("coarse") as conn:
        first = await conn.get_ai_audit_logs(query)
        cursor = attrs.evolve(query, cursor=first.next_cursor)
        parked = await conn.get_ai_audit_logs(cursor)
    async with _create("coarse") as other:
        resumed = await other.get_ai_audit_logs(cursor)
    assert _same(parked, resumed)
    assert [log.id for log in resumed.logs] == [f"evt-{i:05d}" for i in range(6, 12)]


async def test_the_same_cursor_twice_at_once_runs_no_read_from_two_tasks(coarse):
    """A host retrying a page while the first try still runs: one takes
    the parked read, the other re-reads; both get the page."""
    query = attrs.evolve(QUERY, limit=5)
    async with _create("coarse") as conn:
        first = await conn.get_ai_audit_logs(query)
        cursor = attrs.evolve(query, cursor=first.next_cursor)
        one, other = await asyncio.gather(
            conn.get_ai_audit_logs(cursor), conn.get_ai_audit_logs(cursor)
        )
        assert coarse.opened == ["events", "events"]
        assert coarse.open_reads() == 1  # one parked read at the next cursor
    assert _same(one, other)
    assert coarse.open_reads() == 0


async def test_the_oldest_parked_read_is_closed_past_the_bound(coarse):
    async with _create("coarse") as conn:
        firsts = [
            await conn.get_ai_audit_logs(attrs.evolve(QUERY, limit=limit))
            for limit in (1, 2, 3, 4)
        ]
        assert coarse.open_reads() == 4
        assert coarse.closed == []
        await conn.get_ai_audit_logs(attrs.evolve(QUERY, limit=5))
        assert coarse.open_reads() == 4
        assert coarse.closed == ["events"]
        # The evicted cursor still reads its page, the long way.
        opened = len(coarse.opened)
        second = await conn.get_ai_audit_logs(
            attrs.evolve(QUERY, limit=1, cursor=firsts[0].next_cursor)
        )
        assert len(coarse.opened) == opened + 1
        assert [log.id for log in second.logs] == ["evt-00001"]
    assert coarse.open_reads() == 0


async def test_a_parked_read_idle_past_the_timeout_is_closed(coarse):
    now = [1_000.0]
    async with _create("coarse") as conn:
        conn.parked.clock = lambda: now[0]
        first = await conn.get_ai_audit_logs(attrs.evolve(QUERY, limit=5))
        now[0] += conn.parked.timeout - 1
        await conn.get_ai_audit_logs(attrs.evolve(QUERY, limit=7))
        assert coarse.open_reads() == 2
        now[0] += 2  # the first read is idle past the timeout, not the second
        await conn.get_ai_audit_logs(attrs.evolve(QUERY, limit=9))
        assert coarse.open_reads() == 2
        assert len(coarse.closed) == 1
        opened = len(coarse.opened)
        second = await conn.get_ai_audit_logs(
            attrs.evolve(QUERY, limit=5, cursor=first.next_cursor)
        )
        assert len(coarse.opened) == opened + 1  # expired: read again
        assert [log.id for log in second.logs] == [f"evt-{i:05d}" for i in range(5, 10)]
    assert coarse.open_reads() == 0


async def test_closing_the_handle_closes_its_parked_reads(coarse):
    conn = _create("coarse")
    async with conn:
        await conn.get_ai_audit_logs(attrs.evolve(QUERY, limit=5))
        await conn.get_ai_audit_logs(attrs.evolve(QUERY, limit=6))
        assert coarse.open_reads() == 2
        await conn.aclose()
        assert coarse.open_reads() == 0
        await conn.get_ai_audit_logs(attrs.evolve(QUERY, limit=7))
        assert coarse.open_reads() == 1
    assert coarse.open_reads() == 0
    assert coarse.closed == ["events"] * 3


async def test_a_parked_read_that_fails_fails_the_page(coarse):
    query = attrs.evolve(QUERY, limit=5)
    coarse.fail_at = 8
    async with _create("coarse") as conn:
        first = await conn.get_ai_audit_logs(query)
        cursor = attrs.evolve(query, cursor=first.next_cursor)
        with pytest.raises(RuntimeError, match="failed at 8"):
            await conn.get_ai_audit_logs(cursor)
        assert coarse.open_reads() == 0
        with pytest.raises(RuntimeError, match="failed at 8"):
            await conn.get_ai_audit_logs(cursor)  # the re-read fails alike
    assert [log.id for log in first.logs] == [f"evt-{i:05d}" for i in range(5)]
    assert coarse.open_reads() == 0


async def test_a_parked_read_gone_stale_is_read_again_from_the_cursor(coarse):
    """A server that drops a download while it waits between pages costs a
    re-read of the page, not the page."""
    query = attrs.evolve(QUERY, limit=5)
    coarse.stale_at = 8
    async with _create("coarse") as conn:
        first = await conn.get_ai_audit_logs(query)
        second = await conn.get_ai_audit_logs(
            attrs.evolve(query, cursor=first.next_cursor)
        )
        assert coarse.opened == ["events", "events"]  # the parked, then a re-read
    assert [log.id for log in second.logs] == [f"evt-{i:05d}" for i in range(5, 10)]
    assert coarse.open_reads() == 0


def test_a_read_parked_on_another_event_loop_is_not_resumed(coarse):
    """A block entered on one loop and a page asked on another: the page is
    re-read; the parked read is closed on its own loop when the block
    exits, and nothing warns."""
    query = attrs.evolve(QUERY, limit=5)
    conn = _create("coarse")
    home = asyncio.new_event_loop()
    try:
        home.run_until_complete(conn.__aenter__())
        first = home.run_until_complete(conn.get_ai_audit_logs(query))
        cursor = attrs.evolve(query, cursor=first.next_cursor)
        elsewhere = asyncio.run(conn.get_ai_audit_logs(cursor))
        assert coarse.opened == ["events", "events"]
        assert [log.id for log in elsewhere.logs] == [
            f"evt-{i:05d}" for i in range(5, 10)
        ]
        resumed = home.run_until_complete(conn.get_ai_audit_logs(cursor))
        assert coarse.opened == ["events", "events"]  # the parked read
        assert _same(resumed, elsewhere)
        home.run_until_complete(conn.__aexit__(None, None, None))
        assert coarse.open_reads() == 0
    finally:
        home.run_until_complete(home.shutdown_asyncgens())
        home.close()
