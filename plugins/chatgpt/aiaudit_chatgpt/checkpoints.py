"""Reading the checkpoints the stream readers store, and the times they hold.

A checkpoint comes back from a store as whatever JSON was saved there, maybe
by another version of a reader, maybe edited by hand. Every reader checks it
the same way and refuses it with the same error, so the sync engine can name
the stream and the command that clears it, whichever reader failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connector_core.cursors import SeenIds
from connector_core.exceptions import CheckpointError


__all__ = ["as_mapping", "iso", "parse_time", "seen_ids", "unreadable_checkpoint"]


def unreadable_checkpoint(stream: str, problem: str) -> CheckpointError:
    """The error for a stored checkpoint this reader did not write.

    A :class:`~connector_core.exceptions.CheckpointError`, so the sync engine
    reports it for this stream alone with the command that clears it. The
    reason names what is wrong, never the checkpoint's contents.
    """
    return CheckpointError(stream, problem)


def as_mapping(stream: str, checkpoint: object) -> Mapping[str, Any]:
    """A stored checkpoint as the object it must be (JSON may hold anything)."""
    if not isinstance(checkpoint, Mapping):
        raise unreadable_checkpoint(stream, "not an object")
    return checkpoint


def seen_ids(stream: str, checkpoint: Mapping[str, Any], key: str = "seen") -> SeenIds:
    try:
        return SeenIds.decode(checkpoint.get(key, []))
    except ValueError as exc:
        raise unreadable_checkpoint(stream, f"'{key}': {exc}") from None


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
