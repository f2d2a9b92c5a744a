"""The stored document of an event, and the ``events`` row that carries it.

The document is what reading the store returns and what exports hash, so it
must be ``serialization.dumps(log)`` byte for byte; it is also the hottest
code of a sync, which is why it has a path of its own instead of the
converter's. The row's other columns are copies of the fields that filters
and analytics need, so those never parse JSON.
"""

from __future__ import annotations

import datetime as dt
from types import UnionType
from typing import TYPE_CHECKING, Any, Final, Union, get_args, get_origin

import attrs
import orjson
from cattrs.fns import identity
from cattrs.gen import make_dict_unstructure_fn, override

from connector_core.exceptions import StoreError
from connector_core.models import AIAuditLog
from connector_core.serialization import converter_for
from connector_core.store._driver import Bulk
from connector_core.store._values import _EPOCH, _INT64, _MICROSECOND, column_text


if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


__all__ = ["EVENTS", "EVENT_COLUMNS", "document_text", "event_row"]


# The document is serialization.dumps(log), byte for byte: it is what
# iter_logs rebuilds events from and what exports hash and compare. Most of
# the converter's time goes into walking the free-form ``metadata`` and
# ``raw`` mappings key by key, only to hand orjson the same dicts, lists and
# scalars again; orjson walks them itself many times faster. So the
# converter builds everything else, and those two go to orjson as they are,
# in a mode where orjson refuses (instead of formatting its own way) every
# value whose JSON the converter might write differently: datetimes,
# dataclasses, subclasses of str, int, dict and list, and non-str keys.
# Whatever orjson refuses is unstructured by the converter after all, so
# the bytes, and the errors, are the converter's in every case.

_SNAKE: Final = converter_for("snake")

_unstructure_log: Callable[[AIAuditLog], Any] = _SNAKE.get_unstructure_hook(AIAuditLog)
"""The converter's own hook for the class: :func:`serialization.dumps`
without its dispatch per call."""

_OPAQUE: Final = ("metadata", "raw")
"""The free-form fields (``Mapping[str, Any]``) left to orjson."""
_METADATA, _RAW = _OPAQUE

_unstructure_opaque: Final[Mapping[str, Callable[[Any], Any]]] = {
    name: _SNAKE.get_unstructure_hook(attrs.fields_dict(AIAuditLog)[name].type)
    for name in _OPAQUE
}
"""The converter's hooks for those fields, for what orjson refuses."""


def _empty_or(hook: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """*hook* (of a ``tuple[X, ...]`` field), but an empty tuple is passed
    as it is: ``[]`` all the same, without the hook's generator. Most events
    have no risk indicators."""

    def unstructure(value: Any) -> Any:
        return value if value.__class__ is tuple and not value else hook(value)

    return unstructure


def _utc_or(hook: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """*hook* (of a ``datetime`` field), but a UTC datetime, which is what
    the model's ``ensure_utc`` leaves, is written by orjson: the same text
    (``Z``, microseconds only when there are some; the tests compare them
    over the whole range) in a quarter of the time."""

    def unstructure(value: Any) -> Any:
        if value.__class__ is dt.datetime and value.tzinfo is dt.UTC:
            return orjson.Fragment(orjson.dumps(value, option=orjson.OPT_UTC_Z))
        return hook(value)

    return unstructure


def _shallow_overrides() -> dict[str, Any]:
    """The hooks of :data:`_unstructure_shallow`, field by field where they
    differ from the converter's (each gives the same JSON)."""
    overrides: dict[str, Any] = {}
    for field in attrs.fields(AIAuditLog):
        tp = field.type
        args = get_args(tp)
        if field.name in _OPAQUE or (
            # The converter's hook is ``None if v is None else v``: the value
            # itself, without the call.
            get_origin(tp) in (Union, UnionType) and set(args) == {str, type(None)}
        ):
            overrides[field.name] = override(unstruct_hook=identity)
        elif get_origin(tp) is tuple and args[1:] == (Ellipsis,):
            hook = _empty_or(_SNAKE.get_unstructure_hook(tp))
            overrides[field.name] = override(unstruct_hook=hook)
        elif tp is dt.datetime:
            hook = _utc_or(_SNAKE.get_unstructure_hook(tp))
            overrides[field.name] = override(unstruct_hook=hook)
    return overrides


_unstructure_shallow: Callable[[AIAuditLog], dict[str, Any]] = make_dict_unstructure_fn(
    AIAuditLog, _SNAKE, **_shallow_overrides()
)
"""The converter's hook for the class, but for :data:`_OPAQUE`, which it
leaves as they are, and faster hooks for a few fields, with the same JSON."""

_NATIVE_ONLY: Final = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
"""orjson options (with no ``default``) under which it serializes only what
the converter would hand it unchanged, or would turn into the same JSON
(enums by their value), and raises on anything else."""


def document_text(log: AIAuditLog) -> str:
    """The stored document of *log*: ``serialization.dumps(log)`` as text.

    Raises:
        Exception: Whatever ``serialization.dumps`` raises for *log*
            (``orjson.JSONEncodeError``, ``ValueError``...): the same one.
    """
    try:
        document = _unstructure_shallow(log)
    except Exception:  # noqa: BLE001 -- re-raised below, as the converter raises it
        # A field the converter refuses; it also walks the mappings first,
        # which may refuse sooner, so its error is the one to report.
        return orjson.dumps(_unstructure_log(log)).decode()
    # Only dicts: orjson would write a list or a string where the converter,
    # which reads the mapping's items, refuses it (or converts another
    # kind of mapping).
    if document[_METADATA].__class__ is dict and document[_RAW].__class__ is dict:
        try:
            return orjson.dumps(document, option=_NATIVE_ONLY).decode()
        except orjson.JSONEncodeError:
            pass
    # Something in the mappings is not plain JSON data (a datetime, a set,
    # an int key...), or another field holds what orjson refused: the
    # converter unstructures the mappings, in the order it always does, and
    # orjson serializes the result as it always did. The other fields are
    # already the converter's.
    for name, unstructure in _unstructure_opaque.items():
        document[name] = unstructure(document[name])
    return orjson.dumps(document).decode()


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
    connection: str, stream: str, log: AIAuditLog, ingested_at: str
) -> tuple[Any, ...]:
    """The ``events`` row of *log*, in :data:`EVENT_COLUMNS` order."""
    try:
        document = document_text(log)
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
