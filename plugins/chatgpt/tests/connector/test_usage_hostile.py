"""The usage reader against servers that answer badly: a result of another
shape is quarantined, a page of another shape or a cursor that comes back
stops the read with a SchemaError, a cost it cannot attribute is left out
and logged, and a Costs API that refuses the key leaves the cost unknown."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from aiaudit_chatgpt.usage_reader import read_usage
from connector_core.exceptions import SchemaError
from connector_core.http import HTTPTransport
from connector_core.models import AIAuditLogQuery


DAY0 = datetime(2025, 2, 10, tzinfo=UTC)
T0 = int(DAY0.timestamp())
QUERY = AIAuditLogQuery(start_date=DAY0, end_date=DAY0 + timedelta(hours=20))


def result(model="gpt-4o", project="proj_a", key="key_a", **counts):
    figures = {"input_tokens": 100, "output_tokens": 40, "num_model_requests": 2}
    return {
        "object": "organization.usage.completions.result",
        **figures,
        **counts,
        "model": model,
        "project_id": project,
        "api_key_id": key,
    }


def cost(item, value, project="proj_a", key="key_a", currency="usd"):
    return {
        "object": "organization.costs.result",
        "amount": {"value": value, "currency": currency},
        "line_item": item,
        "project_id": project,
        "api_key_id": key,
    }


def page(results, *, start=T0, more=False, next_page=None):
    return {
        "object": "page",
        "data": [
            {
                "object": "bucket",
                "start_time": start,
                "end_time": start + 86_400,
                "results": results,
            }
        ],
        "has_more": more,
        "next_page": next_page,
    }


@contextlib.asynccontextmanager
async def server(completions, costs):
    """A server that answers each path with the next body of its list (the
    last one again when the list runs out); an int body is that status."""
    served = {"completions": list(completions), "costs": list(costs)}

    def handler(name):
        async def answer(request: web.Request) -> web.Response:
            bodies = served[name]
            body = bodies.pop(0) if len(bodies) > 1 else bodies[0]
            if isinstance(body, int):
                error = {"message": "Missing scopes: api.usage.read.", "type": "x"}
                return web.json_response(
                    {"error": error | {"param": None, "code": None}}, status=body
                )
            return web.json_response(body)

        return answer

    app = web.Application()
    app.router.add_get("/organization/usage/completions", handler("completions"))
    app.router.add_get("/organization/costs", handler("costs"))
    async with (
        TestServer(app, host="127.0.0.1") as running,
        HTTPTransport(str(running.make_url(""))) as http,
    ):
        yield http


async def read(http):
    records, quarantined = [], []
    async for batch in read_usage(
        http, platform="chatgpt", checkpoint=None, query=QUERY
    ):
        records.extend(batch.usage)
        quarantined.extend(batch.quarantined)
    return records, quarantined


async def test_costs_are_attributed_only_to_the_model_a_line_item_names():
    results = [result(), result(model="o3"), result(project="proj_b")]
    costs = [
        cost("gpt-4o, input", 0.25),
        cost("gpt-4o, cached input (batch)", 0.5),
        cost("web search tool calls", 9.0),  # names no model
        cost("text-embedding-3-small, input", 7.0),  # no bucket of that model
        cost("o3, output", 1.0, key="key_z"),  # another key
    ]
    async with server([page(results)], [page(costs)]) as http:
        records, quarantined = await read(http)
    assert not quarantined
    by_cell = {(r.model, r.dimensions["project_id"]): r for r in records}
    assert by_cell["gpt-4o", "proj_a"].cost == pytest.approx(0.75)
    assert by_cell["o3", "proj_a"].cost is None
    assert by_cell["gpt-4o", "proj_b"].cost is None


async def test_results_of_another_shape_are_quarantined_and_the_rest_read():
    results = [
        result(),
        result(model=None),
        result(model="o3", input_tokens=-1),
        result(model="gpt-5", num_model_requests="2"),
        "not an object",
        result(),  # the same cell twice in a day
    ]
    costs = [cost("gpt-4o, input", "1.0"), cost("gpt-4o, output", 0.5, currency="eur")]
    async with server([page(results)], [page(costs)]) as http:
        records, quarantined = await read(http)
    assert [r.model for r in records] == ["gpt-4o"]
    assert records[0].cost is None  # neither cost result could be read
    assert len(quarantined) == 7
    reasons = " | ".join(q.reason for q in quarantined)
    for fragment in ("no model", "input_tokens", "num_model_requests", "twice", "USD"):
        assert fragment in reasons


async def test_a_costs_api_that_refuses_the_key_leaves_the_cost_unknown():
    async with server([page([result()])], [403]) as http:
        records, quarantined = await read(http)
    assert not quarantined
    assert [r.cost for r in records] == [None]
    assert records[0].input_tokens == 100


@pytest.mark.parametrize(
    "body",
    [
        {"data": "nope", "has_more": False},
        {"data": [], "has_more": "no"},
        {"data": [], "has_more": True, "next_page": None},
        {
            "data": [{"start_time": T0, "end_time": T0, "results": []}],
            "has_more": False,
        },
        {"data": [{"start_time": T0, "end_time": T0 + 1}], "has_more": False},
        [],
    ],
)
async def test_a_page_of_another_shape_is_a_schema_error(body):
    async with server([body], [page([])]) as http:
        with pytest.raises(SchemaError):
            await read(http)


async def test_a_next_page_that_comes_back_stops_the_read():
    again = page([result()], more=True, next_page="page_same")
    async with server([again], [page([])]) as http:
        with pytest.raises(SchemaError, match="page_same"):
            await read(http)
