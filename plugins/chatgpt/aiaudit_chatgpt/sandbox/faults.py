"""Fault injection: the sandbox failing the way real networks and APIs fail.

A connector that has only ever met a well-behaved server has not been
tested. Production brings 429 storms, flaky gateways, dropped connections,
stalls, bodies cut short, HTML pages served with status 200 and pages that
repeat a record across a cursor boundary. :class:`FaultInjector` is an
aiohttp middleware that produces each of them on demand, on the wire, so
tests see exactly what a client would see.

Profiles (each disturbs about ``rate`` of the requests it may touch):

``rate_limit``
    429 storms: a triggered 429 is followed by ``storm_length`` more for
    the same key, each with an integer ``Retry-After``.
``server_error``
    500, 502 or 503 with an OpenAI error body (``type: server_error``);
    some 503s carry ``Retry-After``.
``reset``
    The connection is dropped with no response at all.
``slow``
    The answer is held back for ``slow_seconds``, then served normally.
``truncated``
    Status 200 with the first half of the real body. On the API host the
    length matches the cut body, so only decoding notices; on the storage
    host the full ``Content-Length`` is announced before the connection
    closes, so the client sees an incomplete download.
``html``
    Status 200 with an HTML error page, as a captive portal or a
    misconfigured gateway answers.
``duplicates``
    An audit-log page asked for with ``after=<id>`` starts with the record
    ``<id>`` itself, which the client already has. Drawn for any other
    request, it changes nothing.
``mixed``
    Each of the above at ``rate / 7``.
``stuck_cursor``
    A listing page (audit log, Logs Platform listing, GPTs, users,
    projects) says ``has_more: true`` and hands back as its cursor
    (``last_id``, ``last_end_time``) the very one it was asked with, so a
    client that follows it asks for the same page forever. A first page,
    asked with no cursor, says ``has_more: true`` with its own. Not spared
    on a retry: at rate 1 every page is stuck, forever.
``stall``
    A download sends half of its file, then nothing more until the client
    hangs up (at most :data:`MAX_STALL_SECONDS`). Each file stalls at most
    once, so a client that resumes it gets the rest.
``drip``
    A download sends half of its file, then one byte every
    ``drip_seconds`` (2 s), each byte in time for any per-read timeout, so
    only a client that holds a download to a minimum rate (or a total
    deadline) notices; one that waits long enough gets the whole file. Each
    file drips at most once, so a client that gives up and resumes gets the
    rest at full speed.
``listing_after_exclusive``
    A mode, not a per-request fault (the rate is ignored): the Logs Platform
    listing serves only files ending strictly after ``after``, where the
    default serves those ending at or after it. The API does not say which.
``late``
    A mode: a share (the rate; all at 1.0) of the events of the last
    publication lag of the history are held back until the sandbox has
    served for ``publish_delay`` seconds (see ``docs/sandbox.md``).
``redirect``
    An API request is answered with a 307 to the same origin: the same
    path and query plus a ``signature`` parameter, as a gateway handing
    out a pre-signed URL does. The redirected request is served (as the
    key that was redirected) only if it carries no credential at all (no
    ``Authorization``, ``OpenAI-Organization`` or ``OpenAI-Project``
    header, no key in any header) and a valid signature; else it is a 400
    "only one auth mechanism allowed". The Logs Platform's download
    redirect then points at the same host and port too. ``observed``
    counts the redirected requests and those that carried a credential.
``poisoned``, ``oversized``
    Modes that change the data (see ``docs/sandbox.md``): a few records
    no store takes as they are (a lone surrogate, a NUL, a user id of
    6,000 characters), or one Logs Platform line of
    ``SandboxOptions``-sized bulk.

Every decision is a pure function of the seed and a request counter, so a
run is reproducible. And every fault is bounded: a client that retries the
same request always gets through (see :meth:`FaultInjector.plan` and the
follow-up rules in :class:`FaultInjector`), because a sandbox that can fail
a request forever tests nothing but the retry limit.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import json
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from aiohttp import hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy

from aiaudit_chatgpt.sandbox._web import (
    STALL_DOWNLOAD,
    STORAGE_PREFIX,
    TRUNCATE_DOWNLOAD,
    ApiError,
)


if TYPE_CHECKING:
    from aiaudit_chatgpt.sandbox.audit import AuditLogData, AuditQuery


__all__ = [
    "ALL_PROFILES",
    "CHECKED_PROFILES",
    "CREDENTIAL_HEADERS",
    "FAULTS",
    "MAX_STALL_SECONDS",
    "MODES",
    "PROFILES",
    "SIGNATURE_PARAM",
    "STOPPING_PROFILES",
    "STORAGE_FAULTS",
    "FaultInjector",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

FAULTS: Final = (
    "rate_limit",
    "server_error",
    "reset",
    "slow",
    "truncated",
    "html",
    "duplicates",
)
"""The single faults; ``mixed`` draws among them in this order."""

MODES: Final = ("listing_after_exclusive", "late", "poisoned", "oversized")
"""Profiles that change what the data looks like, not single requests."""

PROFILES: Final = (*FAULTS, "mixed", "stall", "listing_after_exclusive")
"""The profiles a correct client survives within one read: a sync under any
of them must equal the ground truth."""

STOPPING_PROFILES: Final = ("stuck_cursor", "late")
"""Profiles no single read survives whole, by design: a listing that never
advances must stop its stream with a ``SchemaError``, and events published
late come only to a later read. Tests hold clients to them on those terms."""

CHECKED_PROFILES: Final = ("redirect", "poisoned", "oversized", "drip")
"""Profiles with tests of their own: a read under ``redirect`` equals a
clean one; under ``poisoned`` and ``oversized`` some records are to be
quarantined, so the ground truth is not the clean one; under ``drip`` a
read equals a clean one only with a minimum download rate short enough
for a test (the default waits a minute per file)."""

ALL_PROFILES: Final = (*PROFILES, *STOPPING_PROFILES, *CHECKED_PROFILES)
"""Every profile name :class:`FaultInjector` accepts."""

SIGNATURE_PARAM: Final = "signature"
"""The query parameter of a ``redirect`` profile's signed URL."""

CREDENTIAL_HEADERS: Final = (
    "Authorization",
    "OpenAI-Organization",
    "OpenAI-Project",
    "X-Api-Key",
    "Api-Key",
)
"""Headers that carry a credential; a signed URL refuses a request with any."""

MAX_STALL_SECONDS: Final = 60.0
"""The longest a stalled download waits for its client to give up."""

STORAGE_FAULTS: Final = frozenset(
    {"reset", "server_error", "slow", "truncated", "stall", "drip"}
)
"""What an object store serving signed downloads can plausibly do wrong.

It has no API keys to throttle per key, never serves an API page to
duplicate, and a captive portal would not sit between one host and not the
other.
"""

_API_PREFIX: Final = "/v1/"
_FAULT_KEY: Final = web.RequestKey("aiaudit_sandbox_fault", str)
# Follow-up state is per request; a client that gives up on a request must
# not make this grow without bound over a long chaos run.
_MEMORY: Final = 4096
# How often a stalled answer checks whether its client is still there.
_POLL_SECONDS: Final = 0.05
_SERVER_ERRORS: Final = (500, 502, 503)
_HTTP_UNAVAILABLE: Final = 503
_SERVER_ERROR_MESSAGES: Final = {
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The server is overloaded or not ready yet.",
}
_STORAGE_ERRORS: Final = {
    500: ("InternalError", "We encountered an internal error. Please try again."),
    502: ("BadGateway", "The gateway received an invalid response upstream."),
    503: ("SlowDown", "Please reduce your request rate."),
}
_HTML_PAGE: Final = b"""<!DOCTYPE html>
<html>
<head><title>Service Temporarily Unavailable</title></head>
<body>
<h1>Service Temporarily Unavailable</h1>
<p>The upstream server did not answer. Please try again in a few minutes.</p>
<hr><address>gateway</address>
</body>
</html>
"""

_Identity = tuple[str, str, str]


def _unit(seed: int, number: int, salt: str) -> float:
    """A uniform draw in [0, 1) fixed by the seed, request number and purpose.

    Hashing instead of a shared random stream means one request's draws do
    not depend on how many draws earlier requests happened to make.
    """
    digest = hashlib.blake2b(f"{seed}:{number}:{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def _remember(
    store: collections.OrderedDict[_Identity, str], key: _Identity, value: str
) -> None:
    store[key] = value
    store.move_to_end(key)
    while len(store) > _MEMORY:
        store.popitem(last=False)


class FaultInjector:
    """Decides which requests fail, and how, and makes them fail.

    The decision for the n-th request it may touch is :meth:`plan` (n),
    refined by follow-up rules that keep every fault finite for a client
    that retries the same request (same key, method, path and query):

    * the attempt after a faulted one passes untouched;
    * except within a 429 storm, which answers 429 to the next
      ``storm_length`` requests of that key whatever they are, and
    * except after a reset, whose connection is dropped twice: aiohttp
      re-sends a GET once, silently, when a connection drops before the
      answer, so a single drop would never reach the client's own code.

    A client retrying one request at a time therefore fails at most
    ``max(storm_length + 1, 2)`` times in a row (a reset pair counts once
    for an aiohttp client).

    Attributes:
        injected: Faults served so far, by name.
        requests_seen: Requests the injector could have disturbed (API
            routes under ``/v1/`` and every storage download).
    """

    def __init__(
        self,
        profile: str,
        *,
        rate: float,
        seed: int,
        slow_seconds: float = 2.0,
        storm_length: int = 3,
        retry_after: int = 1,
    ) -> None:
        """Validate the settings; *retry_after* is the ``Retry-After`` in seconds.

        Raises:
            ValueError: An unknown profile or a setting out of range.
        """
        if profile not in ALL_PROFILES:
            raise ValueError(
                f"unknown fault profile {profile!r}; valid profiles: "
                f"{', '.join(ALL_PROFILES)}"
            )
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, got {rate!r}")
        if not slow_seconds >= 0.0:
            raise ValueError(f"slow_seconds must be >= 0, got {slow_seconds!r}")
        if storm_length < 0:
            raise ValueError(f"storm_length must be >= 0, got {storm_length!r}")
        if retry_after < 1:
            # The API documents Retry-After as an integer of at least one.
            raise ValueError(f"retry_after must be >= 1, got {retry_after!r}")
        self.profile = profile
        self.rate = rate
        self.seed = seed
        self.slow_seconds = slow_seconds
        self.drip_seconds = 2.0
        """Seconds between the bytes of a dripping download (``drip``)."""
        self.storm_length = storm_length
        self.retry_after = retry_after
        self.injected: collections.Counter[str] = collections.Counter()
        self.requests_seen = 0
        self._storms: dict[str, int] = {}
        self._spared: collections.OrderedDict[_Identity, str] = (
            collections.OrderedDict()
        )
        self._repeat: collections.OrderedDict[_Identity, str] = (
            collections.OrderedDict()
        )
        self._stalled: set[str] = set()
        self.observed: dict[str, int] = {"redirect_hops": 0, "credentialed_hops": 0}
        """Redirected requests received, and those carrying a credential."""
        self.credentials: frozenset[str] = frozenset()
        """The keys the sandbox accepts: none may come with a signed URL."""
        self._signing_key = hashlib.blake2b(
            f"{seed}:redirect-signing".encode(), digest_size=32
        ).digest()
        self._principals: dict[str, str] = {}

    def __repr__(self) -> str:
        return (
            f"FaultInjector({self.profile!r}, rate={self.rate!r}, seed={self.seed!r}, "
            f"requests_seen={self.requests_seen}, injected={dict(self.injected)!r})"
        )

    def report(self) -> dict[str, Any]:
        """The settings and counters, for a chaos run's summary."""
        return {
            "profile": self.profile,
            "rate": self.rate,
            "seed": self.seed,
            "requests_seen": self.requests_seen,
            "injected": dict(sorted(self.injected.items())),
        }

    # -- deciding ------------------------------------------------------------

    def plan(self, number: int) -> str | None:
        """The fault drawn for the *number*-th request (from 0), if any.

        Pure: the same seed gives the same plan, which is what makes a failed
        chaos run reproducible. The follow-up rules may still serve a
        planned request untouched, or a request with no plan a 429.
        """
        if self.rate <= 0.0 or self.profile in MODES:
            return None
        draw = _unit(self.seed, number, "fault")
        if draw >= self.rate:
            return None
        if self.profile != "mixed":
            return self.profile
        # The draw is uniform below the rate, so slicing it in equal parts
        # gives each fault rate / 7.
        slot = int(draw / self.rate * len(FAULTS))
        return FAULTS[min(slot, len(FAULTS) - 1)]

    def _decide(self, request: web.Request, *, storage: bool) -> tuple[int, str | None]:
        number = self.requests_seen
        self.requests_seen += 1
        key = request.headers.get(hdrs.AUTHORIZATION, "")
        identity: _Identity = (key, request.method, request.path_qs)
        repeat = self._repeat.pop(identity, None)
        if repeat is not None:
            _remember(self._spared, identity, repeat)
            return number, repeat
        if not storage and self._storms.get(key, 0) > 0:
            self._storms[key] -= 1
            # The request stays spared: once the storm is over, it passes.
            _remember(self._spared, identity, "rate_limit")
            return number, "rate_limit"
        if self._spared.pop(identity, None) is not None:
            return number, None
        fault = self.plan(number)
        if fault is None or (storage and fault not in STORAGE_FAULTS):
            return number, None
        if fault == "rate_limit":
            self._storms[key] = self.storm_length
        if fault == "reset":
            _remember(self._repeat, identity, fault)
        elif fault not in {"duplicates", "stuck_cursor", "stall", "drip", "redirect"}:
            # A duplicate record is not a failure: there is nothing to retry.
            # A stuck cursor is stuck for good; a stall is once per file; a
            # redirect is followed, not retried.
            _remember(self._spared, identity, fault)
        return number, fault

    # -- serving ---------------------------------------------------------------

    def middleware(self, *, storage: bool = False) -> Middleware:
        """The aiohttp middleware; *storage* for the signed-download host.

        On the API host only ``/v1/`` routes are touched, so anything else
        the server offers (health checks, say) stays reliable.
        """

        @web.middleware
        async def inject_faults(
            request: web.Request, handler: Handler
        ) -> web.StreamResponse:
            if self.profile == "redirect" and _is_hop(request):
                return await self._serve_hop(request, handler)
            if not storage and not request.path.startswith(_API_PREFIX):
                return await handler(request)
            number, fault = self._decide(request, storage=storage)
            if fault is None:
                return await handler(request)
            return await self._serve(fault, number, request, handler, storage=storage)

        return inject_faults

    async def _serve(
        self,
        fault: str,
        number: int,
        request: web.Request,
        handler: Handler,
        *,
        storage: bool,
    ) -> web.StreamResponse:
        if fault in {"duplicates", "stuck_cursor"}:
            # Only the handler knows where a page boundary is; it asks
            # duplicate_boundary() or stuck(), which count the fault.
            request[_FAULT_KEY] = fault
            return await handler(request)
        if fault in {"stall", "drip"}:
            name = request.match_info.get("name", request.path)
            if name not in self._stalled:
                self._stalled.add(name)
                request[STALL_DOWNLOAD] = (
                    "asked" if fault == "stall" else f"drip:{self.drip_seconds}"
                )
            response = await handler(request)
            if request.get(STALL_DOWNLOAD) == "done":
                self.injected[fault] += 1
            return response
        if fault == "truncated":
            return await self._truncate(request, handler, storage=storage)
        self.injected[fault] += 1
        if fault == "slow":
            if await stall(request, self.slow_seconds):
                return await handler(request)
            # The client gave up; nobody is left to answer.
            return web.Response(status=499)
        return self._refuse(fault, number, request, storage=storage)

    # -- redirects to signed URLs (the ``redirect`` profile) ------------------

    def _redirect(self, request: web.Request) -> web.StreamResponse:
        """A 307 to the same path and query, signed for the request's key.

        The signature names the key by a digest, never the key itself: the
        URL ends up in logs, as a real pre-signed URL does.
        """
        authorization = request.headers.get(hdrs.AUTHORIZATION, "")
        principal = hashlib.blake2b(
            authorization.encode("utf-8", "surrogateescape"),
            key=self._signing_key,
            digest_size=9,
        ).hexdigest()
        self._principals[principal] = authorization
        mac = self._url_mac(principal, request.path, list(request.query.items()))
        target = request.rel_url.update_query({SIGNATURE_PARAM: f"{principal}.{mac}"})
        return web.Response(status=307, headers={hdrs.LOCATION: str(target)})

    def _credentialed(self, request: web.Request) -> bool:
        if any(name in request.headers for name in CREDENTIAL_HEADERS):
            return True
        values = request.headers.values()
        return any(key in value for value in values for key in self.credentials)

    async def _serve_hop(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """A redirected request: served as the key it was signed for, only
        without any credential of its own and with a valid signature.

        A signed download on the same origin (no ``signature``, its own
        ``X-Signature``) is a hop too: counted and refused a credential
        here, its signature checked by the download handler.
        """
        self.observed["redirect_hops"] += 1
        if self._credentialed(request):
            self.observed["credentialed_hops"] += 1
            return ApiError(
                400,
                "Only one auth mechanism allowed; only the signature query "
                "parameter or the Authorization header should be specified.",
                param=SIGNATURE_PARAM,
            ).response()
        if SIGNATURE_PARAM not in request.query:
            return await handler(request)
        principal, _, mac = request.query[SIGNATURE_PARAM].partition(".")
        query = [(k, v) for k, v in request.query.items() if k != SIGNATURE_PARAM]
        expected = self._url_mac(principal, request.path, query)
        authorization = self._principals.get(principal)
        if authorization is None or not hmac.compare_digest(
            mac.encode("utf-8", "surrogateescape"), expected.encode()
        ):
            return ApiError(
                400, "Invalid value for 'signature'.", param=SIGNATURE_PARAM
            ).response()
        headers = {k: v for k, v in request.headers.items() if k != hdrs.AUTHORIZATION}
        if authorization:
            headers[hdrs.AUTHORIZATION] = authorization
        signed = request.clone(
            headers=CIMultiDictProxy(CIMultiDict(headers)),
            rel_url=request.rel_url.with_query(query),
        )
        return await handler(signed)

    def _url_mac(self, principal: str, path: str, query: list[tuple[str, str]]) -> str:
        message = json.dumps([principal, path, query]).encode()
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()[:32]

    def _refuse(
        self, fault: str, number: int, request: web.Request, *, storage: bool
    ) -> web.StreamResponse:
        """The faults that answer in place of the handler."""
        if fault == "rate_limit":
            return self._too_many_requests()
        if fault == "server_error":
            return self._server_error(number, storage=storage)
        if fault == "reset":
            return _drop_connection(request)
        if fault == "redirect":
            return self._redirect(request)
        return web.Response(body=_HTML_PAGE, content_type="text/html", charset="utf-8")

    def _too_many_requests(self) -> web.Response:
        return ApiError(
            429,
            "Rate limit reached for requests. Please try again in "
            f"{self.retry_after}s.",
            type="requests",
            code="rate_limit_exceeded",
            headers={hdrs.RETRY_AFTER: str(self.retry_after)},
        ).response()

    def _server_error(self, number: int, *, storage: bool) -> web.Response:
        pick = int(_unit(self.seed, number, "status") * len(_SERVER_ERRORS))
        status = _SERVER_ERRORS[min(pick, len(_SERVER_ERRORS) - 1)]
        headers: dict[str, str] = {}
        # Only some 503s say when to come back, so clients meet both kinds.
        if status == _HTTP_UNAVAILABLE and _unit(self.seed, number, "wait") < 0.5:  # noqa: PLR2004 - half of them
            headers[hdrs.RETRY_AFTER] = str(self.retry_after)
        if storage:
            # An object store answers in its own (S3-style XML) dialect.
            code, message = _STORAGE_ERRORS[status]
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
            )
            return web.Response(
                text=body,
                status=status,
                content_type="application/xml",
                headers=headers,
            )
        return ApiError(
            status,
            _SERVER_ERROR_MESSAGES[status],
            type="server_error",
            headers=headers,
        ).response()

    async def _truncate(
        self, request: web.Request, handler: Handler, *, storage: bool
    ) -> web.StreamResponse:
        """Serve the first half of a successful answer.

        A download is cut by the storage handler itself, which knows the
        file's full length: it announces all of it, sends half and hangs up,
        so the client sees a payload error rather than quietly fewer lines.
        An API answer (a JSON body built in memory) is cut here, with a
        length that matches the cut, so only decoding can notice. Errors and
        redirects are served whole.
        """
        if storage:
            request[TRUNCATE_DOWNLOAD] = "asked"
            response = await handler(request)
            if request.get(TRUNCATE_DOWNLOAD) == "done":
                self.injected["truncated"] += 1
            return response
        response = await handler(request)
        body = response.body if isinstance(response, web.Response) else None
        if (
            not isinstance(body, bytes)
            or not 200 <= response.status < 300  # noqa: PLR2004 - success only
            or len(body) < 2  # noqa: PLR2004 - something to cut
        ):
            return response
        self.injected["truncated"] += 1
        return web.Response(
            status=response.status,
            headers={hdrs.CONTENT_TYPE: response.headers[hdrs.CONTENT_TYPE]},
            body=body[: len(body) // 2],
        )

    def stuck(self, request: web.Request) -> bool:
        """Whether this listing request is to be answered as a stuck page
        (``has_more: true``, the cursor it was asked with); counts it."""
        if request.get(_FAULT_KEY) != "stuck_cursor":
            return False
        self.injected["stuck_cursor"] += 1
        return True

    def duplicate_boundary(
        self,
        request: web.Request,
        data: list[dict[str, Any]],
        audit: AuditLogData,
        query: AuditQuery,
    ) -> list[dict[str, Any]]:
        """Put the ``after`` record back on top of its page, when so chosen.

        Cursor pagination is exclusive, but some backends re-serve the
        boundary record; a client that does not de-duplicate by id stores
        it twice. The rest of the page is left as it is.
        """
        if request.get(_FAULT_KEY) != "duplicates" or query.after is None:
            return data
        try:
            boundary = audit.index_of(query.after)
        except ValueError:
            return data
        self.injected["duplicates"] += 1
        return [audit.record(boundary), *data]


def _is_hop(request: web.Request) -> bool:
    """Whether *request* followed a ``redirect`` profile's 307: an API URL
    signed with :data:`SIGNATURE_PARAM`, or a signed download of this origin."""
    if request.path.startswith(_API_PREFIX):
        return SIGNATURE_PARAM in request.query
    return request.path.startswith(STORAGE_PREFIX)


def _drop_connection(request: web.Request) -> web.StreamResponse:
    """Drop the connection with a TCP reset before a byte of the answer.

    The response returned is never written: aiohttp finds the transport
    closed and gives up quietly, where raising would log an error.
    """
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger 0 turns the close into a reset, as a crashed peer or a
            # load balancer cutting idle connections produces.
            with contextlib.suppress(OSError):
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
        transport.abort()
    return web.Response(status=499)


async def stall(request: web.Request, seconds: float) -> bool:
    """Wait *seconds*; ``False`` as soon as the client hangs up.

    Giving up early keeps an abandoned request from holding the server
    (and its shutdown) for the whole delay.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        transport = request.transport
        if transport is None or transport.is_closing():
            return False
        await asyncio.sleep(min(left, _POLL_SECONDS))
    return True
