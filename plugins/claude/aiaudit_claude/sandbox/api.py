"""The sandbox's HTTP API: the gateway and the Compliance API's Activity Feed.

``GET /v1/compliance/activities`` as the API reference describes it:

* filters ``created_at.gte|gt|lte|lt`` (dotted names, strict RFC 3339 with
  a zone: a bare date is a 400), ``activity_types[]`` or
  ``exclude_activity_types[]`` (never both), ``actor_ids[]`` and its alias
  ``user_ids[]`` (``user_…`` ids only, lists merged), ``organization_ids[]``
  (``org_…`` or a UUID);
* newest first, ties broken by id (``order=asc`` the other way round);
  ``after_id`` continues in the result order, ``before_id`` returns the
  page adjacent to the cursor on its newer side; never both;
* ``limit`` 1 to 5,000 (default 100); the envelope ``data``, ``has_more``,
  ``first_id``, ``last_id`` (null on an empty page);
* auth by ``x-api-key`` (or ``Authorization: Bearer``): an unknown key is a
  401 that costs no quota, a key without ``read:compliance_activities`` a
  403 ``Missing required scopes`` that does;
* one budget per parent organization, every key sharing it, reported on
  every authenticated answer in ``anthropic-ratelimit-requests-*`` and
  refused with a 429 and ``retry-after`` once spent;
* the error envelope ``{"type": "error", "error": {"type", "message"},
  "request_id"}`` and a ``request-id`` header on every answer;
* a ``compliance_api_accessed`` activity for every authenticated request,
  indexed after :attr:`FeedApi.ingestion_delay` seconds, as the feed's own.

The gateway (:meth:`FeedApi._gate`: keys, budget, faults, the access log)
serves every route of the application, the chat endpoints
(:mod:`.chats_api`) included.
"""

from __future__ import annotations

import base64
import bisect
import hmac
import json
import math
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import attrs
import orjson
from aiohttp import web

from aiaudit_claude.sandbox.data import Activity, ApiKey, OrgData, stable_id
from connector_core.sandbox import FaultDraw, latency_middleware


if TYPE_CHECKING:
    from collections.abc import Iterable

    from multidict import MultiMapping

    from connector_core.sandbox import SandboxOptions


__all__ = [
    "ADMIN_USERS_PATH",
    "DEFAULT_LIMIT",
    "FEED_PATH",
    "FEED_SCOPE",
    "MAX_LIMIT",
    "TIME_FILTERS",
    "ApiError",
    "Budget",
    "FeedApi",
    "dumps",
    "query_time",
    "request_key",
    "within",
]

FEED_PATH: Final = "/v1/compliance/activities"
FEED_SCOPE: Final = "read:compliance_activities"
ACCESS_TYPE: Final = "compliance_api_accessed"
MAX_LIMIT: Final = 5000
DEFAULT_LIMIT: Final = 100
ADMIN_PREFIX: Final = "/v1/organizations/"
ADMIN_USERS_PATH: Final = "/v1/organizations/users"
ADMIN_MAX_LIMIT: Final = 1000
ORGANIZATION_BUDGET: Final = 600
"""Requests a minute per parent organization, as the API documents."""
SIGNATURE_PARAM: Final = "signature"
CREDENTIAL_HEADERS: Final = ("Authorization", "x-api-key")

_RFC3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})"
)
_TYPE_SHAPE: Final = re.compile(r"[a-z0-9_]{1,100}")
TIME_FILTERS: Final = ("gte", "gt", "lte", "lt")

Handler: TypeAlias = Callable[[web.Request], Awaitable[web.StreamResponse]]
_KEY: Final = web.RequestKey("key", ApiKey)


def request_key(request: web.Request) -> ApiKey:
    """The key the gateway identified for *request*."""
    return request[_KEY]


_REQUEST_ID: Final = web.RequestKey("request_id", str)


class ApiError(Exception):
    """An error answer in the API's envelope, raised anywhere in a handler."""

    TYPES: Final = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        429: "rate_limit_error",
        500: "api_error",
        529: "overloaded_error",
    }

    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.kind = kind or self.TYPES.get(status, "api_error")

    def response(self, request_id: str) -> web.Response:
        body = {
            "type": "error",
            "error": {"type": self.kind, "message": self.message},
            "request_id": request_id,
        }
        headers = {**self.headers, "request-id": request_id}
        return web.json_response(body, status=self.status, headers=headers, dumps=dumps)


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        # A lone surrogate (the poisoned profile) has no UTF-8 form; JSON
        # carries it as an escape, which is what a poisoned API sends.
        return json.dumps(value, ensure_ascii=True)


@attrs.define
class Budget:
    """The parent organization's requests per window (a minute by default):
    every key and every linked organization spends the same one."""

    limit: int
    window: float = 60.0
    enforced: bool = True
    started: float = attrs.Factory(time.time)
    used: int = 0
    refused: int = 0

    def spend(self) -> dict[str, str]:
        """Count one request; its headers, or a 429 once the budget is spent.

        Raises:
            ApiError: 429 with ``retry-after``, the budget being spent.
        """
        now = time.time()
        if now - self.started >= self.window:
            elapsed = math.floor((now - self.started) / self.window) * self.window
            self.started += elapsed
            self.used = 0
        reset = self.started + self.window
        headers = {
            "anthropic-ratelimit-requests-limit": str(self.limit),
            "anthropic-ratelimit-requests-reset": datetime.fromtimestamp(
                math.ceil(reset), UTC
            ).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if self.enforced and self.used >= self.limit:
            headers["anthropic-ratelimit-requests-remaining"] = "0"
            headers["retry-after"] = str(max(1, math.ceil(reset - now)))
            self.refused += 1
            raise ApiError(
                429,
                "Number of requests has exceeded your per-minute rate limit.",
                headers=headers,
            )
        self.used += 1
        remaining = max(0, self.limit - self.used)
        headers["anthropic-ratelimit-requests-remaining"] = str(remaining)
        return headers


class FeedApi:
    """The request handlers over one :class:`OrgData`.

    Attributes:
        ingestion_delay: Seconds before a ``compliance_api_accessed``
            activity is listed (the API indexes within about a minute).
        hidden: Activity ids not published yet (the ``late`` profile).
        observed: Counters the conformance suite reads.
        accessed: Every ``compliance_api_accessed`` activity logged.
        queries: The query of every listing served, in order, for tests
            that check what a client asked for.
    """

    def __init__(
        self,
        data: OrgData,
        *,
        faults: FaultDraw | None,
        budget: Budget,
        publish_delay: float = 0.0,
        hidden: frozenset[str] = frozenset(),
        ingestion_delay: float = 60.0,
    ) -> None:
        self.data = data
        self.faults = faults
        self.budget = budget
        self.publish_delay = publish_delay
        self.hidden_until_published = hidden
        self.ingestion_delay = ingestion_delay
        self.started = time.monotonic()
        self.observed: dict[str, int] = {"redirect_hops": 0, "credentialed_hops": 0}
        self.accessed: list[Activity] = []
        self.queries: list[list[tuple[str, str]]] = []
        self.requests = 0
        self._by_id = {a.id: a for a in data.activities}
        self._signing_key = stable_id(data.seed, "url-signing").encode()

    def app(self, options: SandboxOptions) -> web.Application:
        app = web.Application(middlewares=[latency_middleware(options), self._gate])
        app.router.add_get(FEED_PATH, self.activities)
        app.router.add_get(ADMIN_USERS_PATH, self.admin_users)
        return app

    def hidden(self) -> frozenset[str]:
        if time.monotonic() - self.started >= self.publish_delay:
            return frozenset()
        return self.hidden_until_published

    # -- the gateway: identify, authenticate, spend, disturb, log ---------------

    @web.middleware
    async def _gate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests += 1
        request_id = f"req_{stable_id(self.data.seed, f'request-{self.requests}')}"
        request[_REQUEST_ID] = request_id
        key: ApiKey | None = None
        response: web.StreamResponse
        try:
            if SIGNATURE_PARAM in request.query:
                key = self._signed(request)
                response = await handler(request)
            elif request.path.startswith(ADMIN_PREFIX):
                # The Admin API: Admin keys only, outside the Compliance
                # API's budget and its feed (neither is documented for it).
                request[_KEY] = self._admin_key(request)
                response = await self._serve(request, handler)
            else:
                key = self._key(request)
                request[_KEY] = key
                limits = self.budget.spend()  # 401s are free; the rest count
                try:
                    response = await self._serve(request, handler)
                except ApiError as exc:
                    exc.headers.update(limits)
                    raise
                response.headers.update(limits)
        except ApiError as exc:
            response = exc.response(request_id)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as exc:
            # The router's own refusals, in the API's envelope too.
            kind = "not_found_error" if exc.status == 404 else "invalid_request_error"  # noqa: PLR2004
            message = f"{request.method} {request.path}: {exc.reason}"
            response = ApiError(exc.status, message, kind=kind).response(request_id)
        response.headers["request-id"] = request_id
        if key is not None and request.path.startswith("/v1/compliance/"):
            self._log_access(request, key, response.status, request_id)
        return response

    async def _serve(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        if self.faults is not None and self.faults.draw():
            return await self._fault(self.faults.profile, request, handler)
        return await handler(request)

    def _key(self, request: web.Request) -> ApiKey:
        secret = request.headers.get("x-api-key")
        if secret is None:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            secret = token if scheme.lower() == "bearer" else None
        key = self.data.keys.get(secret or "")
        if key is None:
            # The same body whether the key is missing, unknown or revoked,
            # and never an echo of it.
            raise ApiError(401, "The API key provided is invalid or has been revoked.")
        return key

    def _admin_key(self, request: web.Request) -> ApiKey:
        """An Admin API key; any other key is no credential there (the
        answer to a Compliance Access Key is not documented: a 401 is the
        safe reading)."""
        key = self._key(request)
        if key.kind != "admin":
            raise ApiError(401, "invalid x-api-key")
        return key

    def _log_access(
        self, request: web.Request, key: ApiKey, status: int, request_id: str
    ) -> None:
        """The feed's own record of this request, as the API writes one."""
        now = datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as printed
        activity_id = (
            f"activity_{stable_id(self.data.seed, f'access-{request_id}', 26)}"
        )
        record = {
            "id": activity_id,
            "created_at": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "organization_id": None,
            "organization_uuid": None,
            "actor": {
                "type": "api_actor",
                "api_key_id": key.key_id,
                "ip_address": request.remote or "127.0.0.1",
                "user_agent": request.headers.get("User-Agent"),
            },
            "type": ACCESS_TYPE,
            "request_id": request_id,
            "api_key_id": key.key_id,
            "url": str(request.url),
            "request_method": request.method,
            "request_body": None,
            "status_code": status,
        }
        self.accessed.append(Activity(record=record, created_at=now, id=activity_id))

    # -- faults ------------------------------------------------------------------

    async def _fault(
        self, profile: str, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        if profile == "rate_limit":
            raise ApiError(
                429,
                "Number of requests has exceeded your per-minute rate limit.",
                headers={
                    "retry-after": "1",
                    "anthropic-ratelimit-requests-remaining": "0",
                },
            )
        if profile == "server_error":
            raise ApiError(529, "Overloaded")
        if profile == "server_error_final":
            raise ApiError(
                500, "Internal server error", headers={"x-should-retry": "false"}
            )
        if profile == "redirect":
            return self._redirect(request)
        if profile == "stuck_cursor":
            return await self._stuck(request, handler)
        if profile not in {"malformed", "bad_records"}:
            return await handler(request)  # a profile that changes the data
        response = await handler(request)
        body = response.body if isinstance(response, web.Response) else None
        if not isinstance(body, bytes) or response.status != 200:  # noqa: PLR2004
            return response
        page = orjson.loads(body)
        if profile == "malformed":
            page["data"] = {"error": "upstream answered with a partial page"}
        else:
            for item in page.get("data") or ():
                item["created_at"] = "not-a-time"
        return web.json_response(page, dumps=dumps)

    def _redirect(self, request: web.Request) -> web.StreamResponse:
        key = request[_KEY]
        query = list(request.rel_url.query.items())
        mac = self._url_mac(key.key_id, request.path, query)
        target = request.rel_url.update_query({SIGNATURE_PARAM: f"{key.key_id}.{mac}"})
        raise web.HTTPTemporaryRedirect(location=str(target))

    def _signed(self, request: web.Request) -> ApiKey:
        """The key a signed URL stands for; it must come with no credential."""
        self.observed["redirect_hops"] += 1
        if any(name in request.headers for name in CREDENTIAL_HEADERS):
            self.observed["credentialed_hops"] += 1
            raise ApiError(
                400,
                "Only one auth mechanism allowed; only the signature "
                "parameter should be specified.",
            )
        key_id, _, mac = request.query[SIGNATURE_PARAM].partition(".")
        query = [(k, v) for k, v in request.query.items() if k != SIGNATURE_PARAM]
        key = next((k for k in self.data.keys.values() if k.key_id == key_id), None)
        expected = self._url_mac(key_id, request.path, query)
        if key is None or not hmac.compare_digest(mac, expected):
            raise ApiError(400, "Invalid value for: signature")
        request[_KEY] = key
        return key

    def _url_mac(self, key_id: str, path: str, query: list[tuple[str, str]]) -> str:
        message = orjson.dumps([key_id, path, query])
        digest = hmac.new(self._signing_key, message, "sha256").digest()[:16]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    async def _stuck(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """The listing's first page, saying there is more, whose ``last_id``
        leads back to this same page, whatever cursor was sent."""
        first = request.rel_url.with_query(
            [
                (k, v)
                for k, v in request.query.items()
                if k not in {"after_id", "before_id"}
            ]
        )
        response = await handler(request.clone(rel_url=first))
        body = response.body if isinstance(response, web.Response) else None
        if response.status != 200 or not isinstance(body, bytes):  # noqa: PLR2004
            return response
        page = orjson.loads(body)
        page["has_more"] = True
        page["last_id"] = page.get("last_id") or "activity_stuck"
        return web.json_response(page, dumps=dumps)

    # -- the listing ---------------------------------------------------------------

    async def activities(self, request: web.Request) -> web.Response:
        key = request[_KEY]
        if FEED_SCOPE not in key.scopes:
            got = sorted(key.scopes)
            raise ApiError(
                403, f"Missing required scopes. Got: {got} Needed: ['{FEED_SCOPE}']"
            )
        query = request.query
        self.queries.append(list(query.items()))
        limit = _limit(query)
        after, before = query.get("after_id"), query.get("before_id")
        if after is not None and before is not None:
            raise ApiError(400, "Only one of `after_id` and `before_id` may be given.")
        order = query.get("order", "desc")
        if order not in {"asc", "desc"}:
            raise ApiError(400, f"`order` must be `asc` or `desc`. Got {order!r}.")
        keep = self._filter(query)
        found = [a for a in self._candidates(query) if keep(a)]
        if order == "desc":
            found.reverse()
        descending = order == "desc"
        if before is not None:
            at = self._boundary(found, before, "before_id", descending)
            start = max(0, at - limit)
            page, more = found[start:at], start > 0
        else:
            start = (
                0
                if after is None
                else self._boundary(found, after, "after_id", descending)
            )
            page, more = found[start : start + limit], start + limit < len(found)
        body = {
            "data": [a.record for a in page],
            "has_more": more,
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None,
        }
        return web.json_response(body, dumps=dumps)

    def _candidates(self, query: MultiMapping[str]) -> list[Activity]:
        """Listed activities in the time range, oldest first."""
        bounds = {op: query_time(query, f"created_at.{op}") for op in TIME_FILTERS}
        history = self.data.activities
        times = [a.created_at for a in history]
        lo, hi = 0, len(history)
        if bounds["gte"] is not None:
            lo = max(lo, bisect.bisect_left(times, bounds["gte"]))
        if bounds["gt"] is not None:
            lo = max(lo, bisect.bisect_right(times, bounds["gt"]))
        if bounds["lt"] is not None:
            hi = min(hi, bisect.bisect_left(times, bounds["lt"]))
        if bounds["lte"] is not None:
            hi = min(hi, bisect.bisect_right(times, bounds["lte"]))
        hidden = self.hidden()
        found = [a for a in history[lo:hi] if a.id not in hidden]
        indexed = datetime.now(UTC) - timedelta(seconds=self.ingestion_delay)
        found.extend(
            a
            for a in self.accessed
            if a.created_at <= indexed and within(a.created_at, bounds)
        )
        found.sort(key=lambda a: a.key)
        return found

    def _filter(self, query: MultiMapping[str]) -> Callable[[Activity], bool]:
        included = _types(query, "activity_types[]")
        excluded = _types(query, "exclude_activity_types[]")
        if included and excluded:
            raise ApiError(
                400,
                "`activity_types[]` and `exclude_activity_types[]` cannot be combined.",
            )
        actors = {*query.getall("actor_ids[]", ()), *query.getall("user_ids[]", ())}
        for actor in actors:
            if not actor.startswith("user_"):
                raise ApiError(400, f"Invalid actor id {actor!r}: expected a user id.")
        orgs = set(query.getall("organization_ids[]", ()))

        def keep(activity: Activity) -> bool:
            if included and activity.type not in included:
                return False
            if excluded and activity.type in excluded:
                return False
            if actors and activity.actor_user_id not in actors:
                return False
            record = activity.record
            return not orgs or bool(
                {record.get("organization_id"), record.get("organization_uuid")} & orgs
            )

        return keep

    def _boundary(
        self, found: list[Activity], cursor: str, name: str, descending: bool
    ) -> int:
        """How many activities of this listing come before the page *cursor*
        (an activity id, as the API's examples show) asks for: those up to
        and including it for ``after_id``, those before it for
        ``before_id``. The cursor's activity need not be in the listing
        (other filters): its place in time is what counts."""
        anchor = self._by_id.get(cursor) or next(
            (a for a in self.accessed if a.id == cursor), None
        )
        if anchor is None:
            raise ApiError(
                400, f'Invalid `{name}`. No activity found for `{name}` "{cursor}"'
            )
        mark = anchor.key
        inclusive = name == "after_id"
        if descending:
            return sum(
                1 for a in found if a.key > mark or (inclusive and a.key == mark)
            )
        return sum(1 for a in found if a.key < mark or (inclusive and a.key == mark))

    async def admin_users(self, request: web.Request) -> web.Response:
        """``GET /v1/organizations/users``: the members, oldest first, paged
        with ``after_id`` / ``before_id`` and ``limit`` 1 to 1,000 (default
        20); filters ``email`` and ``roles[]``; ``beta=true`` ignored."""
        query = request.query
        text = query.get("limit", "20")
        limit = int(text) if text.isdigit() else 0
        if not 1 <= limit <= ADMIN_MAX_LIMIT:
            raise ApiError(400, f"limit: must be between 1 and {ADMIN_MAX_LIMIT}")
        after, before = query.get("after_id"), query.get("before_id")
        if after is not None and before is not None:
            raise ApiError(400, "Only one of after_id and before_id may be given.")
        email, roles = query.get("email"), set(query.getall("roles[]", ()))
        users = [
            u
            for u in self.data.members()
            if (email is None or u["email"] == email)
            and (not roles or u["role"] in roles)
        ]
        ids = [u["id"] for u in users]
        cursor = after or before
        if cursor is not None and cursor not in ids:
            raise ApiError(400, f"Invalid cursor {cursor!r}.")
        if before is not None:
            end = ids.index(before)
            start = max(0, end - limit)
            page, more = users[start:end], start > 0
        else:
            start = 0 if after is None else ids.index(after) + 1
            page, more = users[start : start + limit], start + limit < len(users)
        body = {
            "data": page,
            "has_more": more,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }
        return web.json_response(body, dumps=dumps)


def within(moment: datetime, bounds: dict[str, datetime | None]) -> bool:
    gte, gt, lte, lt = (bounds[op] for op in TIME_FILTERS)
    return (
        (gte is None or moment >= gte)
        and (gt is None or moment > gt)
        and (lte is None or moment <= lte)
        and (lt is None or moment < lt)
    )


def query_time(query: MultiMapping[str], name: str) -> datetime | None:
    text = query.get(name)
    if text is None:
        return None
    if not _RFC3339.fullmatch(text):
        raise ApiError(
            400,
            f"The `{name}` parameter contains an invalid timestamp format. "
            "Timestamps must be provided in RFC 3339 format e.g., "
            f'"2024-03-01T00:00:00Z". Got "{text}".',
        )
    return datetime.fromisoformat(text.replace("z", "Z")).astimezone(UTC)


def _limit(query: MultiMapping[str]) -> int:
    text = query.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    try:
        limit = int(text)
    except ValueError:
        limit = -1
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(
            400,
            f"The limit parameter must be between 1 and {MAX_LIMIT}, inclusive. "
            f"Got {text}.",
        )
    return limit


def _types(query: MultiMapping[str], name: str) -> frozenset[str]:
    values: Iterable[str] = query.getall(name, ())
    found = frozenset(values)
    for value in found:
        if not _TYPE_SHAPE.fullmatch(value):
            raise ApiError(400, f"Invalid value for `{name}`: {value!r}.")
    return found
