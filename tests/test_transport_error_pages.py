"""A download answered with an HTML error page is refused, then retried."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from connector_core import Secret
from connector_core.exceptions import SchemaError
from connector_core.http import HTTPTransport, RetryPolicy


async def _no_wait(seconds: float) -> None:
    return None


@pytest.fixture
async def server():
    served = {"count": 0, "pages": 1}

    async def export(request: web.Request) -> web.Response:
        served["count"] += 1
        if served["count"] <= served["pages"]:
            return web.Response(
                text="<html><body>Bad gateway</body></html>\n", content_type="text/html"
            )
        return web.Response(
            body=b'{"n": 1}\n{"n": 2}\n', content_type="application/jsonl"
        )

    app = web.Application()
    app.router.add_get("/export.jsonl", export)
    async with TestServer(app, host="127.0.0.1") as test_server:
        yield test_server, served


async def test_an_html_page_is_retried_and_never_yielded(server):
    test_server, served = server
    async with HTTPTransport(
        str(test_server.make_url("/")), api_key=Secret("sk-test-000000"), sleep=_no_wait
    ) as http:
        lines = [line async for line in http.stream_lines("/export.jsonl")]
        assert http.retries == 1
    assert lines == [b'{"n": 1}', b'{"n": 2}']
    assert served["count"] == 2


async def test_only_error_pages_surface_as_a_schema_error(server):
    test_server, served = server
    served["pages"] = 99
    async with HTTPTransport(
        str(test_server.make_url("/")),
        api_key=Secret("sk-test-000000"),
        sleep=_no_wait,
        retry=RetryPolicy(max_attempts=3),
    ) as http:
        with pytest.raises(SchemaError, match="served text/html, not data"):
            [line async for line in http.stream_lines("/export.jsonl")]
    assert served["count"] == 3
