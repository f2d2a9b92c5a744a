"""The sandbox's Activity Feed behaves as the API reference describes it:
its filters, its order and cursors, its keys and scopes, its errors, its
per-organization budget and the feed's own record of every call."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import aiohttp
import attrs
import pytest
from conftest import END, FEED, OPTIONS
from multidict import CIMultiDict

from aiaudit_claude.sandbox.data import ACTIVITY_MIX
from aiaudit_claude.sandbox.risk_seeds import PLANNED_TYPES
from aiaudit_claude.sandbox.server import ClaudeSandbox


def headers(sandbox, key=None, *, bearer=False):
    secret = key or sandbox.key()
    if bearer:
        return {"Authorization": f"Bearer {secret}"}
    return {"x-api-key": secret, "anthropic-version": "2023-06-01"}


async def get(client, sandbox, params=(), key=None, *, bearer=False):
    async with client.get(
        FEED, params=list(params), headers=headers(sandbox, key, bearer=bearer)
    ) as response:
        return response.status, CIMultiDict(response.headers), await response.json()


async def test_newest_first_ties_broken_by_id_and_cursors_are_the_ends(client, sandbox):
    status, _, body = await get(client, sandbox, [("limit", "5000")])
    assert status == 200
    records = body["data"]
    keys = [(r["created_at"], r["id"]) for r in records]
    assert keys == sorted(keys, reverse=True)
    assert len({r["created_at"] for r in records}) < len(records)  # ties exist
    assert body["first_id"] == records[0]["id"]
    assert body["last_id"] == records[-1]["id"]
    assert body["has_more"] is False
    assert len(records) == len(sandbox.expected_ids())


async def test_after_id_pages_through_everything_once(client, sandbox):
    seen, after, pages = [], None, 0
    while True:
        params = [("limit", "97")] + ([("after_id", after)] if after else [])
        status, _, body = await get(client, sandbox, params)
        assert status == 200
        seen.extend(r["id"] for r in body["data"])
        pages += 1
        if not body["has_more"]:
            break
        after = body["last_id"]
    assert pages > 5
    assert len(seen) == len(set(seen)) == len(sandbox.expected_ids())


async def test_before_id_returns_the_newer_page_next_to_the_cursor(client, sandbox):
    quiet = [("exclude_activity_types[]", "compliance_api_accessed")]
    _, _, everything = await get(client, sandbox, [*quiet, ("limit", "5000")])
    ids = [r["id"] for r in everything["data"]]
    cursor = ids[300]
    params = [*quiet, ("limit", "50"), ("before_id", cursor)]
    _, _, body = await get(client, sandbox, params)
    assert [r["id"] for r in body["data"]] == ids[250:300]
    assert body["has_more"] is True
    params = [*quiet, ("limit", "50"), ("before_id", ids[20])]
    _, _, first = await get(client, sandbox, params)
    assert [r["id"] for r in first["data"]] == ids[:20]
    assert first["has_more"] is False


async def test_order_asc_is_oldest_first(client, sandbox):
    _, _, body = await get(client, sandbox, [("limit", "20"), ("order", "asc")])
    keys = [(r["created_at"], r["id"]) for r in body["data"]]
    assert keys == sorted(keys)
    assert body["data"][0]["id"] == sandbox.expected_ids()[0]


async def test_time_filters_are_dotted_and_bounds_inclusive_or_not(client, sandbox):
    activity = sandbox.data.activities[400]
    moment = activity.record["created_at"]
    _, _, gte = await get(
        client, sandbox, [("created_at.gte", moment), ("limit", "5000")]
    )
    _, _, gt = await get(
        client, sandbox, [("created_at.gt", moment), ("limit", "5000")]
    )
    assert activity.id in {r["id"] for r in gte["data"]}
    assert activity.id not in {r["id"] for r in gt["data"]}
    _, _, lt = await get(
        client, sandbox, [("created_at.lt", moment), ("limit", "5000")]
    )
    assert all(r["created_at"] < moment for r in lt["data"])


async def test_type_and_actor_filters(client, sandbox):
    wanted = ["claude_file_uploaded", "sso_login_succeeded"]
    params = [("activity_types[]", t) for t in wanted] + [("limit", "5000")]
    _, _, body = await get(client, sandbox, params)
    assert {r["type"] for r in body["data"]} == set(wanted)
    user = sandbox.data.users[0]["user_id"]
    _, _, mine = await get(client, sandbox, [("actor_ids[]", user), ("limit", "5000")])
    assert mine["data"]
    assert {r["actor"]["user_id"] for r in mine["data"]} == {user}
    _, _, alias = await get(client, sandbox, [("user_ids[]", user), ("limit", "5000")])
    assert alias["data"] == mine["data"]


async def test_every_actor_kind_and_family_is_seeded(sandbox):
    records = [a.record for a in sandbox.data.activities]
    actors = Counter(r["actor"]["type"] for r in records)
    assert set(actors) == {
        "user_actor",
        "api_actor",
        "admin_api_key_actor",
        "unauthenticated_user_actor",
        "scim_directory_sync_actor",
        "anthropic_actor",
        "system_actor",
        "service_account_actor",
        "federated_identity_actor",
    }
    assert {r["type"] for r in records} == set(ACTIVITY_MIX) | PLANNED_TYPES
    unscoped = [r for r in records if r["type"].endswith("login_succeeded")]
    assert all(r["organization_id"] is None for r in unscoped)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ([("created_at.gte", "2026-01-01")], "created_at.gte"),
        ([("created_at.lt", "2026-01-01T00:00:00")], "created_at.lt"),
        ([("limit", "5001")], "between 1 and 5000"),
        ([("limit", "0")], "between 1 and 5000"),
        ([("after_id", "a"), ("before_id", "b")], "Only one of"),
        (
            [("activity_types[]", "x"), ("exclude_activity_types[]", "y")],
            "cannot be combined",
        ),
        ([("after_id", "activity_unknown")], "No activity found"),
        ([("actor_ids[]", "apikey_123")], "user id"),
    ],
)
async def test_bad_requests_are_400_in_the_envelope(client, sandbox, params, fragment):
    status, sent, body = await get(client, sandbox, params)
    assert status == 400
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert fragment in body["error"]["message"]
    assert sent["request-id"] == body["request_id"]


async def test_keys_and_scopes(client, sandbox):
    status, sent, body = await get(client, sandbox, key="sk-ant-api01-nope")
    assert status == 401
    assert body["error"]["type"] == "authentication_error"
    assert "sk-ant-api01-nope" not in str(body)
    assert "anthropic-ratelimit-requests-remaining" not in sent  # free
    restricted = sandbox.key(without="read:compliance_activities")
    status, sent, body = await get(client, sandbox, key=restricted)
    assert status == 403
    assert body["error"]["type"] == "permission_error"
    assert body["error"]["message"].startswith("Missing required scopes. Got: [")
    assert "anthropic-ratelimit-requests-remaining" in sent  # counted
    for key in (sandbox.key("admin"), sandbox.key(without="read:compliance_user_data")):
        status, _, _ = await get(client, sandbox, [("limit", "1")], key=key)
        assert status == 200
    status, _, _ = await get(client, sandbox, [("limit", "1")], bearer=True)
    assert status == 200


async def test_every_call_is_in_the_feed_as_compliance_api_accessed(client, sandbox):
    for _ in range(3):
        await get(client, sandbox, [("limit", "1")])
    await get(client, sandbox, key="sk-ant-api01-nope")  # unauthenticated: no row
    logged = sandbox.api.accessed
    assert len(logged) == 3
    record = logged[0].record
    assert record["actor"]["type"] == "api_actor"
    assert record["organization_id"] is None
    assert record["status_code"] == 200
    params = [("activity_types[]", "compliance_api_accessed"), ("limit", "10")]
    params += [("created_at.gte", record["created_at"])]
    _, _, body = await get(client, sandbox, params)
    assert len(body["data"]) >= 3
    _, _, without = await get(
        client,
        sandbox,
        [("exclude_activity_types[]", "compliance_api_accessed"), ("limit", "5000")],
    )
    assert all(r["type"] != "compliance_api_accessed" for r in without["data"])


async def test_the_organization_budget_is_shared_by_every_key():
    options = attrs.evolve(OPTIONS, rate_limit=1.0)
    async with (
        ClaudeSandbox.run(options, budget_window=3.0) as running,
        aiohttp.ClientSession(base_url=running.url) as session,
    ):
        keys = (running.key(), running.key("admin"), running.key(), running.key())
        answers = [
            await get(session, running, [("limit", "1")], key=key) for key in keys
        ]
    statuses = [status for status, _, _ in answers]
    assert statuses == [200, 200, 200, 429]
    _, sent, body = answers[-1]
    assert body["error"]["type"] == "rate_limit_error"
    assert 1 <= int(sent["retry-after"]) <= 3
    assert sent["anthropic-ratelimit-requests-limit"] == "3"
    assert sent["anthropic-ratelimit-requests-remaining"] == "0"
    datetime.fromisoformat(sent["anthropic-ratelimit-requests-reset"])
    remaining = [h["anthropic-ratelimit-requests-remaining"] for _, h, _ in answers]
    assert remaining[:3] == ["2", "1", "0"]


async def test_the_history_ends_where_the_options_say(sandbox):
    assert sandbox.data.activities[-1].created_at < END


async def test_an_unknown_path_is_a_404_in_the_envelope(client, sandbox):
    async with client.get(
        "/v1/compliance/nothing", headers={"x-api-key": sandbox.key()}
    ) as response:
        body = await response.json()
    assert response.status == 404
    assert body["error"]["type"] == "not_found_error"
    assert body["request_id"] == response.headers["request-id"]
