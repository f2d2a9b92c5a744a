"""The wire envelopes of the three feeds, and the strict converter that checks them.

The envelope fields of every record (ids, types, times, actors) are
structured by one shared cattrs converter into the small frozen classes
below, so type errors are found in one place and reported with their path
(``actor.session.user.id: expected a string, got int 7``). The converter is
strict where cattrs would coerce: a number in a string, a string iterated
into a tuple or indexed like an object means the schema changed, and the
record is refused rather than misread. Payloads are never structured,
because they are kept verbatim and their schemas are open.

These classes are the normalizers' view of a record, not an API: what a
log becomes is decided in the per-feed modules.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any, Final

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.gen import make_dict_structure_fn

from aiaudit_chatgpt.fields import got


if TYPE_CHECKING:
    from collections.abc import Callable


__all__ = [
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
    "describe",
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


_WIRE_CLASSES: Final = frozenset(
    {
        User,
        Session,
        ServiceAccount,
        ApiKey,
        AdminActor,
        Project,
        AdminRecord,
        ComplianceActor,
        Principal,
        ComplianceRecord,
        Author,
        File,
        Message,
        Conversation,
        ConversationMessage,
        VersionAuthor,
        GptConfig,
        Gpt,
    }
)


# --------------------------------------------------------------------------
# The converter: strict scalars, paths on errors
# --------------------------------------------------------------------------


def _structure_str(value: object, _cls: type[Any]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, {got(value)}")
    return value


def _structure_int(value: object, _cls: type[Any]) -> int:
    # No coercion: "1720804090" or 1720804090.5 means the schema changed.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, {got(value)}")
    return value


def _structure_float(value: object, _cls: type[Any]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, {got(value)}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(
            "expected a number, got an integer too large for one"
        ) from None


def _structure_bool(value: object, _cls: type[Any]) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected a boolean, {got(value)}")
    return value


def _is_homogeneous_tuple(tp: Any) -> bool:
    args = getattr(tp, "__args__", ())
    return getattr(tp, "__origin__", None) is tuple and args[-1:] == (Ellipsis,)


def _strict_tuple(tp: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    # cattrs would iterate a string or an object into a tuple.
    inner = homogenous_tuple_structure_factory(tp, converter)

    def structure(value: object, cls: Any) -> Any:
        if not isinstance(value, list):
            raise TypeError(f"expected an array, {got(value)}")
        return inner(value, cls)

    return structure


def _wire_class(
    cls: type[Any], converter: cattrs.Converter
) -> Callable[[Any, Any], Any]:
    generated = make_dict_structure_fn(cls, converter)

    def structure(value: object, target: Any) -> Any:
        # Without this a string would be indexed like an object and fail
        # with a confusing message about string indices.
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, {got(value)}")
        return generated(value, target)

    return structure


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


def _make_converter() -> cattrs.Converter:
    """The one converter for wire envelopes: strict scalars, paths on errors."""
    converter = cattrs.Converter(detailed_validation=True)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook_factory(_is_homogeneous_tuple, _strict_tuple)
    converter.register_structure_hook_factory(_is_optional, _optional)
    converter.register_structure_hook_factory(
        lambda tp: tp in _WIRE_CLASSES, _wire_class
    )
    return converter


_CONVERTER: Final = _make_converter()
STRUCTURE_ADMIN: Final = _CONVERTER.get_structure_hook(AdminRecord)
STRUCTURE_COMPLIANCE: Final = _CONVERTER.get_structure_hook(ComplianceRecord)
STRUCTURE_MESSAGE: Final = _CONVERTER.get_structure_hook(ConversationMessage)
STRUCTURE_GPT: Final = _CONVERTER.get_structure_hook(Gpt)
STRUCTURE_GPT_CONFIG: Final = _CONVERTER.get_structure_hook(GptConfig)


def _format_error(exc: BaseException, _type: object) -> str:
    if isinstance(exc, KeyError):
        return "required but missing"
    return str(exc) or type(exc).__name__


def describe(exc: BaseException, root: str = "") -> str:
    """cattrs' error tree as ``path: problem`` phrases, joined."""
    problems = []
    for line in cattrs.transform_error(exc, path=root, format_exception=_format_error):
        problem, _, path = line.rpartition(" @ ")
        path = path.lstrip(".") or "record"
        problems.append(f"{path}: {problem}")
    return "; ".join(problems)
