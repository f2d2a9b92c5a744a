"""The connector's three streams, each read from its own checkpoint.

* ``admin_audit_logs`` (and ``admin_tenant_audit_logs``, the tenant-scoped
  events the API serves only on request): the organization's audit log. The API serves
  it newest first, so it is read in ascending time windows, each drained page
  by page before its end becomes the checkpoint. Windows are sized from the
  density the previous one showed, so each holds about
  :data:`TARGET_WINDOW_EVENTS` events: a window costs one partial page, and
  a hundred full pages per partial one keep the requests within about 1% of
  the fewest possible. Consecutive windows overlap
  by :data:`OVERLAP` seconds to catch events the API publishes late; the ids
  already seen in the overlap travel in the checkpoint, so nothing is doubled
  and a read resumed from a checkpoint yields exactly what the uninterrupted
  read would have.
* ``compliance_logs``: the Compliance API's Logs Platform. Files are listed
  by end time and downloaded through a signed URL, line by line; each file is
  a checkpoint (its end time, and the ids of the files that share it, since
  the listing returns the boundary file again).
* ``custom_gpts``: the workspace's custom GPTs, a listing with no time
  filter. It is read whole, its events ordered by time, and checkpointed by
  the latest event time seen.

Memory stays bounded by a page (or a file chunk); only the GPT listing is
held whole, and a workspace has thousands of GPTs at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import attrs
import orjson
import structlog

from aiaudit_chatgpt.normalize import (
    STREAM_COMPLIANCE,
    NativeFilter,
    Normalizer,
    is_tenant_scoped,
)
from connector_core.exceptions import ConnectorTimeoutError, SchemaError, TransportError
from connector_core.http import HTTPTransport
from connector_core.streams import QuarantinedRecord, StreamBatch


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Mapping

    from connector_core.models import AIAuditLog, AIAuditLogQuery


__all__ = [
    "FILE_CHUNK",
    "MAX_WINDOW",
    "MIN_WINDOW",
    "OVERLAP",
    "PAGE_SIZE",
    "TARGET_WINDOW_EVENTS",
    "WINDOW",
    "list_all",
    "list_gpts",
    "next_window",
    "read_admin_audit_logs",
    "read_compliance_logs",
    "read_custom_gpts",
]

log = structlog.get_logger(__name__)

PAGE_SIZE: Final = 100
"""The audit log's maximum page size: the fewest requests per event."""

WINDOW: Final = 86_400
"""Seconds of the first window, before any density is known: a day."""

TENANT_WINDOW: Final = 7 * 86_400
"""The first tenant-scoped window: those events are rare, so a week."""

TARGET_WINDOW_EVENTS: Final = 10_000
"""Events a window aims to hold. Each window ends with a partial page, so
100 full pages per window keep the requests within 1% of ``ceil(N / 100)``;
and a checkpoint every 10,000 events is what a crashed sync redoes at most."""

MIN_WINDOW: Final = 3_600
"""The narrowest window: an hour, far wider than :data:`OVERLAP`, so a
window always advances however dense the log gets."""

MAX_WINDOW: Final = 31 * 86_400
"""The widest window, so a long quiet stretch still yields checkpoints."""

OVERLAP: Final = 120
"""Seconds each window re-reads before the previous one's end."""

ADMIN_PUBLICATION_LAG: Final = timedelta(minutes=15)
"""How late an audit event may appear after its ``effective_at``."""

FILES_PUBLICATION_LAG: Final = timedelta(days=1)
"""How late a Logs Platform file may appear after its end time."""

FILE_CHUNK: Final = 500
"""Logs per batch while a Logs Platform file is read."""

COMPLIANCE_TYPES: Final = ("AUDIT_LOG", "AUTH_LOG", "CONVERSATION_MESSAGE")
"""The Logs Platform event types the connector reads when no filter narrows it."""

_FILE_ATTEMPTS: Final = 3
_LONGEST_BUCKET: Final = timedelta(days=1)
_LISTING_LIMIT: Final = 100


def _epoch(moment: datetime) -> int:
    return math.floor(moment.timestamp())


def _page_items(page: object, where: str) -> tuple[list[Any], bool, str | None]:
    """The items, ``has_more`` and ``last_id`` of a list envelope, checked."""
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        raise SchemaError(f"{where}: expected a list envelope with 'data'")
    has_more = page.get("has_more")
    if not isinstance(has_more, bool):
        raise SchemaError(f"{where}: 'has_more' is missing or not a boolean")
    last_id = page.get("last_id")
    return page["data"], has_more, last_id if isinstance(last_id, str) else None


def _split(
    results: list[AIAuditLog | QuarantinedRecord],
) -> tuple[tuple[AIAuditLog, ...], tuple[QuarantinedRecord, ...]]:
    logs = tuple(r for r in results if not isinstance(r, QuarantinedRecord))
    bad = tuple(r for r in results if isinstance(r, QuarantinedRecord))
    return logs, bad


# ---------------------------------------------------------------------------
# Admin audit logs
# ---------------------------------------------------------------------------


async def read_admin_audit_logs(
    http: HTTPTransport,
    normalizer: Normalizer,
    *,
    native: NativeFilter,
    checkpoint: Mapping[str, Any] | None,
    query: AIAuditLogQuery,
    tenant: bool = False,
) -> AsyncGenerator[StreamBatch, None]:
    """Read ``/organization/audit_logs`` in ascending windows from *checkpoint*.

    With *tenant*, read the tenant-scoped events instead: the API serves them
    only with ``tenant_only=true`` and never mixed with organization events,
    so they are a stream of their own, in wider windows (they are rare).
    """
    types = native.admin_event_types
    if types is not None:
        types = frozenset(t for t in types if is_tenant_scoped(t) == tenant)
        if not types:
            return
    base: list[tuple[str, Any]] = [("limit", PAGE_SIZE)]
    if tenant:
        base.append(("tenant_only", True))
    if types:
        base.append(("event_types[]", sorted(types)))
    if query.user_ids:
        base.append(("actor_ids[]", sorted(query.user_ids)))
    width = TENANT_WINDOW if tenant else WINDOW
    end = _epoch(query.end_date) + 1  # the query's end second is inclusive
    low = int(checkpoint["until"]) - OVERLAP if checkpoint else 0
    low = max(low, _epoch(query.start_date))
    seen = frozenset(checkpoint.get("seen", ())) if checkpoint else frozenset()
    if checkpoint and isinstance(checkpoint.get("width"), int):
        # The next window's width travels in the checkpoint, so a read
        # resumed there cuts the same windows, and yields the same records
        # in the same order, as the read that wrote it (page cursors count
        # records from a checkpoint).
        width = max(MIN_WINDOW, min(MAX_WINDOW, checkpoint["width"]))
    while low < end:
        high = min(low + width, end)
        if end - high < width // 4:
            # A sliver left over would cost a window, and a partial page, of
            # its own: read it with this one.
            high = end
        reader = _Window(http, normalizer, base, low, high, seen)
        # Closed here, not by the garbage collector, so a read stopped early
        # cancels the window's page in flight before it returns.
        async with contextlib.aclosing(reader.batches()) as batches:
            async for batch in batches:
                yield batch
        seen = frozenset(reader.in_overlap)
        width = next_window(reader.high - reader.low, reader.served)
        yield StreamBatch(
            checkpoint={"until": reader.high, "seen": sorted(seen), "width": width}
        )
        low = reader.high - OVERLAP if reader.high < end else end


def next_window(width: int, served: int) -> int:
    """The width, in seconds, of the window after one of *width* that held *served*.

    Activity drifts slowly (a weekly rhythm, an organization's growth), so the
    last window's density is a good guess for the next: aim at
    :data:`TARGET_WINDOW_EVENTS`, within :data:`MIN_WINDOW` and
    :data:`MAX_WINDOW`. A guess that is off by a factor of a few only moves
    the partial-page overhead between 0.3% and 3% of the requests.
    """
    if served <= 0:
        return MAX_WINDOW
    return max(MIN_WINDOW, min(MAX_WINDOW, width * TARGET_WINDOW_EVENTS // served))


@attrs.define
class _Window:
    """One window of the audit log, drained newest first, page by page.

    Attributes:
        in_overlap: Ids of the events in the last :data:`OVERLAP` seconds of
            the window; the next window re-reads those seconds and skips them.
        served: Records the API served for the window (re-served ones
            included): its density, which sizes the next window.
    """

    http: HTTPTransport
    normalizer: Normalizer
    base: list[tuple[str, Any]]
    low: int
    high: int
    seen: frozenset[str]
    in_overlap: list[str] = attrs.Factory(list)
    served: int = 0

    async def batches(self) -> AsyncGenerator[StreamBatch, None]:
        """Yield the window's pages, normalized, one batch per page.

        The next page is requested before this one is normalized: the
        cursor is known as soon as the page is decoded, so the server's work
        and the wire overlap the normalizing, which is about half of a
        page's cost on the client. Only one page is ever ahead, so memory
        stays bounded by two pages, and a consumer that stops early cancels
        the request in flight.
        """
        params = [
            *self.base,
            ("effective_at[gte]", self.low),
            ("effective_at[lt]", self.high),
        ]
        fetch = self._fetch(params, None)
        ahead: asyncio.Task[Any] | None = None
        previous: frozenset[str] = frozenset()
        try:
            page: Any = await fetch
            while True:
                items, has_more, last_id = _page_items(page, "audit_logs")
                more = has_more and last_id is not None
                if more:
                    ahead = asyncio.ensure_future(self._fetch(params, last_id))
                    # Let the request go out before the CPU-bound normalizing.
                    await asyncio.sleep(0)
                self.served += len(items)
                batch, previous = self._normalize(items, previous)
                if batch is not None:
                    yield batch
                if ahead is None:
                    return
                page, ahead = await ahead, None
        finally:
            if ahead is not None:
                ahead.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await ahead

    def _fetch(self, params: list[tuple[str, Any]], after: str | None) -> Any:
        return self.http.get_json(
            "/organization/audit_logs",
            params=params + ([("after", after)] if after else []),
        )

    def _normalize(
        self, items: list[Any], previous: frozenset[str]
    ) -> tuple[StreamBatch | None, frozenset[str]]:
        """One page's batch, and the ids of its records for the next page.

        A record the previous page ended with (a boundary served twice) or
        one the previous window already delivered is skipped.
        """
        skip = previous | self.seen if self.seen else previous
        edge = self.high - OVERLAP
        ids: list[str] = []
        fresh = []
        for record in items:
            rid = _record_id(record)
            if rid is not None:
                ids.append(rid)
                # Skipped ones count too: in a window shorter than two
                # overlaps, an id the last window delivered can sit in this
                # one's overlap, and the next window must skip it as well.
                at = record.get("effective_at")
                if isinstance(at, int) and at >= edge and rid not in self.in_overlap:
                    self.in_overlap.append(rid)
                if rid in skip:
                    continue
            fresh.append(record)
        logs, bad = _split([self.normalizer.admin_audit_log(r) for r in fresh])
        batch = StreamBatch(logs=logs, quarantined=bad) if logs or bad else None
        return batch, frozenset(ids)


def _record_id(record: object) -> str | None:
    if isinstance(record, dict):
        rid = record.get("id")
        if isinstance(rid, str):
            return rid
    return None


# ---------------------------------------------------------------------------
# Compliance Logs Platform
# ---------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def read_compliance_logs(
    http: HTTPTransport,
    normalizer: Normalizer,
    *,
    native: NativeFilter,
    workspace_id: str,
    checkpoint: Mapping[str, Any] | None,
    query: AIAuditLogQuery,
) -> AsyncGenerator[StreamBatch, None]:
    """List Logs Platform files from *checkpoint* and read each one."""
    types = native.compliance_event_types
    if types is not None and not types:
        return
    base = f"/compliance/workspaces/{workspace_id}/logs"
    position = _FilePosition.resume(checkpoint, query)
    params: list[tuple[str, Any]] = [
        ("limit", _LISTING_LIMIT),
        ("event_type", sorted(types or COMPLIANCE_TYPES)),
        # A file's records end at its end time but start earlier (an hour, a
        # day before): a file that ends after the query may still hold some.
        ("before", _iso(query.end_date + _LONGEST_BUCKET)),
    ]
    while True:
        page = await http.get_json(base, params=[*params, ("after", position.after)])
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise SchemaError("compliance logs: expected a listing with 'data'")
        for item in page["data"]:
            file_id = item.get("id") if isinstance(item, dict) else None
            end_time = item.get("end_time") if isinstance(item, dict) else None
            if not isinstance(file_id, str) or not isinstance(end_time, str):
                reason = "listing item without a string id and end_time"
                bad = QuarantinedRecord.of(
                    STREAM_COMPLIANCE, reason, orjson.dumps(item)
                )
                yield StreamBatch(quarantined=(bad,))
                continue
            if file_id in position.done:
                continue  # the boundary file, listed again
            async for batch in _read_file(
                http, normalizer, f"{base}/{file_id}", file_id
            ):
                yield batch
            position.advance(end_time, file_id)
            yield StreamBatch(checkpoint=position.checkpoint())
        last_end = page.get("last_end_time")
        if (
            not page.get("has_more")
            or not isinstance(last_end, str)
            or not page["data"]
        ):
            return
        position.advance(last_end, None)


@attrs.define
class _FilePosition:
    """Where the file listing stands: an end time, and the files at it done.

    The listing returns files ending at or after ``after``, the boundary one
    included, so the ids already read at that end time are remembered.
    """

    after: str
    done: set[str]

    @classmethod
    def resume(
        cls, checkpoint: Mapping[str, Any] | None, query: AIAuditLogQuery
    ) -> _FilePosition:
        if checkpoint:
            return cls(str(checkpoint["after"]), set(checkpoint.get("seen", ())))
        return cls(_iso(query.start_date), set())

    def advance(self, end_time: str, file_id: str | None) -> None:
        if end_time != self.after:
            self.after, self.done = end_time, set()
        if file_id is not None:
            self.done.add(file_id)

    def checkpoint(self) -> dict[str, Any]:
        return {"after": self.after, "seen": sorted(self.done)}


async def _read_file(
    http: HTTPTransport, normalizer: Normalizer, path: str, file_id: str
) -> AsyncGenerator[StreamBatch, None]:
    """One file's logs in chunks; a broken download resumes after the lines
    already read, so a retry neither loses nor repeats a record."""
    consumed = 0
    for attempt in range(1, _FILE_ATTEMPTS + 1):
        position = 0
        chunk: list[AIAuditLog | QuarantinedRecord] = []
        try:
            async with contextlib.aclosing(http.stream_lines(path)) as lines:
                async for line in lines:
                    position += 1
                    if position <= consumed or not line.strip():
                        continue
                    chunk.extend(_parse_line(normalizer, line, file_id, position))
                    consumed = position
                    if len(chunk) >= FILE_CHUNK:
                        logs, bad = _split(chunk)
                        chunk = []
                        yield StreamBatch(logs=logs, quarantined=bad)
        except (TransportError, SchemaError) as exc:
            # Nothing read in this attempt: the transport has already
            # retried the download's start as its policy allows. Only a
            # download broken part-way is worth another attempt here.
            if (
                isinstance(exc, ConnectorTimeoutError)
                or attempt == _FILE_ATTEMPTS
                or position == 0
            ):
                raise
            log.warning(
                "compliance.file_retry",
                file=file_id,
                attempt=attempt,
                lines_done=consumed,
                error=type(exc).__name__,
            )
            if chunk:
                logs, bad = _split(chunk)
                yield StreamBatch(logs=logs, quarantined=bad)
            continue
        if chunk:
            logs, bad = _split(chunk)
            yield StreamBatch(logs=logs, quarantined=bad)
        return


def _parse_line(
    normalizer: Normalizer, line: bytes, file_id: str, number: int
) -> list[AIAuditLog | QuarantinedRecord]:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return [
            QuarantinedRecord.of(
                STREAM_COMPLIANCE,
                f"line {number} of {file_id} is not JSON: {exc}",
                line,
            )
        ]
    result = normalizer.compliance_record(record, log_id=file_id)
    if isinstance(result, QuarantinedRecord):
        return [result]
    return list(result)


# ---------------------------------------------------------------------------
# Custom GPTs
# ---------------------------------------------------------------------------


async def list_all(http: HTTPTransport, path: str, where: str) -> AsyncIterator[Any]:
    """Every item of a cursor listing (``after``/``has_more``/``last_id``),
    each page checked as a list envelope."""
    after: str | None = None
    while True:
        params: list[tuple[str, Any]] = [("limit", _LISTING_LIMIT)]
        if after:
            params.append(("after", after))
        page = await http.get_json(path, params=params)
        items, has_more, last_id = _page_items(page, where)
        for item in items:
            yield item
        if not has_more or last_id is None:
            return
        after = last_id


def list_gpts(http: HTTPTransport, workspace_id: str) -> AsyncIterator[Any]:
    """Every GPT object of the workspace."""
    return list_all(http, f"/compliance/workspaces/{workspace_id}/gpts", "gpts")


async def read_custom_gpts(
    http: HTTPTransport,
    normalizer: Normalizer,
    *,
    native: NativeFilter,
    workspace_id: str,
    checkpoint: Mapping[str, Any] | None,
) -> AsyncGenerator[StreamBatch, None]:
    """GPT events after *checkpoint*, in time order, from a full listing."""
    if not native.gpts:
        return
    results: list[AIAuditLog | QuarantinedRecord] = []
    async for gpt in list_gpts(http, workspace_id):
        produced = normalizer.custom_gpt(gpt)
        results.extend(
            [produced] if isinstance(produced, QuarantinedRecord) else produced
        )
    logs, bad = _split(results)
    since = float(checkpoint["since"]) if checkpoint else None
    seen = set(checkpoint.get("seen", ())) if checkpoint else set()
    ordered = sorted(logs, key=lambda entry: (entry.timestamp, entry.id))
    fresh = [
        entry
        for entry in ordered
        if since is None
        or entry.timestamp.timestamp() > since
        or (entry.timestamp.timestamp() == since and entry.id not in seen)
    ]
    if bad:
        yield StreamBatch(quarantined=bad)
    for start in range(0, len(fresh), PAGE_SIZE):
        batch = tuple(fresh[start : start + PAGE_SIZE])
        last = batch[-1].timestamp.timestamp()
        if last != since:
            since, seen = last, set()
        seen.update(e.id for e in batch if e.timestamp.timestamp() == last)
        yield StreamBatch(logs=batch, checkpoint={"since": since, "seen": sorted(seen)})
    if not fresh:
        yield StreamBatch(
            checkpoint={"since": since, "seen": sorted(seen)}
            if since is not None
            else {"since": 0.0, "seen": []}
        )
