"""The writer stores the batches waiting for it in one transaction.

Whether batches are merged or written one by one must not show: the store
ends byte for byte the same (but for the times of writing), the report's
totals are the same, and no checkpoint is ever committed without every event
before it. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector_core import _drain
from connector_core.exceptions import StoreError
from connector_core.models import AIActivityType, AIAuditLog
from connector_core.store import open_store
from connector_core.store.base import LogFilter, WriteResult
from connector_core.streams import (
    QuarantinedRecord,
    StreamBatch,
    StreamInfo,
    StreamKind,
)
from connector_core.sync import StreamReport, sync_connection


START = datetime(2025, 1, 1, tzinfo=UTC)
STREAM = "feed"
CONNECTION = "acme"
REFERENCE = "reference"
USERS = ("ada", "bob", "cy", "dee")


def make_log(i: int, **changes: Any) -> AIAuditLog:
    """Events spread over days and hours, users with and without an email,
    some with a model and tokens: every partial sum gets rows."""
    user = USERS[i % len(USERS)]
    fields: dict[str, Any] = {
        "id": f"evt-{i:05d}",
        "platform": "toy",
        "timestamp": START + timedelta(minutes=97 * i),
        "user_id": f"user-{user}",
        "user_email": None if i % 5 == 0 else f"{user}{i % 3}@example.com",
        "organization_id": "org-1",
        "activity_type": AIActivityType.CONVERSATION,
        "action": ("user.login", "conversation.message", "file.uploaded")[i % 3],
        "metadata": (
            {"model": f"gpt-{i % 2}", "tokens_used": i} if i % 4 else {"model": "o1"}
        ),
        "native_type": "message",
        "raw": {"n": i, "nested": {"list": [i, str(i)]}},
    }
    fields.update(changes)
    return AIAuditLog(**fields)


def make_batches() -> list[StreamBatch]:
    """Many small batches: checkpoints every few (cumulative: the index of
    the batch), some without; quarantined records, repeated ones too; events
    repeated across batches and within one; empty and checkpoint-only
    batches."""
    batches: list[StreamBatch] = []
    n = 0
    for index in range(90):
        logs = [make_log(n + k) for k in range(index % 7)]
        n += len(logs)
        if index % 11 == 3 and n > 10:
            logs.append(make_log(n - 10))  # seen in an earlier batch
        if index % 13 == 5 and logs:
            logs.append(logs[0])  # twice in this batch
        quarantined = []
        if index % 6 == 1:
            quarantined.append(
                QuarantinedRecord.of(STREAM, "no timestamp", f'{{"n": {index}}}')
            )
        if index % 17 == 2:
            quarantined.append(
                QuarantinedRecord.of(STREAM, "no timestamp", '{"n": "again"}')
            )
        checkpoint = {"batch": index, "n": n} if index % 4 in {0, 3} else None
        if index % 19 == 7:
            logs, quarantined = [], []  # only a checkpoint, or nothing at all
        batches.append(
            StreamBatch(
                logs=tuple(logs), quarantined=tuple(quarantined), checkpoint=checkpoint
            )
        )
    assert any(
        not b.logs and not b.quarantined and b.checkpoint is None for b in batches
    )
    assert any(not b.logs and b.checkpoint is not None for b in batches)
    return batches


class Feed:
    """A connector with one stream yielding *batches*, from the checkpoint's
    batch on; it counts the events it has yielded."""

    platform = "toy"

    def __init__(self, batches: list[StreamBatch]) -> None:
        self.batches = batches
        self.yielded = 0

    async def list_streams(self) -> list[StreamInfo]:
        return [StreamInfo(name=STREAM, kind=StreamKind.WINDOWED)]

    async def read_stream(self, stream, checkpoint, query):
        assert stream == STREAM
        first = 0 if checkpoint is None else checkpoint["batch"] + 1
        for batch in self.batches[first:]:
            self.yielded += len(batch.logs) + len(batch.quarantined)
            yield batch
            await asyncio.sleep(0)


class SlowStore:
    """A store whose ``write_batch`` takes a while, so batches pile up
    behind it; it records each call and checks, after each, that a
    committed checkpoint has every event before it."""

    def __init__(self, store, batches: list[StreamBatch], *, seconds: float) -> None:
        self._store = store
        self._batches = batches
        self._seconds = seconds
        # (events, quarantined records, checkpoint, committed) of each call.
        self.attempts: list[list[Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def write_batch(self, connection, stream, logs, quarantined=(), checkpoint=None):
        assert threading.current_thread() is not threading.main_thread()
        time.sleep(self._seconds)
        attempt = [len(logs), len(quarantined), checkpoint, False]
        self.attempts.append(attempt)
        result = self._store.write_batch(
            connection, stream, logs, quarantined, checkpoint
        )
        attempt[-1] = True
        saved = self._store.checkpoints(connection).get(stream)
        if saved is not None:
            before = self._batches[: saved["batch"] + 1]
            expected = {log.id for batch in before for log in batch.logs}
            stored = {
                log.id
                for log in self._store.iter_logs(LogFilter(connection=connection))
            }
            assert expected <= stored, "a checkpoint committed before its events"
        return result

    @property
    def calls(self) -> list[list[Any]]:
        """The calls that committed."""
        return [attempt for attempt in self.attempts if attempt[-1]]


@pytest.fixture
def reference_store(store_url, tmp_path):
    """A second store of the test's kind, for the reference writes."""
    if store_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'reference.db'}"
    else:
        url = store_url.replace("?schema=", "?schema=reference_", 1)
    opened = open_store(url)
    yield opened
    opened.close()
    if not store_url.startswith("sqlite"):
        import psycopg  # noqa: PLC0415
        from psycopg import sql  # noqa: PLC0415

        base, _, schema = url.partition("?schema=")
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(schema)
                )
            )


def write_one_by_one(store, batches: list[StreamBatch]) -> StreamReport:
    """What the engine did before merging, as the reference: one
    ``write_batch`` per non-empty batch, counted batch by batch, under the
    connection :data:`REFERENCE` of a store of the same kind (in the same
    store, it would find every event of the organization stored already)."""
    report = StreamReport(connection=REFERENCE, stream=STREAM)
    for batch in batches:
        if batch.logs or batch.quarantined or batch.checkpoint is not None:
            result = store.write_batch(
                REFERENCE, STREAM, batch.logs, batch.quarantined, batch.checkpoint
            )
            report.add(batch, result)
    return report


def contents(store, connection: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows of *connection*, without the connection and the
    columns that say when they were written."""
    statements = {
        "events": "SELECT id, platform, ts_us, day, hour, user_id, user_email,"
        " organization_id, activity_type, action, native_type, model, tokens_used,"
        " ip_address, stream, document FROM events WHERE connection = ? ORDER BY id",
        "checkpoints": "SELECT stream, checkpoint FROM checkpoints"
        " WHERE connection = ? ORDER BY stream",
        "quarantine": "SELECT stream, record_key, reason, raw, truncated, native_id,"
        " native_type FROM quarantine WHERE connection = ? ORDER BY seq",
        "usage_days": "SELECT platform, day, user_id, events, last_us, low_email,"
        " high_email FROM usage_days WHERE connection = ?"
        " ORDER BY platform, day, user_id",
        "usage_hours": "SELECT platform, day, hour, events FROM usage_hours"
        " WHERE connection = ? ORDER BY platform, day, hour",
        "usage_actions": "SELECT platform, day, action, events FROM usage_actions"
        " WHERE connection = ? ORDER BY platform, day, action",
        "usage_models": "SELECT platform, day, model, events, tokens"
        " FROM usage_models WHERE connection = ? ORDER BY platform, day, model",
    }
    return {
        table: store._query(sql, (connection,)) for table, sql in statements.items()
    }


def assert_same_contents(store, other) -> None:
    merged, reference = contents(store, CONNECTION), contents(other, REFERENCE)
    assert merged == reference
    assert merged["events"]


def totals(report: StreamReport) -> dict[str, int]:
    return {
        name: getattr(report, name)
        for name in (
            "batches",
            "read",
            "inserted",
            "duplicates",
            "quarantined",
            "checkpoints",
        )
    }


async def _sync(feed, store):
    return await sync_connection(
        feed,
        store,
        connection=CONNECTION,
        since=START - timedelta(days=1),
        until=START + timedelta(days=365),
    )


async def test_merged_writes_store_what_one_by_one_writes_store(
    store, reference_store, monkeypatch
):
    batches = make_batches()
    monkeypatch.setattr(_drain, "MAX_MERGED_EVENTS", 40)
    slow = SlowStore(store, batches, seconds=0.02)

    report = await _sync(Feed(batches), slow)
    expected = write_one_by_one(reference_store, batches)

    assert report.ok, [s.error for s in report.streams]
    (stream,) = report.streams
    assert totals(stream) == totals(expected)
    assert expected.duplicates > 0
    assert expected.quarantined > 0
    assert_same_contents(store, reference_store)
    # Merged: fewer transactions than batches, none over the cap but for a
    # single batch, and the last checkpoint stored.
    written = [b for b in batches if b.logs or b.quarantined or b.checkpoint]
    assert len(slow.attempts) < len(written) / 3
    assert all(events + bad <= 40 for events, bad, *_ in slow.attempts)
    assert store.checkpoints(CONNECTION)[STREAM] == next(
        b.checkpoint for b in reversed(batches) if b.checkpoint is not None
    )


async def test_a_writer_that_keeps_up_writes_batch_by_batch(store, reference_store):
    """When nothing waits for the database, nothing is merged."""
    batches = make_batches()[:30]
    written = [b for b in batches if b.logs or b.quarantined or b.checkpoint]
    counting = SlowStore(store, batches, seconds=0)

    class Paced(Feed):
        async def read_stream(self, stream, checkpoint, query):
            stored = 0
            async for batch in super().read_stream(stream, checkpoint, query):
                yield batch
                # The next batch only once this one is stored.
                stored += any(batch is b for b in written)
                while len(counting.calls) < stored:  # noqa: ASYNC110 -- a thread writes
                    await asyncio.sleep(0.001)

    report = await _sync(Paced(batches), counting)
    expected = write_one_by_one(reference_store, batches)
    assert len(counting.attempts) == len(written)
    assert totals(report.streams[0]) == totals(expected)
    assert_same_contents(store, reference_store)


async def test_a_bad_event_in_a_merged_write_fails_where_it_did(
    store, reference_store, monkeypatch
):
    """A merged transaction that fails is written again batch by batch: the
    batches before the bad one are committed, with their checkpoint, and
    the bad one's error is raised, as before merging."""
    batches = make_batches()
    bad_at = 41
    # An event the store fails to write (an event it cannot serialize is
    # quarantined instead, so the failure is injected where events go in).
    bad = make_log(9_999)
    insert_new = type(store)._insert_new

    def fail_on_the_bad_event(self, session, connection, rows):
        if any(bad.id in row for row in rows):
            raise StoreError(f"event {bad.id!r}: the database failed")
        return insert_new(self, session, connection, rows)

    monkeypatch.setattr(type(store), "_insert_new", fail_on_the_bad_event)
    batches[bad_at] = StreamBatch(
        logs=(*batches[bad_at].logs, bad), checkpoint=batches[bad_at].checkpoint
    )
    slow = SlowStore(store, batches, seconds=0.02)
    monkeypatch.setattr(_drain, "MAX_MERGED_EVENTS", 200)

    report = await _sync(Feed(batches), slow)
    with pytest.raises(StoreError, match="evt-09999") as raised:
        write_one_by_one(reference_store, batches)

    # The stream stops with the bad batch's own error.
    assert report.streams[0].error == str(raised.value)

    assert_same_contents(store, reference_store)
    # It failed merged with the batches before it, then alone.
    merged_failure, alone = [a for a in slow.attempts if not a[-1]]
    assert merged_failure[0] > alone[0] == len(batches[bad_at].logs)


async def test_a_resumed_sync_after_merged_writes_adds_nothing(store, monkeypatch):
    batches = make_batches()
    monkeypatch.setattr(_drain, "MAX_MERGED_EVENTS", 25)
    await _sync(Feed(batches), SlowStore(store, batches, seconds=0.01))
    before = contents(store, CONNECTION)
    again = await _sync(Feed(batches), store)
    assert again.inserted == 0
    assert contents(store, CONNECTION) == before


async def test_the_reader_stays_within_the_read_ahead(store, monkeypatch):
    """The reader fetches ahead while the writer writes, but never more than
    the read-ahead's events (plus the batch it is handing over) beyond what
    is stored or being stored."""
    batches = [StreamBatch(logs=(make_log(i),)) for i in range(120)]
    monkeypatch.setattr(_drain, "READ_AHEAD_EVENTS", 10)
    monkeypatch.setattr(_drain, "MAX_MERGED_EVENTS", 10)
    feed = Feed(batches)
    ahead: list[int] = []

    class Watching(SlowStore):
        written = 0

        def write_batch(self, connection, stream, logs, *args):
            # Measured once the (slow) write is done: the reader has had the
            # whole write to fetch ahead, however the threads were scheduled.
            result = super().write_batch(connection, stream, logs, *args)
            self.written += len(logs)
            ahead.append(feed.yielded - self.written)
            return result

    report = await _sync(feed, Watching(store, batches, seconds=0.01))
    assert report.inserted == 120
    assert max(ahead) <= 10 + 1
    assert max(ahead) >= 5, "the reader did not read ahead"


async def test_the_read_ahead_is_bounded_by_events_and_keeps_order():
    pending = _drain.ReadAhead(5)
    small = [StreamBatch(logs=(make_log(i),)) for i in range(3)]
    big = StreamBatch(logs=tuple(make_log(i) for i in range(10, 17)))
    checkpoint_only = StreamBatch(checkpoint={"at": 1})
    for batch in (*small, big):
        await asyncio.wait_for(pending.put(batch), 1)
    # Ten events wait: the next batch, even an empty one, waits for room.
    blocked = asyncio.create_task(pending.put(checkpoint_only))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    # The first batches up to the limit; the big one on its own.
    assert await pending.take(4) == small
    await asyncio.sleep(0.05)
    assert not blocked.done()
    assert await pending.take(4) == [big]
    await asyncio.wait_for(blocked, 1)
    end = asyncio.create_task(pending.put(None))
    assert await pending.take(4) == [checkpoint_only]
    await asyncio.wait_for(end, 1)
    assert await pending.take(4) is None
    assert await pending.take(4) is None


def test_a_merged_result_counts_as_its_batches():
    batches = [
        StreamBatch(logs=(make_log(1), make_log(2)), checkpoint={"a": 1}),
        StreamBatch(quarantined=(QuarantinedRecord.of(STREAM, "bad", "x"),)),
        StreamBatch(logs=(make_log(3),), checkpoint={"a": 2}),
    ]
    report = StreamReport(connection=CONNECTION, stream=STREAM)
    report.add_merged(batches, WriteResult(inserted=2, duplicates=1, quarantined=1))
    assert totals(report) == {
        "batches": 3,
        "read": 3,
        "inserted": 2,
        "duplicates": 1,
        "quarantined": 1,
        "checkpoints": 2,
    }
