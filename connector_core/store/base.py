"""What every store offers the sync engine, the CLI and hosts.

A store keeps, per *connection* (a named, configured connector): its
configuration (never its secrets), the normalized events, each stream's
checkpoint, and the records that could not be normalized. Two
implementations share one schema: SQLite, embedded and the default, and
PostgreSQL, for many workers sharing one database.

The store API is synchronous (both drivers are); the async sync engine calls
it from a worker thread, so writing one batch overlaps fetching the next.

Guarantees every implementation gives, and the tests check on both:

* :meth:`Store.write_batch` is one transaction: the events, the quarantined
  records and the checkpoint commit together or not at all, so a process
  killed at any instant resumes from a checkpoint whose events are stored.
* Events are keyed by ``(connection, id)``; writing one again is a no-op
  counted as a duplicate, so re-reading an overlap never doubles an event and
  a second sync with nothing new writes nothing.
* :meth:`Store.lock` lets one process at a time sync a connection; the lock
  dies with its process (a PostgreSQL advisory lock with its session, an OS
  file lock with its file descriptor), so a crash never leaves it stuck.
* :meth:`Store.coverage` says from when each stream's stored events are
  complete, so a sync asked for an earlier ``--since`` reads only the older
  range it lacks; a backfill's checkpoint commits with its events, in the
  backfill's own record, never in the stream's checkpoint.
* :meth:`Store.usage_analytics` computes the figures in the database, by the
  definitions of :mod:`connector_core.analytics`, and agrees with
  :class:`~connector_core.analytics.UsageAccumulator` on the same events.
* :meth:`Store.app_grants` and :meth:`Store.features_used` read only the
  events carrying the neutral app and feature keys (the database selects
  them), and agree with :class:`~connector_core.analytics.AppGrantsAccumulator`
  and :class:`~connector_core.analytics.FeaturesAccumulator` fed every event.
* The buckets of usage reports (:class:`~connector_core.models.ModelUsageRecord`)
  are keyed by ``(connection, id)`` too, but a bucket written again replaces
  the stored one (a report is revised while its bucket is open), in the
  same transaction as the batch's events and checkpoint. When a period has
  buckets of the platform, its analytics' ``model_usage`` comes from them
  (:func:`~connector_core.analytics.model_usage_of`).
* :meth:`Store.replace_directory` stores a connection's directory listing
  in one transaction; a member stored before and no longer listed is kept,
  marked removed, never deleted. When a connection in scope has a
  directory, its analytics' ``total_users`` counts the members not removed
  together with the active users, each once, so it is never below
  ``active_users``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from connector_core.analytics import (
    AppGrantsAccumulator,
    FeaturesAccumulator,
    count_people,
)
from connector_core.exceptions import StoreError
from connector_core.models import AIAuditLog, ModelUsageRecord
from connector_core.serialization import loads
from connector_core.store._directory import DirectoryWrite, StoredMember
from connector_core.store._filters import LogFilter
from connector_core.store._organizations import SharedOrganization
from connector_core.streams import QuarantinedRecord


if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from contextlib import AbstractContextManager

    from connector_core.analytics import AppGrants, FeaturesUsed
    from connector_core.directory import DirectoryListing
    from connector_core.models import AIDateRange, UsageAnalytics


__all__ = [
    "Backfill",
    "Coverage",
    "DirectoryWrite",
    "LogFilter",
    "SavedConnection",
    "SharedOrganization",
    "Store",
    "StoredMember",
    "StoredQuarantine",
    "WriteResult",
]


@attrs.frozen(kw_only=True)
class SavedConnection:
    """A named connector configuration, as stored.

    Attributes:
        name: Unique in the store; what ``aiaudit sync NAME`` names.
        platform: The platform its connector is for.
        config: The configuration mapping with every secret replaced by a
            reference, ``{"env": "VARIABLE"}``: the store never holds a key.
        created_at: When it was added.
    """

    name: str
    platform: str
    config: Mapping[str, Any]
    created_at: datetime


@attrs.frozen(kw_only=True)
class Backfill:
    """A read of a stream's older range that a sync began and has not
    finished yet.

    Attributes:
        start, end: The range it reads, both ends inclusive.
        checkpoint: The reader's checkpoint within that range, committed
            with the events before it; ``None`` until it yields one. Kept
            apart from the stream's own checkpoint, which a backfill never
            moves.
    """

    start: datetime
    end: datetime
    checkpoint: Mapping[str, Any] | None = None


@attrs.frozen(kw_only=True)
class Coverage:
    """From when a stream's stored events are complete, up to its checkpoint.

    Platform-neutral on purpose: a checkpoint is the plugin's own (a time, a
    file, a set of ids), so the core cannot tell from it where the stream's
    reading began; this record can.

    Attributes:
        start: Every event of the stream from this moment to its checkpoint
            has been read; ``None`` when nothing is known.
        estimated: No record was kept (the store was written by a version
            that did not keep one): ``start`` is the time of the stream's
            oldest stored event. Its first sync began at or before it, so
            the estimate never claims a moment that was not read.
        backfill: A backfill under way, to resume.
    """

    start: datetime | None
    estimated: bool = False
    backfill: Backfill | None = None


@attrs.frozen(kw_only=True)
class WriteResult:
    """What one batch changed.

    Attributes:
        inserted: Events new to the store.
        duplicates: Events it had already.
        quarantined: Records stored aside.
        usage_inserted: Usage buckets new to the store.
        usage_updated: Stored usage buckets replaced by a revised one.
        usage_unchanged: Usage buckets stored already exactly as read.
        held_elsewhere: Events not stored because another connection of
            the same organization holds them already (counted once, there).
        held_by: Those connections, each with how many of them it held.
    """

    inserted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    usage_inserted: int = 0
    usage_updated: int = 0
    usage_unchanged: int = 0
    held_elsewhere: int = 0
    held_by: tuple[tuple[str, int], ...] = ()


@attrs.frozen(kw_only=True)
class StoredQuarantine:
    """A quarantined record as stored, with where it came from."""

    connection: str
    record: QuarantinedRecord
    created_at: datetime


class Store(abc.ABC):
    """The interface of every store; see the module docstring for guarantees."""

    url: str
    """The store's URL with any password masked, for messages."""

    read_only: bool = False
    """Whether the store was opened for reading only: nothing is created or
    migrated, and every write fails with StoreError."""

    @abc.abstractmethod
    def migrate(self) -> None:
        """Create the schema, or bring an older one up to date."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the database connection."""

    # -- connections --------------------------------------------------------

    @abc.abstractmethod
    def add_connection(
        self, connection: SavedConnection, *, replace: bool = False
    ) -> None:
        """Save a connection; an existing name is an error unless *replace*."""

    @abc.abstractmethod
    def ensure_connection(self, connection: SavedConnection) -> SavedConnection:
        """Save *connection* unless one of its name is saved; returns the
        saved one, in either case.

        Atomic: of processes doing this at the same moment, one saves and
        every one returns what it saved, where reading first and adding
        after would make the late ones fail with "already exists".
        """

    @abc.abstractmethod
    def get_connection(self, name: str) -> SavedConnection | None:
        """The connection called *name*, if saved."""

    @abc.abstractmethod
    def list_connections(self) -> list[SavedConnection]:
        """Every saved connection, by name."""

    @abc.abstractmethod
    def remove_connection(self, name: str, *, purge: bool = False) -> bool:
        """Forget a connection (and with *purge* its events, checkpoints and
        quarantine); returns whether it existed."""

    # -- syncing ------------------------------------------------------------

    @abc.abstractmethod
    def lock(
        self, connection: str, *, wait: bool = False
    ) -> AbstractContextManager[None]:
        """Hold the sync lock of *connection* for the ``with`` block.

        Raises:
            ConnectionBusyError: Another process holds it and *wait* is
                false.
        """

    @abc.abstractmethod
    def checkpoints(self, connection: str) -> dict[str, Mapping[str, Any]]:
        """The saved checkpoint of each stream of *connection*."""

    @abc.abstractmethod
    def checkpoint(self, connection: str, stream: str) -> Mapping[str, Any] | None:
        """The saved checkpoint of one stream, ``None`` if it has none.

        Raises:
            CheckpointError: The stored text is not a JSON object; only this
                stream is concerned, so a sync reads the others.
        """

    @abc.abstractmethod
    def reset_checkpoints(
        self, connection: str, streams: Sequence[str] | None = None
    ) -> list[str]:
        """Forget the checkpoints of *streams* (all with ``None``), with
        their coverage and any backfill under way; the streams whose
        checkpoint was removed. Their next sync starts at ``--since``
        again; the events already stored stay and dedupe."""

    @abc.abstractmethod
    def coverage(self, connection: str, stream: str) -> Coverage:
        """From when the stream's stored events are complete, and any
        backfill under way; estimated from the oldest stored event when no
        record was kept (see :class:`Coverage`).

        Raises:
            CheckpointError: The backfill's stored checkpoint is not a JSON
                object.
        """

    @abc.abstractmethod
    def save_coverage(self, connection: str, stream: str, coverage: Coverage) -> None:
        """Record *coverage* (its ``start`` must be known) and the backfill
        it names, replacing what was recorded; ``estimated`` is not kept."""

    @abc.abstractmethod
    def write_batch(
        self,
        connection: str,
        stream: str,
        logs: Sequence[AIAuditLog],
        quarantined: Sequence[QuarantinedRecord] = (),
        checkpoint: Mapping[str, Any] | None = None,
        *,
        backfill: bool = False,
        usage: Sequence[ModelUsageRecord] = (),
    ) -> WriteResult:
        """Store a batch and, when given, the stream's new checkpoint, in one
        transaction.

        With *backfill*, the batch belongs to the stream's backfill under
        way (see :meth:`save_coverage`): the checkpoint is that backfill's,
        and the stream's own checkpoint is left as it is.

        *usage* are buckets of a usage report, each replacing the stored one
        of its id. The sync engine passes it only when a batch has some, so
        a store written before usage reports existed keeps working for
        every stream but a usage report's.

        Raises:
            StoreError: With *backfill*, no backfill is under way; nothing
                is written.
        """

    # -- reading ------------------------------------------------------------

    @abc.abstractmethod
    def iter_documents(self, where: LogFilter) -> Iterator[str]:
        """The stored document of each matching event, as it is stored (the
        JSON :func:`~connector_core.serialization.dumps` wrote), oldest
        first (then by id), or the reverse with ``where.newest_first``, read
        in chunks so memory stays bounded whatever the number of rows.

        What exports of JSON read: the documents are their lines already,
        with nothing to parse or rebuild.

        Raises:
            StoreError: A stored document is not text.
        """

    def iter_logs(self, where: LogFilter) -> Iterator[AIAuditLog]:
        """Matching events, in the order of :meth:`iter_documents`, each
        rebuilt from its document.

        Raises:
            SchemaError: A stored document is not an event's.
        """
        for document in self.iter_documents(where):
            yield loads(document, AIAuditLog)

    def usage_records(
        self,
        *,
        connection: str | None = None,
        platform: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[ModelUsageRecord]:
        """The stored usage buckets that match (a bucket matches a time
        range by its start, both ends included), by start, then connection
        and id.

        This default is for a store that keeps no usage reports: it has
        none to return.
        """
        return []

    def replace_directory(
        self, connection: str, platform: str, listing: DirectoryListing
    ) -> DirectoryWrite:
        """Store *listing* as the directory of *connection* (of
        *platform*), in one transaction (see the module docstring).

        This default is for a store that keeps no directory: the sync then
        reports the directory as not stored, and the rest syncs.

        Raises:
            StoreError: Always, here.
        """
        raise StoreError(f"store {self.url} keeps no user directory")

    def directory(self, connection: str | None = None) -> list[StoredMember]:
        """The stored directory of *connection* (of every connection with
        ``None``), removed members included, by connection and user id.

        This default is for a store that keeps no directory: it has none.
        """
        return []

    def shared_organizations(
        self, connection: str | None = None
    ) -> list[SharedOrganization]:
        """Where two connections read one organization: each pair, with how
        many events one found already stored through the other (the pairs
        involving *connection*, with one).

        A store counts each native event once, under the connection that
        stored it first; this is how a host or the CLI tells a user that
        two connections point at one organization. This default is for a
        store that keeps no such record: there is none.
        """
        return []

    @abc.abstractmethod
    def count_logs(self, where: LogFilter) -> int:
        """How many events match."""

    @abc.abstractmethod
    def quarantined(self, connection: str | None = None) -> list[StoredQuarantine]:
        """The quarantined records, oldest first."""

    @abc.abstractmethod
    def usage_analytics(
        self,
        period: AIDateRange,
        *,
        platform: str,
        connection: str | None = None,
        top_users: int = 10,
    ) -> UsageAnalytics:
        """Usage over *period* computed in the database (see the module
        docstring); ``total_users`` is the number of active users (with
        the directory's members not removed, when a connection in scope has
        one), and ``model_usage`` comes from the usage buckets starting in
        *period* when there are any."""

    def people(self, period: AIDateRange, *, connections: Sequence[str] = ()) -> int:
        """How many people have an event in *period*, on any platform (of
        the *connections* alone, when given), each account counted by its
        email: see :func:`~connector_core.analytics.count_people`.

        This default reads every event of the period; the SQL stores answer
        from their partial sums instead.
        """
        accounts = (
            (log.platform, log.user_id, log.user_email)
            for connection in (connections or (None,))
            for log in self.iter_logs(
                LogFilter(connection=connection, start=period.start, end=period.end)
            )
        )
        return count_people(accounts)

    def _period_logs(
        self,
        period: AIDateRange,
        *,
        connections: Sequence[str],
        platform: str | None,
    ) -> Iterator[AIAuditLog]:
        for connection in connections or (None,):
            yield from self.iter_logs(
                LogFilter(
                    connection=connection,
                    platform=platform,
                    start=period.start,
                    end=period.end,
                )
            )

    def app_grants(
        self,
        period: AIDateRange,
        *,
        connections: Sequence[str] = (),
        platform: str | None = None,
    ) -> AppGrants:
        """The third-party apps people granted access to their accounts in
        *period*, per platform and app (of the *connections* alone, of the
        *platform* alone, when given): see
        :class:`~connector_core.analytics.AppGrants`.

        A grant seen in the period stays until a later revoke by the same
        person for the same app; a grant made before the period is not
        seen. This default reads every event of the period; the SQL stores
        select the events carrying ``app_access`` in the database.
        """
        fold = AppGrantsAccumulator(period)
        for log in self._period_logs(
            period, connections=connections, platform=platform
        ):
            fold.add(log)
        return fold.result()

    def features_used(
        self,
        period: AIDateRange,
        *,
        connections: Sequence[str] = (),
        platform: str | None = None,
    ) -> FeaturesUsed:
        """The AI features used in *period*, per platform, product and
        feature, with their uses and distinct people (filtered as
        :meth:`app_grants`): see :class:`~connector_core.analytics.FeaturesUsed`.

        This default reads every event of the period; the SQL stores select
        the events carrying ``feature`` in the database.
        """
        fold = FeaturesAccumulator(period)
        for log in self._period_logs(
            period, connections=connections, platform=platform
        ):
            fold.add(log)
        return fold.result()
