"""One organization, many connections: each native event stored once.

Two connections may read the same organization: a second API key of the
same organization, the same tenant under two names, a connection saved
twice. Each would store the organization's events under
its own name, and every count would be doubled. So a store keeps, in
``organizations``, which connections have stored events of which
``(platform, organization_id)``; when a batch holds events of an
organization another connection has stored events of too, the events that
connection already holds (same platform, organization and id) are set
aside rather than stored again, and the overlap is recorded in
``shared_organizations``, which the sync reports as a warning and the
usage reports' analytics read to count each bucket once
(:data:`UNSHARED_BUCKET`).

The first connection to store an event keeps it. Events are compared by
id within one organization only, so two organizations' events never
meet, whatever their ids. Connectors that cannot tell their organization
and share a placeholder ``organization_id`` are compared by id alone, which
is still safe: a platform does not give two of its events one id, so an id
two credentials both read is one event.

The check costs a batch one insert of its organizations (already there
after the first batch) and one look-up per organization in it, and, only
when another connection shares one, a look-up of the batch's ids under
each sharer's key: nothing more per event while each organization is read
through one connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import attrs

from connector_core.store._document import _ID, _PLATFORM, _TS, EVENT_COLUMNS
from connector_core.store._driver import Bulk
from connector_core.store._usage import (
    USAGE_ACTIONS,
    USAGE_DAYS,
    USAGE_HOURS,
    USAGE_MODELS,
    partial_sums,
)
from connector_core.store._values import _iso, _now


if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from connector_core.store._driver import Dialect, Session


__all__ = [
    "ORGANIZATIONS",
    "UNSHARED_BUCKET",
    "Held",
    "SharedOrganization",
    "fold_copies",
    "read_shared",
    "set_aside_held",
]

_ORGANIZATION: Final = next(
    index for index, (name, _) in enumerate(EVENT_COLUMNS) if name == "organization_id"
)
_ID_CHUNK: Final = 500

ORGANIZATIONS: Final = Bulk(
    table="organizations",
    columns=(
        ("platform", "text"),
        ("organization_id", "text"),
        ("connection", "text"),
        ("first_seen", "text"),
    ),
    on_conflict="ON CONFLICT (platform, organization_id, connection) DO NOTHING",
)

_OTHERS: Final = (
    "SELECT connection FROM organizations WHERE platform = ?"
    " AND organization_id = ? AND connection <> ? ORDER BY connection"
)
_HELD: Final = (
    "SELECT id FROM events WHERE connection = ? AND platform = ?"
    " AND organization_id = ? AND id IN ({marks})"
)
_OVERLAP: Final = (
    "INSERT INTO shared_organizations (connection, other, platform, organization_id,"
    " events, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (connection, other, platform, organization_id) DO UPDATE SET"
    " events = shared_organizations.events + excluded.events,"
    " last_seen = excluded.last_seen"
)

UNSHARED_BUCKET: Final = (
    # A usage bucket of a connection that read events another connection
    # already held is that connection's bucket too when the other holds
    # one of the same id: counted once, under the connection that stored
    # the events first.
    " AND NOT EXISTS (SELECT 1 FROM shared_organizations o JOIN usage_reports d"
    " ON d.connection = o.other AND d.platform = o.platform"
    " WHERE o.connection = usage_reports.connection"
    " AND o.platform = usage_reports.platform AND d.id = usage_reports.id)"
)
"""The condition that keeps a ``usage_reports`` row out of the analytics
when the same bucket is stored under a connection its own overlaps."""


@attrs.frozen
class Held:
    """Events of a batch another connection already held.

    Attributes:
        events: How many were set aside.
        by: For each holding connection, how many of them it held.
    """

    events: int = 0
    by: tuple[tuple[str, int], ...] = ()


@attrs.frozen
class SharedOrganization:
    """An organization two connections have read: *connection* found
    *events* of its events already stored through *other*."""

    connection: str
    other: str
    platform: str
    organization_id: str
    events: int
    first_seen: str
    last_seen: str


def set_aside_held(
    session: Session,
    dialect: Dialect,
    bulk_insert: Callable[[Session, Bulk, Sequence[Sequence[Any]]], int],
    *,
    connection: str,
    rows: Sequence[tuple[Any, ...]],
    now: str,
) -> tuple[list[tuple[Any, ...]], Held]:
    """Record the organizations of the event *rows* as read by
    *connection*, and return the rows no other connection holds, with what
    was set aside.

    Runs in the batch's write transaction, so the organizations it records
    and the overlaps it counts go or stay with the events. The caller makes
    writers of one organization take turns (SQLite writes one at a time;
    PostgreSQL takes a transaction lock per organization first), so two
    connections of one organization cannot both store an event.
    """
    if not rows:
        return list(rows), Held()
    organizations = sorted({(row[_PLATFORM], row[_ORGANIZATION]) for row in rows})
    bulk_insert(
        session,
        ORGANIZATIONS,
        [(platform, org, connection, now) for platform, org in organizations],
    )
    held: set[tuple[str, str, str]] = set()
    by: dict[str, int] = {}
    for platform, org in organizations:
        others = session.query(dialect.sql(_OTHERS), (platform, org, connection))
        if not others:
            continue
        left = {
            row[_ID]
            for row in rows
            if row[_PLATFORM] == platform and row[_ORGANIZATION] == org
        }
        for (other,) in others:
            if not left:
                break
            found = _held_by(
                session,
                dialect,
                other=other,
                platform=platform,
                organization=org,
                ids=sorted(left),
            )
            if not found:
                continue
            left -= found
            held.update((platform, org, event_id) for event_id in found)
            by[other] = by.get(other, 0) + len(found)
            session.execute(
                dialect.sql(_OVERLAP),
                (connection, other, platform, org, len(found), now, now),
            )
    if not held:
        return list(rows), Held()
    kept = [
        row
        for row in rows
        if (row[_PLATFORM], row[_ORGANIZATION], row[_ID]) not in held
    ]
    return kept, Held(events=len(held), by=tuple(sorted(by.items())))


def _held_by(
    session: Session,
    dialect: Dialect,
    *,
    other: str,
    platform: str,
    organization: str,
    ids: Sequence[str],
) -> set[str]:
    """Which of *ids* *other* holds as events of *organization*: a look-up
    of the events' key, (connection, id), per id."""
    found: set[str] = set()
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ids[start : start + _ID_CHUNK]
        statement = _HELD.format(marks=", ".join("?" * len(chunk)))
        found.update(
            event_id
            for (event_id,) in session.query(
                dialect.sql(statement), (other, platform, organization, *chunk)
            )
        )
    return found


def read_shared(
    session: Session, dialect: Dialect, connection: str | None = None
) -> list[SharedOrganization]:
    """The recorded overlaps (those involving *connection*, with one), by
    connection, other and organization."""
    where = ""
    params: tuple[str, ...] = ()
    if connection is not None:
        where, params = " WHERE connection = ? OR other = ?", (connection, connection)
    rows = session.query(
        dialect.sql(
            "SELECT connection, other, platform, organization_id, events,"  # noqa: S608 -- the condition is a constant
            f" first_seen, last_seen FROM shared_organizations{where}"
            " ORDER BY connection, other, platform, organization_id"
        ),
        params,
    )
    return [
        SharedOrganization(
            connection=row[0],
            other=row[1],
            platform=row[2],
            organization_id=row[3],
            events=int(row[4]),
            first_seen=row[5],
            last_seen=row[6],
        )
        for row in rows
    ]


_SHARED_ORGANIZATIONS: Final = (
    "SELECT platform, organization_id FROM organizations"
    " GROUP BY platform, organization_id HAVING COUNT(*) > 1"
    " ORDER BY platform, organization_id"
)
_COPIES: Final = (
    # Each stored copy of an event some other connection stored earlier
    # (or at the same moment, under a name sorting first), with that one.
    "SELECT e.connection, e.id, f.connection FROM events e JOIN events f"
    " ON f.platform = e.platform AND f.organization_id = e.organization_id"
    " AND f.id = e.id AND f.connection <> e.connection"
    " WHERE e.platform = ? AND e.organization_id = ?"
    " AND (f.ingested_at < e.ingested_at"
    " OR (f.ingested_at = e.ingested_at AND f.connection < e.connection))"
    " ORDER BY e.connection, e.id, f.ingested_at, f.connection"
)
_REBUILD_CHUNK: Final = 10_000


def fold_copies(session: Session, dialect: Dialect) -> None:
    """Keep one copy of each event a store written before organizations
    were recorded holds twice (two connections of one organization): the
    first stored, as a write now does. The copies' connections have their
    partial sums rebuilt from what they keep, and the overlaps are recorded.

    Part of migration 5, in its transaction; on a store where no
    organization has two connections (nearly all), one small query.
    """
    now = _iso(_now())
    copies: dict[str, list[str]] = {}
    overlaps: dict[tuple[str, str, str, str], int] = {}
    for platform, org in session.query(_SHARED_ORGANIZATIONS):
        seen: set[tuple[str, str]] = set()
        for connection, event_id, keeper in session.query(
            dialect.sql(_COPIES), (platform, org)
        ):
            if (connection, event_id) in seen:
                continue  # the earliest keeper is the one counted
            seen.add((connection, event_id))
            copies.setdefault(connection, []).append(event_id)
            key = (connection, keeper, platform, org)
            overlaps[key] = overlaps.get(key, 0) + 1
    for connection, ids in sorted(copies.items()):
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = ids[start : start + _ID_CHUNK]
            session.execute(
                dialect.sql(
                    "DELETE FROM events WHERE connection = ?"  # noqa: S608 -- only placeholders are added
                    f" AND id IN ({', '.join('?' * len(chunk))})"
                ),
                (connection, *chunk),
            )
        for bulk in (USAGE_DAYS, USAGE_HOURS, USAGE_ACTIONS, USAGE_MODELS):
            session.execute(
                dialect.sql(f"DELETE FROM {bulk.table} WHERE connection = ?"),  # noqa: S608 -- table names are constants
                (connection,),
            )
        _add_partial_sums(session, dialect, connection)
    for (connection, keeper, platform, org), events in sorted(overlaps.items()):
        session.execute(
            dialect.sql(_OVERLAP), (connection, keeper, platform, org, events, now, now)
        )


def _add_partial_sums(session: Session, dialect: Dialect, connection: str) -> None:
    """Sum *connection*'s stored events into the partial sums again, as
    writing them did, a chunk at a time in key order."""
    columns = ", ".join(name for name, _ in EVENT_COLUMNS)
    after: tuple[int, str] | None = None
    while True:
        page = "" if after is None else " AND (ts_us > ? OR (ts_us = ? AND id > ?))"
        params: tuple[Any, ...] = (connection,)
        if after is not None:
            params += (after[0], after[0], after[1])
        rows = session.query(
            dialect.sql(
                f"SELECT {columns} FROM events WHERE connection = ?{page}"  # noqa: S608 -- names are constants
                f" ORDER BY ts_us, id LIMIT {_REBUILD_CHUNK}"
            ),
            params,
        )
        if not rows:
            return
        for bulk, sums in partial_sums(connection, rows):
            if sums:
                session.executemany(dialect.sql(bulk.values_statement()), sums)
        last = rows[-1]
        after = (last[_TS], last[_ID])
