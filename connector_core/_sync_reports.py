"""What a sync tells its caller: the reports and the progress hook.

They live apart from the engine because every part of it fills them in
(the backfill and the writer as much as :func:`~connector_core.sync.sync_connection`),
and hosts, the CLI and the tests read them without running a sync. Their
public home is :mod:`connector_core.sync`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import attrs


if TYPE_CHECKING:
    from collections.abc import Sequence

    from connector_core.store.base import WriteResult
    from connector_core.streams import StreamBatch


__all__ = [
    "BackfillReport",
    "DirectoryReport",
    "StreamReport",
    "SyncProgress",
    "SyncReport",
]


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
        read, inserted, duplicates, quarantined, usage_read,
            usage_inserted, usage_updated: As in :class:`StreamReport`, for
            the backfill alone.
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
    usage_read: int = 0
    usage_inserted: int = 0
    usage_updated: int = 0
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
        held_elsewhere: Events not stored because another connection of
            the same organization stored them first (each counted once).
        held_by: Those connections, each with how many it held.
        quarantined: Records that could not be normalized, stored aside.
        usage_read: Usage-report buckets the connector returned.
        usage_inserted: Buckets new to the store.
        usage_updated: Stored buckets replaced by a revised one (a bucket
            still open when it was read before); the rest of those read
            were stored already as they are.
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
    held_elsewhere: int = 0
    held_by: dict[str, int] = attrs.Factory(dict)
    quarantined: int = 0
    usage_read: int = 0
    usage_inserted: int = 0
    usage_updated: int = 0
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
            self.usage_read += len(batch.usage)
            if batch.checkpoint is not None:
                self.checkpoints += 1
        self.inserted += result.inserted
        self.duplicates += result.duplicates
        self.held_elsewhere += result.held_elsewhere
        for other, events in result.held_by:
            self.held_by[other] = self.held_by.get(other, 0) + events
        self.quarantined += result.quarantined
        self.usage_inserted += result.usage_inserted
        self.usage_updated += result.usage_updated


@attrs.define
class DirectoryReport:
    """What reading and storing the connection's user directory did.

    Attributes:
        members: Members the platform listed, now stored.
        new: Of those, members the stored directory did not hold (or held
            as removed: they came back).
        gone: Stored members the listing left out, now marked removed.
        quarantined: Member records stored aside, unreadable or unstorable.
        seconds: Time spent on it.
        error: Why it was not stored, if it was not; the stored directory
            is then as the previous sync left it.
    """

    members: int = 0
    new: int = 0
    gone: int = 0
    quarantined: int = 0
    seconds: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        data = attrs.asdict(self)
        data["seconds"] = round(self.seconds, 3)
        return data


@attrs.define
class SyncReport:
    """What a sync of one connection did, stream by stream.

    Attributes:
        since: Where streams without a checkpoint started, and where the
            backfills of the others did (when it was given).
        until: The end of the range read: the one asked for, or now when
            that was in the future.
        requested_until: The end asked for, when one was.
        directory: What reading the user directory did, when the connector
            has one (``None``: it has none, or not with this configuration).
    """

    connection: str
    platform: str
    since: datetime
    until: datetime
    requested_until: datetime | None = None
    streams: list[StreamReport] = attrs.Factory(list)
    seconds: float = 0.0
    directory: DirectoryReport | None = None

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
    def held_elsewhere(self) -> int:
        """Events another connection of the same organization held."""
        return sum(s.held_elsewhere for s in self.streams)

    @property
    def held_by(self) -> dict[str, int]:
        """The connections that held them, each with how many, by name."""
        held: dict[str, int] = {}
        for stream in self.streams:
            for other, events in stream.held_by.items():
                held[other] = held.get(other, 0) + events
        return dict(sorted(held.items()))

    @property
    def usage_read(self) -> int:
        """Usage-report buckets read, on every stream."""
        return sum(s.usage_read for s in self.streams)

    @property
    def usage_inserted(self) -> int:
        """Buckets new to the store."""
        return sum(s.usage_inserted for s in self.streams)

    @property
    def usage_updated(self) -> int:
        """Stored buckets replaced by a revised one."""
        return sum(s.usage_updated for s in self.streams)

    @property
    def batches(self) -> int:
        return sum(s.batches for s in self.streams)

    @property
    def ok(self) -> bool:
        return all(
            s.error is None and (s.backfill is None or s.backfill.error is None)
            for s in self.streams
        ) and (self.directory is None or self.directory.error is None)

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
            "held_elsewhere": self.held_elsewhere,
            "held_by": self.held_by,
            "quarantined": self.quarantined,
            "usage_read": self.usage_read,
            "usage_inserted": self.usage_inserted,
            "usage_updated": self.usage_updated,
            "ok": self.ok,
            "streams": [s.as_dict() for s in self.streams],
            "directory": None if self.directory is None else self.directory.as_dict(),
        }
