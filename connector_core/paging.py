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
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import attrs
import orjson

from connector_core._logging import get_logger
from connector_core.exceptions import ConfigurationError
from connector_core.models import AIAuditLogResult, AIAuditLogResultMetadata


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from connector_core.connector import Connector
    from connector_core.models import AIAuditLog, AIAuditLogQuery
    from connector_core.streams import QuarantinedRecord


__all__ = ["DEFAULT_PAGE_SIZE", "iter_logs", "matches", "read_page"]

log = get_logger(__name__)

DEFAULT_PAGE_SIZE: Final = 100
_CURSOR_VERSION: Final = 1


def matches(query: AIAuditLogQuery, entry: AIAuditLog) -> bool:
    """Whether *entry* answers *query*; both ends of the range are inclusive.

    Connectors push filters down to their platforms, but the core checks
    again, so a platform that filters loosely never leaks a log a host did
    not ask for.
    """
    if not query.start_date <= entry.timestamp <= query.end_date:
        return False
    if query.event_types and entry.action not in query.event_types:
        return False
    if query.user_ids and entry.user_id not in query.user_ids:
        return False
    return not (query.platforms and entry.platform not in query.platforms)


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
    for info in await connector.list_streams():
        async with contextlib.aclosing(
            connector.read_stream(info.name, None, reading)
        ) as batches:
            async for batch in batches:
                if batch.quarantined:
                    _report(info.name, batch.quarantined)
                for entry in batch.logs:
                    if matches(query, entry):
                        yield entry


async def read_page(connector: Connector, query: AIAuditLogQuery) -> AIAuditLogResult:
    """One page of *query*, resuming at ``query.cursor``.

    ``total_count`` counts the logs returned by this page and every page
    before it; on the last page (``has_more`` false) it is the exact total,
    which no platform API reports up front.
    """
    started = time.perf_counter()
    limit = query.limit or DEFAULT_PAGE_SIZE
    start = _Position.decode(query.cursor, query) if query.cursor else _Position()
    streams = await connector.list_streams()
    page: list[AIAuditLog] = []
    warnings: list[str] = []
    following: _Position | None = None
    for index in range(start.stream, len(streams)):
        if len(page) == limit:
            # Full at the end of a stream: the next page starts with the
            # next stream, unread (see the module's "What a page costs").
            following = _Position(stream=index)
            break
        resume = start if index == start.stream else _Position(stream=index)
        following = await _fill(
            connector,
            streams[index].name,
            resume,
            query,
            page=page,
            limit=limit,
            warnings=warnings,
        )
        if following is not None:
            break
    if following is not None:
        following = attrs.evolve(following, returned=start.returned + len(page))
    return AIAuditLogResult(
        logs=tuple(page),
        total_count=start.returned + len(page),
        has_more=following is not None,
        next_cursor=following.encode(query) if following is not None else None,
        metadata=AIAuditLogResultMetadata(
            query_time_ms=round((time.perf_counter() - started) * 1000, 3),
            platform=connector.platform,
            warnings=tuple(warnings),
        ),
    )


async def _fill(
    connector: Connector,
    name: str,
    resume: _Position,
    query: AIAuditLogQuery,
    *,
    page: list[AIAuditLog],
    limit: int,
    warnings: list[str],
) -> _Position | None:
    """Add one stream's matching logs to *page*, from *resume* on.

    Returns where the next page starts when the page is full (a further
    match shows it, or it filled exactly at a checkpoint), else ``None``
    (the stream is exhausted).
    """
    checkpoint, skip = resume.checkpoint, resume.skip
    since = 0  # logs of this stream read since `checkpoint`
    # The hint: the logs this page still needs from the checkpoint, counting
    # those it skips to get back to where the last page ended.
    hinted = attrs.evolve(query, limit=skip + limit - len(page), cursor=None)
    async with contextlib.aclosing(
        connector.read_stream(name, checkpoint, hinted)
    ) as batches:
        async for batch in batches:
            if batch.quarantined:
                _report(name, batch.quarantined)
                warnings.append(
                    f"{len(batch.quarantined)} record(s) of {name} quarantined: "
                    f"{batch.quarantined[0].reason}"
                )
            for entry in batch.logs:
                since += 1
                if since <= skip or not matches(query, entry):
                    continue
                if len(page) == limit:
                    # A further match: the next page starts right before it.
                    return _Position(
                        stream=resume.stream, checkpoint=checkpoint, skip=since - 1
                    )
                page.append(entry)
            if batch.checkpoint is not None:
                checkpoint = dict(batch.checkpoint)
                skip = max(0, skip - since)
                since = 0
                if len(page) == limit:
                    # Full, and at a checkpoint: the next page starts here.
                    # Reading on to see whether a log follows would cost a
                    # request the next page makes again.
                    return _Position(stream=resume.stream, checkpoint=checkpoint)
    return None
