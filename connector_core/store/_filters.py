"""The ``WHERE`` clause of a log query, from a :class:`LogFilter`.

Both databases must find the same events for the same filter, although they
fold case, match patterns and hold oversized values differently: the values
are turned here into what the columns hold (see
:func:`~connector_core.store._values.column_text`), and the few operators
that differ come from the :class:`~connector_core.store._driver.Dialect`.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING, Any, Final

from connector_core.store._values import column_text, to_us


if TYPE_CHECKING:
    from collections.abc import Sequence

    from connector_core.store._driver import Dialect
    from connector_core.store.base import LogFilter


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
