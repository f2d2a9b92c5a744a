"""The sandbox's ``/v1/organization/audit_logs`` against ground truth and spec."""

from __future__ import annotations

import random
from collections import Counter

import openai
import pytest
from openapi_spec import validate

from aiaudit_chatgpt.sandbox.audit import AuditLogData, AuditQuery, InvalidCursorError
from aiaudit_chatgpt.sandbox.org import Organization


def ground_truth(sandbox, *, tenant_only=False):
    """Every record the endpoint serves for a scope, newest first.

    Computed from the rendered records alone, not from the index the server
    pages with, so the two paths check each other.
    """
    records = list(sandbox.state.audit.iter_records(tenant_only=tenant_only))
    records.reverse()  # iter_records is oldest first
    times = [r["effective_at"] for r in records]
    assert times == sorted(times, reverse=True)
    return records


async def get(
    http, sandbox, params=(), *, key=None, path="/v1/organization/audit_logs"
):
    headers = {"Authorization": f"Bearer {key or sandbox.keys.admin}"}
    async with http.get(
        sandbox.api_url + path, params=list(params), headers=headers
    ) as resp:
        return resp.status, await resp.json(), resp.headers


async def page_all(http, sandbox, params=(), *, limit=100):
    seen, after, pages = [], None, 0
    while True:
        query = [*params, ("limit", limit)] + ([("after", after)] if after else [])
        status, body, _ = await get(http, sandbox, query)
        assert status == 200, body
        pages += 1
        seen.extend(body["data"])
        if not body["has_more"]:
            return seen, pages
        after = body["last_id"]


def actor_email(record):
    actor = record.get("actor") or {}
    holder = actor.get("session") or actor.get("api_key") or {}
    return (holder.get("user") or {}).get("email")


async def test_raw_http_paging_returns_the_ground_truth(http, sandbox):
    records, pages = await page_all(http, sandbox)
    truth = ground_truth(sandbox)
    assert [r["id"] for r in records] == [r["id"] for r in truth]
    assert records == truth
    assert pages == -(-len(truth) // 100)


async def test_the_official_sdk_pages_to_the_ground_truth(sandbox):
    client = openai.AsyncOpenAI(
        api_key="unused-for-admin-endpoints",
        admin_api_key=sandbox.keys.admin,
        base_url=sandbox.admin_base_url,
        max_retries=0,
    )
    events = [
        event async for event in client.admin.organization.audit_logs.list(limit=100)
    ]
    await client.close()
    truth = ground_truth(sandbox)
    assert [e.id for e in events] == [r["id"] for r in truth]
    assert [e.type for e in events] == [r["type"] for r in truth]
    assert [e.effective_at for e in events] == [r["effective_at"] for r in truth]
    login = next(e for e in events if e.type == "login.succeeded")
    assert login.actor.type == "session"
    assert login.actor.session.user.email.endswith("@acme-corp.example")


async def test_sdk_filters_are_understood(sandbox):
    client = openai.AsyncOpenAI(
        api_key="unused",
        admin_api_key=sandbox.keys.admin,
        base_url=sandbox.admin_base_url,
        max_retries=0,
    )
    truth = ground_truth(sandbox)
    middle = truth[len(truth) // 2]["effective_at"]
    page = await client.admin.organization.audit_logs.list(
        event_types=["login.failed", "api_key.created"],
        effective_at={"gte": middle},
        limit=100,
    )
    expected = [
        r["id"]
        for r in truth
        if r["type"] in {"login.failed", "api_key.created"}
        and r["effective_at"] >= middle
    ]
    assert [e.id for e in page.data] == expected[:100]
    await client.close()


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ([("event_types[]", "login.failed")], lambda r: r["type"] == "login.failed"),
        (
            [
                ("event_types[]", "login.succeeded"),
                ("event_types[]", "logout.succeeded"),
            ],
            lambda r: r["type"] in {"login.succeeded", "logout.succeeded"},
        ),
        ([("event_types", "invite.sent")], lambda r: r["type"] == "invite.sent"),
    ],
)
async def test_event_type_filters(http, sandbox, params, keep):
    records, _ = await page_all(http, sandbox, params)
    expected = [r for r in ground_truth(sandbox) if keep(r)]
    assert records == expected
    assert expected


async def test_time_bounds(http, sandbox):
    truth = ground_truth(sandbox)
    low = truth[-200]["effective_at"]
    high = truth[200]["effective_at"]
    for params, keep in [
        (
            [("effective_at[gte]", low), ("effective_at[lte]", high)],
            lambda t: low <= t <= high,
        ),
        (
            [("effective_at[gt]", low), ("effective_at[lt]", high)],
            lambda t: low < t < high,
        ),
    ]:
        records, _ = await page_all(http, sandbox, params)
        assert records == [r for r in truth if keep(r["effective_at"])]


async def test_actor_filters(http, sandbox):
    truth = ground_truth(sandbox)
    busiest = Counter(actor_email(r) for r in truth if actor_email(r)).most_common(1)[
        0
    ][0]
    user = next(u for u in sandbox.state.org.users if u.email == busiest)
    by_email, _ = await page_all(http, sandbox, [("actor_emails[]", busiest)])
    by_id, _ = await page_all(http, sandbox, [("actor_ids[]", user.id)])
    expected = [r for r in truth if actor_email(r) == busiest]
    assert by_email == expected
    assert by_id == expected
    sa = sandbox.state.org.service_accounts[0]
    by_sa, _ = await page_all(http, sandbox, [("actor_ids[]", sa.id)])
    assert by_sa == [
        r
        for r in truth
        if (r.get("actor") or {})
        .get("api_key", {})
        .get("service_account", {})
        .get("id")
        == sa.id
    ]


async def test_project_and_resource_filters(http, sandbox):
    truth = ground_truth(sandbox)
    project = Counter(r["project"]["id"] for r in truth if "project" in r).most_common(
        1
    )[0][0]
    records, _ = await page_all(http, sandbox, [("project_ids[]", project)])
    assert records == [r for r in truth if r.get("project", {}).get("id") == project]
    target = next(r[r["type"]]["id"] for r in truth if r["type"] == "api_key.created")
    records, _ = await page_all(http, sandbox, [("resource_ids[]", target)])
    assert records
    assert records == [r for r in truth if (r.get(r["type"]) or {}).get("id") == target]


async def test_before_pages_backwards(http, sandbox):
    truth = ground_truth(sandbox)
    status, body, _ = await get(
        http, sandbox, [("limit", 10), ("after", truth[29]["id"])]
    )
    assert [r["id"] for r in body["data"]] == [r["id"] for r in truth[30:40]]
    status, body, _ = await get(
        http, sandbox, [("limit", 10), ("before", truth[30]["id"])]
    )
    assert status == 200
    assert [r["id"] for r in body["data"]] == [r["id"] for r in truth[20:30]]
    assert body["has_more"] is True
    status, body, _ = await get(
        http, sandbox, [("limit", 10), ("before", truth[5]["id"])]
    )
    assert [r["id"] for r in body["data"]] == [r["id"] for r in truth[:5]]
    assert body["has_more"] is False


async def test_records_have_the_real_shapes(http, sandbox):
    truth = ground_truth(sandbox)
    kinds = Counter()
    for record in truth:
        actor = record["actor"]
        if actor is None:
            kinds["null"] += 1
        elif actor["type"] == "session":
            session = actor["session"]
            assert set(session) >= {
                "user",
                "ip_address",
                "user_agent",
                "ja3",
                "ja4",
                "ip_address_details",
            }
            assert all(
                isinstance(v, str) for v in session["ip_address_details"].values()
            )
            kinds["session"] += 1
        else:
            kinds[f"api_key:{actor['api_key']['type']}"] += 1
    assert set(kinds) == {"null", "session", "api_key:user", "api_key:service_account"}
    types = {r["type"] for r in truth}
    assert {"resource.deleted", "login.failed", "project.created"} <= types
    failed = next(r for r in truth if r["type"] == "login.failed")
    assert set(failed["login.failed"]) == {"error_code", "error_message"}


async def test_tenant_scoped_events_need_tenant_only(http, sandbox):
    tenant, _ = await page_all(http, sandbox, [("tenant_only", "true")])
    assert tenant == ground_truth(sandbox, tenant_only=True)
    assert tenant
    assert all(
        r["type"].startswith("tenant.") or r["type"].startswith("role.") for r in tenant
    )
    status, body, _ = await get(
        http, sandbox, [("event_types[]", "role.bound_to_resource")]
    )
    assert status == 400
    assert body["error"]["param"] == "tenant_only"
    status, body, _ = await get(
        http, sandbox, [("tenant_only", "true"), ("event_types[]", "login.failed")]
    )
    assert status == 400


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ([("limit", 0)], "limit"),
        ([("limit", 101)], "limit"),
        ([("limit", "ten")], "limit"),
        ([("effective_at[gte]", "yesterday")], "effective_at[gte]"),
        ([("after", "audit_log-nope")], "after"),
        ([("before", "audit_log-0000000_20250101")], "before"),
        ([("event_types[]", "Not A Type")], "event_types"),
    ],
)
async def test_bad_parameters_are_400_in_openai_shape(http, sandbox, params, param):
    status, body, _ = await get(http, sandbox, params)
    assert status == 400
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["param"] == param
    validate("admin", "ErrorResponse", body)


async def test_keys(http, sandbox):
    status, body, _ = await get(http, sandbox, key="sk-admin-wrong-key-000000")
    assert status == 401
    assert body["error"]["code"] == "invalid_api_key"
    assert "wrong-key-000000" not in body["error"]["message"]
    status, body, _ = await get(http, sandbox, key=sandbox.keys.admin_no_audit)
    assert status == 403
    status, body, _ = await get(http, sandbox, key=sandbox.keys.compliance)
    assert status == 401
    validate("admin", "ErrorResponse", body)


async def test_pages_validate_against_the_spec(http, sandbox):
    for params in ([("limit", 100)], [("tenant_only", "true"), ("limit", 100)]):
        status, body, _ = await get(http, sandbox, params)
        assert status == 200
        validate("admin", "ListAuditLogsResponse", body)
    records, _ = await page_all(http, sandbox)
    sample = random.Random(0).sample(records, 300)
    validate(
        "admin",
        "ListAuditLogsResponse",
        {"object": "list", "data": sample, "has_more": False},
    )


def test_same_seed_same_data():
    from datetime import UTC, datetime  # noqa: PLC0415

    def build(seed):
        org = Organization.generate(
            seed=seed,
            events=2_000,
            start=datetime(2025, 1, 1, tzinfo=UTC),
            end=datetime(2025, 1, 15, tzinfo=UTC),
        )
        return list(AuditLogData.generate(org, events=2_000).iter_records())

    assert build(5) == build(5)
    assert build(5) != build(6)


def test_forged_ids_are_refused(sandbox):
    audit = sandbox.state.audit
    real = audit.event_id(10)
    assert audit.index_of(real) == 10
    prefix, _ = real.rsplit("_", 1)
    for forged in (
        f"{prefix}_19990101",
        real.replace("audit_log-", "audit_log-z"),
        "audit_log-zzzzzzz_20250101",
    ):
        with pytest.raises(InvalidCursorError):
            audit.index_of(forged)


def test_select_matches_paging():
    from datetime import UTC, datetime  # noqa: PLC0415

    org = Organization.generate(
        seed=1,
        events=5_000,
        start=datetime(2025, 1, 1, tzinfo=UTC),
        end=datetime(2025, 2, 1, tzinfo=UTC),
    )
    audit = AuditLogData.generate(org, events=5_000)
    query = AuditQuery(event_types=frozenset({"login.failed", "user.added"}), limit=7)
    paged, after = [], None
    while True:
        page, more = audit.page(
            AuditQuery(event_types=query.event_types, limit=7, after=after)
        )
        paged.extend(page)
        if not more:
            break
        after = audit.event_id(page[-1])
    assert paged == list(audit.select(query))
