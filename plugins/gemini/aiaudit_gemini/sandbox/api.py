"""The sandbox's Reports API: ``activities.list``, as the discovery document
(revision 20260929) describes it and as Google answers it.

``GET /admin/reports/v1/activity/users/{userKey}/applications/{applicationName}``:

* ``userKey`` ``all``, or a person's primary email or profile id;
  ``applicationName`` one of the document's 42 (those not generated here
  are empty);
* query parameters are the method's and Google's standard ones only: any
  other name is a 400, so a client that misspells one finds out;
* ``startTime`` (inclusive) and ``endTime`` (exclusive) in RFC 3339, the
  document's pattern; a start at or after the end, a start in the future,
  or one more than 180 days before now is a 400 (the real API clamps the
  last silently: the sandbox refuses it so that a client's bug shows), and
  so is a start before 2025-06-20 on a Gemini application;
* ``maxResults`` 1 to 1000 (default 1000); ``eventName``; ``filters``
  (``name==value`` and ``name<>value``, and the numeric comparisons, comma
  separated; a parameter no event of the application has is ignored, one
  the ``eventName`` does not have makes the report empty);
  ``actorIpAddress``; ``customerId`` (``my_customer`` or the domain's own);
  ``includeSensitiveData=true`` is a 403 on these applications;
  ``orgUnitID`` and ``groupIdFilter`` are checked against their patterns,
  and they and the other filters (``resourceDetailsFilter``,
  ``agentInfoFilter``, ``applicationInfoFilter``, ``networkInfoFilter``,
  ``deviceFilter``, ``statusFilter``) are accepted but not applied: the
  connector reads whole applications;
* newest first, ties on the time by ``uniqueQualifier``; an Activity
  returned whole (every event) when any of its events matches;
* ``nextPageToken`` only when there is more; it is opaque, signed, and
  bound to the query it continues: sent with other parameters it is a 400.
  It holds a position, not a count, so events published late between two
  pages do not shift the pages after them;
* the empty report has no ``items``;
* ``Authorization: Bearer`` with a live token of :mod:`.token`, else 401
  ``authError``; a token whose subject is not a Reports admin gets 401
  "Access denied. You are not authorized to read activity records.";
* errors in Google's envelope ``{"error": {"code", "message", "errors":
  [{"message", "domain", "reason"}], "status"}}``.

The fault profiles (see :mod:`.server`) are applied here, to the API's
requests only: the token endpoint is never disturbed.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
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

from aiaudit_gemini.sandbox.data import (
    AUDIT_SCOPE,
    GEMINI_APPLICATIONS,
    GEMINI_START,
    Activity,
    Domain,
    stable_id,
)
from aiaudit_gemini.sandbox.token import TOKEN_PATH, AccessToken, TokenEndpoint
from connector_core.sandbox import FaultDraw, latency_middleware


if TYPE_CHECKING:
    from multidict import MultiMapping

    from connector_core.sandbox import SandboxOptions


__all__ = [
    "ACCESS_DENIED",
    "ACTIVITIES_PATH",
    "ALL_APPLICATIONS",
    "HORIZON",
    "MAX_RESULTS",
    "METHOD_PARAMETERS",
    "SIGNATURE_PARAM",
    "STANDARD_PARAMETERS",
    "ApiError",
    "Budget",
    "ReportsApi",
    "dumps",
]

ACTIVITIES_PATH: Final = (
    "/admin/reports/v1/activity/users/{userKey}/applications/{applicationName}"
)
MAX_RESULTS: Final = 1000
HORIZON: Final = timedelta(days=180)
"""How far back the API keeps activity."""
SIGNATURE_PARAM: Final = "signature"
ACCESS_DENIED: Final = "Access denied. You are not authorized to read activity records."

ALL_APPLICATIONS: Final = frozenset(
    {
        "access_evaluation", "access_transparency", "admin", "admin_data_action",
        "assignments", "calendar", "chat", "chrome", "classroom", "cloud_search",
        "contacts", "context_aware_access", "data_studio", "data_migration",
        "directory_sync", "drive", "gcp", "gmail", "gplus", "graduation", "groups",
        "groups_enterprise", "jamboard", "keep", "ldap", "login", "meet",
        "meet_hardware", "mobile", "profile", "rules", "saml", "token",
        "user_accounts", "vault", "gemini_in_workspace_apps", "tasks", "takeout",
        "voice", "chrome_sync", "workspace_studio", "gemini_notebook",
    }
)  # fmt: skip
"""The ``applicationName`` pattern's alternatives."""

METHOD_PARAMETERS: Final = frozenset(
    {
        "actorIpAddress", "agentInfoFilter", "applicationInfoFilter", "customerId",
        "deviceFilter", "endTime", "eventName", "filters", "groupIdFilter",
        "includeSensitiveData", "maxResults", "networkInfoFilter", "orgUnitID",
        "pageToken", "resourceDetailsFilter", "startTime", "statusFilter",
    }
)  # fmt: skip
"""The query parameters of ``reports.activities.list``."""

STANDARD_PARAMETERS: Final = frozenset(
    {
        "$.xgafv", "access_token", "alt", "callback", "fields", "key",
        "oauth_token", "prettyPrint", "quotaUser", "uploadType", "upload_protocol",
    }
)  # fmt: skip
"""Google's parameters every method takes; accepted and ignored (the
sandbox answers JSON whatever ``alt`` says)."""

_UNBOUND: Final = frozenset({"pageToken", *STANDARD_PARAMETERS})
"""Parameters a page token is not bound to."""

_RFC3339: Final = re.compile(
    r"(\d\d\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:(Z)|([-+])(\d\d):(\d\d))"
)
_FILTER: Final = re.compile(r"([A-Za-z0-9_]+)(==|<>|<=|>=|<|>)(.*)", re.DOTALL)
_CUSTOMER: Final = re.compile(r"C.+|my_customer", re.DOTALL)
_ORG_UNIT: Final = re.compile(r"id:[a-z0-9]+")
_GROUPS: Final = re.compile(r"id:[a-z0-9]+(,id:[a-z0-9]+)*")
_STATUS_TEXT: Final = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_UNAUTHENTICATED: Final = (
    "Request had invalid authentication credentials. Expected OAuth 2 access "
    "token, login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_LOWEST: Final = -(2**63) - 1

Handler: TypeAlias = Callable[[web.Request], Awaitable[web.StreamResponse]]
_TOKEN: Final = web.RequestKey("token", AccessToken)


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        # A lone surrogate (the poisoned profile) has no UTF-8 form; JSON
        # carries it as an escape, which is what a poisoned API sends.
        return json.dumps(value, ensure_ascii=True)


class ApiError(Exception):
    """An error answer in Google's envelope, raised anywhere in a handler."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str,
        *,
        domain: str = "global",
        headers: dict[str, str] | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def response(self) -> web.Response:
        detail = {
            "message": self.message,
            "domain": self.domain,
            "reason": self.reason,
            **self.extra,
        }
        body = {
            "error": {
                "code": self.code,
                "message": self.message,
                "errors": [detail],
                "status": _STATUS_TEXT.get(self.code, "UNKNOWN"),
            }
        }
        return web.json_response(
            body, status=self.code, headers=self.headers, dumps=dumps
        )


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "invalid")


def forbidden() -> ApiError:
    return ApiError(403, "Not Authorized to access this resource/api", "forbidden")


@attrs.define
class Budget:
    """Requests allowed per window, refused with a 429 once spent."""

    limit: int
    window: float = 60.0
    started: float = attrs.Factory(time.monotonic)
    used: int = 0
    refused: int = 0

    def spend(self) -> None:
        """Count one request.

        Raises:
            ApiError: 429 ``rateLimitExceeded`` with ``Retry-After``.
        """
        now = time.monotonic()
        if now - self.started >= self.window:
            self.started += math.floor((now - self.started) / self.window) * self.window
            self.used = 0
        if self.used >= self.limit:
            self.refused += 1
            wait = max(1, math.ceil(self.started + self.window - now))
            raise rate_limited(str(wait))
        self.used += 1


def rate_limited(retry_after: str) -> ApiError:
    return ApiError(
        429,
        "Rate Limit Exceeded",
        "rateLimitExceeded",
        domain="usageLimits",
        headers={"Retry-After": retry_after},
    )


@attrs.frozen
class _Query:
    """A validated listing request."""

    application: str
    user_key: str
    lower: datetime
    upper: datetime
    limit: int
    event_name: str | None
    filters: tuple[tuple[str, str, str], ...]
    actor_ip: str | None
    bound: str
    """What a page token of this query is bound to."""


class ReportsApi:
    """The handlers over one :class:`~.data.Domain`.

    Attributes:
        hidden_until_published: Activities held back (the ``late``
            profile) until the sandbox has served ``publish_delay`` seconds.
        observed: Counters the conformance suite and tests read.
        queries: The query of every listing served, in order.
    """

    def __init__(
        self,
        domain: Domain,
        tokens: TokenEndpoint,
        *,
        faults: FaultDraw | None = None,
        budget: Budget | None = None,
        publish_delay: float = 0.0,
        hidden: frozenset[tuple[str, int]] = frozenset(),
    ) -> None:
        self.domain = domain
        self.tokens = tokens
        self.faults = faults
        self.budget = budget
        self.publish_delay = publish_delay
        self.hidden_until_published = hidden
        self.started = time.monotonic()
        self.observed: dict[str, int] = {
            "redirect_hops": 0,
            "credentialed_hops": 0,
            "requests": 0,
            "refused": 0,
        }
        self.queries: list[list[tuple[str, str]]] = []
        self._secret = stable_id(domain.seed, "page-token-key", 32).encode()
        self._signed: dict[str, AccessToken] = {}
        self._keys: dict[str, list[tuple[datetime, int]]] = {}
        self._parameter_names = {
            app: frozenset(
                p["name"]
                for a in activities
                for e in a.events
                for p in e.get("parameters", ())
            )
            for app, activities in domain.activities.items()
        }

    def app(self, options: SandboxOptions) -> web.Application:
        app = web.Application(middlewares=[latency_middleware(options), self._gate])
        app.router.add_get(ACTIVITIES_PATH, self.activities)
        self.tokens.register(app)
        return app

    def hidden(self) -> frozenset[tuple[str, int]]:
        if time.monotonic() - self.started >= self.publish_delay:
            return frozenset()
        return self.hidden_until_published

    # -- the gateway: authenticate, spend, disturb --------------------------------

    @web.middleware
    async def _gate(  # noqa: PLR0911 - one answer per way through
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        if request.path == TOKEN_PATH:
            return await handler(request)
        self.observed["requests"] += 1
        try:
            if SIGNATURE_PARAM in request.query:
                request[_TOKEN] = self._signed_token(request)
                return await handler(request)
            request[_TOKEN] = self._token(request)
            if self.budget is not None:
                self.budget.spend()
            if self.faults is not None and self.faults.draw():
                return await self._fault(self.faults.profile, request, handler)
            return await handler(request)
        except ApiError as exc:
            self.observed["refused"] += 1
            return exc.response()
        except web.HTTPNotFound:
            self.observed["refused"] += 1
            return ApiError(404, "Not Found", "notFound").response()
        except web.HTTPMethodNotAllowed as exc:
            self.observed["refused"] += 1
            message = f"Method {request.method} not allowed"
            return ApiError(exc.status, message, "badRequest").response()

    def _token(self, request: web.Request) -> AccessToken:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        token = (
            self.tokens.lookup(value.strip()) if scheme.lower() == "bearer" else None
        )
        if token is None:
            # The same answer for a missing, unknown or expired token, and
            # never an echo of it.
            raise ApiError(
                401,
                _UNAUTHENTICATED,
                "authError",
                extra={"location": "Authorization", "locationType": "header"},
            )
        return token

    # -- faults ------------------------------------------------------------------

    async def _fault(
        self, profile: str, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        if profile == "rate_limit":
            raise rate_limited("1")
        if profile == "quota":
            raise ApiError(
                503,
                "Quota exceeded for quota metric 'Queries' and limit 'Queries per "
                "minute per user' of service 'admin.googleapis.com'.",
                "quotaExceeded",
                domain="usageLimits",
            )
        if profile == "server_error":
            if self.faults is not None and self.faults.injected % 2:
                raise ApiError(
                    503, "The service is currently unavailable.", "backendError"
                )
            raise ApiError(500, "Internal error encountered.", "backendError")
        if profile == "redirect":
            return self._redirect(request)
        if profile == "stuck_cursor":
            return await self._stuck(request)
        if profile != "malformed":
            return await handler(request)  # a profile that changes the data
        response = await handler(request)
        body = response.body if isinstance(response, web.Response) else None
        if response.status != 200 or not isinstance(body, bytes):  # noqa: PLR2004
            return response
        page = orjson.loads(body)
        page["items"] = {"error": "upstream answered with a partial page"}
        return web.json_response(page, dumps=dumps)

    def _redirect(self, request: web.Request) -> web.StreamResponse:
        handle = stable_id(self.domain.seed, f"signed-{len(self._signed)}", 16)
        self._signed[handle] = request[_TOKEN]
        query = list(request.rel_url.query.items())
        mac = self._mac([handle, request.path, query])
        target = request.rel_url.update_query({SIGNATURE_PARAM: f"{handle}.{mac}"})
        raise web.HTTPTemporaryRedirect(location=str(target))

    def _signed_token(self, request: web.Request) -> AccessToken:
        """What a signed URL stands for; it must come with no credential."""
        self.observed["redirect_hops"] += 1
        if "Authorization" in request.headers:
            self.observed["credentialed_hops"] += 1
            raise bad_request(
                "Only one auth mechanism allowed; only the signature "
                "parameter should be specified."
            )
        handle, _, mac = request.query[SIGNATURE_PARAM].partition(".")
        query = [(k, v) for k, v in request.query.items() if k != SIGNATURE_PARAM]
        token = self._signed.get(handle)
        expected = self._mac([handle, request.path, query])
        if token is None or not hmac.compare_digest(mac.encode(), expected.encode()):
            raise bad_request("Invalid value for: signature")
        return token

    async def _stuck(self, request: web.Request) -> web.Response:
        """The query's first page, saying there is more, whatever token was
        sent, with the same ``nextPageToken`` every time."""
        self._authorize(request)
        query = self._query(request)
        page, _ = self._page(query, None)
        mark = page[-1].key if page else (query.upper, _LOWEST)
        return self._answer(query, page, self._page_token(query, mark))

    # -- the listing -----------------------------------------------------------------

    async def activities(self, request: web.Request) -> web.Response:
        self._authorize(request)
        query = self._query(request)
        self.queries.append(list(request.query.items()))
        cursor = self._cursor(request.query.get("pageToken"), query)
        page, more = self._page(query, cursor)
        next_token = self._page_token(query, page[-1].key) if more else None
        return self._answer(query, page, next_token)

    def _authorize(self, request: web.Request) -> None:
        """Refuse a token that may not read activity: one without the audit
        scope, or whose subject is no Reports admin."""
        token = request[_TOKEN]
        if AUDIT_SCOPE not in token.scopes:
            raise ApiError(
                403,
                "Request had insufficient authentication scopes.",
                "insufficientPermissions",
            )
        subject = self.domain.user(token.subject or "")
        if subject is None or not subject.admin:
            raise ApiError(
                401,
                ACCESS_DENIED,
                "authError",
                extra={"location": "Authorization", "locationType": "header"},
            )

    def _answer(
        self, query: _Query, page: list[Activity], next_token: str | None
    ) -> web.Response:
        tag = hashlib.blake2b(
            f"{query.bound}:{[a.qualifier for a in page]}".encode(), digest_size=12
        ).hexdigest()
        body: dict[str, Any] = {"kind": "admin#reports#activities", "etag": f'"{tag}"'}
        if page:
            body["items"] = [a.record for a in page]
        if next_token is not None:
            body["nextPageToken"] = next_token
        return web.json_response(body, dumps=dumps)

    def _query(self, request: web.Request) -> _Query:  # noqa: C901, PLR0912 - one check per parameter
        app = request.match_info["applicationName"]
        user_key = request.match_info["userKey"]
        query = request.query
        names = [k for k in query if k != SIGNATURE_PARAM]
        unknown = sorted(set(names) - METHOD_PARAMETERS - STANDARD_PARAMETERS)
        if unknown:
            raise bad_request(
                f'Unknown name "{unknown[0]}": Cannot bind query parameter.'
            )
        for name in set(names):
            if len(query.getall(name)) > 1 and name not in STANDARD_PARAMETERS:
                raise bad_request(f"Parameter {name} given more than once.")
        if app not in ALL_APPLICATIONS:
            raise bad_request(f"Invalid value '{app}' for applicationName")
        if user_key != "all" and self.domain.user(user_key.lower()) is None:
            raise bad_request(f"Invalid value '{user_key}' for userKey")
        customer = query.get("customerId")
        if customer is not None:
            if not _CUSTOMER.fullmatch(customer):
                raise bad_request(f"Invalid value '{customer}' for customerId")
            if customer not in {"my_customer", self.domain.customer_id}:
                raise forbidden()
        sensitive = query.get("includeSensitiveData")
        if sensitive is not None:
            if sensitive not in {"true", "false"}:
                raise bad_request(
                    f"Invalid value '{sensitive}' for includeSensitiveData"
                )
            if sensitive == "true":
                raise forbidden()
        for name, pattern in (("orgUnitID", _ORG_UNIT), ("groupIdFilter", _GROUPS)):
            value = query.get(name)
            if value and not pattern.fullmatch(value):
                raise bad_request(f"Invalid value '{value}' for {name}")
        now = datetime.now(UTC)
        horizon = now - HORIZON
        start = _time(query, "startTime")
        end = _time(query, "endTime")
        if start is not None:
            if start > now:
                raise bad_request("Start time is in the future.")
            if start < horizon:
                raise bad_request(
                    f"Start time {query['startTime']} is more than 180 days ago: "
                    "activity is kept for 180 days."
                )
            if app in GEMINI_APPLICATIONS and start < GEMINI_START:
                raise bad_request(
                    f"Start time {query['startTime']} is before "
                    f"{GEMINI_START.date().isoformat()}, the first day of {app} data."
                )
        if start is not None and end is not None and start >= end:
            raise bad_request("Start time must be earlier than end time.")
        text = query.get("maxResults", str(MAX_RESULTS))
        limit = int(text) if re.fullmatch(r"[0-9]{1,7}", text) else 0
        if not 1 <= limit <= MAX_RESULTS:
            raise bad_request(
                f"Invalid value '{text}'. Values must be within the range: "
                f"[1, {MAX_RESULTS}]"
            )
        event_name = query.get("eventName") or None
        filters = _filters(query.get("filters"))
        bound = [
            (k, v)
            for k, v in sorted(query.items())
            if k not in _UNBOUND and k != SIGNATURE_PARAM
        ]
        return _Query(
            application=app,
            user_key=user_key.lower(),
            lower=max(start or horizon, horizon),
            upper=min(end or now, now),
            limit=limit,
            event_name=event_name,
            filters=filters,
            actor_ip=query.get("actorIpAddress"),
            bound=orjson.dumps([request.path, bound]).decode(),
        )

    def _index(self, app: str) -> list[tuple[datetime, int]]:
        keys = self._keys.get(app)
        if keys is None:
            keys = self._keys[app] = [
                a.key for a in self.domain.activities.get(app, ())
            ]
        return keys

    def _page(
        self, query: _Query, cursor: tuple[datetime, int] | None
    ) -> tuple[list[Activity], bool]:
        """The page after *cursor*, newest first, and whether more follow."""
        history = self.domain.activities.get(query.application, [])
        keys = self._index(query.application)
        low = bisect.bisect_left(keys, (query.lower, _LOWEST))
        high = bisect.bisect_left(keys, (query.upper, _LOWEST))
        if cursor is not None:
            high = min(high, bisect.bisect_left(keys, cursor))
        hidden = self.hidden()
        keep = self._matcher(query)
        page: list[Activity] = []
        for position in range(high - 1, low - 1, -1):
            activity = history[position]
            if (activity.application, activity.qualifier) in hidden or not keep(
                activity
            ):
                continue
            if len(page) == query.limit:
                return page, True
            page.append(activity)
        return page, False

    def _matcher(self, query: _Query) -> Callable[[Activity], bool]:
        known = self._parameter_names.get(query.application, frozenset())
        filters = [f for f in query.filters if f[0] in known]  # unknown: ignored
        user = None if query.user_key == "all" else self.domain.user(query.user_key)

        def keep(activity: Activity) -> bool:
            record = activity.record
            if user is not None and record["actor"].get("profileId") != user.profile_id:
                return False
            if query.actor_ip is not None and record.get("ipAddress") != query.actor_ip:
                return False
            return any(
                (query.event_name is None or event.get("name") == query.event_name)
                and all(_holds(event, f) for f in filters)
                for event in activity.events
            )

        return keep

    # -- page tokens ---------------------------------------------------------------

    def _mac(self, value: Any) -> str:
        digest = hmac.new(self._secret, orjson.dumps(value), "sha256").digest()[:16]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def _page_token(self, query: _Query, mark: tuple[datetime, int]) -> str:
        moment, qualifier = mark
        position = [moment.isoformat(), qualifier]
        payload = base64.urlsafe_b64encode(orjson.dumps(position)).rstrip(b"=").decode()
        return f"{payload}.{self._mac([query.bound, position])}"

    def _cursor(self, token: str | None, query: _Query) -> tuple[datetime, int] | None:
        if token is None:
            return None
        payload, _, mac = token.partition(".")
        try:
            position = orjson.loads(
                base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            )
            moment, qualifier = datetime.fromisoformat(position[0]), int(position[1])
        except (ValueError, TypeError, IndexError, KeyError):
            raise bad_request("Invalid pageToken.") from None
        if not hmac.compare_digest(
            mac.encode(), self._mac([query.bound, position]).encode()
        ):
            raise bad_request(
                "Invalid pageToken: it belongs to a request with other parameters."
            )
        return (moment, qualifier)


def _time(query: MultiMapping[str], name: str) -> datetime | None:
    text = query.get(name)
    if text is None:
        return None
    if not _RFC3339.fullmatch(text):
        raise bad_request(f"Invalid value '{text}' for {name}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise bad_request(f"Invalid value '{text}' for {name}") from None
    return moment.astimezone(UTC)


def _filters(text: str | None) -> tuple[tuple[str, str, str], ...]:
    if not text:
        return ()
    found: dict[str, tuple[str, str, str]] = {}
    for part in text.split(","):
        match = _FILTER.fullmatch(part.strip())
        if match is None:
            raise bad_request(f"Invalid value '{text}' for filters")
        name, operator, value = match.groups()
        found[name] = (name, operator, value)  # one value per parameter: the last
    return tuple(found.values())


def _holds(event: dict[str, Any], condition: tuple[str, str, str]) -> bool:
    name, operator, wanted = condition
    for parameter in event.get("parameters", ()):
        if parameter.get("name") != name:
            continue
        values = _values(parameter)
        if operator == "==":
            return wanted in values
        if operator == "<>":
            return wanted not in values
        return any(_compare(value, operator, wanted) for value in values)
    return False


def _values(parameter: dict[str, Any]) -> list[str]:
    if "boolValue" in parameter:
        return [str(parameter["boolValue"]).lower()]
    for field in ("value", "intValue"):
        if field in parameter:
            return [str(parameter[field])]
    for field in ("multiValue", "multiIntValue"):
        if field in parameter:
            return [str(v) for v in parameter[field]]
    return []


def _compare(value: str, operator: str, wanted: str) -> bool:
    try:
        left, right = int(value), int(wanted)
    except ValueError:
        return False
    return {
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }[operator]
