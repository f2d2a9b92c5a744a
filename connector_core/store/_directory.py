"""The connections' directories: their rows, the listing that replaces them,
and the ``total_users`` the analytics count from them.

A listing is the whole directory as the platform lists it now, so storing
one replaces the connection's directory: in one transaction, the members
listed are inserted or updated (their first sighting kept), and the members
stored but not listed are marked removed, their last sighting kept: a store
never forgets that someone had a seat. Both stores share this module, as
they share the events'.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import attrs
import orjson

from connector_core.directory import (
    DIRECTORY_STREAM,
    DirectoryMember,
    MemberStatus,
)
from connector_core.exceptions import StoreError
from connector_core.store._driver import Bulk
from connector_core.store._values import _from_iso, column_text, from_us, to_us
from connector_core.streams import QuarantinedRecord


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from connector_core.store._driver import Dialect, Session
    from connector_core.store._usage import _Span


__all__ = [
    "DIRECTORY",
    "DirectoryWrite",
    "StoredMember",
    "count_total_users",
    "member_rows",
    "read_members",
    "write_directory",
]

DIRECTORY: Final = Bulk(
    table="directory",
    columns=(
        ("connection", "text"),
        ("user_id", "text"),
        ("platform", "text"),
        ("email", "text"),
        ("name", "text"),
        ("role", "text"),
        ("status", "text"),
        ("created_us", "bigint"),
        ("raw", "text"),
        ("first_seen", "text"),
        ("last_seen", "text"),
    ),
    # A member listed again keeps when they were first seen.
    on_conflict=(
        "ON CONFLICT (connection, user_id) DO UPDATE SET "
        + ", ".join(
            f"{name} = excluded.{name}"
            for name in (
                "platform",
                "email",
                "name",
                "role",
                "status",
                "created_us",
                "raw",
                "last_seen",
            )
        )
    ),
)
_USER_ID: Final = 1
_REMOVED: Final = MemberStatus.REMOVED.value


@attrs.frozen(kw_only=True)
class StoredMember:
    """A member of a connection's directory, as stored.

    Attributes:
        connection: The connection whose listing named them.
        platform: Its platform.
        member: The member as last listed; ``status`` is
            :attr:`~connector_core.directory.MemberStatus.REMOVED` once a
            listing left them out.
        first_seen: When a sync first listed them.
        last_seen: When a sync last listed them: for a removed member, the
            last time they were there.
    """

    connection: str
    platform: str
    member: DirectoryMember
    first_seen: datetime
    last_seen: datetime


@attrs.frozen
class DirectoryWrite:
    """What storing one listing changed.

    Attributes:
        members: Members listed (each once), now stored.
        new: Of those, members the directory did not hold, or held as
            removed (they came back).
        gone: Stored members the listing left out, now marked removed.
        quarantined: Records stored aside: those the connector could not
            read, and members the store cannot hold.
    """

    members: int = 0
    new: int = 0
    gone: int = 0
    quarantined: int = 0


def member_rows(
    connection: str,
    platform: str,
    members: Iterable[DirectoryMember],
    now: str,
) -> tuple[list[tuple[Any, ...]], list[QuarantinedRecord]]:
    """The ``directory`` rows of *members* (the last of a repeated id),
    sorted by id, and the members the store cannot hold, quarantined with
    why (an id a column cannot keep as it is, a record that is not JSON)."""
    rows: dict[str, tuple[Any, ...]] = {}
    bad: list[QuarantinedRecord] = []
    for member in members:
        try:
            row = _row(connection, platform, member, now)
        except StoreError as exc:
            bad.append(
                QuarantinedRecord.of_value(
                    DIRECTORY_STREAM,
                    f"cannot store directory member: {exc}",
                    {"user_id": member.user_id, "raw": member.raw},
                    native_type="directory_member",
                )
            )
            continue
        rows[row[_USER_ID]] = row
    return [rows[key] for key in sorted(rows)], bad


def _row(
    connection: str, platform: str, member: DirectoryMember, now: str
) -> tuple[Any, ...]:
    if column_text(member.user_id) != member.user_id:
        # Cleaned, it could be another member's id: refused, not merged.
        raise StoreError("its id is not text a column keeps as it is")
    try:
        raw = orjson.dumps(dict(member.raw), option=orjson.OPT_NON_STR_KEYS).decode()
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise StoreError(f"its record is not JSON: {exc}") from None
    return (
        connection,
        member.user_id,
        platform,
        None if member.email is None else column_text(member.email),
        None if member.name is None else column_text(member.name),
        None if member.role is None else column_text(member.role),
        member.status.value,
        None if member.created_at is None else to_us(member.created_at),
        raw,  # JSON escapes what a column cannot hold; kept whole
        now,
        now,
    )


def write_directory(
    session: Session,
    dialect: Dialect,
    insert: Callable[[Session, Bulk, Sequence[Sequence[Any]]], int],
    connection: str,
    rows: Sequence[tuple[Any, ...]],
) -> DirectoryWrite:
    """Replace the directory of *connection* with the member *rows*
    (distinct ids, sorted), in the caller's transaction."""
    stored = dict(
        session.query(
            dialect.sql("SELECT user_id, status FROM directory WHERE connection = ?"),
            (connection,),
        )
    )
    listed = {row[_USER_ID] for row in rows}
    active = sum(1 for status in stored.values() if status != _REMOVED)
    if not rows and active:
        # No platform lists nobody (the credential's own account is a
        # member): an empty listing is a fault upstream, and taking it at
        # its word would mark every member removed.
        raise StoreError(
            f"the platform listed no member, while {active:,} are stored for "
            f"{connection!r}: the stored directory is kept as it was"
        )
    if rows:
        insert(session, DIRECTORY, rows)
    new = sum(1 for user_id in listed if stored.get(user_id, _REMOVED) == _REMOVED)
    gone = sorted(
        user_id
        for user_id, status in stored.items()
        if status != _REMOVED and user_id not in listed
    )
    for user_id in gone:
        session.execute(
            dialect.sql(
                "UPDATE directory SET status = ? WHERE connection = ? AND user_id = ?"
            ),
            (_REMOVED, connection, user_id),
        )
    return DirectoryWrite(members=len(rows), new=new, gone=len(gone))


def read_members(
    session: Session, dialect: Dialect, *, connection: str | None
) -> list[StoredMember]:
    """The stored members of *connection* (every connection with
    ``None``), by connection and id."""
    where: str = ""
    params: tuple[str, ...] = ()
    if connection is not None:
        where, params = " WHERE connection = ?", (connection,)
    rows = session.query(
        dialect.sql(
            "SELECT connection, platform, user_id, email, name, role, status,"  # noqa: S608 -- the condition is a constant
            f" created_us, raw, first_seen, last_seen FROM directory{where}"
            " ORDER BY connection, user_id"
        ),
        params,
    )
    return [
        StoredMember(
            connection=row[0],
            platform=row[1],
            member=DirectoryMember(
                user_id=row[2],
                email=row[3],
                name=row[4],
                role=row[5],
                status=MemberStatus(row[6]),
                created_at=None if row[7] is None else from_us(int(row[7])),
                raw=orjson.loads(row[8]),
            ),
            first_seen=_from_iso(row[9]),
            last_seen=_from_iso(row[10]),
        )
        for row in rows
    ]


_TOTAL: Final = (
    # The members not removed and the users with an event in the period,
    # each id once (UNION, not UNION ALL): whole days from the partial
    # sums, the partial days at either end from the events.
    "SELECT COUNT(*) FROM ("
    " SELECT user_id FROM directory WHERE platform = ?{scope} AND status <> ?"
    " UNION"
    " SELECT user_id FROM usage_days WHERE platform = ?{scope}"
    " AND day >= ? AND day <= ?"
    " UNION"
    " SELECT user_id FROM events WHERE platform = ?{scope}"
    " AND ((ts_us >= ? AND ts_us <= ?) OR (ts_us >= ? AND ts_us <= ?))"
    ") AS people"
)


def count_total_users(
    session: Session,
    dialect: Dialect,
    span: _Span,
    *,
    platform: str,
    connection: str | None,
) -> int | None:
    """``total_users`` of *span*: the members of the directories in scope
    (of *connection*, or of every connection of *platform*) not removed,
    together with the users active in it, each id once (see
    :func:`~connector_core.directory.directory_total`); ``None`` when no
    connection in scope has a directory, and the total is the active
    users."""
    scope = (platform,) if connection is None else (platform, connection)
    condition = "" if connection is None else " AND connection = ?"
    held = session.query(
        dialect.sql(f"SELECT COUNT(*) FROM directory WHERE platform = ?{condition}"),  # noqa: S608 -- the condition is a constant
        scope,
    )
    if not held[0][0]:
        return None
    rows = session.query(
        dialect.sql(_TOTAL.format(scope=condition)),
        (
            *scope,
            _REMOVED,
            *scope,
            *span.whole_days,
            *scope,
            *span.day_ends,
        ),
    )
    return int(rows[0][0])
