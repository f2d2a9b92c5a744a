"""The sandbox's Claude Enterprise chat endpoints.

``GET /v1/compliance/apps/chats`` and ``.../chats/{id}/messages`` (scope
``read:compliance_user_data``, which no Admin key holds) as the API
reference and the content guide describe them:

* ascending by ``order_by`` (``created_at``, the default, or
  ``updated_at``), ties by id; ``limit`` 1 to 1,000 (default 100); cursors
  are opaque, bound to the sort key (another key's cursor is a 400);
* org-wide listings (no ``user_ids[]``) take no ``before_id`` and no
  ``project_ids[]``, and their time filters must be the sort key's;
  per-user listings (1 to 10 ``user_ids[]``) sort by ``created_at`` only;
* the messages endpoint answers the whole chat when ``limit`` is omitted,
  and a 404 ``not_found_error`` for a chat it does not know.

The routes are added to the feed's application, so its gateway (keys, the
organization's budget, faults, the access log) serves them too.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

import orjson
from aiohttp import web

from aiaudit_claude.sandbox.api import (
    DEFAULT_LIMIT,
    TIME_FILTERS,
    ApiError,
    dumps,
    query_time,
    request_key,
    within,
)


if TYPE_CHECKING:
    from collections.abc import Callable

    from multidict import MultiMapping

    from aiaudit_claude.sandbox.chats import Chat


__all__ = ["CHATS_PATH", "CONTENT_SCOPE", "ChatsApi"]

CHATS_PATH: Final = "/v1/compliance/apps/chats"
CONTENT_SCOPE: Final = "read:compliance_user_data"
CHATS_MAX_LIMIT: Final = 1000
CHATS_MAX_USERS: Final = 10


class ChatsApi:
    """The chat endpoints over the sandbox's chats.

    Attributes:
        chats: Every chat, by creation.
        queries: The query of every listing served, in order.
    """

    def __init__(self, chats: list[Chat]) -> None:
        self.chats = sorted(chats, key=lambda c: c.key("created_at"))
        self._chats_by_id = {c.id: c for c in self.chats}
        self.queries: list[list[tuple[str, str]]] = []

    def register(self, app: web.Application) -> None:
        app.router.add_get(CHATS_PATH, self.list_chats)
        app.router.add_get(CHATS_PATH + "/{chat_id}/messages", self.chat_messages)

    def _content_key(self, request: web.Request) -> None:
        """The content endpoints need ``read:compliance_user_data``; an
        Admin key never has it (the API answers it a 403 too)."""
        key = request_key(request)
        if CONTENT_SCOPE not in key.scopes:
            got = sorted(key.scopes)
            raise ApiError(
                403,
                f"Missing required scopes. Got: {got} Needed: ['{CONTENT_SCOPE}']",
            )

    async def list_chats(self, request: web.Request) -> web.Response:
        """``GET /v1/compliance/apps/chats``: one organization's chats (or
        every linked one's), ascending by the sort key, ties by id."""
        self._content_key(request)
        query = request.query
        self.queries.append(list(query.items()))
        limit = _bounded_limit(query, CHATS_MAX_LIMIT)
        order_by = query.get("order_by", "created_at")
        if order_by not in {"created_at", "updated_at"}:
            raise ApiError(
                400,
                f"`order_by` must be `created_at` or `updated_at`. Got {order_by!r}.",
            )
        after, before = query.get("after_id"), query.get("before_id")
        if after is not None and before is not None:
            raise ApiError(400, "Only one of `after_id` and `before_id` may be given.")
        keep = _chat_filter(query, order_by, org_wide=before is None)
        found = sorted(
            (c for c in self.chats if keep(c)), key=lambda c: c.key(order_by)
        )
        if before is not None:
            mark = _chat_cursor(before, order_by, "before_id")
            end = sum(1 for c in found if c.key(order_by) < mark)
            start = max(0, end - limit)
            page, more = found[start:end], start > 0
        else:
            start = 0
            if after is not None:
                mark = _chat_cursor(after, order_by, "after_id")
                start = sum(1 for c in found if c.key(order_by) <= mark)
            page, more = found[start : start + limit], start + limit < len(found)
        body = {
            "data": [c.record for c in page],
            "has_more": more,
            "first_id": _chat_token(page[0], order_by) if page else None,
            "last_id": _chat_token(page[-1], order_by) if page else None,
        }
        return web.json_response(body, dumps=dumps)

    async def chat_messages(self, request: web.Request) -> web.Response:
        """``GET /v1/compliance/apps/chats/{id}/messages``: the chat and
        its messages, all of them unless ``limit`` pages them."""
        self._content_key(request)
        chat_id = request.match_info["chat_id"]
        chat = self._chats_by_id.get(chat_id)
        if chat is None:
            raise ApiError(404, f"Chat {chat_id!r} not found.")
        messages = chat.messages
        query = request.query
        more, first, last = False, None, None
        if "limit" in query or "after_id" in query:
            limit = _bounded_limit(query, CHATS_MAX_LIMIT)
            ids = [m["id"] for m in messages]
            start = 0
            after = query.get("after_id")
            if after is not None:
                decoded = _decode(after)
                if decoded is None or decoded.get("m") not in ids:
                    raise ApiError(400, f"Invalid `after_id`: {after!r}.")
                start = ids.index(decoded["m"]) + 1
            messages, more = messages[start : start + limit], start + limit < len(ids)
        if messages:
            first = _encode({"m": messages[0]["id"]})
            last = _encode({"m": messages[-1]["id"]})
        body = {
            **chat.record,
            "chat_messages": messages,
            "has_more": more,
            "first_id": first,
            "last_id": last,
        }
        return web.json_response(body, dumps=dumps)


def _bounded_limit(query: MultiMapping[str], maximum: int) -> int:
    text = query.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    limit = int(text) if text.isdigit() else 0
    if not 1 <= limit <= maximum:
        raise ApiError(
            400,
            f"The limit parameter must be between 1 and {maximum}, inclusive. "
            f"Got {text}.",
        )
    return limit


def _encode(value: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode()


def _decode(token: str) -> dict[str, str] | None:
    try:
        value = orjson.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(value, dict) or not all(
        isinstance(v, str) for v in value.values()
    ):
        return None
    return value


def _chat_token(chat: Chat, order_by: str) -> str:
    """A chat cursor: opaque to the client, bound to the sort key."""
    moment, chat_id = chat.key(order_by)
    return _encode({"k": order_by, "t": moment.isoformat(), "id": chat_id})


def _chat_cursor(token: str, order_by: str, name: str) -> tuple[datetime, str]:
    decoded = _decode(token)
    if decoded is None or not {"k", "t", "id"} <= decoded.keys():
        raise ApiError(400, f"Invalid `{name}`: the cursor could not be decoded.")
    if decoded["k"] != order_by:
        raise ApiError(
            400,
            f"Invalid `{name}`: the cursor was issued for `order_by={decoded['k']}`.",
        )
    try:
        moment = datetime.fromisoformat(decoded["t"])
    except ValueError:
        raise ApiError(400, f"Invalid `{name}`.") from None
    return (moment.astimezone(UTC), decoded["id"])


def _chat_filter(
    query: MultiMapping[str], order_by: str, *, org_wide: bool
) -> Callable[[Chat], bool]:
    """Which chats a listing keeps, after the rules that tell org-wide
    listings from per-user ones (refused with a 400 when broken)."""
    users = set(query.getall("user_ids[]", ()))
    projects = set(query.getall("project_ids[]", ()))
    if len(users) > CHATS_MAX_USERS:
        raise ApiError(400, f"At most {CHATS_MAX_USERS} `user_ids[]` may be given.")
    if users and order_by == "updated_at":
        raise ApiError(
            400, "`order_by=updated_at` is only supported for org-wide queries."
        )
    if not users and not org_wide:
        raise ApiError(400, "`before_id` is not supported for org-wide queries.")
    if not users and projects:
        raise ApiError(400, "`project_ids[]` requires `user_ids[]` (per-user queries).")
    bounds: dict[str, dict[str, datetime | None]] = {}
    for field in ("created_at", "updated_at"):
        found = {op: query_time(query, f"{field}.{op}") for op in TIME_FILTERS}
        asked = [op for op, moment in found.items() if moment is not None]
        if asked and not users and field != order_by:
            raise ApiError(
                400,
                f"`{field}.{asked[0]}` requires `order_by={field}` "
                "for org-wide queries.",
            )
        bounds[field] = found
    orgs = set(query.getall("organization_ids[]", ()))

    def keep(chat: Chat) -> bool:
        record = chat.record
        return (
            (not users or chat.user_id in users)
            and (not projects or record["project_id"] in projects)
            and (
                not orgs
                or bool({record["organization_id"], record["organization_uuid"]} & orgs)
            )
            and within(chat.created_at, bounds["created_at"])
            and within(chat.updated_at, bounds["updated_at"])
        )

    return keep
