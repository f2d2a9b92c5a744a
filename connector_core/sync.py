"""The sync engine: drain every stream of a connection into a store.

Built once here so that every plugin gets the hard part right: reading a
feed incrementally, forever, without losing or doubling an event.

For each stream the engine resumes from the stored checkpoint and writes
the batches the connector yields with :meth:`~connector_core.store.Store.write_batch`,
which commits their events, their quarantined records and (when one of them
carries one) the new checkpoint in one transaction. Batches without a
checkpoint (a time window still being drained) are written too, keeping the
old checkpoint; after a crash they are read again and recognised by their
ids. So a sync killed at any instant resumes with nothing lost and nothing
doubled, and a second sync with nothing new writes nothing.

Writing happens in a worker thread, so the event loop keeps fetching
meanwhile, up to :data:`READ_AHEAD_EVENTS` ahead of the database: that bounds
memory. The batches that wait when the writer is free again are written
together, as one transaction of at most :data:`MAX_MERGED_EVENTS`: a batch is
often one API page, and a transaction per page costs more than its events.

The range. ``since`` and ``until`` bound a sync, with two rules that keep a
store complete however irregularly it is synced:

* A stream with a stored checkpoint resumes from it, however long ago that
  was: its ``read_stream`` gets a query starting at :data:`RESUME_START`, so
  a reader that clips to the query's start still reads the whole gap, and a
  reader that resumes from the checkpoint ignores the start anyway. The
  contract for readers: with a checkpoint, resume from it and ignore
  ``query.start_date``; without one, start at ``query.start_date``.
* ``until`` never reaches past the present: a later one is clamped to now
  (the report keeps both). A checkpoint written at a future moment would
  make the next sync skip everything published in between.

Backfills. The store records from when each stream's events are complete
(its :class:`~connector_core.store.base.Coverage`: the start its first read
was given). An explicit ``since`` earlier than that also reads the missing
older range ``[since, covered from]``, before the stream resumes from its
checkpoint as usual; one within it reads nothing old. A default ``since``
never backfills: it slides with the clock, and a sync must not start
reading weeks of history because a day passed. How, by the stream's kind:

* A windowed or file stream is read over that bounded range alone, from no
  checkpoint, through the same batches, quarantine and transactions. Its
  checkpoints are the backfill's own, stored with its events in the
  backfill's record, never in the stream's checkpoint, which therefore
  neither moves back nor skips ahead; a backfill killed at any instant is
  resumed from its own checkpoint by the next sync that asks for one. Once
  it is read, the coverage starts at ``since`` (unless the range ends within
  the stream's ``publication_lag`` of now: events of it may still appear,
  and a later backfill reads it again).
* A snapshot is a listing read whole every time: it is read again from
  ``since`` with no checkpoint, which is the backfill and the incremental
  read in one, and its new checkpoint replaces the old (the reader's
  contract: a read from no checkpoint delivers everything from its start).

The core does not know how much history a platform keeps: a bounded
backfill that reads nothing says so in a warning (the range is recorded as
read, so the next sync does not try again); a backfill that fails stops
with the stream's error, while the stream still syncs incrementally, and is
retried only by a sync asking for it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import chain
from typing import TYPE_CHECKING, Any, Final, Protocol

import attrs

from connector_core._logging import get_logger
from connector_core.exceptions import (
    CheckpointError,
    ConfigurationError,
    ConnectorError,
)
from connector_core.models import AIAuditLogQuery
from connector_core.store.base import Backfill, Coverage
from connector_core.streams import StreamKind


if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from connector_core.connector import Connector
    from connector_core.store.base import Store, WriteResult
    from connector_core.streams import StreamBatch, StreamInfo


__all__ = [
    "DEFAULT_HISTORY",
    "MAX_MERGED_EVENTS",
    "READ_AHEAD_EVENTS",
    "RESUME_START",
    "BackfillReport",
    "StreamReport",
    "SyncProgress",
    "SyncReport",
    "sync_connection",
]

log = get_logger(__name__)

DEFAULT_HISTORY: Final = timedelta(days=30)
"""How far back a stream with no checkpoint starts, unless told: the
Compliance Logs Platform keeps 30 days, and a first sync should not silently
claim more history than the platform keeps."""

RESUME_START: Final = datetime(1970, 1, 1, tzinfo=UTC)
"""The start of the query a stream with a checkpoint is read with.

A checkpoint may be older than ``since`` (the last sync was more than 30
days ago, or ``--since`` was given): the events between the checkpoint and
``since`` were never read, and a query starting at ``since`` would let a
reader (or a filter in front of it) drop them. Every timestamp a platform
serves is after this, and it is 0 in epoch seconds, which APIs accept."""

MAX_MERGED_EVENTS: Final = 5_000
"""Events (and quarantined records) stored by one ``write_batch`` at most,
when the writer merges the batches waiting for it.

A transaction per batch, often a single API page of 100 events, spends more
on committing and on updating the partial sums than on the events: merging
the waiting batches halves the store's time per event on SQLite and more on
PostgreSQL. Past a few thousand events a larger transaction saves little,
while it holds the database (and makes a Ctrl-C wait) longer and keeps more
events in memory; 5,000 is a fraction of a second of writing."""

READ_AHEAD_EVENTS: Final = MAX_MERGED_EVENTS
"""Events (and quarantined records) read and waiting for the database at
most, besides those being written: the bound on a sync's memory. Enough for
the writer to find a full merged write waiting whenever reading is the
faster side. A batch counts at least one, so batches with only a checkpoint
are bounded too."""


class SyncProgress(Protocol):
    """Receives counters while a sync runs (the CLI draws its progress line)."""

    def update(self, report: StreamReport) -> None:
        """Called after every batch is stored."""


@attrs.define
class BackfillReport:
    """What reading one stream's older range did, within its stream's
    counters.

    Attributes:
        start, end: The older range asked for, both ends inclusive: from
            ``since`` to where the stream's coverage began (or to the end of
            the sync, when that came first).
        covered_from: Where the stream's coverage began before this sync;
            ``None`` when nothing was known.
        estimated: ``covered_from`` was estimated from the stream's oldest
            stored event (the store kept no record of it).
        whole: The stream is a snapshot, read again whole from ``since``
            (the incremental read included).
        resumed: A backfill an earlier sync left unfinished was resumed
            (from its own checkpoint).
        complete: Every range asked for was read to its end; the coverage
            now starts at ``start`` unless the sync's end came first.
        read, inserted, duplicates, quarantined: As in
            :class:`StreamReport`, for the backfill alone.
        warning: Something the user should know (it read nothing: the
            platform may no longer keep events that old).
        error: Why it stopped early; the stream still synced
            incrementally, and the next sync asking for it resumes it.
    """

    start: datetime
    end: datetime
    covered_from: datetime | None = None
    estimated: bool = False
    whole: bool = False
    resumed: bool = False
    complete: bool = False
    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    warning: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        data = attrs.asdict(self)
        for name in ("start", "end", "covered_from"):
            moment = data[name]
            data[name] = None if moment is None else moment.isoformat()
        return data


@attrs.define
class StreamReport:
    """What syncing one stream did.

    Attributes:
        batches: Batches read (a page, or a chunk of a file).
        read: Events the connector returned.
        inserted: Events new to the store.
        duplicates: Events the store already had (overlaps, re-reads).
        quarantined: Records that could not be normalized, stored aside.
        checkpoints: Checkpoints committed (or passed by a later one that was
            committed in the same transaction).
        seconds: Time spent on the stream.
        resumed: Whether it resumed from a stored checkpoint (else it
            started at ``since``).
        backfill: What reading its older range did, when ``since`` reached
            earlier than the stream had covered; its counters are included
            in the stream's.
        covered_from: From when the stream's stored events are complete,
            after this sync; ``None`` when unknown, or not looked up (a
            stream resumed with no ``since`` given).
        error: Why the stream stopped early, if it did.
    """

    connection: str
    stream: str
    batches: int = 0
    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    checkpoints: int = 0
    seconds: float = 0.0
    resumed: bool = False
    backfill: BackfillReport | None = None
    covered_from: datetime | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        data = attrs.asdict(self, recurse=False)
        data["backfill"] = None if self.backfill is None else self.backfill.as_dict()
        data["covered_from"] = (
            None if self.covered_from is None else self.covered_from.isoformat()
        )
        return data

    def add(self, batch: StreamBatch, result: WriteResult) -> None:
        """Count *batch*, stored by one ``write_batch`` with *result*."""
        self.add_merged((batch,), result)

    def add_merged(self, batches: Sequence[StreamBatch], result: WriteResult) -> None:
        """Count *batches*, stored together by one ``write_batch`` with
        *result*: the totals are those of storing them one by one."""
        for batch in batches:
            self.batches += 1
            self.read += len(batch.logs)
            if batch.checkpoint is not None:
                self.checkpoints += 1
        self.inserted += result.inserted
        self.duplicates += result.duplicates
        self.quarantined += result.quarantined


@attrs.define
class SyncReport:
    """What a sync of one connection did, stream by stream.

    Attributes:
        since: Where streams without a checkpoint started, and where the
            backfills of the others did (when it was given).
        until: The end of the range read: the one asked for, or now when
            that was in the future.
        requested_until: The end asked for, when one was.
    """

    connection: str
    platform: str
    since: datetime
    until: datetime
    requested_until: datetime | None = None
    streams: list[StreamReport] = attrs.Factory(list)
    seconds: float = 0.0

    @property
    def until_clamped(self) -> bool:
        """Whether the end asked for was in the future, and now was used."""
        return self.requested_until is not None and self.requested_until > self.until

    @property
    def inserted(self) -> int:
        return sum(s.inserted for s in self.streams)

    @property
    def read(self) -> int:
        return sum(s.read for s in self.streams)

    @property
    def duplicates(self) -> int:
        return sum(s.duplicates for s in self.streams)

    @property
    def quarantined(self) -> int:
        return sum(s.quarantined for s in self.streams)

    @property
    def batches(self) -> int:
        return sum(s.batches for s in self.streams)

    @property
    def ok(self) -> bool:
        return all(
            s.error is None and (s.backfill is None or s.backfill.error is None)
            for s in self.streams
        )

    @property
    def backfilled(self) -> list[StreamReport]:
        """The streams whose older range this sync read."""
        return [s for s in self.streams if s.backfill is not None]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary, for ``--json`` and hosts."""
        return {
            "connection": self.connection,
            "platform": self.platform,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "requested_until": None
            if self.requested_until is None
            else self.requested_until.isoformat(),
            "until_clamped": self.until_clamped,
            "seconds": round(self.seconds, 3),
            "read": self.read,
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "ok": self.ok,
            "streams": [s.as_dict() for s in self.streams],
        }


def _window(
    since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The range of a sync: ``until`` clamped to *now*, ``since`` by default
    :data:`DEFAULT_HISTORY` before it; both in UTC.

    Raises:
        ConfigurationError: A naive moment, ``since`` after the end, or a
            moment so far from now that the arithmetic leaves the calendar.
    """
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and (moment.tzinfo is None or moment.utcoffset() is None):
            raise ConfigurationError(f"--{name} must carry a time zone")
    try:
        end = now if until is None else min(until.astimezone(UTC), now)
        start = end - DEFAULT_HISTORY if since is None else since.astimezone(UTC)
    except OverflowError:
        raise ConfigurationError(
            "--since/--until: the range reaches outside the calendar (years 1 to 9999)"
        ) from None
    if start > end:
        raise ConfigurationError(
            f"--since ({start.isoformat()}) is after the end of the range "
            f"({end.isoformat()}{', now' if end == now else ''})"
        )
    return start, end


async def sync_connection(
    connector: Connector,
    store: Store,
    *,
    connection: str,
    since: datetime | None = None,
    until: datetime | None = None,
    wait: bool = False,
    progress: SyncProgress | None = None,
) -> SyncReport:
    """Bring *store* up to date with *connector*, stream by stream.

    :param connection: The name events and checkpoints are stored under.
    :param since: Where streams without a checkpoint start; by default
        :data:`DEFAULT_HISTORY` before *until*. A stream with a checkpoint
        resumes from it whatever *since* says (its reader is given a query
        starting at :data:`RESUME_START`), so a late sync reads the whole
        gap since the last one. Given, and earlier than a stream has
        covered, it also backfills the older range (see the module
        docstring); the default never does.
    :param until: The end of the range; now by default, and now when it is
        in the future (the report keeps the one asked for), so no
        checkpoint ever promises a moment that has not happened yet.
    :param wait: Wait for another process syncing the same connection,
        instead of failing with ``ConnectionBusyError``.
    :param progress: Told after every stored batch.

    A stream whose checkpoint cannot be read (:class:`CheckpointError`,
    from the store or the reader) fails alone, with the command that
    clears it in its error; the other streams sync.
    """
    now = datetime.now(UTC)
    start, end = _window(since, until, now)
    report = SyncReport(
        connection=connection,
        platform=connector.platform,
        since=start,
        until=end,
        requested_until=None if until is None else until.astimezone(UTC),
    )
    fresh = AIAuditLogQuery(start_date=start, end_date=end)
    resumed = AIAuditLogQuery(start_date=min(RESUME_START, start), end_date=end)
    started = time.perf_counter()
    bound = log.bind(connection=connection, platform=connector.platform)
    lock = await asyncio.to_thread(store.lock, connection, wait=wait)
    await asyncio.to_thread(lock.__enter__)
    try:
        for info in await connector.list_streams():
            stream = StreamReport(connection=connection, stream=info.name)
            report.streams.append(stream)
            stream_started = time.perf_counter()
            try:
                checkpoint = await asyncio.to_thread(
                    store.checkpoint, connection, info.name
                )
                stream.resumed = checkpoint is not None
                if checkpoint is None:
                    # Recorded before reading: only trusted once the read
                    # has committed a checkpoint, which then covers from
                    # here; a read killed before any reads afresh again.
                    await asyncio.to_thread(
                        store.save_coverage,
                        connection,
                        info.name,
                        Coverage(start=start),
                    )
                    stream.covered_from = start
                elif since is not None:
                    plan = _Backfill(
                        connector,
                        store,
                        info,
                        stream,
                        since=start,
                        end=end,
                        now=now,
                        progress=progress,
                    )
                    if await plan.run():
                        # A snapshot read again whole from since: that was
                        # the incremental read too.
                        continue
                await _drain(
                    connector,
                    store,
                    stream,
                    checkpoint=checkpoint,
                    query=fresh if checkpoint is None else resumed,
                    progress=progress,
                )
            except CheckpointError as exc:
                # Recoverable by hand, and only this stream is concerned:
                # say how, and let the others sync.
                stream.error = (
                    f"{exc}; clear it with 'aiaudit checkpoints reset "
                    f"{connection} {info.name}' and sync again (the stream is "
                    "read again from --since; stored events are not doubled)"
                )
                bound.warning(
                    "sync.checkpoint_unreadable", stream=info.name, error=str(exc)
                )
            except ConnectorError as exc:
                # One stream's failure (a missing permission, an outage of
                # one API) must not keep the others from syncing; what it
                # committed stays, and the report says why it stopped.
                stream.error = str(exc)
                bound.warning("sync.stream_failed", stream=info.name, error=str(exc))
            finally:
                stream.seconds = time.perf_counter() - stream_started
                bound.info(
                    "sync.stream",
                    stream=info.name,
                    read=stream.read,
                    inserted=stream.inserted,
                    duplicates=stream.duplicates,
                    quarantined=stream.quarantined,
                    seconds=round(stream.seconds, 3),
                )
    finally:
        await asyncio.to_thread(lock.__exit__, None, None, None)
        report.seconds = time.perf_counter() - started
    return report


class _Backfill:
    """Reading the older range an explicit ``since`` asks of one stream that
    has a checkpoint (see the module docstring).

    The engine holds the connection's lock, so the coverage read here is
    the one every write below replaces. Coverage is only ever recorded
    after the events it claims are committed, or before they are read for
    a range nothing is trusted for yet, so a crash at any instant leaves it
    claiming no more than was read: at worst an older range is read again,
    and its events are recognised by their ids.
    """

    def __init__(
        self,
        connector: Connector,
        store: Store,
        info: StreamInfo,
        report: StreamReport,
        *,
        since: datetime,
        end: datetime,
        now: datetime,
        progress: SyncProgress | None,
    ) -> None:
        self.connector = connector
        self.store = store
        self.info = info
        self.report = report
        self.since = since
        self.end = end
        self.now = now
        self.progress = progress
        self.unsettled = False

    async def run(self) -> bool:
        """Backfill what ``since`` asks, if anything; whether the stream was
        read again whole (a snapshot), its incremental read with it.

        Raises:
            CheckpointError: The stored coverage cannot be read.
            ConnectorError: A snapshot's read failed (that was the
                stream's incremental read too); a bounded backfill's failure
                is its report's error instead.
        """
        connection, stream = self.report.connection, self.report.stream
        coverage = await asyncio.to_thread(self.store.coverage, connection, stream)
        self.report.covered_from = coverage.start
        # Nothing known to be covered: the whole range up to now is read
        # (checkpoints never reach past the moment they were written).
        covered = self.now if coverage.start is None else min(coverage.start, self.now)
        if self.since >= covered:
            return False  # within what is covered: nothing old to read
        backfill = BackfillReport(
            start=self.since,
            end=min(covered, self.end),
            covered_from=coverage.start,
            estimated=coverage.estimated,
            whole=self.info.kind is StreamKind.SNAPSHOT,
        )
        self.report.backfill = backfill
        counted = (self.report.read, self.report.inserted, self.report.duplicates)
        quarantined = self.report.quarantined
        try:
            if backfill.whole:
                await self._snapshot()
                return True
            await self._bounded(backfill, coverage, covered)
        except ConnectorError as exc:
            if backfill.whole:
                raise
            backfill.error = (
                f"backfill from {backfill.start.isoformat()} stopped: {exc}; the "
                "stream synced on from its checkpoint, and the next sync given "
                "an earlier --since than the stream covers resumes the backfill"
            )
            log.warning(
                "sync.backfill_failed",
                connection=connection,
                stream=stream,
                error=str(exc),
            )
        finally:
            backfill.read = self.report.read - counted[0]
            backfill.inserted = self.report.inserted - counted[1]
            backfill.duplicates = self.report.duplicates - counted[2]
            backfill.quarantined = self.report.quarantined - quarantined
        if backfill.complete and not backfill.read and not backfill.quarantined:
            empty = (
                f"read no event from {backfill.start:%Y-%m-%d %H:%M} to "
                f"{backfill.end:%Y-%m-%d %H:%M} UTC: nothing happened then, or "
                "the platform no longer keeps events that old (what it no "
                "longer serves cannot be backfilled)"
            )
            backfill.warning = "; ".join(filter(None, (empty, backfill.warning)))
            log.warning(
                "sync.backfill_empty",
                connection=connection,
                stream=stream,
                start=backfill.start.isoformat(),
                end=backfill.end.isoformat(),
            )
        return False

    async def _snapshot(self) -> None:
        """Read the snapshot again from ``since`` as never synced: its new
        checkpoint (committed with its last batch) replaces the old one, and
        the coverage is recorded once it is."""
        query = AIAuditLogQuery(start_date=self.since, end_date=self.end)
        await _drain(
            self.connector,
            self.store,
            self.report,
            checkpoint=None,
            query=query,
            progress=self.progress,
        )
        await self._save(Coverage(start=self.since))
        self.report.covered_from = self.since
        assert self.report.backfill is not None  # noqa: S101 -- set by run
        self.report.backfill.complete = True

    async def _bounded(
        self, backfill: BackfillReport, coverage: Coverage, covered: datetime
    ) -> None:
        """Finish a backfill left under way, then read what is still
        missing, each over its bounded range; the coverage moves back to a
        range's start once it is read, if the range reaches the coverage.

        A backfill left with no checkpoint has nothing to resume from: it
        is replaced by what this sync asks, so one the platform refused at
        its start (history it no longer keeps) never stands in the way of
        a later ``since``.
        """
        done = coverage.backfill
        if done is not None and done.checkpoint is None:
            done = None
        if done is not None:
            backfill.resumed = True
            backfill.start = min(backfill.start, done.start)
            backfill.end = max(backfill.end, done.end)
            covered = await self._read(done, covered)
        top = min(covered, self.end)
        if self.since < covered and not (
            done is not None and done.start <= self.since and top <= done.end
        ):
            task = Backfill(start=self.since, end=top)
            # Recorded before the first event is read, so a crash resumes
            # it; and an estimated coverage is fixed here, before the
            # backfill's own events would make the next estimate older.
            await self._save(Coverage(start=covered, backfill=task))
            covered = await self._read(task, covered)
        backfill.complete = True
        if self.unsettled:
            backfill.warning = (
                f"the range ends less than {_duration(self.info.publication_lag)} "
                "ago, within the time the platform may still publish events "
                "of it: a backfill after that reads it again"
            )
        elif top < covered:
            backfill.warning = (
                f"--until {self.end:%Y-%m-%d %H:%M} UTC is before what the stream "
                f"covers (from {covered:%Y-%m-%d %H:%M} UTC): the events between "
                "are read by a backfill whose --until reaches that"
            )

    async def _read(self, task: Backfill, covered: datetime) -> datetime:
        """Read *task*'s range from its checkpoint, and record the
        coverage it leaves; that coverage's start.

        A backfill checkpoint the reader cannot read (a plugin that changed
        its shape) costs a read of the range from its start, not a stream
        stuck until a reset.
        """
        try:
            await self._drain(task)
        except CheckpointError as exc:
            if task.checkpoint is None:
                raise
            log.warning(
                "sync.backfill_checkpoint_unreadable",
                connection=self.report.connection,
                stream=self.report.stream,
                error=str(exc),
            )
            task = attrs.evolve(task, checkpoint=None)
            await self._save(Coverage(start=covered, backfill=task))
            await self._drain(task)
        if task.end >= covered:
            if self.now - self.info.publication_lag < task.end < self.now:
                # Events of its last stretch may still be published, and
                # the stream's own reads re-read only the stretch before
                # their checkpoint: read, but not yet covered. (A range
                # reaching now is the stretch the stream's read of this
                # sync re-reads next time.)
                self.unsettled = True
            else:
                covered = min(covered, task.start)
        await self._save(Coverage(start=covered))
        self.report.covered_from = covered
        return covered

    async def _drain(self, task: Backfill) -> None:
        await _drain(
            self.connector,
            self.store,
            self.report,
            checkpoint=task.checkpoint,
            query=AIAuditLogQuery(start_date=task.start, end_date=task.end),
            progress=self.progress,
            backfill=True,
        )

    async def _save(self, coverage: Coverage) -> None:
        await asyncio.to_thread(
            self.store.save_coverage,
            self.report.connection,
            self.report.stream,
            coverage,
        )


async def _drain(
    connector: Connector,
    store: Store,
    report: StreamReport,
    *,
    checkpoint: Mapping[str, Any] | None,
    query: AIAuditLogQuery,
    progress: SyncProgress | None,
    backfill: bool = False,
) -> None:
    """Read one stream and store it, fetching ahead while the database writes.

    The reader puts batches in a :class:`_ReadAhead`; the writer stores them
    in order, all those waiting at once (see :data:`MAX_MERGED_EVENTS`). If
    either fails, the other is cancelled and the error propagates: what was
    committed stays committed, and the next sync resumes there. With
    *backfill*, the batches are the stream's backfill's, and so are their
    checkpoints.
    """
    pending = _ReadAhead(READ_AHEAD_EVENTS)

    async def read() -> None:
        async with contextlib.aclosing(
            connector.read_stream(report.stream, checkpoint, query)
        ) as batches:
            while True:
                try:
                    batch = await anext(batches)
                except StopAsyncIteration:
                    break
                except ConnectorError:
                    raise
                except Exception as exc:
                    # A reader's bug (a KeyError on a checkpoint it does not
                    # understand, say) fails this stream in one line, like
                    # any connector error, not the whole sync.
                    raise connector.plugin_error("read_stream", exc) from exc
                await pending.put(batch)
        await pending.put(None)

    async def write() -> None:
        while (taken := await pending.take(MAX_MERGED_EVENTS)) is not None:
            group = [
                batch
                for batch in taken
                if batch.logs or batch.quarantined or batch.checkpoint is not None
            ]
            if group:
                await _store(store, report, group, progress, backfill=backfill)

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(read())
            group.create_task(write())
    except ExceptionGroup as failed:
        # One side failed and the other was cancelled: surface the cause
        # itself, so callers catch ConnectorError as usual.
        raise failed.exceptions[0] from None


async def _store(
    store: Store,
    report: StreamReport,
    group: Sequence[StreamBatch],
    progress: SyncProgress | None,
    *,
    backfill: bool = False,
) -> None:
    """Store the batches of *group*, in order, in one transaction.

    Their events and quarantined records are concatenated and the checkpoint
    is the last one among them. Checkpoints are cumulative (each promises
    every event before it was yielded in its batch or an earlier one), and
    every earlier batch is either committed already or in this transaction,
    so a checkpoint still never commits without the events before it.

    If that transaction fails, the batches are stored again one by one, as
    they were before merging: those before a bad one (an event that cannot
    be serialized, say) are committed, and its error is the one raised. (A
    failure that does not recur, a dropped connection say, costs a retry.)
    """
    # Called as before backfills existed unless backfilling, so a store
    # wrapped by a host (or a test) keeps working.
    write = partial(store.write_batch, backfill=True) if backfill else store.write_batch
    if len(group) > 1:
        try:
            result = await asyncio.to_thread(
                write,
                report.connection,
                report.stream,
                list(chain.from_iterable(batch.logs for batch in group)),
                list(chain.from_iterable(batch.quarantined for batch in group)),
                next(
                    (b.checkpoint for b in reversed(group) if b.checkpoint is not None),
                    None,
                ),
            )
        except Exception as exc:  # noqa: BLE001 -- raised again by the batch at fault
            log.warning(
                "sync.merged_write_failed",
                connection=report.connection,
                stream=report.stream,
                batches=len(group),
                error=str(exc),
            )
        else:
            report.add_merged(group, result)
            if progress is not None:
                progress.update(report)
            return
    for batch in group:
        result = await asyncio.to_thread(
            write,
            report.connection,
            report.stream,
            batch.logs,
            batch.quarantined,
            batch.checkpoint,
        )
        report.add(batch, result)
        if progress is not None:
            progress.update(report)


class _ReadAhead:
    """The batches read and not yet stored, bounded by the events they hold.

    A queue of batches bounded by their number would hold anything from a
    few events to a few files' worth; weighing each batch by its events
    (and quarantined records, at least one) bounds memory whatever the
    connector's batch size. ``None`` marks the end of the stream.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._batches: deque[StreamBatch | None] = deque()
        self._weight = 0
        self._changed = asyncio.Condition()

    async def put(self, batch: StreamBatch | None) -> None:
        """Add *batch* once fewer than the limit's events wait."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._weight < self._limit)
            self._batches.append(batch)
            self._weight += _weight(batch)
            self._changed.notify_all()

    async def take(self, limit: int) -> list[StreamBatch] | None:
        """The next batch and those waiting behind it, up to *limit* events
        in all (the first whatever its size); ``None`` at the end."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._batches))
            taken: list[StreamBatch] = []
            weight = 0
            while self._batches:
                batch = self._batches[0]
                if batch is None or (taken and weight + _weight(batch) > limit):
                    break
                self._batches.popleft()
                taken.append(batch)
                weight += _weight(batch)
            self._weight -= weight
            self._changed.notify_all()
        # Only the end marker stays ahead of nothing taken; it is left in
        # place, so every later call sees the end too.
        return taken or None


def _duration(span: timedelta) -> str:
    """*span* for people: ``1 day``, ``36 hours``, ``15 minutes``."""
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def _weight(batch: StreamBatch | None) -> int:
    if batch is None:
        return 0
    return max(1, len(batch.logs) + len(batch.quarantined))
