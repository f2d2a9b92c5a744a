"""Bodies from the outside world: odd JSON and huge pages.

Each case is something a real server (or a broken gateway) can send: a lone
surrogate escape in a JSON page, a page of hundreds of megabytes. Neither
may stop a stream for ever or exhaust memory.
Loopback servers throughout, because the limits act on what arrives on the
socket.
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from connector_core.exceptions import SchemaError
from connector_core.http import HTTPTransport, RetryPolicy


async def _no_wait(seconds: float) -> None:
    return None


def _app(**routes) -> web.Application:
    app = web.Application()
    for name, handler in routes.items():
        app.router.add_get(f"/{name}", handler)
    return app


# -- lone surrogates -------------------------------------------------------------


async def test_a_page_with_a_lone_surrogate_decodes():
    served = 0

    async def page(request: web.Request) -> web.Response:
        nonlocal served
        served += 1
        body = b'{"data": [{"id": "a", "text": "bad \\ud800 here"}, {"id": "b"}]}'
        return web.Response(body=body, content_type="application/json")

    async with (
        TestServer(_app(page=page), host="127.0.0.1") as server,
        HTTPTransport(str(server.make_url("/")), sleep=_no_wait) as http,
    ):
        data = await http.get_json("/page")
        assert http.retries == 0

    assert data == {"data": [{"id": "a", "text": "bad \ud800 here"}, {"id": "b"}]}
    assert served == 1


async def test_a_body_that_is_not_json_is_still_a_retried_schema_error():
    served = 0

    async def page(request: web.Request) -> web.Response:
        nonlocal served
        served += 1
        # A surrogate first, then garbage: the fallback must not accept it.
        return web.Response(body=b'{"a": "\\ud800", "b": NaN, ', content_type="x/y")

    async with (
        TestServer(_app(page=page), host="127.0.0.1") as server,
        HTTPTransport(
            str(server.make_url("/")),
            sleep=_no_wait,
            retry=RetryPolicy(max_attempts=3),
        ) as http,
    ):
        with pytest.raises(SchemaError, match="not JSON"):
            await http.get_json("/page")
    assert served == 3


# -- bounded request bodies ------------------------------------------------------


async def test_a_body_over_max_body_by_content_length_is_refused_unread():
    served = 0

    async def page(request: web.Request) -> web.StreamResponse:
        nonlocal served
        served += 1
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 300 * 1024 * 1024
        await response.prepare(request)
        await response.write(b"[" + b"0," * 1000)
        await asyncio.sleep(5)  # never finishes; the client must not wait
        return response

    async with (
        TestServer(_app(page=page), host="127.0.0.1") as server,
        HTTPTransport(str(server.make_url("/")), sleep=_no_wait) as http,
    ):
        with pytest.raises(SchemaError, match="314572800 bytes") as info:
            await asyncio.wait_for(http.get_json("/page"), 3)
        assert http.requests_made == 1  # final, not retried
    assert "67108864" in str(info.value)
    assert served == 1


async def test_a_chunked_body_over_max_body_stops_being_read():
    written = 0

    async def page(request: web.Request) -> web.StreamResponse:
        nonlocal written
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for _ in range(1000):
                await response.write(b" " * 65536)
                written += 65536
        except (ConnectionError, RuntimeError):
            pass
        return response

    async with (
        TestServer(_app(page=page), host="127.0.0.1") as server,
        HTTPTransport(
            str(server.make_url("/")), sleep=_no_wait, max_body=1024 * 1024
        ) as http,
    ):
        with pytest.raises(SchemaError, match="1048576") as info:
            await http.get_json("/page")
        assert http.requests_made == 1
    assert "more than" in str(info.value)
    assert written < 1000 * 65536


async def test_a_body_within_max_body_is_returned():
    async def page(request: web.Request) -> web.Response:
        return web.json_response({"n": list(range(1000))})

    async with (
        TestServer(_app(page=page), host="127.0.0.1") as server,
        HTTPTransport(str(server.make_url("/")), max_body=64 * 1024) as http,
    ):
        assert (await http.get_json("/page"))["n"][-1] == 999


def test_max_body_must_be_positive():
    from connector_core.exceptions import ConfigurationError  # noqa: PLC0415

    for option in ("max_body",):
        with pytest.raises(ConfigurationError, match=option):
            HTTPTransport("https://api.example.test", **{option: 0})
