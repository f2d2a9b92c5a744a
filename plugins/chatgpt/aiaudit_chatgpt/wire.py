"""The wire envelopes of the three feeds, and the strict converter that checks them.

The envelope fields of every record (ids, types, times, actors) are
structured into the small frozen classes below by one converter built with
the core's :func:`~connector_core.wire.strict_converter`, so type errors are
found in one place and reported with their path
(``actor.session.user.id: expected a string, got int 7``, by
:func:`~connector_core.wire.describe_structure_error`). It is strict where
cattrs would coerce: a number in a string, a string iterated into a tuple or
indexed like an object means the schema changed, and the record is refused
rather than misread. Payloads are never structured, because they are kept
verbatim and their schemas are open.

These classes are the normalizers' view of a record, not an API: what a
log becomes is decided in the per-feed modules.

The envelopes of the two feeds read per event are also read by a reader
generated from the same classes (``READ_ADMIN``...), which takes a record of
the usual shape (every value of exactly the type its field names) inline,
without the converter's call per field, and hands any other record to the
converter: the converter alone decides what is refused, and how it is worded.
"""

from __future__ import annotations

import types
import typing
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs

from connector_core.wire import strict_converter


if TYPE_CHECKING:
    from collections.abc import Callable


__all__ = [
    "READ_ADMIN",
    "READ_COMPLIANCE",
    "READ_MESSAGE",
    "STRUCTURE_ADMIN",
    "STRUCTURE_COMPLIANCE",
    "STRUCTURE_GPT",
    "STRUCTURE_GPT_CONFIG",
    "STRUCTURE_MESSAGE",
    "AdminActor",
    "AdminRecord",
    "ApiKey",
    "Author",
    "ComplianceActor",
    "ComplianceRecord",
    "Conversation",
    "ConversationMessage",
    "File",
    "Gpt",
    "GptConfig",
    "Message",
    "Principal",
    "Project",
    "ServiceAccount",
    "Session",
    "User",
    "VersionAuthor",
]


# --------------------------------------------------------------------------
# Wire classes: the envelope fields each record is checked for
# --------------------------------------------------------------------------


@attrs.frozen
class User:
    id: str
    email: str | None = None


@attrs.frozen
class Session:
    user: User
    ip_address: str | None = None
    user_agent: str | None = None
    # Undocumented and stringly typed; read leniently, never a reason to refuse.
    ip_address_details: Any = None


@attrs.frozen
class ServiceAccount:
    id: str


@attrs.frozen
class ApiKey:
    type: str
    id: str | None = None
    user: User | None = None
    service_account: ServiceAccount | None = None


@attrs.frozen
class AdminActor:
    type: str
    session: Session | None = None
    api_key: ApiKey | None = None


@attrs.frozen
class Project:
    id: str
    name: str | None = None


@attrs.frozen
class AdminRecord:
    id: str
    type: str
    effective_at: int
    actor: AdminActor | None = None
    project: Project | None = None


@attrs.frozen
class ComplianceActor:
    type: str | None = None
    user_id: str | None = None
    user_email: str | None = None


@attrs.frozen
class Principal:
    id: str | None = None
    type: str | None = None


@attrs.frozen
class ComplianceRecord:
    event_id: str
    type: str
    timestamp: str
    actor: ComplianceActor | None = None
    principal: Principal | None = None
    event_type: str | None = None
    workspace_id: str | None = None


@attrs.frozen
class Author:
    role: str | None = None
    type: str | None = None
    model: str | None = None
    client_type: str | None = None
    tool_name: str | None = None


@attrs.frozen
class File:
    id: str
    name: str | None = None
    created_at: Any = None  # seconds, or null once the file expired


@attrs.frozen
class Message:
    id: str
    author: Author
    parent_id: str | None = None
    files: tuple[File, ...] | None = None


@attrs.frozen
class Conversation:
    id: str
    title: str | None = None
    gpt_id: str | None = None
    gpt_name: str | None = None
    project_id: str | None = None
    project_name: str | None = None


@attrs.frozen
class ConversationMessage:
    message: Message
    conversation: Conversation


@attrs.frozen
class VersionAuthor:
    id: str | None = None
    email: str | None = None


@attrs.frozen
class GptConfig:
    id: str | None = None
    name: str | None = None
    description: str | None = None
    created_at: float | None = None
    version_author: VersionAuthor | None = None
    tools: Any = None
    files: Any = None


@attrs.frozen
class Gpt:
    id: str
    created_at: float
    owner_id: str
    owner_email: str | None = None
    builder_name: str | None = None
    sharing: Any = None
    latest_config: Any = None


# --------------------------------------------------------------------------
# The converter: the core's strict one, shared by the three feeds
# --------------------------------------------------------------------------

_CONVERTER: Final = strict_converter()
STRUCTURE_ADMIN: Final = _CONVERTER.get_structure_hook(AdminRecord)
STRUCTURE_COMPLIANCE: Final = _CONVERTER.get_structure_hook(ComplianceRecord)
STRUCTURE_MESSAGE: Final = _CONVERTER.get_structure_hook(ConversationMessage)
STRUCTURE_GPT: Final = _CONVERTER.get_structure_hook(Gpt)
STRUCTURE_GPT_CONFIG: Final = _CONVERTER.get_structure_hook(GptConfig)


# --------------------------------------------------------------------------
# Fast readers: the usual shape inline, anything else by the converter
# --------------------------------------------------------------------------
#
# Structuring an admin event with the converter took more than half of its
# normalization: a hook call per field, an error list per object. A record
# of the usual shape needs none of that. A fast reader accepts only values
# the converter takes unchanged (exact str, int, bool, float; null where the
# field is optional; exact dicts and lists for classes and tuples) and
# builds the same instances the converter would; at anything else it raises,
# and the converter reads the record from the start. So the result is the
# converter's, whatever the record. Like the converter, the readers pass
# over keys the classes do not name; a converter that refuses them gets no
# fast readers.

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


def _reader(cls: type[T]) -> Callable[[dict[str, Any]], T]:
    """A function reading a record into *cls* as :data:`_CONVERTER` does.

    Raises what the converter raises for the record. A class with a field
    type the generator does not know is read by the converter alone.
    """
    structure = _CONVERTER.get_structure_hook(cls)
    generator = _Generator()
    body = generator.body(cls)
    if body is None or _CONVERTER.forbid_extra_keys:
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


READ_ADMIN: Final = _reader(AdminRecord)
READ_COMPLIANCE: Final = _reader(ComplianceRecord)
READ_MESSAGE: Final = _reader(ConversationMessage)
