"""Credentials and identity headers never follow a redirect.

A pre-signed download link is often on the API's own host and port; an
object store answering it refuses a request that also carries
``Authorization`` ("only one auth mechanism"), and a hostile ``Location``
must collect nothing. So no redirect hop carries ``Authorization``,
``Proxy-Authorization``, ``Cookie``, a caller-named sensitive header or one
of the transport's default headers; only ``User-Agent`` goes on. Shown
against loopback servers, because the headers that matter are those that
reach the socket.
"""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from connector_core.http import USER_AGENT, HTTPTransport
from connector_core.secrets import Secret


KEY = "sk-admin-REDIRECTKEY42"
PRIVATE = ("authorization", "cookie", "x-secret", "openai-organization")


def _seen(request: web.Request) -> dict[str, str | None]:
    return {
        "authorization": request.headers.get("Authorization"),
        "cookie": request.headers.get("Cookie"),
        "x-secret": request.headers.get("X-Secret"),
        "openai-organization": request.headers.get("OpenAI-Organization"),
        "user-agent": request.headers.get("User-Agent"),
    }


@pytest.fixture
async def servers():
    """An API (with a same-origin signed download) and a storage server."""
    seen: dict[str, list[dict[str, str | None]]] = {}
    urls: dict[str, str] = {}

    def record(name: str, request: web.Request) -> None:
        seen.setdefault(name, []).append(_seen(request))

    async def export(request: web.Request) -> web.Response:
        record("export", request)
        signed = "/signed/obj?X-Amz-Signature=ab%2Fcd%3D&X-Amz-Expires=60"
        return web.Response(status=307, headers={"Location": signed})

    async def signed(request: web.Request) -> web.Response:
        record("signed", request)
        if "Authorization" in request.headers:
            # What object stores answer to a second auth mechanism.
            return web.Response(status=400, text="only one auth mechanism")
        return web.Response(body=b'{"n": 1}\n{"n": 2}\n')

    async def page(request: web.Request) -> web.Response:
        record("page", request)
        return web.json_response({"ok": True})

    async def moved(request: web.Request) -> web.Response:
        record("moved", request)
        raise web.HTTPFound("/v1/page")

    async def away(request: web.Request) -> web.Response:
        record("away", request)
        raise web.HTTPTemporaryRedirect(f"{urls['store']}obj")

    async def obj(request: web.Request) -> web.Response:
        record("obj", request)
        return web.json_response({"ok": True})

    api = web.Application()
    api.router.add_get("/v1/export", export)
    api.router.add_get("/signed/obj", signed)
    api.router.add_get("/v1/page", page)
    api.router.add_get("/v1/moved", moved)
    api.router.add_get("/v1/away", away)
    store = web.Application()
    store.router.add_get("/obj", obj)
    async with (
        TestServer(api, host="127.0.0.1") as api_server,
        TestServer(store, host="127.0.0.1") as store_server,
    ):
        urls["api"] = str(api_server.make_url("/"))
        urls["store"] = str(store_server.make_url("/"))
        async with HTTPTransport(
            f"{urls['api']}v1",
            api_key=Secret(KEY),
            headers={
                "X-Secret": "hunter2-token",
                "OpenAI-Organization": "org-1",
                "Cookie": "session=abcdef123",
            },
            sensitive_headers=["x-secret"],
        ) as http:
            yield http, seen, urls


async def test_a_same_origin_signed_download_gets_no_credentials(servers):
    http, seen, _ = servers

    lines = [line async for line in http.stream_lines("/export")]

    assert lines == [b'{"n": 1}', b'{"n": 2}']
    assert seen["export"][0]["authorization"] == f"Bearer {KEY}"
    hop = seen["signed"][0]
    assert all(hop[name] is None for name in PRIVATE), hop
    assert hop["user-agent"] == USER_AGENT


async def test_a_same_origin_redirect_of_a_request_carries_nothing_private(servers):
    http, seen, _ = servers

    assert await http.get_json("/moved") == {"ok": True}

    assert seen["moved"][0]["openai-organization"] == "org-1"
    assert seen["moved"][0]["x-secret"] == "hunter2-token"
    hop = seen["page"][0]
    assert all(hop[name] is None for name in PRIVATE), hop
    assert hop["user-agent"] == USER_AGENT


async def test_default_headers_do_not_cross_origins(servers):
    http, seen, urls = servers

    assert await http.get_json("/away") == {"ok": True}
    assert await http.get_json(f"{urls['store']}obj") == {"ok": True}

    for hop in seen["obj"]:
        assert all(hop[name] is None for name in PRIVATE), hop
        assert hop["user-agent"] == USER_AGENT


async def test_a_per_request_header_of_a_private_name_is_dropped_too(servers):
    http, seen, _ = servers

    await http.get_json("/moved", headers={"OpenAI-Organization": "org-2"})

    assert seen["moved"][0]["openai-organization"] == "org-2"
    assert seen["page"][0]["openai-organization"] is None


async def test_the_addressed_request_to_the_base_origin_gets_everything(servers):
    http, seen, _ = servers

    await http.get_json("/page")

    assert seen["page"][0] == {
        "authorization": f"Bearer {KEY}",
        "cookie": "session=abcdef123",
        "x-secret": "hunter2-token",
        "openai-organization": "org-1",
        "user-agent": USER_AGENT,
    }


async def test_a_callers_session_follows_the_same_rule(servers):
    _, seen, urls = servers
    async with (
        aiohttp.ClientSession() as session,
        HTTPTransport(f"{urls['api']}v1", api_key=Secret(KEY), session=session) as own,
    ):
        lines = [line async for line in own.stream_lines("/export")]

    assert lines == [b'{"n": 1}', b'{"n": 2}']
    assert seen["signed"][0]["authorization"] is None
