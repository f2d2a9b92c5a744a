"""The sandbox's usage, costs and directory endpoints, over real HTTP.

Each test starts the routes on a loopback port and talks to them with an
aiohttp client, the way a connector would. Every body that comes back is
validated against the OpenAI spec's schemas, and the numbers are compared
with the generated ground truth (:meth:`UsageData.totals`, the price list),
so a connector tested against the sandbox is tested against known answers.
"""

from __future__ import annotations

import base64
import struct
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import openapi_spec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from aiaudit_chatgpt.sandbox._web import ApiError, SandboxKeys
from aiaudit_chatgpt.sandbox.directory import directory_routes
from aiaudit_chatgpt.sandbox.org import MODELS, Organization
from aiaudit_chatgpt.sandbox.usage import (
    BATCH_FACTOR,
    LINE_ITEM_PRICES,
    PRICES,
    TIER_FACTORS,
    UsageData,
    usage_routes,
)


KEYS = SandboxKeys(
    admin="sk-admin-test-full",
    admin_no_audit="sk-admin-test-limited",
    compliance="sk-comp-test",
)
START = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
END = START + timedelta(days=30)
T0 = int(START.timestamp())
T1 = int(END.timestamp())
DAY = 86_400
DIMENSIONS = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier")
COMPLETIONS = "/v1/organization/usage/completions"
COSTS = "/v1/organization/costs"
USERS = "/v1/organization/users"
PROJECTS = "/v1/organization/projects"
ADMIN_KEYS = "/v1/organization/admin_api_keys"
SCHEMAS = {
    COMPLETIONS: "UsageResponse",
    COSTS: "UsageResponse",
    USERS: "UserListResponse",
    PROJECTS: "ProjectListResponse",
    ADMIN_KEYS: "ApiKeyList",
}


# -- the contract ---------------------------------------------------------


def validate_against_spec(schema_name: str, body: Any) -> None:
    """Fail unless *body* fits ``components/schemas/<schema_name>``.

    Beyond the schema (which allows extra keys), every object in a list or
    bucket must use only keys the spec declares, so a typo in a field name
    cannot pass as an "additional property".
    """
    openapi_spec.validate("admin", schema_name, body)
    document = openapi_spec.document("admin")
    schemas = document["components"]["schemas"]
    items: list[tuple[str, dict[str, Any]]] = []
    if schema_name == "UsageResponse":
        by_object = {
            "organization.usage.completions.result": "UsageCompletionsResult",
            "organization.costs.result": "CostsResult",
        }
        items = [
            (by_object[result["object"]], result)
            for bucket in body["data"]
            for result in bucket["results"]
        ]
    elif schema_name != "ErrorResponse":
        item_schema = schemas[schema_name]["properties"]["data"]["items"]["$ref"]
        items = [(item_schema.rsplit("/", 1)[-1], item) for item in body["data"]]
    for name, item in items:
        undeclared = set(item) - set(schemas[name]["properties"])
        assert not undeclared, f"{name} has undeclared keys {undeclared}"


# -- a running server -----------------------------------------------------


@pytest.fixture(scope="module")
def org() -> Organization:
    return Organization.generate(seed=3, events=20_000, start=START, end=END)


@pytest.fixture(scope="module")
def usage_data(org) -> UsageData:
    return UsageData.generate(org)


@web.middleware
async def _errors(request, handler):
    # The server renders ApiError in a middleware; these tests need the same.
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()


class Api:
    """A client that checks every answer against the spec as it reads it."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def get(self, path, params=(), *, key=KEYS.admin, status=200):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with self.session.get(path, params=params, headers=headers) as resp:
            body = await resp.json()
            assert resp.status == status, body
        if status == 200:
            validate_against_spec(SCHEMAS[path], body)
        else:
            validate_against_spec("ErrorResponse", body)
            assert set(body["error"]) == {"message", "type", "param", "code"}
        return body

    async def all_pages(self, path, params):
        """Follow ``next_page`` to the end; return every page."""
        pages = [await self.get(path, params)]
        while pages[-1]["has_more"]:
            pages.append(
                await self.get(path, [*params, ("page", pages[-1]["next_page"])])
            )
        assert pages[-1]["next_page"] is None
        return pages

    async def all_items(self, path, params, *, limit):
        """Follow ``after=last_id`` to the end; return every object."""
        items: list[dict[str, Any]] = []
        after: list[tuple[str, str]] = []
        while True:
            page = await self.get(path, [*params, ("limit", str(limit)), *after])
            assert len(page["data"]) <= limit
            items.extend(page["data"])
            if not page["has_more"]:
                return items
            assert len(page["data"]) == limit
            after = [("after", page["last_id"])]


@pytest.fixture
async def api(org, usage_data):
    app = web.Application(middlewares=[_errors])
    app.add_routes(usage_routes(usage_data, KEYS))
    app.add_routes(directory_routes(org, KEYS, usage_data))
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with aiohttp.ClientSession(base_url=server.make_url("/")) as session:
            yield Api(session)
    finally:
        await server.close()


def _results(pages):
    return [r for page in pages for bucket in page["data"] for r in bucket["results"]]


def _buckets(pages):
    return [bucket for page in pages for bucket in page["data"]]


def _sum(results, field):
    return sum(r[field] for r in results)


# -- generation -----------------------------------------------------------


def test_generation_is_deterministic_and_shaped(org, usage_data):
    again = UsageData.generate(org)
    assert again.totals(T0, T1) == usage_data.totals(T0, T1)
    assert again.cost_total(T0, T1) == usage_data.cost_total(T0, T1)
    totals = usage_data.totals(T0, T1)
    assert totals["num_model_requests"] > 0
    assert totals["input_cached_tokens"] < totals["input_tokens"]
    assert sum(totals[f"{m}:input_tokens"] for m in MODELS) == totals["input_tokens"]
    # Nothing outside the organization's history.
    assert usage_data.totals(0, T0)["num_model_requests"] == 0
    assert usage_data.totals(T1, T1 + 10 * DAY)["num_model_requests"] == 0


# -- completions ----------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "limit", "buckets"),
    [("1d", None, 30), ("1d", "31", 30), ("1h", "168", 30 * 24)],
)
async def test_completions_paged_to_the_end_equal_the_totals(
    api, usage_data, width, limit, buckets
):
    params = [("start_time", str(T0)), ("end_time", str(T1)), ("bucket_width", width)]
    if limit:
        params.append(("limit", limit))
    pages = await api.all_pages(COMPLETIONS, params)
    step = {"1d": DAY, "1h": 3_600}[width]
    starts = [b["start_time"] for b in _buckets(pages)]
    # Every bucket exactly once, in order, empty ones included.
    assert starts == list(range(T0, T1, step))
    assert all(b["end_time"] - b["start_time"] == step for b in _buckets(pages))
    assert len(starts) == buckets
    expected = usage_data.totals(T0, T1)
    results = _results(pages)
    for field in ("input_tokens", "output_tokens", "num_model_requests"):
        assert _sum(results, field) == expected[field]
    assert _sum(results, "input_cached_tokens") == expected["input_cached_tokens"]
    # Ungrouped: one result per non-empty bucket, every dimension null.
    assert all(len(b["results"]) <= 1 for b in _buckets(pages))
    assert all(r[d] is None for r in results for d in DIMENSIONS)


async def test_default_limit_is_seven_days(api):
    page = await api.get(COMPLETIONS, [("start_time", str(T0))])
    assert len(page["data"]) == 7
    assert page["has_more"]
    assert page["next_page"].startswith("page_")


async def test_one_minute_buckets_add_up_to_the_day(api, usage_data):
    day = T0 + DAY  # a Tuesday
    params = [
        ("start_time", str(day)),
        ("end_time", str(day + DAY)),
        ("bucket_width", "1m"),
        ("limit", "720"),
    ]
    pages = await api.all_pages(COMPLETIONS, params)
    assert len(pages) == 2
    assert len(_buckets(pages)) == 1_440
    results = _results(pages)
    assert (
        _sum(results, "num_model_requests")
        == (usage_data.totals(day, day + DAY)["num_model_requests"])
    )


async def test_buckets_beyond_the_data_are_empty(api):
    page = await api.get(
        COMPLETIONS, [("start_time", str(T1 - DAY)), ("end_time", str(T1 + 3 * DAY))]
    )
    assert [len(b["results"]) for b in page["data"]][1:] == [0, 0, 0]
    assert page["data"][0]["results"]
    assert not page["has_more"]


async def test_people_work_weekdays_in_office_hours(api):
    params = [
        ("start_time", str(T0)),
        ("end_time", str(T0 + 7 * DAY)),
        ("bucket_width", "1h"),
        ("limit", "168"),
        ("group_by", "user_id"),
    ]
    page = await api.get(COMPLETIONS, params)
    by_hour: Counter[int] = Counter()
    by_weekday: Counter[bool] = Counter()
    for bucket in page["data"]:
        moment = datetime.fromtimestamp(bucket["start_time"], UTC)
        for result in bucket["results"]:
            if result["user_id"] is not None:
                by_hour[moment.hour] += result["num_model_requests"]
                by_weekday[moment.weekday() < 5] += result["num_model_requests"]
    assert set(by_hour) <= set(range(7, 19))
    # Five weekdays against two weekend days, and far busier per day.
    assert by_weekday[True] / 5 > 3 * by_weekday[False] / 2


async def test_group_by_wire_forms_agree(api, usage_data):
    base = [("start_time", str(T0)), ("end_time", str(T1)), ("limit", "31")]
    sdk = await api.get(
        COMPLETIONS, [*base, ("group_by[]", "project_id"), ("group_by[]", "model")]
    )
    joined = await api.get(COMPLETIONS, [*base, ("group_by", "project_id,model")])
    repeated = await api.get(
        COMPLETIONS, [*base, ("group_by", "model"), ("group_by", "project_id")]
    )
    assert sdk == joined == repeated
    results = _results([sdk])
    assert results
    for result in results:
        assert result["project_id"] is not None
        assert result["model"] in MODELS
        for dimension in ("user_id", "api_key_id", "batch", "service_tier"):
            assert result[dimension] is None
    # At most one result per group and bucket.
    for bucket in sdk["data"]:
        groups = [(r["project_id"], r["model"]) for r in bucket["results"]]
        assert len(groups) == len(set(groups))
    expected = usage_data.totals(T0, T1)
    for model in MODELS:
        mine = [r for r in results if r["model"] == model]
        assert _sum(mine, "output_tokens") == expected[f"{model}:output_tokens"]


async def test_group_by_every_dimension(api, org, usage_data):
    params = [
        ("start_time", str(T0)),
        ("end_time", str(T0 + 7 * DAY)),
        *[("group_by[]", d) for d in DIMENSIONS],
    ]
    results = _results([await api.get(COMPLETIONS, params)])
    user_ids = {u.id for u in org.users}
    service_keys = {s.key_id for s in org.service_accounts}
    for result in results:
        assert result["project_id"] in {p.id for p in org.projects}
        assert result["batch"] in {True, False}
        assert result["service_tier"] in {"default", "flex", "priority"}
        if result["user_id"] is None:
            # Service-account traffic has a key but no person.
            assert result["api_key_id"] in service_keys
        else:
            assert result["user_id"] in user_ids
    assert (
        _sum(results, "input_tokens")
        == (usage_data.totals(T0, T0 + 7 * DAY)["input_tokens"])
    )


async def test_filters_narrow_the_results(api, org, usage_data):
    week = [("start_time", str(T0)), ("end_time", str(T0 + 7 * DAY))]
    everything = _results(
        [await api.get(COMPLETIONS, [*week, ("group_by", ",".join(DIMENSIONS))])]
    )
    project = Counter(r["project_id"] for r in everything).most_common(1)[0][0]
    user = next(r["user_id"] for r in everything if r["user_id"])
    account = next(r["api_key_id"] for r in everything if r["user_id"] is None)

    cases = [
        ([("project_ids[]", project)], lambda r: r["project_id"] == project),
        ([("project_ids", project)], lambda r: r["project_id"] == project),
        ([("user_ids[]", user)], lambda r: r["user_id"] == user),
        ([("api_key_ids[]", account)], lambda r: r["api_key_id"] == account),
        (
            [("models[]", "o3"), ("models[]", "gpt-5")],
            lambda r: r["model"] in {"o3", "gpt-5"},
        ),
        ([("models", "gpt-4o")], lambda r: r["model"] == "gpt-4o"),
        ([("batch", "true")], lambda r: r["batch"] is True),
        ([("batch", "false")], lambda r: r["batch"] is False),
        ([("user_ids[]", "user-nobody")], lambda r: False),
    ]
    for extra, keep in cases:
        page = await api.get(
            COMPLETIONS, [*week, *extra, ("group_by", ",".join(DIMENSIONS))]
        )
        got = _results([page])
        assert got == [r for r in everything if keep(r)], extra
        ungrouped = _results([await api.get(COMPLETIONS, [*week, *extra])])
        assert _sum(ungrouped, "input_tokens") == _sum(got, "input_tokens"), extra
    # Batch and non-batch traffic add up to all traffic.
    assert (
        _sum([r for r in everything if r["batch"]], "num_model_requests")
        + _sum([r for r in everything if not r["batch"]], "num_model_requests")
        == usage_data.totals(T0, T0 + 7 * DAY)["num_model_requests"]
    )


async def test_a_range_inside_a_day_counts_only_that_range(api, usage_data):
    noon = T0 + DAY + 12 * 3_600
    page = await api.get(
        COMPLETIONS, [("start_time", str(noon)), ("end_time", str(noon + 3 * 3_600))]
    )
    # The bucket stays on the UTC day grid; its contents are the query range.
    assert [b["start_time"] for b in page["data"]] == [T0 + DAY]
    assert (
        _sum(_results([page]), "num_model_requests")
        == (usage_data.totals(noon, noon + 3 * 3_600)["num_model_requests"])
    )


# -- costs ----------------------------------------------------------------


def _price_of(result: dict[str, Any]) -> float:
    """USD of one completions result grouped by model, batch and tier."""
    uncached, cached, output = PRICES[result["model"]]
    factor = BATCH_FACTOR if result["batch"] else TIER_FACTORS[result["service_tier"]]
    tokens = (
        (result["input_tokens"] - result["input_cached_tokens"]) * uncached
        + result["input_cached_tokens"] * cached
        + result["output_tokens"] * output
    )
    return tokens * factor / 1_000_000


async def test_costs_page_and_sum_match_the_price_table(api, usage_data):
    span = [("start_time", str(T0)), ("end_time", str(T1))]
    pages = await api.all_pages(COSTS, span)
    assert len(pages) == 5  # 30 days, 7 a page by default
    assert [b["start_time"] for b in _buckets(pages)] == list(range(T0, T1, DAY))
    results = _results(pages)
    assert all(r["amount"]["currency"] == "usd" for r in results)
    assert all(
        r[f] is None
        for r in results
        for f in ("line_item", "project_id", "api_key_id", "quantity", "quantity_unit")
    )
    total = sum(r["amount"]["value"] for r in results)
    assert total == pytest.approx(usage_data.cost_total(T0, T1), rel=1e-9)

    usage = _results(
        await api.all_pages(
            COMPLETIONS,
            [*span, ("limit", "31"), ("group_by", "model,batch,service_tier")],
        )
    )
    assert total == pytest.approx(sum(_price_of(r) for r in usage), rel=1e-9)


async def test_costs_by_line_item_have_quantities_at_list_price(api):
    page = await api.get(
        COSTS,
        [("start_time", str(T0)), ("limit", "180"), ("group_by[]", "line_item")],
    )
    assert len(page["data"]) == 30  # up to the end of the history
    assert not page["has_more"]
    results = _results([page])
    assert results
    for result in results:
        assert result["quantity_unit"] == "tokens"
        assert result["project_id"] is None
        assert result["amount"]["value"] == pytest.approx(
            result["quantity"] * LINE_ITEM_PRICES[result["line_item"]], rel=1e-9
        )


async def test_costs_group_by_and_filters(api, org):
    span = [("start_time", str(T0)), ("end_time", str(T0 + 7 * DAY))]
    grouped = _results(
        [await api.get(COSTS, [*span, ("group_by", "project_id,api_key_id")])]
    )
    assert all(r["project_id"] and r["api_key_id"] for r in grouped)
    assert all(r["line_item"] is None and r["quantity"] is None for r in grouped)
    project = grouped[0]["project_id"]
    one = _results(
        [
            await api.get(
                COSTS, [*span, ("project_ids[]", project), ("group_by[]", "project_id")]
            )
        ]
    )
    assert {r["project_id"] for r in one} == {project}
    assert sum(r["amount"]["value"] for r in one) == pytest.approx(
        sum(r["amount"]["value"] for r in grouped if r["project_id"] == project)
    )


# -- errors ---------------------------------------------------------------


def _page_token(raw: bytes) -> str:
    return "page_" + base64.urlsafe_b64encode(raw).decode()


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        (COMPLETIONS, [], "start_time"),
        (COMPLETIONS, [("start_time", "yesterday")], "start_time"),
        (COMPLETIONS, [("start_time", str(T0)), ("end_time", str(T0))], "end_time"),
        (
            COMPLETIONS,
            [("start_time", str(T0)), ("bucket_width", "1w")],
            "bucket_width",
        ),
        (COMPLETIONS, [("start_time", str(T0)), ("limit", "0")], "limit"),
        (COMPLETIONS, [("start_time", str(T0)), ("limit", "32")], "limit"),
        (
            COMPLETIONS,
            [("start_time", str(T0)), ("bucket_width", "1h"), ("limit", "169")],
            "limit",
        ),
        (COMPLETIONS, [("start_time", str(T0)), ("group_by", "colour")], "group_by"),
        (
            COMPLETIONS,
            [
                ("start_time", str(T0)),
                ("group_by[]", "model"),
                ("group_by[]", "line_item"),
            ],
            "group_by",
        ),
        (COMPLETIONS, [("start_time", str(T0)), ("page", "garbage")], "page"),
        (COMPLETIONS, [("start_time", str(T0)), ("page", "page_!!!")], "page"),
        (
            COMPLETIONS,
            [("start_time", str(T0)), ("page", _page_token(b"short"))],
            "page",
        ),
        (
            COMPLETIONS,
            [
                ("start_time", str(T0)),
                ("page", _page_token(struct.pack(">qq", T0 + 7, T0))),
            ],
            "page",
        ),
        (COMPLETIONS, [("start_time", str(T0)), ("batch", "sometimes")], "batch"),
        (COSTS, [], "start_time"),
        (COSTS, [("start_time", str(T0)), ("bucket_width", "1h")], "bucket_width"),
        (COSTS, [("start_time", str(T0)), ("limit", "181")], "limit"),
        (COSTS, [("start_time", str(T0)), ("group_by", "model")], "group_by"),
        (COSTS, [("start_time", str(T0)), ("page", "page_AAAA")], "page"),
        (USERS, [("limit", "101")], "limit"),
        (USERS, [("after", "user-nobody")], "after"),
        (PROJECTS, [("after", "proj_nothing")], "after"),
        (PROJECTS, [("include_archived", "maybe")], "include_archived"),
        (ADMIN_KEYS, [("order", "sideways")], "order"),
        (ADMIN_KEYS, [("after", "key_unknown")], "after"),
    ],
)
async def test_bad_requests_are_400_in_openai_shape(api, path, params, param):
    body = await api.get(path, params, status=400)
    assert body["error"]["param"] == param
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"]


async def test_a_page_token_from_one_page_works_on_the_next(api):
    first = await api.get(COMPLETIONS, [("start_time", str(T0)), ("limit", "3")])
    token = first["next_page"]
    second = await api.get(
        COMPLETIONS, [("start_time", str(T0)), ("limit", "3"), ("page", token)]
    )
    assert second["data"][0]["start_time"] == T0 + 3 * DAY


@pytest.mark.parametrize("path", [COMPLETIONS, COSTS, USERS, PROJECTS, ADMIN_KEYS])
async def test_keys(api, path):
    params = [("start_time", str(T0))]
    missing = await api.get(path, params, key=None, status=401)
    assert "API key" in missing["error"]["message"]
    unknown = await api.get(path, params, key="sk-admin-wrong-0000", status=401)
    assert unknown["error"]["code"] == "invalid_api_key"
    # A Compliance key is no Admin key.
    await api.get(path, params, key=KEYS.compliance, status=401)
    if path in {COMPLETIONS, COSTS}:
        refused = await api.get(path, params, key=KEYS.admin_no_audit, status=403)
        assert refused["error"]["code"] == "insufficient_permissions"
    else:
        await api.get(path, params, key=KEYS.admin_no_audit)


# -- directory ------------------------------------------------------------


async def test_users_page_to_the_end_in_added_order(api, org, usage_data):
    users = await api.all_items(USERS, [], limit=7)
    ids = [u["id"] for u in users]
    assert len(ids) == len(set(ids)) == len(org.users)
    assert [(u["added_at"], u["id"]) for u in users] == sorted(
        (u.added_at, u.id) for u in org.users
    )
    by_id = {u.id: u for u in org.users}
    for user in users:
        source = by_id[user["id"]]
        assert user["email"] == user["user"]["email"] == source.email
        assert user["role"] in {"owner", "reader"}
        assert user["created"] <= user["added_at"]
        assert user["api_key_last_used_at"] == usage_data.key_last_used(source.key_id)
    assert any(u["api_key_last_used_at"] for u in users)


async def test_default_user_page_and_email_filter(api, org):
    page = await api.get(USERS, [])
    assert len(page["data"]) == 20
    assert page["has_more"]
    assert page["first_id"] == page["data"][0]["id"]
    wanted = [org.users[3].email, org.users[9].email]
    sdk = await api.get(USERS, [("emails[]", wanted[0]), ("emails[]", wanted[1])])
    plain = await api.get(USERS, [("emails", wanted[0]), ("emails", wanted[1])])
    assert sdk == plain
    assert sorted(u["email"] for u in sdk["data"]) == sorted(wanted)
    assert not sdk["has_more"]
    nobody = await api.get(USERS, [("emails[]", "nobody@example.com")])
    assert nobody == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }


async def test_projects_page_to_the_end(api, org):
    projects = await api.all_items(PROJECTS, [("include_archived", "true")], limit=3)
    ids = [p["id"] for p in projects]
    assert len(ids) == len(set(ids)) == len(org.projects)
    assert all(p["status"] == "active" and p["archived_at"] is None for p in projects)
    created = [p["created_at"] for p in projects]
    assert created == sorted(created)


async def test_admin_keys_page_both_ways(api, org):
    ascending = await api.all_items(ADMIN_KEYS, [], limit=1)
    descending = await api.all_items(ADMIN_KEYS, [("order", "desc")], limit=2)
    assert [k["id"] for k in ascending] == [k["id"] for k in descending][::-1]
    assert len(ascending) == len(org.admin_keys)
    assert [k["created_at"] for k in ascending] == sorted(
        k.created_at for k in org.admin_keys
    )
    users = {u.id: u for u in org.users}
    for key in ascending:
        assert key["redacted_value"].startswith("sk-admin...")
        assert key["expires_at"] is None
        assert key["created_at"] <= key["last_used_at"] < T1
        owner = key["owner"]
        assert owner["type"] == "user"
        assert owner["object"] == "organization.user"
        assert owner["name"] == users[owner["id"]].name
