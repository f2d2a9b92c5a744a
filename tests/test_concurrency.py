"""Requests in flight: at most the configured number, halved by a 429.

The allowance itself is tested directly; how the transport feeds it (and
how a 429's ``Retry-After`` holds back every request of the transport) with
responses mocked at aiohttp's edge, on virtual time.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aioresponses import aioresponses
from aioresponses import core as aioresponses_core

from connector_core.exceptions import ConfigurationError, RateLimitedError
from connector_core.http import (
    MAX_CONCURRENCY,
    AdaptiveConcurrency,
    ConnectionPace,
    HTTPTransport,
    RetryPolicy,
    concurrency_option,
    rate_limit_option,
)
from connector_core.secrets import Secret


BASE = "https://api.example.test/v1"


# -- the allowance ---------------------------------------------------------


async def test_no_more_than_the_limit_are_in_flight():
    limit = AdaptiveConcurrency(3)
    slots = [await limit.acquire() for _ in range(3)]
    waiting = asyncio.ensure_future(limit.acquire())
    await asyncio.sleep(0)
    assert not waiting.done()
    limit.release(slots[0])
    await asyncio.sleep(0)
    assert waiting.done()
    assert limit.in_flight == 3


async def test_a_429_halves_the_allowance_once_per_round():
    limit = AdaptiveConcurrency(16)
    slots = [await limit.acquire() for _ in range(16)]
    # A burst of 429s answers requests all sent in the same round: one
    # signal, one halving.
    for slot in slots[:5]:
        limit.release(slot, throttled=True)
    assert limit.allowed == 8
    assert limit.backoffs == 1
    # The requests already in flight finish; none is cut off.
    assert limit.in_flight == 11
    for slot in slots[5:]:
        limit.release(slot)
    # A request started after the halving and throttled halves again.
    later = await limit.acquire()
    limit.release(later, throttled=True)
    assert limit.allowed <= 5
    assert limit.backoffs == 2


async def test_success_grows_the_allowance_back_to_the_limit_not_past_it():
    limit = AdaptiveConcurrency(8)
    limit.release(await limit.acquire(), throttled=True)
    limit.release(await limit.acquire(), throttled=True)
    assert limit.allowed == 2
    for _ in range(200):
        limit.release(await limit.acquire())
    assert limit.allowed == 8


async def test_never_below_one():
    limit = AdaptiveConcurrency(2)
    for _ in range(10):
        limit.release(await limit.acquire(), throttled=True)
    assert limit.allowed == 1


async def test_waiters_are_served_in_order_and_a_cancelled_one_loses_no_place():
    limit = AdaptiveConcurrency(1)
    first = await limit.acquire()
    order: list[str] = []

    async def wait(name: str) -> None:
        slot = await limit.acquire()
        order.append(name)
        limit.release(slot)

    a = asyncio.ensure_future(wait("a"))
    b = asyncio.ensure_future(wait("b"))
    c = asyncio.ensure_future(wait("c"))
    await asyncio.sleep(0)
    b.cancel()
    limit.release(first)
    await asyncio.gather(a, c)
    assert order == ["a", "c"]
    assert limit.in_flight == 0


@pytest.mark.parametrize("bad", [0, -3, MAX_CONCURRENCY + 1])
def test_a_limit_out_of_range_is_refused(bad):
    with pytest.raises(ConfigurationError, match="concurrency"):
        AdaptiveConcurrency(bad)


# -- a connection's pace ---------------------------------------------------


def test_a_pace_without_a_known_rate_has_no_budget():
    pace = ConnectionPace(4)
    assert pace.budget is None
    assert pace.concurrency.limit == 4


async def test_a_pace_s_budget_is_one_per_event_loop():
    pace = ConnectionPace(4, rate_limit=20)
    here = pace.budget
    assert here is not None
    assert pace.budget is here  # the transports of this loop share it

    def elsewhere():
        async def budget():
            return pace.budget

        return asyncio.run(budget())

    other = await asyncio.to_thread(elsewhere)
    assert other is not None
    assert other is not here


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_a_rate_limit_that_is_not_a_positive_number_is_refused(bad):
    with pytest.raises(ConfigurationError, match="rate_limit"):
        ConnectionPace(4, rate_limit=bad)


# -- the transport ---------------------------------------------------------


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


def _transport(clock: Clock, limit: AdaptiveConcurrency | None = None) -> HTTPTransport:
    return HTTPTransport(
        BASE,
        api_key=Secret("sk-concurrency-0000"),
        sleep=clock.sleep,
        monotonic=clock.monotonic,
        clock=lambda: 1_700_000_000.0,
        retry=RetryPolicy(jitter=False),
        concurrency=limit,
    )


async def test_a_429_is_counted_and_backs_the_connection_off(mocked):
    clock = Clock()
    limit = AdaptiveConcurrency(8)
    mocked.get(f"{BASE}/x", status=429, headers={"Retry-After": "2"})
    mocked.get(f"{BASE}/x", payload={"ok": True})
    async with _transport(clock, limit) as http:
        assert await http.get_json("/x") == {"ok": True}
        assert http.throttled == 1
    assert limit.backoffs == 1
    assert limit.allowed == 4
    assert limit.in_flight == 0
    assert clock.delays == [2.0]


async def test_a_retry_after_holds_back_the_transport_s_other_requests(mocked):
    clock = Clock()
    mocked.get(f"{BASE}/told", status=429, headers={"Retry-After": "5"})
    mocked.get(f"{BASE}/other", payload={"ok": True})
    async with _transport(clock) as http:
        # The told request gives up at once; the API's word still holds
        # for the next request of the same key.
        with pytest.raises(RateLimitedError):
            await http.request("GET", "/told", retry=RetryPolicy(max_attempts=1))
        assert await http.get_json("/other") == {"ok": True}
    assert clock.delays == [5.0]


async def test_a_request_given_up_releases_its_place(mocked):
    clock = Clock()
    limit = AdaptiveConcurrency(1)
    mocked.get(f"{BASE}/x", status=400, payload={"error": {"message": "no"}})
    mocked.get(f"{BASE}/x", payload={})
    async with _transport(clock, limit) as http:
        with pytest.raises(Exception, match="400"):
            await http.get_json("/x")
        assert await http.get_json("/x") == {}
    assert limit.in_flight == 0
    assert limit.backoffs == 0


# -- the options a config declares ------------------------------------------


@pytest.mark.parametrize(("given", "expected"), [("8", 8), (16, 16), (" 3 ", 3)])
def test_concurrency_option_reads_text_and_numbers(given, expected):
    assert concurrency_option(given) == expected


@pytest.mark.parametrize("bad", ["0", "x", "1000", "", 2.5, None])
def test_concurrency_option_refuses_with_its_name(bad):
    with pytest.raises(ValueError, match="concurrency must be a whole number"):
        concurrency_option(bad)


@pytest.mark.parametrize(
    ("given", "expected"), [(None, None), ("", None), ("20", 20.0), (0.5, 0.5)]
)
def test_rate_limit_option_reads_text_numbers_and_nothing(given, expected):
    assert rate_limit_option(given) == expected


@pytest.mark.parametrize("bad", ["0", "-1", "x", "nan", "inf"])
def test_rate_limit_option_refuses_with_its_name(bad):
    with pytest.raises(ValueError, match="rate_limit must be a positive number"):
        rate_limit_option(bad)
