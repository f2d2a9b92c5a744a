"""The schema both stores share, and the migrations that build it.

Each :class:`Migration` is applied once, in order, by whichever process opens
a store first; a store opened read-only only checks that its schema is one
this version reads. The statements are templates filled in from the driver's
:class:`~connector_core.store._driver.Dialect`.

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
``usage_reports``
    The buckets of platforms' usage reports
    (:class:`~connector_core.models.ModelUsageRecord`), keyed by
    ``(connection, id)``: a bucket read again replaces the stored one. Its
    ``document`` is the record as :func:`connector_core.serialization.dumps`
    writes it; ``cost_units`` is its cost in billionths, when in the
    currency the analytics sum (see :data:`connector_core.analytics.COST_UNIT`),
    so sums are exact in both databases. Added by migration 3.
``directory``
    Each connection's user directory
    (:class:`~connector_core.directory.DirectoryMember`), keyed by
    ``(connection, user_id)``: every member a sync listed, with when it was
    first and last listed; a member a later listing left out stays, with
    ``status`` ``removed``. ``raw`` is the platform's record as JSON text.
    Added by migration 4.
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

from collections.abc import Callable
from typing import Final

import attrs

from connector_core.exceptions import StoreError
from connector_core.store._driver import Dialect, Session
from connector_core.store._organizations import fold_copies
from connector_core.store._values import _iso, _now


__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "READABLE_VERSION",
    "Migration",
    "apply_migrations",
    "check_schema",
    "has_table",
    "has_usage_reports",
]


@attrs.frozen(kw_only=True)
class Migration:
    """One step of the schema's history; never edit one that has shipped.

    Statements are templates: ``{text}``, ``{serial_key}`` and
    ``{clustered}`` are replaced by the :class:`Dialect`'s values.
    """

    version: int
    description: str
    statements: tuple[str, ...]
    after: Callable[[Session, Dialect], None] | None = None
    """What the statements cannot say, run after them in the same
    transaction (data moved by rules written once, in Python)."""

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
    Migration(
        version=3,
        description="usage_reports: buckets of platforms' usage and cost reports",
        statements=(
            """CREATE TABLE usage_reports (
                connection {text} NOT NULL,
                id {text} NOT NULL,
                platform {text} NOT NULL,
                stream {text} NOT NULL,
                start_us BIGINT NOT NULL,
                end_us BIGINT NOT NULL,
                day {text} NOT NULL,
                model {text} NOT NULL,
                requests BIGINT,
                input_tokens BIGINT,
                output_tokens BIGINT,
                cost DOUBLE PRECISION,
                cost_units BIGINT,
                currency {text} NOT NULL,
                dimensions TEXT NOT NULL,
                document TEXT NOT NULL,
                ingested_at TEXT NOT NULL,
                PRIMARY KEY (connection, id)
            )""",
            # The analytics read a platform's buckets of a period.
            (
                "CREATE INDEX usage_reports_platform_start ON usage_reports"
                " (platform, start_us, connection)"
            ),
        ),
    ),
    Migration(
        version=4,
        description="directory: each connection's members, removed ones kept",
        statements=(
            # Times of sightings as the other tables' ISO text; created_us
            # in microseconds, as events.ts_us.
            """CREATE TABLE directory (
                connection {text} NOT NULL,
                user_id {text} NOT NULL,
                platform {text} NOT NULL,
                email {text},
                name TEXT,
                role {text},
                status {text} NOT NULL,
                created_us BIGINT,
                raw TEXT NOT NULL,
                first_seen TEXT NOT NULL,
                last_seen TEXT NOT NULL,
                PRIMARY KEY (connection, user_id)
            )""",
            # The analytics read a platform's members.
            "CREATE INDEX directory_platform ON directory (platform, connection)",
        ),
    ),
    Migration(
        version=5,
        description="organizations, shared_organizations: events stored once",
        statements=(
            # Which connections have stored events of which organization;
            # filled from the stored events, once.
            """CREATE TABLE organizations (
                platform {text} NOT NULL,
                organization_id {text} NOT NULL,
                connection {text} NOT NULL,
                first_seen TEXT NOT NULL,
                PRIMARY KEY (platform, organization_id, connection)
            )""",
            (
                "INSERT INTO organizations (platform, organization_id, connection,"
                " first_seen) SELECT platform, organization_id, connection,"
                " MIN(ingested_at) FROM events"
                " GROUP BY platform, organization_id, connection"
            ),
            # A connection that found events of an organization already
            # stored through another: how many, since when.
            """CREATE TABLE shared_organizations (
                connection {text} NOT NULL,
                other {text} NOT NULL,
                platform {text} NOT NULL,
                organization_id {text} NOT NULL,
                events BIGINT NOT NULL,
                first_seen TEXT NOT NULL,
                last_seen TEXT NOT NULL,
                PRIMARY KEY (connection, other, platform, organization_id)
            )""",
        ),
        after=fold_copies,
    ),
)

LATEST_VERSION: Final = MIGRATIONS[-1].version

READABLE_VERSION: Final = 1
"""The oldest schema a store opened read-only is read with. Migration 2
added only what syncing uses (``coverage``), so ``logs`` and ``usage`` still
read a store no sync has migrated yet; a migration that changes what they
read raises this. Migration 3 added ``usage_reports``, which the analytics
read only when the table exists (:func:`has_usage_reports`), so a store of
version 1 or 2 still reads, with the model usage of its events. Migration 4
added ``directory``, read likewise only when it exists (:func:`has_table`):
an older store reads with ``total_users`` the active users. Migration 5
added ``organizations`` (read by writes only) and ``shared_organizations``,
read likewise only when it exists: an older store counts its usage buckets
as they are stored."""


def apply_migrations(session: Session, dialect: Dialect, url: str) -> None:
    """Bring the schema to :data:`LATEST_VERSION`; a no-op when it is there.

    The caller holds whatever makes this exclusive (a write transaction on
    SQLite, an advisory lock on PostgreSQL), so two processes opening a new
    store at once apply each migration once.
    """
    session.execute(SCHEMA_VERSION_TABLE)
    applied = {row[0] for row in session.query("SELECT version FROM schema_version")}
    _refuse_newer(max(applied, default=0), url)
    for migration in MIGRATIONS:
        # Each one recorded is skipped, whatever came after it: a store
        # whose history lacks one (rebuilt by hand, or by a test standing
        # in for an older version) gets exactly what it lacks.
        if migration.version in applied:
            continue
        for statement in migration.render(dialect):
            session.execute(statement)
        if migration.after is not None:
            migration.after(session, dialect)
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


def has_usage_reports(session: Session, dialect: Dialect) -> bool:
    """Whether the store has the ``usage_reports`` table (migration 3): a
    store opened read-only may be older."""
    return has_table(session, dialect, "usage_reports")


def has_table(session: Session, dialect: Dialect, table: str) -> bool:
    """Whether the store has *table*: a store opened read-only may be older
    than the migration that added it."""
    rows = session.query(dialect.sql(dialect.table_exists), (table,))
    return bool(rows[0][0])
