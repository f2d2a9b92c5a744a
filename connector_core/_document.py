"""How :func:`connector_core.serialization.dumps` writes an ``AIAuditLog``.

Kept apart from :mod:`connector_core.serialization`, which builds the writer
here from its snake converter once that exists (this module imports no part
of it). The result is the converter's JSON byte for byte, and its errors:
the stored document of an event is this JSON, and a sync writes one per
event, which makes it the hottest code of a sync.

Most of the converter's time goes into walking the free-form ``metadata``
and ``raw`` mappings key by key, only to hand orjson the same dicts, lists
and scalars again; orjson walks them itself many times faster. So the
converter builds everything else, and those two go to orjson as they are,
in a mode where orjson refuses (instead of formatting its own way) every
value whose JSON the converter might write differently: datetimes,
dataclasses, subclasses of str, int, dict and list, and non-str keys.
Whatever orjson refuses is unstructured by the converter after all, so the
bytes, and the errors, are the converter's in every case.
"""

from __future__ import annotations

import datetime as dt
from types import UnionType
from typing import TYPE_CHECKING, Any, Final, Union, get_args, get_origin

import attrs
import orjson
from cattrs.fns import identity
from cattrs.gen import make_dict_unstructure_fn, override

from connector_core.models import (
    AIActivityType,
    AIAuditLog,
    AIRiskIndicator,
    AIRiskType,
    ComplianceFramework,
    Coordinates,
    GeoLocation,
    RiskSeverity,
)


if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import cattrs


__all__ = ["log_writer", "usual_documents"]


_OPAQUE: Final = ("metadata", "raw")
"""The free-form fields (``Mapping[str, Any]``) left to orjson."""
_METADATA, _RAW = _OPAQUE

_NATIVE_ONLY: Final = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
"""orjson options (with no ``default``) under which it serializes only what
the converter would hand it unchanged, or would turn into the same JSON
(enums by their value), and raises on anything else."""


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


def _shallow_overrides(converter: cattrs.Converter) -> dict[str, Any]:
    """The field hooks of the writer's first pass, where they differ from
    the converter's (each gives the same JSON)."""
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
            hook = _empty_or(converter.get_unstructure_hook(tp))
            overrides[field.name] = override(unstruct_hook=hook)
        elif tp is dt.datetime:
            hook = _utc_or(converter.get_unstructure_hook(tp))
            overrides[field.name] = override(unstruct_hook=hook)
    return overrides


def log_writer(converter: cattrs.Converter) -> Callable[[AIAuditLog], bytes]:
    """The JSON of an ``AIAuditLog`` as *converter* (the snake one) and
    orjson write it, by the faster path this module describes.

    Raised errors are the converter's and orjson's for the same log
    (``orjson.JSONEncodeError``, ``ValueError``...).
    """
    # The converter's own hook for the class: its JSON, without its dispatch.
    unstructure_log: Callable[[AIAuditLog], Any] = converter.get_unstructure_hook(
        AIAuditLog
    )
    # Its hooks for the free-form fields, for what orjson refuses.
    unstructure_opaque: dict[str, Callable[[Any], Any]] = {
        name: converter.get_unstructure_hook(attrs.fields_dict(AIAuditLog)[name].type)
        for name in _OPAQUE
    }
    # Its hook for the class, but for the free-form fields, which it leaves
    # as they are, and faster hooks for a few others, with the same JSON.
    unstructure_shallow: Callable[[AIAuditLog], dict[str, Any]] = (
        make_dict_unstructure_fn(AIAuditLog, converter, **_shallow_overrides(converter))
    )

    def write(log: AIAuditLog) -> bytes:
        written = _write_usual(log)
        if written is not None:
            return written
        try:
            document = unstructure_shallow(log)
        except Exception:  # noqa: BLE001 -- re-raised below, as the converter raises it
            # A field the converter refuses; it also walks the mappings
            # first, which may refuse sooner, so its error is the one to
            # report.
            return orjson.dumps(unstructure_log(log))
        # Only dicts: orjson would write a list or a string where the
        # converter, which reads the mapping's items, refuses it (or
        # converts another kind of mapping).
        if document[_METADATA].__class__ is dict and document[_RAW].__class__ is dict:
            try:
                return orjson.dumps(document, option=_NATIVE_ONLY)
            except orjson.JSONEncodeError:
                pass
        # Something in the mappings is not plain JSON data (a datetime, a
        # set, an int key...), or another field holds what orjson refused:
        # the converter unstructures the mappings, in the order it always
        # does, and orjson serializes the result as it always did. The other
        # fields are already the converter's.
        for name, unstructure in unstructure_opaque.items():
            document[name] = unstructure(document[name])
        return orjson.dumps(document)

    return write


_UTC_OFFSET_CHARS: Final = len("+00:00")


def _write_usual(log: AIAuditLog) -> bytes | None:
    """The JSON of a log of the usual make (see :func:`_usual_document`);
    ``None`` for any other, or if orjson refuses a value."""
    document = _usual_document(log)
    if document is None:
        return None
    try:
        return orjson.dumps(document, option=_NATIVE_ONLY)
    except orjson.JSONEncodeError:
        return None


_BETWEEN: Final = orjson.Fragment(b"\n")
_SEPARATOR: Final = b",\n,"
"""What :func:`usual_documents` puts between two documents, and how it
reads in the output: orjson writes no raw newline of its own (a string's
is escaped), so the separator is found only where it was put."""


_TOGETHER: Final = 64
"""Documents written by one orjson call at most: enough to make the call's
own cost negligible, few enough that its output (about 100 KB) is not a
large allocation, which costs more than the calls it saves."""


def usual_documents(logs: Sequence[AIAuditLog]) -> list[bytes | None]:
    """The stored document of each of *logs*, as ``dumps`` writes it, for
    those of the usual make; ``None`` for the others (see
    :func:`_usual_together`)."""
    return [
        written
        for start in range(0, len(logs), _TOGETHER)
        for written in _usual_together(logs[start : start + _TOGETHER])
    ]


def _usual_together(logs: Sequence[AIAuditLog]) -> list[bytes | None]:
    """The stored document of each of *logs*, as ``dumps`` writes it, for
    those of the usual make; ``None`` for the others.

    They are written by one orjson call: a call costs as much as a small
    document (on some machines), whatever it writes. If orjson refuses any value, or the
    output does not split into exactly one document each (a fragment in a
    free-form mapping holding the separator), every one is ``None``, and
    each is left to be written alone, which reports it.
    """
    documents = [
        _usual_document(log) if log.__class__ is AIAuditLog else None for log in logs
    ]
    usual = [document for document in documents if document is not None]
    if not usual:
        return [None] * len(documents)
    items: list[Any] = [_BETWEEN] * (2 * len(usual) - 1)
    items[::2] = usual
    try:
        written = orjson.dumps(items, option=_NATIVE_ONLY)
    except orjson.JSONEncodeError:
        return [None] * len(documents)
    parts = written[1:-1].split(_SEPARATOR)
    if len(parts) != len(usual):
        return [None] * len(documents)
    found = iter(parts)
    return [None if document is None else next(found) for document in documents]


def _usual_document(log: AIAuditLog) -> dict[str, Any] | None:
    """The dict whose JSON is the document of a log of the usual make,
    built without the converter's generated hooks; ``None`` for any other,
    left to the path above.

    Usual: a UTC timestamp, one of our activity types, risk indicators and
    a location (if any) of exactly our classes, and dicts for the free-form
    fields. For those the converter's hooks give every value as it is
    (``activity_type`` its ``value``, a location the dict of its fields in
    order), so this dict is the converter's; orjson then refuses, as above,
    whatever the converter might write otherwise, and the slower path
    decides. Nearly every event is usual, and this is a fifth of the time of
    writing it.
    """
    timestamp = log.timestamp
    activity = log.activity_type
    location = log.location
    metadata, raw = log.metadata, log.raw
    if (
        timestamp.__class__ is not dt.datetime
        or timestamp.tzinfo is not dt.UTC
        or activity.__class__ is not AIActivityType
        or metadata.__class__ is not dict
        or raw.__class__ is not dict
    ):
        return None
    risks = _usual_risks(log.risk_indicators)
    if risks is None:
        return None
    place: dict[str, Any] | None = None
    if location is not None:
        if location.__class__ is not GeoLocation:
            return None
        coordinates = location.coordinates
        point: dict[str, Any] | None = None
        if coordinates is not None:
            if coordinates.__class__ is not Coordinates:
                return None
            point = {
                "latitude": coordinates.latitude,
                "longitude": coordinates.longitude,
            }
        place = {
            "country": location.country,
            "region": location.region,
            "city": location.city,
            "coordinates": point,
            "timezone": location.timezone,
        }
    document: dict[str, Any] = {
        "id": log.id,
        "platform": log.platform,
        # The converter's text for a UTC datetime, less its work; a string
        # rather than orjson's own, whose every call costs more than this.
        "timestamp": timestamp.isoformat()[:-_UTC_OFFSET_CHARS] + "Z",
        "user_id": log.user_id,
        "user_email": log.user_email,
        "organization_id": log.organization_id,
        "activity_type": activity.value,
        "action": log.action,
        "metadata": metadata,
        "ip_address": log.ip_address,
        "user_agent": log.user_agent,
        "location": place,
        "risk_indicators": risks,
        "native_type": log.native_type,
        "raw": raw,
    }
    return document


def _usual_risks(risks: tuple[AIRiskIndicator, ...]) -> list[dict[str, Any]] | None:
    """The converter's list of *risks*, when they are a tuple of exactly
    our indicators with our enumerations and tuples; ``None`` otherwise."""
    if risks.__class__ is not tuple:
        return None
    found: list[dict[str, Any]] = []
    for risk in risks:
        if risk.__class__ is not AIRiskIndicator:
            return None
        kind, severity = risk.type, risk.severity
        evidence, impact = risk.evidence, risk.compliance_impact
        if (
            kind.__class__ is not AIRiskType
            or severity.__class__ is not RiskSeverity
            or evidence.__class__ is not tuple
            or impact.__class__ is not tuple
            or any(item.__class__ is not ComplianceFramework for item in impact)
        ):
            return None
        found.append(
            {
                "type": kind.value,
                "severity": severity.value,
                "description": risk.description,
                "confidence": risk.confidence,
                "evidence": list(evidence),
                "compliance_impact": [item.value for item in impact],
            }
        )
    return found
