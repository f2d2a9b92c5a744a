"""The rate budget in Redis: one token bucket for every process of a scope."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import toy
from aiohttp import web

from connector_core import shared_budget
from connector_core._concurrency import ConnectionPace
from connector_core._rate_budget import RateBudget
from connector_core.connector import Connector, ConnectorSpec
from connector_core.exceptions import ConfigurationError
from connector_core.http import HTTPTransport
from connector_core.shared_budget import (
    _ACQUIRE,
    RedisRateBudget,
    SharedBudgetError,
    use_shared_budget,
)


WORKER = Path(__file__).with_name("_worker.py")


async def take(budget: RedisRateBudget) -> int:
    """One run of the script: 0 when a token was taken, else the
    microseconds to wait."""
    return await budget._run(
        _ACQUIRE,
        [budget._key, budget._pause_key],
        [repr(budget._rate), str(budget._burst), str(budget._ttl_ms)],
    )


async def test_the_bucket_refills_at_the_rate_and_holds_at_most_the_burst(
    redis_url, prefix
):
    budget = RedisRateBudget(redis_url, "s", 10, 3, prefix=prefix)
    try:
        assert [await take(budget) for _ in range(3)] == [0, 0, 0]
        wait = await take(budget)
        assert 80_000 < wait <= 100_000  # one token at 10/s
        await asyncio.sleep(wait / 1e6)
        assert await take(budget) == 0  # refilled by the wait it was told
        assert await take(budget) > 0
        await asyncio.sleep(1.0)  # ten tokens' worth of time...
        assert [await take(budget) for _ in range(3)] == [0, 0, 0]
        assert await take(budget) > 0  # ...but the bucket holds three
    finally:
        await budget.aclose()


async def test_the_burst_is_one_seconds_worth_by_default(redis_url, prefix):
    budget = RedisRateBudget(redis_url, "s", 5.5, prefix=prefix)
    try:
        assert [await take(budget) for _ in range(5)] == [0] * 5
        assert await take(budget) > 0
    finally:
        await budget.aclose()


async def test_the_servers_clock_is_used_not_the_clients(
    redis_url, prefix, monkeypatch
):
    # The client's clock is an hour off; the bucket still counts from the
    # server's time, and a pause ends by the server's time.
    skewed = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: skewed)
    budget = RedisRateBudget(redis_url, "s", 10, 2, prefix=prefix)
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert await take(budget) == 0
        seconds, micros = await client.time()
        server = seconds * 1_000_000 + micros
        updated = int(await client.hget(budget.key, "updated"))
        assert abs(server - updated) < 2_000_000
        await budget.pause_everywhere(30)
        paused = int(await client.get(f"{budget.key}:paused"))
        assert 29_000_000 < paused - server < 31_000_000
        assert 29_000_000 < await take(budget) <= 30_000_000
        assert 0 < await client.pttl(budget.key) <= 60_000  # expires when idle
    finally:
        await client.aclose()
        await budget.aclose()


async def test_scopes_do_not_share_tokens(redis_url, prefix):
    a = RedisRateBudget(redis_url, "a", 2, 2, prefix=prefix)
    b = RedisRateBudget(redis_url, "b", 2, 2, prefix=prefix)
    try:
        assert [await take(a) for _ in range(2)] == [0, 0]
        assert await take(a) > 0
        assert [await take(b) for _ in range(2)] == [0, 0]
        await a.pause_everywhere(10)
        assert await take(a) > 9_000_000
        await asyncio.sleep(0.5)
        assert await take(b) == 0
    finally:
        await a.aclose()
        await b.aclose()


def run_worker(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *map(str, args)],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_two_processes_together_keep_to_the_rate(redis_url, prefix):
    rate, seconds = 20, 3.0
    start = time.time() + 1.5  # both processes are up by then
    workers = [
        run_worker(redis_url, prefix, "shared", rate, start, seconds) for _ in range(2)
    ]
    outputs = [w.communicate(timeout=30)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0]
    each = [json.loads(out) for out in outputs]
    assert all(len(times) > 10 for times in each)  # both got their share
    taken = sorted(t for times in each for t in times)
    allowed = rate * seconds + rate  # the rate for the time, plus a burst
    assert len(taken) <= allowed
    assert len(taken) >= 0.9 * allowed
    # Nor in any one second: its rate and one burst.
    assert (
        max(sum(1 for t in taken if first <= t < first + 1) for first in taken)
        <= 2 * rate
    )


async def test_a_pause_in_one_process_holds_up_another(redis_url, prefix):
    budget = RedisRateBudget(redis_url, "shared", 50, prefix=prefix)
    try:
        await budget.acquire()  # the bucket exists and is full
        pauser = run_worker("pause", redis_url, prefix, "shared", 50, 1.0)
        pauser.communicate(timeout=30)
        assert pauser.returncode == 0
        began = time.monotonic()
        await budget.acquire()
        assert time.monotonic() - began > 0.7
    finally:
        await budget.aclose()


async def test_a_pause_without_an_await_reaches_the_others(redis_url, prefix):
    one = RedisRateBudget(redis_url, "shared", 50, prefix=prefix)
    other = RedisRateBudget(redis_url, "shared", 50, prefix=prefix)
    try:
        one.pause(0.6)  # as the transport calls it, in a 429's except block
        began = time.monotonic()
        await one.acquire()
        assert time.monotonic() - began > 0.5
        one.pause(0.6)
        await asyncio.sleep(0.05)  # the pause is on the server by now
        began = time.monotonic()
        await other.acquire()
        assert time.monotonic() - began > 0.4
    finally:
        await one.aclose()
        await other.aclose()


class ScopedToy(toy.ToyConnector):
    """A toy whose connections share a budget per organization."""

    def __init__(self, config, *, session=None) -> None:
        super().__init__(config, session=session)
        self.pace = ConnectionPace(4, rate_limit=2)

    def budget_scope(self) -> str:
        return "org-toy"


class UnscopedToy(toy.ToyConnector):
    def __init__(self, config, *, session=None) -> None:
        super().__init__(config, session=session)
        self.pace = ConnectionPace(4, rate_limit=2)


def handle(cls: type, name: str) -> Connector:
    spec = ConnectorSpec.from_class(cls, plugin="tests")
    return Connector(spec, spec.make_config({"token": "t"}), name=name)


async def test_a_declared_scope_makes_connections_share_a_budget(redis_url, prefix):
    use_shared_budget(redis_url)
    first, second = handle(ScopedToy, "one"), handle(ScopedToy, "two")
    assert first.instance.pace.scope == second.instance.pace.scope == "toy:org-toy"
    spent, spare = first.instance.pace.budget, second.instance.pace.budget
    assert isinstance(spent, RedisRateBudget)
    assert spent is spare  # one client for the scope in this process
    alone = [handle(UnscopedToy, name).instance.pace for name in ("one", "two")]
    assert [pace.scope for pace in alone] == ["connection:one", "connection:two"]
    budgets = [pace.budget for pace in alone]
    assert isinstance(budgets[0], RedisRateBudget)
    assert budgets[0].key != budgets[1].key != spent.key
    try:
        # The prefix of the test: rebuild with it, the scope unchanged.
        shared = RedisRateBudget(redis_url, spent.scope, 2, 2, prefix=prefix)
        assert [await take(shared) for _ in range(2)] == [0, 0]
        assert await take(shared) > 0
    finally:
        await shared.aclose()
        for budget in (spent, *budgets):
            assert isinstance(budget, RedisRateBudget)
            await budget.aclose()


async def test_without_a_url_each_process_keeps_its_own_budget(monkeypatch):
    monkeypatch.delenv(shared_budget.REDIS_URL_VARIABLE, raising=False)
    pace = ConnectionPace(4, rate_limit=5, scope="connection:x")
    assert isinstance(pace.budget, RateBudget)
    use_shared_budget("redis://127.0.0.1:1/0")
    assert isinstance(pace.budget, RedisRateBudget)
    assert isinstance(ConnectionPace(4, rate_limit=5).budget, RateBudget)  # no scope
    use_shared_budget(None)
    monkeypatch.setenv(shared_budget.REDIS_URL_VARIABLE, "redis://127.0.0.1:1/0")
    assert isinstance(pace.budget, RateBudget)  # the host's word wins


async def test_the_variable_configures_the_budget(monkeypatch):
    monkeypatch.setenv(shared_budget.REDIS_URL_VARIABLE, "redis://127.0.0.1:1/3")
    pace = ConnectionPace(4, rate_limit=5, scope="connection:x")
    budget = pace.budget
    assert isinstance(budget, RedisRateBudget)
    assert budget.url == "redis://127.0.0.1:1/3"
    await budget.aclose()


async def test_no_password_in_a_repr_or_an_error(redis_url):
    # The server refuses the user; the error quotes the URL, masked.
    secret_url = "redis://nobody:secret@127.0.0.1:6379/0"
    budget = RedisRateBudget(secret_url, "s", 5)
    try:
        assert "secret" not in repr(budget)
        assert "redis://nobody:***@127.0.0.1:6379/0" in repr(budget)
        with pytest.raises(SharedBudgetError) as caught:
            await budget.acquire()
        assert "secret" not in str(caught.value)
        assert "redis://nobody:***@127.0.0.1:6379/0" in str(caught.value)
        assert caught.value.__cause__ is None
        assert caught.value.__context__ is None
    finally:
        await budget.aclose()


async def test_an_unreachable_redis_is_a_clear_error(redis_url):
    budget = RedisRateBudget("redis://:secret@127.0.0.1:1/0", "s", 5)
    began = time.monotonic()
    with pytest.raises(SharedBudgetError) as caught:
        await budget.acquire()
    assert time.monotonic() - began < 10
    message = str(caught.value)
    assert message.startswith(
        "the shared rate budget's Redis at redis://:***@127.0.0.1:1/0 cannot be used"
    )
    assert "secret" not in message
    assert caught.value.__context__ is None  # one message, no traceback
    await budget.aclose()


async def test_a_pause_that_cannot_reach_redis_fails_the_next_acquire():
    budget = RedisRateBudget("redis://127.0.0.1:1/0", "s", 5)
    try:
        budget.pause(0.01)
        with pytest.raises(SharedBudgetError, match=r"127\.0\.0\.1:1/0"):
            await budget.acquire()
    finally:
        await budget.aclose()


def test_a_missing_redis_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'aiaudit\[workers\]'"):
        RedisRateBudget("redis://:secret@127.0.0.1:6379/0", "s", 5)


async def test_a_429_seen_by_one_transport_pauses_another_process(redis_url, prefix):
    answers = iter([429])

    async def handler(request: web.Request) -> web.Response:
        status = next(answers, 200)
        return web.json_response({}, status=status, headers={"Retry-After": "1"})

    app = web.Application()
    app.router.add_get("/x", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    ours = RedisRateBudget(redis_url, "shared", 50, prefix=prefix)
    theirs = RedisRateBudget(redis_url, "shared", 50, prefix=prefix)
    try:
        async with HTTPTransport(f"http://127.0.0.1:{port}", budget=ours) as http:
            sent = asyncio.create_task(http.get_json("/x"))
            await asyncio.sleep(0.3)  # the 429 is in, its pause is shared
            began = time.monotonic()
            await theirs.acquire()  # as another process would
            assert time.monotonic() - began > 0.4
            assert await sent == {}
    finally:
        await ours.aclose()
        await theirs.aclose()
        await runner.cleanup()
