"""The checks behind the suite's reading and analytics tests.

Reading is where a connector loses events without a sound, so these
checks compare what it returns with what it must return: one full read,
the pages of it, a filter of it, and the usage analytics summed from it.
A test in :mod:`connector_core.testing.suite` runs one once its premises
hold (the harness checks those) and turns the sentences it returns into
the failure message.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Final

import attrs

from connector_core.models import AIAuditLogQuery
from connector_core.testing._harness import listed


if TYPE_CHECKING:
    from connector_core.models import AIAuditLog, AIAuditLogResult, UsageAnalytics
    from connector_core.testing._harness import Harness, Reading


__all__ = [
    "analytics_problems",
    "daily_problems",
    "event_filter_problems",
    "future_window_problems",
    "log_problems",
    "naive_quarantined",
    "not_utc",
    "page_problems",
    "paging_problems",
    "read_pages",
    "read_stream",
    "stream_logs",
    "top_user_problems",
    "usage_analytics",
]

_REQUIRED_TEXT: Final = ("id", "user_id", "organization_id", "action", "native_type")


def log_problems(
    entry: AIAuditLog, platform: str, window: AIAuditLogQuery
) -> list[str]:
    """What is wrong with one normalized log, if anything."""
    problems = []
    empty = [n for n in _REQUIRED_TEXT if not str(getattr(entry, n) or "").strip()]
    if empty:
        problems.append(f"{entry.id!r}: empty {', '.join(empty)}")
    if entry.platform != platform:
        problems.append(f"{entry.id}: platform {entry.platform!r}")
    if not window.start_date <= entry.timestamp <= window.end_date:
        problems.append(
            f"{entry.id}: {entry.timestamp.isoformat()} is outside the query"
        )
    if entry.user_email is not None and "@" not in entry.user_email:
        problems.append(f"{entry.id}: user_email {entry.user_email!r}")
    return problems


def naive_quarantined(reading: Reading) -> list[str]:
    """Why each record quarantined for a timezone-naive timestamp was."""
    return [
        record.reason
        for read in reading.streams
        for batch in read.batches
        for record in batch.quarantined
        if "naive datetime" in record.reason
    ]


def not_utc(reading: Reading) -> list[str]:
    """The logs whose timestamps are not in UTC, with the timestamp."""
    return [
        f"{e.id}: {e.timestamp!r}"
        for e in reading.logs
        if e.timestamp.tzinfo is None or e.timestamp.utcoffset() != timedelta(0)
    ]


async def stream_logs(harness: Harness, query: AIAuditLogQuery) -> list[AIAuditLog]:
    async with harness.create() as connector:
        return [entry async for entry in connector.stream_ai_audit_logs(query)]


async def read_stream(
    harness: Harness, stream: str, query: AIAuditLogQuery
) -> list[AIAuditLog]:
    async with harness.create() as connector:
        return [
            entry
            async for batch in connector.read_stream(stream, None, query)
            for entry in batch.logs
        ]


def event_filter_problems(
    harness: Harness, reading: Reading, counts: Counter[str]
) -> tuple[list[str], list[str]]:
    """Filter by the rarest action, then by the commonest with another; say
    where the answers hold other actions or a stream that cannot produce
    them yielded logs, and, apart, where they miss logs of the full read
    (which only counts once the full read is known to be complete)."""
    ranked = sorted(counts, key=lambda action: (counts[action], action))
    filters = [(ranked[0],), (ranked[-1], ranked[1])]
    problems: list[str] = []
    incomplete: list[str] = []
    for actions in filters:
        query = attrs.evolve(harness.window, event_types=actions)
        got = harness.run(stream_logs(harness, query))
        others = sorted({e.action for e in got if e.action not in actions})
        if others:
            problems.append(f"asked for {list(actions)}, also got {listed(others)}")
        for read in reading.streams:
            declared = set(read.info.actions)
            if not declared or declared & set(actions):
                continue
            produced = harness.run(read_stream(harness, read.info.name, query))
            if produced:
                problems.append(
                    f"stream {read.info.name!r} cannot produce {list(actions)} "
                    f"(its actions are {sorted(declared)[:5]}...) yet yielded "
                    f"{len(produced)} log(s) for them: push event_types down, "
                    "or return before any request"
                )
        wanted = {e.id for e in reading.logs if e.action in actions}
        missing = sorted(wanted - {e.id for e in got})
        if missing:
            incomplete.append(
                f"asked for {list(actions)}, {len(missing)} of {len(wanted)} "
                f"such logs of the full read are missing: {listed(missing)}"
            )
    return problems, incomplete


def page_problems(
    pages: list[AIAuditLogResult], limit: int, full: set[str]
) -> list[str]:
    """How *pages* fail to split the logs *full* names exactly once each."""
    problems: list[str] = []
    where: dict[str, int] = {}
    repeated: list[str] = []
    for number, page in enumerate(pages, 1):
        if len(page.logs) > limit:
            problems.append(f"page {number} holds {len(page.logs)} > {limit} logs")
        for entry in page.logs:
            first = where.setdefault(entry.id, number)
            if first != number:
                repeated.append(f"{entry.id} on page {first} and page {number}")
        ids = [entry.id for entry in page.logs]
        repeated.extend(
            f"{i} twice on page {number}" for i in sorted(set(ids)) if ids.count(i) > 1
        )
    if repeated:
        problems.append(f"{len(repeated)} log(s) returned twice: {listed(repeated)}")
    missing = sorted(full - set(where))
    extra = sorted(set(where) - full)
    if missing:
        problems.append(f"{len(missing)} log(s) on no page: {listed(missing)}")
    if extra:
        problems.append(f"{len(extra)} log(s) not in a full read: {listed(extra)}")
    return problems


async def read_pages(
    harness: Harness, query: AIAuditLogQuery, total: int
) -> tuple[list[AIAuditLogResult], str | None]:
    """Every page of *query*, or the pages so far and why paging broke off."""
    assert query.limit is not None  # noqa: S101 - the caller sets it
    most = total // query.limit + 5
    pages: list[AIAuditLogResult] = []
    cursor: str | None = None
    async with harness.create() as connector:
        while True:
            page = await connector.get_ai_audit_logs(attrs.evolve(query, cursor=cursor))
            pages.append(page)
            if not page.has_more:
                return pages, None
            if not page.next_cursor:
                return pages, f"page {len(pages)} has has_more but no next_cursor"
            if len(pages) > most:
                return pages, f"paging did not end after {len(pages)} pages"
            cursor = page.next_cursor


async def paging_problems(
    harness: Harness, logs: list[AIAuditLog], limit: int
) -> list[str]:
    """How paging the window by *limit* fails to split *logs* (one full
    read) exactly, each log on one page."""
    total = len(logs)
    query = attrs.evolve(harness.window, limit=limit)
    pages, broken = await read_pages(harness, query, total)
    problems = [broken] if broken else []
    problems.extend(page_problems(pages, limit, {entry.id for entry in logs}))
    last = pages[-1]
    returned = sum(len(page.logs) for page in pages)
    if not broken and last.total_count != returned:
        problems.append(
            f"the last page's total_count is {last.total_count}, the pages "
            f"hold {returned}"
        )
    return problems


async def future_window_problems(harness: Harness) -> list[str]:
    """What a streamed read and a page of a window that has not happened
    yet return, when they return anything."""
    now = datetime.now(UTC)
    query = AIAuditLogQuery(
        start_date=now + timedelta(days=1), end_date=now + timedelta(days=2)
    )
    async with harness.create() as connector:
        streamed = [e async for e in connector.stream_ai_audit_logs(query)]
        page = await connector.get_ai_audit_logs(attrs.evolve(query, limit=50))
    problems = []
    if streamed:
        problems.append(
            f"stream_ai_audit_logs returned {len(streamed)} logs, e.g. "
            f"{streamed[0].id} at {streamed[0].timestamp.isoformat()}"
        )
    if page.logs or page.has_more:
        problems.append(
            f"get_ai_audit_logs returned {len(page.logs)} logs "
            f"(has_more={page.has_more})"
        )
    return problems


# -- analytics -----------------------------------------------------------------


async def usage_analytics(harness: Harness) -> UsageAnalytics | BaseException:
    """The analytics of the whole history, or what computing them raised."""
    async with harness.create() as connector:
        try:
            return await connector.get_usage_analytics(harness.period)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            return exc


def analytics_problems(
    platform: str, logs: list[AIAuditLog], analytics: UsageAnalytics
) -> list[str]:
    """Where the analytics' totals disagree with *logs*."""
    problems = []
    if analytics.platform != platform:
        problems.append(f"platform {analytics.platform!r}")
    if analytics.total_events != len(logs):
        problems.append(
            f"total_events is {analytics.total_events}, the logs number {len(logs)}"
        )
    actions = Counter(entry.action for entry in logs)
    if dict(analytics.events_by_type) != dict(actions):
        diff = sorted(
            f"{a}: {analytics.events_by_type.get(a, 0)} vs {actions.get(a, 0)}"
            for a in set(actions) | set(analytics.events_by_type)
            if analytics.events_by_type.get(a, 0) != actions.get(a, 0)
        )
        problems.append(f"events_by_type differs (analytics vs logs): {listed(diff)}")
    users = Counter(entry.user_id for entry in logs)
    if analytics.active_users != len(users):
        problems.append(
            f"active_users is {analytics.active_users}, the logs name {len(users)}"
        )
    if analytics.total_users < analytics.active_users:
        # Everyone who acted holds or held a seat: a directory that lists
        # fewer people counts with them, never instead of them.
        problems.append(
            f"total_users is {analytics.total_users}, fewer than the "
            f"{analytics.active_users} active users"
        )
    wrong = [
        f"{u.user_id}: {u.event_count} vs {users.get(u.user_id, 0)}"
        for u in analytics.top_users
        if u.event_count != users.get(u.user_id, 0)
    ]
    if wrong:
        problems.append(f"top users' counts differ from the logs: {listed(wrong)}")
    return problems


def top_user_problems(logs: list[AIAuditLog], analytics: UsageAnalytics) -> list[str]:
    """How the top users fail to be the heaviest users of *logs*, heaviest
    first."""
    top = analytics.top_users
    counts = [user.event_count for user in top]
    problems = []
    if logs and not top:
        problems.append("no top users, though the logs name users")
    if counts != sorted(counts, reverse=True):
        problems.append(f"event counts in the order given: {counts}")
    listed_ids = {user.user_id for user in top}
    others = Counter(e.user_id for e in logs if e.user_id not in listed_ids)
    if top and others and max(others.values()) > min(counts):
        heavier = others.most_common(1)[0]
        problems.append(
            f"{heavier[0]} ({heavier[1]} events) is left off while "
            f"{top[-1].user_id} ({top[-1].event_count}) is listed"
        )
    return problems


def daily_problems(logs: list[AIAuditLog], analytics: UsageAnalytics) -> list[str]:
    """Where the daily breakdown disagrees with the total or with each UTC
    day's logs."""
    problems = []
    summed = sum(day.total_events for day in analytics.daily_breakdown)
    if summed != analytics.total_events:
        problems.append(
            f"the days sum to {summed}, total_events is {analytics.total_events}"
        )
    per_day: dict[date, int] = defaultdict(int)
    for entry in logs:
        per_day[entry.timestamp.date()] += 1
    given = {day.date: day.total_events for day in analytics.daily_breakdown}
    if len(given) != len(analytics.daily_breakdown):
        problems.append("a day is listed twice")
    wrong = [
        f"{day.isoformat()}: {given.get(day, 0)} vs {per_day.get(day, 0)}"
        for day in sorted(set(given) | set(per_day))
        if given.get(day, 0) != per_day.get(day, 0)
    ]
    if wrong:
        problems.append(
            f"days differ from the logs (analytics vs logs): {listed(wrong)}"
        )
    return problems
