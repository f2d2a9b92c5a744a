"""The sync engine: drain every stream of a connection into a store.

Built once here so that every plugin gets the hard part right: reading a
feed incrementally, forever, without losing or doubling an event.

For each stream the engine resumes from the stored checkpoint and writes
each batch the connector yields with :meth:`~connector_core.store.Store.write_batch`,
which commits the batch's events, its quarantined records and (when the
batch carries one) the new checkpoint in one transaction. Batches without a
checkpoint (a time window still being drained) are written too, keeping the
old checkpoint; after a crash they are read again and recognised by their
ids. So a sync killed at any instant resumes with nothing lost and nothing
doubled, and a second sync with nothing new writes nothing.

Memory stays bounded by a batch: at most :data:`PIPELINE` batches wait for
the database while the next one is fetched. Writing happens in a worker
thread, so the event loop keeps fetching meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol

import attrs
import structlog

from connector_core.exceptions import ConfigurationError, ConnectorError
from connector_core.models import AIAuditLogQuery


if TYPE_CHECKING:
    from collections.abc import Mapping

    from connector_core.connector import Connector
    from connector_core.store.base import Store, WriteResult
    from connector_core.streams import StreamBatch


__all__ = [
    "DEFAULT_HISTORY",
    "PIPELINE",
    "StreamReport",
    "SyncProgress",
    "SyncReport",
    "sync_connection",
]

log = structlog.get_logger(__name__)

DEFAULT_HISTORY: Final = timedelta(days=30)
"""How far back a stream with no checkpoint starts, unless told: the
Compliance Logs Platform keeps 30 days, and a first sync should not silently
claim more history than the platform keeps."""

PIPELINE: Final = 2
"""Batches fetched ahead of the database; bounds memory to a few batches."""


class SyncProgress(Protocol):
    """Receives counters while a sync runs (the CLI draws its progress line)."""

    def update(self, report: StreamReport) -> None:
        """Called after every batch is stored."""


@attrs.define
class StreamReport:
    """What syncing one stream did.

    Attributes:
        batches: Batches read (a page, or a chunk of a file).
        read: Events the connector returned.
        inserted: Events new to the store.
        duplicates: Events the store already had (overlaps, re-reads).
        quarantined: Records that could not be normalized, stored aside.
        checkpoints: Checkpoints committed.
        seconds: Time spent on the stream.
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
    error: str | None = None

    def add(self, batch: StreamBatch, result: WriteResult) -> None:
        self.batches += 1
        self.read += len(batch.logs)
        self.inserted += result.inserted
        self.duplicates += result.duplicates
        self.quarantined += result.quarantined
        if batch.checkpoint is not None:
            self.checkpoints += 1


@attrs.define
class SyncReport:
    """What a sync of one connection did, stream by stream."""

    connection: str
    platform: str
    since: datetime
    until: datetime
    streams: list[StreamReport] = attrs.Factory(list)
    seconds: float = 0.0

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
        return all(s.error is None for s in self.streams)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary, for ``--json`` and hosts."""
        return {
            "connection": self.connection,
            "platform": self.platform,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "seconds": round(self.seconds, 3),
            "read": self.read,
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "ok": self.ok,
            "streams": [attrs.asdict(s) for s in self.streams],
        }


def _window(
    since: datetime | None, until: datetime | None
) -> tuple[datetime, datetime]:
    end = until or datetime.now(UTC)
    start = since or end - DEFAULT_HISTORY
    if start.tzinfo is None or end.tzinfo is None:
        raise ConfigurationError("--since and --until must carry a time zone")
    if start > end:
        raise ConfigurationError(
            f"--since ({start.isoformat()}) is after --until ({end.isoformat()})"
        )
    return start.astimezone(UTC), end.astimezone(UTC)


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
        resumes from it.
    :param until: The end of the range; now by default.
    :param wait: Wait for another process syncing the same connection,
        instead of failing with ``ConnectionBusyError``.
    :param progress: Told after every stored batch.
    """
    start, end = _window(since, until)
    report = SyncReport(
        connection=connection, platform=connector.platform, since=start, until=end
    )
    query = AIAuditLogQuery(start_date=start, end_date=end)
    started = time.perf_counter()
    bound = log.bind(connection=connection, platform=connector.platform)
    lock = await asyncio.to_thread(store.lock, connection, wait=wait)
    await asyncio.to_thread(lock.__enter__)
    try:
        checkpoints = await asyncio.to_thread(store.checkpoints, connection)
        for info in await connector.list_streams():
            stream = StreamReport(connection=connection, stream=info.name)
            report.streams.append(stream)
            stream_started = time.perf_counter()
            try:
                await _drain(
                    connector,
                    store,
                    stream,
                    checkpoint=checkpoints.get(info.name),
                    query=query,
                    progress=progress,
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


async def _drain(
    connector: Connector,
    store: Store,
    report: StreamReport,
    *,
    checkpoint: Mapping[str, Any] | None,
    query: AIAuditLogQuery,
    progress: SyncProgress | None,
) -> None:
    """Read one stream and store it, fetching ahead while the database writes.

    The reader puts batches on a short queue; the writer stores them in
    order. If either fails, the other is cancelled and the error propagates:
    what was committed stays committed, and the next sync resumes there.
    """
    queue: asyncio.Queue[StreamBatch | None] = asyncio.Queue(maxsize=PIPELINE)

    async def read() -> None:
        async with contextlib.aclosing(
            connector.read_stream(report.stream, checkpoint, query)
        ) as batches:
            async for batch in batches:
                await queue.put(batch)
        await queue.put(None)

    async def write() -> None:
        while (batch := await queue.get()) is not None:
            if not (batch.logs or batch.quarantined or batch.checkpoint is not None):
                continue
            result = await asyncio.to_thread(
                store.write_batch,
                report.connection,
                report.stream,
                batch.logs,
                batch.quarantined,
                batch.checkpoint,
            )
            report.add(batch, result)
            if progress is not None:
                progress.update(report)

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(read())
            group.create_task(write())
    except ExceptionGroup as failed:
        # One side failed and the other was cancelled: surface the cause
        # itself, so callers catch ConnectorError as usual.
        raise failed.exceptions[0] from None
