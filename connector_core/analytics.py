"""Usage analytics computed from normalized logs, one log at a time.

Every connector gets analytics for free from this accumulator (the core
default of ``get_usage_analytics`` streams logs through it), and the stores
compute the same figures in SQL; both follow the definitions here, which
``docs/analytics.md`` states in prose:

* ``total_events``: the number of logs.
* ``active_users``: distinct ``user_id`` values with at least one log.
* ``total_users``: the same, unless the platform knows its full directory.
* ``top_users``: by event count, descending; ties by ``user_id`` ascending,
  so two runs over the same logs give the same order.
* ``events_by_type``: logs per normalized ``action``.
* ``daily_breakdown``: per UTC calendar day, ascending; ``peak_hour`` is the
  UTC hour with the most events, the earliest on a tie.
* ``model_usage``: logs per ``metadata["model"]``, with
  ``metadata["tokens_used"]`` summed when present; by count, descending.
  When the platform's usage report was read (buckets of
  :class:`~connector_core.models.ModelUsageRecord` starting in the period),
  it comes from those instead: :func:`model_usage_of`.

Memory grows with users and days, never with the number of events.

Several platforms side by side (:class:`PlatformsUsage`) add one figure no
platform's analytics hold: ``people``, the distinct people with an event on
any of them, where an account is its email (A to Z folded, as the stores
match emails) and an account without an email is a person of its own.
"""

from __future__ import annotations

import string
from collections import Counter
from datetime import date, datetime
from typing import TYPE_CHECKING

import attrs

from connector_core.models import (
    AIDateRange,
    DailyActivityMetric,
    ModelUsageMetric,
    TopUserMetric,
    UsageAnalytics,
)


if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from connector_core.models import AIAuditLog, ModelUsageRecord


__all__ = [
    "COST_UNIT",
    "SUMMED_CURRENCY",
    "TOP_USERS",
    "PlatformsUsage",
    "UsageAccumulator",
    "cost_units",
    "count_people",
    "model_usage_of",
    "platform_cost",
    "platform_tokens",
    "side_by_side",
    "usage_metric",
]

TOP_USERS = 10
"""How many users ``top_users`` lists, as in the original plan."""

_HOURS = 24

COST_UNIT = 1_000_000_000
"""Costs are summed as whole billionths of their currency, so the sum is
exact and the same whatever the order of the buckets, here and in either
database (the stores keep each bucket's cost in that unit too)."""

SUMMED_CURRENCY = "USD"
"""The one currency ``cost_estimate`` is summed in: a bucket in another
keeps its cost in the store but adds none to the analytics, since adding
amounts of two currencies needs an exchange rate the core does not have."""


@attrs.define
class _User:
    email: str | None
    events: int = 0
    last_activity: datetime | None = None


@attrs.define
class _Day:
    events: int = 0
    users: set[str] = attrs.Factory(set)
    hours: list[int] = attrs.Factory(lambda: [0] * _HOURS)


@attrs.define
class _Model:
    uses: int = 0
    tokens: int = 0
    has_tokens: bool = False


@attrs.define
class UsageAccumulator:
    """Fold logs into :class:`~connector_core.models.UsageAnalytics`.

    Call :meth:`add` for every log of the period, then :meth:`result`.
    """

    platform: str
    period: AIDateRange
    top_users: int = TOP_USERS
    _users: dict[str, _User] = attrs.Factory(dict)
    _days: dict[date, _Day] = attrs.Factory(dict)
    _actions: Counter[str] = attrs.Factory(Counter)
    _models: dict[str, _Model] = attrs.Factory(dict)
    _events: int = 0

    def add(self, log: AIAuditLog) -> None:
        """Count one log."""
        self._events += 1
        self._actions[log.action] += 1
        user = self._users.get(log.user_id)
        if user is None:
            user = self._users[log.user_id] = _User(email=log.user_email)
        user.events += 1
        if user.email is None:
            user.email = log.user_email
        if user.last_activity is None or log.timestamp > user.last_activity:
            user.last_activity = log.timestamp
        day = self._days.get(log.timestamp.date())
        if day is None:
            day = self._days[log.timestamp.date()] = _Day()
        day.events += 1
        day.users.add(log.user_id)
        day.hours[log.timestamp.hour] += 1
        model = log.metadata.get("model")
        if isinstance(model, str) and model:
            usage = self._models.get(model)
            if usage is None:
                usage = self._models[model] = _Model()
            usage.uses += 1
            tokens = log.metadata.get("tokens_used")
            if isinstance(tokens, int) and not isinstance(tokens, bool):
                usage.tokens += tokens
                usage.has_tokens = True

    def result(
        self,
        *,
        total_users: int | None = None,
        model_usage: tuple[ModelUsageMetric, ...] | None = None,
    ) -> UsageAnalytics:
        """The analytics so far.

        :param total_users: The platform's directory size, when known; by
            default the number of active users.
        :param model_usage: Model usage from a better source (a usage API);
            by default what the logs' metadata says.
        """
        ranked = sorted(
            self._users.items(), key=lambda item: (-item[1].events, item[0])
        )
        top = tuple(
            TopUserMetric(
                user_id=user_id,
                email=user.email or "",
                event_count=user.events,
                last_activity=user.last_activity,
            )
            for user_id, user in ranked[: self.top_users]
        )
        daily = tuple(
            DailyActivityMetric(
                date=day,
                active_users=len(stats.users),
                total_events=stats.events,
                peak_hour=max(range(_HOURS), key=lambda h: (stats.hours[h], -h)),
            )
            for day, stats in sorted(self._days.items())
        )
        if model_usage is None:
            model_usage = tuple(
                ModelUsageMetric(
                    model=name,
                    usage_count=usage.uses,
                    total_tokens=usage.tokens if usage.has_tokens else None,
                )
                for name, usage in sorted(
                    self._models.items(), key=lambda item: (-item[1].uses, item[0])
                )
            )
        active = len(self._users)
        return UsageAnalytics(
            platform=self.platform,
            period=self.period,
            total_users=active if total_users is None else total_users,
            active_users=active,
            total_events=self._events,
            top_users=top,
            events_by_type=dict(sorted(self._actions.items())),
            daily_breakdown=daily,
            model_usage=model_usage,
        )


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def count_people(accounts: Iterable[tuple[str, str, str | None]]) -> int:
    """How many people the *accounts* (platform, user id, email) are.

    An account is its email, folded A to Z only (as both stores fold when
    they match an email), so one person's accounts on several platforms, or
    two ids of one platform with the same address, count once; an account
    without an email is a person of its own. An account listed several
    times with different emails is its lowest one: the same choice for
    every store, since the partial sums keep only the lowest and highest.
    """
    lowest: dict[tuple[str, str], str | None] = {}
    for platform, user_id, email in accounts:
        key = (platform, user_id)
        known = lowest.get(key)
        if key not in lowest or (
            email is not None and (known is None or email < known)
        ):
            lowest[key] = email
    return len(
        {
            key if email is None else email.translate(_ASCII_LOWER)
            for key, email in lowest.items()
        }
    )


@attrs.frozen(kw_only=True)
class PlatformsUsage:
    """Several platforms' usage over one period, side by side and combined.

    What a security team compares first: which platform is used how much, by
    how many people, at what token count and cost, and how many people use
    any of them at all (*people*: a person with accounts on two platforms
    is one, see :func:`count_people`). Each platform's own analytics stay
    whole in *platforms*, in the order given.
    """

    period: AIDateRange
    platforms: tuple[UsageAnalytics, ...]
    people: int

    @property
    def total_events(self) -> int:
        """Events on every platform."""
        return sum(a.total_events for a in self.platforms)

    @property
    def models(self) -> tuple[tuple[str, ModelUsageMetric], ...]:
        """Every platform's models, as (platform, model): the most used
        first, ties by platform then model."""
        return tuple(
            sorted(
                ((a.platform, m) for a in self.platforms for m in a.model_usage),
                key=lambda pair: (-pair[1].usage_count, pair[0], pair[1].model),
            )
        )


def uses_known(model: ModelUsageMetric) -> bool:
    """Whether *model*'s ``usage_count`` is a count of uses rather than a
    zero standing for "not reported": usage reports that give tokens and
    cost but no requests (some platforms' do not count them) leave it 0,
    which reports show as unknown, not as no use."""
    return model.usage_count > 0 or (
        model.total_tokens is None and model.cost_estimate is None
    )


def platform_tokens(analytics: UsageAnalytics) -> int | None:
    """The tokens of *analytics*' models, ``None`` when none reports any."""
    counts = [
        m.total_tokens for m in analytics.model_usage if m.total_tokens is not None
    ]
    return sum(counts) if counts else None


def platform_cost(analytics: UsageAnalytics) -> float | None:
    """The estimated cost of *analytics*' models, ``None`` when none has one."""
    costs = [
        m.cost_estimate for m in analytics.model_usage if m.cost_estimate is not None
    ]
    return sum(costs) if costs else None


def side_by_side(reports: Sequence[UsageAnalytics], people: int) -> PlatformsUsage:
    """*reports* (one per platform, one period) with the *people* among them."""
    if not reports:
        raise ValueError("side_by_side needs at least one platform's analytics")
    return PlatformsUsage(
        period=AIDateRange(
            start=min(a.period.start for a in reports),
            end=max(a.period.end for a in reports),
        ),
        platforms=tuple(reports),
        people=people,
    )


def cost_units(cost: float | None, currency: str) -> int | None:
    """A bucket's cost in :data:`COST_UNIT` units, ``None`` when it has none
    the analytics sum (see :data:`SUMMED_CURRENCY`)."""
    if cost is None or currency != SUMMED_CURRENCY:
        return None
    return round(cost * COST_UNIT)


def model_usage_of(
    records: Iterable[ModelUsageRecord],
) -> tuple[ModelUsageMetric, ...]:
    """Model usage from usage-report buckets, as the stores compute it.

    Per model: ``usage_count`` is the requests summed (a bucket that does
    not report requests adds none: requests are not events, and the two are
    never mixed in one figure); ``total_tokens`` the input and output
    tokens summed, ``None`` when no bucket reports any; ``cost_estimate``
    the USD costs summed (see :data:`SUMMED_CURRENCY`), ``None`` when no
    bucket has one. The most requests first, ties by model.
    """
    sums: dict[str, list[int | None]] = {}
    for record in records:
        row = sums.setdefault(record.model, [0, None, None])
        row[0] = (row[0] or 0) + (record.requests or 0)
        tokens = record.tokens
        if tokens is not None:
            row[1] = tokens + (row[1] or 0)
        units = cost_units(record.cost, record.currency)
        if units is not None:
            row[2] = units + (row[2] or 0)
    return tuple(
        usage_metric(model, requests or 0, tokens, units)
        for model, (requests, tokens, units) in sorted(
            sums.items(), key=lambda item: (-(item[1][0] or 0), item[0])
        )
    )


def usage_metric(
    model: str, requests: int, tokens: int | None, units: int | None
) -> ModelUsageMetric:
    """One model's figures from its sums (costs in :data:`COST_UNIT`)."""
    return ModelUsageMetric(
        model=model,
        usage_count=requests,
        total_tokens=tokens,
        cost_estimate=None if units is None else units / COST_UNIT,
    )
