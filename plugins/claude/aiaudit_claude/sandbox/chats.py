"""The sandbox's Claude Enterprise chats: their metadata, messages and files.

The same organization as the feed (its people, its projects, its linked
organization): each chat belongs to one of the seeded users, and its id is
drawn the way the feed's ``claude_chat_created`` activities draw theirs, so
the two sources name the same chats. Messages alternate between the user
and the assistant; a user's message sometimes carries files (uploads), an
assistant's sometimes generated files and artifacts (model output). A chat's
``updated_at`` is its last message's time, or its soft delete's; about one
chat in twelve shares its ``updated_at`` second with another, so ties
(broken by id) are exercised on every read.

The chats are drawn from their own generator, seeded from the same seed, so
adding them changed nothing the feed serves.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import attrs

from aiaudit_claude.sandbox.data import format_created, stable_id


if TYPE_CHECKING:
    from aiaudit_claude.sandbox.data import OrgData


__all__ = ["PROMPT_MARK", "Chat", "generate_chats"]

PROMPT_MARK: Final = "PROMPT-TEXT"
"""Every message's text begins with this, so a test can show that no
stored row holds a prompt or a reply."""

_OOXML: Final = "application/vnd.openxmlformats-officedocument"
_UPLOADS: Final = (
    ("quarterly_report.pdf", "application/pdf"),
    ("customer_list.xlsx", f"{_OOXML}.spreadsheetml.sheet"),
    ("notes.txt", "text/plain"),
    ("architecture.png", "image/png"),
    ("contract_draft.docx", f"{_OOXML}.wordprocessingml.document"),
    ("export.csv", "text/csv"),
)
_MODELS: Final = ("claude-opus-4-7", "claude-sonnet-4-5", "claude-haiku-4-5", None)
_TITLES: Final = (
    "Product requirements discussion",
    "Vendor contract summary",
    "Quarterly planning",
    "SQL query help",
    "Draft customer email",
    "Incident review notes",
    "Onboarding checklist",
    "Translate release notes",
)
_TIED_SHARE: Final = 0.08
_FEED_CHATS: Final = 400
"""How many chat ids the feed's activities draw from (``chat-0`` to
``chat-399``): the first chats here are those."""


@attrs.define
class Chat:
    """One chat: :attr:`record` is its listing item, :attr:`messages` the
    ``chat_messages`` of its messages endpoint."""

    record: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    messages: list[dict[str, Any]]

    @property
    def id(self) -> str:
        return str(self.record["id"])

    @property
    def user_id(self) -> str:
        return str(self.record["user"]["id"])

    def key(self, order_by: str) -> tuple[datetime, str]:
        moment = self.updated_at if order_by == "updated_at" else self.created_at
        return (moment, self.id)

    def uploads(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Each file a user attached, with the message that carried it."""
        return [
            (message, file)
            for message in self.messages
            if message["role"] == "user"
            for file in message.get("files") or ()
        ]


def generate_chats(data: OrgData, count: int) -> list[Chat]:
    """*count* chats of *data*'s people, created in its history; a chat's
    last message is never after the history's end."""
    seed = data.seed
    rng = random.Random(f"{seed}:chats")  # noqa: S311 - generated data
    weights = [1.0 / (rank + 1) for rank in range(len(data.users))]
    span = int((data.end - data.start).total_seconds())
    chats: list[Chat] = []
    previous: datetime | None = None
    for number in range(count):
        user = rng.choices(data.users, weights)[0]
        organization = rng.choices(data.linked, (0.8, 0.2))[0]
        created = data.start + timedelta(seconds=rng.randrange(max(1, span - 3600)))
        messages, last = _messages(rng, seed, number, created, data.end)
        deleted = None
        if rng.random() < 0.06:  # noqa: PLR2004 - a user's soft delete
            deleted = min(data.end, last + timedelta(minutes=rng.randrange(1, 90)))
            deleted -= timedelta(seconds=1) if deleted == data.end else timedelta(0)
            last = max(last, deleted)
        if previous is not None and rng.random() < _TIED_SHARE and previous >= last:
            last = previous  # a tie on updated_at, broken by id
        previous = last
        in_project = rng.random() < 0.3  # noqa: PLR2004
        project = f"claude_proj_{stable_id(seed, f'proj-{rng.randrange(40)}')}"
        name = f"chat-{number}" if number < _FEED_CHATS else f"content-chat-{number}"
        record = {
            "id": f"claude_chat_{stable_id(seed, name)}",
            "name": rng.choice(_TITLES),
            "created_at": format_created(created),
            "updated_at": format_created(last),
            "deleted_at": None if deleted is None else format_created(deleted),
            "href": f"https://claude.ai/chat/{_uuid_like(seed, name)}",
            "model": rng.choice(_MODELS),
            "organization_id": organization[0],
            "organization_uuid": organization[1],
            "project_id": project if in_project else None,
            "user": {"id": user["user_id"], "email_address": user["email"]},
        }
        chats.append(
            Chat(record=record, created_at=created, updated_at=last, messages=messages)
        )
    return chats


def _messages(
    rng: random.Random, seed: int, number: int, created: datetime, end: datetime
) -> tuple[list[dict[str, Any]], datetime]:
    """A chat's messages from *created* on, and the last one's time."""
    messages: list[dict[str, Any]] = []
    moment = last = created
    for turn in range(rng.randrange(1, 5)):
        for role in ("user", "assistant"):
            if messages:
                moment += timedelta(seconds=rng.randrange(5, 1800))
            if moment >= end:
                return messages, last
            ident = f"chat-{number}-{turn}-{role}"
            message: dict[str, Any] = {
                "id": f"claude_chat_msg_{stable_id(seed, ident)}",
                "role": role,
                "created_at": format_created(moment),
                "content": [
                    {"type": "text", "text": f"{PROMPT_MARK} {role} {number}.{turn}"}
                ],
                "files": None,
            }
            if role == "user" and rng.random() < 0.3:  # noqa: PLR2004
                message["files"] = [
                    _file(rng, seed, f"{ident}-{k}") for k in range(rng.randrange(1, 3))
                ]
            if role == "assistant":
                message["generated_files"] = None
                message["artifacts"] = None
                if rng.random() < 0.1:  # noqa: PLR2004
                    message["generated_files"] = [
                        {
                            "id": f"claude_gen_file_{stable_id(seed, ident)}",
                            "filename": "summary.csv",
                            "mime_type": "text/csv",
                        }
                    ]
            messages.append(message)
            last = moment
    return messages, last


def _file(rng: random.Random, seed: int, ident: str) -> dict[str, Any]:
    filename, mime_type = rng.choice(_UPLOADS)
    return {
        "id": f"claude_file_{stable_id(seed, ident)}",
        "filename": filename,
        "mime_type": mime_type,
    }


def _uuid_like(seed: int, purpose: str) -> str:
    text = hashlib.blake2b(
        f"{seed}:href-{purpose}".encode(), digest_size=16
    ).hexdigest()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
