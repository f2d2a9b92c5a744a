"""Pages and plain streams the core derives from a connector's streams."""

from __future__ import annotations

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
    first = await connector.get_ai_audit_logs(attrs.evolve(QUERY, limit=10))
    connector.instance.reads.clear()
    await connector.get_ai_audit_logs(
        attrs.evolve(QUERY, limit=10, cursor=first.next_cursor)
    )
    stream, checkpoint = connector.instance.reads[0]
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


@hookimpl
def aiaudit_register_connectors(register):
    register(_Recording)
    register(_Paged)


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
        conn.instance.hints.clear()
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
        conn.instance.reads.clear()
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
