"""The HTTP transport every connector plugin shares.

Each platform API fails in the same handful of ways: throttling, flaky
gateways, dropped connections, HTML error pages served with status 200, and
redirects to storage hosts that must never see the API key. Handling these
once, here, means every plugin gets the same retries, the same error classes
and the same guarantee that a key never reaches a log line, an exception or
a foreign host.

A caller needs to know these things:

* Every method is retried, including POST, because the endpoints this
  serves are reads or idempotent exports. A plugin that adds a
  non-idempotent call should pass ``retry=RetryPolicy(max_attempts=1)`` to
  :meth:`HTTPTransport.request` for it. Retries are limited by time
  (:attr:`RetryPolicy.max_elapsed`, five minutes), not by a count.
* Credentials and identity go only on the request the connector itself
  addressed, and only to the origin of ``base_url``. ``Authorization``,
  ``Proxy-Authorization``, ``Cookie``, the headers named in
  ``sensitive_headers`` and every default header given as ``headers=``
  (``User-Agent`` aside) are sent on no redirect hop at all, even one to the
  same host and port: a pre-signed download link there refuses a request
  with a second auth mechanism, and a ``Location`` is the server's choice,
  not ours. An absolute URL to another origin gets none of them either.
  Headers baked into a caller-provided session are outside this control;
  put credentials in the transport, not in the session.
* A plain ``http://`` base URL to a host that is not loopback is refused
  when credentials would be sent over it, unless ``allow_insecure_http``
  or the environment's ``AIAUDIT_ALLOW_INSECURE_HTTP=1`` allows it; a base
  URL with ``user:password`` in it is refused outright.
* ``timeout`` bounds a whole attempt of :meth:`HTTPTransport.request`. For
  :meth:`HTTPTransport.stream_lines` a float bounds connecting and each read
  instead, because a large export may legitimately take longer than any
  sensible per-request limit; a total deadline and a minimum transfer rate
  end a download that trickles.
* Bodies are bounded: ``max_body`` for :meth:`HTTPTransport.request`, and
  ``max_line`` for each line of a stream, which yields an
  :class:`OversizedLine` (a prefix as evidence, and the full size) instead
  of buffering a runaway line.
* A rate budget (:class:`RateBudget`, or any :class:`Budget`) and the
  transports sharing it must live on one event loop.

This module is the public home of the transport and the names plugins
import. The parts that can be understood without a socket live in private
modules beside it: URLs (``_urls``), headers and redaction (``_headers``),
proxies (``_proxies``), bodies and error envelopes (``_bodies``), sorting
failures (``_failures``), lines and pace of a download (``_lines``) and the
rate budget (``_rate_budget``); retry arithmetic, and the count of one
request's attempts, are in ``_retry``.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Final, Self, TypeVar
from urllib.parse import urlencode

import aiohttp
import attrs
import orjson
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from connector_core._bodies import (
    DEFAULT_MAX_BODY,
    ERROR_BODY_LIMIT,
    ERROR_PAGE_TYPES,
    EXCERPT_CHARS,
    UNDECODABLE,
    decode_with_surrogates,
    excerpt,
    read_bounded,
)
from connector_core._concurrency import (
    DEFAULT_CONCURRENCY,
    MAX_CONCURRENCY,
    AdaptiveConcurrency,
    ConnectionPace,
    concurrency_option,
    rate_limit_option,
)
from connector_core._failures import (
    HTTP_OK_MAX,
    HTTP_OK_MIN,
    RetryableError,
    check_status,
    io_failures,
)
from connector_core._headers import USER_AGENT, RequestHeaders
from connector_core._lines import (
    DEFAULT_MAX_LINE,
    DEFAULT_STREAM_DEADLINE,
    DEFAULT_STREAM_MIN_BYTES,
    DEFAULT_STREAM_WINDOW,
    LineSplitter,
    OpenedLines,
    OversizedLine,
    Pace,
    stream_failure,
)
from connector_core._logging import get_logger
from connector_core._proxies import NO_PROXY, ProxyCache
from connector_core._rate_budget import Budget, RateBudget
from connector_core._retry import (
    _RETRY_OVERRIDE,
    DEFAULT_RETRY_STATUSES,
    RetryPolicy,
    _Attempts,
    retry_policy_override,
)
from connector_core._urls import (
    HTTP_SCHEMES,
    Params,
    ParamScalar,
    ParamValue,
    display_url,
    encode_params,
    origin,
    parse_base_url,
    refuse_plain_http,
)
from connector_core.exceptions import (
    ConfigurationError,
    ConnectorTimeoutError,
    SchemaError,
    TransportError,
)


if TYPE_CHECKING:
    from collections.abc import (
        AsyncGenerator,
        Awaitable,
        Callable,
        Iterable,
        Mapping,
    )
    from types import TracebackType

    from connector_core.secrets import Secret


__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_LINE",
    "DEFAULT_RETRY_STATUSES",
    "MAX_CONCURRENCY",
    "USER_AGENT",
    "AdaptiveConcurrency",
    "Budget",
    "ConnectionPace",
    "HTTPTransport",
    "OversizedLine",
    "ParamScalar",
    "ParamValue",
    "Params",
    "RateBudget",
    "Response",
    "RetryPolicy",
    "concurrency_option",
    "encode_params",
    "rate_limit_option",
    "retry_policy_override",
]

log = get_logger(__name__)

_T = TypeVar("_T")

_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_NO_CONTENT: Final = frozenset({204, 205})
_HTTP_SEE_OTHER: Final = 303
_HTTP_TOO_MANY_REQUESTS: Final = 429


@attrs.frozen
class Response:
    """One final (non-redirect) HTTP response, fully read.

    Attributes:
        status: The HTTP status.
        headers: The response headers, looked up case-insensitively.
        url: The URL that answered, after redirects.
        body: The raw body.
        data: The body decoded as JSON, or ``None`` when decoding was not
            asked for or the response had no content.
    """

    status: int
    headers: CIMultiDictProxy[str] = attrs.field(repr=False)
    # A pre-signed URL's query is a credential; keep it out of reprs.
    url: URL = attrs.field(repr=display_url)
    body: bytes = attrs.field(repr=False)
    data: Any = attrs.field(default=None, repr=False)


class HTTPTransport:
    """An authenticated, retrying, redirect-safe HTTP client for one API.

    Attributes:
        requests_made: HTTP requests sent, counting each redirect hop.
        retries: Attempts repeated after a retryable failure.
        throttled: Answers of 429 (Too Many Requests), retried or not.
    """

    __slots__ = (
        "_base_origin",
        "_base_url",
        "_budget",
        "_clock",
        "_closed",
        "_concurrency",
        "_headers",
        "_max_body",
        "_max_line",
        "_max_redirects",
        "_monotonic",
        "_owns_session",
        "_paused_until",
        "_policy",
        "_proxies",
        "_session",
        "_sleep",
        "_stream_deadline",
        "_stream_min_bytes",
        "_stream_timeout",
        "_stream_window",
        "_timeout",
        "requests_made",
        "retries",
        "throttled",
    )

    def __init__(
        self,
        base_url: str,
        *,
        api_key: Secret | None = None,
        headers: Mapping[str, str] | None = None,
        sensitive_headers: Iterable[str] = (),
        timeout: float | aiohttp.ClientTimeout = 30.0,
        retry: RetryPolicy | None = None,
        budget: Budget | None = None,
        concurrency: AdaptiveConcurrency | None = None,
        session: aiohttp.ClientSession | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        max_redirects: int = 5,
        max_body: int = DEFAULT_MAX_BODY,
        max_line: int = DEFAULT_MAX_LINE,
        stream_deadline: float | None = DEFAULT_STREAM_DEADLINE,
        stream_min_bytes: int = DEFAULT_STREAM_MIN_BYTES,
        stream_window: float = DEFAULT_STREAM_WINDOW,
        allow_insecure_http: bool = False,
    ) -> None:
        """Configure the transport; no connection is opened until first use.

        *session*, when given, stays the caller's to close. *clock* is wall
        time in epoch seconds because ``Retry-After`` may be an HTTP date;
        *monotonic* measures the retry budget and a download's pace. Both,
        and *sleep*, are injectable for tests on virtual time. *headers*
        are sent with every request the connector addresses to the base
        URL's origin, never on a redirect hop; those named in
        *sensitive_headers* are also treated as credentials (redacted from
        errors, and refused over plain http).

        *max_body* caps a body :meth:`request` reads, *max_line* a line
        :meth:`stream_lines` holds. A download must finish within
        *stream_deadline* seconds (``None``: no deadline) and move at least
        *stream_min_bytes* per *stream_window* seconds, counting only time
        spent waiting for the server. *allow_insecure_http* permits sending
        credentials over plain http to a host that is not loopback, as does
        ``AIAUDIT_ALLOW_INSECURE_HTTP=1`` in the environment.

        *budget* paces requests to a known rate; *concurrency* bounds the
        requests in flight, halving on a 429 (share either between the
        transports of one API key). A 429's ``Retry-After`` pauses every
        request of this transport, and of the budget's, not only the one
        that was told.

        Raises:
            ConfigurationError: A setting is unusable, the base URL holds
                user info, or credentials would go over plain http to a
                remote host. The message never repeats a secret.
        """
        base = parse_base_url(base_url)
        if isinstance(timeout, aiohttp.ClientTimeout):
            self._timeout = self._stream_timeout = timeout
        elif timeout > 0:
            self._timeout = aiohttp.ClientTimeout(total=timeout)
            self._stream_timeout = aiohttp.ClientTimeout(
                total=None, connect=timeout, sock_read=timeout
            )
        else:
            raise ConfigurationError(f"timeout must be positive, got {timeout!r}")
        if max_redirects < 0:
            raise ConfigurationError("max_redirects must not be negative")
        for name, value in (
            ("max_body", max_body),
            ("max_line", max_line),
            ("stream_window", stream_window),
            ("stream_deadline", 1 if stream_deadline is None else stream_deadline),
        ):
            if not value > 0:
                raise ConfigurationError(f"{name} must be positive, got {value!r}")
        if stream_min_bytes < 0:
            raise ConfigurationError("stream_min_bytes must not be negative")
        self._base_url = base
        self._base_origin = origin(base)
        self._headers = RequestHeaders(api_key, headers, sensitive_headers)
        if self._headers.sends_credentials and not allow_insecure_http:
            refuse_plain_http(base)
        self._max_body = max_body
        self._max_line = max_line
        self._stream_deadline = stream_deadline
        self._stream_min_bytes = stream_min_bytes
        self._stream_window = stream_window
        self._monotonic = monotonic
        override = _RETRY_OVERRIDE.get()
        if override is not None:
            retry = override
        self._policy = retry if retry is not None else RetryPolicy()
        self._budget = budget
        self._concurrency = concurrency
        self._paused_until = -1.0
        self._session = session
        self._owns_session = False
        self._proxies = ProxyCache()
        self._closed = False
        self._sleep = sleep
        self._clock = clock
        self._max_redirects = max_redirects
        self.requests_made = 0
        self.retries = 0
        self.throttled = 0

    def __repr__(self) -> str:
        return f"HTTPTransport(base_url={str(self._base_url)!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session if we opened it; a caller's session stays open."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    async def get_json(
        self,
        path: str,
        *,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """GET *path* and return its decoded JSON body."""
        response = await self.request("GET", path, params=params, headers=headers)
        return response.data

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        expect_json: bool = True,
        retry: RetryPolicy | None = None,
    ) -> Response:
        """Send one logical request, retrying it as the policy allows.

        *path* is relative to ``base_url`` unless it is an absolute URL,
        which is used as given (already encoded, as URLs from API responses
        are). The body is *json*, or *form* sent as
        ``application/x-www-form-urlencoded`` (OAuth token endpoints take
        only that), never both. With *expect_json*, a 2xx body that is not
        JSON counts as a failed attempt: gateways do serve truncated bodies
        and HTML pages with status 200, and a second try usually gets the
        real answer.
        """
        method = method.upper()
        url = self._url(path, params)
        if json is not None and form is not None:
            raise ValueError("a request has one body: json or form, not both")
        body = None if json is None else orjson.dumps(json)
        request_headers = self._headers.for_request(headers, json_body=body is not None)
        if form is not None:
            body = urlencode(form).encode("ascii")
            request_headers["Content-Type"] = "application/x-www-form-urlencoded"
        policy = retry if retry is not None else self._policy
        return await self._retrying(
            method,
            url,
            lambda: self._request_once(
                method,
                url,
                body=body,
                headers=request_headers,
                expect_json=expect_json,
                policy=policy,
            ),
            policy,
        )

    async def stream_lines(
        self,
        path: str,
        *,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """Yield the lines of a GET response body as they arrive.

        Lines come without their line ending (``\\n`` or ``\\r\\n``); a final
        line without one is still yielded, and blank lines are kept, so the
        caller sees the body exactly. The body is never held whole, so a
        multi-gigabyte JSONL export costs one line of memory.

        Failures are retried only until the first line has been handed out.
        After that a broken download raises :class:`TransportError` (or
        :class:`ConnectorTimeoutError`): restarting would hand out the same
        lines a second time, and only the caller knows how to resume or
        deduplicate. Close the iterator early with
        ``contextlib.aclosing`` so the connection is released promptly.

        A line longer than ``max_line`` comes as an :class:`OversizedLine`
        (its first bytes and its full size) and the lines after it follow.
        A download that runs past ``stream_deadline`` or moves fewer than
        ``stream_min_bytes`` per ``stream_window`` (time spent waiting for
        the server only) raises :class:`ConnectorTimeoutError` saying how
        many lines were handed out.
        """
        url = self._url(path, params)
        request_headers = self._headers.for_request(headers, json_body=False)
        opened = await self._retrying(
            "GET", url, lambda: self._open_lines(url, request_headers), self._policy
        )
        response = opened.response
        splitter, pace = opened.splitter, opened.pace
        handed_out = 0
        try:
            for line in opened.lines:
                yield line
                handed_out += 1
            if opened.at_eof:
                return
            pace.resume()
            try:
                async for chunk in response.content.iter_any():
                    broken = pace.received(len(chunk))
                    if broken is not None:
                        raise ConnectorTimeoutError(
                            stream_failure(
                                response.url, handed_out, "http.stream_too_slow", broken
                            )
                        )
                    for line in splitter.feed(chunk):
                        yield line
                        handed_out += 1
                    pace.resume()
            except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
                detail = self._headers.redact(f"{type(exc).__name__}: {exc}")
                message = stream_failure(
                    response.url, handed_out, "http.stream_broken", detail
                )
                # A read timeout is also a client error; say it was a timeout.
                if isinstance(exc, TimeoutError):
                    raise ConnectorTimeoutError(message) from exc
                raise TransportError(message) from exc
            tail = splitter.finish()
            if tail is not None:
                yield tail
        finally:
            response.release()

    # -- one attempt -------------------------------------------------------

    async def _request_once(
        self,
        method: str,
        url: URL,
        *,
        body: bytes | None,
        headers: CIMultiDict[str],
        expect_json: bool,
        policy: RetryPolicy,
    ) -> Response:
        with io_failures(method, url, self._headers):
            response = await self._send(
                method, url, body=body, headers=headers, timeouts=self._timeout
            )
            try:
                raw = await read_bounded(response, self._max_body)
            finally:
                response.release()
        if raw is None:
            if HTTP_OK_MIN <= response.status <= HTTP_OK_MAX:
                raise SchemaError(self._headers.redact(self._too_large(response)))
            # An error status explains itself by its status alone.
            raw = b""
        check_status(response, raw, policy, self._clock, self._headers)
        log.debug(
            "http.response",
            method=response.method,
            url=display_url(response.url),
            status=response.status,
            size=len(raw),
        )
        data = None
        if expect_json and response.status not in _NO_CONTENT:
            data = self._decode_json(response, raw)
        return Response(
            status=response.status,
            headers=response.headers,
            url=response.url,
            body=raw,
            data=data,
        )

    def _too_large(self, response: aiohttp.ClientResponse) -> str:
        where = f"{response.method} {display_url(response.url)}: HTTP {response.status}"
        length = response.content_length
        if length is not None and length > self._max_body:
            size = f"of {length} bytes (Content-Length)"
        else:
            size = f"of more than {self._max_body} bytes"
        return (
            f"{where} body {size} exceeds the limit of {self._max_body} bytes "
            "(max_body); not read further"
        )

    async def _open_lines(self, url: URL, headers: CIMultiDict[str]) -> OpenedLines:
        """Open a stream and read up to its first complete line.

        Reading that far is part of the attempt because until a line has
        been handed out a failure can still be retried without anyone
        seeing data twice.
        """
        with io_failures("GET", url, self._headers):
            response = await self._send(
                "GET", url, body=None, headers=headers, timeouts=self._stream_timeout
            )
            try:
                if not HTTP_OK_MIN <= response.status <= HTTP_OK_MAX:
                    error_body = await response.content.read(ERROR_BODY_LIMIT)
                    check_status(
                        response, error_body, self._policy, self._clock, self._headers
                    )
                if response.content_type in ERROR_PAGE_TYPES:
                    await self._refuse_error_page(response)
                splitter = LineSplitter(self._max_line)
                # From the response's head on: the wait for it is the
                # timeout's business, and an export may take a while to start.
                pace = Pace(
                    self._monotonic,
                    self._stream_deadline,
                    self._stream_min_bytes,
                    self._stream_window,
                )
                async for chunk in response.content.iter_any():
                    pace.check(len(chunk))
                    lines = splitter.feed(chunk)
                    if lines:
                        return OpenedLines(
                            response, splitter, pace, lines, at_eof=False
                        )
                tail = splitter.finish()
                rest = [] if tail is None else [tail]
                return OpenedLines(response, splitter, pace, rest, at_eof=True)
            except BaseException:
                response.release()
                raise

    async def _send(
        self,
        method: str,
        url: URL,
        *,
        body: bytes | None,
        headers: CIMultiDict[str],
        timeouts: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        """Send a request and follow its redirects by hand.

        aiohttp's own redirect handling would forward ``Authorization`` to
        whatever host a ``Location`` names; a pre-signed object-store URL
        rejects such a request (even on the API's own host and port: "only
        one auth mechanism") and, worse, a hostile redirect would collect
        the key. So credentials and identity headers go only on the request
        the connector addressed, when it is to the base URL's origin, and on
        no hop after it.
        """
        session = self._open_session()
        sent = headers if origin(url) == self._base_origin else None
        for hop in range(self._max_redirects + 1):
            if sent is None:
                sent = self._headers.without_private(headers)
            proxy, proxy_headers = (
                await self._proxies.lookup(url) if self._owns_session else NO_PROXY
            )
            if proxy_headers is not None:
                # aiohttp sends proxy_headers on the CONNECT of an https
                # target; a plain-http request carries them itself. Copies:
                # aiohttp writes Host into the mapping it is given.
                if url.scheme == "http":
                    sent = CIMultiDict(sent)
                    sent.extend(proxy_headers)
                    proxy_headers = None
                else:
                    proxy_headers = CIMultiDict(proxy_headers)
            self.requests_made += 1
            log.debug("http.request", method=method, url=display_url(url), hop=hop)
            response = await session.request(
                method,
                url,
                data=body,
                headers=sent,
                allow_redirects=False,
                timeout=timeouts,
                proxy=proxy,
                proxy_headers=proxy_headers,
            )
            location = response.headers.get("Location")
            if response.status not in _REDIRECT_STATUSES or location is None:
                return response
            response.release()
            try:
                target = url.join(URL(location, encoded=True))
            except ValueError as exc:
                raise TransportError(
                    f"{method} {display_url(url)}: unusable redirect location"
                ) from exc
            if target.scheme not in HTTP_SCHEMES:
                raise TransportError(
                    f"{method} {display_url(url)}: redirect to a non-HTTP URL"
                )
            sent = None
            if (response.status == _HTTP_SEE_OTHER and method != "HEAD") or (
                response.status in {301, 302} and method == "POST"
            ):
                # What browsers and RFC 7231 do: the redirected request is
                # a GET without the original body.
                method, body = "GET", None
                headers = headers.copy()
                headers.popall("Content-Type", None)
            url = target
        raise TransportError(
            f"{method} {display_url(url)}: more than {self._max_redirects} redirects"
        )

    # -- retries -----------------------------------------------------------

    async def _retrying(
        self,
        method: str,
        url: URL,
        attempt: Callable[[], Awaitable[_T]],
        policy: RetryPolicy,
    ) -> _T:
        """Run *attempt* until it succeeds or the policy's budget is spent.

        Elapsed time is the monotonic clock's, or the sum of the waits asked
        for if that is larger: an injected sleep that returns at once (a
        test's, or a host's scheduler) must not let an outage spin for ever.
        """
        tally = _Attempts(started=self._monotonic())
        while True:
            tally.number += 1
            tally.waited += await self._admit(tally.resume_at)
            slot = None
            if self._concurrency is not None:
                slot = await self._concurrency.acquire()
            began = max(self._monotonic() - tally.started, tally.waited)
            throttled = False
            try:
                return await attempt()
            except RetryableError as failure:
                throttled = failure.status == _HTTP_TOO_MANY_REQUESTS
                self.throttled += throttled
                if failure.retry_after is not None and throttled:
                    # Even when this request gives up, the others wait (at
                    # most as long as any request would).
                    self._pause(min(failure.retry_after, policy.max_retry_after))
                elapsed = max(self._monotonic() - tally.started, tally.waited)
                delay = tally.delay(failure, policy, began=began, elapsed=elapsed)
                tally.waited += delay
                tally.resume_at = self._monotonic() + delay
                self.retries += 1
                log.warning(
                    "http.retry",
                    method=method,
                    url=display_url(url),
                    status=failure.status,
                    attempt=tally.number,
                    delay=delay,
                    reason=failure.reason,
                )
            finally:
                if slot is not None:
                    assert self._concurrency is not None  # noqa: S101 - for mypy
                    self._concurrency.release(slot, throttled=throttled)
            # Sleeping outside the except block keeps the failure out of
            # the context of anything raised later.
            await self._sleep(delay)

    async def _admit(self, resume_at: float) -> float:
        """Wait out a pause a 429 asked of this transport (past *resume_at*,
        when the attempt's own wait ended), then the rate budget; the
        seconds of pause waited."""
        pause = 0.0
        if self._paused_until > resume_at:
            pause = self._paused_until - self._monotonic()
        if pause > 0:
            await self._sleep(pause)
        if self._budget is not None:
            await self._budget.acquire()
        return max(0.0, pause)

    def _pause(self, seconds: float) -> None:
        """Send no request for *seconds*: a 429's ``Retry-After`` speaks to
        the key, so every request of this transport (and of its budget)
        waits, not only the one that was told."""
        self._paused_until = max(self._paused_until, self._monotonic() + seconds)
        if self._budget is not None:
            self._budget.pause(seconds)

    async def _refuse_error_page(self, response: aiohttp.ClientResponse) -> None:
        """A gateway's or portal's error page served with 200 is not the
        file: its lines must never reach the caller, and a later attempt may
        well get the real body."""
        head = await response.content.read(EXCERPT_CHARS)
        message = (
            f"GET {display_url(response.url)}: HTTP {response.status} served "
            f"{response.content_type}, not data: {excerpt(head, 200)!r}"
        )
        error = SchemaError(self._headers.redact(message))
        raise RetryableError("an error page instead of data", error)

    def _decode_json(self, response: aiohttp.ClientResponse, raw: bytes) -> Any:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            data = decode_with_surrogates(raw, exc)
            if data is not UNDECODABLE:
                return data
            content_type = response.headers.get("Content-Type", "no content type")
            message = (
                f"{response.method} {display_url(response.url)}: HTTP "
                f"{response.status} body is not JSON ({content_type}, "
                f"{len(raw)} bytes): {excerpt(raw, 200)!r}"
            )
            error = SchemaError(self._headers.redact(message))
            raise RetryableError("body is not JSON", error) from exc

    # -- helpers -----------------------------------------------------------

    def _open_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("this HTTPTransport has been closed")
        if self._session is None:
            # Not trust_env: it would look the proxy and a .netrc entry for
            # the target up on every request (and a .netrc entry for the API
            # host would clash with our Authorization header). The proxy the
            # environment names is resolved once per origin by ProxyCache.
            self._session = aiohttp.ClientSession(trust_env=False)
            self._owns_session = True
        return self._session

    def _url(self, path: str, params: Params | None) -> URL:
        if path.lower().startswith(("http://", "https://")):
            url = URL(path, encoded=True)
        else:
            url = URL(f"{self._base_url}/{path.lstrip('/')}")
        pairs = encode_params(params)
        return url.extend_query(pairs) if pairs else url
