"""The Compliance API's Logs Platform files, listed by end time and read line by line.

``compliance_logs``: files are listed by end time and downloaded through a
signed URL, line by line, several at once; each file is a checkpoint, taken
once every file listed before it is read. Whether ``after=T``
lists the files ending at ``T`` is not documented, so each page is asked
from just before the last end time and a resumed read from
:data:`FILES_PUBLICATION_LAG` before it, skipping the ids already read,
which the checkpoint keeps for that trailing stretch. Memory stays bounded
by a file chunk (:data:`FILE_CHUNK` logs), whatever a file holds.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import attrs
import orjson

from aiaudit_chatgpt.checkpoints import FilesCheckpoint, iso, parse_time
from aiaudit_chatgpt.event_map import STREAM_COMPLIANCE, NativeFilter
from aiaudit_chatgpt.listings import LISTING_LIMIT
from connector_core import get_logger, read_in_order
from connector_core.cursors import SeenIds, TimeCursorGuard
from connector_core.exceptions import SchemaError, TransportError
from connector_core.http import HTTPTransport, OversizedLine
from connector_core.streams import QuarantinedRecord, StreamBatch


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Mapping

    from aiaudit_chatgpt.normalize import Normalizer
    from connector_core.models import AIAuditLog, AIAuditLogQuery


__all__ = [
    "FILES_PUBLICATION_LAG",
    "FILE_CHUNK",
    "TIE_MARGIN",
    "read_compliance_logs",
]

# The name the readers have always logged under (docs/hosting.md lists it),
# kept so a host's logging configuration still reaches the file retries.
log = get_logger("aiaudit_chatgpt.sources")

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

_FILE_ATTEMPTS: Final = 5
"""Downloads of one file, the first included. A download broken part-way
costs a whole new request (resumed after the last line handed out), and
each try may break again where the last did: five tries make a file that a
flaky link breaks a third of the time fail about once in 250 reads, not
once in 27 as three did (seen in the tests' mixed faults)."""
_LONGEST_BUCKET: Final = timedelta(days=1)


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
    concurrency: int = 1,
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

    Without ``query.limit`` (a sync) up to *concurrency* files download at
    once (:func:`~connector_core.read_in_order`): a file's checkpoint is
    yielded only once every file listed before it is read, and files ahead
    of a slow consumer wait instead of piling up in memory. A hinted read
    (a page of the core) reads them one after another.
    """
    types = native.compliance_event_types
    if types is not None and not types:
        return
    base = f"/compliance/workspaces/{workspace_id}/logs"
    position = _FilePosition.resume(
        checkpoint, query, stretch=max(lag, TIE_MARGIN), stream=STREAM_COMPLIANCE
    )
    params: list[tuple[str, Any]] = [
        ("limit", LISTING_LIMIT),
        ("event_type", sorted(types or COMPLIANCE_TYPES)),
        # A file's records end at its end time but start earlier (an hour, a
        # day before): a file that ends after the query may still hold some.
        ("before", iso(query.end_date + _LONGEST_BUCKET)),
    ]
    files = _listed_files(http, base, params, position)
    concurrent = query.limit is None

    async def read(unit: _File | _BadItem) -> AsyncGenerator[StreamBatch, None]:
        if isinstance(unit, _BadItem):
            yield StreamBatch(quarantined=(unit.record,))
            if concurrent and unit.checkpoint is not None:
                # Read out of turn, a unit without a checkpoint could hold
                # back the one of the file before it.
                yield StreamBatch(checkpoint=unit.checkpoint)
            return
        async for batch in _read_file(
            http, normalizer, f"{base}/{unit.id}", unit.id, max_record_bytes
        ):
            yield batch
        yield StreamBatch(checkpoint=unit.checkpoint)

    if concurrent:
        reading = read_in_order(files, read, concurrency=concurrency)
    else:
        # A page of the core counts records from a checkpoint: the files come
        # one after another, in the listing's order, every time.
        reading = _in_turn(files, read)
    # The listing is closed after the downloads, which take files from it.
    async with contextlib.aclosing(files), contextlib.aclosing(reading) as batches:
        async for batch in batches:
            yield batch


@attrs.frozen
class _File:
    """A file to read, and the checkpoint that holds once it and every
    file listed before it are read."""

    id: str
    checkpoint: dict[str, Any]


@attrs.frozen
class _BadItem:
    """A listing item that names no file, and the checkpoint of the files
    listed before it."""

    record: QuarantinedRecord
    checkpoint: dict[str, Any] | None


async def _listed_files(
    http: HTTPTransport,
    base: str,
    params: list[tuple[str, Any]],
    position: _FilePosition,
) -> AsyncGenerator[_File | _BadItem, None]:
    """The files to read, in the listing's order, each with its checkpoint.

    Each checkpoint is taken as its file is listed, so it names exactly the
    files listed up to it, whichever file a concurrent read finishes first;
    the next listing page is asked for only when the files before it are
    taken.
    """
    guard = TimeCursorGuard(f"{STREAM_COMPLIANCE}: logs listing", "last_end_time")
    after = position.start
    while True:
        page = await http.get_json(base, params=[*params, ("after", iso(after))])
        items, following = _listing_page(page, guard, after)
        for item in items:
            file_id = item.get("id") if isinstance(item, dict) else None
            end_time = parse_time(item.get("end_time")) if file_id else None
            if not isinstance(file_id, str) or end_time is None:
                reason = "listing item without a string id and an ISO end_time"
                bad = QuarantinedRecord.of(
                    STREAM_COMPLIANCE, reason, orjson.dumps(item)
                )
                held = position.checkpoint() if position.end is not None else None
                yield _BadItem(bad, held)
                continue
            if position.read(file_id, end_time):
                continue  # read before: listed again at or after the boundary
            position.advance(end_time, file_id)
            yield _File(file_id, position.checkpoint())
        if following is None:
            return
        after = following - TIE_MARGIN


async def _in_turn(
    files: AsyncGenerator[_File | _BadItem, None],
    read: Callable[[_File | _BadItem], AsyncGenerator[StreamBatch, None]],
) -> AsyncGenerator[StreamBatch, None]:
    async for unit in files:
        async with contextlib.aclosing(read(unit)) as batches:
            async for batch in batches:
                yield batch


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
    last_end = parse_time(page.get("last_end_time"))
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
        stored = FilesCheckpoint.from_dict(stream, checkpoint)
        if stored is None:
            return cls(stretch, query.start_date, None, {}, SeenIds(), None)
        end = stored.end
        return cls(stretch, end - stretch, end, {}, stored.seen, end)

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
        return FilesCheckpoint(end=self.end, seen=seen).to_dict()


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
                        batch = StreamBatch.from_results(chunk)
                        chunk = []
                        yield batch
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
                yield StreamBatch.from_results(chunk)
            continue
        if chunk:
            yield StreamBatch.from_results(chunk)
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
