"""The sandbox's chat endpoints behave as the API reference and the content
guide describe them (restated in ``contracts/chats-page.json`` and
``contracts/chat-messages.json``): ascending order and ties, cursors bound
to their sort key, the org-wide and per-user rules, limits, scopes, 404s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiaudit_claude.content import CHATS_PATH, CONTENT_SCOPE
from connector_core.testing.contracts import load_contract


CONTRACTS = Path(__file__).resolve().parent / "contracts"


def contract(name: str) -> Any:
    return load_contract(CONTRACTS / name, remake="its README's instructions")


async def get(
    client: Any, sandbox: Any, path: str = CHATS_PATH, params: Any = (), key=None
) -> tuple[int, Any]:
    secret = key or sandbox.key()
    async with client.get(
        path, params=list(params), headers={"x-api-key": secret}
    ) as response:
        return response.status, await response.json()


async def walk(client, sandbox, params, limit="7") -> list[dict[str, Any]]:
    """Every chat of a listing, following ``after_id``."""
    found: list[dict[str, Any]] = []
    after = None
    while True:
        asked = [*params, ("limit", limit)]
        if after is not None:
            asked.append(("after_id", after))
        status, body = await get(client, sandbox, params=asked)
        assert status == 200, body
        found.extend(body["data"])
        if not body["has_more"]:
            return found
        after = body["last_id"]


@pytest.mark.parametrize("order_by", ["created_at", "updated_at"])
async def test_pages_are_ascending_ties_by_id_and_complete(client, sandbox, order_by):
    found = await walk(client, sandbox, [("order_by", order_by)])
    keys = [(c[order_by], c["id"]) for c in found]
    assert keys == sorted(keys)
    assert len(keys) == len(set(keys)) == len(sandbox.chats)
    if order_by == "updated_at":
        assert len({c["updated_at"] for c in found}) < len(found)  # ties exist


async def test_the_listing_has_the_documented_shape(client, sandbox):
    documented = contract("chats-page.json")["response"]["body"]
    status, body = await get(client, sandbox, params=[("limit", "2")])
    assert status == 200
    assert set(body) == set(documented)
    assert set(body["data"][0]) == set(documented["data"][0])
    assert set(body["data"][0]["user"]) == set(documented["data"][0]["user"])


async def test_the_messages_have_the_documented_shape(client, sandbox):
    documented = contract("chat-messages.json")["response"]["body"]
    chat = next(c for c in sandbox.chats if c.uploads())
    status, body = await get(client, sandbox, f"{CHATS_PATH}/{chat.id}/messages")
    assert status == 200
    assert set(body) == set(documented)
    user = next(m for m in body["chat_messages"] if m["files"])
    assert set(user) == set(documented["chat_messages"][0])
    assert set(user["files"][0]) == set(documented["chat_messages"][0]["files"][0])
    assert body["has_more"] is False
    assert len(body["chat_messages"]) == len(chat.messages)


async def test_messages_page_when_a_limit_is_given(client, sandbox):
    chat = max(sandbox.chats, key=lambda c: len(c.messages))
    path = f"{CHATS_PATH}/{chat.id}/messages"
    seen, after = [], None
    while True:
        params = [("limit", "1")] + ([("after_id", after)] if after else [])
        status, body = await get(client, sandbox, path, params)
        assert status == 200
        seen.extend(m["id"] for m in body["chat_messages"])
        if not body["has_more"]:
            break
        after = body["last_id"]
    assert seen == [m["id"] for m in chat.messages]


async def test_time_filters_and_an_empty_page(client, sandbox):
    chat = sandbox.chats[0]
    stamp = chat.record["updated_at"]
    found = await walk(
        client, sandbox, [("order_by", "updated_at"), ("updated_at.gte", stamp)]
    )
    assert all(c["updated_at"] >= stamp for c in found)
    assert chat.id in {c["id"] for c in found}
    status, body = await get(
        client,
        sandbox,
        params=[("created_at.gte", "2100-01-01T00:00:00Z")],
    )
    assert status == 200
    assert body == {"data": [], "has_more": False, "first_id": None, "last_id": None}


async def test_per_user_listings_take_both_cursors_and_projects(client, sandbox):
    chat = next(c for c in sandbox.chats if c.record["project_id"])
    user = chat.user_id
    mine = [c for c in sandbox.chats if c.user_id == user]
    status, body = await get(
        client, sandbox, params=[("user_ids[]", user), ("limit", "1000")]
    )
    assert status == 200
    assert {c["id"] for c in body["data"]} == {c.id for c in mine}
    last = body["last_id"]
    status, before = await get(
        client, sandbox, params=[("user_ids[]", user), ("before_id", last)]
    )
    assert status == 200
    assert [c["id"] for c in before["data"]] == [c["id"] for c in body["data"][:-1]]
    status, projects = await get(
        client,
        sandbox,
        params=[("user_ids[]", user), ("project_ids[]", chat.record["project_id"])],
    )
    assert status == 200
    assert chat.id in {c["id"] for c in projects["data"]}
    assert {c["project_id"] for c in projects["data"]} == {chat.record["project_id"]}


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ([("limit", "0")], "limit"),
        ([("limit", "1001")], "limit"),
        ([("order_by", "name")], "order_by"),
        ([("before_id", "x")], "before_id"),
        ([("project_ids[]", "claude_proj_x")], "project_ids"),
        ([("updated_at.gte", "2026-01-01T00:00:00Z")], "order_by=updated_at"),
        (
            [("order_by", "updated_at"), ("created_at.gte", "2026-01-01T00:00:00Z")],
            "order_by=created_at",
        ),
        ([("created_at.gte", "2026-01-01")], "RFC 3339"),
        ([("user_ids[]", "user_a"), ("order_by", "updated_at")], "org-wide"),
        ([("user_ids[]", f"user_{n}") for n in range(11)], "user_ids"),
        ([("after_id", "not-a-cursor")], "after_id"),
        ([("after_id", "a"), ("before_id", "b")], "after_id"),
    ],
)
async def test_listings_the_api_refuses_are_400s(client, sandbox, params, words):
    status, body = await get(client, sandbox, params=params)
    assert status == 400
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert words in body["error"]["message"]


async def test_a_cursor_is_bound_to_its_sort_key(client, sandbox):
    _, body = await get(client, sandbox, params=[("limit", "3")])
    status, refused = await get(
        client,
        sandbox,
        params=[("order_by", "updated_at"), ("after_id", body["last_id"])],
    )
    assert status == 400
    assert "created_at" in refused["error"]["message"]


async def test_the_scope_is_required_and_admin_keys_never_have_it(client, sandbox):
    for key in (sandbox.key(without=CONTENT_SCOPE), sandbox.key("admin")):
        for path in (CHATS_PATH, f"{CHATS_PATH}/{sandbox.chats[0].id}/messages"):
            status, body = await get(client, sandbox, path, key=key)
            assert status == 403
            assert body["error"]["type"] == "permission_error"
            assert CONTENT_SCOPE in body["error"]["message"]
            assert key not in str(body)


async def test_an_unknown_chat_is_a_404(client, sandbox):
    status, body = await get(client, sandbox, f"{CHATS_PATH}/claude_chat_gone/messages")
    assert status == 404
    assert body["error"]["type"] == "not_found_error"


async def test_an_unknown_key_is_a_401(client, sandbox):
    status, body = await get(client, sandbox, key="sk-ant-api01-unknown")
    assert status == 401
    assert body["error"]["type"] == "authentication_error"


async def test_chats_belong_to_the_feeds_people_and_projects(sandbox):
    people = {u["user_id"]: u["email"] for u in sandbox.data.users}
    for chat in sandbox.chats:
        user = chat.record["user"]
        assert people[user["id"]] == user["email_address"]
    feed_chats = {
        a.record["claude_chat_id"]
        for a in sandbox.data.activities
        if a.type == "claude_chat_created"
    }
    assert feed_chats & {c.id for c in sandbox.chats}
