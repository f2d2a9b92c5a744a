"""The usage stream: tokens and cost per day, model and workspace.

Two Admin API reports (an Admin API key only) say what the organization's
API use was: ``GET /v1/organizations/usage_report/messages`` the tokens, in
daily buckets grouped by model and workspace, and
``GET /v1/organizations/cost_report`` the money, in daily buckets grouped
by workspace and description (a description names the model). Each
``(day, model, workspace)`` becomes one
:class:`~connector_core.ModelUsageRecord`, its tokens from the first report
and its cost from the second, joined here.

Reading. Both reports take ``starting_at`` and ``ending_at`` and page a
range's days with ``page`` / ``next_page`` (at most 31 daily buckets a
page). The range is read a stretch of :data:`DAYS_PER_READ` days at a time,
both reports over the same stretch, and each stretch is one batch: a cost
is joined only with the tokens of its own day, and a day's records never
straddle two batches. Today's bucket still grows (and the reports lag by
about :data:`REPORT_LAG`), so the checkpoint is the start of the last day
that may still change, and the next read fetches that day again: the
store replaces each bucket by its id.

The figures, as the reports give them:

* ``input_tokens`` is every token the model read: uncached input, cache
  writes (both lifetimes) and cache reads together (:func:`input_tokens`);
  the split is kept in ``raw``.
* ``requests`` is ``None``: the messages report counts tokens, not
  requests (its only count, ``server_tool_use.web_search_requests``, is of
  web searches).
* ``cost`` is in dollars: the cost report's ``amount`` is a decimal string
  in the currency's lowest unit, cents for ``USD`` (:data:`COST_UNIT`).
  Costs of no model (web search, code execution) are records of their own,
  whose model is the cost's type (``web_search``), with no tokens.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final

import attrs
import cattrs

from aiaudit_claude.event_map import PLATFORM
from aiaudit_claude.normalize import parse_time
from connector_core import (
    AIAuditLogQuery,
    Checkpoint,
    ConfigurationError,
    CursorGuard,
    HTTPTransport,
    LogFilter,
    ModelUsageRecord,
    QuarantinedRecord,
    RecordRefusedError,
    SchemaError,
    StreamBatch,
    describe_structure_error,
    normalize_or_quarantine,
    strict_converter,
)


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Iterable


__all__ = [
    "COST_PATH",
    "COST_UNIT",
    "DAYS_PER_READ",
    "DEFAULT_WORKSPACE",
    "REPORT_LAG",
    "STREAM_USAGE",
    "USAGE_PATH",
    "UsageResume",
    "format_day",
    "input_tokens",
    "join_day",
    "read_usage",
    "usage_id",
]

STREAM_USAGE: Final = "usage"
USAGE_PATH: Final = "/v1/organizations/usage_report/messages"
COST_PATH: Final = "/v1/organizations/cost_report"

USAGE_GROUPS: Final = ("model", "workspace_id")
"""What the messages report is grouped by. Not ``api_key_id``: the cost
report cannot be grouped by key, so a cost could not be joined to a
bucket split by one."""

COST_GROUPS: Final = ("workspace_id", "description")
"""What the cost report is grouped by: ``description`` is what fills in
its ``model``."""

DAYS_PER_READ: Final = 31
"""Days asked for at once: the largest daily ``limit`` of both reports."""

COST_UNIT: Final = Decimal("0.01")
"""What one unit of a cost ``amount`` is worth in its currency: the
reference says the amount is in the lowest currency unit (cents). Were it
ever dollars, this is the one value to change."""

REPORT_LAG: Final = timedelta(minutes=5)
"""How long after a day ends its figures may still change: usage and cost
appear within about five minutes, the FAQ says."""

DEFAULT_WORKSPACE: Final = "default"
"""The ``workspace_id`` dimension of the default workspace, which the
reports call ``null``."""

_NO_MODEL: Final = "unattributed"
"""The model of a cost that names neither a model nor a cost type."""


@attrs.frozen(kw_only=True)
class UsageResume(Checkpoint):
    """The usage stream's checkpoint: every day before ``since`` was read
    and is settled; the day of ``since`` may still be revised, so it is
    read again."""

    since: datetime


def day_of(moment: datetime) -> datetime:
    """The start of *moment*'s day (UTC): the reports' buckets are days."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def format_day(moment: datetime) -> str:
    """RFC 3339 to the second, as the reports' own times are written."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def usage_id(start: datetime, model: str, workspace: str) -> str:
    """A bucket is named by its day, model and workspace, never by its
    figures: today's bucket read again replaces the stored one."""
    return f"usage:{start.strftime('%Y-%m-%d')}:{model}:{workspace}"


# -- the reports' envelopes (only the fields read; names are the API's) --------


@attrs.frozen
class ReportPage:
    data: tuple[Any, ...] = ()
    has_more: bool = False
    next_page: str | None = None


@attrs.frozen
class Bucket:
    starting_at: str
    ending_at: str
    results: tuple[Any, ...] = ()


@attrs.frozen
class CacheCreation:
    ephemeral_1h_input_tokens: int = 0
    ephemeral_5m_input_tokens: int = 0


@attrs.frozen
class UsageRow:
    uncached_input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int = 0
    cache_creation: CacheCreation = CacheCreation()
    model: str | None = None
    workspace_id: str | None = None


@attrs.frozen
class CostRow:
    amount: str  # a decimal, as text, in the currency's lowest unit
    currency: str
    model: str | None = None
    workspace_id: str | None = None
    cost_type: str | None = None


_converter = strict_converter()
_read_page = _converter.get_structure_hook(ReportPage)
_read_bucket = _converter.get_structure_hook(Bucket)
_read_usage_row = _converter.get_structure_hook(UsageRow)
_read_cost_row = _converter.get_structure_hook(CostRow)


def input_tokens(row: UsageRow) -> int:
    """Every token the model read: uncached, written to the cache (both
    lifetimes) and read from it. The reports split them by price; a count
    of uncached input alone would make a cached workload look small."""
    cache = row.cache_creation
    return (
        row.uncached_input_tokens
        + cache.ephemeral_1h_input_tokens
        + cache.ephemeral_5m_input_tokens
        + row.cache_read_input_tokens
    )


@attrs.frozen
class Line:
    """One report row, read: the bucket it belongs to and its figures."""

    start: datetime
    end: datetime
    model: str
    workspace: str
    raw: Mapping[str, Any]
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: Decimal | None = None
    currency: str | None = None

    @property
    def key(self) -> tuple[datetime, str, str]:
        return (self.start, self.model, self.workspace)


def _refused(what: str, problem: str, raw: object) -> RecordRefusedError:
    native = None
    if isinstance(raw, dict):
        native = "/".join(
            str(raw.get(k)) for k in ("model", "workspace_id") if raw.get(k)
        )
    return RecordRefusedError(
        f"{what}: {problem}", native_id=native or None, native_type=STREAM_USAGE
    )


MAX_NAME: Final = 256
"""The longest model or workspace id read; a longer one is no id."""


def _name(value: str, field: str) -> str:
    """A model or workspace id as a key and a stored text: printable (no
    NUL, no lone surrogate, which a database refuses) and of a sane length."""
    if len(value) > MAX_NAME or not value.isprintable():
        raise ValueError(f"{field} is not a printable id of at most {MAX_NAME} chars")
    return value


def usage_line(raw: object, start: datetime, end: datetime) -> Line:
    """A messages-report row of the bucket [*start*, *end*).

    Raises:
        RecordRefusedError: It cannot be read; the reason names what is wrong.
    """
    try:
        row = _read_usage_row(raw, UsageRow)
    except (cattrs.BaseValidationError, TypeError) as exc:
        raise _refused(
            "malformed usage row", describe_structure_error(exc), raw
        ) from None
    if not row.model:
        raise _refused("usage row", "model is missing", raw)
    counts = {
        "uncached_input_tokens": row.uncached_input_tokens,
        "cache_creation.ephemeral_1h_input_tokens": (
            row.cache_creation.ephemeral_1h_input_tokens
        ),
        "cache_creation.ephemeral_5m_input_tokens": (
            row.cache_creation.ephemeral_5m_input_tokens
        ),
        "cache_read_input_tokens": row.cache_read_input_tokens,
        "output_tokens": row.output_tokens,
    }
    try:
        for name, count in counts.items():
            if count < 0:
                raise ValueError(f"{name} is negative")  # noqa: TRY301 - one refusal
        model = _name(row.model, "model")
        workspace = _name(row.workspace_id or DEFAULT_WORKSPACE, "workspace_id")
    except ValueError as exc:
        raise _refused("usage row", str(exc), raw) from None
    return Line(
        start=start,
        end=end,
        model=model,
        workspace=workspace,
        raw=dict(raw) if isinstance(raw, dict) else {},
        input_tokens=input_tokens(row),
        output_tokens=row.output_tokens,
    )


def cost_line(raw: object, start: datetime, end: datetime) -> Line:
    """A cost-report row of the bucket [*start*, *end*), its amount in the
    currency's main unit (:data:`COST_UNIT`).

    Raises:
        RecordRefusedError: It cannot be read; the reason names what is wrong.
    """
    try:
        row = _read_cost_row(raw, CostRow)
    except (cattrs.BaseValidationError, TypeError) as exc:
        raise _refused(
            "malformed cost row", describe_structure_error(exc), raw
        ) from None
    try:
        amount = Decimal(row.amount)
    except InvalidOperation:
        raise _refused("cost row", "amount is not a decimal number", raw) from None
    if not amount.is_finite() or amount < 0:
        raise _refused("cost row", "amount is not a finite, non-negative number", raw)
    try:
        model = _name(row.model or row.cost_type or _NO_MODEL, "model")
        workspace = _name(row.workspace_id or DEFAULT_WORKSPACE, "workspace_id")
    except ValueError as exc:
        raise _refused("cost row", str(exc), raw) from None
    return Line(
        start=start,
        end=end,
        model=model,
        workspace=workspace,
        raw=dict(raw) if isinstance(raw, dict) else {},
        cost=amount * COST_UNIT,
        currency=row.currency,
    )


def bucket_lines(
    raw: object, row_reader: Callable[[object, datetime, datetime], Line], report: str
) -> list[Line | QuarantinedRecord]:
    """The rows of one daily bucket of *report*, read or quarantined; a
    bucket whose times cannot be read is quarantined whole."""
    problem = None
    try:
        bucket = _read_bucket(raw, Bucket)
        start, end = parse_time(bucket.starting_at), parse_time(bucket.ending_at)
    except (cattrs.BaseValidationError, TypeError) as exc:
        problem = describe_structure_error(exc)
    except ValueError as exc:
        problem = str(exc)
    else:
        if end <= start:
            problem = "ending_at is not after starting_at"
    if problem is not None:
        refusal = RecordRefusedError(
            f"malformed {report} bucket: {problem}", native_type=STREAM_USAGE
        )
        return [QuarantinedRecord.of_failure(STREAM_USAGE, raw, refusal)]
    return [
        normalize_or_quarantine(
            STREAM_USAGE,
            row,
            lambda r: row_reader(r, start, end),
            native_type=STREAM_USAGE,
        )
        for row in bucket.results
    ]


def join_day(
    usage: Iterable[Line], costs: Iterable[Line], platform: str = PLATFORM
) -> list[ModelUsageRecord | QuarantinedRecord]:
    """One record per (day, model, workspace): tokens summed from the
    messages report, cost summed from the cost report. A key with costs in
    two currencies cannot be summed and is quarantined with its rows."""
    tokens: dict[tuple[datetime, str, str], list[Line]] = defaultdict(list)
    money: dict[tuple[datetime, str, str], list[Line]] = defaultdict(list)
    ends: dict[tuple[datetime, str, str], datetime] = {}
    for line in usage:
        tokens[line.key].append(line)
        ends[line.key] = line.end
    for line in costs:
        money[line.key].append(line)
        ends.setdefault(line.key, line.end)
    results: list[ModelUsageRecord | QuarantinedRecord] = []
    for key in sorted(ends):
        start, model, workspace = key
        found, paid = tokens.get(key, []), money.get(key, [])
        raw = {
            "starting_at": format_day(start),
            "ending_at": format_day(ends[key]),
            "usage": [dict(line.raw) for line in found],
            "cost": [dict(line.raw) for line in paid],
        }
        currencies = {line.currency for line in paid}
        if len(currencies) > 1:
            results.append(
                QuarantinedRecord.of_failure(
                    STREAM_USAGE,
                    raw,
                    RecordRefusedError(
                        "costs in more than one currency: "
                        + ", ".join(sorted(str(c) for c in currencies)),
                        native_id=f"{format_day(start)}/{model}/{workspace}",
                        native_type=STREAM_USAGE,
                    ),
                )
            )
            continue
        record = functools.partial(
            _record, key=key, end=ends[key], usage=found, costs=paid, platform=platform
        )
        results.append(
            normalize_or_quarantine(STREAM_USAGE, raw, record, native_type=STREAM_USAGE)
        )
    return results


def _record(
    raw: Mapping[str, Any],
    *,
    key: tuple[datetime, str, str],
    end: datetime,
    usage: list[Line],
    costs: list[Line],
    platform: str,
) -> ModelUsageRecord:
    """The record of one (day, model, workspace); a bucket without tokens
    (a cost alone) has ``None`` for them, one without cost ``None`` cost."""
    start, model, workspace = key
    cost = sum((line.cost or Decimal(0) for line in costs), Decimal(0))
    return ModelUsageRecord(
        id=usage_id(start, model, workspace),
        platform=platform,
        start=start,
        end=end,
        model=model,
        requests=None,  # the messages report counts no requests
        input_tokens=sum(line.input_tokens or 0 for line in usage) if usage else None,
        output_tokens=(
            sum(line.output_tokens or 0 for line in usage) if usage else None
        ),
        cost=float(cost) if costs else None,
        currency=(costs[0].currency or "USD") if costs else "USD",
        dimensions={"workspace_id": workspace},
        raw=raw,
    )


def _page(raw: object, path: str) -> ReportPage:
    """A page of the wrong shape is an API fault, never an empty page."""
    try:
        page: ReportPage = _read_page(raw, ReportPage)
    except (cattrs.BaseValidationError, TypeError) as exc:
        problem = describe_structure_error(exc)
        raise SchemaError(f"{path}: malformed page: {problem}") from None
    return page


async def _report(
    http: HTTPTransport,
    path: str,
    groups: tuple[str, ...],
    start: datetime,
    end: datetime,
) -> list[object]:
    """Every daily bucket of one report over [*start*, *end*), page by page.
    A ``next_page`` handed out twice would read a page forever: the guard
    raises SchemaError."""
    params: list[tuple[str, str]] = [
        ("starting_at", format_day(start)),
        ("ending_at", format_day(end)),
        ("bucket_width", "1d"),
        *(("group_by[]", group) for group in groups),
        ("limit", str(DAYS_PER_READ)),
    ]
    guard = CursorGuard(path, "next_page")
    buckets: list[object] = []
    token: str | None = None
    while True:
        asked = params if token is None else [*params, ("page", token)]
        page = _page(await http.get_json(path, params=asked), path)
        buckets.extend(page.data)
        if not page.has_more:
            return buckets
        if not page.next_page:
            raise SchemaError(f"{path}: has_more is true but next_page is null")
        guard.advance(page.next_page)
        token = page.next_page


def admin_key_missing() -> ConfigurationError:
    """Why the usage stream cannot be read without an Admin key."""
    return ConfigurationError(
        "the usage stream reads the Admin API's usage and cost reports, which "
        "only an Admin API key (ANTHROPIC_ADMIN_KEY) may read; none is "
        "configured, so the stream is off (the other streams do not need it)"
    )


async def read_usage(
    http: HTTPTransport,
    checkpoint: Mapping[str, Any] | None,
    query: AIAuditLogQuery,
    *,
    platform: str = PLATFORM,
    now: datetime | None = None,
) -> AsyncGenerator[StreamBatch, None]:
    """The records of the query's days from the checkpoint's day (or the
    day of the query's start), :data:`DAYS_PER_READ` days a batch, each
    batch checkpointed (see the module docstring)."""
    if LogFilter.from_query(query).askable_actions is not None:
        return  # buckets are no action: a read of some actions has none
    resume = UsageResume.from_dict(STREAM_USAGE, checkpoint)
    start = day_of(query.start_date) if resume is None else resume.since
    last = day_of(query.end_date)
    stop = last + timedelta(days=1)
    # The first day whose figures may still change, however far the query.
    unsettled = day_of((now or datetime.now(UTC)) - REPORT_LAG)
    while start < stop:
        end = min(start + timedelta(days=DAYS_PER_READ), stop)
        usage = [
            line
            for raw in await _report(http, USAGE_PATH, USAGE_GROUPS, start, end)
            for line in bucket_lines(raw, usage_line, "usage")
        ]
        costs = [
            line
            for raw in await _report(http, COST_PATH, COST_GROUPS, start, end)
            for line in bucket_lines(raw, cost_line, "cost")
        ]
        read = [line for line in usage if isinstance(line, Line)]
        paid = [line for line in costs if isinstance(line, Line)]
        # Only the buckets asked for: a report's extra day is read next time.
        read = [line for line in read if start <= line.start < end]
        paid = [line for line in paid if start <= line.start < end]
        refused = [q for q in (*usage, *costs) if isinstance(q, QuarantinedRecord)]
        since = min(end if end < stop else last, unsettled)
        done = UsageResume(since=max(since, start))
        yield StreamBatch.from_results(
            [*join_day(read, paid, platform), *refused], checkpoint=done.to_dict()
        )
        start = end
