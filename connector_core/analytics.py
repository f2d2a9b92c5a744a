"""Usage analytics computed from normalized logs, one log at a time.

Every connector gets analytics for free from this accumulator (the core
default of ``get_usage_analytics`` streams logs through it), and the stores
compute the same figures in SQL; both follow the definitions here, which
``docs/analytics.md`` states in prose:

* ``total_events``: the number of logs.
* ``active_users``: distinct ``user_id`` values with at least one log.
* ``total_users``: the same, unless the platform lists its directory: then
  the members not removed together with the active users, each ``user_id``
  once (:func:`~connector_core.directory.directory_total`), never fewer
  than ``active_users``.
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

Two views read the neutral app and feature keys of
:mod:`connector_core.metadata_keys` instead of counting events:
:class:`AppGrants`, the third-party apps people granted access to their
accounts (the security view), and :class:`FeaturesUsed`, the AI features
used inside other products.
"""

from __future__ import annotations

import string
from collections import Counter
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import attrs

from connector_core.directory import directory_total
from connector_core.metadata_keys import (
    APP_ACCESS,
    APP_ID,
    APP_IS_AI,
    APP_NAME,
    APP_REACHES,
    APP_SCOPES,
    FEATURE,
    FEATURE_APP,
)
from connector_core.models import (
    AIDateRange,
    DailyActivityMetric,
    ModelUsageMetric,
    TopUserMetric,
    UsageAnalytics,
)


if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from connector_core.directory import DirectoryMember
    from connector_core.models import AIAuditLog, ModelUsageRecord


__all__ = [
    "COST_UNIT",
    "SUMMED_CURRENCY",
    "TOP_USERS",
    "AppGrant",
    "AppGrants",
    "AppGrantsAccumulator",
    "FeatureUse",
    "FeaturesAccumulator",
    "FeaturesUsed",
    "PlatformsUsage",
    "UsageAccumulator",
    "cost_units",
    "count_people",
    "model_usage_of",
    "person_of",
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
        directory: Iterable[DirectoryMember] | None = None,
    ) -> UsageAnalytics:
        """The analytics so far.

        :param total_users: The platform's directory size, when known and
            no *directory* is given; by default the number of active users.
        :param directory: The platform's directory members, when it lists
            them: ``total_users`` is then those not removed together with
            the active users, each once.
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
        if directory is not None:
            total_users = directory_total(self._users, directory)
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


# --------------------------------------------------------------------------
# Third-party apps granted access, and AI features used inside other products
# --------------------------------------------------------------------------
#
# Both read only the neutral metadata keys of connector_core.metadata_keys,
# so any platform whose normalizer fills them is covered, and neither
# depends on the order logs come in: a store reads them in time order, a
# connector's default may not.

_GRANTED = "granted"
_REVOKED = "revoked"


def person_of(log: AIAuditLog) -> str:
    """Who *log*'s actor is, as the two views below count people: their
    email, A to Z folded (as :func:`count_people` and the stores match
    emails), or their user id when the log has no email."""
    email = log.user_email
    return log.user_id if not email else email.translate(_ASCII_LOWER)


@attrs.frozen(kw_only=True)
class AppGrant:
    """One third-party app with access to people's accounts on a platform.

    Attributes:
        platform: The platform the grants were made on.
        app_id: The app's id (``metadata["app_id"]``), when the logs give
            one; the app is told apart by it, whatever its name.
        name: The app's name in its latest log that names it; ``""`` when
            none does.
        is_ai: Some log of it says the plugin recognises it as an AI app.
        reaches: The kinds of data its grants reach, every log's
            ``app_reaches`` together, sorted.
        scopes: Its scopes, every log's together, sorted.
        granted_to: The people it holds a grant of now: their latest
            ``granted`` or ``revoked`` log for it in the period is a grant.
            Each is an email, A to Z folded, or a user id without one.
        revoked_by: The people whose latest such log is a revoke.
        first_granted, last_granted: Its first and last grant in the period;
            ``None`` when it has only revokes there.
        events: Its logs in the period (grants, revokes and any other).
    """

    platform: str
    app_id: str | None
    name: str
    is_ai: bool
    reaches: tuple[str, ...]
    scopes: tuple[str, ...]
    granted_to: tuple[str, ...]
    revoked_by: tuple[str, ...]
    first_granted: datetime | None
    last_granted: datetime | None
    events: int

    @property
    def rank(self) -> int:
        """Where it comes in the security view: 0 an AI app reaching
        data, 1 another AI app, 2 another app reaching data, 3 the rest."""
        return (0 if self.is_ai else 2) + (0 if self.reaches else 1)


@attrs.frozen(kw_only=True)
class AppGrants:
    """The third-party apps granted access in a period (see
    ``docs/analytics.md``): AI apps reaching data first, then AI apps,
    then other apps reaching data, then the rest (:attr:`AppGrant.rank`);
    within each, the most people holding a grant now first, then by name,
    platform and id."""

    period: AIDateRange
    apps: tuple[AppGrant, ...] = ()


@attrs.frozen(kw_only=True)
class FeatureUse:
    """Uses of one AI feature built into a product, on one platform.

    Attributes:
        platform: The platform.
        app: Where it was used (``metadata["feature_app"]``); ``None`` when
            the logs do not say.
        feature: Which feature (``metadata["feature"]``).
        uses: Logs of it.
        people: Distinct people with one (see :func:`person_of`).
    """

    platform: str
    app: str | None
    feature: str
    uses: int
    people: int


@attrs.frozen(kw_only=True)
class FeaturesUsed:
    """The AI features used in a period: the most used first, then by
    platform, product and feature."""

    period: AIDateRange
    features: tuple[FeatureUse, ...] = ()


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _texts(value: object) -> tuple[str, ...]:
    """A list of strings from metadata, its other members left out; one
    string stands for a list of itself."""
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list | tuple):
        return tuple(item for item in value if isinstance(item, str) and item)
    return ()


@attrs.define
class _App:
    app_id: str | None
    name: str = ""
    name_at: tuple[datetime, str] | None = None
    is_ai: bool = False
    reaches: set[str] = attrs.Factory(set)
    scopes: set[str] = attrs.Factory(set)
    # person -> (time, id) of their latest grant or revoke, and which.
    latest: dict[str, tuple[tuple[datetime, str], bool]] = attrs.Factory(dict)
    first: datetime | None = None
    last: datetime | None = None
    events: int = 0


@attrs.define
class AppGrantsAccumulator:
    """Fold logs into :class:`AppGrants`, in any order.

    Call :meth:`add` for every log of the period (a log without
    ``app_access`` is ignored), then :meth:`result`.
    """

    period: AIDateRange
    _apps: dict[tuple[str, str, str], _App] = attrs.Factory(dict)

    def add(self, log: AIAuditLog) -> None:
        """Count *log* when it grants or revokes an app, or is otherwise
        about one (``app_access`` present with another value: counted as an
        event of the app, changing no grant)."""
        metadata = log.metadata
        if APP_ACCESS not in metadata:
            return
        app_id, name = _text(metadata.get(APP_ID)), _text(metadata.get(APP_NAME))
        key = (
            (log.platform, "id", app_id)
            if app_id
            else (log.platform, "name", name or "")
        )
        app = self._apps.get(key)
        if app is None:
            app = self._apps[key] = _App(app_id=app_id)
        app.events += 1
        moment = (log.timestamp, log.id)
        if name is not None and (app.name_at is None or moment >= app.name_at):
            app.name, app.name_at = name, moment
        app.is_ai = app.is_ai or metadata.get(APP_IS_AI) is True
        app.reaches.update(_texts(metadata.get(APP_REACHES)))
        app.scopes.update(_texts(metadata.get(APP_SCOPES)))
        access = metadata[APP_ACCESS]
        if access not in (_GRANTED, _REVOKED):
            return
        granted = access == _GRANTED
        if granted:
            if app.first is None or log.timestamp < app.first:
                app.first = log.timestamp
            if app.last is None or log.timestamp > app.last:
                app.last = log.timestamp
        person = person_of(log)
        known = app.latest.get(person)
        if known is None or moment >= known[0]:
            app.latest[person] = (moment, granted)

    def result(self) -> AppGrants:
        """The apps so far, in the order :class:`AppGrants` states."""
        grants = [
            AppGrant(
                platform=platform,
                app_id=app.app_id,
                name=app.name,
                is_ai=app.is_ai,
                reaches=tuple(sorted(app.reaches)),
                scopes=tuple(sorted(app.scopes)),
                granted_to=tuple(sorted(p for p, (_, g) in app.latest.items() if g)),
                revoked_by=tuple(
                    sorted(p for p, (_, g) in app.latest.items() if not g)
                ),
                first_granted=app.first,
                last_granted=app.last,
                events=app.events,
            )
            for (platform, _, _), app in self._apps.items()
        ]
        grants.sort(
            key=lambda g: (
                g.rank,
                -len(g.granted_to),
                g.name.casefold(),
                g.name,
                g.platform,
                g.app_id or "",
            )
        )
        return AppGrants(period=self.period, apps=tuple(grants))


@attrs.define
class FeaturesAccumulator:
    """Fold logs into :class:`FeaturesUsed`, in any order: each log with a
    ``feature`` is a use of it, in its ``feature_app``."""

    period: AIDateRange
    _uses: dict[tuple[str, str | None, str], list[Any]] = attrs.Factory(dict)

    def add(self, log: AIAuditLog) -> None:
        """Count *log* when it names a feature."""
        feature = _text(log.metadata.get(FEATURE))
        if feature is None:
            return
        key = (log.platform, _text(log.metadata.get(FEATURE_APP)), feature)
        use = self._uses.get(key)
        if use is None:
            use = self._uses[key] = [0, set()]
        use[0] += 1
        use[1].add(person_of(log))

    def result(self) -> FeaturesUsed:
        """The features so far, the most used first."""
        features = [
            FeatureUse(
                platform=platform, app=app, feature=feature, uses=uses, people=len(who)
            )
            for (platform, app, feature), (uses, who) in self._uses.items()
        ]
        features.sort(key=lambda f: (-f.uses, f.platform, f.app or "", f.feature))
        return FeaturesUsed(period=self.period, features=tuple(features))
