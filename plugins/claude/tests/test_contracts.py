"""The plugin against the restated API contracts (``tests/contracts``):
every documented activity record normalizes, the sandbox writes records of
the documented shapes, and its pages and errors look like the API's."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FEED, OPTIONS
from multidict import CIMultiDict

from aiaudit_claude.event_map import TABLE
from aiaudit_claude.normalize import normalize_activity
from aiaudit_claude.sandbox.data import OrgData
from connector_core.testing.contracts import load_contract


CONTRACTS = Path(__file__).resolve().parent / "contracts"


def contract(name: str):
    return load_contract(CONTRACTS / name, remake="its README's instructions")


RECORDS = contract("activity-records.json")["records"]


@pytest.mark.parametrize("entry", RECORDS, ids=lambda e: e["record"]["type"])
def test_every_documented_record_normalizes(entry):
    record = entry["record"]
    (log,) = normalize_activity(record, organization="org_parent")
    assert log.id == record["id"]
    assert log.user_id
    row = TABLE.activities.get(record["type"])
    assert log.action == (row.action if row else record["type"])
    assert log.organization_id == (record["organization_id"] or "org_parent")
    assert log.metadata["actor_type"] == entry["actor_kind"]


def test_the_sandbox_writes_the_documented_shapes():
    data = OrgData.generate(
        seed=OPTIONS.seed,
        events=4000,
        start=OPTIONS.end.replace(month=1),
        end=OPTIONS.end,
    )
    generated = {}
    for activity in data.activities:
        generated.setdefault(
            (activity.type, activity.record["actor"]["type"]), activity
        )
    compared = 0
    for entry in RECORDS:
        record = entry["record"]
        mine = generated.get((record["type"], record["actor"]["type"]))
        if mine is None:
            continue
        compared += 1
        assert set(mine.record) == set(record), record["type"]
        assert set(mine.record["actor"]) == set(record["actor"]), record["type"]
    assert compared >= 25
    kinds = {kind for _, kind in generated}
    documented = set(contract("activity-records.json")["actor_kinds"])
    assert documented <= kinds


async def test_a_page_looks_like_the_apis(client, sandbox):
    documented = contract("activities-page-1.json")["response"]
    params = [("limit", "3"), ("created_at.gte", sandbox.data.start.isoformat())]
    async with client.get(
        FEED, params=params, headers={"x-api-key": sandbox.key()}
    ) as r:
        body, sent = await r.json(), CIMultiDict(r.headers)
    assert set(body) == set(documented["body"])
    for name in documented["headers"]:
        assert name in sent, name
    empty = contract("activities-empty.json")["response"]["body"]
    params = [("created_at.gte", "2100-01-01T00:00:00Z")]
    async with client.get(
        FEED, params=params, headers={"x-api-key": sandbox.key()}
    ) as r:
        assert await r.json() == {**empty, "data": []}


@pytest.mark.parametrize(
    ("status", "params", "key"),
    [
        (400, [("created_at.gte", "2024-01-01")], None),
        (401, [], "sk-ant-api01-unknown"),
        (403, [], "restricted"),
    ],
)
async def test_errors_look_like_the_apis(client, sandbox, status, params, key):
    case = next(c for c in contract("errors.json")["cases"] if c["status"] == status)
    if key == "restricted":
        key = sandbox.key(without="read:compliance_activities")
    async with client.get(
        FEED, params=params, headers={"x-api-key": key or sandbox.key()}
    ) as response:
        body, sent = await response.json(), CIMultiDict(response.headers)
    assert response.status == status
    assert body["type"] == "error"
    assert body["error"]["type"] == case["body"]["error"]["type"]
    documented = case["body"]["error"]["message"]
    prefix = documented.split("Got")[0] if status != 401 else documented
    assert body["error"]["message"].startswith(prefix)
    assert sent["request-id"] == body["request_id"]


async def test_the_directory_page_looks_like_the_apis(client, sandbox):
    documented = contract("admin-users-page.json")["response"]["body"]
    headers = {"x-api-key": sandbox.key("admin"), "anthropic-version": "2023-06-01"}
    async with client.get(
        "/v1/organizations/users", params={"limit": "2"}, headers=headers
    ) as response:
        body = await response.json()
    assert set(body) == set(documented)
    assert set(body["data"][0]) == set(documented["data"][0])
