"""The organization's usage report as a stream of daily buckets.

The Admin API counts what the organization's API traffic asked of each
model in ``/organization/usage/completions`` and bills it in
``/organization/costs``. Neither is an audit event, so the ``usage`` stream
yields :class:`~connector_core.models.ModelUsageRecord` values instead of
logs: one per day, model, project and API key, with the day's requests
(``num_model_requests``) and input and output tokens. Stored, they give
``aiaudit usage`` its tokens and cost columns without asking the API again.

Input tokens are the API's ``input_tokens``, which already include cached
and cache-write tokens; the cached share stays in the record's ``raw``.

Cost comes from the Costs API, which groups by project, API key and *line
item*, never by model. A line item names what was billed, as
``"gpt-4o, input"`` or ``"gpt-4o, cached input (batch)"``; its cost is added
to a bucket only when the text before its first comma is exactly the
bucket's model and the bucket's day, project and key are the line item's.
Any other line item (a tool, storage, a model this stream does not read) is
attributed to nothing and logged; a bucket no line item names keeps
``cost=None``, which reads as unknown, never as free.

A day's buckets grow until the day ends, so the checkpoint is midnight of
the last day read: the next read fetches that day again, and the store
replaces each bucket by its id, which is made of the day, project, key and
model, never of the figures.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import attrs

from aiaudit_chatgpt.checkpoints import UsageCheckpoint
from connector_core import LogFilter, get_logger
from connector_core.cursors import CursorGuard
from connector_core.exceptions import (
    NotFoundError,
    PermissionDeniedError,
    RecordRefusedError,
    SchemaError,
)
from connector_core.models import ModelUsageRecord
from connector_core.streams import (
    QuarantinedRecord,
    StreamBatch,
    normalize_or_quarantine,
)


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Mapping, Sequence

    from connector_core.http import HTTPTransport
    from connector_core.models import AIAuditLogQuery


__all__ = [
    "COMPLETIONS_PATH",
    "COSTS_PATH",
    "USAGE_STREAM",
    "model_of_line_item",
    "read_usage",
    "usage_id",
]

USAGE_STREAM: Final = "usage"
"""The usage report's stream."""

COMPLETIONS_PATH: Final = "/organization/usage/completions"
COSTS_PATH: Final = "/organization/costs"

USAGE_GROUP_BY: Final = ("model", "project_id", "api_key_id")
"""What a bucket is per: the model, and the dimensions a record keeps."""

COSTS_GROUP_BY: Final = ("line_item", "project_id", "api_key_id")
"""The same dimensions on the Costs API, which has ``line_item`` for model."""

USAGE_PAGE_DAYS: Final = 31
"""Daily buckets per completions page: the API's maximum for ``1d``."""

COSTS_PAGE_DAYS: Final = 180
"""Daily buckets per costs page: the API's maximum."""

USAGE_TYPE: Final = "organization.usage.completions.result"
COST_TYPE: Final = "organization.costs.result"

_DAY: Final = timedelta(days=1)
_COUNTS: Final = ("num_model_requests", "input_tokens", "output_tokens")

log = get_logger(__name__)

Cell = tuple[int, str, str | None, str | None]
"""A bucket's identity: day start (Unix seconds), model, project, key."""


def day_of(moment: datetime) -> datetime:
    """Midnight UTC of *moment*'s day: buckets are whole UTC days."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def usage_id(start: int, model: str, project: str | None, key: str | None) -> str:
    """A bucket's stable id, from what identifies it and never its figures.

    Every part is percent-encoded, so a fine-tuned model's colons
    (``ft:gpt-4o-mini:org::id``) cannot make two buckets one id.
    """
    parts = (project or "", key or "", model)
    return f"usage:{start}:" + ":".join(quote(part, safe="") for part in parts)


def model_of_line_item(item: object) -> str | None:
    """The model a costs line item names: the text before its first comma
    (``"gpt-4o, input (batch)"`` names ``gpt-4o``), or ``None`` when it has
    no comma and so names no model plainly."""
    if not isinstance(item, str) or "," not in item:
        return None
    return item.split(",", 1)[0].strip() or None


# -- pages ----------------------------------------------------------------


@attrs.frozen
class _Bucket:
    start: int
    end: int
    results: list[Any]


def _buckets(raw: object, path: str) -> tuple[list[_Bucket], str | None]:
    """The daily buckets of a usage page and the next page's cursor.

    A page of another shape is an API fault (a :class:`SchemaError`), never
    an empty page: read as one, it would lose the days it should hold.
    """
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), list):
        raise SchemaError(f"{path}: expected a page with a 'data' list")
    has_more, next_page = raw.get("has_more"), raw.get("next_page")
    if not isinstance(has_more, bool):
        raise SchemaError(f"{path}: 'has_more' is missing or not a boolean")
    if has_more and not (isinstance(next_page, str) and next_page):
        raise SchemaError(f"{path}: 'has_more' is true but 'next_page' is missing")
    buckets = []
    for index, bucket in enumerate(raw["data"]):
        if not isinstance(bucket, dict):
            raise SchemaError(f"{path}: bucket #{index} is not an object")
        start, end = _count(bucket.get("start_time")), _count(bucket.get("end_time"))
        results = bucket.get("results")
        if start is None or end is None or start >= end:
            raise SchemaError(f"{path}: bucket #{index} has no valid time range")
        if not isinstance(results, list):
            raise SchemaError(f"{path}: bucket #{index} has no 'results' list")
        buckets.append(_Bucket(start=start, end=end, results=results))
    return buckets, next_page if has_more else None


def _count(value: object) -> int | None:
    """*value* if it is a whole number of at least zero (never a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _params(
    start: int, end: int, limit: int, group_by: Sequence[str], page: str | None
) -> list[tuple[str, Any]]:
    params: list[tuple[str, Any]] = [
        ("start_time", start),
        ("end_time", end),
        ("bucket_width", "1d"),
        ("limit", limit),
        *(("group_by[]", field) for field in group_by),
    ]
    if page is not None:
        params.append(("page", page))
    return params


# -- costs ----------------------------------------------------------------


@attrs.define
class _Costs:
    """The cost of each bucket the Costs API names, and what it could not
    attribute."""

    cells: dict[Cell, Decimal] = attrs.Factory(dict)
    quarantined: list[QuarantinedRecord] = attrs.Factory(list)

    def cost(self, cell: Cell) -> float | None:
        amount = self.cells.get(cell)
        return None if amount is None else float(amount)


def _cost_line(raw: object) -> tuple[str | None, str | None, str | None, Decimal]:
    """A cost result's line item, project, key and USD amount, or refused."""
    if not isinstance(raw, dict):
        raise RecordRefusedError("cost result is not an object", native_type=COST_TYPE)
    amount = raw.get("amount")
    if not isinstance(amount, dict):
        raise RecordRefusedError("cost result has no amount", native_type=COST_TYPE)
    value, currency = amount.get("value"), amount.get("currency")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordRefusedError("cost amount is not a number", native_type=COST_TYPE)
    try:
        usd = Decimal(str(value))
    except InvalidOperation:  # pragma: no cover - a float always converts
        raise RecordRefusedError(
            "cost amount is not a number", native_type=COST_TYPE
        ) from None
    if not usd.is_finite() or usd < 0:
        raise RecordRefusedError(
            "cost amount is negative or not finite", native_type=COST_TYPE
        )
    if not isinstance(currency, str) or currency.lower() != "usd":
        raise RecordRefusedError(
            f"cost in {currency!r}, not USD: it cannot be added to USD costs",
            native_type=COST_TYPE,
        )
    fields = [raw.get(name) for name in ("line_item", "project_id", "api_key_id")]
    for name, field in zip(
        ("line_item", "project_id", "api_key_id"), fields, strict=True
    ):
        if field is not None and not isinstance(field, str):
            raise RecordRefusedError(
                f"cost {name} is not a string", native_type=COST_TYPE
            )
    # An empty id is no id, as in a usage result (see _cell).
    item, project, key = (f if isinstance(f, str) and f else None for f in fields)
    return item, project, key, usd


async def _read_costs(
    http: HTTPTransport, start: int, end: int, models: Mapping[Cell, object]
) -> _Costs:
    """The costs of ``[start, end)`` attributed to the buckets in *models*."""
    costs = _Costs()
    guard = CursorGuard(f"{COSTS_PATH} pages", "next_page")
    page: str | None = None
    unattributed, unattributed_usd = 0, Decimal(0)
    while True:
        params = _params(start, end, COSTS_PAGE_DAYS, COSTS_GROUP_BY, page)
        try:
            raw = await http.get_json(COSTS_PATH, params=params)
        except (PermissionDeniedError, NotFoundError) as exc:
            # Usage without costs is still worth storing: the tokens are
            # right, and a cost of None says it is unknown.
            log.warning("usage.costs_unavailable", error=str(exc))
            return _Costs(quarantined=costs.quarantined)
        buckets, page = _buckets(raw, COSTS_PATH)
        if page is not None:
            guard.advance(page)
        for bucket in buckets:
            for result in bucket.results:
                line = normalize_or_quarantine(
                    USAGE_STREAM, result, _cost_line, native_type=COST_TYPE
                )
                if isinstance(line, QuarantinedRecord):
                    costs.quarantined.append(line)
                    continue
                item, project, key, usd = line
                cell = (bucket.start, model_of_line_item(item) or "", project, key)
                if cell in models:
                    costs.cells[cell] = costs.cells.get(cell, Decimal(0)) + usd
                else:
                    unattributed += 1
                    unattributed_usd += usd
        if page is None:
            break
    if unattributed:
        log.info(
            "usage.costs_unattributed",
            line_items=unattributed,
            usd=float(unattributed_usd),
        )
    return costs


# -- buckets --------------------------------------------------------------


def _cell(bucket: _Bucket, raw: object) -> Cell:
    """The identity of a completions result, or refused."""
    if not isinstance(raw, dict):
        raise RecordRefusedError(
            "usage result is not an object", native_type=USAGE_TYPE
        )
    model = raw.get("model")
    if not isinstance(model, str) or not model.strip():
        raise RecordRefusedError("usage result names no model", native_type=USAGE_TYPE)
    dims = [raw.get(name) for name in ("project_id", "api_key_id")]
    for name, value in zip(("project_id", "api_key_id"), dims, strict=True):
        if value is not None and not isinstance(value, str):
            raise RecordRefusedError(
                f"usage {name} is not a string", native_type=USAGE_TYPE
            )
    project, key = (d if isinstance(d, str) and d else None for d in dims)
    return (bucket.start, model, project, key)


def _record(
    bucket: _Bucket, raw: Any, *, cell: Cell, platform: str, cost: float | None
) -> ModelUsageRecord:
    counts: dict[str, int] = {}
    for name in _COUNTS:
        value = _count(raw.get(name))
        if value is None:
            raise RecordRefusedError(
                f"usage {name} is missing or not a count", native_type=USAGE_TYPE
            )
        counts[name] = value
    start, model, project, key = cell
    dimensions = {
        name: value
        for name, value in (("project_id", project), ("api_key_id", key))
        if value is not None
    }
    return ModelUsageRecord(
        id=usage_id(start, model, project, key),
        platform=platform,
        start=datetime.fromtimestamp(bucket.start, UTC),
        end=datetime.fromtimestamp(bucket.end, UTC),
        model=model,
        requests=counts["num_model_requests"],
        input_tokens=counts["input_tokens"],
        output_tokens=counts["output_tokens"],
        cost=cost,
        currency="USD",
        dimensions=dimensions,
        raw=raw,
    )


async def _page_batch(
    http: HTTPTransport, buckets: Sequence[_Bucket], platform: str
) -> StreamBatch:
    """One completions page's buckets, with the costs of the same days."""
    cells: dict[Cell, object] = {}
    results: list[ModelUsageRecord | QuarantinedRecord] = []
    found: list[tuple[_Bucket, Any, Cell]] = []
    for bucket in buckets:
        where = f"bucket {bucket.start}"
        for raw in bucket.results:
            cell = normalize_or_quarantine(
                USAGE_STREAM,
                raw,
                functools.partial(_cell, bucket),
                where=where,
                native_type=USAGE_TYPE,
            )
            if isinstance(cell, QuarantinedRecord):
                results.append(cell)
            elif cell in cells:
                results.append(
                    QuarantinedRecord.of_failure(
                        USAGE_STREAM,
                        raw,
                        RecordRefusedError(
                            "the same model, project and key twice in one day",
                            native_type=USAGE_TYPE,
                        ),
                        where=where,
                    )
                )
            else:
                cells[cell] = raw
                found.append((bucket, raw, cell))
    costs = _Costs()
    if found:
        costs = await _read_costs(http, buckets[0].start, buckets[-1].end, cells)
    for bucket, raw, cell in found:
        results.append(
            normalize_or_quarantine(
                USAGE_STREAM,
                raw,
                functools.partial(
                    _record, bucket, cell=cell, platform=platform, cost=costs.cost(cell)
                ),
                where=f"bucket {bucket.start}",
                native_type=USAGE_TYPE,
            )
        )
    return StreamBatch.from_results([*results, *costs.quarantined])


async def read_usage(
    http: HTTPTransport,
    *,
    platform: str,
    checkpoint: Mapping[str, Any] | None,
    query: AIAuditLogQuery,
) -> AsyncGenerator[StreamBatch, None]:
    """The daily buckets of every day from the checkpoint's (or the query's
    start's) to the query's end's, a completions page at a time (31 days),
    oldest first.

    After each page every day before its last bucket's is read, and the
    batch's checkpoint says so; after the last page, the checkpoint is the
    query's last day, still open when the query ends today.

    Raises:
        PermissionDeniedError: The key may not read usage (``api.usage.read``).
        CheckpointError: *checkpoint* was not written by this reader.
    """
    if LogFilter.from_query(query).askable_actions is not None:
        return  # a bucket is no action: a read of some actions has none
    resume = UsageCheckpoint.from_dict(USAGE_STREAM, checkpoint)
    start = day_of(query.start_date) if resume is None else resume.since
    last_day = day_of(query.end_date)
    stop = last_day + _DAY  # a day that begins in the range is read whole
    if start >= stop:
        return
    first, end = int(start.timestamp()), int(stop.timestamp())
    guard = CursorGuard(f"{COMPLETIONS_PATH} pages", "next_page")
    page: str | None = None
    while True:
        params = _params(first, end, USAGE_PAGE_DAYS, USAGE_GROUP_BY, page)
        raw = await http.get_json(COMPLETIONS_PATH, params=params)
        buckets, page = _buckets(raw, COMPLETIONS_PATH)
        if page is not None:
            guard.advance(page)
        batch = await _page_batch(http, buckets, platform)
        since = last_day
        if page is not None:
            since = datetime.fromtimestamp(buckets[-1].start, UTC) if buckets else start
        done = UsageCheckpoint(since=max(day_of(since), start))
        yield attrs.evolve(batch, checkpoint=done.to_dict())
        if page is None:
            return
