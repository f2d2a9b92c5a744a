"""The ``events`` row of an event: its stored document, and the columns
beside it.

The document is :func:`connector_core.serialization.dumps` of the log, which
is what reading the store rebuilds the event from and what exports write as
it is. The row's other columns are copies of the fields that filters and
analytics need, so those never parse JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import orjson

from connector_core.exceptions import StoreError
from connector_core.models import AIAuditLog
from connector_core.serialization import converter_for, dumps
from connector_core.store._driver import Bulk
from connector_core.store._values import _EPOCH, _INT64, _MICROSECOND, column_text


if TYPE_CHECKING:
    from collections.abc import Callable


__all__ = ["EVENTS", "EVENT_COLUMNS", "event_row"]


_unstructure_log: Callable[[AIAuditLog], Any] = converter_for(
    "snake"
).get_unstructure_hook(AIAuditLog)
"""The converter's hook for the class, for the quarantine's evidence of an
event the document could not be written for."""

EVENT_COLUMNS: Final = (
    ("connection", "text"),
    ("id", "text"),
    ("platform", "text"),
    ("ts_us", "bigint"),
    ("day", "text"),
    ("hour", "smallint"),
    ("user_id", "text"),
    ("user_email", "text"),
    ("organization_id", "text"),
    ("activity_type", "text"),
    ("action", "text"),
    ("native_type", "text"),
    ("model", "text"),
    ("tokens_used", "bigint"),
    ("ip_address", "text"),
    ("stream", "text"),
    ("document", "text"),
    ("ingested_at", "text"),
)
"""The columns of an event row, with their SQL types."""


def event_row(
    connection: str,
    stream: str,
    log: AIAuditLog,
    ingested_at: str,
    written: bytes | None = None,
) -> tuple[Any, ...]:
    """The ``events`` row of *log*, in :data:`EVENT_COLUMNS` order.

    *written* is its document when already written with others (see
    :func:`~connector_core._document.usual_documents`).
    """
    try:
        document = (dumps(log) if written is None else written).decode()
    except (orjson.JSONEncodeError, TypeError, ValueError) as exc:
        raise StoreError(f"event {log.id!r} cannot be serialized: {exc}") from None
    timestamp = log.timestamp
    metadata = log.metadata
    model = metadata.get("model")
    tokens = metadata.get("tokens_used")
    email, ip_address = log.user_email, log.ip_address
    # The record's text goes through column_text: the document holds it
    # exactly, the columns what both databases can hold and index.
    return (
        connection,
        column_text(log.id),
        column_text(log.platform),
        (timestamp - _EPOCH) // _MICROSECOND,
        timestamp.date().isoformat(),
        timestamp.hour,
        column_text(log.user_id),
        None if email is None else column_text(email),
        column_text(log.organization_id),
        log.activity_type.value,
        column_text(log.action),
        column_text(log.native_type),
        # The analytics' definitions: a non-empty string model, and an
        # integer (not a bool) token count; a count beyond 64 bits, which no
        # database column holds, is left out.
        column_text(model) if isinstance(model, str) and model else None,
        tokens
        if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens in _INT64
        else None,
        None if ip_address is None else column_text(ip_address),
        stream,
        document,
        ingested_at,
    )


EVENTS: Final = Bulk(
    table="events",
    columns=EVENT_COLUMNS,
    on_conflict="ON CONFLICT (connection, id) DO NOTHING",
)

# Positions in an event row.
_AT: Final = {name: index for index, (name, _) in enumerate(EVENT_COLUMNS)}
_ID, _PLATFORM, _TS, _DAY, _HOUR = (
    _AT["id"],
    _AT["platform"],
    _AT["ts_us"],
    _AT["day"],
    _AT["hour"],
)
_USER, _EMAIL, _ACTION = _AT["user_id"], _AT["user_email"], _AT["action"]
_MODEL, _TOKENS = _AT["model"], _AT["tokens_used"]
_DOCUMENT, _NATIVE_TYPE = _AT["document"], _AT["native_type"]
