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

The envelopes of the two feeds read per event are also read by readers the
core generates from the same classes (``READ_ADMIN``...,
:func:`connector_core.wire.fast_reader`): a record of the usual shape is read
inline, any other by the converter, which alone decides what is refused.
"""

from __future__ import annotations

from typing import Any, Final

import attrs

from connector_core.wire import fast_reader, strict_converter


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


# Fast readers: the usual shape inline, anything else by the converter
# (connector_core.wire.fast_reader): structuring took more than half of an
# admin event's normalization.

READ_ADMIN: Final = fast_reader(_CONVERTER, AdminRecord)
READ_COMPLIANCE: Final = fast_reader(_CONVERTER, ComplianceRecord)
READ_MESSAGE: Final = fast_reader(_CONVERTER, ConversationMessage)
