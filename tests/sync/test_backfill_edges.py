"""Backfills at their edges, with a connector whose every read is recorded:
a backfill stopped midway resumes from its own checkpoint, a --since within
what is covered reads nothing old, a platform that keeps less history (or
refuses old ranges) gets a warning or one error, never a loop, and --until
and ``checkpoints reset`` keep the coverage honest. On SQLite and
PostgreSQL.

The connector serves one windowed stream of an event every hour over sixty
days, read in day-long windows whose end is the checkpoint.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from connector_core.exceptions import CheckpointError, ConnectorError, PluginError
from connector_core.models import AIActivityType, AIAuditLog
from connector_core.store.base import Backfill, Coverage, LogFilter
from connector_core.streams import StreamBatch, StreamInfo, StreamKind
from connector_core.sync import sync_connection


END = datetime(2025, 3, 1, tzinfo=UTC)
FIRST = END - timedelta(days=60)
CONNECTION = "acme"
STREAM = "log"


def make_log(at: datetime) -> AIAuditLog:
    return AIAuditLog(
        id=f"evt-{at:%Y%m%d%H}",
        platform="timeline",
        timestamp=at,
        user_id="user-ada",
        user_email="ada@example.com",
        organization_id="org-1",
        activity_type=AIActivityType.LOGIN,
        action="user.login",
        native_type="login",
        raw={"at": at.isoformat()},
    )


EVENTS = [make_log(FIRST + timedelta(hours=h)) for h in range(60 * 24)]


class Timeline:
    """A windowed stream: day-long windows ``[low, high)`` from the
    checkpoint (else the query's start), the last one ending just after the
    query's end; each window's end is the checkpoint.

    ``horizon``: events before it are no longer served. ``refuse_before``:
    a read from no checkpoint starting before it is refused. ``stop_after``:
    the read fails after yielding that many windows, once the last one's
    checkpoint is committed (the sync is stopped midway).
    """

    platform: ClassVar[str] = "timeline"

    def __init__(self, store) -> None:
        self.store = store
        self.reads: list[tuple[Any, datetime, datetime]] = []
        self.horizon: datetime | None = None
        self.refuse_before: datetime | None = None
        self.stop_after: int | None = None
        self.lag = timedelta(0)

    async def list_streams(self) -> list[StreamInfo]:
        return [
            StreamInfo(name=STREAM, kind=StreamKind.WINDOWED, publication_lag=self.lag)
        ]

    async def read_stream(self, stream, checkpoint, query):
        self.reads.append((checkpoint, query.start_date, query.end_date))
        refused = self.refuse_before is not None and checkpoint is None
        if refused and query.start_date < self.refuse_before:
            raise ConnectorError("the platform keeps 20 days of history")
        if checkpoint is None:
            low = query.start_date
        elif "at" in checkpoint:
            low = datetime.fromisoformat(checkpoint["at"])
        else:
            raise CheckpointError(stream, "no 'at'")
        end = query.end_date + timedelta(microseconds=1)
        windows = 0
        last = None
        while low < end:
            if self.stop_after is not None and windows == self.stop_after:
                await self._committed(last)
                raise ConnectorError("the sync was stopped")
            high = min(low + timedelta(days=1), end)
            logs = tuple(
                log
                for log in EVENTS
                if low <= log.timestamp < high
                and (self.horizon is None or log.timestamp >= self.horizon)
            )
            last = {"at": high.isoformat()}
            yield StreamBatch(logs=logs, checkpoint=last)
            windows += 1
            low = high

    async def _committed(self, checkpoint) -> None:
        """Wait for the engine's writer to commit *checkpoint* (the stream's
        or its backfill's), so what a stop leaves behind does not depend on
        how far the writer had got."""
        if checkpoint is None:
            return
        # The commit happens in the engine's writer thread, and a store has
        # nothing to await: poll it.
        while checkpoint not in (  # noqa: ASYNC110
            self.store.checkpoint(CONNECTION, STREAM),
            getattr(
                self.store.coverage(CONNECTION, STREAM).backfill, "checkpoint", None
            ),
        ):
            await asyncio.sleep(0.01)

    def plugin_error(self, operation: str, exc: Exception) -> PluginError:
        return PluginError(f"{operation}: {type(exc).__name__}")


async def _sync(feed, store, **kwargs):
    kwargs.setdefault("until", END)
    return await sync_connection(feed, store, connection=CONNECTION, **kwargs)


def _stored(store) -> set[str]:
    return {log.id for log in store.iter_logs(LogFilter(connection=CONNECTION))}


def _between(start: datetime, end: datetime) -> set[str]:
    return {log.id for log in EVENTS if start <= log.timestamp <= end}


def _at(store) -> datetime:
    return datetime.fromisoformat(store.checkpoint(CONNECTION, STREAM)["at"])


def _days(n: float) -> datetime:
    return END - timedelta(days=n)


async def test_an_earlier_since_reads_only_the_older_range(store):
    feed = Timeline(store)
    first = await _sync(feed, store, since=_days(10))
    checkpoint = _at(store)
    feed.reads.clear()

    second = await _sync(feed, store, since=_days(30))

    assert _stored(store) == _between(_days(30), END)
    # The older range alone, from no checkpoint; then the stream resumes.
    assert feed.reads[0] == (None, _days(30), _days(10))
    assert feed.reads[1][0] == {"at": checkpoint.isoformat()}
    assert len(feed.reads) == 2
    [stream] = second.streams
    assert stream.backfill is not None
    assert (stream.backfill.start, stream.backfill.end) == (_days(30), _days(10))
    assert stream.backfill.inserted == len(_between(_days(30), _days(10))) - 1
    assert stream.backfill.complete
    assert stream.backfill.warning is None
    assert stream.covered_from == _days(30)
    assert second.ok
    assert _at(store) == checkpoint, "the backfill moved the stream's checkpoint"
    assert store.coverage(CONNECTION, STREAM) == Coverage(start=_days(30))
    assert first.streams[0].covered_from == _days(10)


async def test_a_since_within_what_is_covered_reads_nothing_old(store):
    feed = Timeline(store)
    await _sync(feed, store, since=_days(30))
    feed.reads.clear()
    for days in (30, 12):
        report = await _sync(feed, store, since=_days(days))
        assert report.streams[0].backfill is None
        assert report.streams[0].covered_from == _days(30)
        assert report.inserted == 0
    # Only the resumed reads, from the checkpoint.
    assert [checkpoint is not None for checkpoint, _, _ in feed.reads] == [True, True]


async def test_the_default_since_never_backfills(store):
    """It slides with the clock: a day later it would be a day earlier."""
    feed = Timeline(store)
    await _sync(feed, store, since=_days(10))
    report = await _sync(feed, store)
    assert report.streams[0].backfill is None
    assert _stored(store) == _between(_days(10), END)


async def test_a_backfill_stopped_midway_resumes_from_its_own_checkpoint(store):
    feed = Timeline(store)
    await _sync(feed, store, since=_days(10))
    checkpoint = _at(store)
    feed.stop_after = 5

    stopped = await _sync(feed, store, since=_days(30))

    [stream] = stopped.streams
    assert stream.backfill is not None
    assert stream.backfill.error is not None
    assert "the sync was stopped" in stream.backfill.error
    assert not stopped.ok
    # The stream still synced on from its own checkpoint, which stayed put.
    assert stream.error is None
    assert _at(store) == checkpoint
    coverage = store.coverage(CONNECTION, STREAM)
    assert coverage.start == _days(10)
    assert coverage.backfill == Backfill(
        start=_days(30), end=_days(10), checkpoint={"at": _days(25).isoformat()}
    )
    assert _between(_days(30), _days(25) - timedelta(hours=1)) <= _stored(store)

    feed.stop_after = None
    feed.reads.clear()
    # A relative --since a little later than the first: the backfill under
    # way is finished as it was begun.
    resumed = await _sync(feed, store, since=_days(30) + timedelta(minutes=5))

    assert feed.reads[0] == ({"at": _days(25).isoformat()}, _days(30), _days(10))
    assert len(feed.reads) == 2
    backfill = resumed.streams[0].backfill
    assert backfill is not None
    assert backfill.resumed
    assert backfill.complete
    assert backfill.inserted == len(_between(_days(25), _days(10))) - 1
    assert resumed.ok
    assert _stored(store) == _between(_days(30), END)
    assert store.coverage(CONNECTION, STREAM) == Coverage(start=_days(30))
    assert _at(store) == checkpoint


async def test_an_unreadable_backfill_checkpoint_restarts_the_backfill(store):
    feed = Timeline(store)
    await _sync(feed, store, since=_days(10))
    store.save_coverage(
        CONNECTION,
        STREAM,
        Coverage(
            start=_days(10),
            backfill=Backfill(start=_days(30), end=_days(10), checkpoint={"x": 1}),
        ),
    )
    feed.reads.clear()
    report = await _sync(feed, store, since=_days(30))
    assert [r[0] for r in feed.reads[:2]] == [{"x": 1}, None]
    assert report.ok
    assert _stored(store) == _between(_days(30), END)
    assert store.coverage(CONNECTION, STREAM) == Coverage(start=_days(30))


async def test_a_platform_that_keeps_less_history_gets_a_warning_once(store):
    feed = Timeline(store)
    await _sync(feed, store, since=_days(10))
    feed.horizon = _days(20)

    report = await _sync(feed, store, since=_days(50) - timedelta(hours=1))
    again = await _sync(feed, store, since=_days(50) - timedelta(hours=1))

    backfill = report.streams[0].backfill
    assert backfill is not None
    assert backfill.warning is None, "it read events: nothing to say"
    assert report.ok
    assert _stored(store) == _between(_days(20), END)
    assert again.streams[0].backfill is None, "the range was read: no loop"

    feed.reads.clear()
    nothing = await _sync(feed, store, since=_days(55))
    backfill = nothing.streams[0].backfill
    assert backfill is not None
    assert backfill.warning is not None
    assert "read no event" in backfill.warning
    assert "no longer keeps events that old" in backfill.warning
    assert nothing.ok
    assert store.coverage(CONNECTION, STREAM).start == _days(55)


async def test_a_platform_refusing_old_ranges_fails_the_backfill_not_the_stream(
    store,
):
    feed = Timeline(store)
    await _sync(feed, store, since=_days(10))
    feed.refuse_before = _days(20)

    refused = await _sync(feed, store, since=_days(30))
    backfill = refused.streams[0].backfill
    assert backfill is not None
    assert backfill.error is not None
    assert "keeps 20 days" in backfill.error
    assert refused.streams[0].error is None
    assert not refused.ok

    # A sync that does not ask for it does not try again.
    feed.reads.clear()
    plain = await _sync(feed, store)
    assert plain.ok
    assert plain.streams[0].backfill is None
    assert all(checkpoint is not None for checkpoint, _, _ in feed.reads)
    # One that asks for a range the platform keeps gets it.
    kept = await _sync(feed, store, since=_days(20))
    assert kept.ok
    assert _stored(store) == _between(_days(20), END)


async def test_an_until_before_the_coverage_reads_up_to_it_and_covers_nothing_more(
    store,
):
    feed = Timeline(store)
    await _sync(feed, store, since=_days(10))
    feed.reads.clear()

    early = await _sync(feed, store, since=_days(30), until=_days(20))

    assert feed.reads[0] == (None, _days(30), _days(20))
    backfill = early.streams[0].backfill
    assert backfill is not None
    assert backfill.warning is not None
    assert "the range ends at" in backfill.warning
    assert early.ok
    assert _stored(store) == _between(_days(30), _days(20)) | _between(_days(10), END)
    # Not contiguous with what was covered: the coverage did not move.
    assert store.coverage(CONNECTION, STREAM) == Coverage(start=_days(10))

    whole = await _sync(feed, store, since=_days(30))
    assert whole.streams[0].backfill is not None
    assert _stored(store) == _between(_days(30), END)
    assert store.coverage(CONNECTION, STREAM) == Coverage(start=_days(30))


async def test_a_reset_forgets_the_coverage_and_a_backfill_under_way(store):
    feed = Timeline(store)
    await _sync(feed, store, since=_days(10))
    feed.stop_after = 2
    await _sync(feed, store, since=_days(30))
    assert store.coverage(CONNECTION, STREAM).backfill is not None
    feed.stop_after = None

    assert store.reset_checkpoints(CONNECTION, [STREAM]) == [STREAM]
    coverage = store.coverage(CONNECTION, STREAM)
    assert coverage.backfill is None
    assert coverage.estimated, "no record is left"

    feed.reads.clear()
    report = await _sync(feed, store, since=_days(40))
    # Read afresh from --since, as a stream never synced: no backfill.
    assert feed.reads == [(None, _days(40), END)]
    assert report.streams[0].backfill is None
    assert store.coverage(CONNECTION, STREAM) == Coverage(start=_days(40))
    assert _stored(store) == _between(_days(40), END)


async def test_a_stream_synced_before_coverage_was_kept_covers_from_its_oldest_event(
    store,
):
    """A store written by a version that kept no coverage: the oldest
    stored event is the latest the stream's reading can have begun."""
    feed = Timeline(store)
    await _sync(feed, store, since=_days(10) + timedelta(minutes=30))
    with store._mutex, store._session("write") as session:
        session.execute(store._sql("DELETE FROM coverage"))
    oldest = _days(10) + timedelta(hours=1)
    assert store.coverage(CONNECTION, STREAM) == Coverage(start=oldest, estimated=True)

    within = await _sync(feed, store, since=oldest)
    assert within.streams[0].backfill is None

    feed.reads.clear()
    report = await _sync(feed, store, since=_days(30))
    assert feed.reads[0] == (None, _days(30), oldest)
    backfill = report.streams[0].backfill
    assert backfill is not None
    assert backfill.estimated
    assert backfill.covered_from == oldest
    assert _stored(store) == _between(_days(30), END)
    assert store.coverage(CONNECTION, STREAM) == Coverage(start=_days(30))


@pytest.mark.parametrize("stop_after", [0, 1])
async def test_a_stream_never_synced_records_its_coverage_from_since(store, stop_after):
    """Even when its first read stops before any checkpoint: the record is
    trusted only with one, and the next read replaces it."""
    feed = Timeline(store)
    feed.stop_after = stop_after
    await _sync(feed, store, since=_days(10))
    feed.stop_after = None
    await _sync(feed, store, since=_days(8))
    expected = _days(10) if stop_after else _days(8)
    assert store.coverage(CONNECTION, STREAM) == Coverage(start=expected)


async def test_an_unreadable_coverage_record_fails_a_backfill_with_the_way_out(
    store,
):
    feed = Timeline(store)
    await _sync(feed, store, since=_days(10))
    store.save_coverage(
        CONNECTION,
        STREAM,
        Coverage(
            start=_days(10),
            backfill=Backfill(start=_days(30), end=_days(10), checkpoint={"at": "x"}),
        ),
    )
    with store._mutex, store._session("write") as session:
        session.execute(
            store._sql("UPDATE coverage SET backfill_checkpoint = ?"), ("7",)
        )

    failed = await _sync(feed, store, since=_days(30))
    assert not failed.ok
    assert f"aiaudit checkpoints reset {CONNECTION} {STREAM}" in failed.streams[0].error
    # A sync that asks for no backfill never reads the record.
    assert (await _sync(feed, store)).ok

    store.reset_checkpoints(CONNECTION, [STREAM])
    again = await _sync(feed, store, since=_days(30))
    assert again.ok
    assert _stored(store) == _between(_days(30), END)


async def test_a_range_ending_within_the_publication_lag_is_read_again_later(store):
    """Events of its last stretch may still be published: the backfill
    reads it, but the coverage does not claim it until it has settled."""
    feed = Timeline(store)
    feed.lag = timedelta(days=1)
    now = datetime.now(UTC)
    await _sync(feed, store, since=now - timedelta(hours=2), until=None)
    covered = store.coverage(CONNECTION, STREAM).start

    recent = await _sync(feed, store, since=now - timedelta(hours=5), until=None)
    backfill = recent.streams[0].backfill
    assert backfill is not None
    assert backfill.complete
    assert "may still publish" in backfill.warning
    assert store.coverage(CONNECTION, STREAM) == Coverage(start=covered)
    again = await _sync(feed, store, since=now - timedelta(hours=5), until=None)
    assert again.streams[0].backfill is not None, "read again: it may have changed"

    feed.lag = timedelta(0)
    settled = await _sync(feed, store, since=now - timedelta(hours=5), until=None)
    assert "may still publish" not in (settled.streams[0].backfill.warning or "")
    assert store.coverage(CONNECTION, STREAM) == Coverage(
        start=now - timedelta(hours=5)
    )


async def test_a_stream_with_no_event_and_no_record_is_backfilled_once(store):
    """Nothing is known of what it covered: the whole range up to now is
    read, once, whatever its publication lag."""
    feed = Timeline(store)
    feed.horizon = END + timedelta(days=1)
    feed.lag = timedelta(days=1)
    await _sync(feed, store, since=_days(10))
    with store._mutex, store._session("write") as session:
        session.execute(store._sql("DELETE FROM coverage"))
    assert store.coverage(CONNECTION, STREAM) == Coverage(start=None, estimated=True)

    feed.reads.clear()
    report = await _sync(feed, store, since=_days(30), until=None)
    backfill = report.streams[0].backfill
    assert backfill is not None
    assert backfill.covered_from is None
    assert feed.reads[0][0] is None
    assert feed.reads[0][1] == _days(30)
    assert feed.reads[0][2] == report.until
    assert "read no event" in backfill.warning
    assert store.coverage(CONNECTION, STREAM) == Coverage(start=_days(30))
    again = await _sync(feed, store, since=_days(30), until=None)
    assert again.streams[0].backfill is None
