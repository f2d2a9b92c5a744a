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
* A :class:`RateBudget` and the transports sharing it must live on one
  event loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import ipaddress
import json as stdlib_json
import math
import netrc
import os
import time
import urllib.request
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self, TypeAlias, TypeVar

import aiohttp
import attrs
import orjson
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from connector_core._logging import get_logger
from connector_core._retry import DEFAULT_RETRY_STATUSES, RetryPolicy
from connector_core._retry import parse_retry_after as _parse_retry_after
from connector_core.exceptions import (
    ConfigurationError,
    ConnectorError,
    ConnectorHTTPError,
    ConnectorTimeoutError,
    SchemaError,
    TransportError,
    error_for_status,
    redact,
)


if TYPE_CHECKING:
    from types import TracebackType

    from connector_core.secrets import Secret


__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "USER_AGENT",
    "HTTPTransport",
    "OversizedLine",
    "ParamScalar",
    "ParamValue",
    "Params",
    "RateBudget",
    "Response",
    "RetryPolicy",
    "encode_params",
    "retry_policy_override",
]

log = get_logger(__name__)

ParamScalar: TypeAlias = str | int | float | bool | None
ParamValue: TypeAlias = ParamScalar | list[ParamScalar] | tuple[ParamScalar, ...]
Params: TypeAlias = Mapping[str, ParamValue] | Iterable[tuple[str, ParamValue]]

_T = TypeVar("_T")


def _package_version() -> str:
    try:
        return metadata.version("aiaudit")
    except metadata.PackageNotFoundError:
        # Running from a source tree that was never installed.
        return "0"


USER_AGENT: Final = f"aiaudit/{_package_version()}"

_RETRY_OVERRIDE: contextvars.ContextVar[RetryPolicy | None] = contextvars.ContextVar(
    "aiaudit_retry_override", default=None
)


@contextlib.contextmanager
def retry_policy_override(policy: RetryPolicy) -> Iterator[None]:
    """Make transports created inside the block use *policy*.

    A test that injects faults wants to see a connector's first failure, not
    its fifth retry; the connector builds its transports deep inside, with
    the policy it chose. Inside this block (and in tasks started from it)
    every new :class:`HTTPTransport` uses *policy* instead, whatever its
    ``retry`` argument; a policy passed to a single request still applies.
    The conformance suite runs its fault scenarios this way.
    """
    token = _RETRY_OVERRIDE.set(policy)
    try:
        yield
    finally:
        _RETRY_OVERRIDE.reset(token)


_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_NO_CONTENT: Final = frozenset({204, 205})
_BODILESS: Final = frozenset({204, 304})
_ALWAYS_SENSITIVE: Final = ("Authorization", "Proxy-Authorization", "Cookie")
# An error body is read only to explain the error; a runaway one must not
# be buffered whole while a stream is being opened.
_ERROR_BODY_LIMIT: Final = 64 * 1024
_EXCERPT_CHARS: Final = 500
_RETRYABLE_IO: Final = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    ConnectionError,
)
# No connection made at all: retried on the policy's shorter connect budget.
_CONNECT_FAILURES: Final = (aiohttp.ClientConnectorError, ConnectionRefusedError)
_HTTP_SCHEMES: Final = ("http", "https")
# What a line-oriented download (JSONL, CSV) never legitimately is.
_ERROR_PAGE_TYPES: Final = frozenset({"text/html", "application/xhtml+xml"})
_HTTP_OK_MIN: Final = 200
_HTTP_OK_MAX: Final = 299
_HTTP_SEE_OTHER: Final = 303
_HTTP_TOO_MANY_REQUESTS: Final = 429
# Tolerance for float rounding in the token arithmetic, so a sleep computed
# to refill exactly one token is not followed by a second, tiny one.
_TOKEN_EPSILON: Final = 1e-9
_MIB: Final = 1024 * 1024
_CR: Final = 13
DEFAULT_MAX_BODY: Final = 64 * _MIB
DEFAULT_MAX_LINE: Final = 16 * _MIB
# A download may take an hour, and must move at least 1 KiB a minute (time
# spent waiting for the server only; see _Pace).
DEFAULT_STREAM_DEADLINE: Final = 3600.0
DEFAULT_STREAM_MIN_BYTES: Final = 1024
DEFAULT_STREAM_WINDOW: Final = 60.0
_INSECURE_HTTP_VARIABLE: Final = "AIAUDIT_ALLOW_INSECURE_HTTP"


def encode_params(params: Params | None) -> list[tuple[str, str]]:
    """Flatten query parameters into the ordered pairs that go on the wire.

    A list or tuple repeats its key, because that is how array parameters
    travel; the caller picks the name (``event_types[]`` or ``emails``), as
    APIs disagree. Booleans become ``true``/``false`` rather than Python's
    ``True``, which no API accepts. ``None`` means "not given" and is
    dropped, so callers can pass optional filters without branching.
    """
    if params is None:
        return []
    items = params.items() if isinstance(params, Mapping) else params
    pairs: list[tuple[str, str]] = []
    for key, value in items:
        values = value if isinstance(value, list | tuple) else (value,)
        pairs.extend((key, _param_text(item)) for item in values if item is not None)
    return pairs


def _param_text(value: str | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _display_url(url: URL) -> str:
    """The URL as it may appear in logs and errors.

    The query goes because pre-signed URLs carry their signature there, and
    user info goes because it is a credential.
    """
    return str(url.with_user(None).with_query(None).with_fragment(None))


def _origin(url: URL) -> tuple[str, str, int | None]:
    # yarl keeps an explicit default port in origin(), so https://h:443 and
    # https://h would differ there; the effective port makes them equal.
    return (url.scheme.lower(), (url.host or "").lower(), url.port)


_Proxy: TypeAlias = tuple[URL | None, "CIMultiDict[str] | None"]
_NO_PROXY: Final[_Proxy] = (None, None)


def _environment_proxy(url: URL) -> _Proxy:
    """The proxy the environment names for *url*, as ``trust_env`` would pick it.

    ``HTTP_PROXY``/``HTTPS_PROXY`` by the target's scheme, ``NO_PROXY``
    honoured, credentials from the proxy URL or else from ``.netrc`` (or
    ``NETRC``) for the proxy's host. aiohttp's ``trust_env`` does these
    look-ups (and a ``.netrc`` read for the target host) in a worker thread
    on every request, about a sixth of a page's cost at loopback speed; the
    answer only depends on the origin and the environment, so the transport
    asks once per origin. This blocks (it may read a file): call it in a
    thread.
    """
    host = url.host
    if host is None or urllib.request.proxy_bypass(host):
        return _NO_PROXY
    named = urllib.request.getproxies().get(url.scheme)
    if not named:
        return _NO_PROXY
    try:
        proxy = URL(named)
    except ValueError:
        log.warning("http.proxy_ignored", reason="not a URL", scheme=url.scheme)
        return _NO_PROXY
    if proxy.scheme != "http" or not proxy.host:
        # aiohttp talks to a proxy in plain HTTP (CONNECT for https targets).
        log.warning(
            "http.proxy_ignored", reason="only http:// proxies", scheme=url.scheme
        )
        return _NO_PROXY
    if proxy.user is not None:
        credentials: tuple[str, str] | None = (proxy.user, proxy.password or "")
    else:
        credentials = _netrc_credentials(proxy.host or "")
    proxy = proxy.with_user(None)
    if credentials is None:
        return proxy, None
    token = base64.b64encode(":".join(credentials).encode()).decode("ascii")
    return proxy, CIMultiDict({"Proxy-Authorization": f"Basic {token}"})


def _netrc_credentials(host: str) -> tuple[str, str] | None:
    path = os.environ.get("NETRC") or Path("~/.netrc").expanduser()
    try:
        entry = netrc.netrc(path).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return None
    if entry is None:
        return None
    login, account, password = entry
    return login or account or "", password or ""


def _base_url(base_url: str) -> URL:
    """Parse and check a transport's base URL.

    Errors show the URL without user info or query (where credentials hide)
    or, when it cannot even be parsed, not at all.
    """
    try:
        base = URL(base_url.rstrip("/"))
    except (ValueError, TypeError) as exc:
        raise ConfigurationError("base_url is not a URL") from exc
    if base.scheme not in _HTTP_SCHEMES or not base.host:
        shown = f", not {base.scheme}:" if base.scheme else ""
        raise ConfigurationError(f"base_url must be an http(s) URL with a host{shown}")
    if base.raw_user is not None or base.raw_password is not None:
        raise ConfigurationError(
            f"base_url {_display_url(base)} holds user info (user:password@): "
            "give the key as the connector's API key instead"
        )
    return base


def _is_loopback(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse_plain_http(base: URL) -> None:
    """Refuse to send credentials in clear to a host that is not loopback.

    Anyone on the path could read the key off a plain-http request. A local
    test server or a TLS-terminating sidecar on loopback is fine; anything
    else needs an explicit opt-in, in code or by the operator.
    """
    if base.scheme != "http" or _is_loopback(base.host or ""):
        return
    if os.environ.get(_INSECURE_HTTP_VARIABLE) == "1":
        return
    raise ConfigurationError(
        f"base_url is plain http to {base.host}, which would send the "
        "credentials unencrypted: use https, or allow it explicitly with "
        f"allow_insecure_http=True or {_INSECURE_HTTP_VARIABLE}=1"
    )


def _excerpt(body: bytes, limit: int = _EXCERPT_CHARS) -> str:
    return body[: limit * 4].decode("utf-8", "replace")[:limit].strip()


def _error_details(body: bytes, reason: str | None) -> tuple[str, str | None]:
    """The message and machine-readable code of an error response.

    OpenAI-style APIs send ``{"error": {"message", "type", "param", "code"}}``;
    anything else (a proxy's HTML page, plain text) is summarised by its
    reason phrase and first characters so the error still says something.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = None
    if isinstance(document, dict):
        error = document.get("error")
        if isinstance(error, dict):
            message = error.get("message")
            code = error.get("code")
            if isinstance(message, str) and message:
                return message, None if code is None else str(code)
        elif isinstance(error, str) and error:
            return error, None
    text = _excerpt(body, 200)
    reason = reason or "error"
    return (f"{reason}: {text}" if text else reason), None


_UNDECODABLE: Final = object()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode_with_surrogates(raw: bytes, error: orjson.JSONDecodeError) -> Any:
    """Decode a body orjson refused only for a lone surrogate escape.

    ``"\\ud800"`` is valid JSON syntax but no valid Unicode, and orjson
    refuses it ("... surrogate in string"). One such record must not make
    the whole page undecodable, retried and finally fatal: the standard
    library accepts it (keeping the surrogate in the string), and the
    record is the store's and the normalizer's to quarantine. Anything else
    the standard library would accept beyond JSON (``NaN``) stays refused.
    Returns ``_UNDECODABLE`` when the body really is not JSON.
    """
    if "surrogate" not in error.msg:
        return _UNDECODABLE
    try:
        return stdlib_json.loads(raw, parse_constant=_reject_constant)
    except ValueError:
        return _UNDECODABLE


async def _read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The whole body, or ``None`` if it is longer than *limit* bytes.

    A Content-Length over the limit is refused before reading anything;
    otherwise reading stops at the first byte past it. When Content-Length
    is known and the body is not compressed, aiohttp reads exactly that
    much, so the fast whole-body read is safe; a compressed or chunked body
    is counted as it is decoded.
    """
    if response.method == "HEAD" or response.status in _BODILESS:
        # Their Content-Length describes a body that is not sent.
        return await response.read()
    length = response.content_length
    if length is not None and length > limit:
        return None
    if length is not None and "Content-Encoding" not in response.headers:
        return await response.read()
    buffer = bytearray()
    async for chunk in response.content.iter_any():
        buffer += chunk
        if len(buffer) > limit:
            return None
    return bytes(buffer)


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
    url: URL = attrs.field(repr=_display_url)
    body: bytes = attrs.field(repr=False)
    data: Any = attrs.field(default=None, repr=False)


class RateBudget:
    """A token bucket shared by every task that talks to one API.

    API rate limits apply per key, not per task, so concurrent tasks must
    draw from one budget. A 429 with ``Retry-After`` seen by any task pauses
    the budget for all of them: otherwise the other tasks keep hammering an
    API that has already said stop, and each collects its own 429.
    """

    __slots__ = (
        "_burst",
        "_clock",
        "_lock",
        "_paused_until",
        "_rate",
        "_sleep",
        "_tokens",
        "_updated",
    )

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Allow *rate* requests per second on average and *burst* at once.

        *clock* must be monotonic; it and *sleep* are injectable so tests
        can run on virtual time.
        """
        if not (rate > 0 and math.isfinite(rate)):
            raise ConfigurationError(f"rate must be a positive number, got {rate!r}")
        if burst < 1:
            raise ConfigurationError(f"burst must be at least 1, got {burst!r}")
        self._rate = float(rate)
        self._burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._paused_until = -math.inf
        # Waiters queue on the lock, so tokens are handed out first come,
        # first served instead of to whichever task wakes first.
        self._lock = asyncio.Lock()

    @property
    def paused_until(self) -> float:
        """The clock reading before which no token is handed out."""
        return self._paused_until

    def pause(self, seconds: float) -> None:
        """Hand out no token for *seconds* from now.

        A pause only ever extends: two tasks reporting different waits must
        not let the shorter one cut the longer one short. When it ends the
        bucket holds a single token, so the end of a pause is not itself a
        burst of requests against an API that just throttled us.
        """
        until = self._clock() + max(0.0, seconds)
        if until > self._paused_until:
            self._paused_until = until
            self._tokens = min(self._tokens, 1.0)
            self._updated = until

    async def acquire(self) -> None:
        """Wait until a request may be sent, and take its token."""
        async with self._lock:
            while True:
                now = self._clock()
                if now < self._paused_until:
                    await self._sleep(self._paused_until - now)
                    continue
                if now > self._updated:
                    refill = (now - self._updated) * self._rate
                    self._tokens = min(self._burst, self._tokens + refill)
                    self._updated = now
                if self._tokens >= 1.0 - _TOKEN_EPSILON:
                    self._tokens = max(0.0, self._tokens - 1.0)
                    return
                await self._sleep((1.0 - self._tokens) / self._rate)


class _RetryableError(Exception):
    """An attempt failed in a way a later attempt may not.

    Internal: it carries the error to raise if no attempt is left, and
    never escapes the transport.
    """

    def __init__(
        self,
        reason: str,
        final: ConnectorError,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        connect: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.final = final
        self.status = status
        self.retry_after = retry_after
        # No connection could be made at all (refused, no such host).
        self.connect = connect


class OversizedLine(bytes):
    """A line longer than the transport's ``max_line``, not held whole.

    :meth:`HTTPTransport.stream_lines` yields one in place of such a line:
    its bytes are the line's first :attr:`EVIDENCE` bytes (at most
    ``max_line``), enough to quarantine the record with evidence, and
    :attr:`size` is the full length in bytes without the line ending. The
    rest of the line was skipped as it arrived, so a 50 MB line costs about
    ``max_line`` of memory, and the lines after it still come. A reader
    tells it apart with ``isinstance``; parsing the prefix fails as it
    should, since it is cut.
    """

    EVIDENCE: ClassVar[int] = 64 * 1024
    size: int

    def __new__(cls, evidence: bytes, size: int) -> Self:
        line = super().__new__(cls, evidence)
        line.size = size
        return line

    def __repr__(self) -> str:
        return f"OversizedLine(size={self.size}, evidence={bytes(self[:40])!r}...)"


class _LineSplitter:
    """Cuts a byte stream into lines however the chunks happen to fall.

    A line longer than *max_line* becomes an :class:`OversizedLine`: once
    the pending bytes pass the cap without a newline, only the evidence is
    kept and the rest is counted and dropped until the next newline. Lines
    are length-checked only when the buffered bytes exceed the cap, so the
    usual chunk of short lines costs one comparison in all.
    """

    __slots__ = ("_evidence", "_last_byte_cr", "_max_line", "_pending", "_skipped")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self._pending = bytearray()
        self._max_line = max_line
        # While a runaway line is being skipped: its evidence, and its
        # length so far (including a possible trailing \r, taken off at
        # its end).
        self._evidence: bytes | None = None
        self._skipped = 0
        self._last_byte_cr = False

    @property
    def buffered(self) -> int:
        """The bytes held while waiting for a line's end."""
        return len(self._pending) + len(self._evidence or b"")

    def feed(self, chunk: bytes) -> list[bytes]:
        lines: list[bytes] = []
        if self._evidence is not None:
            end = chunk.find(b"\n")
            if end == -1:
                if chunk:
                    self._skipped += len(chunk)
                    self._last_byte_cr = chunk.endswith(b"\r")
                return lines
            lines.append(self._end_skipped(chunk, end))
            chunk = chunk[end + 1 :]
        pending = self._pending
        max_line = self._max_line
        # The pending bytes hold no newline, so scanning resumes where they
        # end; rescanning them would make one huge line quadratic.
        scan_from = len(pending)
        pending += chunk
        start = 0
        end = pending.find(b"\n", scan_from)
        if len(pending) <= max_line:
            # No line in here can be too long: the loop as it was.
            while end != -1:
                lines.append(_strip_cr(bytes(pending[start:end])))
                start = end + 1
                end = pending.find(b"\n", start)
        else:
            while end != -1:
                if end - start > max_line:
                    lines.append(self._oversized(pending, start, end))
                else:
                    lines.append(_strip_cr(bytes(pending[start:end])))
                start = end + 1
                end = pending.find(b"\n", start)
        if start:
            del pending[:start]
        if len(pending) > max_line:
            self._evidence = bytes(pending[: min(OversizedLine.EVIDENCE, max_line)])
            self._skipped = len(pending)
            self._last_byte_cr = pending.endswith(b"\r")
            pending.clear()
        return lines

    def finish(self) -> bytes | None:
        """The last line, which need not end with a newline."""
        if self._evidence is not None:
            size = self._skipped - self._last_byte_cr
            oversized = OversizedLine(self._evidence, size)
            self._evidence = None
            return oversized
        if not self._pending:
            return None
        line = _strip_cr(bytes(self._pending))
        self._pending.clear()
        return line

    def _end_skipped(self, chunk: bytes, end: int) -> OversizedLine:
        size = self._skipped + end
        if (chunk[end - 1] == _CR) if end else self._last_byte_cr:
            size -= 1
        line = OversizedLine(self._evidence or b"", size)
        self._evidence = None
        self._skipped = 0
        return line

    def _oversized(self, pending: bytearray, start: int, end: int) -> OversizedLine:
        size = end - start
        if pending[end - 1] == _CR:
            size -= 1
        keep = min(OversizedLine.EVIDENCE, self._max_line)
        return OversizedLine(bytes(pending[start : start + keep]), size)


def _strip_cr(line: bytes) -> bytes:
    return line[:-1] if line.endswith(b"\r") else line


class _Pace:
    """A download's total deadline and minimum transfer rate.

    A per-read timeout alone never ends a download that sends a byte just
    before each read would time out. Only time spent waiting for the server
    counts: the caller's time with a line (writing it to a store, say) is
    not the server's fault, and a slow caller leaves data buffered, so its
    next reads return at once. Checked once per chunk read, never per line.
    """

    __slots__ = (
        "_clock",
        "_deadline",
        "_min_bytes",
        "_resumed",
        "_waited",
        "_window",
        "_window_bytes",
        "_window_waited",
    )

    def __init__(
        self,
        clock: Callable[[], float],
        deadline: float | None,
        min_bytes: int,
        window: float,
    ) -> None:
        self._clock = clock
        self._deadline = deadline
        self._min_bytes = min_bytes
        self._window = window
        self._waited = 0.0
        self._window_waited = 0.0
        self._window_bytes = 0
        self._resumed = clock()

    def resume(self) -> None:
        """The caller is done with the lines of the last chunk; waiting
        for the server starts again."""
        self._resumed = self._clock()

    def check(self, size: int) -> None:
        """:meth:`received`, raising :class:`_TooSlowError` when broken."""
        broken = self.received(size)
        if broken is not None:
            raise _TooSlowError(broken)

    def received(self, size: int) -> str | None:
        """Account a chunk of *size* bytes; say what is broken, if anything."""
        waited = self._clock() - self._resumed
        self._waited += waited
        if self._deadline is not None and self._waited > self._deadline:
            return (
                f"the {self._deadline:g} s deadline passed "
                f"({self._waited:.1f} s spent waiting for data)"
            )
        self._window_waited += waited
        self._window_bytes += size
        if self._window_waited >= self._window:
            if self._window_bytes < self._min_bytes:
                return (
                    f"too slow: {self._window_bytes} bytes in "
                    f"{self._window_waited:.1f} s, below the minimum of "
                    f"{self._min_bytes} bytes per {self._window:g} s"
                )
            self._window_waited = 0.0
            self._window_bytes = 0
        return None


class _TooSlowError(TimeoutError):
    """A download broke its deadline or its minimum transfer rate."""


@attrs.frozen
class _OpenedLines:
    response: aiohttp.ClientResponse
    splitter: _LineSplitter
    pace: _Pace
    lines: list[bytes]
    at_eof: bool


class HTTPTransport:
    """An authenticated, retrying, redirect-safe HTTP client for one API.

    Attributes:
        requests_made: HTTP requests sent, counting each redirect hop.
        retries: Attempts repeated after a retryable failure.
    """

    __slots__ = (
        "_api_key",
        "_base_origin",
        "_base_url",
        "_budget",
        "_clock",
        "_closed",
        "_default_headers",
        "_max_body",
        "_max_line",
        "_max_redirects",
        "_monotonic",
        "_owns_session",
        "_policy",
        "_private",
        "_proxies",
        "_sensitive",
        "_session",
        "_sleep",
        "_stream_deadline",
        "_stream_min_bytes",
        "_stream_timeout",
        "_stream_window",
        "_timeout",
        "requests_made",
        "retries",
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
        budget: RateBudget | None = None,
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

        Raises:
            ConfigurationError: A setting is unusable, the base URL holds
                user info, or credentials would go over plain http to a
                remote host. The message never repeats a secret.
        """
        base = _base_url(base_url)
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
        self._base_origin = _origin(base)
        self._api_key = api_key
        self._default_headers = CIMultiDict(headers or {})
        self._sensitive = (*_ALWAYS_SENSITIVE, *sensitive_headers)
        # What no redirect hop and no other origin may see: credentials and
        # the caller's identity headers. User-Agent is no identity.
        private = {name.lower() for name in self._sensitive}
        private.update(name.lower() for name in self._default_headers)
        private.discard("user-agent")
        self._private = tuple(sorted(private))
        sends_credentials = api_key is not None or any(
            name in self._default_headers for name in self._sensitive
        )
        if sends_credentials and not allow_insecure_http:
            _refuse_plain_http(base)
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
        self._session = session
        self._owns_session = False
        self._proxies: dict[tuple[str, str, int | None], _Proxy] = {}
        self._closed = False
        self._sleep = sleep
        self._clock = clock
        self._max_redirects = max_redirects
        self.requests_made = 0
        self.retries = 0

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
        headers: Mapping[str, str] | None = None,
        expect_json: bool = True,
        retry: RetryPolicy | None = None,
    ) -> Response:
        """Send one logical request, retrying it as the policy allows.

        *path* is relative to ``base_url`` unless it is an absolute URL,
        which is used as given (already encoded, as URLs from API responses
        are). With *expect_json*, a 2xx body that is not JSON counts as a
        failed attempt: gateways do serve truncated bodies and HTML pages
        with status 200, and a second try usually gets the real answer.
        """
        method = method.upper()
        url = self._url(path, params)
        body = None if json is None else orjson.dumps(json)
        request_headers = self._request_headers(headers, json_body=body is not None)
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
        request_headers = self._request_headers(headers, json_body=False)
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
                            self._slow_stream(response, handed_out, broken)
                        )
                    for line in splitter.feed(chunk):
                        yield line
                        handed_out += 1
                    pace.resume()
            except TimeoutError as exc:
                raise ConnectorTimeoutError(
                    self._broken_stream(response, handed_out, exc)
                ) from exc
            except (aiohttp.ClientError, ConnectionError) as exc:
                raise TransportError(
                    self._broken_stream(response, handed_out, exc)
                ) from exc
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
        with self._io_failures(method, url):
            response = await self._send(
                method, url, body=body, headers=headers, timeouts=self._timeout
            )
            try:
                raw = await _read_bounded(response, self._max_body)
            finally:
                response.release()
        if raw is None:
            if _HTTP_OK_MIN <= response.status <= _HTTP_OK_MAX:
                raise SchemaError(self._redact(self._too_large(response)))
            # An error status explains itself by its status alone.
            raw = b""
        self._check_status(response, raw, policy)
        log.debug(
            "http.response",
            method=response.method,
            url=_display_url(response.url),
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
        where = (
            f"{response.method} {_display_url(response.url)}: HTTP {response.status}"
        )
        length = response.content_length
        if length is not None and length > self._max_body:
            size = f"of {length} bytes (Content-Length)"
        else:
            size = f"of more than {self._max_body} bytes"
        return (
            f"{where} body {size} exceeds the limit of {self._max_body} bytes "
            "(max_body); not read further"
        )

    async def _open_lines(self, url: URL, headers: CIMultiDict[str]) -> _OpenedLines:
        """Open a stream and read up to its first complete line.

        Reading that far is part of the attempt because until a line has
        been handed out a failure can still be retried without anyone
        seeing data twice.
        """
        with self._io_failures("GET", url):
            response = await self._send(
                "GET", url, body=None, headers=headers, timeouts=self._stream_timeout
            )
            try:
                if not _HTTP_OK_MIN <= response.status <= _HTTP_OK_MAX:
                    error_body = await response.content.read(_ERROR_BODY_LIMIT)
                    self._check_status(response, error_body, self._policy)
                if response.content_type in _ERROR_PAGE_TYPES:
                    await self._refuse_error_page(response)
                splitter = _LineSplitter(self._max_line)
                # From the response's head on: the wait for it is the
                # timeout's business, and an export may take a while to start.
                pace = _Pace(
                    self._monotonic,
                    self._stream_deadline,
                    self._stream_min_bytes,
                    self._stream_window,
                )
                async for chunk in response.content.iter_any():
                    pace.check(len(chunk))
                    lines = splitter.feed(chunk)
                    if lines:
                        return _OpenedLines(
                            response, splitter, pace, lines, at_eof=False
                        )
                tail = splitter.finish()
                rest = [] if tail is None else [tail]
                return _OpenedLines(response, splitter, pace, rest, at_eof=True)
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
        sent = headers if _origin(url) == self._base_origin else None
        for hop in range(self._max_redirects + 1):
            if sent is None:
                sent = self._without_private(headers)
            proxy, proxy_headers = (
                await self._proxy_for(url) if self._owns_session else _NO_PROXY
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
            log.debug("http.request", method=method, url=_display_url(url), hop=hop)
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
                    f"{method} {_display_url(url)}: unusable redirect location"
                ) from exc
            if target.scheme not in _HTTP_SCHEMES:
                raise TransportError(
                    f"{method} {_display_url(url)}: redirect to a non-HTTP URL"
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
            f"{method} {_display_url(url)}: more than {self._max_redirects} redirects"
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
        number = 0
        started = self._monotonic()
        waited = 0.0
        # The current run of failures to connect: when it began, how long.
        refused_since = 0.0
        refused = 0
        while True:
            number += 1
            if self._budget is not None:
                await self._budget.acquire()
            began = max(self._monotonic() - started, waited)
            try:
                return await attempt()
            except _RetryableError as failure:
                elapsed = max(self._monotonic() - started, waited)
                connecting = None
                if failure.connect:
                    if not refused:
                        refused_since = began
                    refused += 1
                    connecting = elapsed - refused_since
                else:
                    refused = 0
                delay = failure.retry_after
                if delay is None:
                    # A run of refusals backs off from the start: its own
                    # budget is short, and earlier failures were another
                    # matter.
                    delay = policy.backoff(refused - 1 if refused else number - 1)
                if not policy.allows(number, elapsed, delay, connecting=connecting):
                    raise failure.final from failure.__cause__
                if (
                    failure.retry_after is not None
                    and failure.status == _HTTP_TOO_MANY_REQUESTS
                    and self._budget is not None
                ):
                    self._budget.pause(delay)
                waited += delay
                self.retries += 1
                log.warning(
                    "http.retry",
                    method=method,
                    url=_display_url(url),
                    status=failure.status,
                    attempt=number,
                    delay=delay,
                    reason=failure.reason,
                )
            # Sleeping outside the except block keeps the failure out of
            # the context of anything raised later.
            await self._sleep(delay)

    def _check_status(
        self, response: aiohttp.ClientResponse, body: bytes, policy: RetryPolicy
    ) -> None:
        """Return for 2xx; otherwise raise a retryable or a final error."""
        status = response.status
        if _HTTP_OK_MIN <= status <= _HTTP_OK_MAX:
            return
        retry_after = _parse_retry_after(response.headers, now=self._clock())
        error = self._http_error(response, body, retry_after)
        if status not in policy.retry_statuses:
            raise error
        if retry_after is not None and retry_after > policy.max_retry_after:
            # Sleeping that long would hide a quota problem behind a hang.
            raise error
        raise _RetryableError(
            f"status {status}", error, status=status, retry_after=retry_after
        )

    def _http_error(
        self,
        response: aiohttp.ClientResponse,
        body: bytes,
        retry_after: float | None,
    ) -> ConnectorHTTPError:
        message, code = _error_details(body, response.reason)
        return error_for_status(
            response.status,
            message,
            retry_after=retry_after,
            method=response.method,
            url=_display_url(response.url),
            code=code,
            body=_excerpt(body),
            request_id=response.headers.get("x-request-id"),
            secrets=self._secret_values(),
        )

    async def _refuse_error_page(self, response: aiohttp.ClientResponse) -> None:
        """A gateway's or portal's error page served with 200 is not the
        file: its lines must never reach the caller, and a later attempt may
        well get the real body."""
        excerpt = await response.content.read(_EXCERPT_CHARS)
        message = (
            f"GET {_display_url(response.url)}: HTTP {response.status} served "
            f"{response.content_type}, not data: {_excerpt(excerpt, 200)!r}"
        )
        error = SchemaError(self._redact(message))
        raise _RetryableError("an error page instead of data", error)

    def _decode_json(self, response: aiohttp.ClientResponse, raw: bytes) -> Any:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            data = _decode_with_surrogates(raw, exc)
            if data is not _UNDECODABLE:
                return data
            content_type = response.headers.get("Content-Type", "no content type")
            message = (
                f"{response.method} {_display_url(response.url)}: HTTP "
                f"{response.status} body is not JSON ({content_type}, "
                f"{len(raw)} bytes): {_excerpt(raw, 200)!r}"
            )
            error = SchemaError(self._redact(message))
            raise _RetryableError("body is not JSON", error) from exc

    @contextlib.contextmanager
    def _io_failures(self, method: str, url: URL) -> Iterator[None]:
        """Sort aiohttp's failures into retryable and final connector errors.

        Timeouts are tested first because aiohttp's read timeouts are also
        connection errors, and a caller should be told it was a timeout.
        """
        try:
            yield
        except _TooSlowError as exc:
            where = self._redact(f"{method} {_display_url(url)}")
            error = ConnectorTimeoutError(
                f"{where}: download stopped after 0 lines, {exc}"
            )
            raise _RetryableError("too slow", error) from exc
        except TimeoutError as exc:
            where = self._redact(f"{method} {_display_url(url)}")
            error = ConnectorTimeoutError(f"{where}: no answer in time")
            raise _RetryableError("timeout", error) from exc
        except _CONNECT_FAILURES as exc:
            where = self._redact(f"{method} {_display_url(url)}")
            detail = self._redact(f"{type(exc).__name__}: {exc}")
            refused = TransportError(f"{where}: {detail}")
            raise _RetryableError(detail, refused, connect=True) from exc
        except _RETRYABLE_IO as exc:
            where = self._redact(f"{method} {_display_url(url)}")
            detail = self._redact(f"{type(exc).__name__}: {exc}")
            raise _RetryableError(detail, TransportError(f"{where}: {detail}")) from exc
        except aiohttp.ClientError as exc:
            where = self._redact(f"{method} {_display_url(url)}")
            detail = self._redact(f"{type(exc).__name__}: {exc}")
            raise TransportError(f"{where}: {detail}") from exc

    # -- helpers -----------------------------------------------------------

    def _open_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("this HTTPTransport has been closed")
        if self._session is None:
            # Not trust_env: it would look the proxy and a .netrc entry for
            # the target up on every request (and a .netrc entry for the API
            # host would clash with our Authorization header). The proxy the
            # environment names is resolved once per origin in _proxy_for.
            self._session = aiohttp.ClientSession(trust_env=False)
            self._owns_session = True
        return self._session

    async def _proxy_for(self, url: URL) -> _Proxy:
        """The environment's proxy for *url*'s origin, looked up once.

        HTTP(S)_PROXY and NO_PROXY are how corporate networks route outbound
        API traffic, so a session the transport owns honours them; a
        caller's session is used as configured.
        """
        origin = _origin(url)
        proxy = self._proxies.get(origin)
        if proxy is None:
            proxy = await asyncio.to_thread(_environment_proxy, url)
            self._proxies[origin] = proxy
        return proxy

    def _url(self, path: str, params: Params | None) -> URL:
        if path.lower().startswith(("http://", "https://")):
            url = URL(path, encoded=True)
        else:
            url = URL(f"{self._base_url}/{path.lstrip('/')}")
        pairs = encode_params(params)
        return url.extend_query(pairs) if pairs else url

    def _request_headers(
        self, extra: Mapping[str, str] | None, *, json_body: bool
    ) -> CIMultiDict[str]:
        headers = CIMultiDict({"User-Agent": USER_AGENT})
        headers.update(self._default_headers)
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.reveal()}"
        if json_body:
            headers["Content-Type"] = "application/json"
        if extra:
            headers.update(extra)
        return headers

    def _without_private(self, headers: CIMultiDict[str]) -> CIMultiDict[str]:
        stripped = headers.copy()
        for name in self._private:
            stripped.popall(name, None)
        return stripped

    def _secret_values(self) -> list[str]:
        # Revealed only to be searched for and blanked out of error text.
        values = [self._api_key.reveal()] if self._api_key is not None else []
        for name in self._sensitive:
            values.extend(self._default_headers.getall(name, []))
        return values

    def _redact(self, text: str) -> str:
        return redact(text, self._secret_values())

    def _slow_stream(
        self, response: aiohttp.ClientResponse, handed_out: int, reason: str
    ) -> str:
        log.warning(
            "http.stream_too_slow",
            url=_display_url(response.url),
            lines=handed_out,
            reason=reason,
        )
        return (
            f"GET {_display_url(response.url)}: download stopped after "
            f"{handed_out} lines, {reason}; not restarted, as lines already "
            "handed out would be repeated"
        )

    def _broken_stream(
        self, response: aiohttp.ClientResponse, handed_out: int, exc: BaseException
    ) -> str:
        detail = self._redact(f"{type(exc).__name__}: {exc}")
        log.warning(
            "http.stream_broken",
            url=_display_url(response.url),
            lines=handed_out,
            reason=detail,
        )
        return (
            f"GET {_display_url(response.url)}: download broke after {handed_out} "
            f"lines ({detail}); not restarted, as lines already handed out "
            "would be repeated"
        )
