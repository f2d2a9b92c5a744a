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

The directory. When the connector has a user directory (the
``read_directory`` hook, see :mod:`connector_core.directory`), the engine
reads it after the streams, under the same lock, and stores it as the
connection's directory in one transaction; the report's ``directory`` says
how many members were listed, new and gone.

This module is the public home of the engine and of every name hosts
import. Its parts live in private modules beside it: the reports
(``_sync_reports``), draining a stream into the store with its read-ahead
and merged writes (``_drain``), and backfilling a stream's older range
(``_backfill``).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

from connector_core._backfill import StreamBackfill
from connector_core._drain import MAX_MERGED_EVENTS, READ_AHEAD_EVENTS, drain_stream
from connector_core._logging import get_logger
from connector_core._sync_reports import (
    BackfillReport,
    DirectoryReport,
    StreamReport,
    SyncProgress,
    SyncReport,
)
from connector_core.exceptions import (
    CheckpointError,
    ConnectorError,
    NotSupportedError,
    ParameterError,
)
from connector_core.models import AIAuditLogQuery
from connector_core.store.base import Coverage


if TYPE_CHECKING:
    from connector_core.connector import Connector
    from connector_core.store.base import Store


__all__ = [
    "DEFAULT_HISTORY",
    "MAX_MERGED_EVENTS",
    "READ_AHEAD_EVENTS",
    "RESUME_START",
    "BackfillReport",
    "DirectoryReport",
    "StreamReport",
    "SyncProgress",
    "SyncReport",
    "sync_connection",
]

log = get_logger(__name__)

DEFAULT_HISTORY: Final = timedelta(days=30)
"""How far back a range reaches when its start is not given: where a
stream with no checkpoint starts (``since`` asks for more or less), and
what a usage report covers. A month is what audit APIs commonly keep, and a
first sync should not silently claim more history than a platform keeps.
The one default window: the CLI's defaults and help are built from it."""

RESUME_START: Final = datetime(1970, 1, 1, tzinfo=UTC)
"""The start of the query a stream with a checkpoint is read with.

A checkpoint may be older than ``since`` (the last sync was longer than
:data:`DEFAULT_HISTORY` ago, or ``since`` was given): the events between
the checkpoint and ``since`` were never read, and a query starting at
``since`` would let a reader (or a filter in front of it) drop them. Every
timestamp a platform serves is after this, and it is 0 in epoch seconds,
which APIs accept."""


def _window(
    since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The range of a sync: ``until`` clamped to *now*, ``since`` by default
    :data:`DEFAULT_HISTORY` before it; both in UTC.

    Raises:
        ParameterError: A naive moment, ``since`` after the end, or a
            moment so far from now that the arithmetic leaves the calendar.
    """
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and (moment.tzinfo is None or moment.utcoffset() is None):
            raise ParameterError(
                f"{{{name}}} must carry a time zone", parameters=(name,)
            )
    try:
        end = now if until is None else min(until.astimezone(UTC), now)
        start = end - DEFAULT_HISTORY if since is None else since.astimezone(UTC)
    except OverflowError:
        raise ParameterError(
            "{since}/{until}: the range reaches outside the calendar (years 1 to 9999)",
            parameters=("since", "until"),
        ) from None
    if start > end:
        raise ParameterError(
            "{since} ({start}) is after the end of the range ({end}{now})",
            parameters=("since",),
            start=start.isoformat(),
            end=end.isoformat(),
            now=", now" if end == now else "",
        )
    return start, end


async def sync_connection(
    connector: Connector,
    store: Store,
    *,
    connection: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    wait: bool = False,
    progress: SyncProgress | None = None,
) -> SyncReport:
    """Bring *store* up to date with *connector*, stream by stream.

    :param connection: The name events and checkpoints are stored under;
        by default the connector's own (:attr:`Connector.name
        <connector_core.connector.Connector.name>`, which is
        :attr:`ConnectorSpec.default_connection
        <connector_core.connector.ConnectorSpec.default_connection>` unless
        the connector was created with a name).
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
    if connection is None:
        connection = connector.name
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
                    plan = StreamBackfill(
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
                await drain_stream(
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
                    "then read again from the start of the sync's range; "
                    "stored events are not doubled)"
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
                if stream.held_elsewhere:
                    # Two connections read one organization: counted once,
                    # but a host wants to know (one of them is likely a
                    # mistake).
                    bound.warning(
                        "sync.organization_shared",
                        stream=info.name,
                        held_elsewhere=stream.held_elsewhere,
                        held_by=dict(stream.held_by),
                    )
        # Asked, not assumed: a host's stand-in for a connector (or a
        # test's) may have no directory to offer, nor the question.
        implements = getattr(connector, "implements", None)
        if implements is not None and implements("read_directory"):
            report.directory = await _sync_directory(connector, store, connection)
    finally:
        await asyncio.to_thread(lock.__exit__, None, None, None)
        report.seconds = time.perf_counter() - started
    return report


async def _sync_directory(
    connector: Connector, store: Store, connection: str
) -> DirectoryReport | None:
    """Read the connector's user directory and store it as the
    connection's, after the streams (whose users it then names).

    ``None`` when the connector has no directory with its configuration
    (its hook says so with :class:`NotSupportedError`). A failure to read or
    store it is the report's error, as a stream's is: the stored directory
    stays as the last sync left it, and the streams' work is kept.
    """
    started = time.perf_counter()
    directory = DirectoryReport()
    try:
        try:
            listing = await connector.read_directory()
        except ConnectorError:
            raise
        except Exception as exc:
            raise connector.plugin_error("read_directory", exc) from exc
        written = await asyncio.to_thread(
            store.replace_directory, connection, connector.platform, listing
        )
    except NotSupportedError:
        return None
    except ConnectorError as exc:
        directory.error = str(exc)
        log.warning(
            "sync.directory_failed",
            connection=connection,
            platform=connector.platform,
            error=str(exc),
        )
    else:
        directory.members = written.members
        directory.new = written.new
        directory.gone = written.gone
        directory.quarantined = written.quarantined
    directory.seconds = time.perf_counter() - started
    log.info(
        "sync.directory",
        connection=connection,
        members=directory.members,
        new=directory.new,
        gone=directory.gone,
        quarantined=directory.quarantined,
    )
    return directory
