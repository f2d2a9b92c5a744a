"""The sandbox's aiohttp applications: the API host and the storage host.

Two applications on two ports, because the real Compliance API hands out
signed download URLs on another host (an object store): serving them from a
different origin is what lets a test prove the client drops its API key on
that redirect.

Middleware order, outermost first: OpenAI-shaped errors, the per-key rate
limit (429 with ``Retry-After``), then the fault injector, so faults and rate
limits are observed exactly as a client would meet them in production.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import attrs
from aiohttp import web

from aiaudit_chatgpt.sandbox._web import (
    ApiError,
    Publication,
    SandboxKeys,
    json_response,
    parse_bool,
    parse_int,
    require_key,
)
from aiaudit_chatgpt.sandbox.audit import (
    TENANT_EVENT_TYPES,
    AuditLogData,
    AuditQuery,
    InvalidCursorError,
)
from aiaudit_chatgpt.sandbox.compliance_api import compliance_routes
from aiaudit_chatgpt.sandbox.compliance_data import ComplianceData
from aiaudit_chatgpt.sandbox.compliance_storage import storage_routes
from aiaudit_chatgpt.sandbox.directory import directory_routes
from aiaudit_chatgpt.sandbox.faults import FaultInjector
from aiaudit_chatgpt.sandbox.org import Organization
from aiaudit_chatgpt.sandbox.usage import UsageData, usage_routes
from connector_core.sandbox import SandboxOptions, latency_middleware


__all__ = ["RateLimiter", "SandboxState", "build_api_app", "build_storage_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_EVENT_TYPE: Final = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
_BOUNDS: Final = ("gt", "gte", "lt", "lte")
_TENANT_PREFIX: Final = "tenant."


def _is_tenant_type(name: str) -> bool:
    return name.startswith(_TENANT_PREFIX) or name in TENANT_EVENT_TYPES


class RateLimiter:
    """A token bucket per API key; past it the server answers 429.

    ``Retry-After`` says when the next token is due, in whole seconds as the
    real API sends it, so a well-behaved client waits and then succeeds.
    """

    def __init__(self, rate: float, *, burst: int | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1, math.ceil(rate))
        self._buckets: dict[str, tuple[float, float]] = {}
        self.limited = 0

    def check(self, key: str) -> float | None:
        """Take a token for *key*; return the wait in seconds when there is none."""
        now = time.monotonic()
        tokens, stamp = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return None
        self._buckets[key] = (tokens, now)
        self.limited += 1
        return (1.0 - tokens) / self.rate


@attrs.define
class SandboxState:
    """Everything the handlers serve, and the counters tests read.

    Attributes:
        requests: Requests received, by route name.
        publication: When events held back as late appear (``late``).
        poisoned_ids: The events of the records served spoiled
            (``poisoned``): log id to native id.
    """

    org: Organization
    keys: SandboxKeys
    audit: AuditLogData
    usage: UsageData
    compliance: ComplianceData
    faults: FaultInjector | None = None
    limiter: RateLimiter | None = None
    requests: dict[str, int] = attrs.Factory(dict)
    storage_base: str = ""
    publication: Publication = attrs.Factory(lambda: Publication(0.0))
    poisoned_ids: dict[str, str] = attrs.Factory(dict)
    """Under ``poisoned``: the log id of each spoiled record's event and
    the native id of the record."""


def _error_middleware() -> Any:
    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()
        except web.HTTPNotFound:
            return ApiError(
                404, f"Invalid URL ({request.method} {request.path})", code=None
            ).response()
        except web.HTTPMethodNotAllowed:
            return ApiError(
                405, f"Method {request.method} not allowed on {request.path}"
            ).response()

    return errors


def _counting_middleware(state: SandboxState) -> Any:
    @web.middleware
    async def counting(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.resource
        name = route.canonical if route is not None else request.path
        state.requests[name] = state.requests.get(name, 0) + 1
        return await handler(request)

    return counting


def _rate_limit_middleware(limiter: RateLimiter) -> Any:
    @web.middleware
    async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.headers.get("Authorization", "")
        wait = limiter.check(key)
        if wait is not None:
            raise ApiError(
                429,
                f"Rate limit reached for requests. Please try again in {wait:.3f}s.",
                type="requests",
                code="rate_limit_exceeded",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        return await handler(request)

    return rate_limit


def _values(request: web.Request, name: str) -> frozenset[str] | None:
    """An array parameter, in the SDK's ``name[]=`` form or plain ``name=``."""
    found = request.query.getall(f"{name}[]", []) + request.query.getall(name, [])
    return frozenset(found) if found else None


def parse_audit_query(request: web.Request) -> AuditQuery:
    """Read ``/organization/audit_logs`` parameters as the real API names them."""
    query = request.query
    bounds: dict[str, int | None] = {}
    for bound in _BOUNDS:
        name = f"effective_at[{bound}]"
        bounds[bound] = parse_int(query, name)
    event_types = _values(request, "event_types")
    tenant_only = parse_bool(query, "tenant_only")
    if event_types is not None:
        for name in event_types:
            if not _EVENT_TYPE.match(name):
                raise ApiError(
                    400,
                    f"Invalid value for 'event_types': {name!r} is not an event type.",
                    param="event_types",
                )
        tenant = {t for t in event_types if _is_tenant_type(t)}
        if tenant_only and tenant != event_types:
            raise ApiError(
                400,
                "When 'tenant_only' is true, all supplied event types must be "
                "tenant-scoped.",
                param="event_types",
            )
        if not tenant_only and tenant:
            raise ApiError(
                400,
                f"Tenant-scoped event types ({', '.join(sorted(tenant))}) "
                "require 'tenant_only=true'.",
                param="tenant_only",
            )
    limit = parse_int(query, "limit", default=20, minimum=1, maximum=100)
    return AuditQuery(
        gt=bounds["gt"],
        gte=bounds["gte"],
        lt=bounds["lt"],
        lte=bounds["lte"],
        event_types=event_types,
        actor_ids=_values(request, "actor_ids"),
        actor_emails=_values(request, "actor_emails"),
        project_ids=_values(request, "project_ids"),
        resource_ids=_values(request, "resource_ids"),
        tenant_only=tenant_only,
        limit=limit if limit is not None else 20,
        after=query.get("after") or None,
        before=query.get("before") or None,
    )


def _audit_routes(state: SandboxState) -> list[web.RouteDef]:
    keys = state.keys

    async def audit_logs(request: web.Request) -> web.StreamResponse:
        require_key(
            request,
            allowed={keys.admin},
            forbidden={keys.admin_no_audit},
            permission="api.audit_logs.read",
        )
        query = parse_audit_query(request)
        try:
            positions, has_more = state.audit.page(query)
        except InvalidCursorError as exc:
            param = "after" if query.after == str(exc) else "before"
            raise ApiError(
                400, f"Invalid '{param}': no audit log with id {exc}.", param=param
            ) from None
        data = state.audit.records(positions)
        last_id = data[-1]["id"] if data else None
        if state.faults is not None:
            data = state.faults.duplicate_boundary(request, data, state.audit, query)
            if state.faults.stuck(request):
                has_more = True
                last_id = query.after or last_id
        return json_response(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": last_id,
                "has_more": has_more,
            }
        )

    return [web.get("/v1/organization/audit_logs", audit_logs)]


def build_api_app(state: SandboxState, options: SandboxOptions) -> web.Application:
    """The API host: Admin API under ``/v1/organization``, Compliance API
    under ``/v1/compliance``."""

    middlewares = [
        latency_middleware(options),
        _error_middleware(),
        _counting_middleware(state),
    ]
    if state.limiter is not None:
        middlewares.append(_rate_limit_middleware(state.limiter))
    if state.faults is not None:
        middlewares.append(state.faults.middleware())
    app = web.Application(middlewares=middlewares)
    app.add_routes(_audit_routes(state))
    app.add_routes(directory_routes(state.org, state.keys, usage=state.usage))
    app.add_routes(usage_routes(state.usage, state.keys, state.faults))
    app.add_routes(
        compliance_routes(
            state.compliance,
            state.keys,
            storage_base=lambda: state.storage_base,
            faults=state.faults,
        )
    )
    if state.faults is not None and state.faults.profile == "redirect":
        # Every redirect stays on this origin under the ``redirect`` profile,
        # the Logs Platform's signed downloads included.
        app.add_routes(storage_routes(state.compliance))
    return app


def build_storage_app(state: SandboxState, options: SandboxOptions) -> web.Application:
    """The object-storage host that serves signed Logs Platform downloads."""

    middlewares = [latency_middleware(options), _counting_middleware(state)]
    if state.faults is not None:
        middlewares.append(state.faults.middleware(storage=True))
    app = web.Application(middlewares=middlewares)
    app.add_routes(storage_routes(state.compliance))
    return app
