"""Chat listings and messages the API should never send, from a server on
loopback that sends them: each is a clear error or a quarantined record,
never a crash, an endless loop, a path the connector did not mean, or a
prompt kept."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from conftest import END, whole_history
from test_chats import read_chats

from aiaudit_claude import ClaudeConfig, ClaudeConnector
from aiaudit_claude.content import CHATS_PATH
from connector_core import AIDateRange, Registry, SchemaError, Secret


CHAT = {
    "id": "claude_chat_01",
    "name": "Hostile",
    "created_at": "2026-02-27T10:00:00Z",
    "updated_at": "2026-02-27T10:05:00Z",
    "deleted_at": None,
    "organization_id": "org_01",
    "organization_uuid": None,
    "project_id": None,
    "user": {"id": "user_01", "email_address": "a@x.test"},
}
SECRET_TEXT = "the board's confidential numbers"


async def _read_from(page: Any, messages: Any = None) -> tuple[Any, list[str]]:
    """Read the whole history from a server answering *page* to the first
    listing request (empty pages after) and *messages* to every chat."""
    calls: list[str] = []

    async def listing(request: web.Request) -> web.Response:
        calls.append(request.path_qs)
        first = sum(CHATS_PATH + "?" in c for c in calls) == 1
        empty = {"data": [], "has_more": False, "first_id": None, "last_id": None}
        return web.json_response(page if first else empty)

    async def chat(request: web.Request) -> web.Response:
        calls.append(request.path_qs)
        if messages is None:
            return web.json_response({"type": "error"}, status=404)
        return web.json_response(messages)

    app = web.Application()
    app.router.add_get(CHATS_PATH, listing)
    app.router.add_get(CHATS_PATH + "/{chat_id}/messages", chat)
    async with TestServer(app) as server:
        config = ClaudeConfig(
            api_key=Secret("sk-ant-api01-hostile"),
            base_url=str(server.make_url("")),
            concurrency=1,
            rate_limit=None,
            content=True,
        )
        result = await read_chats(ClaudeConnector(config), whole_history())
    return result, calls


async def test_a_listing_of_another_shape_is_a_schema_error():
    with pytest.raises(SchemaError, match="malformed page"):
        await _read_from({"data": {"chats": []}})


async def test_more_without_a_cursor_is_a_schema_error():
    page = {"data": [], "has_more": True, "first_id": None, "last_id": None}
    with pytest.raises(SchemaError, match="last_id is null"):
        await _read_from(page)


async def test_a_chat_id_that_names_another_path_is_quarantined():
    page = {"data": [{**CHAT, "id": "../../activities"}], "has_more": False}
    (logs, quarantined, _), calls = await _read_from(page)
    assert logs == []
    assert [q.reason for q in quarantined] == ["id: not a chat id"]
    assert not any("activities" in call for call in calls)


async def test_a_chat_gone_before_its_messages_keeps_its_creation():
    page = {"data": [CHAT], "has_more": False}
    (logs, quarantined, _), _ = await _read_from(page, messages=None)
    assert [log.id for log in logs] == [CHAT["id"]]
    assert quarantined == []


async def test_unreadable_messages_are_quarantined_without_their_text():
    page = {"data": [CHAT], "has_more": False}
    messages = {
        **CHAT,
        "chat_messages": [
            {
                "id": "claude_chat_msg_01",
                "role": ["user"],
                "created_at": "2026-02-27T10:00:00Z",
                "content": [{"type": "text", "text": SECRET_TEXT}],
                "files": None,
            }
        ],
    }
    (logs, quarantined, _), _ = await _read_from(page, messages)
    assert [log.id for log in logs] == [CHAT["id"]]
    (bad,) = quarantined
    assert bad.native_id == CHAT["id"]
    assert SECRET_TEXT not in bad.raw + bad.reason


async def test_an_upload_with_an_unreadable_time_is_quarantined_alone():
    page = {"data": [CHAT], "has_more": False}
    file = {"id": "claude_file_01", "filename": "a.pdf", "mime_type": "application/pdf"}
    messages = {
        **CHAT,
        "chat_messages": [
            {"id": "m1", "role": "user", "created_at": "yesterday", "files": [file]},
            {
                "id": "m2",
                "role": "user",
                "created_at": "2026-02-27T10:01:00Z",
                "files": [{**file, "id": "claude_file_02"}],
            },
        ],
    }
    (logs, quarantined, _), _ = await _read_from(page, messages)
    assert {log.id for log in logs} == {CHAT["id"], "claude_chat_01/claude_file_02"}
    assert [q.native_id for q in quarantined] == [CHAT["id"]]
    assert "created_at" in quarantined[0].reason


async def test_usage_analytics_count_a_chat_once(sandbox):
    registry = Registry.load()
    period = AIDateRange(start=END.replace(day=1, month=2), end=END)
    counts = []
    for content in (False, True):
        config = {**sandbox.config(), "content": content}
        async with registry.create("claude", config) as handle:
            analytics = await handle.get_usage_analytics(period)
        counts.append(analytics.events_by_type)
    assert counts[0] == counts[1]
    assert counts[0]["conversation.created"] > 0
