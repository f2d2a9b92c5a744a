"""The shared HTTP transport: retries, errors, redirects, streaming, secrets.

Most tests run against aioresponses with an injected sleep that returns at
once and records what it was asked to wait, so retry timing is asserted
without waiting. Behaviour that lives below aiohttp's request call
(redirect headers, incremental bodies, proxies, real timeouts) is shown
against loopback servers instead.
"""

from __future__ import annotations

import asyncio
import base64
import heapq
import math
from contextlib import aclosing
from datetime import UTC, datetime
from email.utils import format_datetime
from types import SimpleNamespace

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aioresponses import aioresponses
from aioresponses import core as aioresponses_core
from multidict import CIMultiDict
from structlog.testing import capture_logs
from yarl import URL

import connector_core._proxies
from connector_core._retry import parse_retry_after
from connector_core.exceptions import (
    AuthenticationError,
    BadRequestError,
    ConnectorTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    SchemaError,
    ServerError,
    TransportError,
)
from connector_core.http import (
    USER_AGENT,
    HTTPTransport,
    RateBudget,
    Response,
    RetryPolicy,
    encode_params,
    retry_policy_override,
)
from connector_core.secrets import Secret


BASE = "https://api.example.test/v1"
URL_X = f"{BASE}/x"
KEY = "sk-admin-SECRETVALUE123"
NOW = 1_700_000_000.0
# Five attempts, as these tests count them; the default policy is limited by
# time instead (see test_transport_retry_budget.py).
NO_JITTER = RetryPolicy(max_attempts=5, jitter=False)


class Sleeps:
    """A sleep that returns at once and remembers what it was asked."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class VirtualTime:
    """A clock and sleep for concurrent tasks, advanced only when all idle.

    Sleepers wake in deadline order; time jumps to the next deadline once
    every task has run as far as it can, so concurrent waits interleave as
    they would in real time, only instantly.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.requested: list[float] = []
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return NOW + self.now

    async def sleep(self, delay: float) -> None:
        self.requested.append(delay)
        future = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._sleepers, (self.now + delay, self._seq, future))
        await future

    async def run_until(self, done) -> None:
        while True:
            for _ in range(50):
                await asyncio.sleep(0)
            if done():
                return
            assert self._sleepers, "nothing to wake: the tasks are stuck"
            wake, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake)
            future.set_result(None)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


class _MockedResponse(aiohttp.ClientResponse):
    """A response aioresponses can build against aiohttp 3.14.

    aiohttp 3.14 made ``stream_writer`` a required constructor argument and
    reads its ``output_size`` when the request is already sent; aioresponses
    0.7.9 does not pass it yet.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(*args, **kwargs)


@pytest.fixture
def mocked(monkeypatch):
    monkeypatch.setattr(aioresponses_core, "ClientResponse", _MockedResponse)
    with aioresponses() as m:
        yield m


@pytest.fixture
async def http(sleeps):
    async with HTTPTransport(
        BASE, api_key=Secret(KEY), sleep=sleeps, clock=lambda: NOW, retry=NO_JITTER
    ) as transport:
        yield transport


def sent_headers(mocked, method: str, url: str, index: int = 0) -> CIMultiDict[str]:
    return CIMultiDict(mocked.requests[(method, URL(url))][index].kwargs["headers"])


def openai_error(message: str, code: str | None) -> dict[str, object]:
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": None,
            "code": code,
        }
    }


# -- Retry-After ---------------------------------------------------------------


@pytest.mark.parametrize(("header", "expected"), [("3", 3.0), ("2.5", 2.5)])
async def test_retry_after_seconds_is_honoured(http, mocked, sleeps, header, expected):
    mocked.get(URL_X, status=429, headers={"Retry-After": header})
    mocked.get(URL_X, payload={"ok": True})

    assert await http.get_json("/x") == {"ok": True}

    assert sleeps.delays == [expected]
    assert (http.requests_made, http.retries) == (2, 1)


async def test_retry_after_ms_wins_over_seconds(http, mocked, sleeps):
    headers = {"retry-after-ms": "250", "Retry-After": "9"}
    mocked.get(URL_X, status=429, headers=headers)
    mocked.get(URL_X, payload={})

    await http.get_json("/x")

    assert sleeps.delays == [0.25]


@pytest.mark.parametrize(("offset", "expected"), [(7, 7.0), (-30, 0.0)])
async def test_retry_after_http_date_is_honoured(
    http, mocked, sleeps, offset, expected
):
    when = format_datetime(datetime.fromtimestamp(NOW + offset, UTC), usegmt=True)
    mocked.get(URL_X, status=503, headers={"Retry-After": when})
    mocked.get(URL_X, payload={})

    await http.get_json("/x")

    assert sleeps.delays == [expected]


async def test_retry_after_above_the_cap_fails_at_once(http, mocked, sleeps):
    mocked.get(URL_X, status=429, headers={"Retry-After": "3600"}, repeat=True)

    with pytest.raises(RateLimitedError) as info:
        await http.get_json("/x")

    assert info.value.retry_after == 3600.0
    assert sleeps.delays == []
    assert http.requests_made == 1


async def test_429_until_attempts_run_out(http, mocked, sleeps):
    body = openai_error("Rate limit reached for requests", "rate_limit_exceeded")
    mocked.get(
        URL_X, status=429, headers={"Retry-After": "1"}, payload=body, repeat=True
    )

    with pytest.raises(RateLimitedError) as info:
        await http.get_json("/x")

    assert info.value.status == 429
    assert info.value.retry_after == 1.0
    assert info.value.code == "rate_limit_exceeded"
    assert sleeps.delays == [1.0] * 4
    assert (http.requests_made, http.retries) == (5, 4)


async def test_a_retry_override_applies_to_transports_made_inside_it(mocked, sleeps):
    mocked.get(URL_X, status=503, payload={}, repeat=True)
    with retry_policy_override(RetryPolicy(max_attempts=1)):
        inside = HTTPTransport(BASE, sleep=sleeps, retry=RetryPolicy(max_attempts=4))

        async def made_in_a_task() -> HTTPTransport:
            return HTTPTransport(BASE, sleep=sleeps)

        in_task = await asyncio.create_task(made_in_a_task())
    outside = HTTPTransport(BASE, sleep=sleeps, retry=RetryPolicy(max_attempts=3))

    for http, attempts in ((inside, 1), (in_task, 1), (outside, 3)):
        async with http:
            with pytest.raises(ServerError):
                await http.get_json("/x")
        assert http.requests_made == attempts


def test_parse_retry_after_edge_cases():
    def parse(**headers: str) -> float | None:
        return parse_retry_after(CIMultiDict(headers), now=NOW)

    assert parse() is None
    assert parse(**{"Retry-After": "soon"}) is None
    assert parse(**{"Retry-After": "-5"}) is None
    assert parse(**{"Retry-After": "nan"}) is None
    assert parse(**{"Retry-After": "inf"}) == math.inf
    assert parse(**{"Retry-After": " 4 "}) == 4.0
    assert parse(**{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


# -- backoff and server errors -------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
async def test_server_errors_are_retried_then_raised(http, mocked, sleeps, status):
    mocked.get(URL_X, status=status, body="upstream failed", repeat=True)

    with pytest.raises((ServerError, BadRequestError)) as info:
        await http.get_json("/x")

    assert info.value.status == status
    assert isinstance(info.value, ServerError) == (status >= 500)
    assert http.requests_made == 5
    assert sleeps.delays == [0.5, 1.0, 2.0, 4.0]


async def test_a_server_error_then_success_recovers(http, mocked):
    mocked.get(URL_X, status=502)
    mocked.get(URL_X, status=503)
    mocked.get(URL_X, payload={"data": [1]})

    assert await http.get_json("/x") == {"data": [1]}
    assert http.retries == 2


async def test_backoff_without_header_grows_and_is_capped(mocked, sleeps):
    policy = RetryPolicy(
        max_attempts=8, backoff_base=0.5, backoff_max=4.0, jitter=False
    )
    mocked.get(URL_X, status=500, repeat=True)

    async with HTTPTransport(BASE, sleep=sleeps, retry=policy) as http:
        with pytest.raises(ServerError):
            await http.get_json("/x")

    assert sleeps.delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


def test_jittered_backoff_stays_below_the_growing_cap():
    policy = RetryPolicy(backoff_base=0.5, backoff_max=30.0)
    ceilings: list[float] = []

    def top(low: float, high: float) -> float:
        assert low == 0.0
        ceilings.append(high)
        return high

    for index in range(10):
        policy.backoff(index, uniform=top)
        assert 0.0 <= policy.backoff(index) <= ceilings[-1]

    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]
    assert policy.backoff(10_000, uniform=top) == 30.0


def test_retry_policy_defaults_and_validation():
    policy = RetryPolicy()
    assert policy.max_attempts is None
    assert policy.max_elapsed == 300.0
    assert policy.retry_statuses == frozenset({408, 429, 500, 502, 503, 504})
    assert (policy.backoff_base, policy.backoff_max, policy.max_retry_after) == (
        0.5,
        30.0,
        120.0,
    )
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="backoff_max"):
        RetryPolicy(backoff_max=-1.0)


# -- connection failures and timeouts ------------------------------------------


async def test_connection_reset_is_retried_then_transport_error(http, mocked, sleeps):
    mocked.get(URL_X, exception=aiohttp.ServerDisconnectedError(), repeat=True)

    with pytest.raises(TransportError) as info:
        await http.get_json("/x")

    assert type(info.value) is TransportError
    assert isinstance(info.value.__cause__, aiohttp.ServerDisconnectedError)
    assert http.requests_made == 5
    assert len(sleeps.delays) == 4


async def test_os_level_reset_then_success_recovers(http, mocked):
    reset = aiohttp.ClientOSError(104, "Connection reset by peer")
    mocked.get(URL_X, exception=reset)
    mocked.get(URL_X, exception=ConnectionResetError(104, "reset"))
    mocked.get(URL_X, payload={"ok": 1})

    assert await http.get_json("/x") == {"ok": 1}
    assert http.retries == 2


@pytest.mark.parametrize(
    "error", [TimeoutError(), aiohttp.ServerTimeoutError("read timed out")]
)
async def test_timeout_is_retried_then_connector_timeout(http, mocked, error):
    mocked.get(URL_X, exception=error, repeat=True)

    with pytest.raises(ConnectorTimeoutError) as info:
        await http.get_json("/x")

    assert info.value.__cause__ is error
    assert http.requests_made == 5


async def test_a_real_slow_server_times_out(sleeps):
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await asyncio.wait_for(release.wait(), 5)
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/v1/slow", slow)
    async with (
        TestServer(app, host="127.0.0.1") as server,
        aiohttp.ClientSession() as s,
    ):
        base = str(server.make_url("/v1"))
        policy = RetryPolicy(max_attempts=2, jitter=False)
        async with HTTPTransport(
            base, timeout=0.05, session=s, sleep=sleeps, retry=policy
        ) as http:
            with pytest.raises(ConnectorTimeoutError):
                await http.get_json("/slow")
        release.set()

    assert http.requests_made == 2
    assert sleeps.delays == [0.5]


def test_timeout_must_be_positive():
    with pytest.raises(Exception, match="timeout"):
        HTTPTransport(BASE, timeout=0)


# -- bodies that are not JSON --------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"data": [{"id": "a"}, {"id": "b"', "application/json"),
        ("<html><body>Bad gateway, try later</body></html>", "text/html"),
        ("", "application/json"),
    ],
)
async def test_undecodable_200_is_retried_then_schema_error(
    http, mocked, sleeps, body, content_type
):
    mocked.get(URL_X, status=200, body=body, content_type=content_type, repeat=True)

    with pytest.raises(SchemaError) as info:
        await http.get_json("/x")

    assert isinstance(info.value.__cause__, orjson.JSONDecodeError)
    assert content_type in str(info.value)
    assert http.requests_made == 5
    assert len(sleeps.delays) == 4


async def test_undecodable_200_recovers_when_the_next_attempt_is_good(http, mocked):
    mocked.get(URL_X, body="<html>maintenance</html>", content_type="text/html")
    mocked.get(URL_X, payload={"data": []})

    assert await http.get_json("/x") == {"data": []}
    assert http.retries == 1


async def test_expect_json_false_returns_raw_bytes(http, mocked):
    mocked.get(URL_X, body="<html>not json</html>", content_type="text/html")

    response = await http.request("GET", "/x", expect_json=False)

    assert response.body == b"<html>not json</html>"
    assert response.data is None
    assert http.retries == 0


# -- errors that are never retried ---------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        (400, BadRequestError, "invalid_value"),
        (401, AuthenticationError, "invalid_api_key"),
        (403, PermissionDeniedError, "insufficient_permissions"),
        (404, NotFoundError, None),
        (409, BadRequestError, "conflict"),
        (422, BadRequestError, "unprocessable"),
    ],
)
async def test_client_errors_are_raised_at_once(http, mocked, sleeps, case):
    status, error_class, code = case
    mocked.get(
        URL_X,
        status=status,
        payload=openai_error(f"the API says no ({status})", code),
        headers={"x-request-id": "req_123"},
        repeat=True,
    )

    with pytest.raises(error_class) as info:
        await http.get_json("/x")

    error = info.value
    assert type(error) is error_class
    assert error.status == status
    assert error.code == code
    assert error.request_id == "req_123"
    assert error.url == URL_X
    assert f"the API says no ({status})" in str(error)
    assert http.requests_made == 1
    assert sleeps.delays == []


async def test_an_error_body_that_is_not_json_still_explains_itself(http, mocked):
    mocked.get(
        URL_X,
        status=404,
        reason="Not Found",
        body="<html>no such page</html>",
        content_type="text/html",
    )

    with pytest.raises(NotFoundError) as info:
        await http.get_json("/x")

    assert "Not Found: <html>no such page</html>" in str(info.value)
    assert info.value.code is None


# -- request shape -------------------------------------------------------------


def test_encode_params():
    assert encode_params(
        {
            "limit": 100,
            "event_types[]": ["login.failed", "api_key.created"],
            "include_archived": False,
            "tenant_only": True,
            "after": None,
            "ratio": 0.5,
            "emails": ("a@x", None, "b@x"),
        }
    ) == [
        ("limit", "100"),
        ("event_types[]", "login.failed"),
        ("event_types[]", "api_key.created"),
        ("include_archived", "false"),
        ("tenant_only", "true"),
        ("ratio", "0.5"),
        ("emails", "a@x"),
        ("emails", "b@x"),
    ]
    assert encode_params([("k", 1), ("k", 2), ("j", None)]) == [("k", "1"), ("k", "2")]
    assert encode_params(None) == []


async def test_params_arrive_on_the_wire_in_order():
    seen: list[tuple[str, list[tuple[str, str]]]] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append((request.rel_url.raw_query_string, list(request.query.items())))
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/v1/audit_logs", echo)
    async with (
        TestServer(app, host="127.0.0.1") as server,
        aiohttp.ClientSession() as s,
        HTTPTransport(str(server.make_url("/v1")), session=s) as http,
    ):
        await http.get_json(
            "/audit_logs",
            params=[
                ("event_types[]", ["login.failed", "logout.failed"]),
                ("limit", 100),
                ("tenant_only", True),
                ("after", None),
            ],
        )

    raw, pairs = seen[0]
    assert raw == (
        "event_types%5B%5D=login.failed&event_types%5B%5D=logout.failed"
        "&limit=100&tenant_only=true"
    )
    assert pairs == [
        ("event_types[]", "login.failed"),
        ("event_types[]", "logout.failed"),
        ("limit", "100"),
        ("tenant_only", "true"),
    ]


async def test_auth_user_agent_and_default_headers(mocked, sleeps):
    mocked.get(URL_X, payload={})
    headers = {"OpenAI-Organization": "org-1"}

    async with HTTPTransport(BASE, api_key=Secret(KEY), headers=headers) as http:
        await http.get_json("/x", headers={"X-Extra": "1"})

    sent = sent_headers(mocked, "GET", URL_X)
    assert sent["Authorization"] == f"Bearer {KEY}"
    assert sent["OpenAI-Organization"] == "org-1"
    assert sent["X-Extra"] == "1"
    assert sent["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("aiaudit/")
    assert KEY not in repr(http)


async def test_request_posts_json_and_returns_a_response(http, mocked):
    mocked.post(URL_X, status=201, payload={"id": "obj_1"}, headers={"X-A": "b"})

    response = await http.request("post", "/x", json={"name": "n"})

    assert isinstance(response, Response)
    assert (response.status, response.data) == (201, {"id": "obj_1"})
    assert response.headers["x-a"] == "b"
    assert response.url == URL(URL_X)
    call = mocked.requests[("POST", URL(URL_X))][0]
    assert call.kwargs["data"] == b'{"name":"n"}'
    assert sent_headers(mocked, "POST", URL_X)["Content-Type"] == "application/json"


async def test_request_posts_a_form_as_an_oauth_token_endpoint_takes_it(http, mocked):
    mocked.post(URL_X, status=200, payload={"access_token": "t", "expires_in": 3599})

    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    response = await http.request(
        "POST", "/x", form={"grant_type": grant, "assertion": "a.b+c/d="}
    )

    assert response.data == {"access_token": "t", "expires_in": 3599}
    call = mocked.requests[("POST", URL(URL_X))][0]
    assert call.kwargs["data"] == (
        b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
        b"&assertion=a.b%2Bc%2Fd%3D"
    )
    sent = sent_headers(mocked, "POST", URL_X)
    assert sent["Content-Type"] == "application/x-www-form-urlencoded"


async def test_a_request_has_one_body(http):
    with pytest.raises(ValueError, match="json or form, not both"):
        await http.request("POST", "/x", json={}, form={"a": "b"})


async def test_a_per_request_policy_overrides_the_transport_policy(http, mocked):
    mocked.post(URL_X, status=503, repeat=True)
    mocked.get(URL_X, status=409, repeat=True)

    with pytest.raises(ServerError):
        await http.request("POST", "/x", json={}, retry=RetryPolicy(max_attempts=1))
    assert http.requests_made == 1

    conflicts = RetryPolicy(max_attempts=2, retry_statuses={409}, jitter=False)
    with pytest.raises(BadRequestError):
        await http.request("GET", "/x", retry=conflicts)
    assert http.requests_made == 3


async def test_no_content_has_no_data(http, mocked):
    mocked.delete(URL_X, status=204)

    response = await http.request("DELETE", "/x")

    assert (response.status, response.data, response.body) == (204, None, b"")


# -- sessions ------------------------------------------------------------------


async def test_a_callers_session_is_never_closed(mocked):
    mocked.get(URL_X, payload={})
    async with aiohttp.ClientSession() as session:
        async with HTTPTransport(BASE, session=session) as http:
            await http.get_json("/x")
        assert not session.closed
        await http.aclose()
        assert not session.closed


async def test_an_owned_session_is_created_lazily_and_closed(mocked):
    mocked.get(URL_X, payload={})
    http = HTTPTransport(BASE)
    assert http._session is None  # created lazily, inside the event loop

    await http.get_json("/x")
    session = http._session
    assert session is not None
    assert http._owns_session
    # The environment's proxy is resolved by the transport, once per origin,
    # not by aiohttp on every request.
    assert not session.trust_env

    await http.aclose()
    assert session.closed
    with pytest.raises(RuntimeError, match="closed"):
        await http.get_json("/x")


_PROXY_VARIABLES = (
    "NO_PROXY",
    "no_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
)


def _direct_app() -> web.Application:
    async def ping(request: web.Request) -> web.Response:
        return web.json_response({"via": "direct"})

    app = web.Application()
    app.router.add_get("/v1/ping", ping)
    return app


@pytest.fixture
async def proxy_server(monkeypatch, tmp_path):
    """A forward proxy on loopback that records what reaches it.

    The proxy variables are cleared and ``NETRC`` points at an empty folder's
    file, so only what a test sets applies.
    """
    seen: list[dict[str, str | None]] = []

    async def proxy(request: web.Request) -> web.Response:
        seen.append(
            {
                "url": str(request.url),
                "host": request.headers["Host"],
                "proxy_authorization": request.headers.get("Proxy-Authorization"),
                "authorization": request.headers.get("Authorization"),
            }
        )
        return web.json_response({"via": "proxy"})

    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    app = web.Application()
    app.router.add_get("/{tail:.*}", proxy)
    async with TestServer(app, host="127.0.0.1") as server:
        yield SimpleNamespace(
            url=server.make_url(""), seen=seen, netrc=tmp_path / "netrc"
        )


async def test_an_owned_session_goes_through_the_environment_proxy(
    monkeypatch, proxy_server
):
    monkeypatch.setenv("HTTP_PROXY", str(proxy_server.url))
    async with HTTPTransport(
        "http://api.example.test/v1",
        api_key=Secret("sk-proxy-test"),
        allow_insecure_http=True,
    ) as http:
        assert await http.get_json("/ping") == {"via": "proxy"}
        assert await http.get_json("/pong") == {"via": "proxy"}

    assert [(s["url"], s["host"]) for s in proxy_server.seen] == [
        ("http://api.example.test/v1/ping", "api.example.test"),
        ("http://api.example.test/v1/pong", "api.example.test"),
    ]
    assert proxy_server.seen[0]["authorization"] == "Bearer sk-proxy-test"
    assert proxy_server.seen[0]["proxy_authorization"] is None


async def test_the_proxy_is_looked_up_once_per_origin(monkeypatch, proxy_server):
    monkeypatch.setenv("HTTP_PROXY", str(proxy_server.url))
    lookups: list[str] = []
    real = connector_core._proxies._environment_proxy

    def counting(url: URL) -> object:
        lookups.append(f"{url.scheme}://{url.host}")
        return real(url)

    monkeypatch.setattr(connector_core._proxies, "_environment_proxy", counting)
    async with HTTPTransport("http://api.example.test/v1") as http:
        for path in ("/a", "/b", "/c", "http://files.example.test/f"):
            await http.get_json(path)

    assert lookups == ["http://api.example.test", "http://files.example.test"]
    assert len(proxy_server.seen) == 4


async def test_proxy_credentials_come_from_the_proxy_url(monkeypatch, proxy_server):
    with_user = proxy_server.url.with_user("corp").with_password("s3cret")
    monkeypatch.setenv("HTTP_PROXY", str(with_user))
    with capture_logs() as logs:
        async with HTTPTransport("http://api.example.test/v1") as http:
            await http.get_json("/ping")

    expected = "Basic " + base64.b64encode(b"corp:s3cret").decode()
    assert proxy_server.seen[0]["proxy_authorization"] == expected
    assert "s3cret" not in repr(logs)


async def test_proxy_credentials_come_from_netrc_for_the_proxy_host(
    monkeypatch, proxy_server
):
    host = proxy_server.url.host
    proxy_server.netrc.write_text(
        f"machine {host} login corp password from-netrc\n"
        # An entry for the API host must not turn into a second
        # Authorization (aiohttp's trust_env would refuse the request).
        "machine api.example.test login someone password other\n"
    )
    proxy_server.netrc.chmod(0o600)
    monkeypatch.setenv("HTTP_PROXY", str(proxy_server.url))
    async with HTTPTransport(
        "http://api.example.test/v1",
        api_key=Secret("sk-proxy-test"),
        allow_insecure_http=True,
    ) as http:
        assert await http.get_json("/ping") == {"via": "proxy"}

    expected = "Basic " + base64.b64encode(b"corp:from-netrc").decode()
    assert proxy_server.seen[0]["proxy_authorization"] == expected
    assert proxy_server.seen[0]["authorization"] == "Bearer sk-proxy-test"


async def test_an_https_target_sends_proxy_credentials_on_the_connect(
    monkeypatch, proxy_server
):
    connects: list[bytes] = []

    async def tunnel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        connects.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(tunnel, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        monkeypatch.setenv("HTTPS_PROXY", f"http://corp:s3cret@127.0.0.1:{port}")
        async with HTTPTransport(
            "https://api.example.test/v1",
            api_key=Secret("sk-proxy-test"),
            retry=RetryPolicy(max_attempts=1),
        ) as http:
            with pytest.raises(TransportError):
                await http.get_json("/ping")

    (head,) = connects
    assert head.startswith(b"CONNECT api.example.test:443 ")
    expected = "Basic " + base64.b64encode(b"corp:s3cret").decode()
    assert f"Proxy-Authorization: {expected}".lower().encode() in head.lower()
    # The API key travels only inside the tunnel, never to the proxy.
    assert b"sk-proxy-test" not in head


async def test_no_proxy_hosts_are_reached_directly(monkeypatch, proxy_server):
    app = _direct_app()
    async with TestServer(app, host="127.0.0.1") as direct:
        monkeypatch.setenv("HTTP_PROXY", str(proxy_server.url))
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with HTTPTransport(str(direct.make_url("/v1"))) as http:
            assert await http.get_json("/ping") == {"via": "direct"}
    assert proxy_server.seen == []


async def test_a_proxy_for_another_scheme_or_not_http_is_not_used(
    monkeypatch, proxy_server
):
    app = _direct_app()
    async with TestServer(app, host="127.0.0.1") as direct:
        # Only HTTPS_PROXY is set and the target is http: no proxy.
        monkeypatch.setenv("HTTPS_PROXY", str(proxy_server.url))
        async with HTTPTransport(str(direct.make_url("/v1"))) as http:
            assert await http.get_json("/ping") == {"via": "direct"}
        # An https:// proxy, which aiohttp cannot speak to, is ignored with
        # a warning rather than failing every request.
        monkeypatch.setenv("HTTP_PROXY", "https://proxy.example.test:3128")
        with capture_logs() as logs:
            async with HTTPTransport(str(direct.make_url("/v1"))) as http:
                assert await http.get_json("/ping") == {"via": "direct"}
    assert proxy_server.seen == []
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == [
        "http.proxy_ignored"
    ]


async def test_a_borrowed_session_is_used_as_configured(monkeypatch, proxy_server):
    monkeypatch.setenv("HTTP_PROXY", str(proxy_server.url))
    app = _direct_app()
    async with (
        TestServer(app, host="127.0.0.1") as direct,
        aiohttp.ClientSession() as session,  # trust_env=False
    ):
        http = HTTPTransport(str(direct.make_url("/v1")), session=session)
        assert await http.get_json("/ping") == {"via": "direct"}
        await http.aclose()
        assert not session.closed
    assert proxy_server.seen == []


# -- redirects -----------------------------------------------------------------


@pytest.fixture
async def two_origins():
    """An API server and a storage server on different loopback ports."""
    store_seen: list[dict[str, object]] = []
    urls: dict[str, URL] = {}

    async def export(request: web.Request) -> web.Response:
        # Set by hand: aiohttp's redirect helpers would normalise the query,
        # and a signature must arrive byte for byte.
        signed = f"{urls['store']}bucket/obj?X-Sig=ab%2Fcd%3D&X-Exp=60"
        return web.Response(status=307, headers={"Location": signed})

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/v1/whoami")

    async def bounce(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{urls['store']}back")

    async def whoami(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "auth": request.headers.get("Authorization"),
                "secret": request.headers.get("X-Secret"),
                "org": request.headers.get("OpenAI-Organization"),
            }
        )

    async def obj(request: web.Request) -> web.Response:
        store_seen.append(
            {
                "query": request.rel_url.raw_query_string,
                "auth": request.headers.get("Authorization"),
                "secret": request.headers.get("X-Secret"),
            }
        )
        if "Authorization" in request.headers:
            # What object stores do with a second auth mechanism.
            return web.Response(status=400, text="only one auth mechanism")
        return web.Response(body=b'{"n": 1}\n{"n": 2}\n')

    async def back(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{urls['api']}v1/whoami")

    api = web.Application()
    api.router.add_get("/v1/export", export)
    api.router.add_get("/v1/moved", moved)
    api.router.add_get("/v1/bounce", bounce)
    api.router.add_get("/v1/whoami", whoami)
    store = web.Application()
    store.router.add_get("/bucket/obj", obj)
    store.router.add_get("/back", back)
    async with (
        TestServer(api, host="127.0.0.1") as api_server,
        TestServer(store, host="127.0.0.1") as store_server,
        aiohttp.ClientSession() as session,
    ):
        urls["api"] = api_server.make_url("/")
        urls["store"] = store_server.make_url("/")
        async with HTTPTransport(
            f"{urls['api']}v1",
            api_key=Secret(KEY),
            headers={"X-Secret": "hunter2-token", "OpenAI-Organization": "org-1"},
            sensitive_headers=["x-secret"],
            session=session,
        ) as http:
            yield http, store_seen, urls["store"]


async def test_cross_origin_redirect_drops_authorization(two_origins):
    http, store_seen, _ = two_origins

    lines = [line async for line in http.stream_lines("/export")]

    assert lines == [b'{"n": 1}', b'{"n": 2}']
    assert store_seen == [
        {"query": "X-Sig=ab%2Fcd%3D&X-Exp=60", "auth": None, "secret": None}
    ]
    assert http.requests_made == 2


async def test_a_same_origin_redirect_hop_carries_no_credentials(two_origins):
    http, _, _ = two_origins

    seen = await http.get_json("/moved")

    # Neither the key nor the default headers follow any redirect hop.
    assert seen == {"auth": None, "secret": None, "org": None}


async def test_credentials_do_not_come_back_after_leaving_the_origin(two_origins):
    http, _, _ = two_origins

    seen = await http.get_json("/bounce")

    assert seen == {"auth": None, "secret": None, "org": None}
    assert http.requests_made == 3


async def test_an_absolute_url_elsewhere_is_fetched_without_credentials(two_origins):
    http, store_seen, store_url = two_origins

    lines = [line async for line in http.stream_lines(f"{store_url}bucket/obj?a=1")]

    assert lines == [b'{"n": 1}', b'{"n": 2}']
    assert store_seen[0]["auth"] is None


async def test_redirect_loops_stop(http, mocked):
    mocked.get(URL_X, status=302, headers={"Location": "/v1/x"}, repeat=True)

    with pytest.raises(TransportError, match="redirects"):
        await http.get_json("/x")

    assert http.requests_made == 6  # the request and five hops, never retried


async def test_see_other_turns_a_post_into_a_get_without_body(http, mocked):
    mocked.post(URL_X, status=303, headers={"Location": f"{BASE}/result"})
    mocked.get(f"{BASE}/result", payload={"done": True})

    response = await http.request("POST", "/x", json={"a": 1})

    assert response.data == {"done": True}
    follow = mocked.requests[("GET", URL(f"{BASE}/result"))][0].kwargs
    assert follow["data"] is None
    assert "Content-Type" not in CIMultiDict(follow["headers"])
    assert follow["allow_redirects"] is False


# -- streaming -----------------------------------------------------------------


async def test_stream_lines_yields_incrementally_with_a_final_partial_line():
    more = asyncio.Event()

    async def logs(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b'{"n": 1}\r\n{"n"')
        await asyncio.wait_for(more.wait(), 5)
        await response.write(b': 2}\n\n{"n": 3}')
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/v1/logs", logs)
    lines: list[bytes] = []
    async with (
        TestServer(app, host="127.0.0.1") as server,
        aiohttp.ClientSession() as s,
        HTTPTransport(str(server.make_url("/v1")), session=s) as http,
        aclosing(http.stream_lines("/logs")) as stream,
    ):
        async for line in stream:
            lines.append(line)
            if len(lines) == 1:
                # The first line arrived before the server wrote the rest.
                assert not more.is_set()
                more.set()

    assert lines == [b'{"n": 1}', b'{"n": 2}', b"", b'{"n": 3}']


async def test_stream_lines_retries_before_the_first_line(http, mocked, sleeps):
    mocked.get(URL_X, exception=aiohttp.ServerDisconnectedError())
    mocked.get(URL_X, status=503, headers={"Retry-After": "2"})
    mocked.get(URL_X, body=b"a\nb\n")

    lines = [line async for line in http.stream_lines("/x")]

    assert lines == [b"a", b"b"]
    assert sleeps.delays == [0.5, 2.0]
    assert http.requests_made == 3


async def test_stream_lines_raises_typed_errors(http, mocked):
    mocked.get(URL_X, status=404, payload=openai_error("no such export", None))

    with pytest.raises(NotFoundError, match="no such export"):
        await anext(http.stream_lines("/x"))
    assert http.requests_made == 1


async def test_a_stream_broken_after_lines_were_handed_out_is_not_restarted(sleeps):
    cut = asyncio.Event()

    async def logs(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"one\ntwo\nthr")
        await asyncio.wait_for(cut.wait(), 5)
        assert request.transport is not None
        request.transport.close()
        return response

    app = web.Application()
    app.router.add_get("/v1/logs", logs)
    lines: list[bytes] = []

    async def read_all(http: HTTPTransport) -> None:
        async for line in http.stream_lines("/logs"):
            lines.append(line)
            cut.set()

    async with (
        TestServer(app, host="127.0.0.1") as server,
        aiohttp.ClientSession() as s,
        HTTPTransport(str(server.make_url("/v1")), session=s, sleep=sleeps) as http,
    ):
        with (
            capture_logs() as logs,
            pytest.raises(TransportError, match="after 2 lines") as info,
        ):
            await read_all(http)
        logs_url = str(server.make_url("/v1/logs"))

    assert lines == [b"one", b"two"]
    assert "not restarted" in str(info.value)
    assert isinstance(info.value.__cause__, aiohttp.ClientError)
    broken = [e for e in logs if e["event"] == "http.stream_broken"]
    assert [(e["lines"], e["url"]) for e in broken] == [(2, logs_url)]
    assert http.requests_made == 1
    assert sleeps.delays == []


# -- the shared rate budget ----------------------------------------------------


async def test_rate_budget_paces_concurrent_tasks():
    clock = VirtualTime()
    budget = RateBudget(rate=2.0, burst=2, clock=clock.monotonic, sleep=clock.sleep)
    granted: list[float] = []

    async def take() -> None:
        await budget.acquire()
        granted.append(clock.now)

    tasks = [asyncio.create_task(take()) for _ in range(5)]
    await clock.run_until(lambda: all(task.done() for task in tasks))

    assert granted == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5])


async def test_a_429_pauses_the_budget_for_every_task(mocked):
    clock = VirtualTime()
    budget = RateBudget(rate=100.0, burst=10, clock=clock.monotonic, sleep=clock.sleep)
    sent_at: list[float] = []

    def record(url, **kwargs) -> None:
        sent_at.append(clock.now)

    mocked.get(URL_X, status=429, headers={"Retry-After": "10"}, callback=record)
    mocked.get(URL_X, payload={"ok": True}, callback=record, repeat=True)

    def transport() -> HTTPTransport:
        return HTTPTransport(
            BASE, budget=budget, sleep=clock.sleep, clock=clock.wall, retry=NO_JITTER
        )

    async with transport() as first, transport() as second:
        throttled = asyncio.create_task(first.get_json("/x"))
        await clock.run_until(lambda: budget.paused_until > clock.now)
        assert sent_at == [0.0]
        assert budget.paused_until == 10.0

        others = [asyncio.create_task(second.get_json("/x")) for _ in range(3)]
        others.append(asyncio.create_task(first.get_json("/x")))
        everything = [throttled, *others]
        await clock.run_until(lambda: all(task.done() for task in everything))
        results = [task.result() for task in everything]

    assert results == [{"ok": True}] * 5
    assert len(sent_at) == 6
    assert all(when >= 10.0 for when in sent_at[1:])
    # The throttled task waited for Retry-After; the others waited on the budget.
    assert clock.requested.count(10.0) >= 2


# -- secrets -------------------------------------------------------------------


QUERIED = f"{URL_X}?limit=1"


def echo_key(m):
    body = openai_error(f"Incorrect API key provided: {KEY}.", "invalid_api_key")
    m.get(QUERIED, status=500, payload=body, repeat=True)
    return ServerError


def reset_mentioning_key(m):
    m.get(QUERIED, exception=aiohttp.ClientOSError(104, f"reset by {KEY}"), repeat=True)
    return TransportError


def unauthorized_echo(m):
    body = openai_error(f"Incorrect API key provided: {KEY}.", "invalid_api_key")
    m.get(QUERIED, status=401, payload=body)
    return AuthenticationError


def html_echo(m):
    m.get(QUERIED, body=f"<html>{KEY}</html>", content_type="text/html", repeat=True)
    return SchemaError


@pytest.mark.parametrize(
    "scenario", [echo_key, reset_mentioning_key, unauthorized_echo, html_echo]
)
async def test_the_api_key_never_appears_in_logs_or_errors(http, mocked, scenario):
    expected = scenario(mocked)

    with capture_logs() as events, pytest.raises(expected) as info:
        await http.get_json("/x", params={"limit": 1})

    error = info.value
    for text in (str(error), repr(error), *map(str, error.args)):
        assert KEY not in text
    assert KEY not in str(getattr(error, "body", ""))
    for event in events:
        for key, value in event.items():
            assert KEY not in str(key)
            assert KEY not in str(value)
    if expected is not AuthenticationError:
        retries = [event for event in events if event["event"] == "http.retry"]
        assert len(retries) == 4
        assert retries[0]["url"] == URL_X  # no query string
        assert retries[0]["attempt"] == 1
        assert set(retries[0]) >= {"method", "status", "delay", "reason"}


# -- cancellation --------------------------------------------------------------


async def test_cancellation_is_not_caught_or_wrapped(mocked):
    mocked.get(URL_X, status=503, repeat=True)
    sleeping = asyncio.Event()

    async def forever(delay: float) -> None:
        sleeping.set()
        await asyncio.Event().wait()

    async with HTTPTransport(BASE, sleep=forever) as http:
        task = asyncio.create_task(http.get_json("/x"))
        await sleeping.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
