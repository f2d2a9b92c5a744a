"""What each stream reader stores as its checkpoint, and the times it holds.

Every reader's checkpoint is a :class:`~connector_core.checkpoints.Checkpoint`
class declared here, once: what the reader writes is ``to_dict()`` of one,
and a stored checkpoint is read back by ``from_dict``, strictly, whatever
wrote it (an older release of the reader, a person editing it by hand). A
checkpoint it cannot read is a
:class:`~connector_core.exceptions.CheckpointError` naming the stream and the
problem, never the contents, which the sync engine reports for that stream
alone with the command that clears it.

Checkpoints stored before they carried a version (no ``"v"``) are version 1
of their class. Their shapes, all still read:

* audit log, between windows: ``{"until", "seen", "width"}``; ``width`` came
  later and may be missing, ``seen`` was once a plain list of ids.
* audit log, inside a window (only ever in page cursors): ``{"window",
  "after", "seen", "stretch", "page", "served"}``.
* Logs Platform files: ``{"end", "seen"}``; before the trailing stretch,
  ``{"after", "seen"}`` with ``after`` the newest end time.
* custom GPTs: ``{"floor", "seen"}``; before the snapshot, ``{"since",
  "seen"}`` with the newest time seen, which could hide GPTs listed late: it
  is read as no checkpoint.
* usage report: ``{"since"}``, the start of the day read again next.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import attrs

from connector_core.checkpoints import Checkpoint, Migration
from connector_core.cursors import SeenIds
from connector_core.exceptions import CheckpointError


__all__ = [
    "AdminInWindow",
    "AdminWindowEnd",
    "FilesCheckpoint",
    "GptsCheckpoint",
    "UsageCheckpoint",
    "iso",
    "parse_time",
    "read_admin_checkpoint",
    "unreadable_checkpoint",
]


@attrs.frozen(kw_only=True)
class AdminWindowEnd(Checkpoint):
    """Where an audit-log stream stands after a window: read up to ``until``.

    Attributes:
        until: The end of the last window read, in Unix seconds (exclusive).
        seen: The ids delivered in the publication lag before ``until``,
            which the next window re-reads and skips.
        width: The next window's width in seconds, so a read resumed here
            cuts the same windows as the read that wrote it. Missing from
            checkpoints written before windows were sized by density.
    """

    until: int
    seen: SeenIds = attrs.field(factory=SeenIds)
    width: int | None = None


def _ascending(_instance: object, _attribute: object, window: tuple[int, int]) -> None:
    if window[0] >= window[1]:
        raise ValueError("window: expected two Unix times in ascending order")


def _an_id(_instance: object, _attribute: object, after: str) -> None:
    if not after:
        raise ValueError("after: expected an audit log id, got an empty string")


def _a_count(_instance: object, _attribute: object, served: int) -> None:
    if served < 0:
        raise ValueError("served: expected a count, got a negative number")


@attrs.frozen(kw_only=True)
class AdminInWindow(Checkpoint):
    """A position inside an audit-log window: where a page of the core ends
    when the read is hinted.

    It holds all a read resumed there needs to go on exactly as the read
    that wrote it would have. About 11 characters per id.

    Attributes:
        window: The window's two ends, in Unix seconds.
        after: The API's cursor to continue after.
        seen: Ids the previous window delivered in its trailing stretch,
            still to be skipped at this window's start (read last).
        stretch: Ids of this window's own trailing stretch delivered so far,
            for the next window.
        page: Ids of the last page, so a server that serves the boundary
            record again is answered the same way.
        served: Records the API served for the window so far, which size
            the next window.
    """

    window: tuple[int, int] = attrs.field(validator=_ascending)
    after: str = attrs.field(validator=_an_id)
    seen: SeenIds = attrs.field(factory=SeenIds)
    stretch: SeenIds = attrs.field(factory=SeenIds)
    page: SeenIds = attrs.field(factory=SeenIds)
    served: int = attrs.field(validator=_a_count)


def read_admin_checkpoint(
    stream: str, stored: object
) -> AdminWindowEnd | AdminInWindow | None:
    """An audit-log stream's stored checkpoint, of either kind.

    Only a position inside a window holds ``window``; every other
    checkpoint is read as a window's end.

    Raises:
        CheckpointError: The checkpoint is of neither kind.
    """
    inside = isinstance(stored, Mapping) and "window" in stored
    kind = AdminInWindow if inside else AdminWindowEnd
    return kind.from_dict(stream, stored)


def _end_was_after(old: dict[str, Any]) -> dict[str, Any]:
    if "after" in old:
        old.setdefault("end", old.pop("after"))
    return old


@attrs.frozen(kw_only=True)
class FilesCheckpoint(Checkpoint):
    """Where the Logs Platform's file listing stands.

    Attributes:
        end: The newest end time of a file read; a resumed read lists from
            the publication lag before it.
        seen: The ids of the files read that end in that lag, skipped when
            listed again.
    """

    VERSION = 2
    MIGRATIONS: ClassVar[Mapping[int, Migration]] = {1: _end_was_after}

    end: datetime
    seen: SeenIds = attrs.field(factory=SeenIds)


def _none_if_newest_time(old: dict[str, Any]) -> dict[str, Any] | None:
    return None if "since" in old else old


@attrs.frozen(kw_only=True)
class GptsCheckpoint(Checkpoint):
    """What the custom GPT snapshot has delivered.

    Attributes:
        floor: The start of the first read's range: nothing before it is
            emitted, and no newest time, so nothing listed late hides.
        seen: The ids of the GPT events delivered that the listing still
            showed.
    """

    VERSION = 2
    MIGRATIONS: ClassVar[Mapping[int, Migration]] = {1: _none_if_newest_time}

    floor: datetime
    seen: SeenIds = attrs.field(factory=SeenIds)


@attrs.frozen(kw_only=True)
class UsageCheckpoint(Checkpoint):
    """Where the usage report stands: every daily bucket before ``since`` is
    read and closed. The day of ``since`` may still be open (today's figures
    grow until it ends), so a read resumed here reads it again, and the
    store replaces its buckets by their ids.

    Attributes:
        since: Midnight UTC of the first day the next read fetches.
    """

    since: datetime


def unreadable_checkpoint(stream: str, problem: str) -> CheckpointError:
    """The error for a stored checkpoint this reader did not write.

    A :class:`~connector_core.exceptions.CheckpointError`, so the sync engine
    reports it for this stream alone with the command that clears it. The
    reason names what is wrong, never the checkpoint's contents.
    """
    return CheckpointError(stream, problem)


def parse_time(value: object) -> datetime | None:
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


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
