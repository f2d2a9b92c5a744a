"""Draining one stream into the store: the reader, the writer and the
bounded read-ahead between them.

This is the engine's hot path, kept apart from deciding what to read (the
sync and its backfills) so its memory bound and its merged transactions
can be read, tested and profiled on their own. Every read of a stream,
incremental or backfill, goes through :func:`drain_stream`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from functools import partial
from itertools import chain
from typing import TYPE_CHECKING, Any, Final

from connector_core._logging import get_logger
from connector_core.exceptions import ConnectorError


if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from connector_core._sync_reports import StreamReport, SyncProgress
    from connector_core.connector import Connector
    from connector_core.models import AIAuditLogQuery
    from connector_core.store.base import Store
    from connector_core.streams import StreamBatch


__all__ = [
    "MAX_MERGED_EVENTS",
    "READ_AHEAD_EVENTS",
    "ReadAhead",
    "drain_stream",
    "store_batches",
]

# The engine's events, under the logger name hosts configure for it.
log = get_logger("connector_core.sync")

MAX_MERGED_EVENTS: Final = 5_000
"""Events (and usage buckets and quarantined records) stored by one
``write_batch`` at most, when the writer merges the batches waiting for it.

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


async def drain_stream(
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

    The reader puts batches in a :class:`ReadAhead`; the writer stores them
    in order, all those waiting at once (see :data:`MAX_MERGED_EVENTS`). If
    either fails, the other is cancelled and the error propagates: what was
    committed stays committed, and the next sync resumes there. With
    *backfill*, the batches are the stream's backfill's, and so are their
    checkpoints.
    """
    pending = ReadAhead(READ_AHEAD_EVENTS)

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
            group = [batch for batch in taken if not batch.empty]
            if group:
                await store_batches(store, report, group, progress, backfill=backfill)

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(read())
            group.create_task(write())
    except ExceptionGroup as failed:
        # One side failed and the other was cancelled: surface the cause
        # itself, so callers catch ConnectorError as usual.
        raise failed.exceptions[0] from None


async def store_batches(
    store: Store,
    report: StreamReport,
    group: Sequence[StreamBatch],
    progress: SyncProgress | None,
    *,
    backfill: bool = False,
) -> None:
    """Store the batches of *group*, in order, in one transaction.

    Their events, usage buckets and quarantined records are concatenated
    and the checkpoint is the last one among them. Checkpoints are
    cumulative (each promises every event before it was yielded in its
    batch or an earlier one), and every earlier batch is either committed
    already or in this transaction, so a checkpoint still never commits
    without the events before it.

    If that transaction fails, the batches are stored again one by one, as
    they were before merging: those before a bad one (an event that cannot
    be serialized, say) are committed, and its error is the one raised. (A
    failure that does not recur, a dropped connection say, costs a retry.)
    """
    # Called as before backfills and usage reports existed unless
    # backfilling or storing buckets, so a store wrapped by a host (or a
    # test) keeps working for the streams it did.
    write = partial(store.write_batch, backfill=True) if backfill else store.write_batch
    if len(group) > 1:
        usage = list(chain.from_iterable(batch.usage for batch in group))
        try:
            result = await asyncio.to_thread(
                partial(write, usage=usage) if usage else write,
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
            partial(write, usage=batch.usage) if batch.usage else write,
            report.connection,
            report.stream,
            batch.logs,
            batch.quarantined,
            batch.checkpoint,
        )
        report.add(batch, result)
        if progress is not None:
            progress.update(report)


class ReadAhead:
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


def _weight(batch: StreamBatch | None) -> int:
    if batch is None:
        return 0
    return max(1, len(batch.logs) + len(batch.usage) + len(batch.quarantined))
