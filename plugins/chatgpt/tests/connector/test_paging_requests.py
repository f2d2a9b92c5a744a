"""What paging the ChatGPT connector costs in requests, against the sandbox.

A host pages with ``get_ai_audit_logs(query)`` and ``cursor=next_cursor``.
Each page resumes from the checkpoint its cursor names; a page must cost
about one request, not a re-read of the time window it falls in, and the
pages together must be exactly one full read: every log once, in order.

Requests are counted as the client sends them (an aiohttp trace on the
connector's session, the ``requests`` fixture): the sandbox serves each one
it is sent, and keeps no count of its own.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import attrs
import pytest
from reading import RequestLog, assert_one_full_read, every_page

from aiaudit_chatgpt.sandbox.server import ChatGPTSandbox
from connector_core.exceptions import CheckpointError
from connector_core.models import AIAuditLogQuery
from connector_core.paging import DEFAULT_PAGE_SIZE
from connector_core.sandbox import SandboxOptions


END = datetime(2025, 3, 1, tzinfo=UTC)
MONTH = AIAuditLogQuery(
    start_date=END - timedelta(days=30), end_date=END - timedelta(seconds=1)
)
WEEK = AIAuditLogQuery(
    start_date=END - timedelta(days=7), end_date=END - timedelta(seconds=1)
)
FROM_NOON = AIAuditLogQuery(
    start_date=END - timedelta(days=6, hours=12), end_date=END - timedelta(seconds=1)
)
"""Windows end at noon, when the organization is busy: the stretch each
next window re-reads holds events."""
SLACK = 2
"""Requests a paging may cost beyond a page each and one per window or
stream: the final page, which may come back empty when the logs end
exactly where a full page does."""


@pytest.fixture
def sandbox_options() -> SandboxOptions:
    return SandboxOptions(seed=7, events=5_000, days=30, end=END)


def admin_only(config: dict) -> dict:
    """The host's case: only the Admin API's audit log is configured."""
    return {
        k: v
        for k, v in config.items()
        if not k.startswith("compliance") and k != "workspace_id"
    }


@pytest.fixture
async def admin(registry, sandbox, session):
    config = admin_only(sandbox.connector_config())
    async with registry.create("chatgpt", config, session=session) as conn:
        yield conn


def windows(requests) -> set[tuple[str, ...]]:
    """The audit-log time windows the requests read (each listed once)."""
    opened = set()
    for url in requests.paths("/organization/audit_logs"):
        params = dict(parse_qsl(urlsplit(url).query))
        opened.add(
            (
                params["effective_at[gte]"],
                params["effective_at[lt]"],
                params.get("tenant_only", ""),
            )
        )
    return opened


async def check_paging(connector, requests, query, limit):
    """Page *query* in pages of *limit*; the pages against one full read,
    and the requests against a page each plus a window or stream each."""
    full = [log.id async for log in connector.stream_ai_audit_logs(query)]
    streams = len(await connector.list_streams())
    requests.urls.clear()
    pages = await every_page(connector, query, limit)
    paged = [log.id for page in pages for log in page.logs]
    assert_one_full_read(paged, full)
    size = limit or DEFAULT_PAGE_SIZE
    assert all(len(page.logs) == size for page in pages[:-1])
    assert pages[-1].total_count == len(full)
    opened = windows(requests)
    most = math.ceil(len(full) / size) + len(opened) + streams + SLACK
    assert len(requests.urls) <= most, (
        f"{len(requests.urls)} requests for {len(full)} logs in {len(pages)} "
        f"pages of {size} ({len(opened)} windows, {streams} streams): "
        f"at most {most} expected"
    )
    return full, pages


@pytest.mark.parametrize("limit", [10, 100, None], ids=["10", "100", "default"])
async def test_paging_a_month_costs_a_request_a_page(admin, requests, limit):
    full, _ = await check_paging(admin, requests, MONTH, limit)
    assert len(full) > 4_900


async def test_pages_of_one_cost_a_request_each(registry):
    options = SandboxOptions(seed=7, events=400, days=7, end=END)
    requests = RequestLog()
    async with (
        ChatGPTSandbox.run(options) as sandbox,
        aiohttp.ClientSession(trace_configs=[requests.trace]) as session,
    ):
        config = admin_only(sandbox.connector_config())
        async with registry.create("chatgpt", config, session=session) as conn:
            full, pages = await check_paging(conn, requests, WEEK, 1)
    assert len(full) > 300
    assert len(pages) >= len(full)


async def test_a_cursor_resumes_in_another_process(registry, session):
    """A cursor names a position inside a time window; a connector that
    never saw the earlier pages (a restarted host) continues it exactly,
    across window ends, whose trailing stretches the next window re-reads
    (busy enough here that each holds events)."""
    options = SandboxOptions(seed=7, events=6_000, days=7, end=END)
    async with ChatGPTSandbox.run(options) as sandbox:
        config = admin_only(sandbox.connector_config())
        async with registry.create("chatgpt", config, session=session) as conn:
            full = [log.id async for log in conn.stream_ai_audit_logs(FROM_NOON)]
        paged, cursor = [], None
        while True:
            async with registry.create("chatgpt", config, session=session) as conn:
                page = await conn.get_ai_audit_logs(
                    attrs.evolve(FROM_NOON, limit=37, cursor=cursor)
                )
            paged.extend(log.id for log in page.logs)
            if not page.has_more:
                break
            cursor = page.next_cursor
    assert len(full) > 5_000
    assert_one_full_read(paged, full)


async def test_pages_stay_exact_when_the_server_re_serves_the_boundary(
    registry, session
):
    """A server that puts the record a cursor names back on top of the next
    page: a page that resumes at that cursor skips it, as the uninterrupted
    read does, so the pages are still one full read."""
    options = SandboxOptions(
        seed=7, events=1_500, days=7, end=END, faults="duplicates", fault_rate=0.3
    )
    async with ChatGPTSandbox.run(options) as sandbox:
        config = admin_only(sandbox.connector_config())
        async with registry.create("chatgpt", config, session=session) as conn:
            full = [log.id async for log in conn.stream_ai_audit_logs(WEEK)]
            pages = await every_page(conn, WEEK, 10)
    paged = [log.id for page in pages for log in page.logs]
    assert len(set(full)) == len(full) > 1_000
    assert_one_full_read(paged, full)


async def test_every_stream_pages_exactly(connector, requests):
    """Both APIs configured: the audit log, the Logs Platform's files and
    the GPT snapshot page into one full read, and the audit log still
    costs about a request a page."""
    full = [log.id async for log in connector.stream_ai_audit_logs(MONTH)]
    admin_logs = 0
    for stream in ("admin_audit_logs", "admin_tenant_audit_logs"):
        async for batch in connector.read_stream(stream, None, MONTH):
            admin_logs += len(batch.logs)
    requests.urls.clear()
    pages = await every_page(connector, MONTH, 10)
    assert_one_full_read([log.id for page in pages for log in page.logs], full)
    audit = requests.paths("/organization/audit_logs")
    assert len(full) > admin_logs > 4_900
    assert len(audit) <= math.ceil(admin_logs / 10) + len(windows(requests)) + 4


GOOD_INSIDE = {"window": [1_740_000_000, 1_740_086_400], "after": "x", "served": 0}


@pytest.mark.parametrize(
    "checkpoint",
    [
        {**GOOD_INSIDE, "window": [1_740_086_400, 1_740_000_000]},
        {**GOOD_INSIDE, "window": "today"},
        {**GOOD_INSIDE, "window": [1_740_000_000, True]},
        {**GOOD_INSIDE, "after": 17},
        {**GOOD_INSIDE, "after": ""},
        {**GOOD_INSIDE, "served": -1},
        {**GOOD_INSIDE, "stretch": "!!"},
        {**GOOD_INSIDE, "page": 5},
    ],
)
async def test_a_malformed_position_inside_a_window_is_a_clear_error(admin, checkpoint):
    """A checkpoint inside a window travels in a host's page cursor: one
    that does not read back is a CheckpointError naming the stream."""
    with pytest.raises(CheckpointError) as raised:
        async for _ in admin.read_stream(
            "admin_audit_logs", checkpoint, attrs.evolve(MONTH, limit=10)
        ):
            pass
    assert raised.value.stream == "admin_audit_logs"


@pytest.mark.parametrize("limit", [10, 100])
async def test_every_stream_costs_about_a_request_a_page(connector, requests, limit):
    """Both APIs configured. The Logs Platform's files and the GPT snapshot
    checkpoint only after a whole file or listing: inside ``async with``
    the next page continues the read the last one stopped, so paging them
    costs what one read of them does, not a re-read a page, and the audit
    log still about a request a page."""
    full = [log.id async for log in connector.stream_ai_audit_logs(MONTH)]
    requests.urls.clear()
    coarse = 0
    for stream in ("compliance_logs", "custom_gpts"):
        async for batch in connector.read_stream(stream, None, MONTH):
            coarse += len(batch.logs)
    once = len(requests.urls)  # what reading the coarse streams costs
    streams = len(await connector.list_streams())
    requests.urls.clear()
    pages = await every_page(connector, MONTH, limit)
    assert_one_full_read([log.id for page in pages for log in page.logs], full)
    assert all(len(page.logs) == limit for page in pages[:-1])
    assert len(full) > coarse > 3_000
    opened = windows(requests)
    most = math.ceil(len(full) / limit) + len(opened) + once + streams + SLACK
    assert len(requests.urls) <= most, (
        f"{len(requests.urls)} requests for {len(full)} logs in {len(pages)} "
        f"pages of {limit} ({len(opened)} windows, {once} to read the files "
        f"and GPTs once): at most {most} expected"
    )
