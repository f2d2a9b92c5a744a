"""Turning models into JSON-ready data and back, in two key styles.

``"snake"`` keeps our field names and is the storage and wire form.
``"camel"`` is the host application's shared-types shape (``userEmail``,
``totalCount``...), so a host written against those types reads our output
without an adapter.

One converter per style is built at import and shared: building hooks is the
expensive part of cattrs, and a single place of configuration means every
model serializes by the same rules:

* datetimes are ISO 8601 in UTC with a ``Z`` suffix; structuring accepts any
  offset (converted to UTC) and rejects naive strings;
* dates are ``YYYY-MM-DD``; enums are their values; tuples become lists;
* scalars are structured strictly (``"1"`` is not an int, ``"false"`` is not a
  bool), because silent coercion would hide a changed upstream schema;
* :class:`~connector_core.secrets.Secret` values are written as a mask, never
  revealed;
* unknown keys are ignored, so data from a newer version still loads.

In the camel style an optional field (one defaulting to ``None``) is left out
when it is ``None``, matching the shared types' ``field?: T``; and the open
``AIAuditLogResult.metadata`` object carries ``AIAuditLogResultMetadata.extra``
as top-level keys beside the named ones.

The camel style goes all the way down where the shared types declare an
object with named fields: ``AIAuditLog.metadata`` (``AIActivityMetadata``:
``conversationId``, ``files[].fileId``...) and the extra keys of the result
metadata are renamed recursively, through nested mappings and lists, by the
exact key map of :mod:`connector_core._casing`. Where they declare a
``Record<string, ...>`` the keys are data and stay as they are: ``raw`` (the
platform's record, evidence), ``events_by_type`` (action names),
``platform_filters``, ``details`` of ``AuditLogEntry`` and the ``metadata``
of ``ConnectionResult``, ``PermissionCheck`` and ``AutomationEvent``. So does
``AIAuditLog.metadata["details"]``, the platform's own payload for the event
copied from ``raw``.

An event's stored document is ``dumps(log)`` in the snake style; for an
:class:`~connector_core.models.AIAuditLog`, the hottest call of a sync,
``dumps`` takes a faster path to the converter's very bytes (see
:mod:`connector_core._document`). Exports of stored events read those
documents as they are: :func:`restyle_log` gives a document in either style
as the log rebuilt from it would be written, by the same rules, without
rebuilding it.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping
from enum import Enum, IntEnum, StrEnum
from types import UnionType
from typing import Any, Final, Literal, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
import orjson
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.errors import AttributeValidationNote
from cattrs.fns import identity
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.orjson import make_converter
from cattrs.v import format_exception

from connector_core._casing import camel_key, snake_key
from connector_core._document import log_writer
from connector_core.exceptions import REDACTED, SchemaError
from connector_core.models import AIAuditLog, AIAuditLogResultMetadata
from connector_core.secrets import Secret


__all__ = [
    "Style",
    "camel_key",
    "converter_for",
    "dumps",
    "loads",
    "restyle_log",
    "snake_key",
    "structure",
    "to_camel",
    "unstructure",
]

T = TypeVar("T")

Style = Literal["snake", "camel"]

# Shared-type names that are not the mechanical camelCase of our field names.
_CAMEL_EXCEPTIONS: Final[Mapping[tuple[type[Any], str], str]] = {
    (AIAuditLogResultMetadata, "query_time_ms"): "queryTime",
}

# Open mappings whose keys are field names, renamed in the camel style, each
# with the top-level keys whose values are kept as received. (The result
# metadata's extra keys are renamed too, by _register_camel_metadata.)
_CAMEL_KEYED: Final[Mapping[tuple[type[Any], str], frozenset[str]]] = {
    (AIAuditLog, "metadata"): frozenset({"details"}),
}


def to_camel(name: str) -> str:
    """Return the lowerCamelCase form of a snake_case *name*.

    Leading underscores (private attrs fields) are dropped first, matching the
    name attrs uses for the ``__init__`` argument.
    """
    head, *rest = name.lstrip("_").split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _key_for(cls: type[Any], field: attrs.Attribute[Any], style: Style) -> str:
    if style == "snake":
        return field.name
    return _CAMEL_EXCEPTIONS.get((cls, field.name), to_camel(field.name))


# --------------------------------------------------------------------------
# Scalar hooks
# --------------------------------------------------------------------------


def _type_error(expected: str, value: object) -> TypeError:
    return TypeError(f"expected {expected}, got {type(value).__name__} {value!r}")


def _structure_str(value: object, cls: type[Any]) -> Any:
    # Also reached for StrEnum subclasses, since str precedes Enum in their MRO.
    if not isinstance(value, str):
        raise _type_error("a string", value)
    return value if cls is str else cls(value)


def _structure_bool(value: object, _cls: type[Any]) -> bool:
    if not isinstance(value, bool):
        raise _type_error("a boolean", value)
    return value


def _structure_int(value: object, cls: type[Any]) -> Any:
    # bool is an int in Python but never a count in our data.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error("an integer", value)
    return value if cls is int else cls(value)


def _structure_float(value: object, _cls: type[Any]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error("a number", value)
    return float(value)


def _unstructure_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        # Reachable only through free-form mappings; model fields are aware.
        raise ValueError(f"cannot serialize naive datetime {value.isoformat()}")
    return value.astimezone(dt.UTC).isoformat().removesuffix("+00:00") + "Z"


def _structure_datetime(value: object, _cls: type[Any]) -> dt.datetime:
    if isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value)
    elif isinstance(value, dt.datetime):
        parsed = value
    else:
        raise _type_error("an ISO 8601 timestamp string", value)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"timestamp {value!r} has no UTC offset; add 'Z' or '+HH:MM'")
    return parsed.astimezone(dt.UTC)


def _unstructure_date(value: dt.date) -> str:
    return value.isoformat()


def _structure_date(value: object, _cls: type[Any]) -> dt.date:
    if isinstance(value, dt.datetime):
        raise _type_error("a date", value)
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise _type_error("a YYYY-MM-DD string", value)
    return dt.date.fromisoformat(value)


def _unstructure_enum(value: Enum) -> Any:
    return value.value


def _unstructure_secret(_value: Secret) -> str:
    return REDACTED


def _structure_secret(value: object, _cls: type[Any]) -> Secret:
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise _type_error("a string", value)
    return Secret(value)


def _is_homogeneous_tuple(tp: Any) -> bool:
    args = get_args(tp)
    return get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis  # noqa: PLR2004


def _strict_tuple_factory(tp: Any, converter: cattrs.Converter) -> Callable[..., Any]:
    # cattrs would happily iterate a string or a dict into a tuple; a JSON
    # array is the only valid input.
    inner = homogenous_tuple_structure_factory(tp, converter)

    def structure_tuple(value: object, cls: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise _type_error("an array", value)
        return inner(value, cls)

    return structure_tuple


# --------------------------------------------------------------------------
# attrs class hooks
# --------------------------------------------------------------------------


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and attrs.has(tp) and tp is not Secret


# --------------------------------------------------------------------------
# Free-form mappings renamed in the camel style
# --------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _remembered_camel_key(key: str) -> str:
    return camel_key(key)


_REMEMBERED_KEY_LENGTH: Final = 64


def _camel_key(key: str) -> str:
    """:func:`camel_key`, remembered for short keys: the keys of the open
    mappings repeat from one object to the next (every event's metadata
    names the same things), and the rule costs a regular expression or two
    per key. Long keys, rare and possibly hostile, are not kept, nor those
    of a subclass of str, which may compare equal to another."""
    if key.__class__ is not str or len(key) > _REMEMBERED_KEY_LENGTH:
        return camel_key(key)
    return _remembered_camel_key(key)


def _camel_keys_out(
    value: Any,
    unstructure: Callable[[Any], Any],
    verbatim: frozenset[str] = frozenset(),
) -> Any:
    """Unstructure *value* with *unstructure*, renaming the keys of its plain
    mappings.

    Walks the Python value rather than renaming the unstructured result: a
    model object inside metadata is already in the camel shape once the
    converter has written it, and renaming its keys again would swap them
    back to snake_case. Data that is JSON already (a stored document, parsed)
    is walked with the identity as *unstructure*: only its keys change.
    """
    if isinstance(value, Mapping):
        return {
            (_camel_key(key) if isinstance(key, str) else key): (
                unstructure(item)
                if key in verbatim
                else _camel_keys_out(item, unstructure)
            )
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_camel_keys_out(item, unstructure) for item in value]
    return unstructure(value)


def _snake_keys_in(value: Any, verbatim: frozenset[str] = frozenset()) -> Any:
    """Rename the keys of camel-form JSON back, the inverse of the above."""
    if isinstance(value, Mapping):
        renamed: dict[Any, Any] = {}
        for key, item in value.items():
            name = snake_key(key) if isinstance(key, str) else key
            renamed[name] = item if name in verbatim else _snake_keys_in(item)
        return renamed
    if isinstance(value, list):
        return [_snake_keys_in(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_snake_keys_in(item) for item in value)
    return value


def _camel_keyed_hooks(
    field: attrs.Attribute[Any], verbatim: frozenset[str], converter: cattrs.Converter
) -> dict[str, Any]:
    structure_mapping = converter.get_structure_hook(field.type)

    def unstruct_hook(value: Any) -> Any:
        return _camel_keys_out(value, converter.unstructure, verbatim)

    def struct_hook(value: Any, target: Any) -> Any:
        # Whatever is not a mapping reaches the converter's own hook as is,
        # which names the problem.
        renamed = (
            _snake_keys_in(value, verbatim) if isinstance(value, Mapping) else value
        )
        return structure_mapping(renamed, target)

    return {"unstruct_hook": unstruct_hook, "struct_hook": struct_hook}


def _field_overrides(
    cls: type[Any],
    style: Style,
    converter: cattrs.Converter,
    *,
    omit: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if field.name in omit:
            overrides[field.name] = override(omit=True)
            continue
        verbatim = _CAMEL_KEYED.get((cls, field.name))
        hooks = (
            _camel_keyed_hooks(field, verbatim, converter)
            if style == "camel" and verbatim is not None
            else {}
        )
        overrides[field.name] = override(
            rename=_key_for(cls, field, style),
            # `field?: T` in the shared types: absent, not null.
            omit_if_default=style == "camel" and field.default is None,
            **hooks,
        )
    return overrides


def _unstructure_factory(style: Style) -> Callable[[Any, cattrs.Converter], Any]:
    def factory(cls: Any, converter: cattrs.Converter) -> Any:
        return make_dict_unstructure_fn(
            cls, converter, **_field_overrides(cls, style, converter)
        )

    return factory


def _guard_structure(
    cls: type[Any],
    inner: Callable[[Mapping[str, Any], Any], Any],
    style: Style,
) -> Callable[[Any, Any], Any]:
    """Give every class hook the same failure contract.

    The generated functions collect field errors into a
    :class:`cattrs.ClassValidationError`, but a non-object input or a failing
    validator in ``__init__`` would escape as a bare exception. Wrapping those
    too means callers (and :func:`cattrs.transform_error`) see one error type
    with a path at every level. Paths name the keys of the input (``userId``
    in the camel style), not our attribute names.
    """
    keys = {field.name: _key_for(cls, field, style) for field in attrs.fields(cls)}

    def structure_model(data: Any, target: Any) -> Any:
        try:
            if not isinstance(data, Mapping):
                raise _type_error(f"an object for {cls.__name__}", data)
            return inner(data, target)
        except cattrs.ClassValidationError as exc:
            for error in exc.exceptions:
                _rename_notes(error, keys)
            raise
        except cattrs.BaseValidationError:
            raise
        except (ValueError, TypeError) as exc:
            raise cattrs.ClassValidationError(
                f"While structuring {cls.__name__}", [exc], cls
            ) from None

    return structure_model


def _rename_notes(error: BaseException, keys: Mapping[str, str]) -> None:
    notes = getattr(error, "__notes__", None)
    if not notes:
        return
    error.__notes__ = [
        AttributeValidationNote(str(note), keys.get(note.name, note.name), note.type)
        if isinstance(note, AttributeValidationNote)
        else note
        for note in notes
    ]


def _structure_factory(style: Style) -> Callable[[Any, cattrs.Converter], Any]:
    def factory(cls: Any, converter: cattrs.Converter) -> Any:
        fn = make_dict_structure_fn(
            cls, converter, **_field_overrides(cls, style, converter)
        )
        return _guard_structure(cls, fn, style)

    return factory


def _register_camel_metadata(converter: cattrs.Converter) -> None:
    """Merge ``extra`` into, and split it out of, the open metadata object.

    Its keys are renamed like the activity metadata's: the host reads them
    beside ``queryTime`` as fields of the same object.
    """
    cls = AIAuditLogResultMetadata
    overrides = _field_overrides(cls, "camel", converter, omit=frozenset({"extra"}))
    named = frozenset(
        _key_for(cls, field, "camel")
        for field in attrs.fields(cls)
        if field.name != "extra"
    )
    base_unstructure = make_dict_unstructure_fn(cls, converter, **overrides)
    base_structure = make_dict_structure_fn(
        cls, converter, **{**overrides, "extra": override(rename="extra")}
    )

    def unstructure_metadata(value: AIAuditLogResultMetadata) -> dict[str, Any]:
        # The model refuses extras whose camel spelling is a field's, so
        # nothing is lost.
        extra: dict[str, Any] = _camel_keys_out(value.extra, converter.unstructure)
        return {**base_unstructure(value), **extra}

    def structure_metadata(data: Mapping[str, Any], target: Any) -> Any:
        known = {key: data[key] for key in named if key in data}
        known["extra"] = _snake_keys_in(
            {k: val for k, val in data.items() if k not in named}
        )
        return base_structure(known, target)

    converter.register_unstructure_hook(cls, unstructure_metadata)
    converter.register_structure_hook(
        cls, _guard_structure(cls, structure_metadata, "camel")
    )


def _build_converter(style: Style) -> cattrs.Converter:
    converter = make_converter()

    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(dt.datetime, _structure_datetime)
    converter.register_unstructure_hook(dt.datetime, _unstructure_datetime)
    converter.register_structure_hook(dt.date, _structure_date)
    converter.register_unstructure_hook(dt.date, _unstructure_date)
    # Registered for Enum and, because str precedes Enum in a StrEnum's MRO,
    # for the str and int flavours too; values, not members, are the data.
    for enum_base in (Enum, StrEnum, IntEnum):
        converter.register_unstructure_hook(enum_base, _unstructure_enum)
    converter.register_structure_hook_factory(
        _is_homogeneous_tuple, _strict_tuple_factory
    )

    converter.register_unstructure_hook_factory(_is_model, _unstructure_factory(style))
    converter.register_structure_hook_factory(_is_model, _structure_factory(style))
    converter.register_unstructure_hook(Secret, _unstructure_secret)
    converter.register_structure_hook(Secret, _structure_secret)

    if style == "camel":
        _register_camel_metadata(converter)
    return converter


_CONVERTERS: Final[Mapping[Style, cattrs.Converter]] = {
    "snake": _build_converter("snake"),
    "camel": _build_converter("camel"),
}

_write_log: Final = log_writer(_CONVERTERS["snake"])
"""``dumps`` of an ``AIAuditLog`` in the snake style, the stored document:
the converter's JSON by a faster path (see :mod:`connector_core._document`)."""


# --------------------------------------------------------------------------
# A stored document in either style, without the model
# --------------------------------------------------------------------------

_Rewrite = Callable[[Any], Any]

_AS_IS: Final = (str, int, bool, dt.datetime)
"""Field types whose JSON a round trip through the model gives back as it
was written, as it does an enum's value: a string, an integer, a boolean,
and a timestamp as the converter writes it (UTC, with ``Z``)."""


def _unwrapped(tp: Any) -> list[Any]:
    """The types a field of type *tp* holds, through ``X | None`` and
    ``tuple[X, ...]``."""
    if get_origin(tp) in (Union, UnionType) or _is_homogeneous_tuple(tp):
        return [part for arg in get_args(tp) for part in _unwrapped(arg)]
    return [tp]


def _float_fields(cls: type[Any]) -> frozenset[str]:
    """The snake keys of the float fields within *cls*'s models."""
    names: set[str] = set()
    for field in attrs.fields(cls):
        for part in _unwrapped(field.type):
            if part is float:
                names.add(field.name)
            elif _is_model(part):
                names |= _float_fields(part)
    return frozenset(names)


def _rewrite_for(tp: Any, style: Style) -> _Rewrite | None:
    """What ``unstructure(structure(data, tp), style=style)`` makes of the
    snake JSON *data* of a *tp* written by :func:`dumps`: a function of the
    data, or ``None`` where that is the data itself.

    Only for the types a log holds, each decided here: any other is refused
    when the rewrite is built, at import, so a new kind of field cannot
    slip through unexamined.
    """
    if _is_model(tp):
        return _model_rewrite(tp, style)
    if get_origin(tp) in (Union, UnionType) or _is_homogeneous_tuple(tp):
        return _container_rewrite(tp, style)
    if tp is float:
        # An integer where a float is read (a plugin's ``confidence=80``)
        # comes back a float: 80.0.
        return lambda value: _structure_float(value, float)
    if (
        get_origin(tp) is Mapping
        or tp in _AS_IS
        or (isinstance(tp, type) and issubclass(tp, Enum))
    ):
        return None
    raise TypeError(f"no rule for a stored document's value of type {tp!r}")


def _container_rewrite(tp: Any, style: Style) -> _Rewrite | None:
    """:func:`_rewrite_for` of ``X | None`` and ``tuple[X, ...]``."""
    args = get_args(tp)
    if _is_homogeneous_tuple(tp):
        item = _rewrite_for(args[0], style)
        if item is None:
            return None

        def rewrite_array(value: Any) -> Any:
            if not isinstance(value, list):
                raise _type_error("an array", value)
            return [item(part) for part in value]

        return rewrite_array
    if len(args) != 2 or type(None) not in args:  # noqa: PLR2004 -- X | None
        raise TypeError(f"no rule for a stored document's value of type {tp!r}")
    inner = _rewrite_for(next(arg for arg in args if arg is not type(None)), style)
    if inner is None:
        return None
    return lambda value: None if value is None else inner(value)


def _camel_mapping(verbatim: frozenset[str]) -> _Rewrite:
    def rewrite_mapping(value: Any) -> Any:
        if not isinstance(value, dict):
            raise _type_error("an object", value)
        return _camel_keys_out(value, identity, verbatim)

    return rewrite_mapping


def _model_rewrite(cls: type[Any], style: Style) -> _Rewrite | None:
    """The rewrite of a model's JSON object: by the converter's rules for
    *style*, its keys, the fields left out and the open mappings renamed."""
    fields: list[tuple[str, str, _Rewrite | None, bool]] = []
    for field in attrs.fields(cls):
        verbatim = _CAMEL_KEYED.get((cls, field.name))
        fields.append(
            (
                field.name,
                _key_for(cls, field, style),
                _camel_mapping(verbatim)
                if style == "camel" and verbatim is not None
                else _rewrite_for(field.type, style),
                style == "camel" and field.default is None,
            )
        )
    if style == "snake" and all(rewrite is None for _, _, rewrite, _ in fields):
        return None
    # The converter's generated function writes the fields it may leave out
    # after all the others (each group in field order): so does this.
    fields.sort(key=lambda field: field[3])

    def rewrite_model(data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise _type_error(f"an object for {cls.__name__}", data)
        written: dict[str, Any] = {}
        for name, key, rewrite, omit_none in fields:
            if name not in data:
                raise ValueError(f"{cls.__name__} lacks {name!r}")
            value = data[name]
            if omit_none and value is None:
                continue
            written[key] = value if rewrite is None else rewrite(value)
        return written

    return rewrite_model


_LOG_REWRITES: Final[Mapping[Style, _Rewrite | None]] = {
    style: _rewrite_for(AIAuditLog, style) for style in get_args(Style)
}

_INT_FOR_FLOAT: Final = re.compile(
    "(?:"
    + "|".join(re.escape(f'"{name}":') for name in sorted(_float_fields(AIAuditLog)))
    # orjson writes every float with a "." or an exponent.
    + ")-?[0-9]+[,}]"
)
"""Where a document may hold an integer in a float field (what ``dumps``
writes for ``confidence=80``): a float field's key followed by an integer,
there or as a key of the free-form mappings. One expression: the scan of
a document is then about as fast as looking for one of the keys alone."""


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def converter_for(style: Style) -> cattrs.Converter:
    """Return the shared converter for *style*, for plugins to add hooks to.

    Hooks registered here apply process-wide, which is the point: a plugin's
    type then serializes the same way wherever it appears.
    """
    try:
        return _CONVERTERS[style]
    except KeyError:
        raise ValueError(
            f"unknown style {style!r}; expected 'snake' or 'camel'"
        ) from None


def unstructure(obj: Any, *, style: Style = "snake") -> Any:
    """Return *obj* as JSON-compatible data (dicts, lists, str, numbers)."""
    return converter_for(style).unstructure(obj)


def structure(data: Any, cls: type[T], *, style: Style = "snake") -> T:
    """Build a *cls* from JSON-compatible *data*.

    Raises:
        SchemaError: *data* does not fit *cls*; the message lists every
            problem with its path, and ``__cause__`` is the cattrs error.
    """
    converter = converter_for(style)
    try:
        return converter.structure(data, cls)
    except cattrs.BaseValidationError as exc:
        problems = "; ".join(cattrs.transform_error(exc, format_exception=_describe))
        raise SchemaError(f"invalid {_type_name(cls)}: {problems}") from exc
    except (ValueError, TypeError) as exc:
        # Only for targets that are not attrs classes, e.g. a bare datetime.
        raise SchemaError(f"invalid {_type_name(cls)}: {exc}") from exc


def dumps(obj: Any, *, style: Style = "snake") -> bytes:
    """Serialize *obj* to JSON bytes.

    An :class:`~connector_core.models.AIAuditLog` in the snake style (the
    stored document of an event) goes by a faster path with the same bytes
    and the same errors; any other object, a subclass of it too, by the
    converter.
    """
    if obj.__class__ is AIAuditLog and style == "snake":
        return _write_log(obj)
    return orjson.dumps(unstructure(obj, style=style))


def restyle_log(document: str, *, style: Style = "snake") -> str:
    """The JSON of a stored log in *style*, without rebuilding the log.

    *document* is an :class:`~connector_core.models.AIAuditLog` as
    :func:`dumps` wrote it; the result is the text of
    ``dumps(loads(document, AIAuditLog), style=style)``. In the snake style
    that is *document* itself, unless a float field holds an integer (the
    log read back holds ``80.0`` where ``80`` was written): then, as in the
    camel style, the document is parsed and rewritten by the converter's
    rules (keys, fields left out, the open mappings renamed) without the
    model. The document is not checked beyond what the rewrite reads.

    Raises:
        SchemaError: *document* is not JSON, or is not a log's where the
            rewrite reads it.
        ValueError: Unknown *style*.
    """
    if style == "snake" and _INT_FOR_FLOAT.search(document) is None:
        return document
    converter_for(style)  # names an unknown style
    rewrite = _LOG_REWRITES[style]
    if rewrite is None:
        return document
    try:
        data = orjson.loads(document)
    except orjson.JSONDecodeError as exc:
        raise SchemaError(f"invalid JSON for AIAuditLog: {exc}") from exc
    try:
        return orjson.dumps(rewrite(data)).decode()
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"invalid AIAuditLog document: {exc}") from exc


def loads(data: bytes | str, cls: type[T], *, style: Style = "snake") -> T:
    """Parse JSON *data* into a *cls*.

    Raises:
        SchemaError: *data* is not JSON or does not fit *cls*.
    """
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SchemaError(f"invalid JSON for {_type_name(cls)}: {exc}") from exc
    return structure(parsed, cls, style=style)


def _type_name(cls: Any) -> str:
    return getattr(cls, "__name__", repr(cls))


def _describe(exc: BaseException, tp: type[Any] | None) -> str:
    # cattrs' default text drops the exception's own message, which is where
    # our validators explain what is wrong.
    text = format_exception(exc, tp)
    if isinstance(exc, KeyError):
        return text
    return f"{text} ({exc})" if str(exc) and str(exc) not in text else text
