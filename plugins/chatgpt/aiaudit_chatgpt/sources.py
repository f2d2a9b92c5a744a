"""The connector's three streams, each read from its own checkpoint.

* ``admin_audit_logs`` (and ``admin_tenant_audit_logs``, the tenant-scoped
  events the API serves only on request): the organization's audit log. The API serves
  it newest first, so it is read in ascending time windows, each drained page
  by page before its end becomes the checkpoint. Windows are sized from the
  density the previous one showed, so each holds about
  :data:`TARGET_WINDOW_EVENTS` events: a window costs one partial page, and
  a hundred full pages per partial one keep the requests within about 1% of
  the fewest possible. Each window, and each read resumed from a
  checkpoint, re-reads the last :data:`ADMIN_PUBLICATION_LAG` before the
  previous end, to catch events the API publishes late; the ids already
  delivered there travel in the checkpoint, so nothing is doubled and a read
  resumed from a checkpoint yields exactly what the uninterrupted read would
  have. A read for a page of the core (``query.limit`` set, the logs the
  page needs) asks for about that many per request and checkpoints inside
  the window after every page of the API, at the API's ``after`` cursor, so
  a page costs about a request instead of a re-read of its window.
* ``compliance_logs``: the Compliance API's Logs Platform. Files are listed
  by end time and downloaded through a signed URL, line by line; each file is
  a checkpoint. Whether ``after=T`` lists the files ending at ``T`` is not
  documented, so each page is asked from just before the last end time and a
  resumed read from :data:`FILES_PUBLICATION_LAG` before it, skipping the
  ids already read, which the checkpoint keeps for that trailing stretch.
* ``custom_gpts``: the workspace's custom GPTs, a listing with no time
  filter. It is a snapshot with stable ids, read whole every time; every
  event within the query is emitted and the store deduplicates by id. Its
  checkpoint is only the floor of the first read's range, so nothing a later
  listing shows can hide behind it.

Every listing loop is guarded (:mod:`connector_core.cursors`): a cursor
that repeats or a time cursor that goes back stops the stream with a
``SchemaError`` instead of spinning.

Memory stays bounded by a page (or a file chunk); only the GPT listing is
held whole, and a workspace has thousands of GPTs at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
from collections.abc import Container, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TypeGuard

import attrs
import orjson

from aiaudit_chatgpt.event_map import (
    STREAM_COMPLIANCE,
    NativeFilter,
    is_tenant_scoped,
)
from aiaudit_chatgpt.normalize import Normalizer
from connector_core import get_logger
from connector_core.cursors import CursorGuard, SeenIds, TimeCursorGuard
from connector_core.exceptions import CheckpointError, SchemaError, TransportError
from connector_core.http import HTTPTransport, OversizedLine
from connector_core.streams import QuarantinedRecord, StreamBatch


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator

    from connector_core.models import AIAuditLog, AIAuditLogQuery


__all__ = [
    "ADMIN_PUBLICATION_LAG",
    "FILES_PUBLICATION_LAG",
    "FILE_CHUNK",
    "MAX_WINDOW",
    "MIN_WINDOW",
    "PAGE_SIZE",
    "TARGET_WINDOW_EVENTS",
    "TIE_MARGIN",
    "WINDOW",
    "list_all",
    "list_gpts",
    "next_window",
    "read_admin_audit_logs",
    "read_compliance_logs",
    "read_custom_gpts",
    "unreadable_checkpoint",
]

log = get_logger(__name__)

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
"""The narrowest window: an hour, far wider than
:data:`ADMIN_PUBLICATION_LAG`, so a window always advances however dense the
log gets."""

MAX_WINDOW: Final = 31 * 86_400
"""The widest window, so a long quiet stretch still yields checkpoints."""

ADMIN_PUBLICATION_LAG: Final = timedelta(minutes=15)
"""How late an audit event may appear after its ``effective_at``.

OpenAI documents no lag. Audit pipelines publish within seconds to minutes;
a quarter of an hour covers that with room, costs one re-read of a quarter
hour per window (a partial page), and keeps the checkpoint's ids (about 11
characters each) to the events of a quarter hour. See ``docs/chatgpt.md``."""

FILES_PUBLICATION_LAG: Final = timedelta(days=1)
"""How late a Logs Platform file may appear after its end time.

Files are hour and day buckets, published after their bucket closes; a
file listed a day late is still read. The re-read costs a listing page or
two per sync (no download: read files are skipped by id), and the checkpoint
holds the ids of a day's files, a few hundred at most."""

TIE_MARGIN: Final = timedelta(seconds=1)
"""How far before the last end time each listing page is asked from, so the
files sharing that end time come whether ``after`` is inclusive or not."""

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


def unreadable_checkpoint(stream: str, problem: str) -> CheckpointError:
    """The error for a stored checkpoint this reader did not write.

    A :class:`~connector_core.exceptions.CheckpointError`, so the sync engine
    reports it for this stream alone with the command that clears it. The
    reason names what is wrong, never the checkpoint's contents.
    """
    return CheckpointError(stream, problem)


def _as_mapping(stream: str, checkpoint: object) -> Mapping[str, Any]:
    """A stored checkpoint as the object it must be (JSON may hold anything)."""
    if not isinstance(checkpoint, Mapping):
        raise unreadable_checkpoint(stream, "not an object")
    return checkpoint


def _seen_ids(stream: str, checkpoint: Mapping[str, Any], key: str = "seen") -> SeenIds:
    try:
        return SeenIds.decode(checkpoint.get(key, []))
    except ValueError as exc:
        raise unreadable_checkpoint(stream, f"'{key}': {exc}") from None


def _parse_time(value: object) -> datetime | None:
    """An ISO 8601 time with a zone, in UTC, or ``None``."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


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
    stream: str = "admin_audit_logs",
    lag: timedelta = ADMIN_PUBLICATION_LAG,
) -> AsyncGenerator[StreamBatch, None]:
    """Read ``/organization/audit_logs`` in ascending windows from *checkpoint*.

    With a checkpoint the read resumes there, *lag* before its end, whatever
    the query's start; without one it starts at the query's start.
    With *tenant*, read the tenant-scoped events instead: the API serves them
    only with ``tenant_only=true`` and never mixed with organization events,
    so they are a stream of their own, in wider windows (they are rare).

    ``query.limit`` is the core's hint for a page: the logs it still needs.
    With it, each request asks for about that many, nothing is fetched
    ahead of what the page needs, and every page of the API ends with a
    checkpoint inside the window (:class:`_InWindow`), so the next page
    resumes at the API's own cursor: a page of ten costs a request, not a
    re-read of its window. Without it (a sync, a plain stream), pages of
    :data:`PAGE_SIZE`, the next one fetched ahead, and a checkpoint only at
    each window's end: the fewest requests, and the fewest checkpoints to
    store.
    """
    base = _admin_params(native, query, tenant=tenant)
    if base is None:
        return
    stretch = max(1, math.ceil(lag.total_seconds()))
    width = TENANT_WINDOW if tenant else WINDOW
    end = _epoch(query.end_date) + 1  # the query's end second is inclusive
    budget = _Budget(query.limit)
    seen = SeenIds()
    inside: _InWindow | None = None
    if checkpoint and "window" in _as_mapping(stream, checkpoint):
        inside = _InWindow.read(stream, checkpoint)
        low = inside.low
        end = max(end, inside.high)
    elif checkpoint:
        until, seen, stored_width = _admin_checkpoint(stream, checkpoint)
        low = until - stretch
        # Never move a checkpoint back: a query ending before it still
        # re-reads the trailing stretch, for the events published late.
        end = max(end, until)
        if stored_width is not None:
            # The next window's width travels in the checkpoint, so a read
            # resumed there cuts the same windows, and yields the same
            # records in the same order, as the read that wrote it (page
            # cursors count records from a checkpoint).
            width = max(MIN_WINDOW, min(MAX_WINDOW, stored_width))
    else:
        low = _epoch(query.start_date)
    while low < end:
        if inside is not None:
            reader = inside.resume(
                http=http,
                normalizer=normalizer,
                base=base,
                stretch=stretch,
                stream=stream,
                budget=budget,
            )
            inside = None
        else:
            high = min(low + width, end)
            if end - high < width // 4:
                # A sliver left over would cost a window, and a partial page,
                # of its own: read it with this one.
                high = end
            reader = _Window(
                http, normalizer, base, low, high, seen, stretch, stream, budget
            )
        # Closed here, not by the garbage collector, so a read stopped early
        # cancels the window's page in flight before it returns.
        async with contextlib.aclosing(reader.batches()) as batches:
            async for batch in batches:
                yield batch
        seen = reader.in_stretch
        width = next_window(reader.high - reader.low, reader.served)
        yield StreamBatch(
            checkpoint={"until": reader.high, "seen": seen.encode(), "width": width}
        )
        low = reader.high - stretch if reader.high < end else end


def _admin_params(
    native: NativeFilter, query: AIAuditLogQuery, *, tenant: bool
) -> list[tuple[str, Any]] | None:
    """The filters every page asks with (its size apart); ``None`` when none
    can match."""
    types = native.admin_event_types
    if types is not None:
        types = frozenset(t for t in types if is_tenant_scoped(t) == tenant)
        if not types:
            return None
    base: list[tuple[str, Any]] = []
    if tenant:
        base.append(("tenant_only", True))
    if types:
        base.append(("event_types[]", sorted(types)))
    if query.user_ids:
        base.append(("actor_ids[]", sorted(query.user_ids)))
    return base


def _admin_checkpoint(
    stream: str, checkpoint: Mapping[str, Any]
) -> tuple[int, SeenIds, int | None]:
    """``until``, the ids seen before it and the next width, checked."""
    checkpoint = _as_mapping(stream, checkpoint)
    until = checkpoint.get("until")
    if not _is_int(until):
        raise unreadable_checkpoint(stream, "'until' is not a Unix time")
    width = checkpoint.get("width")
    if width is not None and not _is_int(width):
        raise unreadable_checkpoint(stream, "'width' is not a number of seconds")
    return until, _seen_ids(stream, checkpoint), width


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


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
class _Budget:
    """How many logs the read's consumer asked for, and how many it has had.

    Attributes:
        want: ``query.limit``, the core's hint for a page (the logs it still
            needs from the checkpoint), or ``None`` for a read to the end.
        delivered: Logs yielded so far, over every window of the read.
    """

    want: int | None
    delivered: int = 0

    @property
    def hinted(self) -> bool:
        return self.want is not None

    def size(self, pending: int = 0) -> int:
        """The page size to ask for, *pending* records not yet counted.

        What the page still needs, at most :data:`PAGE_SIZE`. A consumer
        that reads on past its hint (some logs did not match its filters)
        gets pages of the hint's size again.
        """
        if self.want is None:
            return PAGE_SIZE
        left = self.want - self.delivered - pending
        return min(PAGE_SIZE, left if left > 0 else self.want)

    def wants_more(self, pending: int) -> bool:
        """Whether the consumer will ask for more after *pending* records:
        only then is a page fetched ahead (a request it would not use costs
        as much as one it does)."""
        return self.want is None or self.delivered + pending < self.want


@attrs.define
class _InWindow:
    """A position inside a window, as a checkpoint: where a page of the core
    ends when the read is hinted.

    It holds all a read resumed there needs to go on exactly as the read
    that wrote it would have: the window, the API's ``after`` cursor, the
    ids the previous window delivered in its trailing stretch (still to be
    skipped at this window's start, which is read last), the ids of this
    window's own trailing stretch delivered so far (for the next window),
    the ids of the last page (a server that re-serves the boundary record
    is answered the same way), and the records served so far (which size
    the next window). A checkpoint weighs about 11 characters per id.
    """

    low: int
    high: int
    after: str
    seen: SeenIds
    in_stretch: SeenIds
    page: SeenIds
    served: int

    def encode(self, seen: str) -> dict[str, Any]:
        """The checkpoint; *seen* is :attr:`seen` already encoded (it stays
        the same over the window)."""
        return {
            "window": [self.low, self.high],
            "after": self.after,
            "seen": seen,
            "stretch": self.in_stretch.encode(),
            "page": self.page.encode(),
            "served": self.served,
        }

    @classmethod
    def read(cls, stream: str, checkpoint: Mapping[str, Any]) -> _InWindow:
        window = checkpoint.get("window")
        if not (
            isinstance(window, list)
            and len(window) == 2  # noqa: PLR2004 - a window's two ends
            and _is_int(window[0])
            and _is_int(window[1])
            and window[0] < window[1]
        ):
            raise unreadable_checkpoint(
                stream, "'window' is not two Unix times in ascending order"
            )
        after = checkpoint.get("after")
        if not isinstance(after, str) or not after:
            raise unreadable_checkpoint(stream, "'after' is not an audit log id")
        served = checkpoint.get("served")
        if not _is_int(served) or served < 0:
            raise unreadable_checkpoint(stream, "'served' is not a count")
        return cls(
            low=window[0],
            high=window[1],
            after=after,
            seen=_seen_ids(stream, checkpoint),
            in_stretch=_seen_ids(stream, checkpoint, "stretch"),
            page=_seen_ids(stream, checkpoint, "page"),
            served=served,
        )

    def resume(
        self,
        *,
        http: HTTPTransport,
        normalizer: Normalizer,
        base: list[tuple[str, Any]],
        stretch: int,
        stream: str,
        budget: _Budget,
    ) -> _Window:
        """The window, to be read on from this position."""
        return _Window(
            http,
            normalizer,
            base,
            self.low,
            self.high,
            self.seen,
            stretch,
            stream,
            budget,
            after=self.after,
            previous=self.page,
            in_stretch=self.in_stretch,
            served=self.served,
        )


@attrs.define
class _Window:
    """One window of the audit log, drained newest first, page by page.

    Attributes:
        seen: Ids the previous window delivered in its trailing stretch,
            which is where this one starts: they are skipped.
        stretch: Seconds of the publication lag; the next window re-reads
            the last *stretch* seconds of this one.
        budget: The read's page sizes, and whether it checkpoints each page.
        after: The API cursor the window resumes at (``None``: its newest
            record), and *previous* the ids of the page before it.
        in_stretch: Ids of the events in the last *stretch* seconds of the
            window; the next window re-reads those seconds and skips them.
        served: Records the API served for the window (re-served ones
            included): its density, which sizes the next window.
    """

    http: HTTPTransport
    normalizer: Normalizer
    base: list[tuple[str, Any]]
    low: int
    high: int
    seen: SeenIds
    stretch: int
    stream: str
    budget: _Budget
    after: str | None = None
    previous: Container[str] = frozenset()
    in_stretch: SeenIds = attrs.Factory(SeenIds)
    served: int = 0

    async def batches(self) -> AsyncGenerator[StreamBatch, None]:
        """Yield the window's pages, normalized, one batch per page.

        The next page is requested before this one is normalized: the
        cursor is known as soon as the page is decoded, so the server's work
        and the wire overlap the normalizing, which is about half of a
        page's cost on the client. Only one page is ever ahead, so memory
        stays bounded by two pages, and a consumer that stops early cancels
        the request in flight; a hinted read fetches ahead only what its
        consumer is sure to ask for. A ``last_id`` the window already
        followed stops the read (:class:`~connector_core.cursors.CursorGuard`).
        """
        params = [
            *self.base,
            ("effective_at[gte]", self.low),
            ("effective_at[lt]", self.high),
        ]
        guard = CursorGuard(f"{self.stream}: audit_logs listing", "last_id")
        if self.after is not None:
            # Resumed inside the window: a server that hands this cursor
            # back is caught at once, as the uninterrupted read would be.
            guard.advance(self.after)
        seen = self.seen.encode() if self.budget.hinted else ""
        ahead: asyncio.Task[Any] | None = None
        previous = self.previous
        try:
            page: Any = await self._fetch(params, self.after, self.budget.size())
            while True:
                items, has_more, last_id = _page_items(page, "audit_logs")
                more = has_more and last_id is not None
                if more:
                    assert last_id is not None  # noqa: S101 - for the type checker
                    guard.advance(last_id)
                    if self.budget.wants_more(len(items)):
                        size = self.budget.size(len(items))
                        ahead = asyncio.ensure_future(
                            self._fetch(params, last_id, size)
                        )
                        # Let the request go out before the CPU-bound
                        # normalizing.
                        await asyncio.sleep(0)
                self.served += len(items)
                batch, previous = self._normalize(items, previous)
                if more and self.budget.hinted:
                    assert last_id is not None  # noqa: S101 - for the type checker
                    here = _InWindow(
                        self.low,
                        self.high,
                        last_id,
                        self.seen,
                        self.in_stretch,
                        SeenIds(previous),
                        self.served,
                    )
                    batch = attrs.evolve(
                        batch or StreamBatch(), checkpoint=here.encode(seen)
                    )
                if batch is not None:
                    self.budget.delivered += len(batch.logs)
                    yield batch
                if not more:
                    return
                if ahead is None:
                    # Asked for more than the hint: on demand, no sooner.
                    ahead = asyncio.ensure_future(
                        self._fetch(params, last_id, self.budget.size())
                    )
                page, ahead = await ahead, None
        finally:
            if ahead is not None:
                ahead.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await ahead

    def _fetch(
        self, params: list[tuple[str, Any]], after: str | None, size: int
    ) -> Any:
        return self.http.get_json(
            "/organization/audit_logs",
            params=[("limit", size), *params] + ([("after", after)] if after else []),
        )

    def _normalize(
        self, items: list[Any], previous: Container[str]
    ) -> tuple[StreamBatch | None, frozenset[str]]:
        """One page's batch, and the ids of its records for the next page.

        A record the previous page ended with (a boundary served twice) or
        one the previous window already delivered is skipped. The ids the
        previous window delivered all lie in its trailing stretch, where
        this window starts, so only records there are looked up.
        """
        seen = self.seen
        seen_before = self.low + self.stretch if seen else self.low
        edge = self.high - self.stretch
        ids: list[str] = []
        fresh = []
        for record in items:
            rid = _record_id(record)
            if rid is not None:
                ids.append(rid)
                at = record.get("effective_at")
                if isinstance(at, int):
                    # Skipped ones count too: in a window shorter than two
                    # stretches, an id the last window delivered can sit in
                    # this one's stretch, and the next window must skip it.
                    if at >= edge:
                        self.in_stretch.add(rid)
                    if at < seen_before and rid in seen:
                        continue
                if rid in previous:
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
    lag: timedelta = FILES_PUBLICATION_LAG,
    max_record_bytes: int | None = None,
) -> AsyncGenerator[StreamBatch, None]:
    """List Logs Platform files from *checkpoint* and read each one.

    A line longer than the transport's ``max_line`` arrives as an
    :class:`~connector_core.http.OversizedLine` and is quarantined, its
    size and the cap (*max_record_bytes*, for the reason) named, its first
    bytes kept as evidence; the read goes on with the next line.

    The API does not say whether ``after=T`` lists the files ending at
    ``T``. Read either way, the listing loses nothing here: each page is
    asked from :data:`TIE_MARGIN` before the last end time, a resumed read
    from *lag* before the checkpoint's, and files already read are skipped
    by id. With a checkpoint the query's start is ignored.
    """
    types = native.compliance_event_types
    if types is not None and not types:
        return
    base = f"/compliance/workspaces/{workspace_id}/logs"
    position = _FilePosition.resume(
        checkpoint, query, stretch=max(lag, TIE_MARGIN), stream=STREAM_COMPLIANCE
    )
    params: list[tuple[str, Any]] = [
        ("limit", _LISTING_LIMIT),
        ("event_type", sorted(types or COMPLIANCE_TYPES)),
        # A file's records end at its end time but start earlier (an hour, a
        # day before): a file that ends after the query may still hold some.
        ("before", _iso(query.end_date + _LONGEST_BUCKET)),
    ]
    guard = TimeCursorGuard(f"{STREAM_COMPLIANCE}: logs listing", "last_end_time")
    after = position.start
    while True:
        page = await http.get_json(base, params=[*params, ("after", _iso(after))])
        items, following = _listing_page(page, guard, after)
        for item in items:
            file_id = item.get("id") if isinstance(item, dict) else None
            end_time = _parse_time(item.get("end_time")) if file_id else None
            if not isinstance(file_id, str) or end_time is None:
                reason = "listing item without a string id and an ISO end_time"
                bad = QuarantinedRecord.of(
                    STREAM_COMPLIANCE, reason, orjson.dumps(item)
                )
                yield StreamBatch(quarantined=(bad,))
                continue
            if position.read(file_id, end_time):
                continue  # read before: listed again at or after the boundary
            async for batch in _read_file(
                http, normalizer, f"{base}/{file_id}", file_id, max_record_bytes
            ):
                yield batch
            position.advance(end_time, file_id)
            yield StreamBatch(checkpoint=position.checkpoint())
        if following is None:
            return
        after = following - TIE_MARGIN


def _listing_page(
    page: object, guard: TimeCursorGuard, after: datetime
) -> tuple[list[Any], datetime | None]:
    """A Logs Platform listing page's items, and the end time the next page
    continues from (``None`` at the end).

    The cursor is checked before the page's files are read: a listing that
    does not advance stops here, not a page of downloads later.
    """
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        raise SchemaError("compliance logs: expected a listing with 'data'")
    if not page.get("has_more") or not page["data"]:
        return page["data"], None
    last_end = _parse_time(page.get("last_end_time"))
    if last_end is None:
        raise SchemaError(
            f"{STREAM_COMPLIANCE}: logs listing page {guard.pages + 1} says "
            "has_more but gives no ISO last_end_time to continue from"
        )
    guard.advance(last_end, floor=after)
    return page["data"], last_end


@attrs.define
class _FilePosition:
    """Where the file listing stands, and the files read near it.

    Attributes:
        stretch: How far back from the newest end time a read resumes.
        start: Where this read's listing starts.
        end: The newest end time of a file read (``None`` before any).
        recent: The files read (or listed again) in this read, by id, with
            their end times; pruned to the trailing stretch when saved.
        carried: The ids the checkpoint this read resumed from held, and
            the end time they trail (kept until the newest end time is a
            stretch past it).
    """

    stretch: timedelta
    start: datetime
    end: datetime | None
    recent: dict[str, datetime]
    carried: SeenIds
    carried_end: datetime | None

    @classmethod
    def resume(
        cls,
        checkpoint: Mapping[str, Any] | None,
        query: AIAuditLogQuery,
        *,
        stretch: timedelta,
        stream: str,
    ) -> _FilePosition:
        if not checkpoint:
            return cls(stretch, query.start_date, None, {}, SeenIds(), None)
        checkpoint = _as_mapping(stream, checkpoint)
        # "after" is how checkpoints written before the trailing stretch
        # named the newest end time.
        end = _parse_time(checkpoint.get("end", checkpoint.get("after")))
        if end is None:
            raise unreadable_checkpoint(stream, "'end' is not an ISO time")
        seen = _seen_ids(stream, checkpoint)
        return cls(stretch, end - stretch, end, {}, seen, end)

    def read(self, file_id: str, end_time: datetime) -> bool:
        """Whether *file_id* was read already; remembers it if so."""
        if file_id in self.recent or file_id in self.carried:
            self.recent[file_id] = end_time
            return True
        return False

    def advance(self, end_time: datetime, file_id: str) -> None:
        self.recent[file_id] = end_time
        if self.end is None or end_time > self.end:
            self.end = end_time

    def checkpoint(self) -> dict[str, Any]:
        assert self.end is not None  # noqa: S101 - called after a file is read
        floor = self.end - self.stretch
        seen = SeenIds(i for i, at in self.recent.items() if at >= floor)
        if self.carried_end is not None and self.carried_end >= floor:
            seen.update(self.carried)
        # Ids below the floor are never asked for again: forget them, so
        # memory stays bounded by the stretch over a long read.
        self.recent = {i: at for i, at in self.recent.items() if at >= floor}
        return {"end": _iso(self.end), "seen": seen.encode()}


async def _read_file(
    http: HTTPTransport,
    normalizer: Normalizer,
    path: str,
    file_id: str,
    cap: int | None = None,
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
                    if isinstance(line, OversizedLine):
                        chunk.append(_oversized(line, file_id, position, cap))
                    else:
                        chunk.extend(_parse_line(normalizer, line, file_id, position))
                    consumed = position
                    if len(chunk) >= FILE_CHUNK:
                        logs, bad = _split(chunk)
                        chunk = []
                        yield StreamBatch(logs=logs, quarantined=bad)
        except (TransportError, SchemaError) as exc:
            # Nothing read in this attempt: the transport has already
            # retried the download's start as its policy allows. Only a
            # download broken (or stalled: a ConnectorTimeoutError) part-way
            # is worth another attempt here, from the line after the last
            # one handed out.
            if attempt == _FILE_ATTEMPTS or position == 0:
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


_EVENT_ID: Final = re.compile(rb'"event_id"\s*:\s*"([A-Za-z0-9_.:-]{1,200})"')


def _oversized(
    line: OversizedLine, file_id: str, number: int, cap: int | None
) -> QuarantinedRecord:
    """The quarantined record of a line too long to hold: its size and the
    cap in the reason, its first bytes as evidence, and the record's
    ``event_id`` when the evidence shows it (ids come first in a record)."""
    limit = f"the cap of {cap:,} bytes" if cap is not None else "the line cap"
    found = _EVENT_ID.search(line)
    return QuarantinedRecord.of(
        STREAM_COMPLIANCE,
        f"line {number} of {file_id} is {line.size:,} bytes, over {limit} "
        "(max_record_bytes): not read; its first bytes are kept",
        bytes(line),
        native_id=found.group(1).decode("ascii") if found else None,
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(line: bytes) -> Any:
    """A JSON line; one holding a lone surrogate escape (``\\ud800``) too.

    orjson refuses the escape, which is valid JSON syntax but no valid
    Unicode. One such record must cost that record, not the file: the
    standard library reads it (the surrogate stays in the string) and the
    normalizer or the store quarantines what it cannot keep. Anything else
    orjson refuses stays refused (``NaN`` included).

    Raises:
        ValueError: The line is not JSON.
    """
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        if "surrogate" not in exc.msg:
            raise
        return json.loads(line, parse_constant=_reject_constant)


def _parse_line(
    normalizer: Normalizer, line: bytes, file_id: str, number: int
) -> list[AIAuditLog | QuarantinedRecord]:
    try:
        record = _loads(line)
    except ValueError as exc:
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
    each page checked as a list envelope, and stopped with a
    :class:`SchemaError` if a ``last_id`` comes back."""
    after: str | None = None
    guard = CursorGuard(f"{where} listing", "last_id")
    while True:
        params: list[tuple[str, Any]] = [("limit", _LISTING_LIMIT)]
        if after:
            params.append(("after", after))
        page = await http.get_json(path, params=params)
        items, has_more, last_id = _page_items(page, where)
        more = has_more and last_id is not None
        if more:
            assert last_id is not None  # noqa: S101 - for the type checker
            guard.advance(last_id)  # before the items: fail fast
        for item in items:
            yield item
        if not more:
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
    query: AIAuditLogQuery,
    stream: str = "custom_gpts",
) -> AsyncGenerator[StreamBatch, None]:
    """Every GPT event within the query not yet delivered, in time order,
    from a full listing.

    The listing is a snapshot with stable ids, read whole every time. The
    checkpoint is the floor of the first read's range and the ids of the
    events delivered (those the listing still shows): not a newest time, so
    a GPT listed late, or one dated in the future, hides nothing; a resumed
    read yields only what was not delivered, so nothing comes twice. With a
    checkpoint the query's start is ignored. Only the last batch carries
    it: page cursors count from the start of the snapshot.
    """
    if not native.gpts:
        return
    floor, delivered = query.start_date, SeenIds()
    # A checkpoint with "since" was written by a reader that checkpointed the
    # newest time seen, which can hide GPTs: it is read as no checkpoint.
    if checkpoint and "since" not in _as_mapping(stream, checkpoint):
        parsed = _parse_time(checkpoint.get("floor"))
        if parsed is None:
            raise unreadable_checkpoint(stream, "'floor' is not an ISO time")
        floor, delivered = parsed, _seen_ids(stream, checkpoint)
    results: list[AIAuditLog | QuarantinedRecord] = []
    async for gpt in list_gpts(http, workspace_id):
        produced = normalizer.custom_gpt(gpt)
        results.extend(
            [produced] if isinstance(produced, QuarantinedRecord) else produced
        )
    logs, bad = _split(results)
    listed = sorted(
        (e for e in logs if floor <= e.timestamp <= query.end_date),
        key=lambda entry: (entry.timestamp, entry.id),
    )
    fresh = [entry for entry in listed if entry.id not in delivered]
    if bad:
        yield StreamBatch(quarantined=bad)
    for start in range(0, len(fresh), PAGE_SIZE):
        yield StreamBatch(logs=tuple(fresh[start : start + PAGE_SIZE]))
    # Delivered ids the listing no longer shows are dropped, so the
    # checkpoint stays the size of the listing.
    in_range = {entry.id for entry in listed}
    seen = SeenIds(e.id for e in logs if e.id in in_range or e.id in delivered)
    yield StreamBatch(checkpoint={"floor": _iso(floor), "seen": seen.encode()})
