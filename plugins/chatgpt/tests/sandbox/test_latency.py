"""The core's sandbox latency, honoured by both of the ChatGPT sandbox's
hosts: every answer pays the round trip, and requests in flight overlap.

Timings are lower bounds (what the sleep guarantees), with one loose upper
bound where overlap is the point.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import aiohttp

from aiaudit_chatgpt.sandbox.server import ChatGPTSandbox
from connector_core.sandbox import SandboxOptions


LATENCY = 0.2
AUDIT = "/v1/organization/audit_logs?limit=5"


async def test_both_hosts_answer_after_the_latency_and_overlap():
    options = SandboxOptions(
        seed=5,
        events=200,
        days=3,
        end=datetime(2025, 6, 1, tzinfo=UTC),
        latency_ms=LATENCY * 1000,
        jitter_ms=30,
    )
    async with (
        ChatGPTSandbox.run(options) as sandbox,
        aiohttp.ClientSession() as session,
    ):
        details = sandbox.describe().details
        assert (details["latency_ms"], details["jitter_ms"]) == (200.0, 30.0)
        headers = {"Authorization": f"Bearer {sandbox.keys.admin}"}

        async def timed(url: str) -> tuple[int, float]:
            started = time.monotonic()
            async with session.get(url, headers=headers) as answer:
                await answer.read()
                return answer.status, time.monotonic() - started

        status, elapsed = await timed(sandbox.api_url + AUDIT)
        assert status == 200
        assert elapsed >= LATENCY
        # The storage host too, whatever it answers to an unsigned path.
        _, elapsed = await timed(sandbox.storage_url + "/nothing-here")
        assert elapsed >= LATENCY

        started = time.monotonic()
        answers = await asyncio.gather(
            *(timed(sandbox.api_url + AUDIT) for _ in range(10))
        )
        total = time.monotonic() - started
    assert all(status == 200 and took >= LATENCY for status, took in answers)
    assert total < 5 * LATENCY
