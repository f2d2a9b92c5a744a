"""The sandbox's request rate limit, observed on the wire."""

from __future__ import annotations

import asyncio

import pytest
from openapi_spec import validate

from aiaudit_chatgpt.sandbox.app import RateLimiter
from connector_core.sandbox import SandboxOptions


@pytest.fixture
def sandbox_options(sandbox_options):
    return SandboxOptions(
        seed=sandbox_options.seed,
        events=500,
        days=7,
        end=sandbox_options.end,
        rate_limit=10.0,
    )


async def test_past_the_rate_the_answer_is_429_with_retry_after(http, sandbox):
    url = f"{sandbox.admin_base_url}/organization/audit_logs"
    headers = {"Authorization": f"Bearer {sandbox.keys.admin}"}
    statuses, limited = [], None
    for _ in range(30):
        async with http.get(url, headers=headers) as response:
            statuses.append(response.status)
            if response.status == 429 and limited is None:
                limited = (dict(response.headers), await response.json())
    assert statuses[:10] == [200] * 10  # the burst
    assert 429 in statuses
    headers_429, body = limited
    assert int(headers_429["Retry-After"]) >= 1
    assert body["error"]["code"] == "rate_limit_exceeded"
    validate("admin", "ErrorResponse", body)
    await asyncio.sleep(int(headers_429["Retry-After"]))
    async with http.get(url, headers=headers) as response:
        assert response.status == 200


async def test_each_key_has_its_own_budget(http, sandbox):
    url = f"{sandbox.admin_base_url}/organization/users"
    admin = {"Authorization": f"Bearer {sandbox.keys.admin}"}
    other = {"Authorization": f"Bearer {sandbox.keys.admin_no_audit}"}
    for _ in range(15):
        async with http.get(url, headers=admin):
            pass
    async with http.get(url, headers=other) as response:
        assert response.status == 200


def test_limiter_refills_with_time(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("aiaudit_chatgpt.sandbox.app.time.monotonic", lambda: clock[0])
    limiter = RateLimiter(2.0, burst=2)
    assert limiter.check("k") is None
    assert limiter.check("k") is None
    wait = limiter.check("k")
    assert wait == pytest.approx(0.5)
    clock[0] += 0.5
    assert limiter.check("k") is None
    assert limiter.limited == 1
