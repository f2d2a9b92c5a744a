"""Which events a read wants: :class:`LogFilter`, its test of one event in
Python, and the ``WHERE`` clause that asks a store the same question.

One filter serves every reader. A store turns it into SQL; the pages and
streams a connector serves (:mod:`connector_core.paging`) test each event
with :meth:`LogFilter.matches`. Both start from the same values, prepared
once (:class:`_Terms`), so a question has one answer whoever asks it, and a
test checks, for generated filters and events, that ``matches`` agrees with
what SQLite and PostgreSQL return.

The values are compared as the stores' columns hold them
(:func:`~connector_core.store._values.column_text`): a value the databases
cannot index as it is (a NUL, a lone surrogate, more than 512 bytes) is
compared in its indexed form there and here, so both databases and
``matches`` find the same events. The few operators that differ between
the databases come from the :class:`~connector_core.store._driver.Dialect`.
"""

from __future__ import annotations

import re
import string
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final

import attrs
from attrs import validators as v

from connector_core.models import ensure_utc_or_none
from connector_core.store._values import column_text, to_us


if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from connector_core.models import AIAuditLog, AIAuditLogQuery
    from connector_core.store._driver import Dialect


__all__ = ["LogFilter"]


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    """*value* as a tuple; one string is refused, as it would otherwise be
    read as its characters (``user_ids="alice"``: five users)."""
    if isinstance(value, str):
        raise TypeError(f"expected a sequence of strings, got the string {value!r}")
    return tuple(value)


_string_tuple = v.deep_iterable(
    member_validator=v.instance_of(str), iterable_validator=v.instance_of(tuple)
)
_optional_string = v.optional(v.instance_of(str))


@attrs.frozen(kw_only=True)
class LogFilter:
    """Which events to read; every field narrows, an empty one does not.

    The one definition of "an event matches", for events in a store (the
    store's SQL) and events a connector serves (:meth:`matches`, which the
    pages and :func:`~connector_core.paging.iter_logs` apply; the docs'
    "Filtering events" says it for people).

    Attributes:
        connection: Events stored under this connection. An event carries
            no connection of its own: :meth:`matches` is told where it is
            stored.
        platform: Events of this platform.
        platforms: Events of any of these platforms (what
            ``AIAuditLogQuery.platforms`` asks).
        start, end: The time range, both ends inclusive.
        user_ids: Events by any of these users. Each matches an event
            whose user id is exactly it (the id is the platform's key), or
            whose email is it whatever the case of its letters A to Z (people
            type emails as they please, platforms report them as they were
            entered). Other letters match in their own case only: both
            databases fold A to Z alone, and so does :meth:`matches`.
        actions: Events with any of these normalized actions, each exact or
            a glob: ``*`` stands for any run of characters, ``?`` for one
            (``file.*``); every other character, ``%``, ``_``, ``[`` or a
            backslash too, is itself. Case matters, as for an exact action.
            There is no escape: a ``*`` or ``?`` is always a wildcard.
        limit: At most this many events (of a store's read; 0 or more).
        newest_first: Read from the newest event back, so that with *limit*
            the latest events are the ones read.

    *limit* and *newest_first* say how a store reads, not which events
    match: :meth:`matches` ignores them.
    """

    connection: str | None = attrs.field(default=None, validator=_optional_string)
    platform: str | None = attrs.field(default=None, validator=_optional_string)
    platforms: tuple[str, ...] = attrs.field(
        default=(), converter=_strings, validator=_string_tuple
    )
    start: datetime | None = attrs.field(default=None, converter=ensure_utc_or_none)
    end: datetime | None = attrs.field(default=None, converter=ensure_utc_or_none)
    user_ids: tuple[str, ...] = attrs.field(
        default=(), converter=_strings, validator=_string_tuple
    )
    actions: tuple[str, ...] = attrs.field(
        default=(), converter=_strings, validator=_string_tuple
    )
    limit: int | None = attrs.field(default=None, validator=v.optional(v.ge(0)))
    newest_first: bool = False

    @classmethod
    def from_query(cls, query: AIAuditLogQuery) -> LogFilter:
        """The filtering part of *query*: its time range, ``user_ids``,
        ``event_types`` (as *actions*) and ``platforms``.

        Its ``limit`` is a page size and its ``platform_filters`` are the
        plugin's own, so neither is part of the filter.
        """
        return cls(
            start=query.start_date,
            end=query.end_date,
            user_ids=query.user_ids,
            actions=query.event_types,
            platforms=query.platforms,
        )

    def matches(self, log: AIAuditLog, *, connection: str | None = None) -> bool:
        """Whether *log* is one of the events this filter reads.

        :param connection: Where *log* is stored; a filter naming a
            connection matches no log without one.

        Exactly the store's answer for the same event (see the module
        docstring), so the pages a connector serves and the events a store
        returns never disagree about a filter.
        """
        if self.connection is not None and connection != self.connection:
            return False
        timestamp = log.timestamp
        return (
            (self.start is None or timestamp >= self.start)
            and (self.end is None or timestamp <= self.end)
            and self._terms.admit(log)
        )

    @property
    def askable_actions(self) -> frozenset[str] | None:
        """The actions a connector may ask its platform to narrow by, as
        exact names; ``None``: ask for every action.

        ``None`` when there is no action filter, or when any action is a
        glob: a platform filters by exact names, and a name the connector
        derived from a glob could leave out an action the glob matches. The
        core filters what the platform returns again (:meth:`matches`), so
        asking for more costs requests, never correctness; asking for less
        loses events.
        """
        if not self.actions or any(_is_glob(action) for action in self.actions):
            return None
        return frozenset(self.actions)

    @property
    def askable_user_ids(self) -> frozenset[str] | None:
        """The users a connector may ask its platform to narrow by, as
        user ids; ``None``: ask for every user.

        A user here matches by id or by email (any case of A to Z), and a
        platform's user filter takes ids: ``None`` when there is no user
        filter, or when any user looks like an email (it holds ``@``), since
        asking the platform for it as an id would find nothing. A value with
        no ``@`` is no email address, so asking by id loses nothing.
        """
        if not self.user_ids or any("@" in user for user in self.user_ids):
            return None
        return frozenset(self.user_ids)

    @cached_property
    def _terms(self) -> _Terms:
        return _Terms.of(self)


_ASCII_LOWER: Final = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _ascii_lower(value: Any) -> Any:
    """*value* with A to Z folded, and nothing else: what ``LOWER`` does in
    SQLite (its built-in function) and in PostgreSQL (under the columns'
    ``"C"`` collation)."""
    return value.translate(_ASCII_LOWER) if isinstance(value, str) else value


def _clean(pattern: str) -> str:
    """*pattern* as :func:`column_text` cleans the text it keeps: a NUL
    (which PostgreSQL text cannot hold) and a lone surrogate (which neither
    database can encode) become U+FFFD."""
    return (
        pattern.encode(errors="surrogatepass")
        .decode(errors="replace")
        .replace("\x00", "\ufffd")
    )


_GLOB_WILDCARDS: Final = frozenset("*?")


def _is_glob(action: str) -> bool:
    return not _GLOB_WILDCARDS.isdisjoint(action)


class _Glob:
    """A glob (cleaned) as :meth:`LogFilter.matches` tests it: ``*`` any
    run of characters, ``?`` one, newlines included, as in GLOB and LIKE.

    Not one regular expression: ``.*`` after ``.*`` backtracks, and a
    pattern with many stars against a long action would take exponential
    time. Between the stars each piece has a fixed length (a character or a
    ``?`` is one character), so the first piece is matched at the start,
    the last at the end, and each other one at its leftmost place after the
    one before, which finds a match whenever there is one: at most the
    action's length times the pattern's.
    """

    __slots__ = ("first", "last", "last_length", "middle", "starred")

    def __init__(self, pattern: str) -> None:
        first, *rest = pattern.split("*")
        self.starred = bool(rest)
        self.first = _piece(first)
        self.last = _piece(rest[-1] if rest else "")
        self.last_length = len(rest[-1]) if rest else 0
        self.middle = tuple(map(_piece, rest[:-1]))

    def matches(self, text: str) -> bool:
        if not self.starred:
            return self.first.fullmatch(text) is not None
        start = self.first.match(text)
        end = len(text) - self.last_length
        if start is None or end < start.end():
            return False
        if self.last.fullmatch(text, end) is None:
            return False
        at = start.end()
        for piece in self.middle:
            found = piece.search(text, at, end)
            if found is None:
                return False
            at = found.end()
        return True


def _piece(piece: str) -> re.Pattern[str]:
    """A glob's piece between stars: each ``?`` one character, everything
    else itself; no repetition, so matching it never backtracks."""
    return re.compile(
        "".join("." if char == "?" else re.escape(char) for char in piece), re.DOTALL
    )


@attrs.frozen
class _Terms:
    """A filter's values as the columns hold them: what the SQL binds and
    :meth:`LogFilter.matches` compares, prepared once per filter.

    Tuples keep the filter's order for the SQL; the sets are for
    :meth:`~LogFilter.matches`.
    """

    platforms: tuple[frozenset[Any], ...]
    """Per platform condition (``platform``, then ``platforms``), the
    column values it allows; an event must satisfy each."""
    platform_values: tuple[tuple[Any, ...], ...]
    user_ids: frozenset[Any]
    user_id_values: tuple[Any, ...]
    emails: frozenset[Any]
    email_values: tuple[Any, ...]
    actions: frozenset[Any]
    """The exact actions."""
    action_values: tuple[Any, ...]
    glob_patterns: tuple[str, ...]
    globs: tuple[_Glob, ...]

    def admit(self, log: AIAuditLog) -> bool:
        """Whether *log*'s platform, user and action pass (the rest of
        :meth:`LogFilter.matches`)."""
        if self.platforms:
            platform = column_text(log.platform)
            if not all(platform in allowed for allowed in self.platforms):
                return False
        if self.user_ids and column_text(log.user_id) not in self.user_ids:
            email = log.user_email
            if email is None or _ascii_lower(column_text(email)) not in self.emails:
                return False
        if not (self.actions or self.globs):
            return True
        action = column_text(log.action)
        return action in self.actions or any(
            glob.matches(action) for glob in self.globs
        )

    @classmethod
    def of(cls, where: LogFilter) -> _Terms:
        platform_values: list[tuple[Any, ...]] = []
        if where.platform is not None:
            platform_values.append((column_text(where.platform),))
        if where.platforms:
            platform_values.append(_unique(map(column_text, where.platforms)))
        users = _unique(map(column_text, where.user_ids))
        emails = _unique(map(_ascii_lower, users))
        exact = _unique(column_text(a) for a in where.actions if not _is_glob(a))
        patterns = _unique(_clean(a) for a in where.actions if _is_glob(a))
        return cls(
            platforms=tuple(frozenset(values) for values in platform_values),
            platform_values=tuple(platform_values),
            user_ids=frozenset(users),
            user_id_values=users,
            emails=frozenset(emails),
            email_values=emails,
            actions=frozenset(exact),
            action_values=exact,
            glob_patterns=patterns,
            globs=tuple(map(_Glob, patterns)),
        )


def _unique(values: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(values))


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def _where(conditions: Sequence[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def _log_conditions(where: LogFilter, dialect: Dialect) -> tuple[list[str], list[Any]]:
    """The conditions (to join with ``AND``) and parameters asking a store
    for the events *where* matches."""
    terms = where._terms  # noqa: SLF001 -- this module's own class
    conditions: list[str] = []
    params: list[Any] = []
    if where.connection is not None:
        conditions.append("connection = ?")
        params.append(where.connection)
    for values in terms.platform_values:
        conditions.append(f"platform IN ({_marks(values)})")
        params.extend(values)
    if where.start is not None:
        conditions.append("ts_us >= ?")
        params.append(to_us(where.start))
    if where.end is not None:
        conditions.append("ts_us <= ?")
        params.append(to_us(where.end))
    if terms.user_id_values:
        conditions.append(
            f"(user_id IN ({_marks(terms.user_id_values)})"
            f" OR LOWER(user_email) IN ({_marks(terms.email_values)}))"
        )
        params.extend(terms.user_id_values)
        params.extend(terms.email_values)
    if where.actions:
        alternatives: list[str] = []
        if terms.action_values:
            alternatives.append(f"action IN ({_marks(terms.action_values)})")
            params.extend(terms.action_values)
        for pattern in terms.glob_patterns:
            condition, value = dialect.match_glob("action", pattern)
            alternatives.append(condition)
            params.append(value)
        conditions.append(f"({' OR '.join(alternatives)})")
    return conditions, params
