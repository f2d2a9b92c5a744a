"""The schema both stores share, its migrations, and the SQL they run.

SQLite and PostgreSQL stores differ only in how they connect, lock and
delimit transactions; everything that decides *what* is stored and *how it is
queried* lives here, once, so the two cannot drift apart. The SQL is written
in the dialect both understand (``ON CONFLICT``, window functions, row-value
comparisons) with ``?`` placeholders; the few places where they differ are the
attributes of :class:`Dialect`, which each driver fills in.

Tables:

``schema_version``
    One row per applied migration; :data:`MIGRATIONS` is applied in order,
    each exactly once.
``connections``
    Saved connector configurations (secrets replaced by references).
``events``
    One row per normalized event, keyed by ``(connection, id)``. The
    ``document`` column is the event exactly as
    :func:`connector_core.serialization.dumps` writes it, from which it is
    rebuilt; the other columns are copies of the fields that filters and
    analytics need, so those never parse JSON.
``checkpoints``
    Each stream's checkpoint, as JSON text.
``quarantine``
    Records that could not be normalized, de-duplicated per connection by a
    hash of their stream and text.

JSON is stored as text everywhere (not ``JSONB``): the store only ever reads it
back whole, and text keeps the two databases byte-for-byte alike.
"""

from __future__ import annotations

import abc
import datetime as dt
import hashlib
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

import attrs
import orjson

from connector_core.exceptions import StoreError
from connector_core.models import (
    AIAuditLog,
    AIDateRange,
    DailyActivityMetric,
    ModelUsageMetric,
    TopUserMetric,
    UsageAnalytics,
    ensure_utc,
)
from connector_core.secrets import Secret
from connector_core.serialization import converter_for, loads
from connector_core.store.base import (
    LogFilter,
    SavedConnection,
    Store,
    StoredQuarantine,
    WriteResult,
)
from connector_core.streams import QuarantinedRecord


if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager


__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "Dialect",
    "Migration",
    "SQLStore",
    "Session",
    "SessionMode",
    "mask_url",
]

# --------------------------------------------------------------------------
# Dialects and migrations
# --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Dialect:
    """What differs between the databases, and nothing else.

    Attributes:
        name: For messages.
        placeholder: The driver's parameter marker; shared SQL uses ``?``.
        text: The column type of text that is compared and sorted. It must
            order strings like Python does (by code point), or ``ORDER BY
            id`` and the ``user_id`` tie-break of the analytics would differ
            between databases and from
            :class:`~connector_core.analytics.UsageAccumulator`.
        serial_key: An auto-incrementing integer primary key, which keeps
            the quarantine in insertion order.
        multirow_insert: Whether a batch is sent as multi-row ``VALUES``
            statements (one round trip per chunk, for a network database)
            rather than ``executemany`` of one prepared statement (best for
            an embedded one).
    """

    name: str
    placeholder: str
    text: str
    serial_key: str
    multirow_insert: bool = False

    def sql(self, statement: str) -> str:
        """*statement* with this dialect's placeholders."""
        if self.placeholder == "?":
            return statement
        return statement.replace("?", self.placeholder)


@attrs.frozen(kw_only=True)
class Migration:
    """One step of the schema's history; never edit one that has shipped.

    Statements are templates: ``{text}`` and ``{serial_key}`` are replaced by
    the :class:`Dialect`'s values.
    """

    version: int
    description: str
    statements: tuple[str, ...]

    def render(self, dialect: Dialect) -> list[str]:
        """The statements for *dialect*."""
        return [
            statement.format(text=dialect.text, serial_key=dialect.serial_key)
            for statement in self.statements
        ]


SCHEMA_VERSION_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY,"
    " description TEXT NOT NULL,"
    " applied_at TEXT NOT NULL)"
)

MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        version=1,
        description="connections, events, checkpoints, quarantine",
        statements=(
            """CREATE TABLE connections (
                name {text} PRIMARY KEY,
                platform {text} NOT NULL,
                config TEXT NOT NULL,
                created_at TEXT NOT NULL
            )""",
            """CREATE TABLE events (
                connection {text} NOT NULL,
                id {text} NOT NULL,
                platform {text} NOT NULL,
                ts_us BIGINT NOT NULL,
                day {text} NOT NULL,
                hour SMALLINT NOT NULL,
                user_id {text} NOT NULL,
                user_email {text},
                organization_id {text} NOT NULL,
                activity_type {text} NOT NULL,
                action {text} NOT NULL,
                native_type {text} NOT NULL,
                model {text},
                tokens_used BIGINT,
                ip_address {text},
                stream {text} NOT NULL,
                document TEXT NOT NULL,
                ingested_at TEXT NOT NULL,
                PRIMARY KEY (connection, id)
            )""",
            # Reading in time order: one connection, or all of them.
            "CREATE INDEX events_connection_ts ON events (connection, ts_us, id)",
            "CREATE INDEX events_ts ON events (ts_us, id, connection)",
            # The analytics. Each index leads with the column its query groups
            # by, so the groups arrive in order and need no sort, and carries
            # every column that query reads, so it never touches the table
            # rows (which hold the documents and are far larger). Without a
            # connection the analytics read events_platform_ts instead.
            (
                "CREATE INDEX events_connection_day_hour ON events"
                " (connection, day, hour, ts_us, platform, user_id)"
            ),
            (
                "CREATE INDEX events_connection_user ON events"
                " (connection, user_id, ts_us, platform)"
            ),
            (
                "CREATE INDEX events_connection_action ON events"
                " (connection, action, ts_us, platform)"
            ),
            (
                "CREATE INDEX events_platform_ts ON events"
                " (platform, ts_us, connection, user_id, action, model, tokens_used,"
                " day, hour)"
            ),
            """CREATE TABLE checkpoints (
                connection {text} NOT NULL,
                stream {text} NOT NULL,
                checkpoint TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (connection, stream)
            )""",
            """CREATE TABLE quarantine (
                seq {serial_key},
                connection {text} NOT NULL,
                stream {text} NOT NULL,
                record_key {text} NOT NULL,
                reason TEXT NOT NULL,
                raw TEXT NOT NULL,
                truncated BOOLEAN NOT NULL,
                native_id TEXT,
                native_type TEXT,
                created_at TEXT NOT NULL,
                UNIQUE (connection, record_key)
            )""",
        ),
    ),
)

LATEST_VERSION: Final = MIGRATIONS[-1].version


def apply_migrations(session: Session, dialect: Dialect, url: str) -> None:
    """Bring the schema to :data:`LATEST_VERSION`; a no-op when it is there.

    The caller holds whatever makes this exclusive (a write transaction on
    SQLite, an advisory lock on PostgreSQL), so two processes opening a new
    store at once apply each migration once.
    """
    session.execute(SCHEMA_VERSION_TABLE)
    current = session.query("SELECT MAX(version) FROM schema_version")[0][0] or 0
    if current > LATEST_VERSION:
        raise StoreError(
            f"store {url} has schema version {current}, newer than this version "
            f"of aiaudit understands ({LATEST_VERSION}); upgrade aiaudit"
        )
    for migration in MIGRATIONS:
        if migration.version <= current:
            continue
        for statement in migration.render(dialect):
            session.execute(statement)
        session.execute(
            dialect.sql(
                "INSERT INTO schema_version (version, description, applied_at)"
                " VALUES (?, ?, ?)"
            ),
            (migration.version, migration.description, _iso(_now())),
        )


# --------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------

_MASK: Final = "***"
_QUERY_SECRET = re.compile(r"(?i)([?&](?:password|sslpassword)=)[^&#]*")


def mask_url(url: str) -> str:
    """*url* with any password replaced by ``***``.

    Works on malformed URLs too (no parsing that could fail and fall back to
    the raw text): the password is whatever sits between the first ``:``
    and the last ``@`` of the authority part, or a ``password=`` parameter.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return _QUERY_SECRET.sub(rf"\1{_MASK}", url)
    end = len(rest)
    for stop in "/?#":
        index = rest.find(stop)
        if index != -1:
            end = min(end, index)
    authority, tail = rest[:end], rest[end:]
    userinfo, at, hostport = authority.rpartition("@")
    if at:
        user, colon, _password = userinfo.partition(":")
        if colon:
            authority = f"{user}:{_MASK}@{hostport}"
    tail = _QUERY_SECRET.sub(rf"\1{_MASK}", tail)
    return f"{scheme}://{authority}{tail}"


# --------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND: Final = dt.timedelta(microseconds=1)
_INT64: Final = range(-(2**63), 2**63)
# orjson serializes datetimes, dataclasses and the like natively; passing
# them through to the (absent) default makes them errors instead, so a
# checkpoint or configuration is strictly JSON and loads back identical.
_STRICT_JSON: Final = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_SECRET_PREFIXES: Final = ("sk-",)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(value: dt.datetime) -> str:
    # Fixed width, so the text sorts in time order in SQL too.
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _from_iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def to_us(value: dt.datetime) -> int:
    """Microseconds since the epoch: exact, since datetimes stop there too."""
    return (ensure_utc(value) - _EPOCH) // _MICROSECOND


def from_us(value: int) -> dt.datetime:
    """The UTC datetime of :func:`to_us`'s *value*."""
    return _EPOCH + dt.timedelta(microseconds=value)


def _strict_json(value: object, what: str) -> str:
    try:
        return orjson.dumps(value, option=_STRICT_JSON).decode()
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise StoreError(f"{what} is not JSON-serializable: {exc}") from None


def _refuse_secrets(value: object, name: str, path: str = "config") -> None:
    """Refuse configurations that carry a key instead of a reference.

    The caller is meant to have replaced every secret by ``{"env": ...}``;
    this is the last line of defence, because a key written to the store
    ends up in backups and exports where nobody expects one.
    """
    why = (
        f"refusing to save connection {name!r}: {path} holds"
        " {what}; the store must never hold a key (it ends up in backups and"
        " exports), so save a reference such as {{'env': 'VARIABLE'}} instead"
    )
    if isinstance(value, Secret):
        raise StoreError(why.format(what="a secret value"))
    if isinstance(value, str) and value.startswith(_SECRET_PREFIXES):
        raise StoreError(why.format(what="what looks like an API key ('sk-...')"))
    if isinstance(value, Mapping):
        for key, item in value.items():
            _refuse_secrets(item, name, f"{path}[{key!r}]")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _refuse_secrets(item, name, f"{path}[{index}]")


def _plain(value: object) -> object:
    # Mappings and tuples the caller built become the dicts and lists JSON has.
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _clean_text(text: str) -> str:
    """*text* storable in both databases.

    Quarantined records are whatever an API sent, and PostgreSQL text cannot
    hold NUL characters nor either database lone surrogates; those become
    U+FFFD in both stores, so a bad record never fails the batch it is in.
    """
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode()
    except UnicodeEncodeError:
        text = text.encode(errors="replace").decode()
    return text


def record_key(stream: str, raw: str) -> str:
    """The quarantine's de-duplication key of a record."""
    return hashlib.sha256(f"{stream}\x00{raw}".encode()).hexdigest()


# The document is serialization.dumps(log); calling the converter's cached
# hook for the class directly skips a dispatch per event, which matters at
# tens of thousands of events per second, and produces the same bytes.
_unstructure_log: Callable[[AIAuditLog], Any] = converter_for(
    "snake"
).get_unstructure_hook(AIAuditLog)

EVENT_COLUMNS: Final = (
    "connection",
    "id",
    "platform",
    "ts_us",
    "day",
    "hour",
    "user_id",
    "user_email",
    "organization_id",
    "activity_type",
    "action",
    "native_type",
    "model",
    "tokens_used",
    "ip_address",
    "stream",
    "document",
    "ingested_at",
)


def event_row(
    connection: str, stream: str, log: AIAuditLog, ingested_at: str
) -> tuple[Any, ...]:
    """The ``events`` row of *log*, in :data:`EVENT_COLUMNS` order."""
    try:
        document = orjson.dumps(_unstructure_log(log)).decode()
    except (orjson.JSONEncodeError, TypeError, ValueError) as exc:
        raise StoreError(f"event {log.id!r} cannot be serialized: {exc}") from None
    timestamp = log.timestamp
    metadata = log.metadata
    model = metadata.get("model")
    tokens = metadata.get("tokens_used")
    return (
        connection,
        log.id,
        log.platform,
        (timestamp - _EPOCH) // _MICROSECOND,
        timestamp.date().isoformat(),
        timestamp.hour,
        log.user_id,
        log.user_email,
        log.organization_id,
        log.activity_type.value,
        log.action,
        log.native_type,
        # The analytics' definitions: a non-empty string model, and an
        # integer (not a bool) token count; a count beyond 64 bits, which no
        # database column holds, is left out.
        model if isinstance(model, str) and model else None,
        tokens
        if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens in _INT64
        else None,
        log.ip_address,
        stream,
        document,
        ingested_at,
    )


# --------------------------------------------------------------------------
# The shared implementation
# --------------------------------------------------------------------------

SessionMode = Literal["read", "snapshot", "write", "migrate"]
"""What a session is for: ``read`` (each statement on its own), ``snapshot``
(several reads that must agree), ``write`` (one atomic transaction),
``migrate`` (a write that excludes every other migration)."""


class Session(Protocol):
    """The three things the shared code asks of a driver's connection."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run *sql*; returns the number of rows it changed."""

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run *sql* once per row; returns the total rows changed."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run *sql*; returns every row of the result."""


READ_CHUNK: Final = 1000
"""Events per query of :meth:`SQLStore.iter_logs`: the bound on its memory."""

_MULTIROW_CHUNK: Final = 500
"""Rows per multi-row ``INSERT``: 9,000 parameters, far below the limits."""

_EVENTS_INSERT_HEAD: Final = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES "  # noqa: S608 -- column names are constants
_EVENT_VALUES: Final = f"({', '.join('?' * len(EVENT_COLUMNS))})"
_EVENTS_INSERT_TAIL: Final = " ON CONFLICT (connection, id) DO NOTHING"

_QUARANTINE_INSERT: Final = (
    "INSERT INTO quarantine (connection, stream, record_key, reason, raw,"
    " truncated, native_id, native_type, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (connection, record_key) DO NOTHING"
)
_CHECKPOINT_UPSERT: Final = (
    "INSERT INTO checkpoints (connection, stream, checkpoint, updated_at)"
    " VALUES (?, ?, ?, ?)"
    " ON CONFLICT (connection, stream) DO UPDATE"
    " SET checkpoint = excluded.checkpoint, updated_at = excluded.updated_at"
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

    # -- schema -------------------------------------------------------------

    def migrate(self) -> None:
        """Create the schema, or bring an older one up to date."""
        with self._mutex, self._session("migrate") as session:
            apply_migrations(session, self.dialect, self.url)

    # -- connections --------------------------------------------------------

    def add_connection(
        self, connection: SavedConnection, *, replace: bool = False
    ) -> None:
        """Save a connection; an existing name is an error unless *replace*."""
        _refuse_secrets(connection.config, connection.name)
        config = _strict_json(
            _plain(connection.config), f"the config of connection {connection.name!r}"
        )
        try:
            created_at = _iso(ensure_utc(connection.created_at))
        except ValueError as exc:
            raise StoreError(f"connection {connection.name!r}: {exc}") from None
        statement = (
            "INSERT INTO connections (name, platform, config, created_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO "
        )
        statement += (
            "UPDATE SET platform = excluded.platform, config = excluded.config,"
            " created_at = excluded.created_at"
            if replace
            else "NOTHING"
        )
        params = (connection.name, connection.platform, config, created_at)
        with self._mutex, self._session("write") as session:
            changed = session.execute(self._sql(statement), params)
        if not changed:
            raise StoreError(
                f"a connection named {connection.name!r} already exists in "
                f"{self.url}; remove it first, or replace it"
            )

    def get_connection(self, name: str) -> SavedConnection | None:
        """The connection called *name*, if saved."""
        rows = self._query(
            "SELECT name, platform, config, created_at FROM connections WHERE name = ?",
            (name,),
        )
        return _connection(rows[0]) if rows else None

    def list_connections(self) -> list[SavedConnection]:
        """Every saved connection, by name."""
        rows = self._query(
            "SELECT name, platform, config, created_at FROM connections ORDER BY name"
        )
        return [_connection(row) for row in rows]

    def remove_connection(self, name: str, *, purge: bool = False) -> bool:
        """Forget a connection, and with *purge* everything stored for it.

        Returns whether there was anything to forget: the connection, or
        with *purge* any of its events, checkpoints or quarantine.
        """
        tables = ("events", "checkpoints", "quarantine") if purge else ()
        with self._mutex, self._session("write") as session:
            removed = session.execute(
                self._sql("DELETE FROM connections WHERE name = ?"), (name,)
            )
            for table in tables:
                removed += session.execute(
                    self._sql(f"DELETE FROM {table} WHERE connection = ?"),  # noqa: S608 -- table names are constants
                    (name,),
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

    def write_batch(
        self,
        connection: str,
        stream: str,
        logs: Sequence[AIAuditLog],
        quarantined: Sequence[QuarantinedRecord] = (),
        checkpoint: Mapping[str, Any] | None = None,
    ) -> WriteResult:
        """Store a batch and, when given, the stream's checkpoint, atomically.

        Rows are built before the transaction opens, so the database is held
        only for the inserts; anything failing inside it (a database error,
        an exception from a hook) rolls every part back.
        """
        now = _iso(_now())
        rows = [event_row(connection, stream, log, now) for log in logs]
        bad = [_quarantine_row(connection, record, now) for record in quarantined]
        with self._mutex, self._session("write") as session:
            inserted = self._insert_events(session, rows)
            stored_bad = (
                session.executemany(self._sql(_QUARANTINE_INSERT), bad) if bad else 0
            )
            if checkpoint is not None:
                self._save_checkpoint(session, connection, stream, checkpoint, now)
        return WriteResult(
            inserted=inserted, duplicates=len(rows) - inserted, quarantined=stored_bad
        )

    def _insert_events(self, session: Session, rows: Sequence[tuple[Any, ...]]) -> int:
        if not rows:
            return 0
        if not self.dialect.multirow_insert:
            return session.executemany(
                self._sql(_EVENTS_INSERT_HEAD + _EVENT_VALUES + _EVENTS_INSERT_TAIL),
                rows,
            )
        inserted = 0
        for start in range(0, len(rows), _MULTIROW_CHUNK):
            chunk = rows[start : start + _MULTIROW_CHUNK]
            values = ", ".join([_EVENT_VALUES] * len(chunk))
            params = [value for row in chunk for value in row]
            inserted += session.execute(
                self._sql(_EVENTS_INSERT_HEAD + values + _EVENTS_INSERT_TAIL), params
            )
        return inserted

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

    # -- reading ------------------------------------------------------------

    def iter_logs(self, where: LogFilter) -> Iterator[AIAuditLog]:
        """Matching events, oldest first, then by id (then connection).

        Keyset pagination: each chunk is one query resuming after the last
        row of the previous one, so memory is one chunk whatever the total,
        no cursor stays open between chunks (the store can be written while
        a reader pauses), and each query starts where an index points.
        """
        conditions, params = _log_conditions(where)
        remaining = where.limit
        after: tuple[int, str, str] | None = None
        while remaining is None or remaining > 0:
            size = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
            page_conditions = list(conditions)
            page_params = list(params)
            if after is not None:
                page_conditions.append("(ts_us, id, connection) > (?, ?, ?)")
                page_params.extend(after)
            rows = self._query(
                "SELECT ts_us, id, connection, document FROM events"  # noqa: S608 -- conditions are constants
                f"{_where(page_conditions)} ORDER BY ts_us, id, connection LIMIT ?",
                (*page_params, size),
            )
            for _ts, _id, _connection, document in rows:
                yield loads(document, AIAuditLog)
            if len(rows) < size:
                return
            after = rows[-1][:3]
            if remaining is not None:
                remaining -= len(rows)

    def count_logs(self, where: LogFilter) -> int:
        """How many events match (at most ``where.limit``)."""
        conditions, params = _log_conditions(where)
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

        Four aggregate queries, each answered from one covering index, in
        one snapshot so the figures agree with each other even while a sync
        writes. The definitions are those of
        :class:`~connector_core.analytics.UsageAccumulator`, fed the events
        in :meth:`iter_logs` order (which decides a user's ``email``: the
        first one seen).
        """
        if top_users < 0:
            raise ValueError(f"top_users must be 0 or more, got {top_users}")
        conditions = ["platform = ?", "ts_us >= ?", "ts_us <= ?"]
        params: list[Any] = [platform, to_us(period.start), to_us(period.end)]
        if connection is not None:
            conditions.append("connection = ?")
            params.append(connection)
        where = _where(conditions)
        with self._mutex, self._session("snapshot") as session:
            users = session.query(
                self._sql(_TOP_USERS.format(where=where)),
                (*params, max(top_users, 1)),
            )
            if not users:
                return UsageAnalytics(
                    platform=platform,
                    period=period,
                    total_users=0,
                    active_users=0,
                    total_events=0,
                )
            emails = {
                user_id: session.query(
                    self._sql(_FIRST_EMAIL.format(where=where)), (*params, user_id)
                )
                for user_id, *_ in users[:top_users]
            }
            actions = session.query(self._sql(_ACTIONS.format(where=where)), params)
            days = session.query(
                self._sql(_DAILY.format(where=where)), (*params, *params)
            )
            models = session.query(self._sql(_MODELS.format(where=where)), params)
        total_events, active_users = int(users[0][3]), int(users[0][4])
        return UsageAnalytics(
            platform=platform,
            period=period,
            total_users=active_users,
            active_users=active_users,
            total_events=total_events,
            top_users=tuple(
                TopUserMetric(
                    user_id=user_id,
                    email=(emails[user_id] or [("",)])[0][0],
                    event_count=int(count),
                    last_activity=from_us(int(last_us)),
                )
                for user_id, count, last_us, *_ in users[:top_users]
            ),
            events_by_type={action: int(count) for action, count in actions},
            daily_breakdown=tuple(
                DailyActivityMetric(
                    date=dt.date.fromisoformat(day),
                    active_users=int(day_users),
                    total_events=int(events),
                    peak_hour=int(hour),
                )
                for day, day_users, events, hour in days
            ),
            model_usage=tuple(
                ModelUsageMetric(
                    model=model,
                    usage_count=int(count),
                    total_tokens=None if tokens is None else int(tokens),
                )
                for model, count, tokens in models
            ),
        )

    def _query(
        self, statement: str, params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        with self._mutex, self._session("read") as session:
            return session.query(self._sql(statement), params)


# The analytics. {where} is built from constant conditions; values are
# parameters. Window functions over the grouped rows give the totals along
# with the top users, so no separate pass counts them.
_TOP_USERS: Final = (
    "SELECT user_id, COUNT(*) AS n, MAX(ts_us),"
    " SUM(COUNT(*)) OVER (), COUNT(*) OVER ()"
    " FROM events{where} GROUP BY user_id"
    " ORDER BY n DESC, user_id LIMIT ?"
)
# The accumulator keeps a user's first non-null email, in reading order.
_FIRST_EMAIL: Final = (
    "SELECT user_email FROM events{where} AND user_id = ?"
    " AND user_email IS NOT NULL ORDER BY ts_us, id, connection LIMIT 1"
)
_ACTIONS: Final = (
    "SELECT action, COUNT(*) FROM events{where} GROUP BY action ORDER BY action"
)
# The peak hour of a day: most events, the earliest hour on a tie.
_DAILY: Final = (
    "WITH per_hour AS ("
    " SELECT day, hour, COUNT(*) AS n FROM events{where} GROUP BY day, hour"
    "), per_day AS ("
    " SELECT day, COUNT(DISTINCT user_id) AS users FROM events{where} GROUP BY day"
    "), ranked AS ("
    " SELECT day, hour, SUM(n) OVER (PARTITION BY day) AS day_events,"
    " ROW_NUMBER() OVER (PARTITION BY day ORDER BY n DESC, hour) AS place"
    " FROM per_hour"
    ") SELECT ranked.day, per_day.users, ranked.day_events, ranked.hour"
    " FROM ranked JOIN per_day ON per_day.day = ranked.day"
    " WHERE ranked.place = 1 ORDER BY ranked.day"
)
_MODELS: Final = (
    "SELECT model, COUNT(*) AS n, SUM(tokens_used) FROM events{where}"
    " AND model IS NOT NULL GROUP BY model ORDER BY n DESC, model"
)


def _where(conditions: Sequence[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def _log_conditions(where: LogFilter) -> tuple[list[str], list[Any]]:
    if where.limit is not None and where.limit < 0:
        raise ValueError(f"limit must be 0 or more, got {where.limit}")
    conditions: list[str] = []
    params: list[Any] = []
    if where.connection is not None:
        conditions.append("connection = ?")
        params.append(where.connection)
    if where.platform is not None:
        conditions.append("platform = ?")
        params.append(where.platform)
    if where.start is not None:
        conditions.append("ts_us >= ?")
        params.append(to_us(where.start))
    if where.end is not None:
        conditions.append("ts_us <= ?")
        params.append(to_us(where.end))
    if where.user_ids:
        marks = ", ".join("?" * len(where.user_ids))
        conditions.append(f"(user_id IN ({marks}) OR user_email IN ({marks}))")
        params.extend(where.user_ids)
        params.extend(where.user_ids)
    if where.actions:
        conditions.append(f"action IN ({', '.join('?' * len(where.actions))})")
        params.extend(where.actions)
    return conditions, params


def _connection(row: Sequence[Any]) -> SavedConnection:
    name, platform, config, created_at = row
    return SavedConnection(
        name=name,
        platform=platform,
        config=orjson.loads(config),
        created_at=_from_iso(created_at),
    )


def _quarantine_row(
    connection: str, record: QuarantinedRecord, now: str
) -> tuple[Any, ...]:
    raw = _clean_text(record.raw)
    return (
        connection,
        record.stream,
        record_key(record.stream, raw),
        _clean_text(record.reason),
        raw,
        record.truncated,
        None if record.native_id is None else _clean_text(record.native_id),
        None if record.native_type is None else _clean_text(record.native_type),
        now,
    )
