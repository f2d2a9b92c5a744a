"""The Compliance API routes of the sandbox's API host.

Two generations of the API are served, because connectors in the wild use
both:

* the **Logs Platform**: ``GET .../logs`` lists export files per event type,
  paged by ``after=<last_end_time>``; ``GET .../logs/{id}`` answers 307 to a
  signed URL on a separate object-storage origin (:mod:`.compliance_storage`)
  that serves the JSONL body;
* the **legacy listings** of the v1.1.1 spec (``/users``, ``/gpts``,
  ``/projects``), paged by ``after=<last_id>``.

What the routes serve is :class:`.ComplianceData`; this module only reads
requests, checks them as the real API would, and shapes the answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from aiaudit_chatgpt.sandbox._web import (
    ApiError,
    SandboxKeys,
    json_response,
    parse_iso_time,
    require_key,
)
from aiaudit_chatgpt.sandbox.compliance_data import (
    LOGS_LIMIT_DEFAULT,
    LOGS_LIMIT_MAX,
    ComplianceData,
)
from aiaudit_chatgpt.sandbox.compliance_records import KNOWN_EVENT_TYPES


if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from multidict import MultiMapping

    from aiaudit_chatgpt.sandbox.faults import FaultInjector


__all__ = ["WORKSPACE_PATH", "compliance_routes"]

WORKSPACE_PATH: Final = "/v1/compliance/workspaces/{workspace_id}"


def _limit(
    query: Mapping[str, str], *, default: int, maximum: int, strict: bool
) -> int:
    """The ``limit`` parameter: 422 when invalid, clamped unless *strict*.

    The Logs Platform rejects ``limit > 100`` with 422; the legacy listings
    document that they may return fewer than asked, so they clamp instead.
    """
    raw = query.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(
            422, f"Invalid 'limit': {raw!r} is not an integer.", param="limit"
        ) from None
    if value < 1 or (strict and value > maximum):
        raise ApiError(
            422,
            f"Invalid 'limit': {value}. Expected a value between 1 and {maximum}.",
            param="limit",
            code="integer_out_of_range",
        )
    return min(value, maximum)


def _list_body(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    # An empty page names no last id; null keeps the key for clients that
    # read it unconditionally (the spec does not say).
    return {
        "object": "list",
        "data": data,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def _check_workspace(
    request: web.Request, data: ComplianceData, allowed: frozenset[str]
) -> None:
    """The key is the Compliance API's and the workspace is ours, or an error."""
    require_key(request, allowed=allowed)
    if request.match_info["workspace_id"] != data.workspace_id:
        raise ApiError(
            404,
            f"Workspace '{request.match_info['workspace_id']}' not found.",
            param="workspace_id",
            code="not_found",
        )


def _event_types(query: MultiMapping[str]) -> list[str]:
    """The listing's ``event_type`` values (repeated or comma-joined), or 422."""
    event_types = [
        part.strip()
        for value in query.getall("event_type", [])
        for part in value.split(",")
        if part.strip()
    ]
    if not event_types:
        raise ApiError(
            422, "Missing required parameter: 'event_type'.", param="event_type"
        )
    unknown = sorted(set(event_types) - KNOWN_EVENT_TYPES)
    if unknown:
        raise ApiError(
            422,
            f"Invalid 'event_type': {', '.join(unknown)}.",
            param="event_type",
        )
    return event_types


def _logs_listing(
    request: web.Request, data: ComplianceData, faults: FaultInjector | None
) -> dict[str, Any]:
    """One page of ``GET .../logs``, as the faults (if any) shape it."""
    query = request.query
    event_types = _event_types(query)
    limit = _limit(
        query, default=LOGS_LIMIT_DEFAULT, maximum=LOGS_LIMIT_MAX, strict=True
    )
    files, has_more = data.list_log_files(
        event_types,
        after=parse_iso_time(query, "after"),
        before=parse_iso_time(query, "before"),
        limit=limit,
        exclusive=data.after_exclusive,
        hide=data.listed_files(),
    )
    last_end_time = files[-1].end_time_iso if files else None
    if faults is not None:
        if data.after_exclusive and query.get("after"):
            # A mode, counted per listing page it shaped.
            faults.injected["listing_after_exclusive"] += 1
        if faults.stuck(request):
            has_more = True
            last_end_time = query.get("after") or last_end_time
    return {
        "object": "list",
        "data": [f.listing_item() for f in files],
        "has_more": has_more,
        "last_end_time": last_end_time,
    }


def compliance_routes(
    data: ComplianceData,
    keys: SandboxKeys,
    *,
    storage_base: Callable[[], str],
    faults: FaultInjector | None = None,
) -> list[web.RouteDef]:
    """The Compliance API routes (``/v1/compliance/workspaces/{id}/...``).

    Errors are raised as :class:`ApiError` for the application's middleware to
    render. *storage_base* is called per download because the storage origin's
    port is known only once its site has started. *faults* answers whether a
    listing page is to be stuck (``stuck_cursor``).
    """

    def stuck(request: web.Request) -> bool:
        return faults is not None and faults.stuck(request)

    allowed = frozenset({keys.compliance})

    def check(request: web.Request) -> None:
        _check_workspace(request, data, allowed)

    async def list_logs(request: web.Request) -> web.Response:
        check(request)
        return json_response(_logs_listing(request, data, faults))

    async def get_log(request: web.Request) -> web.Response:
        check(request)
        log_id = request.match_info["log_id"]
        if data.log_file(log_id) is None:
            raise ApiError(
                404, f"No log file found with id '{log_id}'.", param="log_id"
            )
        location = data.signer.url(storage_base(), log_id)
        return web.Response(status=307, headers={"Location": location})

    def legacy(
        page: Callable[[str | None, int], tuple[list[dict[str, Any]], bool]],
        default: int,
        maximum: int,
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            check(request)
            limit = _limit(
                request.query, default=default, maximum=maximum, strict=False
            )
            after = request.query.get("after") or None
            items, has_more = page(after, limit)
            body = _list_body(items, has_more)
            if stuck(request):
                body["has_more"] = True
                body["last_id"] = after or body["last_id"]
            return json_response(body)

        return handler

    return [
        web.get(f"{WORKSPACE_PATH}/logs", list_logs),
        web.get(f"{WORKSPACE_PATH}/logs/{{log_id}}", get_log),
        web.get(f"{WORKSPACE_PATH}/users", legacy(data.users_page, 200, 200)),
        web.get(f"{WORKSPACE_PATH}/gpts", legacy(data.gpts_page, 20, 100)),
        web.get(f"{WORKSPACE_PATH}/projects", legacy(data.projects_page, 20, 100)),
    ]
