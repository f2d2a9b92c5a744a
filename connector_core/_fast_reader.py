"""Readers generated from wire classes: a record of the usual shape read
inline, any other handed to the strict converter.

Structuring an event with a cattrs converter costs a hook call per field and
an error list per object; for a connector reading a million events that was
more than half of normalizing one. A record of the usual shape needs none of
that. A fast reader accepts only values the converter takes unchanged (exact
``str``, ``int``, ``bool``, ``float``; ``None`` where the field is optional;
exact dicts and lists for nested classes and tuples of them) and builds the
same instances the converter would; at anything else it gives up and the
converter reads the record from the start. So the result, and every refusal
and its wording, is the converter's, whatever the record.

Like a converter that does not forbid extra keys, the readers pass over keys
the classes do not name; a converter that forbids them gets no fast reader
(its own hook is used), as does a class with a field type the generator does
not know.
"""

from __future__ import annotations

import types
import typing
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs


if TYPE_CHECKING:
    from collections.abc import Callable

    import cattrs


__all__ = ["fast_reader"]

T = TypeVar("T")
_EXACT: Final = (str, int, bool, float)


class _UnusualError(Exception):
    """A value a fast reader leaves to the converter."""


def _optional_inner(tp: Any) -> Any:
    """``X`` of ``X | None``; None for any other type."""
    args = typing.get_args(tp)
    if (
        typing.get_origin(tp) in (types.UnionType, typing.Union)
        and len(args) == 2  # noqa: PLR2004 - X and None
        and type(None) in args
    ):
        return next(arg for arg in args if arg is not type(None))
    return None


class _Generator:
    """Writes the fast readers' source, one function per attrs class."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"_UnusualError": _UnusualError}
        self.functions: dict[type[Any], str | None] = {}
        self.source: list[str] = []

    def reader(self, cls: type[Any]) -> str | None:
        """The name of *cls*'s reader, or None if it has no fast reader."""
        if cls in self.functions:
            return self.functions[cls]
        name = f"_read_{cls.__name__}"
        self.functions[cls] = name  # before the body: a class may nest itself
        body = self.body(cls)
        if body is None:
            self.functions[cls] = None
            return None
        self.source.append(f"def {name}(o):\n" + "\n".join(body))
        return name

    def body(self, cls: type[Any]) -> list[str] | None:
        """The lines of a function of ``o`` that returns *cls* read from it,
        or None if *cls* has no fast reader."""
        hints = typing.get_type_hints(cls)
        self.namespace[f"_class_{cls.__name__}"] = cls
        lines = ["    if o.__class__ is not dict: raise _UnusualError"]
        for index, field in enumerate(attrs.fields(cls)):
            if not field.init or field.kw_only:
                return None
            var = f"v{index}"
            checks: list[str] = []
            if not self._check(hints[field.name], var, checks, "        "):
                return None
            if field.default is attrs.NOTHING:
                lines.append(f"    {var} = o[{field.name!r}]")
                lines.extend(line[4:] for line in checks)
                continue
            if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
                return None
            default = f"_default_{cls.__name__}_{field.name}"
            self.namespace[default] = field.default
            lines.append(f"    if {field.name!r} in o:")
            lines.append(f"        {var} = o[{field.name!r}]")
            lines.extend(checks)
            lines.append(f"    else: {var} = {default}")
        fields = ", ".join(f"v{index}" for index in range(len(attrs.fields(cls))))
        lines.append(f"    return _class_{cls.__name__}({fields})")
        return lines

    def _check(self, tp: Any, var: str, out: list[str], pad: str) -> bool:
        """Append what checks (and reads) *var* as a *tp*; False if it cannot."""
        if tp is Any:
            return True
        if tp in _EXACT:
            out.append(f"{pad}if {var}.__class__ is not {tp.__name__}:")
            out.append(f"{pad}    raise _UnusualError")
            return True
        inner = _optional_inner(tp)
        if inner is None:
            return self._check_nested(tp, var, out, pad)
        checks: list[str] = []
        if not self._check(inner, var, checks, pad + "    "):
            return False
        if checks:
            out.append(f"{pad}if {var} is not None:")
            out.extend(checks)
        return True

    def _check_nested(self, tp: Any, var: str, out: list[str], pad: str) -> bool:
        """An attrs class, or a tuple of one (``tuple[File, ...]``)."""
        args = typing.get_args(tp)
        in_tuple = typing.get_origin(tp) is tuple and args[1:] == (Ellipsis,)
        cls = args[0] if in_tuple else tp
        name = self.reader(cls) if attrs.has(cls) else None
        if name is None:
            return False
        if in_tuple:
            out.append(f"{pad}if {var}.__class__ is not list: raise _UnusualError")
            out.append(f"{pad}{var} = tuple([{name}(item) for item in {var}])")
        else:
            out.append(f"{pad}{var} = {name}({var})")
        return True


def fast_reader(
    converter: cattrs.Converter, cls: type[T]
) -> Callable[[dict[str, Any]], T]:
    """A function reading a record into *cls* as *converter* does.

    Raises what the converter raises for the record. A class with a field
    type the generator does not know is read by the converter alone.
    """
    structure = converter.get_structure_hook(cls)
    generator = _Generator()
    body = generator.body(cls)
    if body is None or converter.forbid_extra_keys:
        return lambda record: structure(record, cls)
    namespace = generator.namespace
    namespace["_structure"], namespace["_cls"] = structure, cls
    # The record's own class read inline, in the try: one frame less.
    source = "\n\n".join(generator.source)
    source += "\n\ndef read(o):\n    try:\n"
    source += "\n".join(f"    {line}" for line in body)
    # Outside the handler, so the converter's errors chain to nothing of ours.
    source += "\n    except Exception:\n        pass\n    return _structure(o, _cls)\n"
    exec(  # noqa: S102 - our own source, generated from our own classes
        compile(source, f"<structure {cls.__module__}.{cls.__qualname__}>", "exec"),
        namespace,
    )
    return namespace["read"]  # type: ignore[no-any-return]
