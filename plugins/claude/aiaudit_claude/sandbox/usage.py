"""The sandbox's Admin API usage and cost reports, and their ground truth.

``GET /v1/organizations/usage_report/messages`` and
``GET /v1/organizations/cost_report`` (Admin API keys only, through the
feed's gateway) as the API reference describes them:

* ``starting_at`` (required) and ``ending_at``, strict RFC 3339: the daily
  buckets that start on or after ``starting_at``'s day and end by
  ``ending_at``; every day of the history in that range is a bucket, one
  with no use an empty ``results``;
* ``bucket_width`` ``1d`` (the sandbox serves daily buckets only; the
  messages report's ``1h`` and ``1m`` are a 400 here), ``limit`` 1 to 31
  (default 7) days a page, ``page`` / ``next_page`` paging with an opaque
  token bound to its request (another request's token is a 400);
* ``group_by[]``: the messages report by ``model`` and ``workspace_id``
  (``api_key_id``, ``service_tier`` and ``context_window`` are accepted and
  always null: the sandbox's use carries none), the cost report by
  ``workspace_id`` and ``description`` (which fills in ``model``,
  ``cost_type``, ``token_type``, ``service_tier`` and ``context_window``);
  a key not grouped by is null, and its rows summed;
* the messages rows count tokens (uncached input, cache writes of both
  lifetimes, cache reads, output) and web searches, never requests; the
  cost rows' ``amount`` is a decimal string in cents.

The organization's use is generated per day, model and workspace (the
default workspace is ``null``) from the history's first day to its last,
which is open: :meth:`UsageApi.revise` makes its figures grow, as a report
read during the day does. :meth:`UsageData.expected` is the ground truth a
correct reader yields: one record per day, model and workspace, web
searches a record of their own per day and workspace.
"""

from __future__ import annotations

import base64
import random
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import attrs
import orjson
from aiohttp import web

from aiaudit_claude.sandbox.api import ApiError, dumps, query_time
from aiaudit_claude.sandbox.data import format_created, stable_id


if TYPE_CHECKING:
    from aiaudit_claude.sandbox.data import OrgData


__all__ = [
    "COST_PATH",
    "MODELS",
    "USAGE_PATH",
    "DayUse",
    "UsageApi",
    "UsageData",
]

USAGE_PATH: Final = "/v1/organizations/usage_report/messages"
COST_PATH: Final = "/v1/organizations/cost_report"
DEFAULT_PAGE: Final = 7
MAX_PAGE: Final = 31
USAGE_GROUPS: Final = frozenset(
    {"api_key_id", "workspace_id", "model", "service_tier", "context_window"}
)
COST_GROUPS: Final = frozenset({"workspace_id", "description"})

MODELS: Final = {
    # model: (its name in a description, cents per million input tokens,
    # cents per million output tokens); made-up figures of the right order.
    "claude-opus-4-7": ("Claude Opus 4.7", 500, 2500),
    "claude-sonnet-4-5": ("Claude Sonnet 4.5", 300, 1500),
    "claude-haiku-4-5": ("Claude Haiku 4.5", 100, 500),
}
CACHE_WRITE_5M: Final = Decimal("1.25")
CACHE_WRITE_1H: Final = Decimal(2)
CACHE_READ: Final = Decimal("0.1")
"""Cache prices as multiples of the input price."""

WEB_SEARCH_CENTS: Final = Decimal(1)
"""A web search's price in cents ($10 per thousand)."""

_SUMMED: Final = ("uncached_input_tokens", "cache_read_input_tokens", "output_tokens")
_CENT: Final = Decimal("0.01")
_DAY: Final = timedelta(days=1)


@attrs.frozen
class DayUse:
    """One day's use of a model in a workspace (``None``: the default)."""

    start: datetime
    model: str
    workspace: str | None
    uncached: int
    cache_write_5m: int
    cache_write_1h: int
    cache_read: int
    output: int
    web_searches: int

    def revised(self, revision: int) -> DayUse:
        """The use after *revision* more stretches of its open day."""
        return attrs.evolve(
            self,
            uncached=self.uncached + 1500 * revision,
            cache_read=self.cache_read + 4000 * revision,
            output=self.output + 700 * revision,
            web_searches=self.web_searches + revision,
        )

    def usage_row(self) -> dict[str, Any]:
        return {
            "uncached_input_tokens": self.uncached,
            "cache_creation": {
                "ephemeral_1h_input_tokens": self.cache_write_1h,
                "ephemeral_5m_input_tokens": self.cache_write_5m,
            },
            "cache_read_input_tokens": self.cache_read,
            "output_tokens": self.output,
            "server_tool_use": {"web_search_requests": self.web_searches},
            "api_key_id": None,
            "workspace_id": self.workspace,
            "model": self.model,
            "service_tier": None,
            "context_window": None,
        }

    def cost_rows(self) -> list[dict[str, Any]]:
        """The cost report's rows of this use, grouped by description: one
        per token type, amounts in cents to the cent."""
        name, input_price, output_price = MODELS[self.model]
        prices = (
            ("Input Tokens", "uncached_input_tokens", self.uncached, input_price),
            ("Output Tokens", "output_tokens", self.output, output_price),
            (
                "Cache Write (5m) Tokens",
                "cache_creation.ephemeral_5m_input_tokens",
                self.cache_write_5m,
                input_price * CACHE_WRITE_5M,
            ),
            (
                "Cache Write (1h) Tokens",
                "cache_creation.ephemeral_1h_input_tokens",
                self.cache_write_1h,
                input_price * CACHE_WRITE_1H,
            ),
            (
                "Cache Read Tokens",
                "cache_read_input_tokens",
                self.cache_read,
                input_price * CACHE_READ,
            ),
        )
        return [
            {
                "amount": str(
                    (Decimal(tokens) * Decimal(price) / 1_000_000).quantize(_CENT)
                ),
                "currency": "USD",
                "workspace_id": self.workspace,
                "description": f"{name} Usage - {label}",
                "cost_type": "tokens",
                "model": self.model,
                "token_type": token_type,
                "service_tier": "standard",
                "context_window": "0-200k",
            }
            for label, token_type, tokens, price in prices
            if tokens
        ]


def _search_row(workspace: str | None, searches: int) -> dict[str, Any]:
    return {
        "amount": str((WEB_SEARCH_CENTS * searches).quantize(_CENT)),
        "currency": "USD",
        "workspace_id": workspace,
        "description": "Web Search",
        "cost_type": "web_search",
        "model": None,
        "token_type": None,
        "service_tier": None,
        "context_window": None,
    }


@attrs.define
class UsageData:
    """The organization's use, a day at a time, and the open day's revision.

    Attributes:
        days: Every day of the history, oldest first; the last is open.
        use: The use of each day, by day.
        revision: How often the open day has grown since the start.
    """

    days: list[datetime]
    use: dict[datetime, list[DayUse]]
    revision: int = 0

    @classmethod
    def generate(cls, data: OrgData) -> UsageData:
        """A seeded use for *data*'s history, drawn from a generator of its
        own, so the activities are the same with or without it."""
        rng = random.Random(f"{data.seed}:usage")  # noqa: S311 - generated data
        workspaces: list[str | None] = [
            None,
            f"wrkspc_{stable_id(data.seed, 'workspace-1')}",
            f"wrkspc_{stable_id(data.seed, 'workspace-2')}",
        ]
        first = data.start.replace(hour=0, minute=0, second=0, microsecond=0)
        days = []
        day = first
        while day <= data.end:
            days.append(day)
            day += _DAY
        use: dict[datetime, list[DayUse]] = {}
        for day in days:
            found = []
            for model in MODELS:
                for workspace in workspaces:
                    if rng.random() < 0.2:  # noqa: PLR2004 - not every pair every day
                        continue
                    uncached = rng.randrange(1_000, 400_000)
                    found.append(
                        DayUse(
                            start=day,
                            model=model,
                            workspace=workspace,
                            uncached=uncached,
                            cache_write_5m=rng.choice((0, rng.randrange(1, 50_000))),
                            cache_write_1h=rng.choice((0, 0, rng.randrange(1, 20_000))),
                            cache_read=rng.randrange(0, 2_000_000),
                            output=rng.randrange(100, uncached // 2 + 101),
                            web_searches=rng.choice((0, 0, rng.randrange(1, 40))),
                        )
                    )
            use[day] = found
        return cls(days=days, use=use)

    def day(self, start: datetime) -> list[DayUse]:
        """The use of the day *start*, as served now (the open day revised)."""
        found = self.use.get(start, [])
        if self.days and start == self.days[-1]:
            return [u.revised(self.revision) for u in found]
        return found

    def expected(self) -> list[dict[str, Any]]:
        """The records a correct reader yields now, by day, model and
        workspace: tokens (input counting the cache's), cost in dollars as
        a decimal string, and web searches as a ``web_search`` record per
        day and workspace."""
        records = []
        for start in self.days:
            searches: dict[str | None, int] = defaultdict(int)
            for use in self.day(start):
                cents = sum(
                    (Decimal(row["amount"]) for row in use.cost_rows()), Decimal(0)
                )
                records.append(
                    _record(
                        start,
                        use.model,
                        use.workspace,
                        use.uncached
                        + use.cache_write_5m
                        + use.cache_write_1h
                        + use.cache_read,
                        use.output,
                        cents,
                    )
                )
                searches[use.workspace] += use.web_searches
            records.extend(
                _record(start, "web_search", ws, None, None, WEB_SEARCH_CENTS * n)
                for ws, n in searches.items()
                if n
            )
        return sorted(
            records, key=lambda r: (r["start"], r["model"], r["workspace_id"])
        )


def _record(  # noqa: PLR0917 - the fields of one record, in its order
    start: datetime,
    model: str,
    workspace: str | None,
    input_tokens: int | None,
    output_tokens: int | None,
    cents: Decimal,
) -> dict[str, Any]:
    workspace_id = workspace or "default"
    return {
        "id": f"usage:{start.strftime('%Y-%m-%d')}:{model}:{workspace_id}",
        "start": format_created(start),
        "end": format_created(start + _DAY),
        "model": model,
        "workspace_id": workspace_id,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cost": str(cents.quantize(_CENT) / 100),
        "currency": "USD",
    }


class UsageApi:
    """The two reports over one :class:`UsageData`.

    Attributes:
        queries: The path and query of every report served, in order.
    """

    def __init__(self, usage: UsageData) -> None:
        self.usage = usage
        self.queries: list[tuple[str, list[tuple[str, str]]]] = []

    def register(self, app: web.Application) -> None:
        app.router.add_get(USAGE_PATH, self.messages)
        app.router.add_get(COST_PATH, self.cost)

    def revise(self) -> None:
        """The open day goes on: its figures grow."""
        self.usage.revision += 1

    async def messages(self, request: web.Request) -> web.Response:
        """The messages usage report."""
        groups, days, page = self._page(request, USAGE_GROUPS, ("1d",))
        data = [
            {
                "starting_at": format_created(day),
                "ending_at": format_created(day + _DAY),
                "results": _grouped_usage(self.usage.day(day), groups),
            }
            for day in days
        ]
        return web.json_response({"data": data, **page}, dumps=dumps)

    async def cost(self, request: web.Request) -> web.Response:
        """The cost report."""
        groups, days, page = self._page(request, COST_GROUPS, ("1d",))
        data = [
            {
                "starting_at": format_created(day),
                "ending_at": format_created(day + _DAY),
                "results": _grouped_costs(self.usage.day(day), groups),
            }
            for day in days
        ]
        return web.json_response({"data": data, **page}, dumps=dumps)

    def _page(
        self, request: web.Request, allowed: frozenset[str], widths: tuple[str, ...]
    ) -> tuple[frozenset[str], list[datetime], dict[str, Any]]:
        """What a report request asks for: its groups, the days of its page,
        and the page's ``has_more`` and ``next_page``."""
        query = request.query
        self.queries.append((request.path, list(query.items())))
        start = query_time(query, "starting_at")
        if start is None:
            raise ApiError(400, "starting_at: Field required")
        end = query_time(query, "ending_at")
        width = query.get("bucket_width", "1d")
        if width not in widths:
            raise ApiError(
                400,
                f"bucket_width: the sandbox serves '1d' buckets only, got {width!r}",
            )
        groups = frozenset(query.getall("group_by[]", ()))
        unknown = sorted(groups - allowed)
        if unknown:
            raise ApiError(
                400,
                f"group_by[]: {unknown[0]!r} is not one of "
                + ", ".join(sorted(allowed)),
            )
        text = query.get("limit", str(DEFAULT_PAGE))
        limit = int(text) if text.isdigit() else 0
        if not 1 <= limit <= MAX_PAGE:
            raise ApiError(400, f"limit: must be between 1 and {MAX_PAGE}, got {text}")
        first = start.replace(hour=0, minute=0, second=0, microsecond=0)
        days = [
            d
            for d in self.usage.days
            if d >= first and (end is None or d + _DAY <= end)
        ]
        bound = "|".join(
            (
                request.path,
                query.get("starting_at", ""),
                query.get("ending_at", ""),
                ",".join(sorted(groups)),
                str(limit),
            )
        )
        offset = _offset(query.get("page"), bound)
        more = offset + limit < len(days)
        return (
            groups,
            days[offset : offset + limit],
            {
                "has_more": more,
                "next_page": _token(offset + limit, bound) if more else None,
            },
        )


def _token(offset: int, bound: str) -> str:
    payload = base64.urlsafe_b64encode(orjson.dumps([offset, bound])).decode()
    return f"page_{payload}"


def _offset(token: str | None, bound: str) -> int:
    """The offset a page token stands for; one of another request, or no
    token of ours, is a 400."""
    if token is None:
        return 0
    try:
        offset, signed_for = orjson.loads(
            base64.urlsafe_b64decode(token.removeprefix("page_").encode())
        )
    except (ValueError, TypeError):
        raise ApiError(400, "page: invalid page token") from None
    if signed_for != bound or not isinstance(offset, int) or offset < 0:
        raise ApiError(400, "page: the token belongs to another request")
    return offset


def _grouped_usage(use: list[DayUse], groups: frozenset[str]) -> list[dict[str, Any]]:
    """The messages rows of one day: a row per combination of the groups
    asked for, figures summed over the rest."""
    rows: dict[tuple[str | None, str | None], dict[str, Any]] = {}
    for item in use:
        row = item.usage_row()
        key = (
            row["model"] if "model" in groups else None,
            row["workspace_id"] if "workspace_id" in groups else None,
        )
        row["model"], row["workspace_id"] = key
        found = rows.get(key)
        if found is None:
            rows[key] = row
            continue
        for name in _SUMMED:
            found[name] += row[name]
        for part in ("cache_creation", "server_tool_use"):
            for name, count in row[part].items():
                found[part][name] += count
    return list(rows.values())


def _grouped_costs(use: list[DayUse], groups: frozenset[str]) -> list[dict[str, Any]]:
    """The cost rows of one day: by description when asked (each token
    type's line, and web search), by workspace when asked, summed over the
    rest."""
    lines: list[dict[str, Any]] = []
    searches: dict[str | None, int] = defaultdict(int)
    for item in use:
        lines.extend(item.cost_rows())
        searches[item.workspace] += item.web_searches
    lines.extend(_search_row(ws, n) for ws, n in searches.items() if n)
    described = ("description", "cost_type", "model", "token_type")
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for line in lines:
        if "workspace_id" not in groups:
            line["workspace_id"] = None
        if "description" not in groups:
            for name in (*described, "service_tier", "context_window"):
                line[name] = None
        key = tuple(line[name] for name in ("workspace_id", *described))
        found = rows.get(key)
        if found is None:
            rows[key] = line
        else:
            found["amount"] = str(Decimal(found["amount"]) + Decimal(line["amount"]))
    return list(rows.values())
