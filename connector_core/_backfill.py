"""Backfilling one stream: reading the older range an explicit ``since``
asks of a stream that already has a checkpoint.

Kept apart from :func:`~connector_core.sync.sync_connection` because it is
the one part of the engine that keeps a record of its own (the stream's
coverage and the backfill under way) and must leave that record true
whenever a sync is killed; the rules it follows are those of
:mod:`connector_core.sync`'s docstring.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import attrs

from connector_core._drain import drain_stream
from connector_core._logging import get_logger
from connector_core._sync_reports import BackfillReport
from connector_core.exceptions import CheckpointError, ConnectorError
from connector_core.models import AIAuditLogQuery
from connector_core.store.base import Backfill, Coverage
from connector_core.streams import StreamKind


if TYPE_CHECKING:
    from datetime import datetime, timedelta

    from connector_core._sync_reports import StreamReport, SyncProgress
    from connector_core.connector import Connector
    from connector_core.store.base import Store
    from connector_core.streams import StreamInfo


__all__ = ["StreamBackfill"]

# The engine's events, under the logger name hosts configure for it.
log = get_logger("connector_core.sync")


class StreamBackfill:
    """Reading the older range an explicit ``since`` asks of one stream that
    has a checkpoint (see :mod:`connector_core.sync`).

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
        buckets = (
            self.report.usage_read,
            self.report.usage_inserted,
            self.report.usage_updated,
        )
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
                "stream synced on from its checkpoint, and the next sync asked "
                "to start before what the stream covers resumes the backfill"
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
            backfill.usage_read = self.report.usage_read - buckets[0]
            backfill.usage_inserted = self.report.usage_inserted - buckets[1]
            backfill.usage_updated = self.report.usage_updated - buckets[2]
        if (
            backfill.complete
            and not backfill.read
            and not backfill.usage_read
            and not backfill.quarantined
        ):
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
        await drain_stream(
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
                f"the range ends at {self.end:%Y-%m-%d %H:%M} UTC, before what the "
                f"stream covers (from {covered:%Y-%m-%d %H:%M} UTC): the events "
                "between are read by a backfill whose range reaches that"
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
        await drain_stream(
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


def _duration(span: timedelta) -> str:
    """*span* for people: ``1 day``, ``36 hours``, ``15 minutes``."""
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
