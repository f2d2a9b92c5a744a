"""The usage analytics in SQL, and the partial sums that make them cheap.

Every batch of new events adds to per-day and per-hour partial sums in the
same transaction; a period's analytics then read those for its whole days
and hours and the events only at either end. Both halves live here because
each is only right if it agrees with the other, and both with
:class:`~connector_core.analytics.UsageAccumulator`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any, Final, cast

import attrs

from connector_core.models import (
    DailyActivityMetric,
    ModelUsageMetric,
    TopUserMetric,
    UsageAnalytics,
)
from connector_core.store._document import (
    _ACTION,
    _DAY,
    _EMAIL,
    _HOUR,
    _MODEL,
    _PLATFORM,
    _TOKENS,
    _TS,
    _USER,
)
from connector_core.store._driver import Bulk
from connector_core.store._values import from_us, to_us


if TYPE_CHECKING:
    from collections.abc import Sequence

    from connector_core.models import AIDateRange
    from connector_core.store._driver import Dialect, Session


__all__ = [
    "USAGE_ACTIONS",
    "USAGE_DAYS",
    "USAGE_HOURS",
    "USAGE_MODELS",
    "UsageRows",
    "partial_sums",
    "read_accounts",
    "read_usage",
    "usage_figures",
]


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


def partial_sums(
    connection: str, rows: Sequence[tuple[Any, ...]]
) -> tuple[tuple[Bulk, list[tuple[Any, ...]]], ...]:
    """What the new events *rows* add to each table of partial sums, sorted.

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
    return (
        (USAGE_DAYS, [(*k, connection, *v) for k, v in sorted(days.items())]),
        (USAGE_HOURS, [(*k, connection, v) for k, v in sorted(hours.items())]),
        (USAGE_ACTIONS, [(*k, connection, v) for k, v in sorted(actions.items())]),
        (USAGE_MODELS, [(*k, connection, *v) for k, v in sorted(models.items())]),
    )


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


@attrs.frozen
class UsageRows:
    """What a period's two queries return, read in one snapshot; turned into
    figures after the snapshot ends, so it is held only for the queries.

    Attributes:
        users: Every active user's row, the most events first.
        days: Each day's row.
        top: The top users, with their emails.
        activity: The peak hours, actions and models, by tag.
    """

    users: list[tuple[Any, ...]]
    days: list[tuple[Any, ...]]
    top: list[TopUserMetric]
    activity: dict[str, list[tuple[Any, ...]]]


_ACCOUNTS: Final = (
    # Each account's lowest email: the whole days' from the partial sums,
    # the rest's from the events (count_people keeps the lowest of both).
    "SELECT platform, user_id, MIN(low_email) FROM usage_days"
    " WHERE day >= ? AND day <= ?{scope} GROUP BY platform, user_id"
    " UNION ALL"
    " SELECT platform, user_id, MIN(user_email) FROM events"
    " WHERE ((ts_us >= ? AND ts_us <= ?) OR (ts_us >= ? AND ts_us <= ?)){scope}"
    " GROUP BY platform, user_id"
)


def read_accounts(
    session: Session, dialect: Dialect, span: _Span, *, connections: Sequence[str]
) -> list[tuple[str, str, str | None]]:
    """Every account (platform, user id, lowest email) with an event in
    *span*, of the *connections* alone when given; an account may come
    twice."""
    scope = tuple(connections)
    templates = {
        "scope": f" AND connection IN ({', '.join('?' * len(scope))})" if scope else ""
    }
    rows = session.query(
        dialect.sql(_ACCOUNTS.format_map(templates)),
        (*span.whole_days, *scope, *span.day_ends, *scope),
    )
    return [(platform, user_id, email) for platform, user_id, email in rows]


def read_usage(
    session: Session,
    dialect: Dialect,
    span: _Span,
    *,
    platform: str,
    connection: str | None,
    top_users: int,
) -> UsageRows:
    """The rows of *span*'s analytics: two queries (:data:`_USERS_AND_DAYS`,
    :data:`_ACTIVITY`), to run in one snapshot, so the figures agree even
    while a sync writes."""
    scope = (platform,) if connection is None else (platform, connection)
    templates = {"scope": "" if connection is None else " AND connection = ?"}
    parts = _tagged(
        session.query(
            dialect.sql(_USERS_AND_DAYS.format_map(templates)),
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
            email=_first_email(
                session,
                dialect,
                (user_id, *scope),
                span,
                bounds=(low, high),
                email_day=email_day,
            ),
            event_count=int(count),
            last_activity=from_us(int(last_us)),
        )
        for user_id, count, last_us, low, high, email_day, *_ in users[:top_users]
    ]
    activity = _tagged(
        session.query(
            dialect.sql(_ACTIVITY.format_map(templates)),
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
    return UsageRows(users=users, days=parts["day"], top=top, activity=activity)


def usage_figures(
    rows: UsageRows, period: AIDateRange, *, platform: str
) -> UsageAnalytics:
    """The analytics of *period* from its :func:`read_usage` *rows*."""
    users, activity = rows.users, rows.activity
    peaks = {day: hour for day, hour, _ in activity["peak"]}
    active = int(users[0][7]) if users else 0
    return UsageAnalytics(
        platform=platform,
        period=period,
        total_users=active,
        active_users=active,
        total_events=int(users[0][6]) if users else 0,
        top_users=tuple(rows.top),
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
            for day, day_events, day_users, *_ in sorted(rows.days)
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
    session: Session,
    dialect: Dialect,
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
        dialect.sql(statement),
        (
            *user,
            max(span.start, day_start),
            min(span.end, day_start + _DAY_US - 1),
        ),
    )
    return cast("str", rows[0][0])
