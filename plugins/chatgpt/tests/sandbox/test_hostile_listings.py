"""The sandbox's hostile listings and late data, observed on the wire.

Each profile here is one the connectors must survive: a Logs Platform
listing that reads ``after`` exclusively, listings stuck on one cursor,
events published late, a download that stalls mid-file. The checks use a
plain ``aiohttp`` session, so they see what any client would.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from aiaudit_chatgpt.admin_reader import ADMIN_PUBLICATION_LAG
from aiaudit_chatgpt.files_reader import FILES_PUBLICATION_LAG
from aiaudit_chatgpt.sandbox.audit import AuditQuery
from aiaudit_chatgpt.sandbox.compliance_records import GENERATED_EVENT_TYPES
from aiaudit_chatgpt.sandbox.server import FUTURE_GPT_CREATED, ChatGPTSandbox
from connector_core.models import AIAuditLogQuery
from connector_core.sandbox import SandboxOptions


END = datetime(2025, 3, 1, tzinfo=UTC)
TYPES = [("event_type", t) for t in GENERATED_EVENT_TYPES]


@contextlib.asynccontextmanager
async def running(faults=None, rate=0.0, **options):
    settings = {"seed": 42, "events": 3_000, "days": 21, "end": END} | options
    async with (
        ChatGPTSandbox.run(
            SandboxOptions(faults=faults, fault_rate=rate, **settings)
        ) as sandbox,
        aiohttp.ClientSession() as http,
    ):
        yield sandbox, http


def compliance_url(sandbox, tail=""):
    workspace = sandbox.state.org.workspace_id
    return f"{sandbox.api_url}/v1/compliance/workspaces/{workspace}{tail}"


def compliance_key(sandbox):
    return {"Authorization": f"Bearer {sandbox.keys.compliance}"}


async def listing(http, sandbox, **params):
    query = TYPES + [(k, str(v)) for k, v in params.items()]
    async with http.get(
        compliance_url(sandbox, "/logs"), params=query, headers=compliance_key(sandbox)
    ) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_ties_straddle_listing_page_boundaries():
    """Several files share an end time across a page boundary of the
    connector's page size: what an exclusive ``after`` loses."""
    async with running() as (sandbox, http):
        straddling = 0
        after = (END - timedelta(days=21)).isoformat()
        while True:
            page = await listing(http, sandbox, limit=100, after=after)
            if not page["has_more"]:
                break
            # The next page from the same end time, read inclusively.
            following = await listing(
                http, sandbox, limit=100, after=page["last_end_time"]
            )
            ids = {item["id"] for item in page["data"]}
            straddling += any(
                item["end_time"] == page["last_end_time"] and item["id"] not in ids
                for item in following["data"]
            )
            after = page["last_end_time"]
    assert straddling >= 1


async def test_an_exclusive_listing_serves_only_files_ending_after():
    async with running() as (default, http):
        page = await listing(http, default, limit=100)
        boundary = page["last_end_time"]
        inclusive = await listing(http, default, limit=100, after=boundary)
    async with running("listing_after_exclusive", 0.1) as (sandbox, http):
        exclusive = await listing(http, sandbox, limit=100, after=boundary)
    assert inclusive["data"][0]["end_time"] == boundary
    assert all(item["end_time"] > boundary for item in exclusive["data"])
    later = [item for item in inclusive["data"] if item["end_time"] > boundary]
    assert exclusive["data"][: len(later)] == later


@pytest.mark.parametrize("rate", [1.0, 0.5])
async def test_stuck_cursor_hands_back_the_cursor_it_was_asked_with(rate):
    async with running("stuck_cursor", rate) as (sandbox, http):
        admin = {"Authorization": f"Bearer {sandbox.keys.admin}"}
        stuck = 0
        after = None
        for _ in range(6):
            params = {"limit": "5", **({"after": after} if after else {})}
            async with http.get(
                f"{sandbox.api_url}/v1/organization/audit_logs",
                params=params,
                headers=admin,
            ) as response:
                page = await response.json()
            assert page["has_more"]
            stuck += after is not None and page["last_id"] == after
            after = page["last_id"]
        start = (END - timedelta(days=21)).isoformat()
        files = await listing(http, sandbox, limit=10, after=start)
        async with http.get(
            compliance_url(sandbox, "/gpts"),
            params={"after": "g-0"},
            headers=compliance_key(sandbox),
        ) as response:
            gpts = await response.json()
        injected = sandbox.state.faults.injected["stuck_cursor"]
    if rate == 1.0:
        assert stuck == 5
        assert files["has_more"]
        assert files["last_end_time"] == start
        assert gpts["has_more"]
        assert gpts["last_id"] == "g-0"
    else:
        assert 0 < injected < 8


async def test_late_events_appear_after_the_publish_delay():
    async with running("late", 1.0, publish_delay=1.0) as (sandbox, http):
        state = sandbox.state
        audit, compliance = state.audit, state.compliance
        admin_cut = int((END - ADMIN_PUBLICATION_LAG).timestamp())
        assert audit.hidden
        assert all(audit.times[i] >= admin_cut for i in audit.hidden)
        assert compliance.hidden_files
        assert compliance.hidden_gpts
        newest = END - FILES_PUBLICATION_LAG

        def served_audit():
            return {audit.event_id(i) for i in audit.select(AuditQuery())}

        async def served_files():
            found, after = set(), newest.isoformat()
            while True:
                page = await listing(http, sandbox, limit=100, after=after)
                found.update(item["id"] for item in page["data"])
                if not page["has_more"]:
                    return found
                after = page["last_end_time"]

        async def served_gpts():
            async with http.get(
                compliance_url(sandbox, "/gpts"),
                params={"limit": "100"},
                headers=compliance_key(sandbox),
            ) as response:
                return {gpt["id"] for gpt in (await response.json())["data"]}

        hidden_ids = {audit.event_id(i) for i in audit.hidden}
        assert not served_audit() & hidden_ids
        assert not await served_files() & compliance.hidden_files
        gpts = await served_gpts()
        assert not gpts & compliance.hidden_gpts
        future = [g for g in state.org.gpts if g.created_at == FUTURE_GPT_CREATED]
        assert [g.id for g in future] == sorted(gpts)

        await asyncio.sleep(1.05)
        assert hidden_ids <= served_audit()
        assert compliance.hidden_files <= await served_files()
        assert compliance.hidden_gpts <= await served_gpts()
        # Ground truth holds them from the start.
        truth = sandbox.expected_logs(
            AIAuditLogQuery(start_date=END - timedelta(days=21), end_date=END)
        )
        assert {log.id for log in truth.values()} >= hidden_ids


async def test_a_stalled_download_stalls_once_then_serves_the_rest():
    async with running("stall", 1.0) as (sandbox, http):
        page = await listing(http, sandbox, limit=1)
        log_id = page["data"][0]["id"]
        truth = b"".join(sandbox.state.compliance.iter_file_lines(log_id))

        async def location():
            async with http.get(
                compliance_url(sandbox, f"/logs/{log_id}"),
                headers=compliance_key(sandbox),
                allow_redirects=False,
            ) as response:
                return response.headers["Location"]

        received = bytearray()

        async def download():
            async with http.get(
                await location(), timeout=aiohttp.ClientTimeout(sock_read=0.3)
            ) as response:
                assert response.content_length == len(truth)
                async for chunk in response.content.iter_any():
                    received.extend(chunk)

        with pytest.raises(TimeoutError):
            await download()
        assert 0 < len(received) < len(truth)
        assert truth.startswith(bytes(received))
        async with http.get(await location()) as response:
            assert await response.read() == truth
        await asyncio.sleep(0.1)  # the stalled handler notices the hang-up
        assert sandbox.state.faults.injected["stall"] == 1
