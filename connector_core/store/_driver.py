"""What each database driver supplies to the SQL both stores share.

The shared code (:mod:`connector_core.store._sql`) decides what is stored and
how it is queried; a driver gives it a :class:`Dialect` (the few places where
SQLite and PostgreSQL differ), a :class:`Session` per transaction, and sends
the rows of each :class:`Bulk` table its own fastest way. These sit apart
from the shared code so the schema, the filters and the analytics can name
them without importing the store itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

import attrs


if TYPE_CHECKING:
    from collections.abc import Sequence


__all__ = ["Bulk", "Dialect", "Session", "SessionMode"]


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
        parameter. *pattern* holds only text a column can (the filter
        cleans it as :func:`~connector_core.store._values.column_text`
        cleans what it keeps).

        Both operators have more wildcards than a glob (GLOB's ``[...]``,
        LIKE's ``%`` and ``_``); those are escaped, so an action such as
        ``file_upload`` matches itself and not ``fileXupload``.
        """
        if self.glob == "GLOB":
            return f"{column} GLOB ?", pattern.replace("[", "[[]")
        like = "".join(_LIKE.get(char, char) for char in pattern)
        return f"{column} LIKE ? ESCAPE '\\'", like


_LIKE: Final = {"\\": "\\\\", "%": "\\%", "_": "\\_", "*": "%", "?": "_"}
"""A glob's characters in a LIKE pattern escaped by a backslash."""


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
