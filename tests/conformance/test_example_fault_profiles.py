"""The example sandbox's hostile-server profiles do what the suite relies on.

The conformance suite judges a connector by how it reads a sandbox that
misbehaves on purpose; if the sandbox did not misbehave, a broken connector
would pass. These tests talk to the example sandbox with a bare aiohttp
client, on loopback, and check each profile against its description in
``connector_core.testing._details``.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import aiohttp
import pytest
from aiaudit_example.normalize import PUBLICATION_LAG, format_time
from aiaudit_example.sandbox import ExampleSandbox, ExampleSandboxProvider
from yarl import URL

from connector_core.sandbox import SandboxOptions


END = datetime(2025, 3, 1, tzinfo=UTC)
PATH = "/admin/reports/v1/activity/users/all/applications/assistant"


def options(profile: str | None, **changes) -> SandboxOptions:
    return SandboxOptions(
        seed=7,
        events=200,
        days=3,
        end=END,
        faults=profile,
        fault_rate=1.0 if profile else 0.0,
        **changes,
    )


@contextlib.asynccontextmanager
async def serving(profile: str | None, **changes):
    async with (
        ExampleSandbox.run(options(profile, **changes)) as sandbox,
        aiohttp.ClientSession() as session,
    ):
        yield sandbox, session


def bearer(sandbox: ExampleSandbox) -> dict[str, str]:
    return {"Authorization": f"Bearer {sandbox.data.key}"}


async def test_redirect_signs_the_same_request_and_refuses_a_second_credential():
    async with serving("redirect") as (sandbox, session):
        url = f"{sandbox.url}{PATH}?maxResults=5"
        async with session.get(
            url, headers=bearer(sandbox), allow_redirects=False
        ) as first:
            assert first.status == 307
            location = first.headers["Location"]
        target = URL(sandbox.url).join(URL(location))
        assert (target.host, target.port, target.path) == (
            first.url.host,
            first.url.port,
            PATH,
        )
        assert target.query["maxResults"] == "5"
        assert "signature" in target.query

        async with session.get(target, headers=bearer(sandbox)) as keyed:
            assert keyed.status == 400
            assert "only one auth mechanism" in (await keyed.text()).lower()
        async with session.get(target) as bare:
            assert bare.status == 200
            assert (await bare.json())["items"]
        forged = target.update_query(signature="full.forged")
        async with session.get(forged) as wrong:
            assert wrong.status == 400
        observed = sandbox.describe().details["conformance"]["observed"]
        assert observed == {"redirect_hops": 3, "credentialed_hops": 1}


async def test_stuck_cursor_serves_the_same_page_and_token_forever():
    async with serving("stuck_cursor") as (sandbox, session):
        url = f"{sandbox.url}{PATH}"
        params = {"maxResults": "3"}
        async with session.get(url, params=params, headers=bearer(sandbox)) as r:
            first = await r.json()
        token = first["nextPageToken"]
        for _ in range(3):
            async with session.get(
                url, params={**params, "pageToken": token}, headers=bearer(sandbox)
            ) as r:
                again = await r.json()
            assert again["items"] == first["items"]
            assert again["nextPageToken"] == token


async def test_poisoned_records_are_served_as_a_hostile_api_sends_them():
    async with serving("poisoned") as (sandbox, session):
        details = sandbox.describe().details["conformance"]
        poisoned = details["poisoned_ids"]
        assert len(poisoned) == 5
        assert set(poisoned) <= set(details["expected_ids"])
        bodies = []
        for application in ("login", "assistant"):
            path = PATH.replace("assistant", application)
            async with session.get(
                f"{sandbox.url}{path}", headers=bearer(sandbox)
            ) as response:
                bodies.append(await response.read())
        raw = b"".join(bodies)
        assert b"\\ud800" in raw  # a lone surrogate, as a JSON escape
        assert raw.count(b"\\u0000") == 3  # user id, email, IP address
        assert b"9" * 6000 in raw
        for native_id in poisoned.values():
            assert native_id.encode() in raw


async def test_late_events_appear_after_the_publish_delay():
    window = {
        "startTime": format_time(END - PUBLICATION_LAG),
        "endTime": format_time(END),
    }
    async with serving("late", publish_delay=0.5) as (sandbox, session):
        url = f"{sandbox.url}{PATH}"

        async def listed() -> set[str]:
            async with session.get(url, params=window, headers=bearer(sandbox)) as r:
                page = await r.json()
            return {item["id"]["uniqueQualifier"] for item in page.get("items", [])}

        early = await listed()
        await asyncio.sleep(0.6)
        late = await listed()
        hidden = late - early
        assert early
        assert hidden
        assert hidden <= sandbox.data.late
        assert early < late


@pytest.mark.parametrize("profile", ["redirect", "stuck_cursor", "poisoned", "late"])
async def test_the_example_names_each_profile_for_its_kind(profile):
    provider = ExampleSandboxProvider()
    async with provider.start(options(None)) as running:
        assert running.details["conformance"]["faults"][profile] == profile
