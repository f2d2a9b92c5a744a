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
``coverage``
    From when each stream's stored events are complete (the start its
    first sync read from, moved earlier by each finished backfill), and a
    backfill under way: its range and its own checkpoint. Added by
    migration 2; a stream synced before it has no row, and its coverage is
    estimated from its oldest stored event.
``quarantine``
    Records that could not be normalized, de-duplicated per connection by a
    hash of their stream and text.
``usage_days``, ``usage_hours``, ``usage_actions``, ``usage_models``
    The analytics' partial sums: events per user and day, per hour, and per
    action and per model and day. They are written in the same transaction as the events
    they count, from the events actually inserted (never a duplicate), so
    they always agree with ``events``. The analytics of a period read them
    for its whole days and hours and the events themselves only for the
    partial day or hour at either end: a million events cost a few thousand
    partial sums instead of a million rows. Grouping a million rows takes
    SQLite about a second even from covering indexes, which is why these
    exist.

JSON is stored as text everywhere (not ``JSONB``): the store only ever reads it
back whole, and text keeps the two databases byte-for-byte alike.
"""

from __future__ import annotations

import abc
import datetime as dt
import hashlib
import json
import re
import string
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import itemgetter
from types import UnionType
from typing import (
    TYPE_CHECKING,
    Any,
    Final,
    Literal,
    Protocol,
    Union,
    cast,
    get_args,
    get_origin,
)
from urllib.parse import unquote

import attrs
import orjson
from cattrs.fns import identity
from cattrs.gen import make_dict_unstructure_fn, override

from connector_core.exceptions import CheckpointError, StoreError
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
    from collections.abc import Callable
    from contextlib import AbstractContextManager


__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "READABLE_VERSION",
    "Bulk",
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
        clustered: What makes a table stored in primary-key order (SQLite's
            ``WITHOUT ROWID``), for the partial sums, which are only ever
            read by ranges of that key.
        table_exists: See below.
        glob: How a column is matched against a pattern, case-sensitively:
            ``GLOB`` (SQLite's), or ``LIKE`` where there is no GLOB and
            LIKE is case-sensitive (PostgreSQL; SQLite's LIKE is not).
    """

    name: str
    placeholder: str
    text: str
    serial_key: str
    clustered: str = ""
    table_exists: str = ""
    """A query of one row, one column, true when the table named by its one
    parameter exists where the store's tables are."""
    glob: Literal["GLOB", "LIKE"] = "GLOB"

    def sql(self, statement: str) -> str:
        """*statement* with this dialect's placeholders."""
        if self.placeholder == "?":
            return statement
        return statement.replace("?", self.placeholder)

    def match_glob(self, column: str, pattern: str) -> tuple[str, str]:
        """The condition that *column* matches the glob *pattern* (``*`` any
        run of characters, ``?`` one, everything else itself), and its one
        parameter.

        Both operators have more wildcards than a glob (GLOB's ``[...]``,
        LIKE's ``%`` and ``_``); those are escaped, so an action such as
        ``file_upload`` matches itself and not ``fileXupload``.
        """
        # As column_text keeps text: a NUL (which PostgreSQL cannot take)
        # is stored as U+FFFD, a lone surrogate as U+FFFD too.
        pattern = (
            pattern.encode(errors="surrogatepass")
            .decode(errors="replace")
            .replace("\x00", "\ufffd")
        )
        if self.glob == "GLOB":
            return f"{column} GLOB ?", pattern.replace("[", "[[]")
        like = "".join(_LIKE.get(char, char) for char in pattern)
        return f"{column} LIKE ? ESCAPE '\\'", like


_LIKE: Final = {"\\": "\\\\", "%": "\\%", "_": "\\_", "*": "%", "?": "_"}
"""A glob's characters in a LIKE pattern escaped by a backslash."""


@attrs.frozen(kw_only=True)
class Migration:
    """One step of the schema's history; never edit one that has shipped.

    Statements are templates: ``{text}``, ``{serial_key}`` and
    ``{clustered}`` are replaced by the :class:`Dialect`'s values.
    """

    version: int
    description: str
    statements: tuple[str, ...]

    def render(self, dialect: Dialect) -> list[str]:
        """The statements for *dialect*."""
        return [
            statement.format(
                text=dialect.text,
                serial_key=dialect.serial_key,
                clustered=dialect.clustered,
            )
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
        description="connections, events, checkpoints, quarantine, usage",
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
            # Reading in time order, one connection or all of them; also how
            # the analytics reach the partial days at the ends of a period.
            # Few indexes on purpose: the (connection, id) key already costs
            # a random write per event, and every index leading with
            # something else than time (a user, an action) costs another,
            # which halves the write rate of SQLite. The analytics need none:
            # they read the partial sums.
            "CREATE INDEX events_connection_ts ON events (connection, ts_us, id)",
            "CREATE INDEX events_ts ON events (ts_us, id, connection)",
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
            # Keyed by platform and time first: a period is one range of the
            # key, and new events update the rows of the current day only.
            """CREATE TABLE usage_days (
                platform {text} NOT NULL,
                day {text} NOT NULL,
                user_id {text} NOT NULL,
                connection {text} NOT NULL,
                events BIGINT NOT NULL,
                last_us BIGINT NOT NULL,
                low_email {text},
                high_email {text},
                PRIMARY KEY (platform, day, user_id, connection)
            ){clustered}""",
            """CREATE TABLE usage_hours (
                platform {text} NOT NULL,
                day {text} NOT NULL,
                hour SMALLINT NOT NULL,
                connection {text} NOT NULL,
                events BIGINT NOT NULL,
                PRIMARY KEY (platform, day, hour, connection)
            ){clustered}""",
            """CREATE TABLE usage_actions (
                platform {text} NOT NULL,
                day {text} NOT NULL,
                action {text} NOT NULL,
                connection {text} NOT NULL,
                events BIGINT NOT NULL,
                PRIMARY KEY (platform, day, action, connection)
            ){clustered}""",
            # Only events with a model; tokens stay NULL until one reports
            # some.
            """CREATE TABLE usage_models (
                platform {text} NOT NULL,
                day {text} NOT NULL,
                model {text} NOT NULL,
                connection {text} NOT NULL,
                events BIGINT NOT NULL,
                tokens BIGINT,
                PRIMARY KEY (platform, day, model, connection)
            ){clustered}""",
        ),
    ),
    Migration(
        version=2,
        description="coverage: where each stream's stored events start, backfills",
        statements=(
            # Times in microseconds since the epoch, as events.ts_us: exact,
            # and compared as numbers. The backfill columns are all NULL
            # when none is under way.
            """CREATE TABLE coverage (
                connection {text} NOT NULL,
                stream {text} NOT NULL,
                covered_from_us BIGINT NOT NULL,
                backfill_start_us BIGINT,
                backfill_end_us BIGINT,
                backfill_checkpoint TEXT,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (connection, stream)
            )""",
        ),
    ),
)

LATEST_VERSION: Final = MIGRATIONS[-1].version

READABLE_VERSION: Final = 1
"""The oldest schema a store opened read-only is read with. Migration 2
added only what syncing uses (``coverage``), so ``logs`` and ``usage`` still
read a store no sync has migrated yet; a migration that changes what they
read raises this."""


def apply_migrations(session: Session, dialect: Dialect, url: str) -> None:
    """Bring the schema to :data:`LATEST_VERSION`; a no-op when it is there.

    The caller holds whatever makes this exclusive (a write transaction on
    SQLite, an advisory lock on PostgreSQL), so two processes opening a new
    store at once apply each migration once.
    """
    session.execute(SCHEMA_VERSION_TABLE)
    current = session.query("SELECT MAX(version) FROM schema_version")[0][0] or 0
    _refuse_newer(current, url)
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


def check_schema(session: Session, dialect: Dialect, url: str) -> None:
    """Check, without changing anything, that the schema is the one this
    version reads: what a store opened read-only does instead of migrating.

    Raises:
        StoreError: There is no schema yet, or an older or newer one.
    """
    exists = session.query(dialect.sql(dialect.table_exists), ("schema_version",))
    current = 0
    if exists[0][0]:
        current = session.query("SELECT MAX(version) FROM schema_version")[0][0] or 0
    if not current:
        raise StoreError(
            f"store {url} holds no aiaudit schema: nothing was synced into it "
            "(a store opened for reading is never created)"
        )
    _refuse_newer(current, url)
    if current < READABLE_VERSION:
        raise StoreError(
            f"store {url} has schema version {current}, older than this version "
            f"of aiaudit reads ({READABLE_VERSION}); open it once for writing "
            "(aiaudit sync) to bring it up to date"
        )


def _refuse_newer(current: int, url: str) -> None:
    if current > LATEST_VERSION:
        raise StoreError(
            f"store {url} has schema version {current}, newer than this version "
            f"of aiaudit understands ({LATEST_VERSION}); upgrade aiaudit"
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
    and the last ``@`` before the path (libpq ends the credentials at the
    first ``/``, so a password may hold ``?`` or ``#``), or a ``password=``
    parameter.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return _QUERY_SECRET.sub(rf"\1{_MASK}", url)
    authority, slash, tail = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    if at:
        user, colon, _password = userinfo.partition(":")
        if colon:
            authority = f"{user}:{_MASK}@{hostport}"
    return _QUERY_SECRET.sub(rf"\1{_MASK}", f"{scheme}://{authority}{slash}{tail}")


def url_passwords(url: str) -> list[str]:
    """The passwords *url* carries, as written and percent-decoded: what an
    error message quoting a piece of the URL must not repeat."""
    _, sep, rest = url.partition("://")
    found: list[str] = []
    userinfo, at, _ = rest.partition("/")[0].rpartition("@")
    if sep and at and ":" in userinfo:
        found.append(userinfo.partition(":")[2])
    found.extend(m.group(0).partition("=")[2] for m in _QUERY_SECRET.finditer(url))
    return [p for raw in found if raw for p in {raw, unquote(raw)}]


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
    """*text* storable in both databases, as evidence.

    Quarantined records are whatever an API sent, and PostgreSQL text cannot
    hold NUL characters nor either database lone surrogates; those are
    written as JSON escapes them (``\\u0000``, ``\\ud800``), in both stores,
    so a bad record never fails the batch it is in and its evidence still
    shows what was there.
    """
    if "\x00" in text:
        text = text.replace("\x00", "\\u0000")
    try:
        text.encode()
    except UnicodeEncodeError:
        text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


_SURROGATE: Final = re.compile("[\ud800-\udfff]")

COLUMN_MAX_BYTES: Final = 512
"""The most UTF-8 bytes a record's text takes in a column.

Keys and indexed columns (an event's id, its user id, action, model...)
must fit a btree index row, which PostgreSQL caps at about 2,700 bytes for
all the columns of an index together; four of these stay below that."""

_ALTERED: Final = "\u2026sha256:"
"""What ends a column value that is not the record's text as it came:
the SHA-256 (hex) of the original follows."""
_DIGEST_CHARS: Final = 64


def column_text(value: Any) -> Any:
    """*value* as a column of the stores holds it: itself, when both
    databases can index it as it is.

    Otherwise (a NUL character, which PostgreSQL text cannot hold; a lone
    surrogate, which neither can encode; more than :data:`COLUMN_MAX_BYTES`
    bytes, which no index takes) the value is cut and cleaned, and ends
    with ``…sha256:`` and the digest of the original: distinct values stay
    distinct, so keys stay unique, and the same value always gives the same
    text, so filters and re-reads find it. The event's document keeps the
    original, which is what reading the store returns.

    Cutting, rather than quarantining the event: the event is real activity
    and belongs in the log and the usage figures; only the copy made for
    indexing is shortened, the same way in SQLite and PostgreSQL.
    """
    if not isinstance(value, str):
        # A value forced past the model's types: the database says what
        # it makes of it, as before.
        return value
    if value.isascii():
        if len(value) <= COLUMN_MAX_BYTES and "\x00" not in value:
            return value
    elif "\x00" not in value:
        try:
            if len(value.encode()) <= COLUMN_MAX_BYTES:
                return value
        except UnicodeEncodeError:
            pass
    original = value.encode(errors="surrogatepass")
    digest = hashlib.sha256(original).hexdigest()
    room = COLUMN_MAX_BYTES - len(_ALTERED.encode()) - _DIGEST_CHARS
    kept = original.decode(errors="replace").replace("\x00", "\ufffd")
    kept = kept.encode()[:room].decode(errors="ignore")
    return f"{kept}{_ALTERED}{digest}"


def record_key(stream: str, raw: str) -> str:
    """The quarantine's de-duplication key of a record."""
    return hashlib.sha256(f"{stream}\x00{raw}".encode()).hexdigest()


# --------------------------------------------------------------------------
# The stored document
# --------------------------------------------------------------------------
#
# The document is serialization.dumps(log), byte for byte: it is what
# iter_logs rebuilds events from and what exports hash and compare. Most of
# the converter's time goes into walking the free-form ``metadata`` and
# ``raw`` mappings key by key, only to hand orjson the same dicts, lists and
# scalars again; orjson walks them itself many times faster. So the
# converter builds everything else, and those two go to orjson as they are,
# in a mode where orjson refuses (instead of formatting its own way) every
# value whose JSON the converter might write differently: datetimes,
# dataclasses, subclasses of str, int, dict and list, and non-str keys.
# Whatever orjson refuses is unstructured by the converter after all, so
# the bytes, and the errors, are the converter's in every case.

_SNAKE: Final = converter_for("snake")

_unstructure_log: Callable[[AIAuditLog], Any] = _SNAKE.get_unstructure_hook(AIAuditLog)
"""The converter's own hook for the class: :func:`serialization.dumps`
without its dispatch per call."""

_OPAQUE: Final = ("metadata", "raw")
"""The free-form fields (``Mapping[str, Any]``) left to orjson."""
_METADATA, _RAW = _OPAQUE

_unstructure_opaque: Final[Mapping[str, Callable[[Any], Any]]] = {
    name: _SNAKE.get_unstructure_hook(attrs.fields_dict(AIAuditLog)[name].type)
    for name in _OPAQUE
}
"""The converter's hooks for those fields, for what orjson refuses."""


def _empty_or(hook: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """*hook* (of a ``tuple[X, ...]`` field), but an empty tuple is passed
    as it is: ``[]`` all the same, without the hook's generator. Most events
    have no risk indicators."""

    def unstructure(value: Any) -> Any:
        return value if value.__class__ is tuple and not value else hook(value)

    return unstructure


def _utc_or(hook: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """*hook* (of a ``datetime`` field), but a UTC datetime, which is what
    the model's ``ensure_utc`` leaves, is written by orjson: the same text
    (``Z``, microseconds only when there are some; the tests compare them
    over the whole range) in a quarter of the time."""

    def unstructure(value: Any) -> Any:
        if value.__class__ is dt.datetime and value.tzinfo is dt.UTC:
            return orjson.Fragment(orjson.dumps(value, option=orjson.OPT_UTC_Z))
        return hook(value)

    return unstructure


def _shallow_overrides() -> dict[str, Any]:
    """The hooks of :data:`_unstructure_shallow`, field by field where they
    differ from the converter's (each gives the same JSON)."""
    overrides: dict[str, Any] = {}
    for field in attrs.fields(AIAuditLog):
        tp = field.type
        args = get_args(tp)
        if field.name in _OPAQUE or (
            # The converter's hook is ``None if v is None else v``: the value
            # itself, without the call.
            get_origin(tp) in (Union, UnionType) and set(args) == {str, type(None)}
        ):
            overrides[field.name] = override(unstruct_hook=identity)
        elif get_origin(tp) is tuple and args[1:] == (Ellipsis,):
            hook = _empty_or(_SNAKE.get_unstructure_hook(tp))
            overrides[field.name] = override(unstruct_hook=hook)
        elif tp is dt.datetime:
            hook = _utc_or(_SNAKE.get_unstructure_hook(tp))
            overrides[field.name] = override(unstruct_hook=hook)
    return overrides


_unstructure_shallow: Callable[[AIAuditLog], dict[str, Any]] = make_dict_unstructure_fn(
    AIAuditLog, _SNAKE, **_shallow_overrides()
)
"""The converter's hook for the class, but for :data:`_OPAQUE`, which it
leaves as they are, and faster hooks for a few fields, with the same JSON."""

_NATIVE_ONLY: Final = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
"""orjson options (with no ``default``) under which it serializes only what
the converter would hand it unchanged, or would turn into the same JSON
(enums by their value), and raises on anything else."""


def document_text(log: AIAuditLog) -> str:
    """The stored document of *log*: ``serialization.dumps(log)`` as text.

    Raises:
        Exception: Whatever ``serialization.dumps`` raises for *log*
            (``orjson.JSONEncodeError``, ``ValueError``...): the same one.
    """
    try:
        document = _unstructure_shallow(log)
    except Exception:  # noqa: BLE001 -- re-raised below, as the converter raises it
        # A field the converter refuses; it also walks the mappings first,
        # which may refuse sooner, so its error is the one to report.
        return orjson.dumps(_unstructure_log(log)).decode()
    # Only dicts: orjson would write a list or a string where the converter,
    # which reads the mapping's items, refuses it (or converts another
    # kind of mapping).
    if document[_METADATA].__class__ is dict and document[_RAW].__class__ is dict:
        try:
            return orjson.dumps(document, option=_NATIVE_ONLY).decode()
        except orjson.JSONEncodeError:
            pass
    # Something in the mappings is not plain JSON data (a datetime, a set,
    # an int key...), or another field holds what orjson refused: the
    # converter unstructures the mappings, in the order it always does, and
    # orjson serializes the result as it always did. The other fields are
    # already the converter's.
    for name, unstructure in _unstructure_opaque.items():
        document[name] = unstructure(document[name])
    return orjson.dumps(document).decode()


EVENT_COLUMNS: Final = (
    ("connection", "text"),
    ("id", "text"),
    ("platform", "text"),
    ("ts_us", "bigint"),
    ("day", "text"),
    ("hour", "smallint"),
    ("user_id", "text"),
    ("user_email", "text"),
    ("organization_id", "text"),
    ("activity_type", "text"),
    ("action", "text"),
    ("native_type", "text"),
    ("model", "text"),
    ("tokens_used", "bigint"),
    ("ip_address", "text"),
    ("stream", "text"),
    ("document", "text"),
    ("ingested_at", "text"),
)
"""The columns of an event row, with their SQL types."""


def event_row(
    connection: str, stream: str, log: AIAuditLog, ingested_at: str
) -> tuple[Any, ...]:
    """The ``events`` row of *log*, in :data:`EVENT_COLUMNS` order."""
    try:
        document = document_text(log)
    except (orjson.JSONEncodeError, TypeError, ValueError) as exc:
        raise StoreError(f"event {log.id!r} cannot be serialized: {exc}") from None
    timestamp = log.timestamp
    metadata = log.metadata
    model = metadata.get("model")
    tokens = metadata.get("tokens_used")
    email, ip_address = log.user_email, log.ip_address
    # The record's text goes through column_text: the document holds it
    # exactly, the columns what both databases can hold and index.
    return (
        connection,
        column_text(log.id),
        column_text(log.platform),
        (timestamp - _EPOCH) // _MICROSECOND,
        timestamp.date().isoformat(),
        timestamp.hour,
        column_text(log.user_id),
        None if email is None else column_text(email),
        column_text(log.organization_id),
        log.activity_type.value,
        column_text(log.action),
        column_text(log.native_type),
        # The analytics' definitions: a non-empty string model, and an
        # integer (not a bool) token count; a count beyond 64 bits, which no
        # database column holds, is left out.
        column_text(model) if isinstance(model, str) and model else None,
        tokens
        if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens in _INT64
        else None,
        None if ip_address is None else column_text(ip_address),
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

_ID_CHUNK: Final = 500
"""Ids per ``IN`` list, below the 999 parameters of old SQLite builds."""


@attrs.frozen
class Bulk:
    """A table rows are added to in bulk, and what a clash with a stored row
    does; drivers send the rows their own fastest way.

    Attributes:
        table: The table.
        columns: Its columns in row order, with their SQL types.
        on_conflict: The ``ON CONFLICT`` clause.
    """

    table: str
    columns: tuple[tuple[str, str], ...]
    on_conflict: str

    @property
    def names(self) -> str:
        """The column list."""
        return ", ".join(name for name, _ in self.columns)

    def values_statement(self) -> str:
        """The one-row ``INSERT``, to execute once per row."""
        marks = ", ".join("?" * len(self.columns))
        return (
            f"INSERT INTO {self.table} ({self.names})"  # noqa: S608 -- names are constants
            f" VALUES ({marks}) {self.on_conflict}"
        )


EVENTS: Final = Bulk(
    table="events",
    columns=EVENT_COLUMNS,
    on_conflict="ON CONFLICT (connection, id) DO NOTHING",
)
QUARANTINE: Final = Bulk(
    table="quarantine",
    columns=(
        ("connection", "text"),
        ("stream", "text"),
        ("record_key", "text"),
        ("reason", "text"),
        ("raw", "text"),
        ("truncated", "boolean"),
        ("native_id", "text"),
        ("native_type", "text"),
        ("created_at", "text"),
    ),
    on_conflict="ON CONFLICT (connection, record_key) DO NOTHING",
)
# Adding partial sums: counts add up, the last activity is the later one,
# the email bounds widen (NULL meaning "no email yet"), and tokens stay NULL
# until some event reports them.
USAGE_DAYS: Final = Bulk(
    table="usage_days",
    columns=(
        ("platform", "text"),
        ("day", "text"),
        ("user_id", "text"),
        ("connection", "text"),
        ("events", "bigint"),
        ("last_us", "bigint"),
        ("low_email", "text"),
        ("high_email", "text"),
    ),
    on_conflict=(
        "ON CONFLICT (platform, day, user_id, connection) DO UPDATE SET"
        " events = usage_days.events + excluded.events,"
        " last_us = CASE WHEN excluded.last_us > usage_days.last_us"
        " THEN excluded.last_us ELSE usage_days.last_us END,"
        " low_email = CASE WHEN usage_days.low_email IS NULL"
        " OR excluded.low_email < usage_days.low_email"
        " THEN COALESCE(excluded.low_email, usage_days.low_email)"
        " ELSE usage_days.low_email END,"
        " high_email = CASE WHEN usage_days.high_email IS NULL"
        " OR excluded.high_email > usage_days.high_email"
        " THEN COALESCE(excluded.high_email, usage_days.high_email)"
        " ELSE usage_days.high_email END"
    ),
)
USAGE_HOURS: Final = Bulk(
    table="usage_hours",
    columns=(
        ("platform", "text"),
        ("day", "text"),
        ("hour", "smallint"),
        ("connection", "text"),
        ("events", "bigint"),
    ),
    on_conflict=(
        "ON CONFLICT (platform, day, hour, connection) DO UPDATE SET"
        " events = usage_hours.events + excluded.events"
    ),
)
USAGE_ACTIONS: Final = Bulk(
    table="usage_actions",
    columns=(
        ("platform", "text"),
        ("day", "text"),
        ("action", "text"),
        ("connection", "text"),
        ("events", "bigint"),
    ),
    on_conflict=(
        "ON CONFLICT (platform, day, action, connection) DO UPDATE SET"
        " events = usage_actions.events + excluded.events"
    ),
)
USAGE_MODELS: Final = Bulk(
    table="usage_models",
    columns=(
        ("platform", "text"),
        ("day", "text"),
        ("model", "text"),
        ("connection", "text"),
        ("events", "bigint"),
        ("tokens", "bigint"),
    ),
    on_conflict=(
        "ON CONFLICT (platform, day, model, connection) DO UPDATE SET"
        " events = usage_models.events + excluded.events,"
        " tokens = CASE WHEN usage_models.tokens IS NULL THEN excluded.tokens"
        " WHEN excluded.tokens IS NULL THEN usage_models.tokens"
        " ELSE usage_models.tokens + excluded.tokens END"
    ),
)
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
)

# Positions in an event row.
_AT: Final = {name: index for index, (name, _) in enumerate(EVENT_COLUMNS)}
_ID, _PLATFORM, _TS, _DAY, _HOUR = (
    _AT["id"],
    _AT["platform"],
    _AT["ts_us"],
    _AT["day"],
    _AT["hour"],
)
_USER, _EMAIL, _ACTION = _AT["user_id"], _AT["user_email"], _AT["action"]
_MODEL, _TOKENS = _AT["model"], _AT["tokens_used"]
_DOCUMENT, _NATIVE_TYPE = _AT["document"], _AT["native_type"]


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
    ) -> WriteResult:
        """Store a batch and, when given, the stream's checkpoint, atomically.

        Rows are built before the transaction opens, so the database is held
        only for the statements. Inside it: the events not stored yet, the
        partial sums of exactly those, the quarantined records and the
        checkpoint (with *backfill*, the backfill's); anything failing (a
        database error, an exception from a hook) rolls every part back.
        """
        now = _iso(_now())
        rows: list[tuple[Any, ...]] = []
        bad = [_quarantine_row(connection, record, now) for record in quarantined]
        for log in logs:
            try:
                rows.append(event_row(connection, stream, log, now))
            except StoreError as exc:
                # One event the store cannot write (a lone surrogate, a
                # number no JSON holds) must not block the others: it is
                # quarantined with the batch, and its evidence kept.
                unstorable = _unstorable(stream, log, str(exc))
                bad.append(_quarantine_row(connection, unstorable, now))
        with self._mutex, self._session("write") as session:
            new, refused = self._insert_events(
                session, connection, _first_of_each_id(rows)
            )
            bad.extend(
                _quarantine_row(connection, _refused(stream, row, why), now)
                for row, why in refused
            )
            self._add_usage(session, connection, new)
            stored_bad = self._bulk_insert(session, QUARANTINE, bad) if bad else 0
            if backfill:
                self._save_backfill_checkpoint(
                    session, connection, stream, checkpoint, now
                )
            elif checkpoint is not None:
                self._save_checkpoint(session, connection, stream, checkpoint, now)
        return WriteResult(
            inserted=len(new),
            duplicates=len(rows) - len(new) - len(refused),
            quarantined=stored_bad,
        )

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
        """
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
        """Add the new events *rows* to the partial sums.

        Summed here first, so a batch updates each partial sum once.
        """
        days: dict[tuple[str, str, str], list[Any]] = {}
        hours: Counter[tuple[str, str, int]] = Counter()
        actions: Counter[tuple[str, str, str]] = Counter()
        models: dict[tuple[str, str, str], list[Any]] = {}
        for row in rows:
            platform, day_text, email = row[_PLATFORM], row[_DAY], row[_EMAIL]
            day = days.get((platform, day_text, row[_USER]))
            if day is None:
                days[platform, day_text, row[_USER]] = [1, row[_TS], email, email]
            else:
                day[0] += 1
                day[1] = max(day[1], row[_TS])
                if email is not None:
                    day[2] = email if day[2] is None else min(day[2], email)
                    day[3] = email if day[3] is None else max(day[3], email)
            hours[platform, day_text, row[_HOUR]] += 1
            actions[platform, day_text, row[_ACTION]] += 1
            if row[_MODEL] is not None:
                tokens = row[_TOKENS]
                model = models.get((platform, day_text, row[_MODEL]))
                if model is None:
                    models[platform, day_text, row[_MODEL]] = [1, tokens]
                else:
                    model[0] += 1
                    if tokens is not None:
                        model[1] = tokens if model[1] is None else model[1] + tokens
        for bulk, sums in (
            (USAGE_DAYS, [(*k, connection, *v) for k, v in sorted(days.items())]),
            (USAGE_HOURS, [(*k, connection, v) for k, v in sorted(hours.items())]),
            (USAGE_ACTIONS, [(*k, connection, v) for k, v in sorted(actions.items())]),
            (USAGE_MODELS, [(*k, connection, *v) for k, v in sorted(models.items())]),
        ):
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

    def iter_logs(self, where: LogFilter) -> Iterator[AIAuditLog]:
        """Matching events, oldest first, then by id (then connection); the
        reverse order with ``where.newest_first``.

        Keyset pagination: each chunk is one query resuming after the last
        row of the previous one, so memory is one chunk whatever the total,
        no cursor stays open between chunks (the store can be written while
        a reader pauses), and each query starts where an index points (read
        backwards for the newest first).
        """
        conditions, params = _log_conditions(where, self.dialect)
        remaining = where.limit
        after: tuple[Any, ...] = ()
        beyond, order = (
            ("<", " ORDER BY ts_us DESC, id DESC, connection DESC")
            if where.newest_first
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
            for *_, document in rows:
                yield loads(document, AIAuditLog)
            if len(rows) < size:
                return
            after = rows[-1][:3]
            if remaining is not None:
                remaining -= len(rows)

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
        one seen). Two queries (:data:`_USERS_AND_DAYS`, :data:`_ACTIVITY`)
        in one snapshot, so the figures agree even while a sync writes.
        """
        if top_users < 0:
            raise ValueError(f"top_users must be 0 or more, got {top_users}")
        span = _Span.of(period)
        scope = (platform,) if connection is None else (platform, connection)
        templates = {"scope": "" if connection is None else " AND connection = ?"}
        with self._mutex, self._session("snapshot") as session:
            parts = _tagged(
                session.query(
                    self._sql(_USERS_AND_DAYS.format_map(templates)),
                    (
                        *scope,
                        *span.whole_days,
                        *scope,
                        *span.day_ends,
                        max(top_users, 1),
                    ),
                )
            )
            users = sorted(parts["user"], key=lambda row: (-row[1], row[0]))
            top = [
                TopUserMetric(
                    user_id=user_id,
                    email=self._first_email(
                        session,
                        (user_id, *scope),
                        span,
                        bounds=(low, high),
                        email_day=email_day,
                    ),
                    event_count=int(count),
                    last_activity=from_us(int(last_us)),
                )
                for user_id, count, last_us, low, high, email_day, *_ in users[
                    :top_users
                ]
            ]
            activity = _tagged(
                session.query(
                    self._sql(_ACTIVITY.format_map(templates)),
                    (
                        *scope,
                        *span.whole_hours,
                        *scope,
                        *span.hour_ends,
                        *scope,
                        *span.whole_days,
                        *scope,
                        *span.day_ends,
                        *scope,
                        *span.whole_days,
                        *scope,
                        *span.day_ends,
                    ),
                )
            )
        peaks = {day: hour for day, hour, _ in activity["peak"]}
        active = int(users[0][7]) if users else 0
        return UsageAnalytics(
            platform=platform,
            period=period,
            total_users=active,
            active_users=active,
            total_events=int(users[0][6]) if users else 0,
            top_users=tuple(top),
            events_by_type={
                action: int(count) for action, count, _ in sorted(activity["action"])
            },
            daily_breakdown=tuple(
                DailyActivityMetric(
                    date=dt.date.fromisoformat(day),
                    active_users=int(day_users),
                    total_events=int(day_events),
                    peak_hour=int(peaks[day]),
                )
                for day, day_events, day_users, *_ in sorted(parts["day"])
            ),
            # Sorted here rather than in SQL, where a UNION branch cannot keep
            # an order; Python and the databases compare strings alike.
            model_usage=tuple(
                ModelUsageMetric(
                    model=model,
                    usage_count=int(count),
                    total_tokens=None if tokens is None else int(tokens),
                )
                for model, count, tokens in sorted(
                    activity["model"], key=lambda row: (-row[1], row[0])
                )
            ),
        )

    def _first_email(
        self,
        session: Session,
        user: tuple[str, ...],
        span: _Span,
        *,
        bounds: tuple[str | None, str | None],
        email_day: str | None,
    ) -> str:
        """A top user's email: the first they had in reading order, as the
        accumulator keeps it, or ``""``.

        A user has one email but for rare renames: when the smallest and the
        largest of the period agree, that is the answer. Otherwise the first
        one is on the first day that has one, read from that day's events.
        """
        low, high = bounds
        if low == high or email_day is None:
            return low or ""
        day_start = to_us(dt.datetime.fromisoformat(email_day).replace(tzinfo=dt.UTC))
        statement = _FIRST_EMAIL.format(scope=" AND connection = ?" * (len(user) - 2))
        rows = session.query(
            self._sql(statement),
            (
                *user,
                max(span.start, day_start),
                min(span.end, day_start + _DAY_US - 1),
            ),
        )
        return cast("str", rows[0][0])


# --------------------------------------------------------------------------
# The analytics
# --------------------------------------------------------------------------
#
# A period is read as whole days and hours from the partial sums, plus the
# events of the partial day or hour at either end (through the time indexes
# of events, which hold a day's worth at most). Each query returns several
# results as one, every row tagged with its part; {scope} adds the
# connection when one is asked for.

_HOUR_US: Final = 3_600_000_000
_DAY_US: Final = 24 * _HOUR_US

_USERS_AND_DAYS: Final = (
    # (day, user) cells give each user's events, last activity and email
    # bounds, and each day's events and users; the window functions give
    # the totals along with the top users.
    "WITH cells AS ("
    " SELECT day, user_id, SUM(events) AS n, MAX(last_us) AS last_us,"
    " MIN(low_email) AS low_email, MAX(high_email) AS high_email"
    " FROM usage_days WHERE platform = ?{scope} AND day >= ? AND day <= ?"
    " GROUP BY day, user_id"
    " UNION ALL"
    " SELECT day, user_id, COUNT(*), MAX(ts_us), MIN(user_email), MAX(user_email)"
    " FROM events WHERE platform = ?{scope}"
    " AND ((ts_us >= ? AND ts_us <= ?) OR (ts_us >= ? AND ts_us <= ?))"
    " GROUP BY day, user_id"
    "), users AS ("
    " SELECT user_id, SUM(n) AS n, MAX(last_us) AS last_us,"
    " MIN(low_email) AS low_email, MAX(high_email) AS high_email,"
    " MIN(CASE WHEN low_email IS NOT NULL THEN day END) AS email_day"
    " FROM cells GROUP BY user_id"
    ") SELECT * FROM ("
    " SELECT 'user' AS part, user_id AS item, n, last_us, low_email, high_email,"
    " email_day, SUM(n) OVER () AS total, COUNT(*) OVER () AS active"
    " FROM users ORDER BY n DESC, user_id LIMIT ?"
    ") AS top"
    " UNION ALL"
    " SELECT 'day', day, SUM(n), COUNT(*), NULL, NULL, NULL, NULL, NULL"
    " FROM cells GROUP BY day"
)
_ACTIVITY: Final = (
    # Each day's peak hour (the most events, the earliest on a tie), the
    # events per action, and the uses and tokens per model.
    "WITH hours AS ("
    " SELECT day, hour, SUM(events) AS n FROM usage_hours"
    " WHERE platform = ?{scope} AND (day, hour) >= (?, ?) AND (day, hour) <= (?, ?)"
    " GROUP BY day, hour"
    " UNION ALL"
    " SELECT day, hour, COUNT(*) FROM events WHERE platform = ?{scope}"
    " AND ((ts_us >= ? AND ts_us <= ?) OR (ts_us >= ? AND ts_us <= ?))"
    " GROUP BY day, hour"
    "), ranked AS ("
    " SELECT day, hour,"
    " ROW_NUMBER() OVER (PARTITION BY day ORDER BY n DESC, hour) AS place"
    " FROM hours"
    "), actions AS ("
    " SELECT action, SUM(events) AS n FROM usage_actions"
    " WHERE platform = ?{scope} AND day >= ? AND day <= ? GROUP BY action"
    " UNION ALL"
    " SELECT action, COUNT(*) FROM events WHERE platform = ?{scope}"
    " AND ((ts_us >= ? AND ts_us <= ?) OR (ts_us >= ? AND ts_us <= ?))"
    " GROUP BY action"
    "), models AS ("
    " SELECT model, SUM(events) AS n, SUM(tokens) AS tokens FROM usage_models"
    " WHERE platform = ?{scope} AND day >= ? AND day <= ? GROUP BY model"
    " UNION ALL"
    " SELECT model, COUNT(*), SUM(tokens_used) FROM events"
    " WHERE platform = ?{scope} AND model IS NOT NULL"
    " AND ((ts_us >= ? AND ts_us <= ?) OR (ts_us >= ? AND ts_us <= ?))"
    " GROUP BY model"
    ") SELECT 'model' AS part, model AS item, SUM(n) AS n, SUM(tokens) AS tokens"
    " FROM models GROUP BY model"
    " UNION ALL"
    " SELECT 'action', action, SUM(n), CAST(NULL AS BIGINT) FROM actions"
    " GROUP BY action"
    " UNION ALL"
    " SELECT 'peak', day, hour, CAST(NULL AS BIGINT) FROM ranked WHERE place = 1"
)
# The first non-null email in reading order of a user with several, within
# one day.
_FIRST_EMAIL: Final = (
    "SELECT user_email FROM events WHERE user_id = ? AND platform = ?{scope}"
    " AND ts_us >= ? AND ts_us <= ? AND user_email IS NOT NULL"
    " ORDER BY ts_us, id, connection LIMIT 1"
)

# Parameters of a range that holds nothing.
_NO_DAYS: Final = ("1", "0")
_NO_HOURS: Final = ("1", 0, "0", 0)
_NO_TIMES: Final = (1, 0)


@attrs.frozen
class _Span:
    """A period cut into what the partial sums answer and what they do not.

    Attributes:
        start, end: The period, in microseconds, both ends included.
        whole_days: The first and last whole day (``YYYY-MM-DD``).
        day_ends: Two time ranges (first, last microsecond) covering the
            rest of the period.
        whole_hours: The first and last whole hour, as day and hour.
        hour_ends: Likewise for the rest of the hours.
    """

    start: int
    end: int
    whole_days: tuple[str, str]
    day_ends: tuple[int, int, int, int]
    whole_hours: tuple[str, int, str, int]
    hour_ends: tuple[int, int, int, int]

    @classmethod
    def of(cls, period: AIDateRange) -> _Span:
        start, end = to_us(period.start), to_us(period.end)
        days, day_ends = _cut(start, end, _DAY_US)
        hours, hour_ends = _cut(start, end, _HOUR_US)
        whole_days = _NO_DAYS
        if days is not None:
            whole_days = (_day(days[0]), _day(days[1]))
        whole_hours: tuple[str, int, str, int] = _NO_HOURS
        if hours is not None:
            first, last = from_us(hours[0]), from_us(hours[1])
            whole_hours = (_day(hours[0]), first.hour, _day(hours[1]), last.hour)
        return cls(start, end, whole_days, day_ends, whole_hours, hour_ends)


def _cut(
    start: int, end: int, unit: int
) -> tuple[tuple[int, int] | None, tuple[int, int, int, int]]:
    """The whole *unit*-long intervals in [start, end] (the start of the
    first and of the last), and the two ranges left over at the ends."""
    first = -(-start // unit)
    last = (end + 1) // unit - 1
    if first > last:
        return None, (start, end, *_NO_TIMES)
    head = (start, first * unit - 1) if start < first * unit else _NO_TIMES
    tail = ((last + 1) * unit, end) if (last + 1) * unit <= end else _NO_TIMES
    return (first * unit, last * unit), (*head, *tail)


def _day(us: int) -> str:
    return from_us(us).date().isoformat()


def _tagged(rows: Sequence[Sequence[Any]]) -> dict[str, list[tuple[Any, ...]]]:
    """The parts of a tagged result, by tag, without the tag."""
    parts: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for tag, *row in rows:
        parts[tag].append(tuple(row))
    return parts


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


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


def _where(conditions: Sequence[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def _log_conditions(where: LogFilter, dialect: Dialect) -> tuple[list[str], list[Any]]:
    if where.limit is not None and where.limit < 0:
        raise ValueError(f"limit must be 0 or more, got {where.limit}")
    conditions: list[str] = []
    params: list[Any] = []
    if where.connection is not None:
        conditions.append("connection = ?")
        params.append(where.connection)
    if where.platform is not None:
        conditions.append("platform = ?")
        params.append(column_text(where.platform))
    if where.start is not None:
        conditions.append("ts_us >= ?")
        params.append(to_us(where.start))
    if where.end is not None:
        conditions.append("ts_us <= ?")
        params.append(to_us(where.end))
    if where.user_ids:
        marks = ", ".join("?" * len(where.user_ids))
        # LOWER folds A to Z only, in both databases (SQLite's built-in
        # function; PostgreSQL's under the columns' "C" collation): the
        # values are folded alike here, so both stores find the same events.
        conditions.append(f"(user_id IN ({marks}) OR LOWER(user_email) IN ({marks}))")
        # As the columns hold them (see column_text).
        user_ids = [column_text(user) for user in where.user_ids]
        params.extend(user_ids)
        params.extend(
            user.translate(_ASCII_LOWER) if isinstance(user, str) else user
            for user in user_ids
        )
    if where.actions:
        condition, values = _action_condition(where.actions, dialect)
        conditions.append(condition)
        params.extend(values)
    return conditions, params


_ASCII_LOWER: Final = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)

_GLOB_WILDCARDS: Final = frozenset("*?")


def _action_condition(
    actions: Sequence[str], dialect: Dialect
) -> tuple[str, list[Any]]:
    """One condition matching any of *actions*, exact names or globs.

    Exact names stay an ``IN`` of the values as the column holds them (see
    column_text); each glob is one more alternative.
    """
    exact = [a for a in actions if _GLOB_WILDCARDS.isdisjoint(a)]
    alternatives: list[str] = []
    params: list[Any] = []
    if exact:
        alternatives.append(f"action IN ({', '.join('?' * len(exact))})")
        params.extend(column_text(action) for action in exact)
    for pattern in actions:
        if not _GLOB_WILDCARDS.isdisjoint(pattern):
            condition, value = dialect.match_glob("action", pattern)
            alternatives.append(condition)
            params.append(value)
    return f"({' OR '.join(alternatives)})", params


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


def _evidence(log: AIAuditLog) -> str:
    """*log* as JSON text, whatever it holds, for the quarantine: the
    converter's shape where it can give one, Python's ``repr`` for values
    JSON has no form for. Lone surrogates are left in; storing the text
    escapes them."""
    try:
        data = _unstructure_log(log)
    except Exception:  # noqa: BLE001 -- evidence must not fail; repr says it all
        data = attrs.asdict(log)
    try:
        return json.dumps(data, ensure_ascii=False, default=repr)
    except (TypeError, ValueError, RecursionError):
        return repr(log)


def _unstorable(stream: str, log: AIAuditLog, why: str) -> QuarantinedRecord:
    """The quarantined record of an event the store could not write."""
    return QuarantinedRecord.of(
        stream,
        "cannot store event: not serializable as JSON: "
        + why.removeprefix(f"event {log.id!r} cannot be serialized: "),
        _evidence(log),
        native_id=log.id,
        native_type=log.native_type,
    )


def _refused(stream: str, row: Sequence[Any], why: str) -> QuarantinedRecord:
    """The quarantined record of an event row the database refused; its
    document (JSON text) is the evidence."""
    document = row[_DOCUMENT]
    native_id: Any = orjson.loads(document).get("id")
    return QuarantinedRecord.of(
        stream,
        f"cannot store event: the database refused it: {why}",
        document,
        native_id=native_id if isinstance(native_id, str) else row[_ID],
        native_type=row[_NATIVE_TYPE],
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
