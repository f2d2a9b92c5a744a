"""What a server says about its own errors: ``x-should-retry: false``
stops the retries a status would otherwise get, the request id is read
from ``request-id`` as well as ``x-request-id``, and an error named only by
its ``type`` keeps that type as its code."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from connector_core.exceptions import RateLimitedError, ServerError
from connector_core.http import HTTPTransport, RetryPolicy
from connector_core.secrets import Secret


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def _server(responses: list[web.Response]) -> tuple[TestServer, list[int]]:
    calls: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        calls.append(1)
        return responses[min(len(calls), len(responses)) - 1]

    app = web.Application()
    app.router.add_get("/x", handler)
    return TestServer(app), calls


def _error(status: int, kind: str, headers: dict[str, str]) -> web.Response:
    body = {"type": "error", "error": {"type": kind, "message": "no"}}
    return web.json_response(body, status=status, headers=headers)


async def _get(server: TestServer, sleeps: Sleeps) -> object:
    base = str(server.make_url(""))
    policy = RetryPolicy(max_attempts=3, jitter=False)
    async with HTTPTransport(
        base, api_key=Secret("k-1234567890"), retry=policy, sleep=sleeps
    ) as http:
        return await http.get_json("/x")


async def test_should_retry_false_stops_a_server_error_at_once():
    verdict = {"x-should-retry": "false", "request-id": "req_abc"}
    server, calls = _server([_error(500, "api_error", verdict)])
    sleeps = Sleeps()
    async with server:
        with pytest.raises(ServerError) as info:
            await _get(server, sleeps)
    assert len(calls) == 1
    assert sleeps.delays == []
    assert info.value.request_id == "req_abc"
    assert info.value.code == "api_error"


async def test_a_server_error_without_the_verdict_is_retried():
    ok = web.json_response({"ok": True})
    server, calls = _server([_error(500, "api_error", {}), ok])
    sleeps = Sleeps()
    async with server:
        assert await _get(server, sleeps) == {"ok": True}
    assert len(calls) == 2


async def test_should_retry_false_on_a_429_is_final_too():
    headers = {"x-should-retry": "False", "retry-after": "1"}
    server, calls = _server([_error(429, "rate_limit_error", headers)])
    sleeps = Sleeps()
    async with server:
        with pytest.raises(RateLimitedError) as info:
            await _get(server, sleeps)
    assert len(calls) == 1
    assert info.value.code == "rate_limit_error"
