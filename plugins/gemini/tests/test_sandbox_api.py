"""The sandbox's Reports API, through a plain HTTP client: paging, order,
ties, time bounds, filters, refusals and the fault profiles."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from conftest import APPLICATIONS, OPTIONS, activities_path, mint, read_all

from aiaudit_gemini.identity import log_id
from aiaudit_gemini.sandbox.api import ACCESS_DENIED
from aiaudit_gemini.sandbox.data import format_time
from aiaudit_gemini.sandbox.server import GeminiSandbox


def ids_of(pages) -> list[str]:
    return [
        log_id(
            item["id"]["customerId"],
            item["id"]["applicationName"],
            datetime.fromisoformat(item["id"]["time"]),
            item["id"]["uniqueQualifier"],
            index,
        )
        for page in pages
        for item in page.get("items", ())
        for index in range(len(item["events"]))
    ]


def order_key(item) -> tuple[datetime, int]:
    return (
        datetime.fromisoformat(item["id"]["time"]),
        int(item["id"]["uniqueQualifier"]),
    )


async def test_a_full_read_of_every_application_is_the_whole_history(
    client, sandbox, headers
):
    seen: list[str] = []
    for app in APPLICATIONS:
        pages = await read_all(client, headers, app, {"maxResults": "90"})
        assert len(pages) > 1, app
        assert "nextPageToken" not in pages[-1]
        seen.extend(ids_of(pages))
    assert len(seen) == len(set(seen))
    assert sorted(seen) == sorted(sandbox.expected_ids())


async def test_newest_first_with_ties_by_qualifier(client, sandbox, headers):
    pages = await read_all(client, headers, "gemini_in_workspace_apps")
    items = [item for page in pages for item in page["items"]]
    keys = [order_key(item) for item in items]
    assert keys == sorted(keys, reverse=True)
    times = [key[0] for key in keys]
    assert len(times) - len(set(times)) >= 10, "the history must hold ties"


async def test_bounds_start_inclusive_end_exclusive(client, sandbox, headers):
    activities = sandbox.domain.activities["login"]
    middle = activities[len(activities) // 2]
    at = format_time(middle.time)
    async with client.get(
        activities_path("login"), params={"startTime": at}, headers=headers
    ) as r:
        after = await r.json()
    async with client.get(
        activities_path("login"), params={"endTime": at}, headers=headers
    ) as r:
        before = await r.json()
    start_items = after["items"]
    assert min(order_key(i)[0] for i in start_items) == middle.time
    assert all(order_key(i)[0] < middle.time for i in before["items"])
    assert len(start_items) + len(before["items"]) == len(activities)


async def test_a_page_token_is_bound_to_its_query(client, headers):
    params = {"maxResults": "5"}
    async with client.get(
        activities_path("login"), params=params, headers=headers
    ) as r:
        token = (await r.json())["nextPageToken"]
    async with client.get(
        activities_path("login"),
        params={"maxResults": "5", "pageToken": token},
        headers=headers,
    ) as r:
        assert r.status == 200
    for changed in (
        {"maxResults": "6", "pageToken": token},
        {"maxResults": "5", "eventName": "logout", "pageToken": token},
    ):
        async with client.get(
            activities_path("login"), params=changed, headers=headers
        ) as r:
            body = await r.json()
        assert r.status == 400, changed
        assert body["error"]["errors"][0]["reason"] == "invalid"
    async with client.get(
        activities_path("token"), params={**params, "pageToken": token}, headers=headers
    ) as r:
        assert r.status == 400
    for garbage in (
        "garbage",
        "e30.x",
        "WzFd.x",
        f"{token[:-2]}é",
        "🙂.🙂",
        token + "x",
    ):
        async with client.get(
            activities_path("login"),
            params={**params, "pageToken": garbage},
            headers=headers,
        ) as r:
            assert r.status == 400, garbage


async def test_the_empty_report_has_no_items(client, headers):
    now = datetime.now(UTC)
    params = {"startTime": format_time(now - timedelta(seconds=5))}
    async with client.get(
        activities_path("gemini_notebook"), params=params, headers=headers
    ) as r:
        body = await r.json()
    assert r.status == 200
    assert body["kind"] == "admin#reports#activities"
    assert "items" not in body
    assert "nextPageToken" not in body
    async with client.get(activities_path("chat"), headers=headers) as r:
        assert "items" not in await r.json()


async def test_event_name_and_filters(client, sandbox, headers):
    pages = await read_all(client, headers, "login", {"eventName": "login_success"})
    items = [i for p in pages for i in p["items"]]
    assert items
    assert all(any(e["name"] == "login_success" for e in i["events"]) for i in items)
    multi = [i for i in items if len(i["events"]) > 1]
    assert multi, "an Activity is returned whole"
    pages = await read_all(
        client,
        headers,
        "gemini_in_workspace_apps",
        {"filters": "app_name==gmail"},
    )
    gmail = [i for p in pages for i in p["items"]]
    assert gmail
    for item in gmail:
        values = {p["name"]: p.get("value") for p in item["events"][0]["parameters"]}
        assert values["app_name"] == "gmail"
    pages = await read_all(
        client,
        headers,
        "gemini_in_workspace_apps",
        {"filters": "app_name<>gmail"},
    )
    others = [i for p in pages for i in p["items"]]
    assert len(gmail) + len(others) == len(
        sandbox.domain.activities["gemini_in_workspace_apps"]
    )
    # An unknown parameter is ignored; one the event lacks empties the report.
    pages = await read_all(
        client, headers, "login", {"filters": "no_such_parameter==1"}
    )
    assert sum(len(p.get("items", ())) for p in pages) == len(
        sandbox.domain.activities["login"]
    )
    pages = await read_all(
        client,
        headers,
        "login",
        {"eventName": "logout", "filters": "login_failure_type==x"},
    )
    assert "items" not in pages[0]
    pages = await read_all(
        client,
        headers,
        "login",
        {"eventName": "login_success", "filters": "is_suspicious==true"},
    )
    for item in (i for p in pages for i in p.get("items", ())):
        flags = [
            p["boolValue"]
            for e in item["events"]
            for p in e["parameters"]
            if p["name"] == "is_suspicious"
        ]
        assert True in flags


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"maxResults": "0"}, 400),
        ({"maxResults": "1001"}, 400),
        ({"maxResults": "ten"}, 400),
        ({"startTime": "2026-11-20"}, 400),
        ({"endTime": "yesterday"}, 400),
        ({"startTime": "2999-01-01T00:00:00Z"}, 400),
        ({"unknownParam": "1"}, 400),
        ({"filters": "no-operator"}, 400),
        ({"customerId": "not-a-customer"}, 400),
        ({"customerId": "C0zzzzzzz"}, 403),
        ({"includeSensitiveData": "true"}, 403),
        ({"includeSensitiveData": "maybe"}, 400),
        ({"orgUnitID": "not an id"}, 400),
        ({"includeSensitiveData": "false", "customerId": "my_customer"}, 200),
        ({"prettyPrint": "false", "fields": "items"}, 200),
    ],
)
async def test_parameters_are_checked(client, headers, params, status):
    async with client.get(
        activities_path("login"), params=params, headers=headers
    ) as r:
        body = await r.json()
    assert r.status == status, body
    if status != 200:
        error = body["error"]
        assert error["code"] == status
        assert error["errors"][0]["domain"] == "global"
        assert error["message"]


async def test_time_order_and_horizon(client, headers):
    now = datetime.now(UTC)
    later, earlier = (
        format_time(now - timedelta(days=1)),
        format_time(now - timedelta(days=2)),
    )
    for params in (
        {"startTime": later, "endTime": earlier},
        {"startTime": later, "endTime": later},
        {"startTime": format_time(now - timedelta(days=181))},
    ):
        async with client.get(
            activities_path("token"), params=params, headers=headers
        ) as r:
            assert r.status == 400, params


async def test_the_customer_id_is_the_domains(client, sandbox, headers):
    params = {"customerId": sandbox.domain.customer_id, "maxResults": "1"}
    async with client.get(
        activities_path("login"), params=params, headers=headers
    ) as r:
        body = await r.json()
    assert body["items"][0]["id"]["customerId"] == sandbox.domain.customer_id


async def test_a_user_key_narrows_to_one_person(client, sandbox, headers):
    user = sandbox.domain.users[0]
    for key in (user.email, user.profile_id):
        async with client.get(activities_path("login", key), headers=headers) as r:
            body = await r.json()
        assert body["items"]
        assert {i["actor"]["email"] for i in body["items"]} == {user.email}
    async with client.get(
        activities_path("login", "nobody@elsewhere.example"), headers=headers
    ) as r:
        assert r.status == 400


async def test_bearer_tokens_are_checked(client, sandbox):
    for headers in ({}, {"Authorization": "Bearer ya29.forged"}, {"X": "y"}):
        async with client.get(activities_path("login"), headers=headers) as r:
            body = await r.json()
        assert r.status == 401
        assert body["error"]["errors"][0]["reason"] == "authError"
        assert "forged" not in str(body)
    token = await mint(client, sandbox, subject=sandbox.domain.restricted.email)
    async with client.get(
        activities_path("login"), headers={"Authorization": f"Bearer {token}"}
    ) as r:
        body = await r.json()
    assert r.status == 401
    assert body["error"]["message"] == ACCESS_DENIED


async def test_a_token_is_reused_until_it_expires(client, sandbox, headers):
    for _ in range(3):
        async with client.get(
            activities_path("login"), params={"maxResults": "1"}, headers=headers
        ) as r:
            assert r.status == 200
    sandbox.tokens.expire_all()
    async with client.get(activities_path("login"), headers=headers) as r:
        assert r.status == 401


async def test_unknown_route_is_a_google_404(client, headers):
    async with client.get("/admin/reports/v1/nothing", headers=headers) as r:
        body = await r.json()
    assert r.status == 404
    assert body["error"]["code"] == 404


# -- faults -------------------------------------------------------------------------


async def faulty(profile: str, **changes):
    options = OPTIONS.__class__(
        **{
            **{f: getattr(OPTIONS, f) for f in ("seed", "days", "end")},
            "events": 400,
            "faults": profile,
            "fault_rate": 1.0,
            **changes,
        }
    )
    return GeminiSandbox.run(options)


@pytest.mark.parametrize(
    ("profile", "status", "reason"),
    [
        ("rate_limit", 429, "rateLimitExceeded"),
        ("server_error", 500, "backendError"),
        ("quota", 503, "quotaExceeded"),
    ],
)
async def test_error_profiles(profile, status, reason):
    async with (
        await faulty(profile) as sandbox,
        aiohttp.ClientSession(base_url=sandbox.url) as client,
    ):
        token = await mint(client, sandbox)
        headers = {"Authorization": f"Bearer {token}"}
        statuses = []
        for _ in range(2):
            async with client.get(activities_path("login"), headers=headers) as r:
                body = await r.json()
                statuses.append(r.status)
                assert body["error"]["errors"][0]["reason"] == reason
                if profile == "rate_limit":
                    assert r.headers["Retry-After"] == "1"
        assert status in statuses


async def test_malformed_profile_items_not_a_list():
    async with (
        await faulty("malformed") as sandbox,
        aiohttp.ClientSession(base_url=sandbox.url) as client,
    ):
        headers = {"Authorization": f"Bearer {await mint(client, sandbox)}"}
        async with client.get(activities_path("login"), headers=headers) as r:
            body = await r.json()
        assert r.status == 200
        assert not isinstance(body["items"], list)


async def test_redirect_profile_refuses_a_credentialed_hop():
    async with (
        await faulty("redirect") as sandbox,
        aiohttp.ClientSession(base_url=sandbox.url) as client,
    ):
        headers = {"Authorization": f"Bearer {await mint(client, sandbox)}"}
        async with client.get(
            activities_path("login"),
            params={"maxResults": "3"},
            headers=headers,
            allow_redirects=False,
        ) as r:
            assert r.status == 307
            location = r.headers["Location"]
        async with client.get(location, headers=headers) as r:
            assert r.status == 400
        async with client.get(location) as r:
            body = await r.json()
        assert r.status == 200
        assert len(body["items"]) == 3
        for tampered in ("x", "é", "signed.mac"):
            forged = re.sub(r"signature=[^&]*", f"signature={tampered}", location)
            async with client.get(forged) as r:
                assert r.status == 400, tampered
        observed = sandbox.api.observed
        assert observed["redirect_hops"] == 5
        assert observed["credentialed_hops"] == 1


async def test_stuck_cursor_profile_repeats_its_token():
    async with (
        await faulty("stuck_cursor") as sandbox,
        aiohttp.ClientSession(base_url=sandbox.url) as client,
    ):
        headers = {"Authorization": f"Bearer {await mint(client, sandbox)}"}
        params = {"maxResults": "10"}
        tokens, firsts = [], []
        for _ in range(3):
            async with client.get(
                activities_path("login"), params=params, headers=headers
            ) as r:
                body = await r.json()
            tokens.append(body["nextPageToken"])
            firsts.append(body["items"][0]["id"]["uniqueQualifier"])
            params = {"maxResults": "10", "pageToken": body["nextPageToken"]}
        assert len(set(tokens)) == 1
        assert len(set(firsts)) == 1


async def test_late_profile_publishes_after_the_delay():
    async with (
        await faulty("late", fault_rate=0.0, publish_delay=3600.0) as sandbox,
        aiohttp.ClientSession(base_url=sandbox.url) as client,
    ):
        headers = {"Authorization": f"Bearer {await mint(client, sandbox)}"}
        early = []
        for app in APPLICATIONS:
            early.extend(ids_of(await read_all(client, headers, app)))
        expected = set(sandbox.expected_ids())
        hidden = expected - set(early)
        assert hidden
        assert set(early) <= expected
        sandbox.api.publish_delay = 0.0  # the delay has passed
        late = []
        for app in APPLICATIONS:
            late.extend(ids_of(await read_all(client, headers, app)))
        assert set(late) == expected


async def test_poisoned_profile_lists_its_records():
    async with (
        await faulty("poisoned", fault_rate=0.0) as sandbox,
        aiohttp.ClientSession(base_url=sandbox.url) as client,
    ):
        headers = {"Authorization": f"Bearer {await mint(client, sandbox)}"}
        read = []
        for app in APPLICATIONS:
            read.extend(ids_of(await read_all(client, headers, app)))
        poisoned = sandbox.describe().details["conformance"]["poisoned_ids"]
        assert len(poisoned) >= 5
        assert set(poisoned) <= set(read)
        assert set(read) == set(sandbox.expected_ids())


async def test_rate_limit_option_is_enforced():
    # 0.001 a second over an hour's window: three requests, then a 429 that
    # no clock on a slow machine can turn into a fourth success.
    options = OPTIONS.__class__(
        seed=1, events=200, days=5, end=OPTIONS.end, rate_limit=0.001
    )
    async with (
        GeminiSandbox.run(options, budget_window=3600.0) as sandbox,
        aiohttp.ClientSession(base_url=sandbox.url) as client,
    ):
        headers = {"Authorization": f"Bearer {await mint(client, sandbox)}"}
        statuses = []
        for _ in range(4):
            async with client.get(activities_path("login"), headers=headers) as r:
                statuses.append(r.status)
                if r.status == 429:
                    assert int(r.headers["Retry-After"]) >= 1
                    body = await r.json()
                    assert body["error"]["errors"][0]["reason"] == "rateLimitExceeded"
        assert statuses == [200, 200, 200, 429]


async def test_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="gremlins"):
        async with await faulty("gremlins"):
            pass


async def test_paging_one_at_a_time_through_a_tie(client, sandbox, headers):
    """Activities sharing a millisecond are told apart by their qualifier,
    newest first, and a page boundary inside the tie loses none of them."""
    history = sandbox.domain.activities["gemini_in_workspace_apps"]
    times = Counter(a.time for a in history)
    moment = max(times, key=lambda t: (times[t], t))
    assert times[moment] > 1
    params = {
        "startTime": format_time(moment),
        "endTime": format_time(moment + timedelta(milliseconds=1)),
        "maxResults": "1",
    }
    pages = await read_all(client, headers, "gemini_in_workspace_apps", params)
    served = [int(p["items"][0]["id"]["uniqueQualifier"]) for p in pages]
    tied = sorted((a.qualifier for a in history if a.time == moment), reverse=True)
    assert served == tied
