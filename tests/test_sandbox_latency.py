"""Latency in the sandboxes: every answer pays a round trip, requests in
flight together overlap, jitter repeats for a seed, and nonsense is refused.

Run over real HTTP on loopback against the example plugin's sandbox, whose
app adds the core's middleware in one line as any plugin's does. Timings
are checked as lower bounds (what the sleep guarantees) and a loose upper
bound only where overlap is the point: the machine may be slow, never fast.
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
import subprocess
import time
import urllib.request

import aiohttp
import pytest
from aiaudit_example.sandbox import ExampleSandbox

from connector_core.sandbox import Latency, SandboxOptions
from connector_core.testing.processes import AIAUDIT, clean_env


LATENCY_MS = 200.0
PATH = "/admin/reports/v1/activity/users/all/applications/login?maxResults=5"


def _options(**overrides: object) -> SandboxOptions:
    return SandboxOptions(events=200, seed=11, **overrides)


async def _timed_get(session: aiohttp.ClientSession, url: str, key: str) -> float:
    started = time.monotonic()
    async with session.get(url, headers={"Authorization": f"Bearer {key}"}) as answer:
        assert answer.status == 200, await answer.text()
        await answer.read()
    return time.monotonic() - started


async def test_a_request_takes_at_least_the_latency():
    async with (
        ExampleSandbox.run(_options(latency_ms=LATENCY_MS)) as sandbox,
        aiohttp.ClientSession() as session,
    ):
        elapsed = await _timed_get(session, sandbox.url + PATH, sandbox.data.key)
    assert elapsed >= LATENCY_MS / 1000


async def test_errors_pay_the_latency_too():
    """The middleware comes first: a refused key waits like any answer."""
    async with (
        ExampleSandbox.run(_options(latency_ms=LATENCY_MS)) as sandbox,
        aiohttp.ClientSession() as session,
    ):
        started = time.monotonic()
        async with session.get(
            sandbox.url + PATH, headers={"Authorization": "Bearer nope"}
        ) as answer:
            assert answer.status == 401
        assert time.monotonic() - started >= LATENCY_MS / 1000


async def test_concurrent_requests_overlap():
    """Ten requests in flight take about one latency, not ten."""
    async with (
        ExampleSandbox.run(_options(latency_ms=LATENCY_MS)) as sandbox,
        aiohttp.ClientSession() as session,
    ):
        url, key = sandbox.url + PATH, sandbox.data.key
        started = time.monotonic()
        each = await asyncio.gather(*(_timed_get(session, url, key) for _ in range(10)))
        total = time.monotonic() - started
    assert min(each) >= LATENCY_MS / 1000
    assert total < 5 * LATENCY_MS / 1000


async def test_no_latency_by_default():
    assert not Latency(SandboxOptions())
    async with (
        ExampleSandbox.run(_options()) as sandbox,
        aiohttp.ClientSession() as session,
    ):
        await _timed_get(session, sandbox.url + PATH, sandbox.data.key)
        assert sandbox.describe().details["latency_ms"] == 0.0


def test_jitter_repeats_for_a_seed_and_stays_in_range():
    def draws(seed: int) -> list[float]:
        latency = Latency(SandboxOptions(seed=seed, latency_ms=100, jitter_ms=50))
        return [latency.next_delay() for _ in range(50)]

    assert draws(3) == draws(3)
    assert draws(3) != draws(4)
    assert all(0.1 <= delay <= 0.15 for delay in draws(3))
    assert len(set(draws(3))) > 1


async def test_each_request_waits_its_seeded_draw():
    """Sequential requests wait at least the delays a fresh generator of
    the same seed draws, in order: the server uses that sequence."""
    options = _options(latency_ms=50.0, jitter_ms=250.0)
    expected = Latency(options)
    async with (
        ExampleSandbox.run(options) as sandbox,
        aiohttp.ClientSession() as session,
    ):
        details = sandbox.describe().details
        assert (details["latency_ms"], details["jitter_ms"]) == (50.0, 250.0)
        for _ in range(4):
            elapsed = await _timed_get(session, sandbox.url + PATH, sandbox.data.key)
            assert elapsed >= expected.next_delay()


@pytest.mark.parametrize("field", ["latency_ms", "jitter_ms"])
@pytest.mark.parametrize("value", [-1.0, -0.001, math.nan, math.inf, -math.inf])
def test_bad_values_are_refused_by_name(field, value):
    with pytest.raises(ValueError, match=f"{field} must be a finite number"):
        SandboxOptions(**{field: value})


@pytest.mark.parametrize("value", ["200", True, None])
def test_non_numbers_are_refused(value):
    with pytest.raises(TypeError, match="latency_ms must be a number"):
        SandboxOptions(latency_ms=value)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AIAUDIT), "sandbox", "example", "--events", "50", *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--latency", "-5"),
        ("--latency", "nan"),
        ("--latency", "inf"),
        ("--jitter", "-1"),
        ("--jitter", "nan"),
        ("--latency", "fast"),
    ],
)
def test_the_command_refuses_bad_values_as_a_usage_error(option, value):
    done = _run(option, value)
    assert done.returncode == 2, done.stderr
    assert option in done.stderr
    assert "Traceback" not in done.stderr


def test_the_command_serves_with_latency_and_says_so():
    process = subprocess.Popen(
        [str(AIAUDIT), "sandbox", "example", "--json", "--events", "50",
         "--latency", "200", "--jitter", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )  # fmt: skip
    try:
        described = json.loads(process.stdout.readline())
        assert described["latency"] == {"latency_ms": 200.0, "jitter_ms": 20.0}
        assert described["details"]["latency_ms"] == 200.0
        config = described["config"]
        request = urllib.request.Request(  # noqa: S310 - loopback URL we just started
            config["base_url"] + PATH,
            headers={"Authorization": f"Bearer {config['api_key']}"},
        )
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            assert response.status == 200
        assert time.monotonic() - started >= 0.2
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
