"""Over 800 lines: generation, aggregation and paging share the columns and window.

The Admin API's usage and costs endpoints, served from generated API traffic.

Connectors turn ``/organization/usage/completions`` and ``/organization/costs``
into "who spends what on which model"; to test that end to end the sandbox
needs traffic whose ground truth is known. :class:`UsageData` generates it
from the organization's seed: people work on weekdays during office hours,
busy people (a high :attr:`User.weight`) send more, and service accounts run
their jobs around the clock. Costs are derived from the same token counts
through :data:`PRICES`, so a test can check one endpoint against the other.

Usage is kept as minute-stamped records in columns (one ``array`` per field),
sorted by time: a query finds its time range by bisection and aggregates
only the records in it, so ``1m``, ``1h`` and ``1d`` buckets all come from
the same store and always add up to the same totals.
"""

from __future__ import annotations

import base64
import binascii
import random
import struct
from array import array
from bisect import bisect_left
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import attrs
from aiohttp import web

from aiaudit_chatgpt.sandbox._web import (
    ApiError,
    json_response,
    parse_bool,
    parse_int,
    require_key,
)
from aiaudit_chatgpt.sandbox.org import MODELS


if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from multidict import MultiMapping

    from aiaudit_chatgpt.sandbox._web import SandboxKeys
    from aiaudit_chatgpt.sandbox.faults import FaultInjector
    from aiaudit_chatgpt.sandbox.org import Organization, User


__all__ = [
    "BATCH_FACTOR",
    "COMPLETIONS_GROUP_BY",
    "COSTS_GROUP_BY",
    "LINE_ITEM_PRICES",
    "PRICES",
    "SERVICE_TIERS",
    "TIER_FACTORS",
    "UsageData",
    "line_item",
    "usage_routes",
]

DAY: Final = 86_400
HOUR: Final = 3_600
MINUTE: Final = 60

SERVICE_TIERS: Final = ("default", "flex", "priority")
"""The ``service_tier`` values the generated traffic uses."""

PRICES: Final[Mapping[str, tuple[float, float, float]]] = MappingProxyType(
    {
        # USD per million tokens: uncached input, cached input, output.
        "gpt-4o": (2.50, 1.25, 10.00),
        "gpt-4o-mini": (0.15, 0.075, 0.60),
        "gpt-4.1": (2.00, 0.50, 8.00),
        "o3": (2.00, 0.50, 8.00),
        "gpt-5": (1.25, 0.125, 10.00),
    }
)
"""The sandbox's price list; costs are token counts times these prices."""

BATCH_FACTOR: Final = 0.5
"""Batch jobs cost half, as on the real price list."""

TIER_FACTORS: Final[Mapping[str, float]] = MappingProxyType(
    {"default": 1.0, "flex": 0.5, "priority": 2.0}
)
"""Price multipliers of the service tiers (batch traffic is always ``default``)."""

TOKEN_KINDS: Final = ("input", "cached input", "output")

COMPLETIONS_GROUP_BY: Final = (
    "project_id",
    "user_id",
    "api_key_id",
    "model",
    "batch",
    "service_tier",
)
"""The completions dimensions, in the order results are keyed and sorted."""

COSTS_GROUP_BY: Final = ("project_id", "line_item", "api_key_id")
"""The costs dimensions, in the order results are keyed and sorted."""

# bucket_width -> (seconds, default limit, maximum limit), from the spec.
USAGE_WIDTHS: Final[Mapping[str, tuple[int, int, int]]] = MappingProxyType(
    {"1m": (MINUTE, 60, 1440), "1h": (HOUR, 24, 168), "1d": (DAY, 7, 31)}
)
COSTS_WIDTHS: Final[Mapping[str, tuple[int, int, int]]] = MappingProxyType(
    {"1d": (DAY, 7, 180)}
)

# Office hours (UTC) and how busy each one is: a morning and an afternoon peak.
_WORK_HOURS: Final = tuple(range(7, 19))
_HOUR_WEIGHTS: Final = (2, 5, 8, 9, 8, 4, 6, 8, 8, 6, 4, 2)
_SATURDAY: Final = 5
_WEEKEND_FACTOR: Final = 0.12  # how likely a person works on a weekend day
_WEEKEND_SKIP: Final = 0.3  # how often a scheduled job is paused at weekends
_USER_BATCH_SHARE: Final = 0.03  # people rarely submit batch jobs
_SERVICE_BATCH_SHARE: Final = 0.5  # half the service accounts run batches
_USUAL_TIER_SHARE: Final = 0.8  # how often a person uses their usual tier
_LAST_SECOND: Final = 253_402_300_799  # 9999-12-31T23:59:59Z; page tokens are int64
_PAGE_PREFIX: Final = "page_"
_PAGE_STRUCT: Final = struct.Struct(">qq")


def line_item(model: str, kind: str, *, batch: bool, service_tier: str) -> str:
    """The costs line item a kind of token is billed under.

    Each line item has one price per token (:data:`LINE_ITEM_PRICES`), so
    ``amount == quantity * price`` holds for every line item a query returns.
    """
    if batch:
        return f"{model}, {kind} (batch)"
    if service_tier != "default":
        return f"{model}, {kind} ({service_tier})"
    return f"{model}, {kind}"


def _unit_price(model: str, kind: str, *, batch: bool, service_tier: str) -> float:
    per_million = PRICES[model][TOKEN_KINDS.index(kind)]
    factor = BATCH_FACTOR if batch else TIER_FACTORS[service_tier]
    return per_million * factor / 1_000_000


def _all_line_items() -> dict[str, float]:
    prices: dict[str, float] = {}
    for model in MODELS:
        for kind in TOKEN_KINDS:
            for batch, tiers in ((True, ("default",)), (False, SERVICE_TIERS)):
                for tier in tiers:
                    name = line_item(model, kind, batch=batch, service_tier=tier)
                    prices[name] = _unit_price(
                        model, kind, batch=batch, service_tier=tier
                    )
    return prices


LINE_ITEM_PRICES: Final[Mapping[str, float]] = MappingProxyType(_all_line_items())
"""USD per token of every line item the costs endpoint can return."""


# -- generation -----------------------------------------------------------


@attrs.frozen
class _Profile:
    """How one person uses the API: where, with what, and how much."""

    projects: tuple[int, ...]
    project_weights: tuple[float, ...]
    models: tuple[int, ...]
    model_weights: tuple[float, ...]
    tier: int


@attrs.frozen
class _Columns:
    """Usage records, one array per field, sorted by ``ts``.

    ``user`` is -1 for service-account traffic; the other dimensions are
    indices into :class:`UsageData`'s id tables.
    """

    ts: array[int] = attrs.field(factory=lambda: array("q"))
    project: array[int] = attrs.field(factory=lambda: array("q"))
    user: array[int] = attrs.field(factory=lambda: array("q"))
    key: array[int] = attrs.field(factory=lambda: array("q"))
    model: array[int] = attrs.field(factory=lambda: array("q"))
    batch: array[int] = attrs.field(factory=lambda: array("q"))
    tier: array[int] = attrs.field(factory=lambda: array("q"))
    input: array[int] = attrs.field(factory=lambda: array("q"))
    output: array[int] = attrs.field(factory=lambda: array("q"))
    cached: array[int] = attrs.field(factory=lambda: array("q"))
    requests: array[int] = attrs.field(factory=lambda: array("q"))

    def append(self, row: tuple[int, ...]) -> None:
        for column, value in zip(self._all(), row, strict=True):
            column.append(value)

    def _all(self) -> tuple[array[int], ...]:
        return (
            self.ts,
            self.project,
            self.user,
            self.key,
            self.model,
            self.batch,
            self.tier,
            self.input,
            self.output,
            self.cached,
            self.requests,
        )

    def rows(self, lo: int, hi: int) -> Iterator[tuple[int, ...]]:
        """Records ``lo:hi`` as ``(ts, project, user, key, model, batch, tier,
        input, output, cached, requests)``."""
        return zip(*(column[lo:hi] for column in self._all()), strict=True)


@attrs.frozen
class _CostColumns:
    """Daily cost rows per (project, key, line item), sorted by ``ts``."""

    ts: array[int] = attrs.field(factory=lambda: array("q"))
    project: array[int] = attrs.field(factory=lambda: array("q"))
    key: array[int] = attrs.field(factory=lambda: array("q"))
    item: array[int] = attrs.field(factory=lambda: array("q"))
    quantity: array[int] = attrs.field(factory=lambda: array("q"))
    amount: array[float] = attrs.field(factory=lambda: array("d"))

    def rows(self, lo: int, hi: int) -> Iterator[tuple[Any, ...]]:
        """Rows ``lo:hi`` as ``(ts, project, key, item, quantity, amount)``."""
        columns = (self.ts, self.project, self.key, self.item, self.quantity)
        return zip(*(c[lo:hi] for c in columns), self.amount[lo:hi], strict=True)


def _profile(rng: random.Random, org: Organization, user: User) -> _Profile:
    count = min(len(org.projects), rng.choice((1, 1, 2, 3)))
    projects = tuple(rng.sample(range(len(org.projects)), count))
    models = tuple(rng.sample(range(len(MODELS)), rng.randint(1, 3)))
    return _Profile(
        projects=projects,
        project_weights=tuple(1.0 / (n + 1) ** 1.5 for n in range(len(projects))),
        models=models,
        model_weights=tuple(1.0 / (n + 1) for n in range(len(models))),
        tier=rng.choices((0, 1, 2), (0.85, 0.10, 0.05))[0],
    )


def _tokens(
    rng: random.Random, requests: int, per_input: tuple[int, int], per_output: int
) -> tuple[int, int, int]:
    input_tokens = requests * rng.randint(*per_input)
    output_tokens = requests * rng.randint(per_output // 4, per_output)
    cached = int(input_tokens * rng.choice((0.0, 0.0, 0.1, 0.25, 0.5)))
    return input_tokens, output_tokens, cached


def _user_rows(
    rng: random.Random,
    day: int,
    weekday: bool,
    user: User,
    profile: _Profile,
) -> Iterator[tuple[int, ...]]:
    active = (0.2 + 0.7 * user.weight) * (1.0 if weekday else _WEEKEND_FACTOR)
    if rng.random() >= active:
        return
    for _ in range(1 + int(rng.random() * 3 * user.weight + 0.3)):
        hour = rng.choices(_WORK_HOURS, _HOUR_WEIGHTS)[0]
        ts = day + hour * HOUR + rng.randrange(60) * MINUTE
        project = rng.choices(profile.projects, profile.project_weights)[0]
        model = rng.choices(profile.models, profile.model_weights)[0]
        batch = rng.random() < _USER_BATCH_SHARE
        usual = rng.random() < _USUAL_TIER_SHARE
        tier = profile.tier if usual and not batch else 0
        requests = rng.randint(1, 4 + int(30 * user.weight)) * (40 if batch else 1)
        tokens = _tokens(rng, requests, (150, 2500), 700)
        yield (ts, project, user.index, user.index, model, int(batch), tier,
               *tokens, requests)  # fmt: skip


@attrs.frozen
class _Job:
    """A service account's daily job: fixed hours and minute, one model."""

    project: int
    key: int
    hours: tuple[int, ...]
    minute: int
    model: int
    batch: bool


def _jobs(org: Organization) -> list[_Job]:
    jobs = []
    for account in org.service_accounts:
        rng = random.Random(f"usage-job:{org.seed}:{account.index}")  # noqa: S311 - test data
        jobs.append(
            _Job(
                project=account.project,
                key=len(org.users) + account.index,
                hours=tuple(sorted(rng.sample(range(24), rng.randint(1, 3)))),
                minute=rng.randrange(60),
                model=rng.randrange(len(MODELS)),
                batch=rng.random() < _SERVICE_BATCH_SHARE,
            )
        )
    return jobs


def _service_rows(
    rng: random.Random, day: int, weekday: bool, jobs: Sequence[_Job]
) -> Iterator[tuple[int, ...]]:
    for job in jobs:
        for hour in job.hours:
            if not weekday and rng.random() < _WEEKEND_SKIP:
                continue
            requests = rng.randint(50, 400)
            tokens = _tokens(rng, requests, (500, 4000), 400)
            ts = day + hour * HOUR + job.minute * MINUTE
            yield (ts, job.project, -1, job.key, job.model, int(job.batch), 0,
                   *tokens, requests)  # fmt: skip


def _row_costs(row: tuple[int, ...]) -> Iterator[tuple[str, int, float]]:
    """The (line item, tokens, USD) one usage record is billed as."""
    _, _, _, _, model_ix, batch_flag, tier_ix, input_tokens, output, cached, _ = row
    model, batch, tier = MODELS[model_ix], bool(batch_flag), SERVICE_TIERS[tier_ix]
    for kind, quantity in (
        ("input", input_tokens - cached),
        ("cached input", cached),
        ("output", output),
    ):
        if quantity:
            name = line_item(model, kind, batch=batch, service_tier=tier)
            yield name, quantity, quantity * LINE_ITEM_PRICES[name]


# -- queries --------------------------------------------------------------


@attrs.frozen
class _Window:
    """One page of buckets and the query range it answers.

    Buckets sit on the UTC grid of their width (midnight for ``1d``, as in
    the real API's examples); records count only inside [start, end).
    """

    width: int
    start: int
    end: int
    first: int
    stop: int
    grid_end: int

    @property
    def has_more(self) -> bool:
        return self.stop < self.grid_end

    def bucket_starts(self) -> range:
        return range(self.first, self.stop, self.width)


@attrs.frozen
class _Filter:
    """Index sets to keep (``None``: no filter on that dimension)."""

    projects: frozenset[int] | None = None
    users: frozenset[int] | None = None
    keys: frozenset[int] | None = None
    models: frozenset[int] | None = None
    batch: bool | None = None


@attrs.define(eq=False)
class UsageData:
    """Generated API usage and costs of one organization.

    Attributes:
        start: First second of the data (the organization's start).
        end: End of the data, exclusive; a query without ``end_time`` ends here.
        project_ids: Project ids by index.
        user_ids: User ids by index.
        key_ids: API key ids by index: the users' keys, then the service
            accounts'.
    """

    start: int
    end: int
    project_ids: tuple[str, ...]
    user_ids: tuple[str, ...]
    key_ids: tuple[str, ...]
    line_items: tuple[str, ...]
    _usage: _Columns
    _costs: _CostColumns
    _last_used: dict[int, int]

    @classmethod
    def generate(cls, org: Organization) -> UsageData:
        """The organization's usage over ``[org.start, org.end)``, from its seed."""
        rng = random.Random(f"usage:{org.seed}")  # noqa: S311 - test data
        profiles = [_profile(rng, org, user) for user in org.users]
        jobs = _jobs(org)
        start, end = int(org.start.timestamp()), int(org.end.timestamp())
        line_items = tuple(LINE_ITEM_PRICES)
        item_index = {name: ix for ix, name in enumerate(line_items)}
        usage, costs = _Columns(), _CostColumns()
        last_used: dict[int, int] = {}
        for day in range(start - start % DAY, end, DAY):
            weekday = datetime.fromtimestamp(day, UTC).weekday() < _SATURDAY
            rows = [
                row
                for user, profile in zip(org.users, profiles, strict=True)
                for row in _user_rows(rng, day, weekday, user, profile)
            ]
            rows.extend(_service_rows(rng, day, weekday, jobs))
            rows = sorted(row for row in rows if start <= row[0] < end)
            daily: dict[tuple[int, int, int], list[Any]] = {}
            for row in rows:
                usage.append(row)
                last_used[row[3]] = max(last_used.get(row[3], 0), row[0])
                for name, quantity, amount in _row_costs(row):
                    cell = daily.setdefault(
                        (row[1], row[3], item_index[name]), [0, 0.0]
                    )
                    cell[0] += quantity
                    cell[1] += amount
            for (project, key, item), (quantity, amount) in sorted(daily.items()):
                for column, value in zip(
                    (costs.ts, costs.project, costs.key, costs.item, costs.quantity),
                    (day, project, key, item, quantity),
                    strict=True,
                ):
                    column.append(value)
                costs.amount.append(amount)
        return cls(
            start=start,
            end=end,
            project_ids=tuple(p.id for p in org.projects),
            user_ids=tuple(u.id for u in org.users),
            key_ids=(
                *(u.key_id for u in org.users),
                *(s.key_id for s in org.service_accounts),
            ),
            line_items=line_items,
            usage=usage,
            costs=costs,
            last_used=last_used,
        )

    # -- the open day -----------------------------------------------------

    def revise_open_day(self, requests: int = 5) -> None:
        """The last day of the history goes on: its buckets grow.

        A real report's current day keeps growing until midnight, so a
        connector must read it again and replace what it stored. Here the
        newest *requests* records are sent again at the last recorded
        minute of that day (same project, key, model and tier, each one
        request of fixed size); the day's cost rows are recomputed from its
        records, so both endpoints and :meth:`totals` agree after it.
        """
        usage, costs = self._usage, self._costs
        last_day = (self.end - 1) - (self.end - 1) % DAY
        if not usage.ts:
            return
        ts = max(last_day, usage.ts[-1])
        picked = list(usage.rows(max(0, len(usage.ts) - requests), len(usage.ts)))
        for row in picked:
            # One request: 1200 tokens in (300 of them cached), 400 out.
            usage.append((ts, *row[1:7], 1200, 400, 300, 1))
            self._last_used[row[3]] = max(self._last_used.get(row[3], 0), ts)
        item_index = {name: ix for ix, name in enumerate(self.line_items)}
        daily: dict[tuple[int, int, int], list[Any]] = {}
        for row in usage.rows(bisect_left(usage.ts, last_day), len(usage.ts)):
            for name, quantity, amount in _row_costs(row):
                cell = daily.setdefault((row[1], row[3], item_index[name]), [0, 0.0])
                cell[0] += quantity
                cell[1] += amount
        first = bisect_left(costs.ts, last_day)
        for column in (costs.ts, costs.project, costs.key, costs.item, costs.quantity):
            del column[first:]
        del costs.amount[first:]
        for (project, key, item), (quantity, amount) in sorted(daily.items()):
            for column, value in zip(
                (costs.ts, costs.project, costs.key, costs.item, costs.quantity),
                (last_day, project, key, item, quantity),
                strict=True,
            ):
                column.append(value)
            costs.amount.append(amount)

    # -- ground truth for tests ------------------------------------------

    def totals(self, start: int, end: int) -> dict[str, int]:
        """Token and request sums over ``[start, end)``.

        Keys: ``input_tokens``, ``output_tokens``, ``input_cached_tokens`` and
        ``num_model_requests``, and the same per model as ``"<model>:<metric>"``
        (``"gpt-4o:input_tokens"``); every model is present, zero if unused.
        """
        metrics = (
            "input_tokens",
            "output_tokens",
            "input_cached_tokens",
            "num_model_requests",
        )
        sums = dict.fromkeys(metrics, 0)
        sums.update(dict.fromkeys((f"{m}:{k}" for m in MODELS for k in metrics), 0))
        lo, hi = self._usage_span(start, end)
        for row in self._usage.rows(lo, hi):
            model = MODELS[row[4]]
            for metric, value in zip(metrics, row[7:], strict=True):
                sums[metric] += value
                sums[f"{model}:{metric}"] += value
        return sums

    def cost_total(self, start: int, end: int) -> float:
        """USD of the daily cost rows whose day starts in ``[start, end)``."""
        lo = bisect_left(self._costs.ts, start)
        hi = bisect_left(self._costs.ts, end)
        return sum(self._costs.amount[lo:hi])

    def key_last_used(self, key_id: str) -> int | None:
        """When an API key last sent a request, or None if it never did."""
        try:
            return self._last_used.get(self.key_ids.index(key_id))
        except ValueError:
            return None

    # -- queries ----------------------------------------------------------

    def _usage_span(self, start: int, end: int) -> tuple[int, int]:
        return bisect_left(self._usage.ts, start), bisect_left(self._usage.ts, end)

    def completions(
        self, window: _Window, group_by: Sequence[str], keep: _Filter
    ) -> list[dict[str, Any]]:
        """The ``UsageTimeBucket`` objects of one page of completions usage."""
        dims = [COMPLETIONS_GROUP_BY.index(field) for field in group_by]
        cells: dict[tuple[int, tuple[int, ...]], list[int]] = {}
        lo, hi = self._usage_span(max(window.start, window.first), window.stop)
        hi = min(hi, bisect_left(self._usage.ts, window.end))
        for row in self._usage.rows(lo, hi):
            if not _keeps(keep, row):
                continue
            key = (
                (row[0] - window.first) // window.width,
                tuple(row[1 + d] for d in dims),
            )
            cell = cells.get(key)
            if cell is None:
                cells[key] = list(row[7:])
            else:
                for ix, value in enumerate(row[7:]):
                    cell[ix] += value
        return self._buckets(window, cells, group_by, self._completion_result)

    def costs(
        self, window: _Window, group_by: Sequence[str], keep: _Filter
    ) -> list[dict[str, Any]]:
        """The ``UsageTimeBucket`` objects of one page of costs.

        Cost rows are daily, so a bucket holds a whole day's costs even when
        the query starts or ends inside that day.
        """
        dims = [COSTS_GROUP_BY.index(field) for field in group_by]
        cells: dict[tuple[int, tuple[int, ...]], list[Any]] = {}
        lo = bisect_left(self._costs.ts, window.first)
        hi = bisect_left(self._costs.ts, window.stop)
        for ts, project, key_ix, item, quantity, amount in self._costs.rows(lo, hi):
            if (keep.projects is not None and project not in keep.projects) or (
                keep.keys is not None and key_ix not in keep.keys
            ):
                continue
            values = (project, item, key_ix)
            key = ((ts - window.first) // window.width, tuple(values[d] for d in dims))
            cell = cells.setdefault(key, [0, 0.0])
            cell[0] += quantity
            cell[1] += amount
        return self._buckets(window, cells, group_by, self._cost_result)

    def _buckets(
        self,
        window: _Window,
        cells: Mapping[tuple[int, tuple[int, ...]], Sequence[Any]],
        group_by: Sequence[str],
        render: Callable[[Mapping[str, int], Sequence[Any]], dict[str, Any]],
    ) -> list[dict[str, Any]]:
        by_bucket: dict[int, list[tuple[tuple[int, ...], Sequence[Any]]]] = {}
        for (bucket, group), values in sorted(cells.items()):
            by_bucket.setdefault(bucket, []).append((group, values))
        return [
            {
                "object": "bucket",
                "start_time": bucket_start,
                "end_time": bucket_start + window.width,
                "results": [
                    render(dict(zip(group_by, group, strict=True)), values)
                    for group, values in by_bucket.get(ix, ())
                ],
            }
            for ix, bucket_start in enumerate(window.bucket_starts())
        ]

    def _completion_result(
        self, group: Mapping[str, int], values: Sequence[int]
    ) -> dict[str, Any]:
        input_tokens, output_tokens, cached, requests = values
        user = group.get("user_id")
        batch = group.get("batch")
        tier = group.get("service_tier")
        return {
            "object": "organization.usage.completions.result",
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "input_cached_tokens": cached,
            "input_cache_write_tokens": 0,
            "input_uncached_tokens": input_tokens - cached,
            "input_text_tokens": input_tokens - cached,
            "output_text_tokens": output_tokens,
            "input_cached_text_tokens": cached,
            "input_audio_tokens": 0,
            "input_cached_audio_tokens": 0,
            "output_audio_tokens": 0,
            "input_image_tokens": 0,
            "input_cached_image_tokens": 0,
            "output_image_tokens": 0,
            "num_model_requests": requests,
            "project_id": _lookup(self.project_ids, group.get("project_id")),
            "user_id": None if user is None or user < 0 else self.user_ids[user],
            "api_key_id": _lookup(self.key_ids, group.get("api_key_id")),
            "model": _lookup(MODELS, group.get("model")),
            "batch": None if batch is None else bool(batch),
            "service_tier": _lookup(SERVICE_TIERS, tier),
        }

    def _cost_result(
        self, group: Mapping[str, int], values: Sequence[Any]
    ) -> dict[str, Any]:
        quantity, amount = values
        item = group.get("line_item")
        return {
            "object": "organization.costs.result",
            "amount": {"value": round(amount, 10), "currency": "usd"},
            "line_item": _lookup(self.line_items, item),
            "project_id": _lookup(self.project_ids, group.get("project_id")),
            "api_key_id": _lookup(self.key_ids, group.get("api_key_id")),
            "quantity": None if item is None else quantity,
            "quantity_unit": None if item is None else "tokens",
        }

    def filter_for(self, query: MultiMapping[str], *, usage: bool) -> _Filter:
        """The query's filters as index sets; unknown ids simply match nothing."""

        def indices(name: str, table: Sequence[str]) -> frozenset[int] | None:
            wanted = _list_param(query, name)
            if not wanted:
                return None
            return frozenset(ix for ix, value in enumerate(table) if value in wanted)

        projects = indices("project_ids", self.project_ids)
        keys = indices("api_key_ids", self.key_ids)
        if not usage:
            return _Filter(projects=projects, keys=keys)
        raw_batch = query.get("batch")
        return _Filter(
            projects=projects,
            users=indices("user_ids", self.user_ids),
            keys=keys,
            models=indices("models", MODELS),
            batch=None if raw_batch in {None, ""} else parse_bool(query, "batch"),
        )


def _lookup(table: Sequence[str], index: int | None) -> str | None:
    return None if index is None else table[index]


def _keeps(keep: _Filter, row: tuple[int, ...]) -> bool:
    return not (
        (keep.projects is not None and row[1] not in keep.projects)
        or (keep.users is not None and row[2] not in keep.users)
        or (keep.keys is not None and row[3] not in keep.keys)
        or (keep.models is not None and row[4] not in keep.models)
        or (keep.batch is not None and bool(row[5]) != keep.batch)
    )


# -- request parsing ------------------------------------------------------


def _list_param(query: MultiMapping[str], name: str) -> list[str]:
    """An array parameter in any of its wire forms.

    The SDK repeats ``name[]=a&name[]=b``; other clients repeat ``name=a`` or
    send one comma-joined ``name=a,b``. All of them mean the same list.
    """
    values: list[str] = []
    for raw in (*query.getall(f"{name}[]", ()), *query.getall(name, ())):
        for part in raw.split(","):
            value = part.strip()
            if value and value not in values:
                values.append(value)
    return values


def _group_by(query: MultiMapping[str], allowed: Sequence[str]) -> list[str]:
    """The ``group_by`` fields in canonical order, or a 400 for an unknown one."""
    fields = _list_param(query, "group_by")
    for field in fields:
        if field not in allowed:
            raise ApiError(
                400,
                f"Invalid value for 'group_by': '{field}'. Supported values are: "
                f"{', '.join(allowed)}.",
                param="group_by",
                code="invalid_value",
            )
    return [field for field in allowed if field in fields]


def _encode_page(next_start: int, start_time: int) -> str:
    packed = _PAGE_STRUCT.pack(next_start, start_time)
    return _PAGE_PREFIX + base64.urlsafe_b64encode(packed).decode()


def _decode_page(token: str) -> int:
    """The bucket start a ``next_page`` token points at, or a 400."""
    bad = ApiError(400, f"Invalid page token: '{token}'.", param="page")
    if not token.startswith(_PAGE_PREFIX):
        raise bad
    try:
        packed = base64.b64decode(
            token[len(_PAGE_PREFIX) :], altchars=b"-_", validate=True
        )
    except (binascii.Error, ValueError):
        raise bad from None
    if len(packed) != _PAGE_STRUCT.size:
        raise bad
    next_start, _ = _PAGE_STRUCT.unpack(packed)
    return int(next_start)


def _window(
    query: MultiMapping[str],
    widths: Mapping[str, tuple[int, int, int]],
    default_end: int,
) -> _Window:
    """Parse the time range, bucket width, limit and page of a request."""
    start = parse_int(query, "start_time", minimum=0, maximum=_LAST_SECOND)
    if start is None:
        raise ApiError(
            400,
            "Missing required parameter: 'start_time'.",
            param="start_time",
            code="missing_required_parameter",
        )
    end = parse_int(query, "end_time", minimum=0, maximum=_LAST_SECOND)
    if end is not None and end <= start:
        raise ApiError(
            400, "'end_time' must be greater than 'start_time'.", param="end_time"
        )
    name = query.get("bucket_width") or "1d"
    if name not in widths:
        raise ApiError(
            400,
            f"Invalid value for 'bucket_width': '{name}'. Supported values are: "
            f"{', '.join(widths)}.",
            param="bucket_width",
            code="invalid_value",
        )
    width, default_limit, max_limit = widths[name]
    limit = parse_int(query, "limit", minimum=1, maximum=max_limit) or default_limit
    if end is None:
        # The sandbox's present is the end of its history.
        end = max(default_end, start)
    grid_end = -(-end // width) * width
    first = start - start % width
    token = query.get("page")
    if token:
        first = _decode_page(token)
        if first % width or not start - start % width <= first < grid_end:
            raise ApiError(
                400,
                f"Invalid page token: '{token}' does not fit this query.",
                param="page",
            )
    return _Window(
        width=width,
        start=start,
        end=end,
        first=first,
        stop=min(first + limit * width, grid_end),
        grid_end=grid_end,
    )


def _page(
    window: _Window, buckets: list[dict[str, Any]], *, stuck: str | None = None
) -> dict[str, Any]:
    """The page envelope; *stuck* is the cursor a stuck page hands back (the
    one it was asked with), with ``has_more`` true whatever the data."""
    after = _encode_page(window.stop, window.start) if window.has_more else None
    return {
        "object": "page",
        "data": buckets,
        "has_more": window.has_more or stuck is not None,
        "next_page": after if stuck is None else stuck,
    }


def _stuck_cursor(
    faults: FaultInjector | None, request: web.Request, window: _Window
) -> str | None:
    """The cursor of a stuck page (``stuck_cursor`` profile): the one asked
    with, or this page's own first bucket's on a first page, so the next
    request asks this page again."""
    if faults is None or not faults.stuck(request):
        return None
    return request.query.get("page") or _encode_page(window.first, window.start)


def usage_routes(
    data: UsageData, keys: SandboxKeys, faults: FaultInjector | None = None
) -> list[web.RouteDef]:
    """The completions usage and costs endpoints over *data*.

    Both need the ``api.usage.read`` permission: the restricted admin key is
    refused with 403, as a key without it would be.
    """
    allowed = frozenset({keys.admin})
    forbidden = frozenset({keys.admin_no_audit})

    async def completions(request: web.Request) -> web.Response:
        require_key(
            request, allowed=allowed, forbidden=forbidden, permission="api.usage.read"
        )
        query = request.query
        window = _window(query, USAGE_WIDTHS, data.end)
        group_by = _group_by(query, COMPLETIONS_GROUP_BY)
        keep = data.filter_for(query, usage=True)
        stuck = _stuck_cursor(faults, request, window)
        buckets = data.completions(window, group_by, keep)
        return json_response(_page(window, buckets, stuck=stuck))

    async def costs(request: web.Request) -> web.Response:
        require_key(
            request, allowed=allowed, forbidden=forbidden, permission="api.usage.read"
        )
        query = request.query
        window = _window(query, COSTS_WIDTHS, data.end)
        group_by = _group_by(query, COSTS_GROUP_BY)
        keep = data.filter_for(query, usage=False)
        stuck = _stuck_cursor(faults, request, window)
        return json_response(
            _page(window, data.costs(window, group_by, keep), stuck=stuck)
        )

    return [
        web.get("/v1/organization/usage/completions", completions),
        web.get("/v1/organization/costs", costs),
    ]
