"""Pages the feed should never send, from a server on loopback that sends
them: each is a clear error or a quarantined record, never a crash, an
endless loop or a silent loss."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from conftest import read, whole_history

from aiaudit_claude import ClaudeConfig, ClaudeConnector
from aiaudit_claude.normalize import parse_time
from connector_core import SchemaError, Secret


GOOD = {
    "id": "activity_01",
    "created_at": "2026-02-27T10:00:00Z",
    "organization_id": "org_01",
    "organization_uuid": None,
    "actor": {"type": "user_actor", "user_id": "user_01", "email_address": "a@x.test"},
    "type": "claude_chat_created",
}


def _holds(query: Any, moment: str) -> bool:
    """Whether the window *query* asks for holds *moment*."""
    start, end = (parse_time(query[f"created_at.{op}"]) for op in ("gte", "lt"))
    return start <= parse_time(moment) < end


async def _read_from(page: Any, *, at: str | None = None):
    """Read the whole history from a server answering *page* to every
    request (with *at*, only to the window holding that time, as the feed
    does: a window keeps only the logs inside it; empty pages elsewhere)."""
    calls: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        calls.append(dict(request.query))
        here = at is None or _holds(request.query, at)
        return web.json_response(page if here else {})

    app = web.Application()
    app.router.add_get("/v1/compliance/activities", handler)
    async with TestServer(app) as server:
        config = ClaudeConfig(
            api_key=Secret("sk-ant-api01-hostile"),
            base_url=str(server.make_url("")),
            concurrency=1,
            rate_limit=None,
        )
        result = await read(ClaudeConnector(config), whole_history())
    return result, calls


async def test_more_without_a_cursor_is_a_schema_error():
    page = {
        "data": [GOOD],
        "has_more": True,
        "first_id": "activity_01",
        "last_id": None,
    }
    with pytest.raises(SchemaError, match="last_id is null"):
        await _read_from(page)


async def test_the_same_cursor_twice_is_a_schema_error_not_a_loop():
    page = {"data": [GOOD], "has_more": True, "first_id": "a", "last_id": "a"}
    with pytest.raises(SchemaError, match="again"):
        await _read_from(page)


@pytest.mark.parametrize(
    "page",
    [
        {"data": {"not": "a list"}},
        {"data": [], "has_more": "yes"},
        ["a", "list"],
        {"data": [], "last_id": 7},
    ],
)
async def test_a_page_of_another_shape_is_a_schema_error(page):
    with pytest.raises(SchemaError, match="malformed page"):
        await _read_from(page)


async def test_records_of_another_shape_are_quarantined_and_the_rest_kept():
    bad = [7, {"id": "activity_02"}, {**GOOD, "id": "activity_03", "actor": None}]
    page = {"data": [GOOD, *bad], "has_more": False}
    (logs, quarantined, _), _ = await _read_from(page, at=GOOD["created_at"])
    assert [log.id for log in logs] == ["activity_01"]
    assert [q.native_id for q in quarantined] == [None, "activity_02", "activity_03"]
    assert all(q.stream == "activities" and q.reason for q in quarantined)


async def test_an_empty_page_with_every_field_missing_is_an_empty_window():
    (logs, quarantined, checkpoints), calls = await _read_from({})
    assert (logs, quarantined) == ([], [])
    assert checkpoints
    assert all(
        call["exclude_activity_types[]"] == "compliance_api_accessed" for call in calls
    )
