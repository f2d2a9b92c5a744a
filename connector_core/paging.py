"""Pages and plain streams of logs, derived from a connector's streams.

A connector implements ``list_streams`` and ``read_stream``; this module
turns them into the two reading forms hosts know from the shared types:

* :func:`iter_logs`, every matching log of a query, stream after stream;
* :func:`read_page`, one page with a ``next_cursor``.

A cursor names a position as *(stream, last checkpoint, logs read since)*.
Reading a stretch again from a checkpoint yields the same logs (the
``read_stream`` contract), so skipping that many logs lands exactly after the
last one returned: no log is repeated or lost between pages, whatever the
platform's own paging looks like, and a cursor survives a restart of the
process. Cursors are opaque to hosts and bound to their query: one used with
another query is refused rather than silently misread.

What a page costs. Every page re-reads from its cursor's checkpoint, so a
stream checkpointed only at the end of a long time window would re-read the
window for every small page. The reader is therefore told, in
``query.limit``, how many logs the page still needs from the checkpoint (the
ones it skips included); a reader that sizes its platform requests to that
and checkpoints after each can serve a page with about one request. And a
page that fills exactly at a checkpoint ends there, with ``has_more`` true,
instead of reading on to see whether another log follows: that look would
cost a request per page, which the next page makes again. So when the logs
end exactly where a full page does, the page after it is empty (``has_more``
false). Readers that ignore the hint page exactly as before.

A page also stops *inside* a read: the reader has more, but the page is
full. Inside ``async with connector:`` that read is not closed but parked
on the handle (:class:`~connector_core.connector.ParkedReads`), with the
rest of its batch and its position, under the ``next_cursor`` the page
returns; the page asked for with that cursor on that handle continues it,
yielding what a read again from the checkpoint would, without reading the
stretch again. So a stream checkpointed only after a whole file or
snapshot costs, paged, what one read of it costs. The cursor stays exact
without it: on another handle, in another process, outside a block (where
nothing is parked, as nothing may stay open between calls), after the
read was dropped (a handle parks a few, each for a few minutes) or when a
host asks for the same page twice (the second takes the read again),
the page reads from the checkpoint as above; so does a page whose parked
read fails when continued (a server that dropped an idle download), before
any error reaches the host.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import time
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any, Final

import attrs
import orjson

from connector_core._logging import get_logger
from connector_core.exceptions import ConfigurationError
from connector_core.models import AIAuditLogResult, AIAuditLogResultMetadata
from connector_core.store.base import LogFilter
from connector_core.streams import StreamBatch


if TYPE_CHECKING:
    from connector_core.connector import Connector
    from connector_core.models import AIAuditLog, AIAuditLogQuery
    from connector_core.streams import QuarantinedRecord, StreamInfo


__all__ = ["DEFAULT_PAGE_SIZE", "iter_logs", "matches", "read_page"]

log = get_logger(__name__)

DEFAULT_PAGE_SIZE: Final = 100
_CURSOR_VERSION: Final = 1


def matches(query: AIAuditLogQuery, entry: AIAuditLog) -> bool:
    """Whether *entry* answers *query*: :meth:`LogFilter.matches
    <connector_core.store.base.LogFilter.matches>` of the query's filter,
    the one definition a store's SQL follows too.

    Connectors push filters down to their platforms, but the core checks
    again, so a platform that filters loosely never leaks a log a host did
    not ask for. (Paging builds the filter once per page; this is for
    callers that test one entry.)
    """
    return LogFilter.from_query(query).matches(entry)


def _fingerprint(query: AIAuditLogQuery) -> str:
    shape = [
        query.start_date.isoformat(),
        query.end_date.isoformat(),
        sorted(query.event_types),
        sorted(query.user_ids),
        sorted(query.platforms),
        sorted(query.platform_filters.items()) if query.platform_filters else [],
    ]
    return hashlib.blake2b(orjson.dumps(shape, default=str), digest_size=8).hexdigest()


@attrs.frozen
class _Position:
    """Where a page starts: a stream, its last checkpoint, logs read since,
    and how many logs earlier pages returned."""

    stream: int = 0
    checkpoint: Mapping[str, Any] | None = None
    skip: int = 0
    returned: int = 0

    def encode(self, query: AIAuditLogQuery) -> str:
        data = {
            "v": _CURSOR_VERSION,
            "q": _fingerprint(query),
            "s": self.stream,
            "c": self.checkpoint,
            "k": self.skip,
            "n": self.returned,
        }
        return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str, query: AIAuditLogQuery) -> _Position:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            data = orjson.loads(base64.urlsafe_b64decode(padded))
        except (ValueError, binascii.Error):
            data = None
        if not (
            isinstance(data, dict)
            and data.get("v") == _CURSOR_VERSION
            and all(isinstance(data.get(key), int) for key in ("s", "k", "n"))
            and (data.get("c") is None or isinstance(data.get("c"), dict))
        ):
            raise ConfigurationError("the cursor is not one this connector issued")
        if data.get("q") != _fingerprint(query):
            raise ConfigurationError(
                "the cursor belongs to another query; pass the same time range "
                "and filters as the page it came from"
            )
        return cls(
            stream=data["s"], checkpoint=data["c"], skip=data["k"], returned=data["n"]
        )


def _report(stream: str, quarantined: tuple[QuarantinedRecord, ...]) -> None:
    log.warning(
        "stream.quarantined",
        stream=stream,
        count=len(quarantined),
        reasons=sorted({q.reason for q in quarantined})[:5],
    )


async def iter_logs(
    connector: Connector, query: AIAuditLogQuery
) -> AsyncGenerator[AIAuditLog, None]:
    """Every log matching *query*, stream after stream, from the start.

    Quarantined records are reported as a warning event; a host that must
    keep them reads the streams itself (the sync engine does).
    """
    # No hint: the reader reads for throughput (``limit`` is the host's
    # page size, which means nothing to a stream read to its end).
    reading = attrs.evolve(query, limit=None, cursor=None)
    wanted = LogFilter.from_query(query)
    for info in await connector.list_streams():
        async with contextlib.aclosing(
            connector.read_stream(info.name, None, reading)
        ) as batches:
            async for batch in batches:
                if batch.quarantined:
                    _report(info.name, batch.quarantined)
                for entry in batch.logs:
                    if wanted.matches(entry):
                        yield entry


async def read_page(connector: Connector, query: AIAuditLogQuery) -> AIAuditLogResult:
    """One page of *query*, resuming at ``query.cursor``.

    ``total_count`` counts the logs returned by this page and every page
    before it; on the last page (``has_more`` false) it is the exact total,
    which no platform API reports up front.
    """
    started = time.perf_counter()
    start = _Position.decode(query.cursor, query) if query.cursor else _Position()
    streams = await connector.list_streams()
    resumed = await _take(connector, query.cursor, start, streams)
    if resumed is not None:
        try:
            return await _page(connector, query, start, streams, resumed, started)
        except Exception as exc:  # noqa: BLE001 -- the re-read below raises what is real
            # A parked read may have gone stale while it waited (the server
            # dropped an idle download, a token expired). The cursor is exact
            # without it, so the page is read again from the checkpoint: an
            # error the platform really has then surfaces from that read.
            log.debug(
                "paging.parked_read_failed",
                stream=resumed.name,
                error=type(exc).__name__,
            )
    return await _page(connector, query, start, streams, None, started)


async def _page(  # noqa: PLR0917 -- private; read_page's state, passed once
    connector: Connector,
    query: AIAuditLogQuery,
    start: _Position,
    streams: list[StreamInfo],
    resumed: _Read | None,
    started: float,
) -> AIAuditLogResult:
    limit = query.limit or DEFAULT_PAGE_SIZE
    wanted = LogFilter.from_query(query)
    page: list[AIAuditLog] = []
    warnings: list[str] = []
    following: _Position | None = None
    next_cursor: str | None = None
    read: _Read | None = None
    try:
        for index in range(start.stream, len(streams)):
            if len(page) == limit:
                # Full at the end of a stream: the next page starts with the
                # next stream, unread (see the module's "What a page costs").
                following = _Position(stream=index)
                break
            if resumed is not None:
                read, resumed = resumed, None
            else:
                resume = start if index == start.stream else _Position(stream=index)
                read = _open(
                    connector, streams[index].name, resume, query=query, limit=limit
                )
            following = await _fill(
                read, wanted, page=page, limit=limit, warnings=warnings
            )
            if following is not None:
                break
            await read.aclose()
            read = None
        if following is not None:
            following = attrs.evolve(following, returned=start.returned + len(page))
            next_cursor = following.encode(query)
            if read is not None and connector.in_block:
                # The page stopped inside a read: the next one continues it.
                await connector.parked.put(next_cursor, read)
                read = None
    finally:
        for unused in (resumed, read):
            if unused is not None:
                await unused.aclose()
    return AIAuditLogResult(
        logs=tuple(page),
        total_count=start.returned + len(page),
        has_more=following is not None,
        next_cursor=next_cursor,
        metadata=AIAuditLogResultMetadata(
            query_time_ms=round((time.perf_counter() - started) * 1000, 3),
            platform=connector.platform,
            warnings=tuple(warnings),
        ),
    )


@attrs.define(eq=False)
class _Read:
    """One stream's read as a page left it: the reader, where it stands
    (the checkpoint, the logs read since it and how many of those earlier
    pages returned) and the rest of the batch it was in."""

    stream: int
    name: str
    batches: AsyncGenerator[StreamBatch, None]
    checkpoint: Mapping[str, Any] | None
    skip: int
    since: int = 0
    batch: StreamBatch | None = None
    at: int = 0

    async def aclose(self) -> None:
        await self.batches.aclose()


def _open(
    connector: Connector,
    name: str,
    resume: _Position,
    *,
    query: AIAuditLogQuery,
    limit: int,
) -> _Read:
    """A read of stream *name* from *resume*, for a page of *limit*."""
    # The hint: the logs this page needs from the checkpoint, counting those
    # it skips to get back to where the last page ended. (A read parked and
    # continued by later pages keeps its first hint: the same size again.)
    hinted = attrs.evolve(query, limit=resume.skip + limit, cursor=None)
    return _Read(
        stream=resume.stream,
        name=name,
        batches=connector.read_stream(name, resume.checkpoint, hinted),
        checkpoint=resume.checkpoint,
        skip=resume.skip,
    )


async def _take(
    connector: Connector,
    cursor: str | None,
    start: _Position,
    streams: list[StreamInfo],
) -> _Read | None:
    """The read the page that issued *cursor* left parked on *connector*,
    if it is there still and reads the stream the cursor names."""
    if cursor is None:
        return None
    parked = await connector.parked.take(cursor)
    if parked is None:
        return None
    if (
        isinstance(parked, _Read)
        and parked.stream == start.stream < len(streams)
        and parked.name == streams[start.stream].name
    ):
        return parked
    await parked.aclose()
    return None


async def _fill(
    read: _Read,
    wanted: LogFilter,
    *,
    page: list[AIAuditLog],
    limit: int,
    warnings: list[str],
) -> _Position | None:
    """Add the logs of *read* that *wanted* matches to *page*, from where
    it stands.

    Returns where the next page starts when the page is full (a further
    match shows it, or it filled exactly at a checkpoint), else ``None``
    (the stream is exhausted). *read* is left exactly there, so the next
    page can continue it as if it had read again from that position.
    """
    while True:
        batch = read.batch
        if batch is None:
            batch = await anext(read.batches, None)
            if batch is None:
                return None
            if batch.quarantined:
                _report(read.name, batch.quarantined)
                warnings.append(
                    f"{len(batch.quarantined)} record(s) of {read.name} "
                    f"quarantined: {batch.quarantined[0].reason}"
                )
            read.batch, read.at = batch, 0
        logs = batch.logs
        while read.at < len(logs):
            entry = logs[read.at]
            if read.since >= read.skip and wanted.matches(entry):
                if len(page) == limit:
                    # A further match: the next page starts right before it.
                    return _Position(
                        stream=read.stream, checkpoint=read.checkpoint, skip=read.since
                    )
                page.append(entry)
            read.since += 1
            read.at += 1
        read.batch = None
        if batch.checkpoint is not None:
            read.checkpoint = dict(batch.checkpoint)
            read.skip = max(0, read.skip - read.since)
            read.since = 0
            if len(page) == limit:
                # Full, and at a checkpoint: the next page starts here.
                # Reading on to see whether a log follows would cost a
                # request the next page makes again.
                return _Position(stream=read.stream, checkpoint=read.checkpoint)
