"""What the store keeps of a record it could not store as an event.

A record the connector could not normalize, or an event the store or the
database refused, is kept with its evidence in the ``quarantine`` table
instead of failing its batch; the evidence is cleaned only as far as both
databases need to hold it, so it still shows what came.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any, Final

import attrs
import orjson

from connector_core.store._document import (
    _DOCUMENT,
    _ID,
    _NATIVE_TYPE,
    _unstructure_log,
)
from connector_core.store._driver import Bulk
from connector_core.streams import QuarantinedRecord


if TYPE_CHECKING:
    from collections.abc import Sequence

    from connector_core.models import AIAuditLog


__all__ = ["QUARANTINE", "record_key"]


QUARANTINE: Final = Bulk(
    table="quarantine",
    columns=(
        ("connection", "text"),
        ("stream", "text"),
        ("record_key", "text"),
        ("reason", "text"),
        ("raw", "text"),
        ("truncated", "boolean"),
        ("native_id", "text"),
        ("native_type", "text"),
        ("created_at", "text"),
    ),
    on_conflict="ON CONFLICT (connection, record_key) DO NOTHING",
)


def _clean_text(text: str) -> str:
    """*text* storable in both databases, as evidence.

    Quarantined records are whatever an API sent, and PostgreSQL text cannot
    hold NUL characters nor either database lone surrogates; those are
    written as JSON escapes them (``\\u0000``, ``\\ud800``), in both stores,
    so a bad record never fails the batch it is in and its evidence still
    shows what was there.
    """
    if "\x00" in text:
        text = text.replace("\x00", "\\u0000")
    try:
        text.encode()
    except UnicodeEncodeError:
        text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def record_key(stream: str, raw: str) -> str:
    """The quarantine's de-duplication key of a record."""
    return hashlib.sha256(f"{stream}\x00{raw}".encode()).hexdigest()


def _evidence(log: AIAuditLog) -> str:
    """*log* as JSON text, whatever it holds, for the quarantine: the
    converter's shape where it can give one, Python's ``repr`` for values
    JSON has no form for. Lone surrogates are left in; storing the text
    escapes them."""
    try:
        data = _unstructure_log(log)
    except Exception:  # noqa: BLE001 -- evidence must not fail; repr says it all
        data = attrs.asdict(log)
    try:
        return json.dumps(data, ensure_ascii=False, default=repr)
    except (TypeError, ValueError, RecursionError):
        return repr(log)


def _unstorable(stream: str, log: AIAuditLog, why: str) -> QuarantinedRecord:
    """The quarantined record of an event the store could not write."""
    return QuarantinedRecord.of(
        stream,
        "cannot store event: not serializable as JSON: "
        + why.removeprefix(f"event {log.id!r} cannot be serialized: "),
        _evidence(log),
        native_id=log.id,
        native_type=log.native_type,
    )


def _refused(stream: str, row: Sequence[Any], why: str) -> QuarantinedRecord:
    """The quarantined record of an event row the database refused; its
    document (JSON text) is the evidence."""
    document = row[_DOCUMENT]
    native_id: Any = orjson.loads(document).get("id")
    return QuarantinedRecord.of(
        stream,
        f"cannot store event: the database refused it: {why}",
        document,
        native_id=native_id if isinstance(native_id, str) else row[_ID],
        native_type=row[_NATIVE_TYPE],
    )


def _quarantine_row(
    connection: str, record: QuarantinedRecord, now: str
) -> tuple[Any, ...]:
    raw = _clean_text(record.raw)
    return (
        connection,
        record.stream,
        record_key(record.stream, raw),
        _clean_text(record.reason),
        raw,
        record.truncated,
        None if record.native_id is None else _clean_text(record.native_id),
        None if record.native_type is None else _clean_text(record.native_type),
        now,
    )
