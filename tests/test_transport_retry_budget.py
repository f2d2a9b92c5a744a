"""Retries run on a time budget, not an attempt count.

At 30 % server errors a run of five failures in a row is a matter of time,
so a count of five attempts stops long streams; a budget of minutes rides
such runs out while still ending a real outage. All on virtual time: the
transport's sleep advances an injected monotonic clock.
"""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest
from aioresponses import aioresponses
from aioresponses import core as aioresponses_core

from connector_core.exceptions import RateLimitedError, ServerError, TransportError
from connector_core.http import HTTPTransport, RetryPolicy, retry_policy_override
from connector_core.secrets import Secret


BASE = "https://api.example.test/v1"
URL_X = f"{BASE}/x"


class _MockedResponse(aioresponses_core.ClientResponse):  # type: ignore[misc]
    """aiohttp 3.14 needs a ``stream_writer``; aioresponses 0.7.9 omits it."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(*args, **kwargs)


@pytest.fixture
def mocked(monkeypatch):
    monkeypatch.setattr(aioresponses_core, "ClientResponse", _MockedResponse)
    with aioresponses() as m:
        yield m


class Clock:
    """Virtual monotonic time that only the transport's sleeps advance."""

    def __init__(self) -> None:
        self.now = 0.0
        self.delays: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        self.now += delay


def transport(clock: Clock, policy: RetryPolicy | None = None) -> HTTPTransport:
    return HTTPTransport(
        BASE,
        api_key=Secret("sk-budget-000000"),
        retry=policy,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
        clock=lambda: 1_700_000_000.0,
    )


def test_the_default_policy_is_limited_by_time_only():
    policy = RetryPolicy()
    assert policy.max_attempts is None
    assert policy.max_elapsed == 300.0
    with pytest.raises(ValueError, match="max_elapsed"):
        RetryPolicy(max_elapsed=-1.0)
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


async def test_a_run_of_server_errors_longer_than_five_is_ridden_out(mocked):
    clock = Clock()
    for _ in range(9):
        mocked.get(URL_X, status=503)
    mocked.get(URL_X, payload={"ok": True})

    async with transport(clock, RetryPolicy(jitter=False)) as http:
        assert await http.get_json("/x") == {"ok": True}
        assert (http.requests_made, http.retries) == (10, 9)
    assert sum(clock.delays) <= 300.0


async def test_an_outage_ends_when_the_budget_is_spent_never_beyond_it(mocked):
    clock = Clock()
    mocked.get(URL_X, status=502, repeat=True)
    policy = RetryPolicy(max_elapsed=60.0, backoff_base=1.0, backoff_max=8.0)

    async with transport(clock, policy) as http:
        with pytest.raises(ServerError):
            await http.get_json("/x")
        made = http.requests_made

    assert clock.now <= 60.0
    assert all(0.0 <= delay <= 8.0 for delay in clock.delays)
    # Jittered waits below an 8 s cap: many more than five attempts fit.
    assert made > 5


async def test_a_wait_that_would_end_past_the_budget_fails_at_once(mocked):
    clock = Clock()
    mocked.get(URL_X, status=429, headers={"Retry-After": "8"}, repeat=True)

    async with transport(clock, RetryPolicy(max_elapsed=20.0)) as http:
        with pytest.raises(RateLimitedError) as info:
            await http.get_json("/x")

    # 0 -> 8 -> 16; a third wait would end at 24, past 20: raised instead.
    assert clock.delays == [8.0, 8.0]
    assert info.value.retry_after == 8.0


async def test_time_spent_in_attempts_counts_against_the_budget(mocked):
    clock = Clock()

    def slow(url, **kwargs):
        clock.now += 25.0  # each attempt takes 25 s before failing

    mocked.get(URL_X, status=500, callback=slow, repeat=True)

    async with transport(clock, RetryPolicy(max_elapsed=60.0, jitter=False)) as http:
        with pytest.raises(ServerError):
            await http.get_json("/x")
        # Failures at 25 and 50.5 s, waits of 0.5 and 1 s; the third attempt
        # fails at 76.5 s, past the budget, so no further wait is begun.
        assert http.requests_made == 3
    assert clock.delays == [0.5, 1.0]


async def test_retry_after_above_the_cap_still_raises_at_once(mocked):
    clock = Clock()
    mocked.get(URL_X, status=429, headers={"Retry-After": "121"}, repeat=True)

    async with transport(clock) as http:
        with pytest.raises(RateLimitedError):
            await http.get_json("/x")
        assert http.requests_made == 1
    assert clock.delays == []


async def test_an_attempt_cap_still_applies(mocked):
    clock = Clock()
    mocked.get(URL_X, status=503, repeat=True)

    async with transport(clock, RetryPolicy(max_attempts=3, jitter=False)) as http:
        with pytest.raises(ServerError):
            await http.get_json("/x")
        assert http.requests_made == 3
    assert clock.delays == [0.5, 1.0]


async def test_a_single_attempt_override_still_means_one_attempt(mocked):
    clock = Clock()
    mocked.get(URL_X, exception=ConnectionResetError("reset"), repeat=True)

    with retry_policy_override(RetryPolicy(max_attempts=1)):
        http = transport(clock)
    async with http:
        with pytest.raises(TransportError):
            await http.get_json("/x")
        assert http.requests_made == 1
    assert clock.delays == []


async def test_an_instant_sleep_on_a_real_clock_still_ends_the_retries(mocked):
    """A test or host may inject a sleep that returns at once; the waits it
    was asked for still count, so an outage cannot spin for ever."""
    mocked.get(URL_X, status=503, repeat=True)
    asked: list[float] = []

    async def instant(delay: float) -> None:
        asked.append(delay)

    policy = RetryPolicy(max_elapsed=10.0, jitter=False)
    async with HTTPTransport(BASE, retry=policy, sleep=instant) as http:
        with pytest.raises(ServerError):
            await http.get_json("/x")

    assert asked == [0.5, 1.0, 2.0, 4.0]  # 7.5 s; 8 more would pass 10


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_host_that_refuses_is_retried_only_briefly():
    """A refused connection is far more often a wrong URL or a service that
    is down than a blip: a few seconds of retries ride out a restart, five
    minutes would only delay the one-line error a person needs."""
    clock = Clock()
    base = f"http://127.0.0.1:{_closed_port()}/v1"
    async with HTTPTransport(
        base,
        retry=RetryPolicy(jitter=False),
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    ) as http:
        with pytest.raises(TransportError, match="Cannot connect"):
            await http.get_json("/x")
        assert http.requests_made == 5
    # 0.5 + 1 + 2 + 4 = 7.5 s; a further 8 s would pass the 10 s budget.
    assert clock.delays == [0.5, 1.0, 2.0, 4.0]
    assert RetryPolicy().max_connect_elapsed == 10.0


async def test_the_connect_budget_counts_from_the_first_refusal(mocked):
    clock = Clock()
    for _ in range(6):
        mocked.get(URL_X, status=503)
    mocked.get(URL_X, exception=ConnectionRefusedError("refused"))
    mocked.get(URL_X, payload={"ok": True})

    async with transport(clock, RetryPolicy(jitter=False)) as http:
        # 6 failures and waits of 0.5..16 s = 31.5 s, beyond the connect
        # budget; a refusal after them still gets its retry.
        assert await http.get_json("/x") == {"ok": True}
