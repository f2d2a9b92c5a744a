"""Bodies from the outside world: odd JSON, huge pages, huge lines, drips.

Each case is something a real server (or a broken gateway) can send: a lone
surrogate escape in a JSON page, a page of hundreds of megabytes, a line
without a newline for tens of megabytes, a download dripping one byte at a
time. None may stop a stream for ever, exhaust memory or hang a sync.
Loopback servers throughout, because the limits act on what arrives on the
socket.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from contextlib import aclosing

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from connector_core.exceptions import ConnectorTimeoutError, SchemaError
from connector_core.http import HTTPTransport, OversizedLine, RetryPolicy


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


async def test_a_head_request_is_not_judged_by_the_size_it_announces():
    async def page(request: web.Request) -> web.Response:
        return web.Response(headers={"Content-Length": str(300 * 1024 * 1024)})

    app = web.Application()
    app.router.add_route("HEAD", "/page", page)
    async with (
        TestServer(app, host="127.0.0.1") as server,
        HTTPTransport(str(server.make_url("/"))) as http,
    ):
        response = await http.request("HEAD", "/page", expect_json=False)
    assert (response.status, response.body) == (200, b"")


def test_max_body_and_max_line_must_be_positive():
    from connector_core.exceptions import ConfigurationError  # noqa: PLC0415

    for option in ("max_body", "max_line"):
        with pytest.raises(ConfigurationError, match=option):
            HTTPTransport("https://api.example.test", **{option: 0})


# -- bounded lines ---------------------------------------------------------------


def test_the_splitter_never_holds_much_more_than_the_cap():
    from connector_core._lines import LineSplitter  # noqa: PLC0415

    cap = 1024 * 1024
    splitter = LineSplitter(max_line=cap)
    chunk = b"x" * 65536
    lines: list[bytes] = []
    tracemalloc.start()
    try:
        lines += splitter.feed(b"first\n")
        for _ in range(50 * 1024 * 1024 // len(chunk)):
            lines += splitter.feed(chunk)
            assert splitter.buffered <= cap + len(chunk)
        lines += splitter.feed(b"xx\r\nnext\nlast")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    tail = splitter.finish()

    assert peak < 4 * cap
    assert lines[0] == b"first"
    oversized = lines[1]
    assert isinstance(oversized, OversizedLine)
    assert oversized.size == 50 * 1024 * 1024 + 2
    assert oversized == b"x" * OversizedLine.EVIDENCE
    assert lines[2:] == [b"next"]
    assert tail == b"last"
    assert type(tail) is bytes


def test_a_long_line_inside_one_chunk_is_cut_the_same_way():
    from connector_core._lines import LineSplitter  # noqa: PLC0415

    splitter = LineSplitter(max_line=10)
    lines = splitter.feed(b"short\n" + b"y" * 11 + b"\nok\n" + b"z" * 30)
    tail = splitter.finish()

    assert lines[0] == b"short"
    assert isinstance(lines[1], OversizedLine)
    assert (lines[1].size, bytes(lines[1])) == (11, b"y" * 10)
    assert lines[2] == b"ok"
    assert isinstance(tail, OversizedLine)
    assert tail.size == 30


async def test_lines_after_an_oversized_line_still_arrive():
    async def export(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/jsonl"})
        await response.prepare(request)
        await response.write(b'{"n": 1}\n{"big": "')
        for _ in range(16):
            await response.write(b"a" * 256 * 1024)
        await response.write(b'"}\n{"n": 2}\n')
        await response.write_eof()
        return response

    async with (
        TestServer(_app(export=export), host="127.0.0.1") as server,
        HTTPTransport(str(server.make_url("/")), max_line=1024 * 1024) as http,
        aclosing(http.stream_lines("/export")) as stream,
    ):
        lines = [line async for line in stream]

    assert lines[0] == b'{"n": 1}'
    big = lines[1]
    assert isinstance(big, OversizedLine)
    assert big.size == len(b'{"big": "') + 16 * 256 * 1024 + len(b'"}')
    assert big.startswith(b'{"big": "aaa')
    assert len(big) == OversizedLine.EVIDENCE
    assert lines[2:] == [b'{"n": 2}']


# -- drip-fed downloads ----------------------------------------------------------


def _drip(first: bytes, every: float, piece: bytes):
    async def export(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/jsonl"})
        await response.prepare(request)
        await response.write(first)
        try:
            for _ in range(10_000):
                await asyncio.sleep(every)
                await response.write(piece)
        except (ConnectionError, RuntimeError):
            pass
        return response

    return export


async def test_a_drip_fed_download_is_cut_below_the_minimum_rate():
    export = _drip(b"one\ntwo\n", 0.05, b"x")
    loop = asyncio.get_running_loop()
    async with (
        TestServer(_app(export=export), host="127.0.0.1") as server,
        HTTPTransport(
            str(server.make_url("/")),
            timeout=5.0,
            stream_min_bytes=100,
            stream_window=0.5,
        ) as http,
    ):
        lines: list[bytes] = []

        async def read() -> None:
            async for line in http.stream_lines("/export"):
                lines.append(line)  # noqa: PERF401 (kept when the stream breaks)

        started = loop.time()
        with pytest.raises(ConnectorTimeoutError) as info:
            await read()
        took = loop.time() - started

    assert lines == [b"one", b"two"]
    message = str(info.value)
    assert "after 2 lines" in message
    assert "100 bytes" in message
    assert took < 3.0


async def test_a_download_past_its_deadline_is_cut():
    export = _drip(b"one\n", 0.02, b"y" * 4096 + b"\n")
    loop = asyncio.get_running_loop()
    async with (
        TestServer(_app(export=export), host="127.0.0.1") as server,
        HTTPTransport(
            str(server.make_url("/")),
            timeout=5.0,
            stream_deadline=0.8,
            stream_min_bytes=100,
            stream_window=0.2,
        ) as http,
    ):
        count = 0

        async def read() -> None:
            nonlocal count
            async for _ in http.stream_lines("/export"):
                count += 1

        started = loop.time()
        with pytest.raises(ConnectorTimeoutError, match="deadline") as info:
            await read()
        took = loop.time() - started

    assert f"after {count} lines" in str(info.value)
    assert count > 5
    assert 0.7 < took < 3.0


async def test_a_slow_consumer_is_not_blamed_on_the_server():
    """Time the caller spends with a line is not the server's: only waits
    for data count against the rate and the deadline."""

    async def export(request: web.Request) -> web.Response:
        return web.Response(body=b"".join(b"%d\n" % n for n in range(6)))

    async with (
        TestServer(_app(export=export), host="127.0.0.1") as server,
        HTTPTransport(
            str(server.make_url("/")),
            stream_deadline=0.3,
            stream_min_bytes=10_000,
            stream_window=0.1,
        ) as http,
    ):
        lines = []
        async for line in http.stream_lines("/export"):
            lines.append(line)
            await asyncio.sleep(0.1)

    assert len(lines) == 6
