"""Over 800 lines: one store class both databases share, so they cannot drift.

The store both databases share: everything but connecting and locking.

SQLite and PostgreSQL stores differ only in how they connect, lock and
delimit transactions; everything that decides *what* is stored and *how it is
queried* lives here and in the modules beside it, once, so the two cannot
drift apart. The SQL is written in the dialect both understand (``ON
CONFLICT``, window functions, row-value comparisons) with ``?``
placeholders; the few places where they differ are the attributes of
:class:`~connector_core.store._driver.Dialect`, which each driver fills in.
The tables are described with their migrations, in
:mod:`connector_core.store._schema`.
"""

from __future__ import annotations

import abc
import threading
from contextlib import contextmanager
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final

import attrs
import orjson

from connector_core._document import usual_documents
from connector_core.analytics import (
    AppGrants,
    AppGrantsAccumulator,
    FeaturesAccumulator,
    FeaturesUsed,
    count_people,
)
from connector_core.exceptions import CheckpointError, StoreError
from connector_core.metadata_keys import APP_ACCESS, FEATURE
from connector_core.models import (
    AIAuditLog,
    AIDateRange,
    UsageAnalytics,
    ensure_utc,
)
from connector_core.serialization import loads
from connector_core.store._directory import (
    DirectoryWrite,
    StoredMember,
    count_total_users,
    member_rows,
    read_members,
    write_directory,
)
from connector_core.store._document import _ID, EVENTS, event_row
from connector_core.store._filters import _log_conditions, _where
from connector_core.store._organizations import (
    SharedOrganization,
    read_shared,
    set_aside_held,
)
from connector_core.store._quarantine import (
    QUARANTINE,
    _quarantine_row,
    _refused,
    _unstorable,
)
from connector_core.store._schema import (
    apply_migrations,
    check_schema,
    has_table,
    has_usage_reports,
)
from connector_core.store._usage import (
    _Span,
    partial_sums,
    read_accounts,
    read_usage,
    usage_figures,
)
from connector_core.store._usage_reports import (
    UsageWrite,
    read_model_usage,
    read_usage_documents,
    usage_rows,
    write_usage,
)
from connector_core.store._values import (
    _from_iso,
    _iso,
    _now,
    _plain,
    _refuse_secrets,
    _strict_json,
    from_us,
    to_us,
)
from connector_core.store.base import (
    Backfill,
    Coverage,
    LogFilter,
    SavedConnection,
    Store,
    StoredQuarantine,
    WriteResult,
)
from connector_core.streams import QuarantinedRecord


if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from contextlib import AbstractContextManager
    from datetime import datetime

    from connector_core.directory import DirectoryListing
    from connector_core.models import ModelUsageRecord
    from connector_core.store._driver import Bulk, Dialect, Session, SessionMode


__all__ = ["READ_CHUNK", "SQLStore"]


READ_CHUNK: Final = 1000
"""Events per query of :meth:`SQLStore.iter_documents` (and so of
``iter_logs``): the bound on its memory."""

_ID_CHUNK: Final = 500
"""Ids per ``IN`` list, below the 999 parameters of old SQLite builds."""


_CONNECTION_INSERT: Final = (
    "INSERT INTO connections (name, platform, config, created_at)"
    " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO "
)
_CONNECTION_SELECT: Final = "SELECT name, platform, config, created_at FROM connections"
_CHECKPOINT_UPSERT: Final = (
    "INSERT INTO checkpoints (connection, stream, checkpoint, updated_at)"
    " VALUES (?, ?, ?, ?)"
    " ON CONFLICT (connection, stream) DO UPDATE"
    " SET checkpoint = excluded.checkpoint, updated_at = excluded.updated_at"
)
_COVERAGE_UPSERT: Final = (
    "INSERT INTO coverage (connection, stream, covered_from_us, backfill_start_us,"
    " backfill_end_us, backfill_checkpoint, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (connection, stream) DO UPDATE"
    " SET covered_from_us = excluded.covered_from_us,"
    " backfill_start_us = excluded.backfill_start_us,"
    " backfill_end_us = excluded.backfill_end_us,"
    " backfill_checkpoint = excluded.backfill_checkpoint,"
    " updated_at = excluded.updated_at"
)
_PURGED: Final = (
    "events",
    "checkpoints",
    "coverage",
    "quarantine",
    "usage_days",
    "usage_hours",
    "usage_actions",
    "usage_models",
    "usage_reports",
    "directory",
    "organizations",
)


class SQLStore(Store):
    """Everything a store does, over a driver's :class:`Session`.

    A driver supplies :attr:`dialect`, :meth:`_session` and :meth:`lock`.
    Every public method takes the store's mutex for its database work: the
    sync engine calls the store from a worker thread while the CLI may read
    from another, and neither driver's connection may be used by two
    threads at once in the middle of a transaction.
    """

    dialect: Dialect

    def __init__(self, url: str) -> None:
        self.url = url
        self._mutex = threading.RLock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    @abc.abstractmethod
    def _session(self, mode: SessionMode) -> AbstractContextManager[Session]:
        """A session for *mode*; database errors leave it as StoreError."""

    def _sql(self, statement: str) -> str:
        return self.dialect.sql(statement)

    def _query(
        self, statement: str, params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        with self._mutex, self._session("read") as session:
            return session.query(self._sql(statement), params)

    # -- schema -------------------------------------------------------------

    def migrate(self) -> None:
        """Create the schema, or bring an older one up to date.

        Raises:
            StoreError: The store is read-only (see :meth:`_prepare`) or
                the schema cannot be brought up to date.
        """
        if self.read_only:
            raise StoreError(f"store {self.url} is open for reading only")
        with self._mutex, self._session("migrate") as session:
            apply_migrations(session, self.dialect, self.url)

    def _prepare(self) -> None:
        """What opening does once connected: migrate, or, for a read-only
        store, check the schema without changing a thing."""
        if not self.read_only:
            self.migrate()
            return
        with self._mutex, self._session("read") as session:
            check_schema(session, self.dialect, self.url)

    # -- connections --------------------------------------------------------

    def add_connection(
        self, connection: SavedConnection, *, replace: bool = False
    ) -> None:
        """Save a connection; an existing name is an error unless *replace*.

        Raises:
            StoreError: The name exists, or the configuration holds what
                looks like a secret or is not JSON.
        """
        params = self._connection_params(connection)
        statement = _CONNECTION_INSERT + (
            "UPDATE SET platform = excluded.platform, config = excluded.config,"
            " created_at = excluded.created_at"
            if replace
            else "NOTHING"
        )
        with self._mutex, self._session("write") as session:
            changed = session.execute(self._sql(statement), params)
        if not changed:
            raise StoreError(
                f"a connection named {connection.name!r} already exists in "
                f"{self.url}; remove it first, or replace it"
            )

    def ensure_connection(self, connection: SavedConnection) -> SavedConnection:
        """Save *connection* unless one of its name is saved; returns the
        saved one.

        One transaction: ``INSERT ... ON CONFLICT DO NOTHING``, then the
        row is read back. A concurrent insert of the same name makes the
        insert wait for it (PostgreSQL) or cannot happen in between (SQLite
        writes one at a time), so the read always finds a row.

        Raises:
            StoreError: As :meth:`add_connection`.
        """
        params = self._connection_params(connection)
        with self._mutex, self._session("write") as session:
            session.execute(self._sql(_CONNECTION_INSERT + "NOTHING"), params)
            rows = session.query(
                self._sql(_CONNECTION_SELECT + " WHERE name = ?"), (connection.name,)
            )
        return _connection(rows[0])

    def get_connection(self, name: str) -> SavedConnection | None:
        """The connection called *name*, if saved."""
        rows = self._query(_CONNECTION_SELECT + " WHERE name = ?", (name,))
        return _connection(rows[0]) if rows else None

    def list_connections(self) -> list[SavedConnection]:
        """Every saved connection, by name."""
        rows = self._query(_CONNECTION_SELECT + " ORDER BY name")
        return [_connection(row) for row in rows]

    @staticmethod
    def _connection_params(connection: SavedConnection) -> tuple[str, str, str, str]:
        """The ``connections`` row of *connection*, checked.

        Raises:
            StoreError: The configuration holds what looks like a secret,
                is not JSON, or its time is not a valid instant.
        """
        _refuse_secrets(connection.config, connection.name)
        config = _strict_json(
            _plain(connection.config), f"the config of connection {connection.name!r}"
        )
        try:
            created_at = _iso(ensure_utc(connection.created_at))
        except ValueError as exc:
            raise StoreError(f"connection {connection.name!r}: {exc}") from None
        return (connection.name, connection.platform, config, created_at)

    def remove_connection(self, name: str, *, purge: bool = False) -> bool:
        """Forget a connection, and with *purge* everything stored for it.

        Returns whether there was anything to forget: the connection, or
        with *purge* any of its events, checkpoints or quarantine.
        """
        with self._mutex, self._session("write") as session:
            removed = session.execute(
                self._sql("DELETE FROM connections WHERE name = ?"), (name,)
            )
            for table in _PURGED if purge else ():
                removed += session.execute(
                    self._sql(f"DELETE FROM {table} WHERE connection = ?"),  # noqa: S608 -- table names are constants
                    (name,),
                )
            if purge:
                # Who found events already stored through it reads them
                # no more: see shared_organizations, which the CLI asks first.
                removed += session.execute(
                    self._sql(
                        "DELETE FROM shared_organizations"
                        " WHERE connection = ? OR other = ?"
                    ),
                    (name, name),
                )
        return removed > 0

    # -- syncing ------------------------------------------------------------

    def checkpoints(self, connection: str) -> dict[str, Mapping[str, Any]]:
        """The saved checkpoint of each stream of *connection*."""
        rows = self._query(
            "SELECT stream, checkpoint FROM checkpoints WHERE connection = ?"
            " ORDER BY stream",
            (connection,),
        )
        return {stream: orjson.loads(text) for stream, text in rows}

    def checkpoint(self, connection: str, stream: str) -> Mapping[str, Any] | None:
        """The saved checkpoint of one stream; a row that is not a JSON
        object is a :class:`CheckpointError` for that stream alone."""
        rows = self._query(
            "SELECT checkpoint FROM checkpoints WHERE connection = ? AND stream = ?",
            (connection, stream),
        )
        if not rows:
            return None
        return _checkpoint_object(stream, rows[0][0])

    def reset_checkpoints(
        self, connection: str, streams: Sequence[str] | None = None
    ) -> list[str]:
        """Delete the checkpoints of *streams* (every stream with ``None``),
        with their coverage: the next read starts afresh at ``--since``,
        and covers from there, whatever the stream covered before (a reset
        is what a broken checkpoint gets, and the gap up to ``--since`` is
        then the user's to choose)."""
        with self._mutex, self._session("write") as session:
            found = [
                stream
                for (stream,) in session.query(
                    self._sql(
                        "SELECT stream FROM checkpoints WHERE connection = ?"
                        " ORDER BY stream"
                    ),
                    (connection,),
                )
                if streams is None or stream in streams
            ]
            for stream in found:
                session.execute(
                    self._sql(
                        "DELETE FROM checkpoints WHERE connection = ? AND stream = ?"
                    ),
                    (connection, stream),
                )
            if streams is None:
                session.execute(
                    self._sql("DELETE FROM coverage WHERE connection = ?"),
                    (connection,),
                )
            for stream in streams or ():
                session.execute(
                    self._sql(
                        "DELETE FROM coverage WHERE connection = ? AND stream = ?"
                    ),
                    (connection, stream),
                )
        return found

    def coverage(self, connection: str, stream: str) -> Coverage:
        """From when the stream's stored events are complete (see
        :class:`Coverage`); a backfill checkpoint that is not a JSON object
        is a :class:`CheckpointError` for that stream alone."""
        with self._mutex, self._session("snapshot") as session:
            rows = session.query(
                self._sql(
                    "SELECT covered_from_us, backfill_start_us, backfill_end_us,"
                    " backfill_checkpoint FROM coverage"
                    " WHERE connection = ? AND stream = ?"
                ),
                (connection, stream),
            )
            if not rows:
                # Kept by no version before migration 2: the oldest stored
                # event is the latest the stream's reading can have begun.
                # One index range scan, stopped at the first row.
                oldest = session.query(
                    self._sql(
                        "SELECT ts_us FROM events WHERE connection = ? AND stream = ?"
                        " ORDER BY ts_us LIMIT 1"
                    ),
                    (connection, stream),
                )
                return Coverage(
                    start=from_us(oldest[0][0]) if oldest else None, estimated=True
                )
        covered, start, end, checkpoint = rows[0]
        backfill = None
        if start is not None and end is not None:
            backfill = Backfill(
                start=from_us(start),
                end=from_us(end),
                checkpoint=None
                if checkpoint is None
                else _checkpoint_object(stream, checkpoint),
            )
        return Coverage(start=from_us(covered), backfill=backfill)

    def save_coverage(self, connection: str, stream: str, coverage: Coverage) -> None:
        """Record *coverage* and its backfill, replacing what was recorded.

        Raises:
            StoreError: Its start is not known, or the backfill checkpoint is
                not JSON.
        """
        if coverage.start is None:
            raise StoreError(f"the coverage of {connection!r}/{stream!r} needs a start")
        backfill = coverage.backfill
        params = (
            connection,
            stream,
            to_us(coverage.start),
            None if backfill is None else to_us(backfill.start),
            None if backfill is None else to_us(backfill.end),
            None
            if backfill is None or backfill.checkpoint is None
            else _strict_json(
                _plain(backfill.checkpoint),
                f"the backfill checkpoint of {connection!r}/{stream!r}",
            ),
            _iso(_now()),
        )
        with self._mutex, self._session("write") as session:
            session.execute(self._sql(_COVERAGE_UPSERT), params)

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
        """Store a batch and, when given, the stream's checkpoint, atomically.

        Rows are built before the transaction opens, so the database is held
        only for the statements. Inside it: the events not stored yet, the
        partial sums of exactly those, the usage buckets new or revised,
        the quarantined records and the checkpoint (with *backfill*, the
        backfill's); anything failing (a database error, an exception from
        a hook) rolls every part back.
        """
        now = _iso(_now())
        rows: list[tuple[Any, ...]] = []
        bad = [_quarantine_row(connection, record, now) for record in quarantined]
        buckets, unstorable_buckets = usage_rows(connection, stream, usage, now)
        bad.extend(_quarantine_row(connection, r, now) for r in unstorable_buckets)
        buckets_written = UsageWrite()
        for log, written in zip(logs, usual_documents(logs), strict=True):
            try:
                rows.append(event_row(connection, stream, log, now, written))
            except StoreError as exc:
                # One event the store cannot write (a lone surrogate, a
                # number no JSON holds) must not block the others: it is
                # quarantined with the batch, and its evidence kept.
                unstorable = _unstorable(stream, log, str(exc))
                bad.append(_quarantine_row(connection, unstorable, now))
        with self._mutex, self._session("write") as session:
            distinct = _first_of_each_id(rows)
            self._guard_organizations(session, distinct)
            fresh, held = set_aside_held(
                session,
                self.dialect,
                self._bulk_insert,
                connection=connection,
                rows=distinct,
                now=now,
            )
            new, refused = self._insert_events(session, connection, fresh)
            bad.extend(
                _quarantine_row(connection, _refused(stream, row, why), now)
                for row, why in refused
            )
            self._add_usage(session, connection, new)
            if buckets:
                buckets_written = write_usage(
                    session, self.dialect, self._bulk_insert, connection, buckets
                )
            stored_bad = self._bulk_insert(session, QUARANTINE, bad) if bad else 0
            if backfill:
                self._save_backfill_checkpoint(
                    session, connection, stream, checkpoint, now
                )
            elif checkpoint is not None:
                self._save_checkpoint(session, connection, stream, checkpoint, now)
        return WriteResult(
            inserted=len(new),
            duplicates=len(rows) - len(new) - len(refused) - held.events,
            held_elsewhere=held.events,
            held_by=held.by,
            quarantined=stored_bad,
            usage_inserted=buckets_written.inserted,
            usage_updated=buckets_written.updated,
            usage_unchanged=buckets_written.unchanged,
        )

    def replace_directory(
        self, connection: str, platform: str, listing: DirectoryListing
    ) -> DirectoryWrite:
        """Store *listing* as the directory of *connection*, in one
        transaction: its members stored or updated, the stored members it
        leaves out marked removed (kept, with when they were last listed),
        its quarantined records and the members the store cannot hold
        quarantined.

        Raises:
            StoreError: The listing has no member while members are stored:
                taken for a fault, the stored directory is left as it was
                (its quarantined records are stored all the same).
        """
        now = _iso(_now())
        rows, unstorable = member_rows(connection, platform, listing.members, now)
        bad = [
            _quarantine_row(connection, record, now)
            for record in (*listing.quarantined, *unstorable)
        ]
        try:
            with self._mutex, self._session("write") as session:
                written = write_directory(
                    session, self.dialect, self._bulk_insert, connection, rows
                )
                stored_bad = self._bulk_insert(session, QUARANTINE, bad) if bad else 0
        except StoreError:
            if rows or not bad:
                raise
            # A listing with no member refused: the records it could not
            # read (perhaps why it has none) are kept all the same.
            with self._mutex, self._session("write") as session:
                self._bulk_insert(session, QUARANTINE, bad)
            raise
        return attrs.evolve(written, quarantined=stored_bad)

    def directory(self, connection: str | None = None) -> list[StoredMember]:
        """The stored directory of *connection* (of every connection with
        ``None``), removed members included, by connection and id; none
        from a store older than directories, opened read-only."""
        with self._mutex, self._session("snapshot") as session:
            if not has_table(session, self.dialect, "directory"):
                return []
            return read_members(session, self.dialect, connection=connection)

    def _guard_organizations(
        self, session: Session, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """Make the writers of the organizations of *rows* take turns until
        this transaction ends, so two connections of one organization never
        both store an event (see :mod:`._organizations`). Nothing to do
        where writes already take turns, as in SQLite; a driver whose
        writers run at once overrides this."""

    def shared_organizations(
        self, connection: str | None = None
    ) -> list[SharedOrganization]:
        """Where two connections read one organization: for each, how many
        events one found already stored through the other (those involving
        *connection*, with one); none from a store older than this record,
        opened read-only."""
        with self._mutex, self._session("snapshot") as session:
            if not has_table(session, self.dialect, "shared_organizations"):
                return []
            return read_shared(session, self.dialect, connection)

    def _refusal(self, exc: BaseException) -> str | None:
        """Why the database refused a row, when *exc* is such a refusal (a
        value it cannot hold or index), rather than a failure of the
        database itself; ``None`` otherwise. Drivers add their errors."""
        if isinstance(exc, UnicodeEncodeError | OverflowError):
            return str(exc)
        return None

    def _insert_events(
        self,
        session: Session,
        connection: str,
        rows: Sequence[tuple[Any, ...]],
    ) -> tuple[list[tuple[Any, ...]], list[tuple[tuple[Any, ...], str]]]:
        """Insert the event *rows* (distinct ids) not stored yet; returns
        those, and the rows the database refused, with why.

        :func:`column_text` already makes every known case storable alike in
        both databases; this is the safety net for the rest. The batch goes
        in at once under a savepoint; if the database refuses a value, the
        savepoint is rolled back and the rows go in one by one, each under
        its own, so one row it cannot hold is set aside (and quarantined by
        the caller) instead of failing the batch on every rerun.
        """
        try:
            with _savepoint(session, "events"):
                return self._insert_new(session, connection, rows), []
        except Exception as exc:
            if self._refusal(exc) is None:
                raise
        new: list[tuple[Any, ...]] = []
        refused: list[tuple[tuple[Any, ...], str]] = []
        for row in rows:
            try:
                with _savepoint(session, "event"):
                    new.extend(self._insert_new(session, connection, [row]))
            except Exception as exc:
                why = self._refusal(exc)
                if why is None:
                    raise
                refused.append((row, why))
        return new, refused

    def _insert_new(
        self,
        session: Session,
        connection: str,
        rows: Sequence[tuple[Any, ...]],
    ) -> list[tuple[Any, ...]]:
        """Insert the event *rows* (distinct ids) not stored yet; returns
        those, whose partial sums the batch adds.

        Here the stored ids are looked up first: SQLite has one writer at a
        time (the transaction is IMMEDIATE), so none can come in between.
        But first every row is simply inserted: when the database inserts
        each one, none was stored, which is what nearly every batch of a
        sync finds, and the look-up (a search of the key index per event,
        which the insert repeats) is saved. Otherwise that insert is undone
        and the rows go in as above.
        """
        if rows and self._inserted_all(session, rows):
            return list(rows)
        stored = set(self._stored_ids(session, connection, [row[_ID] for row in rows]))
        new = [row for row in rows if row[_ID] not in stored]
        if new and self._bulk_insert(session, EVENTS, new) != len(new):
            # Only another writer could cause this, and the partial sums
            # would then be wrong: nothing is written.
            raise StoreError(
                f"another process wrote events of {connection!r} in {self.url} "
                "at the same time; write the batch again"
            )
        return new

    def _inserted_all(self, session: Session, rows: Sequence[tuple[Any, ...]]) -> bool:
        """Insert *rows* if none of them is stored yet; whether they were
        (if not, nothing is inserted)."""
        session.execute("SAVEPOINT fresh")
        try:
            every = self._bulk_insert(session, EVENTS, rows) == len(rows)
            if not every:
                session.execute("ROLLBACK TO SAVEPOINT fresh")
        except BaseException:
            session.execute("ROLLBACK TO SAVEPOINT fresh")
            session.execute("RELEASE SAVEPOINT fresh")
            raise
        session.execute("RELEASE SAVEPOINT fresh")
        return every

    def _stored_ids(
        self, session: Session, connection: str, ids: Sequence[str]
    ) -> list[str]:
        """Which of *ids* are stored events of *connection*."""
        stored: list[str] = []
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = ids[start : start + _ID_CHUNK]
            rows = session.query(
                self._sql(
                    "SELECT id FROM events WHERE connection = ?"  # noqa: S608 -- only placeholders are added
                    f" AND id IN ({', '.join('?' * len(chunk))})"
                ),
                (connection, *chunk),
            )
            stored.extend(event_id for (event_id,) in rows)
        return stored

    def _bulk_insert(
        self, session: Session, bulk: Bulk, rows: Sequence[Sequence[Any]]
    ) -> int:
        """Insert *rows* into *bulk*'s table; returns how many were inserted.

        One prepared statement executed per row, which is what an embedded
        database does fastest; a network one overrides this.
        """
        return session.executemany(self._sql(bulk.values_statement()), rows)

    def _add_usage(
        self, session: Session, connection: str, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """Add the new events *rows* to the partial sums."""
        for bulk, sums in partial_sums(connection, rows):
            if sums:
                self._bulk_insert(session, bulk, sums)

    def _save_checkpoint(
        self,
        session: Session,
        connection: str,
        stream: str,
        checkpoint: Mapping[str, Any],
        now: str,
    ) -> None:
        # Serialized inside the transaction on purpose: it is the last step,
        # and a checkpoint that cannot be saved must take the batch with it.
        text = _strict_json(
            _plain(checkpoint), f"the checkpoint of {connection!r}/{stream!r}"
        )
        session.execute(self._sql(_CHECKPOINT_UPSERT), (connection, stream, text, now))

    def _save_backfill_checkpoint(
        self,
        session: Session,
        connection: str,
        stream: str,
        checkpoint: Mapping[str, Any] | None,
        now: str,
    ) -> None:
        """Save the checkpoint of the backfill under way, if there is one to
        save; with none under way, the batch is refused (a backfill's events
        without its record would be resumed from nowhere)."""
        text = (
            None
            if checkpoint is None
            else _strict_json(
                _plain(checkpoint),
                f"the backfill checkpoint of {connection!r}/{stream!r}",
            )
        )
        statement = (
            "UPDATE coverage SET updated_at = ?"
            if text is None
            else "UPDATE coverage SET backfill_checkpoint = ?, updated_at = ?"
        )
        changed = session.execute(
            self._sql(
                statement + " WHERE connection = ? AND stream = ?"
                " AND backfill_start_us IS NOT NULL"
            ),
            (now, connection, stream)
            if text is None
            else (text, now, connection, stream),
        )
        if not changed:
            raise StoreError(
                f"no backfill of {connection!r}/{stream!r} is under way in {self.url}"
            )

    # -- reading ------------------------------------------------------------

    def iter_documents(self, where: LogFilter) -> Iterator[str]:
        """The stored documents of the matching events, oldest first, then
        by id (then connection); the reverse order with
        ``where.newest_first``. :meth:`iter_logs` rebuilds the events from
        these, so the two read the same events in the same order.

        Keyset pagination: each chunk is one query resuming after the last
        row of the previous one, so memory is one chunk whatever the total,
        no cursor stays open between chunks (the store can be written while
        a reader pauses), and each query starts where an index points (read
        backwards for the newest first).
        """
        conditions, params = _log_conditions(where, self.dialect)
        return self._documents(
            conditions, params, limit=where.limit, newest_first=where.newest_first
        )

    def _documents(
        self,
        conditions: Sequence[str],
        params: Sequence[Any],
        *,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> Iterator[str]:
        """The documents of the events meeting every condition, in the
        order and chunks of :meth:`iter_documents`."""
        remaining = limit
        after: tuple[Any, ...] = ()
        beyond, order = (
            ("<", " ORDER BY ts_us DESC, id DESC, connection DESC")
            if newest_first
            else (">", " ORDER BY ts_us, id, connection")
        )
        while remaining is None or remaining > 0:
            size = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
            page = (
                [*conditions, f"(ts_us, id, connection) {beyond} (?, ?, ?)"]
                if after
                else conditions
            )
            rows = self._query(
                "SELECT ts_us, id, connection, document FROM events"  # noqa: S608 -- conditions are constants
                f"{_where(page)}{order} LIMIT ?",
                (*params, *after, size),
            )
            for _, event_id, connection, document in rows:
                yield (
                    document
                    if document.__class__ is str
                    else self._document_text(connection, event_id, document)
                )
            if len(rows) < size:
                return
            after = rows[-1][:3]
            if remaining is not None:
                remaining -= len(rows)

    def _logs_carrying(
        self,
        key: str,
        period: AIDateRange,
        *,
        connections: Sequence[str],
        platform: str | None,
    ) -> Iterator[AIAuditLog]:
        """The events of *period* whose document holds the metadata *key*,
        found by the database: only those documents leave it and are parsed.

        A stored document is compact JSON written by
        :func:`~connector_core.serialization.dumps`, so an event whose
        metadata has *key* holds ``"key":`` in its text; ``LIKE`` finds
        those (and perhaps a few more, the same text inside ``details``),
        and the callers' folds read the metadata itself.
        """
        conditions, params = _log_conditions(
            LogFilter(start=period.start, end=period.end, platform=platform),
            self.dialect,
        )
        if connections:
            conditions.append(f"connection IN ({', '.join('?' * len(connections))})")
            params.extend(connections)
        condition, pattern = self.dialect.match_glob("document", f'*"{key}":*')
        conditions.append(condition)
        params.append(pattern)
        for document in self._documents(conditions, params):
            yield loads(document, AIAuditLog)

    def _document_text(self, connection: str, event_id: str, document: Any) -> str:
        """A stored document that the database did not give as text: the
        bytes of one SQLite keeps as a blob (a column's declared type does
        not bind it), as UTF-8.

        Raises:
            StoreError: It is not UTF-8 bytes.
        """
        if isinstance(document, bytes):
            try:
                return document.decode()
            except UnicodeDecodeError:
                pass
        raise StoreError(
            f"the stored document of event {event_id!r} of {connection!r} in "
            f"{self.url} is not text but {type(document).__name__}"
        )

    def usage_records(
        self,
        *,
        connection: str | None = None,
        platform: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[ModelUsageRecord]:
        """The stored usage buckets that match, by start (both ends
        included), then connection and id; none from a store older than
        usage reports, opened read-only.

        Raises:
            SchemaError: A stored document is not a bucket's.
        """
        with self._mutex, self._session("snapshot") as session:
            if not has_usage_reports(session, self.dialect):
                return []
            return read_usage_documents(
                session,
                self.dialect,
                connection=connection,
                platform=platform,
                start=start,
                end=end,
            )

    def count_logs(self, where: LogFilter) -> int:
        """How many events match (at most ``where.limit``)."""
        conditions, params = _log_conditions(where, self.dialect)
        rows = self._query(
            f"SELECT COUNT(*) FROM events{_where(conditions)}",  # noqa: S608 -- conditions are constants
            params,
        )
        count = int(rows[0][0])
        return count if where.limit is None else min(count, where.limit)

    def quarantined(self, connection: str | None = None) -> list[StoredQuarantine]:
        """The quarantined records, oldest first."""
        conditions, params = (
            (["connection = ?"], [connection]) if connection is not None else ([], [])
        )
        rows = self._query(
            "SELECT connection, stream, reason, raw, truncated, native_id,"  # noqa: S608 -- conditions are constants
            f" native_type, created_at FROM quarantine{_where(conditions)}"
            " ORDER BY seq",
            params,
        )
        return [
            StoredQuarantine(
                connection=row[0],
                record=QuarantinedRecord(
                    stream=row[1],
                    reason=row[2],
                    raw=row[3],
                    truncated=bool(row[4]),
                    native_id=row[5],
                    native_type=row[6],
                ),
                created_at=_from_iso(row[7]),
            )
            for row in rows
        ]

    def usage_analytics(
        self,
        period: AIDateRange,
        *,
        platform: str,
        connection: str | None = None,
        top_users: int = 10,
    ) -> UsageAnalytics:
        """Usage over *period*, computed in the database.

        The definitions are those of
        :class:`~connector_core.analytics.UsageAccumulator` fed the events in
        :meth:`iter_logs` order (which decides a user's ``email``: the first
        one seen). Two queries (:func:`~connector_core.store._usage.read_usage`)
        in one snapshot, so the figures agree even while a sync writes.
        When usage buckets of the platform start in *period*, ``model_usage``
        is theirs (a third query, in the same snapshot); when a connection
        in scope has a directory, ``total_users`` counts its members too
        (see :func:`~connector_core.store._directory.count_total_users`).
        """
        if top_users < 0:
            raise ValueError(f"top_users must be 0 or more, got {top_users}")
        span = _Span.of(period)
        with self._mutex, self._session("snapshot") as session:
            rows = read_usage(
                session,
                self.dialect,
                span,
                platform=platform,
                connection=connection,
                top_users=top_users,
            )
            total = None
            if has_table(session, self.dialect, "directory"):
                total = count_total_users(
                    session,
                    self.dialect,
                    span,
                    platform=platform,
                    connection=connection,
                )
            reported = None
            if has_usage_reports(session, self.dialect):
                reported = read_model_usage(
                    session,
                    self.dialect,
                    platform=platform,
                    connection=connection,
                    start=period.start,
                    end=period.end,
                    overlaps=has_table(session, self.dialect, "shared_organizations"),
                )
        figures = usage_figures(rows, period, platform=platform)
        if total is not None:
            # Counted in the same snapshot: never below the active users.
            figures = attrs.evolve(figures, total_users=total)
        if reported is None:
            return figures
        return attrs.evolve(figures, model_usage=reported)

    def people(self, period: AIDateRange, *, connections: Sequence[str] = ()) -> int:
        """How many people have an event in *period* (see :meth:`Store.people`),
        from the partial sums of its whole days and the events of the rest."""
        with self._mutex, self._session("snapshot") as session:
            accounts = read_accounts(
                session, self.dialect, _Span.of(period), connections=connections
            )
        return count_people(accounts)

    def app_grants(
        self,
        period: AIDateRange,
        *,
        connections: Sequence[str] = (),
        platform: str | None = None,
    ) -> AppGrants:
        """The third-party apps granted access in *period* (see
        :meth:`Store.app_grants`), from the events carrying ``app_access``
        alone, which the database selects."""
        fold = AppGrantsAccumulator(period)
        for log in self._logs_carrying(
            APP_ACCESS, period, connections=connections, platform=platform
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
        """The AI features used in *period* (see :meth:`Store.features_used`),
        from the events carrying ``feature`` alone, which the database
        selects."""
        fold = FeaturesAccumulator(period)
        for log in self._logs_carrying(
            FEATURE, period, connections=connections, platform=platform
        ):
            fold.add(log)
        return fold.result()


def _first_of_each_id(rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """*rows* without the later ones of a repeated id (the first is kept, as
    it would be had they come in two batches), sorted by id.

    Sorted, so that two transactions writing overlapping batches take their
    row locks in the same order and wait for each other instead of
    deadlocking; the partial sums are written sorted for the same reason.
    """
    unique: dict[str, tuple[Any, ...]] = {}
    for row in rows:
        unique.setdefault(row[_ID], row)
    return sorted(unique.values(), key=itemgetter(_ID))


def _checkpoint_object(stream: str, text: str) -> Mapping[str, Any]:
    """The stored checkpoint *text* of *stream*, which must be a JSON object.

    Raises:
        CheckpointError: It is not JSON, or not an object.
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise CheckpointError(stream, f"not JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        kind = (
            "null"
            if value is None
            else "array"
            if isinstance(value, list)
            else "string"
            if isinstance(value, str)
            else "boolean"
            if isinstance(value, bool)
            else "number"
        )
        raise CheckpointError(stream, f"a JSON {kind}, not an object")
    return value


def _connection(row: Sequence[Any]) -> SavedConnection:
    name, platform, config, created_at = row
    return SavedConnection(
        name=name,
        platform=platform,
        config=orjson.loads(config),
        created_at=_from_iso(created_at),
    )


@contextmanager
def _savepoint(session: Session, name: str) -> Iterator[None]:
    """A savepoint for the block: rolled back (and the error re-raised) if
    it fails, so the transaction around it goes on."""
    session.execute(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        session.execute(f"ROLLBACK TO SAVEPOINT {name}")
        session.execute(f"RELEASE SAVEPOINT {name}")
        raise
    session.execute(f"RELEASE SAVEPOINT {name}")
