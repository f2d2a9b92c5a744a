"""The Admin API's audit log, read in ascending time windows.

``admin_audit_logs`` (and ``admin_tenant_audit_logs``, the tenant-scoped
events the API serves only on request): the organization's audit log. The API serves
it newest first, so it is read in ascending time windows, each drained page
by page before its end becomes the checkpoint. Windows are sized from the
density the previous one showed, so each holds about
:data:`TARGET_WINDOW_EVENTS` events: a window costs one partial page, and
a hundred full pages per partial one keep the requests within about 1% of
the fewest possible. Each window, and each read resumed from a
checkpoint, re-reads the last :data:`ADMIN_PUBLICATION_LAG` before the
previous end, to catch events the API publishes late; the ids already
delivered there travel in the checkpoint
(:class:`~aiaudit_chatgpt.checkpoints.AdminWindowEnd`), so nothing is doubled
and a read resumed from a checkpoint yields exactly what the uninterrupted
read would have. A read for a page of the core (``query.limit`` set, the logs the
page needs) asks for about that many per request and checkpoints inside
the window after every page of the API, at the API's ``after`` cursor, so
a page costs about a request instead of a re-read of its window.

A read without that hint (a sync) reads several windows at once
(:func:`~connector_core.read_windows`): they are contiguous, cut only where
the log is settled, and a window's end is checkpointed only once every
window before it is read, so a crash anywhere resumes exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Container, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import attrs

from aiaudit_chatgpt.checkpoints import (
    AdminInWindow,
    AdminWindowEnd,
    read_admin_checkpoint,
)
from aiaudit_chatgpt.event_map import NativeFilter, is_tenant_scoped
from aiaudit_chatgpt.listings import page_items
from aiaudit_chatgpt.normalize import Normalizer
from connector_core import LogFilter, WindowSizing, read_windows
from connector_core.cursors import CursorGuard, SeenIds
from connector_core.http import HTTPTransport
from connector_core.streams import StreamBatch


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from connector_core.models import AIAuditLogQuery
    from connector_core.windows import Window


__all__ = [
    "ADMIN_PUBLICATION_LAG",
    "MAX_WINDOW",
    "MIN_WINDOW",
    "PAGE_SIZE",
    "TARGET_WINDOW_EVENTS",
    "WINDOW",
    "next_window",
    "read_admin_audit_logs",
]

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


def _epoch(moment: datetime) -> int:
    return math.floor(moment.timestamp())


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
    concurrency: int = 1,
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
    checkpoint inside the window (:class:`AdminInWindow`), so the next page
    resumes at the API's own cursor: a page of ten costs a request, not a
    re-read of its window. Without it (a sync, a plain stream), pages of
    :data:`PAGE_SIZE`, the next one fetched ahead, and a checkpoint only at
    each window's end: the fewest requests, and the fewest checkpoints to
    store; up to *concurrency* windows are then read at once
    (:func:`_read_concurrently`).
    """
    base = _admin_params(native, query, tenant=tenant)
    if base is None:
        return
    stretch = max(1, math.ceil(lag.total_seconds()))
    width = TENANT_WINDOW if tenant else WINDOW
    end = _epoch(query.end_date) + 1  # the query's end second is inclusive
    budget = _Budget(query.limit)
    seen = SeenIds()
    stored = read_admin_checkpoint(stream, checkpoint)
    inside: AdminInWindow | None = None
    if isinstance(stored, AdminInWindow):
        inside = stored
        low = inside.window[0]
        end = max(end, inside.window[1])
    elif isinstance(stored, AdminWindowEnd):
        seen = stored.seen
        low = stored.until - stretch
        # Never move a checkpoint back: a query ending before it still
        # re-reads the trailing stretch, for the events published late.
        end = max(end, stored.until)
        if stored.width is not None:
            # The next window's width travels in the checkpoint, so a read
            # resumed there cuts the same windows, and yields the same
            # records in the same order, as the read that wrote it (page
            # cursors count records from a checkpoint).
            width = max(MIN_WINDOW, min(MAX_WINDOW, stored.width))
    else:
        low = _epoch(query.start_date)
    if inside is None and not budget.hinted:
        batches = _read_concurrently(
            http,
            normalizer,
            base,
            low=low,
            end=end,
            width=width,
            seen=seen,
            stretch=stretch,
            stream=stream,
            concurrency=concurrency,
        )
    else:
        reader = _Reader(http, normalizer, base, stretch, stream, budget)
        batches = reader.in_turn(low, end, width, seen, inside)
    async with contextlib.aclosing(batches) as reading:
        async for batch in reading:
            yield batch


@attrs.frozen
class _Reader:
    """What every window of a read in turn shares."""

    http: HTTPTransport
    normalizer: Normalizer
    base: list[tuple[str, Any]]
    stretch: int
    stream: str
    budget: _Budget

    async def in_turn(
        self,
        low: int,
        end: int,
        width: int,
        seen: SeenIds,
        inside: AdminInWindow | None,
    ) -> AsyncGenerator[StreamBatch, None]:
        """Read ``[low, end)`` one window at a time, each re-reading the
        stretch before the last one's end: a hinted read, or one resumed
        inside a window, whose page cursors count records from a checkpoint
        and so need the same windows, in the same order, every time."""
        stretch = self.stretch
        while low < end:
            if inside is not None:
                reader = _Window.resume(
                    inside,
                    http=self.http,
                    normalizer=self.normalizer,
                    base=self.base,
                    stretch=stretch,
                    stream=self.stream,
                    budget=self.budget,
                )
                inside = None
            else:
                high = min(low + width, end)
                if end - high < width // 4:
                    # A sliver left over would cost a window, and a partial
                    # page, of its own: read it with this one.
                    high = end
                reader = _Window(
                    self.http,
                    self.normalizer,
                    self.base,
                    low,
                    high,
                    seen,
                    stretch,
                    self.stream,
                    self.budget,
                )
            # Closed here, not by the garbage collector, so a read stopped
            # early cancels the window's page in flight before it returns.
            async with contextlib.aclosing(reader.batches()) as batches:
                async for batch in batches:
                    yield batch
            seen = reader.in_stretch
            width = next_window(reader.high - reader.low, reader.served)
            done = AdminWindowEnd(until=reader.high, seen=seen, width=width)
            yield StreamBatch(checkpoint=done.to_dict())
            low = reader.high - stretch if reader.high < end else end


async def _read_concurrently(
    http: HTTPTransport,
    normalizer: Normalizer,
    base: list[tuple[str, Any]],
    *,
    low: int,
    end: int,
    width: int,
    seen: SeenIds,
    stretch: int,
    stream: str,
    concurrency: int,
) -> AsyncGenerator[StreamBatch, None]:
    """Read ``[low, end)`` in windows, up to *concurrency* at once.

    The windows :func:`~connector_core.read_windows` cuts are contiguous
    (an event on an edge is the later window's alone), and edges fall only
    where the log is settled, a *stretch* before now: within one read no
    window needs to re-read the one before it. Only the first window, which
    starts a *stretch* before a stored checkpoint's end, skips the ids
    *seen* there; every window's end is a checkpoint naming its own ids in
    the stretch before that end, for the read resumed there.
    """
    sizing = WindowSizing(
        first=timedelta(seconds=width),
        target=TARGET_WINDOW_EVENTS,
        # A window's checkpoint names only its own ids of the stretch before
        # its end: none may be narrower than that stretch (the last may be a
        # quarter of the one before it).
        minimum=timedelta(seconds=max(MIN_WINDOW, 4 * stretch)),
        maximum=timedelta(seconds=MAX_WINDOW),
    )
    settled = min(datetime.now(UTC), _moment(end)) - timedelta(seconds=stretch)

    async def read(window: Window) -> AsyncGenerator[StreamBatch, None]:
        reader = _Window(
            http,
            normalizer,
            base,
            _epoch(window.start),
            _epoch(window.end),
            seen if window.index == 0 else SeenIds(),
            stretch,
            stream,
            _Budget(None),
        )
        async with contextlib.aclosing(reader.batches()) as batches:
            async for batch in batches:
                yield batch
        after = sizing.after(window.width, reader.served)
        done = AdminWindowEnd(
            until=reader.high,
            seen=reader.in_stretch,
            width=math.floor(after.total_seconds()),
        )
        yield StreamBatch(checkpoint=done.to_dict())

    windows = read_windows(
        read,
        start=_moment(low),
        end=_moment(end),
        sizing=sizing,
        concurrency=concurrency,
        settled=settled,
    )
    async with contextlib.aclosing(windows) as batches:
        async for batch in batches:
            yield batch


def _moment(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


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
    # The API filters by actor id; a user given by email is kept by the
    # core's filter instead, from every actor's events.
    users = LogFilter.from_query(query).askable_user_ids
    if users:
        base.append(("actor_ids[]", sorted(users)))
    return base


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

    @classmethod
    def resume(
        cls,
        position: AdminInWindow,
        *,
        http: HTTPTransport,
        normalizer: Normalizer,
        base: list[tuple[str, Any]],
        stretch: int,
        stream: str,
        budget: _Budget,
    ) -> _Window:
        """The window *position* is inside, to be read on from there."""
        low, high = position.window
        return cls(
            http,
            normalizer,
            base,
            low,
            high,
            position.seen,
            stretch,
            stream,
            budget,
            after=position.after,
            previous=position.page,
            in_stretch=position.stretch,
            served=position.served,
        )

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
        ahead: asyncio.Task[Any] | None = None
        previous = self.previous
        try:
            page: Any = await self._fetch(params, self.after, self.budget.size())
            while True:
                items, has_more, last_id = page_items(page, "audit_logs")
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
                    # self.seen is the same set all window long: SeenIds
                    # encodes it once.
                    here = AdminInWindow(
                        window=(self.low, self.high),
                        after=last_id,
                        seen=self.seen,
                        stretch=self.in_stretch,
                        page=SeenIds(previous),
                        served=self.served,
                    )
                    batch = attrs.evolve(
                        batch or StreamBatch(), checkpoint=here.to_dict()
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
        batch = StreamBatch.from_results(map(self.normalizer.admin_audit_log, fresh))
        return (batch if batch.logs or batch.quarantined else None), frozenset(ids)


def _record_id(record: object) -> str | None:
    if isinstance(record, dict):
        rid = record.get("id")
        if isinstance(rid, str):
            return rid
    return None
