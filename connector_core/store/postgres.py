"""The PostgreSQL store: one database shared by many workers.

Connect with a libpq URL, ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DB``
(``postgres://`` too), with any libpq parameter in the query string, plus
one of ours: ``schema=NAME`` keeps the store's tables in that schema
(created if missing) instead of the default search path, so several stores
(or test runs) can share a database.

The sync lock is a session-level advisory lock, taken on a connection of
its own that lives as long as the ``with`` block: the server releases it when
that session ends, including when the process holding it dies. Migrations
take a transaction-level advisory lock, so processes opening a new database
at the same moment apply each migration once.

A batch is one ``INSERT`` of arrays (one per column) whose ``RETURNING``
names the events that were new, so the partial sums count exactly those
even if two sessions write the same events at once.

A password is never shown: :attr:`PostgresStore.url` and every message show
the URL with it masked, and connection errors are re-raised without the
driver's exception attached.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote

import psycopg
import psycopg.errors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from connector_core.exceptions import (
    ConfigurationError,
    ConnectionBusyError,
    StoreError,
    redact,
)
from connector_core.store._document import EVENTS
from connector_core.store._driver import Dialect
from connector_core.store._sql import SQLStore
from connector_core.store._urls import mask_url, url_passwords


if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from connector_core.store._driver import Bulk, Session, SessionMode


__all__ = ["PostgresStore", "split_postgres_url"]

SCHEMES: Final = ("postgresql", "postgres")
_CONNECT_TIMEOUT_S: Final = 10
_APPLICATION: Final = "aiaudit"
# application_name is cut by the server at 63 bytes.
_APPLICATION_NAME_MAX: Final = 63
_UINT32: Final = 0xFFFFFFFF
_UINT64: Final = 0xFFFFFFFFFFFFFFFF
_ID_AT: Final = [name for name, _ in EVENTS.columns].index("id")
_PLATFORM_AT: Final = [name for name, _ in EVENTS.columns].index("platform")
_ORG_AT: Final = [name for name, _ in EVENTS.columns].index("organization_id")

_REFUSALS: Final = (psycopg.errors.DataError, psycopg.errors.ProgramLimitExceeded)

_HOLDER_QUERY: Final = (
    "SELECT a.application_name, a.pid FROM pg_locks AS l"
    " JOIN pg_stat_activity AS a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
    " AND l.database = (SELECT oid FROM pg_database"
    " WHERE datname = current_database())"
    " AND l.classid::bigint = %s AND l.objid::bigint = %s"
)


def split_postgres_url(url: str) -> tuple[str, str | None]:
    """The libpq URL of *url* and the ``schema`` parameter taken out of it.

    The rest of the URL is passed to libpq untouched (no re-encoding).

    Raises:
        ConfigurationError: *url* is not a PostgreSQL URL libpq accepts.
    """
    masked = mask_url(url)
    scheme = url.partition("://")[0].lower()
    if scheme not in SCHEMES or "://" not in url:
        raise ConfigurationError(
            f"invalid PostgreSQL store URL {masked!r}: use "
            "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=NAME]"
        )
    base, _, query = url.partition("?")
    query = query.partition("#")[0]
    kept: list[str] = []
    schemas: list[str] = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "schema":
            schemas.append(unquote(value))
        elif part:
            kept.append(part)
    if len(schemas) > 1 or schemas == [""]:
        raise ConfigurationError(
            f"invalid PostgreSQL store URL {masked!r}: give one non-empty schema"
        )
    conninfo = f"{base}?{'&'.join(kept)}" if kept else base
    try:
        conninfo_to_dict(conninfo)
    except psycopg.Error as exc:
        detail = _first_line(exc)
        if any(password in detail for password in url_passwords(url)):
            # libpq quotes the token it could not read, the password too.
            detail = "libpq cannot read it (its message would show the password)"
        raise ConfigurationError(
            f"invalid PostgreSQL store URL {masked!r}: {detail}"
        ) from None
    return conninfo, schemas[0] if schemas else None


def _unnest_insert(bulk: Bulk) -> str:
    """An ``INSERT`` of a whole batch: one array per column.

    One round trip and a short statement (parsed once, then prepared), where
    executemany would send each row and multi-row ``VALUES`` would make the
    server parse thousands of parameters every time. Binary (``%b``): an
    array of text then goes as lengths and bytes, where the text format
    would escape every quote of every JSON document.
    """
    arrays = ", ".join(f"%b::{kind}[]" for _, kind in bulk.columns)
    return (
        f"INSERT INTO {bulk.table} ({bulk.names})"  # noqa: S608 -- built from constants
        f" SELECT * FROM unnest({arrays}) {bulk.on_conflict}"
    )


def _columns(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)]


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().partition("\n")[0]


def _key(*parts: str) -> int:
    """A stable signed 64-bit advisory-lock key for *parts*.

    Python's ``hash`` changes between processes; two processes must agree.
    """
    digest = hashlib.sha256("\x00".join(("aiaudit", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class _PostgresSession:
    def __init__(self, cursor: psycopg.Cursor[tuple[Any, ...]]) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._cursor.execute(sql, params)
        return self._cursor.rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        self._cursor.executemany(sql, rows)
        return self._cursor.rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._cursor.execute(sql, params)
        return self._cursor.fetchall()


class PostgresStore(SQLStore):
    """A store in a PostgreSQL database (optionally in one schema of it)."""

    dialect = Dialect(
        name="postgresql",
        placeholder="%s",
        # The database's collation may sort "a" < "B" < "b"; "C" sorts by
        # code point, as Python and SQLite do, whatever the server's locale.
        text='TEXT COLLATE "C"',
        serial_key="BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        # Looked up along the search path, as the store's queries are.
        table_exists="SELECT to_regclass(?::text) IS NOT NULL",
        # No GLOB; LIKE is case-sensitive, as SQLite's GLOB is.
        glob="LIKE",
    )

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        """Connect to and migrate the database *url* names.

        With *read_only*, every session is read-only
        (``default_transaction_read_only``) and nothing is created or
        migrated: the schema must be there, current.

        Raises:
            ConfigurationError: *url* is malformed.
            StoreError: The server cannot be reached, refuses the
                credentials, or the schema cannot be brought up to date
                (or, read-only, is not current).
        """
        super().__init__(mask_url(url))
        self.read_only = read_only
        self._conninfo, self.schema = split_postgres_url(url)
        params = conninfo_to_dict(self._conninfo)
        password = params.get("password")
        self._secrets = (None if password is None else str(password),)
        self._defaults: dict[str, str | int] = {}
        if "connect_timeout" not in params:
            self._defaults["connect_timeout"] = _CONNECT_TIMEOUT_S
        self._app_name_given = "application_name" in params
        self._connection: psycopg.Connection[tuple[Any, ...]] | None = self._connect(
            _APPLICATION
        )
        try:
            self._prepare()
        except BaseException:
            self.close()
            raise

    def _describe(self, exc: BaseException) -> str:
        return redact(_first_line(exc), self._secrets)

    def _connect(self, application_name: str) -> psycopg.Connection[tuple[Any, ...]]:
        extra = dict(self._defaults)
        if not self._app_name_given:
            extra["application_name"] = application_name[:_APPLICATION_NAME_MAX]
        try:
            connection = psycopg.connect(
                make_conninfo(self._conninfo, **extra), autocommit=True
            )
        except psycopg.Error as exc:
            # from None: the driver's exception would carry the details of
            # the attempt; the message says what went wrong.
            raise StoreError(
                f"cannot connect to PostgreSQL store {self.url}: {self._describe(exc)}"
            ) from None
        try:
            if self.read_only:
                connection.execute("SET default_transaction_read_only = on")
            if self.schema is not None:
                connection.execute(
                    sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema))
                )
        except psycopg.Error as exc:
            connection.close()
            raise StoreError(
                f"PostgreSQL store {self.url}: {self._describe(exc)}"
            ) from None
        return connection

    def _live(self) -> psycopg.Connection[tuple[Any, ...]]:
        """The store's connection, re-opened if the server dropped it."""
        if self._connection is None:
            raise StoreError(f"PostgreSQL store {self.url} is closed")
        if self._connection.closed:
            self._connection = self._connect(_APPLICATION)
        return self._connection

    def close(self) -> None:
        """Release the database connection; later calls fail with StoreError."""
        with self._mutex:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    @contextlib.contextmanager
    def _session(self, mode: SessionMode) -> Iterator[Session]:
        connection = self._live()
        try:
            with connection.cursor() as cursor:
                session = _PostgresSession(cursor)
                if mode == "read":
                    yield session
                    return
                with connection.transaction():
                    if mode == "snapshot":
                        cursor.execute(
                            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
                        )
                    elif mode == "migrate":
                        self._prepare_migration(cursor)
                    yield session
        except psycopg.Error as exc:
            raise StoreError(
                f"PostgreSQL store {self.url}: {self._describe(exc)}"
            ) from exc

    def _insert_new(
        self,
        session: Session,
        connection: str,
        rows: Sequence[tuple[Any, ...]],
    ) -> list[tuple[Any, ...]]:
        # The insert says which rows it inserted, whatever other sessions
        # write meanwhile (a conflicting insert waits for the other's
        # transaction), and finds conflicts through the key index itself:
        # no lookup whose plan could go wrong.
        if not rows:
            return []
        inserted = {
            event_id
            for (event_id,) in session.query(
                _unnest_insert(EVENTS) + " RETURNING id", _columns(rows)
            )
        }
        return [row for row in rows if row[_ID_AT] in inserted]

    def _guard_organizations(
        self, session: Session, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        # Writers of one organization through two connections would each
        # miss the other's uncommitted events: a transaction lock per
        # organization, taken in one order (no deadlock), makes them take
        # turns. Writers of other organizations never wait.
        organizations = sorted({(row[_PLATFORM_AT], row[_ORG_AT]) for row in rows})
        for platform, organization in organizations:
            session.execute(
                "SELECT pg_advisory_xact_lock(%s)",
                (_key("organization", self.schema or "", platform, organization),),
            )

    def _bulk_insert(
        self, session: Session, bulk: Bulk, rows: Sequence[Sequence[Any]]
    ) -> int:
        return session.execute(_unnest_insert(bulk), _columns(rows))

    def _refusal(self, exc: BaseException) -> str | None:
        # A value the server cannot hold (DataError: bad encoding, a number
        # out of range...) or index (ProgramLimitExceeded: an index row too
        # big); not the failures of the server or of the transaction.
        if isinstance(
            exc, psycopg.errors.DataError | psycopg.errors.ProgramLimitExceeded
        ):
            return self._describe(exc)
        return super()._refusal(exc)

    def _prepare_migration(self, cursor: psycopg.Cursor[tuple[Any, ...]]) -> None:
        # Held to the end of the transaction: a second process opening the
        # store waits here, then finds the schema current.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s)", (_key("migrate", self.schema or ""),)
        )
        if self.schema is not None:
            cursor.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    sql.Identifier(self.schema)
                )
            )

    @contextlib.contextmanager
    def lock(self, connection: str, *, wait: bool = False) -> Iterator[None]:
        """Hold the sync lock of *connection* for the ``with`` block.

        The key covers the schema too, so stores in different schemas of one
        database do not lock each other out.

        Raises:
            ConnectionBusyError: Another session holds it and *wait* is
                false.
        """
        key = _key("sync", self.schema or "", connection)
        holder_name = f"{_APPLICATION} pid {os.getpid()} on {socket.gethostname()}"
        session = self._connect(holder_name)
        try:
            self._acquire(session, key, connection, wait=wait)
            try:
                yield
            finally:
                self._release(session, key)
        finally:
            session.close()

    def _acquire(
        self,
        session: psycopg.Connection[tuple[Any, ...]],
        key: int,
        connection: str,
        *,
        wait: bool,
    ) -> None:
        try:
            if wait:
                session.execute("SELECT pg_advisory_lock(%s)", (key,))
                return
            row = session.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if row is not None and row[0]:
                return
            holder = self._holder(session, key)
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot lock connection {connection!r} in {self.url}: "
                f"{self._describe(exc)}"
            ) from None
        raise ConnectionBusyError(connection, holder)

    def _holder(
        self, session: psycopg.Connection[tuple[Any, ...]], key: int
    ) -> str | None:
        """Who holds *key*, for the message, if the server lets us see it."""
        unsigned = key & _UINT64
        try:
            row = session.execute(
                _HOLDER_QUERY, (unsigned >> 32, unsigned & _UINT32)
            ).fetchone()
        except psycopg.Error:
            return None
        if row is None:
            return None  # released in the meantime
        name, pid = row
        prefix = f"{_APPLICATION} "
        if isinstance(name, str) and name.startswith(prefix):
            return name.removeprefix(prefix)
        return f"PostgreSQL backend pid {pid}"

    def _release(self, session: psycopg.Connection[tuple[Any, ...]], key: int) -> None:
        # Closing the session would release it too; unlocking first makes
        # the release immediate even if closing is slow.
        if session.closed:
            return
        # An error means the session is gone, and the lock with it.
        with contextlib.suppress(psycopg.Error):
            session.execute("SELECT pg_advisory_unlock(%s)", (key,))
