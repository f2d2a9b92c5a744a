"""Reading one Logs Platform file: what a failed download costs."""

from __future__ import annotations

from contextlib import aclosing

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from aiaudit_chatgpt.files_reader import _read_file
from aiaudit_chatgpt.normalize import Normalizer
from connector_core.exceptions import ConnectorError
from connector_core.http import HTTPTransport, RetryPolicy


async def _no_wait(_seconds: float) -> None:
    return None


async def _drain(batches) -> None:
    async with aclosing(batches) as reading:
        async for _ in reading:
            pass


async def test_a_download_that_never_starts_is_retried_by_the_transport_alone():
    """The transport already retries a download until its first line; the
    file reader adds attempts only for a download broken part-way, so a
    dead file costs the policy's attempts, not that many times three."""
    requests = 0

    async def broken(request: web.Request) -> web.Response:
        nonlocal requests
        requests += 1
        # A gateway's error page with status 200: the transport's retries
        # cover it, as they cover a 503.
        return web.Response(text="<html>Bad gateway</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/file", broken)
    async with TestServer(app, host="127.0.0.1") as server:
        http = HTTPTransport(
            str(server.make_url("")),
            retry=RetryPolicy(max_attempts=2, jitter=False),
            sleep=_no_wait,
        )
        async with http:
            normalizer = Normalizer(organization_id=None, workspace_id="w")
            with pytest.raises(ConnectorError):
                await _drain(_read_file(http, normalizer, "/file", "f"))

    assert requests == 2
