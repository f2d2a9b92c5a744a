"""The Claude Enterprise chats stream: which chats exist, which files went in.

``GET /v1/compliance/apps/chats`` lists an organization's chats (Claude
Enterprise only, scope ``read:compliance_user_data``), and
``.../chats/{id}/messages`` one chat's messages with the files each carried.
This stream records that a conversation exists (``conversation.created``,
with its owner, title, project and model) and that a user attached a file to
it (``file.uploaded``, with the file's name, type and project). It never
keeps what was said: prompts and replies are the most sensitive data an
organization has, and an audit trail that copied them would become the
place to steal them from. The text is read (the API has no metadata-only
form of a chat) and dropped on the spot.

Reading. The vendor's recommended export is org-wide, ``order_by=updated_at``,
paged with ``after_id``: a chat that changes comes back, so new files in an
old chat are found. The range is cut into ``updated_at`` windows, each its
own ``after_id`` chain (cursors are opaque and bound to the listing), drained
and then checkpointed by its end, a time valid forever, exactly like the
feed. A chat listed again because it changed yields its events again under
the same ids (the chat's id; the chat's and the file's), which a store keeps
once; the checkpoint names the chats (id and ``updated_at``) read in the
listing lag before it, so the overlap a resumed read re-reads is skipped,
and nothing unchanged is yielded twice.

A chat is listed by its last change, so one created in a read's range but
changed after its end lies past the range: each read also lists that tail
(up to now, without a checkpoint) and yields from it only what happened in
the range. Every chat costs one more request for its messages, unless only
``conversation.created`` is asked for. The listing's user filter needs
``order_by=created_at``, so users are filtered here, not pushed down.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import attrs
import cattrs

from aiaudit_claude.event_map import PLATFORM, risk_indicators, row_for
from aiaudit_claude.normalize import format_time, parse_time
from connector_core import (
    AIAuditLog,
    AIAuditLogQuery,
    CursorGuard,
    HTTPTransport,
    LagCheckpoint,
    LaggedWindows,
    LogFilter,
    NotFoundError,
    PermissionDeniedError,
    QuarantinedRecord,
    RecordRefusedError,
    SchemaError,
    StreamBatch,
    Window,
    WindowLedger,
    WindowSizing,
    describe_structure_error,
    get_logger,
    normalize_or_quarantine,
    strict_converter,
)
from connector_core import metadata_keys as keys


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Mapping


__all__ = [
    "CHATS_LAG",
    "CHATS_PATH",
    "CHAT_TYPE",
    "CONTENT_ACTIONS",
    "CONTENT_SCOPE",
    "CONTENT_TYPES",
    "STREAM_CHATS",
    "UPLOAD_TYPE",
    "ChatsReader",
    "ChatsResume",
    "file_log_id",
    "normalize_chat",
    "normalize_upload",
    "parse_chat",
    "read_chats",
    "uploads_of",
]

log = get_logger(__name__)

STREAM_CHATS: Final = "chats"
CHATS_PATH: Final = "/v1/compliance/apps/chats"
CONTENT_SCOPE: Final = "read:compliance_user_data"

CHAT_TYPE: Final = "claude_chat"
"""The ``native_type`` of a chat's log: the API's object, not a feed type."""

UPLOAD_TYPE: Final = "claude_chat_file"
"""The ``native_type`` of an attached file's log."""

CONTENT_TYPES: Final = frozenset({CHAT_TYPE, UPLOAD_TYPE})

CONTENT_ACTIONS: Final = ("conversation.created", "file.uploaded")

CHATS_LAG: Final = timedelta(minutes=5)
"""How late a change may still enter the ``updated_at`` listing. Not
documented for the content endpoints; the feed's reading (about a minute,
read with five) is the safe one to borrow, and it lives here alone."""

_CHAT_ROW: Final = row_for("claude_chat_created")
_UPLOAD_ROW: Final = row_for("claude_file_uploaded")
_SAFE_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,200}")
"""What a chat id may be before it goes into a URL path: an id the API
sends with a slash or a dot would name another resource."""


def file_log_id(chat_id: str, file_id: str) -> str:
    """An attached file's log id: unique per chat, stable, and never an
    activity id of the feed (those begin ``activity_``)."""
    return f"{chat_id}/{file_id}"


@attrs.frozen(kw_only=True)
class ChatsResume(LagCheckpoint):
    """Read up to ``since`` (of ``updated_at``); ``seen`` names the chats,
    as ``id@updated_at``, listed in the lag before it."""


@attrs.frozen
class ChatUser:
    id: str
    email_address: str | None = None


@attrs.frozen
class Chat:
    """A chat's metadata, as the listing and the messages endpoint name it."""

    id: str
    created_at: str
    updated_at: str
    user: ChatUser
    name: str | None = None
    deleted_at: str | None = None
    model: str | None = None
    href: str | None = None
    organization_id: str | None = None
    organization_uuid: str | None = None
    project_id: str | None = None


@attrs.frozen
class ChatFile:
    id: str
    filename: str | None = None
    mime_type: str | None = None


@attrs.frozen
class ChatMessage:
    """A message, for who sent it, when, and the files it carried; its
    ``content`` is never read."""

    id: str
    role: str
    created_at: str
    files: tuple[Any, ...] | None = None


@attrs.frozen
class Messages:
    chat_messages: tuple[Any, ...] | None = None
    has_more: bool = False
    last_id: str | None = None


@attrs.frozen
class ChatPage:
    data: tuple[Any, ...] = ()
    has_more: bool = False
    first_id: str | None = None
    last_id: str | None = None


_converter = strict_converter()
_read_chat = _converter.get_structure_hook(Chat)
_read_file = _converter.get_structure_hook(ChatFile)
_read_page = _converter.get_structure_hook(ChatPage)
# A message's errors never quote a value: a value there may be a prompt.
_quiet = strict_converter(quote_values=False)
_read_message = _quiet.get_structure_hook(ChatMessage)
_read_messages = _quiet.get_structure_hook(Messages)


def _refused(what: str, exc: Exception, native_id: str | None) -> RecordRefusedError:
    return RecordRefusedError(
        f"malformed {what}: {describe_structure_error(exc)}",
        native_id=native_id,
        native_type=CHAT_TYPE,
    )


def _time(text: str, field: str, native_id: str) -> datetime:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise RecordRefusedError(
            f"{field}: {exc}", native_id=native_id, native_type=CHAT_TYPE
        ) from None


def parse_chat(raw: object) -> tuple[Chat, datetime, datetime]:
    """A chat and its creation and change times.

    Raises:
        RecordRefusedError: It is not a chat (the reason says why).
    """
    native_id = raw.get("id") if isinstance(raw, dict) else None
    native_id = native_id if isinstance(native_id, str) else None
    try:
        chat: Chat = _read_chat(raw, Chat)
    except (cattrs.BaseValidationError, TypeError) as exc:
        raise _refused("chat", exc, native_id) from None
    if not _SAFE_ID.fullmatch(chat.id):
        raise RecordRefusedError(
            "id: not a chat id", native_id=chat.id[:200], native_type=CHAT_TYPE
        )
    return (
        chat,
        _time(chat.created_at, "created_at", chat.id),
        _time(chat.updated_at, "updated_at", chat.id),
    )


def _organization(chat: Chat, organization: str) -> str:
    return chat.organization_id or chat.organization_uuid or organization


def _context(chat: Chat) -> dict[str, Any]:
    """What every log of a chat says about where it happened."""
    found: dict[str, Any] = {
        keys.ACTOR_TYPE: "user_actor",
        keys.CONVERSATION_ID: chat.id,
    }
    if chat.name:
        found[keys.CONVERSATION_TITLE] = chat.name
    if chat.project_id:
        found[keys.PROJECT_ID] = chat.project_id
    if chat.organization_uuid:
        found["organization_uuid"] = chat.organization_uuid
    return found


def normalize_chat(
    raw: Mapping[str, Any],
    chat: Chat,
    created: datetime,
    *,
    platform: str = PLATFORM,
    organization: str,
) -> AIAuditLog:
    """A chat's ``conversation.created``: its id is the chat's own, and
    ``raw`` is the listing's item, which holds no message."""
    metadata = _context(chat)
    metadata[keys.RESOURCE_TYPE] = _CHAT_ROW.resource
    metadata[keys.RESOURCE_ID] = chat.id
    metadata[keys.ORIGINAL_TIME] = chat.created_at
    metadata["updated_at"] = chat.updated_at
    for name in ("model", "href", "deleted_at"):
        value = getattr(chat, name)
        if value is not None:
            metadata[name] = value
    return AIAuditLog(
        id=chat.id,
        platform=platform,
        timestamp=created,
        user_id=chat.user.id,
        user_email=chat.user.email_address,
        organization_id=_organization(chat, organization),
        activity_type=_CHAT_ROW.activity,
        action=_CHAT_ROW.action,
        metadata=metadata,
        native_type=CHAT_TYPE,
        raw=dict(raw),
    )


def normalize_upload(
    raw: Mapping[str, Any],
    chat: Chat,
    *,
    platform: str = PLATFORM,
    organization: str,
) -> AIAuditLog:
    """One attached file's ``file.uploaded``. *raw* is the file as the
    message names it, with the chat's and the message's ids and the
    message's time beside it (``claude_chat_id``, ``chat_message_id``,
    ``message_created_at``); the message's text is not in it.

    Raises:
        RecordRefusedError: The file or its time cannot be read.
    """
    try:
        file: ChatFile = _read_file(raw, ChatFile)
    except (cattrs.BaseValidationError, TypeError) as exc:
        raise _refused("file", exc, chat.id) from None
    moment = _time(str(raw["message_created_at"]), "message created_at", chat.id)
    name = file.filename or file.id
    stem, dot, extension = name.rpartition(".")
    reference = {
        "file_id": file.id,
        "file_name": name,
        "file_type": extension.lower() if dot and stem and extension else "unknown",
        "file_size": None,
        "uploaded_at": moment.isoformat().replace("+00:00", "Z"),
        "is_sensitive": None,
    }
    metadata = _context(chat)
    metadata.update(
        {
            keys.RESOURCE_TYPE: _UPLOAD_ROW.resource,
            keys.RESOURCE_ID: file.id,
            keys.FILE_ID: file.id,
            keys.FILE_NAME: name,
            keys.FILES: [reference],
            keys.ORIGINAL_TIME: raw["message_created_at"],
            "message_id": raw["chat_message_id"],
        }
    )
    if file.mime_type is not None:
        metadata["mime_type"] = file.mime_type
    return AIAuditLog(
        id=file_log_id(chat.id, file.id),
        platform=platform,
        timestamp=moment,
        user_id=chat.user.id,
        user_email=chat.user.email_address,
        organization_id=_organization(chat, organization),
        activity_type=_UPLOAD_ROW.activity,
        action=_UPLOAD_ROW.action,
        metadata=metadata,
        risk_indicators=risk_indicators(_UPLOAD_ROW.action, raw),
        native_type=UPLOAD_TYPE,
        raw=dict(raw),
    )


def uploads_of(body: object, chat_id: str) -> list[dict[str, Any]]:
    """The files users attached, one per file id, each with its message's
    id and time; assistants' generated files are model output, not
    uploads. Nothing of a message's text is kept.

    Raises:
        RecordRefusedError: The messages or one of them cannot be read.
    """
    try:
        messages: Messages = _read_messages(body, Messages)
        found: dict[str, dict[str, Any]] = {}
        for item in messages.chat_messages or ():
            message: ChatMessage = _read_message(item, ChatMessage)
            if message.role != "user":
                continue
            for file in message.files or ():
                file_id = file.get("id") if isinstance(file, dict) else None
                key = file_id if isinstance(file_id, str) else f"#{len(found)}"
                found.setdefault(
                    key,
                    {
                        **(file if isinstance(file, dict) else {"file": file}),
                        "claude_chat_id": chat_id,
                        "chat_message_id": message.id,
                        "message_created_at": message.created_at,
                    },
                )
    except (cattrs.BaseValidationError, TypeError) as exc:
        raise _refused("chat messages", exc, chat_id) from None
    return list(found.values())


@attrs.frozen(kw_only=True)
class ChatsReader:
    """One read of the chats stream over *http*.

    Attributes:
        http: The open transport (the Compliance Access Key's).
        query: What was asked for.
        resume: Where an earlier read stopped, or ``None``.
        page_size: Chats per listing request.
        platform: The platform name the logs carry.
        organization: The parent organization, for chats naming none.
    """

    http: HTTPTransport
    query: AIAuditLogQuery
    resume: ChatsResume | None
    page_size: int
    platform: str
    organization: str
    wanted: frozenset[str] | None = attrs.field(init=False)

    @wanted.default
    def _wanted(self) -> frozenset[str] | None:
        return LogFilter.from_query(self.query).askable_actions

    def asks_for_nothing(self) -> bool:
        """Whether nothing asked for can be in this stream: no request."""
        return self.wanted is not None and not (self.wanted & set(CONTENT_ACTIONS))

    def _kept(self, entry: AIAuditLog) -> bool:
        """Asked for, and in the range (a first read's start; on resume,
        whatever changed since, however old the event)."""
        if self.wanted is not None and entry.action not in self.wanted:
            return False
        if self.resume is None and entry.timestamp < self.query.start_date:
            return False
        return entry.timestamp <= self.query.end_date

    async def window(
        self, window: Window, stream: str, ledger: WindowLedger
    ) -> AsyncGenerator[StreamBatch, None]:
        """One ``updated_at`` window, page by page. A chat is claimed in
        *ledger* by ``id@updated_at``: one listed again unchanged (in the
        lag a resumed read re-reads) is skipped before its messages are
        fetched, and the window's checkpoint names the chats it listed."""
        params = [
            ("order_by", "updated_at"),
            ("updated_at.gte", format_time(window.start)),
            ("updated_at.lt", format_time(window.end)),
            ("limit", str(self.page_size)),
        ]
        guard = CursorGuard(CHATS_PATH, "last_id")
        after: str | None = None
        while True:
            asked = params if after is None else [*params, ("after_id", after)]
            page = _page(await self._get(CHATS_PATH, asked))
            results: list[AIAuditLog | QuarantinedRecord] = []
            for item in page.data:
                results.extend(await self._chat(item, stream, ledger))
            batch = StreamBatch.from_results(results)
            if batch.logs or batch.quarantined:
                yield batch
            if not page.has_more:
                break
            if page.last_id is None:
                raise SchemaError(f"{CHATS_PATH}: has_more is true but last_id is null")
            guard.advance(page.last_id)
            after = page.last_id

    async def _chat(
        self,
        item: object,
        stream: str,
        ledger: WindowLedger,
    ) -> list[AIAuditLog | QuarantinedRecord]:
        """A listed chat's logs: its creation, then its uploads."""
        parsed = normalize_or_quarantine(
            stream, item, parse_chat, native_type=CHAT_TYPE
        )
        if isinstance(parsed, QuarantinedRecord):
            return [parsed]
        chat, created, updated = parsed
        assert isinstance(item, dict)  # noqa: S101 - parse_chat read it as one
        if created > self.query.end_date:
            return []  # the tail's newer chats: nothing of them is in range
        if not ledger.claim(f"{chat.id}@{chat.updated_at}", updated):
            return []  # read before (the checkpoint's), unchanged since
        results: list[AIAuditLog | QuarantinedRecord] = []
        made = normalize_or_quarantine(
            stream,
            item,
            lambda raw: normalize_chat(
                raw,
                chat,
                created,
                platform=self.platform,
                organization=self.organization,
            ),
            native_type=CHAT_TYPE,
        )
        if isinstance(made, QuarantinedRecord) or self._kept(made):
            results.append(made)
        if self.wanted is None or "file.uploaded" in self.wanted:
            results.extend(await self._files(chat, stream))
        return results

    async def _files(
        self, chat: Chat, stream: str
    ) -> list[AIAuditLog | QuarantinedRecord]:
        """The chat's uploads, from its messages (every page of them)."""
        path = f"{CHATS_PATH}/{chat.id}/messages"
        guard = CursorGuard(path, "last_id")
        results: list[AIAuditLog | QuarantinedRecord] = []
        params: list[tuple[str, str]] = []
        while True:
            try:
                body = await self._get(path, params)
            except NotFoundError:
                # Deleted between the listing and now (a Compliance API
                # delete or a retention policy): there is nothing to read.
                log.warning("chats.messages_gone", chat=chat.id)
                return results
            try:
                found = uploads_of(body, chat.id)
            except Exception as exc:  # noqa: BLE001 - quarantined, as any record
                # The body holds the messages' text: the quarantine keeps
                # the chat's id and the reason, never the prompts.
                results.append(
                    QuarantinedRecord.of_failure(
                        stream,
                        {"claude_chat_id": chat.id},
                        exc,
                        where="its messages; their text is not kept",
                        native_type=CHAT_TYPE,
                    )
                )
                return results
            for upload in found:
                entry = normalize_or_quarantine(
                    stream,
                    upload,
                    lambda raw: normalize_upload(
                        raw,
                        chat,
                        platform=self.platform,
                        organization=self.organization,
                    ),
                    native_type=UPLOAD_TYPE,
                )
                if isinstance(entry, QuarantinedRecord) or self._kept(entry):
                    results.append(entry)
            more = body.get("has_more") if isinstance(body, dict) else None
            last = body.get("last_id") if isinstance(body, dict) else None
            if more is not True:
                return results
            if not isinstance(last, str):
                raise SchemaError(f"{path}: has_more is true but last_id is null")
            guard.advance(last)
            params = [("after_id", last)]

    async def _get(self, path: str, params: list[tuple[str, str]]) -> object:
        """A content request; a refused scope is named, so that a sync's
        report says what the key lacks."""
        try:
            return await self.http.get_json(path, params=params)
        except PermissionDeniedError as exc:
            raise PermissionDeniedError(
                exc.status,
                f"the chats stream needs a Compliance Access Key with "
                f"{CONTENT_SCOPE} (an Admin key never has it): {exc}",
                method=exc.method,
                url=exc.url,
                code=exc.code,
                request_id=exc.request_id,
            ) from None


def _page(raw: object) -> ChatPage:
    """A listing page of the wrong shape is an API fault, never an empty
    page."""
    try:
        page: ChatPage = _read_page(raw, ChatPage)
    except (cattrs.BaseValidationError, TypeError) as exc:
        problem = describe_structure_error(exc)
        raise SchemaError(f"{CHATS_PATH}: malformed page: {problem}") from None
    return page


async def read_chats(
    reader: ChatsReader,
    stream: str,
    *,
    sizing: WindowSizing,
    concurrency: int,
    settled: datetime | None,
) -> AsyncGenerator[StreamBatch, None]:
    """Every window of *reader*'s range, checkpoints in order."""
    lagged = LaggedWindows(lag=CHATS_LAG, resume=reader.resume, checkpoint=ChatsResume)
    stop = reader.query.end_date + timedelta(microseconds=1)  # updated_at.lt

    def read(window: Window) -> AsyncGenerator[StreamBatch, None]:
        return reader.window(window, stream, lagged.ledger(window))

    # A chat makes several logs, each timed by its own event, not by the
    # listing's updated_at: the reader claims chats, and filters its logs.
    windows = lagged.read(
        read,
        start=lagged.start(reader.query.start_date),
        end=stop,
        sizing=sizing,
        concurrency=concurrency,
        settled=settled,
        by_log=False,
    )
    async with contextlib.aclosing(windows) as batches:
        async for batch in batches:
            yield batch
    # A chat created (or given a file) in the range but changed since is
    # listed after the range's end: the tail finds it, yielding only what
    # happened in the range, and no checkpoint past the range's end.
    now = datetime.now(UTC)
    if stop < now:
        tail = Window(index=0, start=stop, end=now, last=True)
        tail_read = reader.window(tail, stream, WindowLedger(tail))
        async with contextlib.aclosing(tail_read) as more:
            async for batch in more:
                yield batch
