"""The buckets of platforms' usage reports: their rows, their upserts and
the model usage the analytics read from them.

A usage report is revised while its bucket is open (today's tokens grow), so
a bucket read again replaces the stored one instead of being a duplicate:
each write looks up the stored documents of its ids first and tells the new
buckets from the revised ones and from those that did not change, which it
leaves alone. Both stores share this module, as they share the events'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import attrs
import orjson

from connector_core.analytics import cost_units, usage_metric
from connector_core.exceptions import StoreError
from connector_core.models import ModelUsageRecord
from connector_core.serialization import dumps, loads
from connector_core.store._driver import Bulk
from connector_core.store._organizations import UNSHARED_BUCKET
from connector_core.store._values import _INT64, column_text, to_us
from connector_core.streams import QuarantinedRecord


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from datetime import datetime

    from connector_core.models import ModelUsageMetric
    from connector_core.store._driver import Dialect, Session


__all__ = [
    "USAGE_REPORTS",
    "UsageWrite",
    "read_model_usage",
    "read_usage_documents",
    "usage_rows",
    "write_usage",
]

USAGE_REPORTS: Final = Bulk(
    table="usage_reports",
    columns=(
        ("connection", "text"),
        ("id", "text"),
        ("platform", "text"),
        ("stream", "text"),
        ("start_us", "bigint"),
        ("end_us", "bigint"),
        ("day", "text"),
        ("model", "text"),
        ("requests", "bigint"),
        ("input_tokens", "bigint"),
        ("output_tokens", "bigint"),
        ("cost", "float8"),
        ("cost_units", "bigint"),
        ("currency", "text"),
        ("dimensions", "text"),
        ("document", "text"),
        ("ingested_at", "text"),
    ),
    # Every column but the key and the first ingestion takes the new value.
    on_conflict=(
        "ON CONFLICT (connection, id) DO UPDATE SET "
        + ", ".join(
            f"{name} = excluded.{name}"
            for name in (
                "platform",
                "stream",
                "start_us",
                "end_us",
                "day",
                "model",
                "requests",
                "input_tokens",
                "output_tokens",
                "cost",
                "cost_units",
                "currency",
                "dimensions",
                "document",
            )
        )
    ),
)
_ID: Final = 1
_DOCUMENT: Final = 15
_ID_CHUNK: Final = 500
"""Ids per ``IN`` list, below the 999 parameters of old SQLite builds."""


@attrs.frozen
class UsageWrite:
    """What writing a batch's buckets did.

    Attributes:
        inserted: Buckets new to the store.
        updated: Stored buckets replaced by a revised one.
        unchanged: Buckets stored already exactly as read.
    """

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def usage_rows(
    connection: str,
    stream: str,
    records: Iterable[ModelUsageRecord],
    ingested_at: str,
) -> tuple[list[tuple[Any, ...]], list[QuarantinedRecord]]:
    """The ``usage_reports`` rows of *records* (the last of a repeated id,
    the latest revision read), sorted by id, and the records the store
    cannot hold, quarantined with why (a value JSON cannot hold, a count
    past 64 bits)."""
    rows: dict[str, tuple[Any, ...]] = {}
    bad: list[QuarantinedRecord] = []
    for record in records:
        try:
            row = _row(connection, stream, record, ingested_at)
        except StoreError as exc:
            bad.append(
                QuarantinedRecord.of_value(
                    stream,
                    f"cannot store usage bucket: {exc}",
                    {"id": record.id, "model": record.model, "raw": record.raw},
                    native_id=record.id,
                )
            )
            continue
        rows[row[_ID]] = row
    return [rows[key] for key in sorted(rows)], bad


def _row(
    connection: str, stream: str, record: ModelUsageRecord, ingested_at: str
) -> tuple[Any, ...]:
    try:
        document = dumps(record).decode()
        dimensions = orjson.dumps(dict(sorted(record.dimensions.items()))).decode()
    except (orjson.JSONEncodeError, TypeError, ValueError, UnicodeDecodeError) as exc:
        raise StoreError(f"not serializable as JSON: {exc}") from None
    units = cost_units(record.cost, record.currency)
    counts = (record.requests, record.input_tokens, record.output_tokens, units)
    if any(count is not None and count not in _INT64 for count in counts):
        raise StoreError("a count or cost beyond what a 64-bit column holds")
    return (
        connection,
        column_text(record.id),
        record.platform,
        stream,
        to_us(record.start),
        to_us(record.end),
        record.start.date().isoformat(),
        column_text(record.model),
        *counts[:3],
        record.cost,
        units,
        record.currency,
        column_text(dimensions),
        document,
        ingested_at,
    )


def write_usage(
    session: Session,
    dialect: Dialect,
    insert: Callable[[Session, Bulk, Sequence[Sequence[Any]]], int],
    connection: str,
    rows: Sequence[tuple[Any, ...]],
) -> UsageWrite:
    """Upsert the bucket *rows* (distinct ids, sorted) of *connection*.

    The stored documents of their ids are read first, in the transaction:
    a bucket whose document is the same is left alone and counted
    unchanged, so a sync that reads the open day again rewrites only what
    the platform revised. Rows are written sorted by id, so two writers
    take their row locks in one order.
    """
    stored: dict[str, str] = {}
    ids = [row[_ID] for row in rows]
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ids[start : start + _ID_CHUNK]
        found = session.query(
            dialect.sql(
                "SELECT id, document FROM usage_reports WHERE connection = ?"  # noqa: S608 -- only placeholders are added
                f" AND id IN ({', '.join('?' * len(chunk))})"
            ),
            (connection, *chunk),
        )
        stored.update((key, _text(document)) for key, document in found)
    changed = [row for row in rows if stored.get(row[_ID]) != row[_DOCUMENT]]
    if changed:
        insert(session, USAGE_REPORTS, changed)
    updated = sum(1 for row in changed if row[_ID] in stored)
    return UsageWrite(
        inserted=len(changed) - updated,
        updated=updated,
        unchanged=len(rows) - len(changed),
    )


def _text(document: Any) -> str:
    # SQLite may hand a document back as bytes (see SQLStore._document_text).
    return document.decode() if isinstance(document, bytes) else str(document)


_SCOPE: Final = " AND connection = ?"
_MODEL_USAGE: Final = (
    # The buckets starting in the period, summed per model. Costs are summed
    # in whole billionths (cost_units), exactly and alike in both databases;
    # a sum is NULL when no bucket reports the figure.
    "SELECT model, SUM(requests), SUM(input_tokens), SUM(output_tokens),"
    " SUM(cost_units),"
    " SUM(CASE WHEN input_tokens IS NULL AND output_tokens IS NULL"
    " THEN 0 ELSE 1 END)"
    " FROM usage_reports WHERE platform = ?{scope}"
    " AND start_us >= ? AND start_us <= ?{unshared} GROUP BY model"
)


def read_model_usage(
    session: Session,
    dialect: Dialect,
    *,
    platform: str,
    connection: str | None,
    start: datetime,
    end: datetime,
    overlaps: bool = False,
) -> tuple[ModelUsageMetric, ...] | None:
    """The model usage of the buckets of *platform* (and *connection*) that
    start in [*start*, *end*], as
    :func:`~connector_core.analytics.model_usage_of` computes it; ``None``
    when there is none, and the analytics use the events' instead.

    With *overlaps* (the store records them) and every connection in
    scope, a bucket stored under two connections of one organization is
    counted once (see :mod:`._organizations`)."""
    scope = (platform,) if connection is None else (platform, connection)
    statement = _MODEL_USAGE.format(
        scope="" if connection is None else _SCOPE,
        unshared=UNSHARED_BUCKET if overlaps and connection is None else "",
    )
    rows = session.query(dialect.sql(statement), (*scope, to_us(start), to_us(end)))
    if not rows:
        return None
    figures = []
    for model, requests, tokens_in, tokens_out, units, with_tokens in rows:
        tokens = None
        if with_tokens:
            tokens = int(tokens_in or 0) + int(tokens_out or 0)
        figures.append(
            (model, int(requests or 0), tokens, None if units is None else int(units))
        )
    figures.sort(key=lambda row: (-row[1], row[0]))
    return tuple(usage_metric(*row) for row in figures)


def read_usage_documents(
    session: Session,
    dialect: Dialect,
    *,
    connection: str | None,
    platform: str | None,
    start: datetime | None,
    end: datetime | None,
) -> list[ModelUsageRecord]:
    """The stored buckets that match, by start, then connection and id.

    Raises:
        SchemaError: A stored document is not a bucket's.
    """
    conditions: list[str] = []
    params: list[Any] = []
    for condition, value in (
        ("connection = ?", connection),
        ("platform = ?", platform),
        ("start_us >= ?", None if start is None else to_us(start)),
        ("start_us <= ?", None if end is None else to_us(end)),
    ):
        if value is not None:
            conditions.append(condition)
            params.append(value)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    rows = session.query(
        dialect.sql(
            f"SELECT document FROM usage_reports{where}"  # noqa: S608 -- conditions are constants
            " ORDER BY start_us, connection, id"
        ),
        params,
    )
    return [loads(_text(document), ModelUsageRecord) for (document,) in rows]
