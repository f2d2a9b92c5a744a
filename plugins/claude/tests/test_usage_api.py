"""The sandbox's usage and cost reports as a client sees them: the restated
contract's shapes, ``page`` / ``next_page`` paging, the groups, the Admin
key, and the API's error envelope."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import END, OPTIONS

from connector_core.testing.contracts import load_contract


CONTRACTS = Path(__file__).parent / "contracts"
USAGE = "/v1/organizations/usage_report/messages"
COST = "/v1/organizations/cost_report"
START = (END.replace(day=1, month=2)).strftime("%Y-%m-%dT%H:%M:%SZ")


def contract(name: str):
    return load_contract(CONTRACTS / name, remake="its README's instructions")


def admin(sandbox):
    return {"x-api-key": sandbox.key("admin"), "anthropic-version": "2023-06-01"}


async def get(client, sandbox, path, params, headers=None):
    async with client.get(
        path, params=params, headers=headers or admin(sandbox)
    ) as response:
        return response.status, await response.json(), response.headers


@pytest.mark.parametrize(
    ("path", "fixture", "groups"),
    [
        (USAGE, "usage-messages-page.json", ["model", "workspace_id"]),
        (COST, "cost-report-page.json", ["workspace_id", "description"]),
    ],
)
async def test_the_reports_answer_as_the_contract_shows(
    client, sandbox, path, fixture, groups
):
    expected = contract(fixture)["response"]["body"]
    params = [("starting_at", START), ("limit", "2")] + [
        ("group_by[]", g) for g in groups
    ]
    status, body, _ = await get(client, sandbox, path, params)
    assert status == 200
    assert set(body) == set(expected)
    assert set(body["data"][0]) == set(expected["data"][0])
    row = body["data"][0]["results"][0]
    assert set(row) == set(expected["data"][0]["results"][0])
    assert body["has_more"] is True
    assert body["next_page"]


async def test_the_pages_cover_every_day_once(client, sandbox):
    params = [("starting_at", START), ("limit", "3"), ("group_by[]", "model")]
    days, token = [], None
    while True:
        asked = params + ([("page", token)] if token else [])
        status, body, _ = await get(client, sandbox, USAGE, asked)
        assert status == 200
        days.extend(b["starting_at"] for b in body["data"])
        if not body["has_more"]:
            assert body["next_page"] is None
            break
        token = body["next_page"]
    assert len(days) == len(set(days)) == OPTIONS.days + 1  # the open day too
    assert days == sorted(days)


async def test_ending_at_keeps_the_buckets_that_end_by_it(client, sandbox):
    end = END.strftime("%Y-%m-%dT%H:%M:%SZ")
    params = {"starting_at": START, "ending_at": end, "limit": "31"}
    _, body, _ = await get(client, sandbox, USAGE, params)
    assert body["data"][-1]["ending_at"] == end


async def test_a_key_not_grouped_by_is_null_and_summed(client, sandbox):
    grouped = [("starting_at", START), ("limit", "1"), ("group_by[]", "model")]
    _, by_model, _ = await get(client, sandbox, USAGE, grouped)
    _, whole, _ = await get(client, sandbox, USAGE, grouped[:2])
    rows = by_model["data"][0]["results"]
    assert all(r["workspace_id"] is None for r in rows)
    [total] = whole["data"][0]["results"]
    assert total["model"] is None
    assert total["output_tokens"] == sum(r["output_tokens"] for r in rows)


async def test_costs_without_description_are_summed_per_workspace(client, sandbox):
    params = [("starting_at", START), ("limit", "1"), ("group_by[]", "workspace_id")]
    _, body, _ = await get(client, sandbox, COST, params)
    rows = body["data"][0]["results"]
    assert all(r["description"] is None and r["model"] is None for r in rows)
    assert len({r["workspace_id"] for r in rows}) == len(rows)


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({}, "starting_at"),
        ({"starting_at": "2026-02-01"}, "RFC 3339"),
        ({"starting_at": START, "limit": "32"}, "limit"),
        ({"starting_at": START, "bucket_width": "1h"}, "bucket_width"),
        ({"starting_at": START, "group_by[]": "user_id"}, "group_by"),
        ({"starting_at": START, "page": "page_bm90IG91cnM="}, "page"),
    ],
)
async def test_a_bad_request_is_a_400_in_the_envelope(client, sandbox, params, said):
    status, body, headers = await get(client, sandbox, USAGE, params)
    assert status == 400
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert said in body["error"]["message"]
    assert headers["request-id"] == body["request_id"]


async def test_a_page_token_of_another_request_is_refused(client, sandbox):
    _, body, _ = await get(client, sandbox, USAGE, {"starting_at": START, "limit": "1"})
    other = {"starting_at": START, "limit": "2", "page": body["next_page"]}
    status, refused, _ = await get(client, sandbox, USAGE, other)
    assert status == 400
    assert "page" in refused["error"]["message"]


@pytest.mark.parametrize("path", [USAGE, COST])
async def test_the_reports_take_admin_keys_only(client, sandbox, path):
    params = {"starting_at": START}
    status, body, _ = await get(client, sandbox, path, params, {"x-api-key": "nope"})
    assert (status, body["error"]["type"]) == (401, "authentication_error")
    status, body, _ = await get(
        client, sandbox, path, params, {"x-api-key": sandbox.key()}
    )
    assert (status, body["error"]["type"]) == (401, "authentication_error")
    bearer = {"Authorization": f"Bearer {sandbox.key('admin')}"}
    status, _, _ = await get(client, sandbox, path, params, bearer)
    assert status == 200
    assert sandbox.api.accessed == []  # not Compliance API calls


async def test_the_open_day_grows_when_revised(client, sandbox):
    params = [("starting_at", END.strftime("%Y-%m-%dT%H:%M:%SZ"))]
    params.append(("group_by[]", "workspace_id"))
    _, before, _ = await get(client, sandbox, COST, params)
    sandbox.usage_api.revise()
    _, after, _ = await get(client, sandbox, COST, params)

    def total(body):
        return sum(float(r["amount"]) for r in body["data"][0]["results"])

    assert total(after) > total(before)
