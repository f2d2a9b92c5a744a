"""A strict converter for wire envelopes, and its errors in words.

A connector reads the envelope of each record it is sent (ids, types, times,
actors) into small frozen attrs classes that describe what the API promises.
cattrs alone would coerce where a schema change should be noticed: a number
read into a string field, a string iterated into a tuple, a string indexed
like an object. :func:`strict_converter` refuses all of those, so a record of
a new shape is quarantined with the reason instead of misread, and
:func:`describe_structure_error` turns the refusal into one sentence naming
each JSON path (``actor.session.user.id: expected a string, got int 7``) that
a person can act on. Payloads are best left as ``Any``: they are kept verbatim
and their schemas are open.

:func:`fast_reader` reads a class's records of the usual shape inline and
leaves any other to the converter: the converter's result, at a fraction of
its cost per event.

Every connector refusing malformed input the same way, in the same words, is
the point of having these here rather than in each plugin.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.gen import make_dict_structure_fn

from connector_core._fast_reader import fast_reader


if TYPE_CHECKING:
    from collections.abc import Callable


__all__ = [
    "describe_structure_error",
    "fast_reader",
    "got",
    "kind",
    "short_repr",
    "strict_converter",
]

_MAX_REPR: Final = 80


def short_repr(value: object) -> str:
    """*value*'s repr, cut to a length a reason can quote."""
    try:
        text = repr(value)
    except ValueError:  # an integer with more digits than Python will print
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= _MAX_REPR else f"{text[: _MAX_REPR - 3]}..."


def got(value: object) -> str:
    """``got <type> <value>``: what a reason says was found instead."""
    return f"got {type(value).__name__} {short_repr(value)}"


_KINDS: Final = (
    (bool, "a boolean"),  # before int: a bool is an int to isinstance
    (int, "an integer"),
    (float, "a number"),
    (str, "a string"),
    (list | tuple, "an array"),
    (dict, "an object"),
)


def kind(value: object) -> str:
    """``got <JSON type>``: what was found, in words, never the value (for
    data that may hold ids or secrets, such as a stored checkpoint)."""
    if value is None:
        return "got null"
    for tp, word in _KINDS:
        if isinstance(value, tp):
            return f"got {word}"
    return f"got a {type(value).__name__}"


_Found: TypeAlias = "Callable[[object], str]"
"""How a refusal words what it found: :func:`got` or :func:`kind`."""


def _scalar_hooks(found: _Found) -> dict[type[Any], Callable[[Any, Any], Any]]:
    """Strict hooks for the JSON scalars, their refusals worded by *found*."""

    def structure_str(value: object, _cls: type[Any]) -> str:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, {found(value)}")
        return value

    def structure_int(value: object, _cls: type[Any]) -> int:
        # No coercion: "1720804090" or 1720804090.5 means the schema changed.
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected an integer, {found(value)}")
        return value

    def structure_float(value: object, _cls: type[Any]) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected a number, {found(value)}")
        try:
            return float(value)
        except OverflowError:
            raise ValueError(
                "expected a number, got an integer too large for one"
            ) from None

    def structure_bool(value: object, _cls: type[Any]) -> bool:
        if not isinstance(value, bool):
            raise TypeError(f"expected a boolean, {found(value)}")
        return value

    return {
        str: structure_str,
        int: structure_int,
        float: structure_float,
        bool: structure_bool,
    }


def _is_tuple(tp: Any) -> bool:
    return getattr(tp, "__origin__", None) is tuple


def _tuples(found: _Found) -> Callable[[Any, cattrs.Converter], Any]:
    """The hook factory for ``tuple[X, ...]`` and fixed ``tuple[X, Y]``,
    read only from JSON arrays (cattrs would iterate a string or an object
    into a tuple)."""

    def factory(tp: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
        args = tp.__args__
        if args[-1:] == (Ellipsis,):
            inner = homogenous_tuple_structure_factory(tp, converter)

            def homogeneous(value: object, cls: Any) -> Any:
                if not isinstance(value, list):
                    raise TypeError(f"expected an array, {found(value)}")
                return inner(value, cls)

            return homogeneous
        hooks = [converter.get_structure_hook(arg) for arg in args]

        def fixed(value: object, _cls: Any) -> Any:
            if not isinstance(value, list) or len(value) != len(args):
                raise TypeError(f"expected an array of {len(args)}, {found(value)}")
            items, errors = [], []
            for index, (hook, arg, item) in enumerate(
                zip(hooks, args, value, strict=True)
            ):
                try:
                    items.append(hook(item, arg))
                except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
                    exc.__notes__ = [
                        *getattr(exc, "__notes__", ()),
                        cattrs.errors.IterableValidationNote(
                            f"Structuring {tp} @ index {index}", index, arg
                        ),
                    ]
                    errors.append(exc)
            if errors:
                raise cattrs.IterableValidationError(
                    f"While structuring {tp!r}", errors, tp
                )
            return tuple(items)

        return fixed

    return factory


def _is_optional(tp: Any) -> bool:
    args = getattr(tp, "__args__", ())
    return (
        isinstance(tp, types.UnionType) and len(args) == 2 and type(None) in args  # noqa: PLR2004
    )


def _optional(tp: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    # cattrs' own optional hook looks the inner hook up on every call; this
    # one looks it up once, which is a third of the cost of an envelope.
    inner_type = next(arg for arg in tp.__args__ if arg is not type(None))
    inner = converter.get_structure_hook(inner_type)

    def structure(value: object, _cls: Any) -> Any:
        return None if value is None else inner(value, inner_type)

    return structure


def strict_converter(
    *, forbid_extra_keys: bool = False, quote_values: bool = True
) -> cattrs.Converter:
    """A new converter for wire envelopes: strict scalars, paths on errors.

    Every attrs class it structures is read as a JSON object; strings,
    integers, numbers, booleans and tuples (``tuple[X, ...]`` or of a fixed
    length) are taken only from the JSON type they name; ``X | None``
    accepts ``null``; ``Any`` takes the value as it is. Errors carry their
    paths (cattrs' detailed validation), for :func:`describe_structure_error`;
    a top-level value that is not an object raises a bare ``TypeError``,
    which it reads too.

    Each call returns a converter of its own, so hooks one plugin adds for
    its envelopes never change another's. Build it once, at import, and
    take the structure hooks from it once: that is where cattrs generates
    the code, and what makes reading an envelope cheap.

    Args:
        forbid_extra_keys: Refuse an object with keys its class does not
            name. Off by default: APIs add fields without notice, and the
            raw record is kept whole anyway; turn it on for a feed whose
            new fields would change what a record means.
        quote_values: Say in a refusal what value was found
            (``got int 7``). Off for data that may hold ids or secrets, such
            as a stored checkpoint: the refusal then names only the JSON
            type found (``got an integer``).
    """
    found: _Found = got if quote_values else kind
    converter = cattrs.Converter(
        detailed_validation=True, forbid_extra_keys=forbid_extra_keys
    )
    for tp, hook in _scalar_hooks(found).items():
        converter.register_structure_hook(tp, hook)
    converter.register_structure_hook_factory(_is_tuple, _tuples(found))
    converter.register_structure_hook_factory(_is_optional, _optional)

    def envelope(cls: type[Any], conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
        generated = make_dict_structure_fn(
            cls, conv, _cattrs_forbid_extra_keys=forbid_extra_keys
        )

        def structure(value: object, target: Any) -> Any:
            # Without this a string would be indexed like an object and
            # fail with a confusing message about string indices.
            if not isinstance(value, dict):
                raise TypeError(f"expected an object, {found(value)}")
            return generated(value, target)

        return structure

    converter.register_structure_hook_factory(attrs.has, envelope)
    return converter


def _format_error(exc: BaseException, _type: object) -> str:
    if isinstance(exc, KeyError):
        return "required but missing"
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return f"unexpected keys {', '.join(sorted(map(repr, exc.extra_fields)))}"
    return str(exc) or type(exc).__name__


def describe_structure_error(exc: BaseException, root: str = "") -> str:
    """*exc* as ``path: problem`` phrases joined by ``;``: one sentence.

    Takes what structuring with a :func:`strict_converter` raises (cattrs'
    error tree, or a bare ``TypeError``/``ValueError``/``KeyError`` from a
    hook). *root* is the path of the structured value inside the record,
    for an envelope read from inside another (``latest_config[0]``); the
    record itself is called ``record``.
    """
    problems = []
    for line in cattrs.transform_error(exc, path=root, format_exception=_format_error):
        problem, _, path = line.rpartition(" @ ")
        path = path.lstrip(".") or "record"
        problems.append(f"{path}: {problem}")
    return "; ".join(problems)
