"""Streams: how a connector's feeds are read incrementally, forever.

A platform exposes its activity through a few feeds (an audit log, a file
export, a listing). Each is a *stream* with a checkpoint of its own. A
connector implements two hooks, ``list_streams`` and ``read_stream``; the core
derives everything else from them (one page of logs with a cursor, the plain
stream of logs, analytics) and the sync engine drives them to keep a store
complete without losing or doubling an event.

``read_stream`` yields :class:`StreamBatch` values. A batch's ``checkpoint``,
when set, promises that every event up to that point has been yielded in this
batch or an earlier one: a consumer may commit the checkpoint together with
the batch's logs, and a reader restarted from it misses nothing. Batches with
``checkpoint=None`` carry events of a stretch that is not finished yet (a time
window still being drained); a consumer stores them but keeps the previous
checkpoint, and events read again after a crash are recognised by their id.

Records that cannot be normalized are never dropped and never crash a read:
they travel in ``quarantined`` with the reason. A reader gets that for
free by normalizing each record through :func:`normalize_or_quarantine` and
building its batches with :meth:`StreamBatch.from_results`.

Usage reports. A platform's usage and cost report (requests, tokens and
cost per model and time bucket) is read as a stream of its own: its batches
carry :class:`~connector_core.models.ModelUsageRecord` values in ``usage``
instead of logs, and a malformed bucket is quarantined like a malformed
event. Such a stream is an ordinary ``WINDOWED`` one, checkpointed by time;
a bucket still open (today's) is read again on the next sync from a
checkpoint at or before its start, and the store replaces it by its ``id``.

The page hint. The core's pages resume from a checkpoint each, and tell the
reader in ``query.limit`` how many logs the page still needs from it
(``None``: read to the end, as the sync engine does). A reader that can
resume inside a stretch sizes its platform requests to the hint and
checkpoints after each, and a page costs about one request; one that ignores
the hint pages exactly all the same, re-reading from its last checkpoint.
Where checkpoints fall may change with the hint; the logs and their order
may not.

The query and the checkpoint. With a checkpoint, a reader resumes from it
and ignores ``query.start_date``: the sync engine passes its stored
checkpoint however old it is, with a start of 1970-01-01 (a stream synced
long ago must read the whole gap, not the last 30 days of it). Without one,
it starts at ``query.start_date``. ``query.end_date`` is never in the future
when the engine calls; a reader yields no event after it and no checkpoint
past it. A checkpoint the reader cannot read (a shape or type it does not
know) is :class:`~connector_core.exceptions.CheckpointError`, which the
engine reports for that stream alone with the command that resets it; any
other exception fails the stream as a plugin error. Events may be published
late: a stream declares how late in :attr:`StreamInfo.publication_lag`, and
its reader re-reads that trailing stretch each time, skipping the ids it
already yielded there.

This module has no ``from __future__ import annotations``: the serializer
reads the annotations at run time.
"""

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any, Final, TypeVar

import attrs
import orjson

from connector_core.exceptions import RecordRefusedError
from connector_core.models import AIAuditLog, ModelUsageRecord


__all__ = [
    "MAX_QUARANTINED_RAW",
    "UNEXPECTED_FAILURE",
    "QuarantinedRecord",
    "StreamBatch",
    "StreamInfo",
    "StreamKind",
    "normalize_or_quarantine",
]

MAX_QUARANTINED_RAW: Final = 64 * 1024
"""Characters of a bad record kept as evidence; a huge one is cut, not lost
silently: ``truncated`` says so."""

UNEXPECTED_FAILURE: Final = "unexpected normalizer failure: "
"""How the reason of a record quarantined over a bug begins: the
normalizer failed, not the record."""

_STREAM_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class StreamKind(StrEnum):
    """How a feed is read, which decides how it is checkpointed."""

    WINDOWED = "windowed"
    """A time-filtered feed (newest first or not), read in ascending time
    windows; a window's end is the checkpoint once it is drained."""

    FILES = "files"
    """A listing of export files, each downloaded whole; every file is a
    checkpoint."""

    SNAPSHOT = "snapshot"
    """A listing read in full every time (custom GPTs); events are derived
    from it and de-duplicated by id."""


def _stream_name(
    instance: object, attribute: "attrs.Attribute[str]", value: str
) -> None:
    if not _STREAM_NAME.match(value):
        raise ValueError(
            f"{attribute.name} must be a lowercase identifier, got {value!r}"
        )


def _not_negative(
    instance: object, attribute: "attrs.Attribute[dt.timedelta]", value: object
) -> None:
    if not isinstance(value, dt.timedelta) or value < dt.timedelta(0):
        raise ValueError(f"{attribute.name} must be a timedelta >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class StreamInfo:
    """One feed of a connector.

    Attributes:
        name: Unique within the connector; checkpoints are stored under it.
        kind: How it is read and checkpointed.
        description: What it holds, for people.
        actions: The normalized actions it can produce; a read filtered to
            other actions skips the stream without a request.
        publication_lag: How long after its effective time an event may
            still appear: each read re-reads that trailing stretch,
            deduplicated by id. Zero for a feed that publishes in order (or
            a snapshot read whole every time).
    """

    name: str = attrs.field(validator=_stream_name)
    kind: StreamKind
    description: str = ""
    actions: tuple[str, ...] = ()
    publication_lag: dt.timedelta = attrs.field(
        default=dt.timedelta(0), validator=_not_negative
    )


@attrs.frozen(kw_only=True)
class QuarantinedRecord:
    """A record that could not be normalized, kept with the reason.

    Attributes:
        stream: The stream it came from.
        reason: Why it was refused, for a person.
        raw: The record as received (JSON text where it parsed), cut to
            :data:`MAX_QUARANTINED_RAW` characters.
        truncated: Whether ``raw`` was cut.
        native_id: The record's id, when it had a readable one.
        native_type: The record's type, when it had a readable one.
    """

    stream: str
    reason: str
    raw: str
    truncated: bool = False
    native_id: str | None = None
    native_type: str | None = None

    @classmethod
    def of(
        cls,
        stream: str,
        reason: str,
        raw: str | bytes,
        *,
        native_id: str | None = None,
        native_type: str | None = None,
    ) -> "QuarantinedRecord":
        """Build one, decoding bytes leniently and cutting huge records."""
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        truncated = len(text) > MAX_QUARANTINED_RAW
        return cls(
            stream=stream,
            reason=reason,
            raw=text[:MAX_QUARANTINED_RAW],
            truncated=truncated,
            native_id=native_id,
            native_type=native_type,
        )

    @classmethod
    def of_value(
        cls,
        stream: str,
        reason: str,
        value: object,
        *,
        native_id: str | None = None,
        native_type: str | None = None,
    ) -> "QuarantinedRecord":
        """Build one from a parsed record, kept as JSON text.

        A value JSON cannot hold (a huge integer, a lone surrogate) is kept
        as its repr, and one without a repr by its type's name: evidence
        of some kind always survives, and building this never raises.
        """
        text: str | bytes
        try:
            text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
        except (TypeError, ValueError, RecursionError):
            try:
                text = repr(value)
            except (ValueError, RecursionError):
                text = f"<{type(value).__name__} that cannot be shown>"
        return cls.of(
            stream, reason, text, native_id=native_id, native_type=native_type
        )

    @classmethod
    def of_failure(
        cls,
        stream: str,
        raw: object,
        error: Exception,
        *,
        where: str | None = None,
        native_type: str | None = None,
    ) -> "QuarantinedRecord":
        """*raw*, which a normalizer failed on with *error*, kept with the reason.

        What :func:`normalize_or_quarantine` returns when its normalizer
        raises, for a reader that calls the normalizer itself (one frame
        less per record on a hot path) and catches ``Exception``: a
        :class:`~connector_core.exceptions.RecordRefusedError` gives its
        reason and identity, anything else a reason starting with
        :data:`UNEXPECTED_FAILURE`. The arguments are
        :func:`normalize_or_quarantine`'s.
        """
        if isinstance(error, RecordRefusedError):
            reason = error.reason
            native_id = error.native_id
            native_type = error.native_type or native_type
        else:
            reason = f"{UNEXPECTED_FAILURE}{error!r}"
            native_id = None
        if where:
            reason = f"{reason} ({where})"
        return cls.of_value(
            stream, reason, raw, native_id=native_id, native_type=native_type
        )


@attrs.frozen(kw_only=True)
class StreamBatch:
    """A slice of a stream, and how far it reaches.

    Attributes:
        logs: Normalized logs, in the stream's order.
        quarantined: Records of this slice that could not be normalized.
        checkpoint: When set, a JSON-compatible state from which a later
            read resumes with nothing lost; ``None`` while a stretch is
            still being read.
        usage: Buckets of a usage report (see the module docstring), each
            replacing any stored bucket of the same id.
    """

    logs: tuple[AIAuditLog, ...] = ()
    quarantined: tuple[QuarantinedRecord, ...] = ()
    checkpoint: Mapping[str, Any] | None = None
    usage: tuple[ModelUsageRecord, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether it carries nothing to store: no log, usage bucket,
        quarantined record or checkpoint."""
        return not (
            self.logs or self.usage or self.quarantined or self.checkpoint is not None
        )

    @classmethod
    def from_results(
        cls,
        results: Iterable[
            "AIAuditLog | ModelUsageRecord | Iterable[AIAuditLog | ModelUsageRecord]"
            " | QuarantinedRecord"
        ],
        checkpoint: Mapping[str, Any] | None = None,
    ) -> "StreamBatch":
        """One batch of normalized *results*: logs, usage buckets and
        quarantined records apart.

        Takes what :func:`normalize_or_quarantine` returns for each record
        of a slice (a log or a usage bucket, a list of them, or a
        quarantined record), each kind in its order.
        """
        logs: list[AIAuditLog] = []
        usage: list[ModelUsageRecord] = []
        quarantined: list[QuarantinedRecord] = []
        for result in results:
            if isinstance(result, AIAuditLog):
                logs.append(result)
            elif isinstance(result, QuarantinedRecord):
                quarantined.append(result)
            elif isinstance(result, ModelUsageRecord):
                usage.append(result)
            else:
                for item in result:
                    if isinstance(item, ModelUsageRecord):
                        usage.append(item)
                    else:
                        logs.append(item)
        return cls(
            logs=tuple(logs),
            quarantined=tuple(quarantined),
            checkpoint=checkpoint,
            usage=tuple(usage),
        )


T = TypeVar("T")


def normalize_or_quarantine(
    stream: str,
    raw: object,
    normalize: Callable[[Any], T],
    *,
    where: str | None = None,
    native_type: str | None = None,
) -> "T | QuarantinedRecord":
    """``normalize(raw)``, or *raw* quarantined if it cannot be normalized.

    A normalizer refuses a record by raising
    :class:`~connector_core.exceptions.RecordRefusedError`; the record is
    then quarantined with that reason and identity. Any other exception is
    a bug in the normalizer, not a reason to lose the record or stop the
    read: the record is quarantined all the same, with a reason that
    starts with :data:`UNEXPECTED_FAILURE` and names the exception.
    Interruptions (``KeyboardInterrupt``, cancellation) are not caught.
    A hot path may inline this as ``try: return normalize(raw)`` with
    ``except Exception`` returning :meth:`QuarantinedRecord.of_failure`.

    Args:
        stream: The stream the record came from.
        raw: The record as parsed; quarantined as JSON text.
        normalize: What turns it into logs (or another model).
        where: Where in the stream it came from (``log file 123``),
            added to the reason in parentheses.
        native_type: The type every record of this feed has, for a
            quarantined record whose refusal names none.
    """
    try:
        return normalize(raw)
    except Exception as exc:  # noqa: BLE001 - a read must outlive a bug
        return QuarantinedRecord.of_failure(
            stream, raw, exc, where=where, native_type=native_type
        )
