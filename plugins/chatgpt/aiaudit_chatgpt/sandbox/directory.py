"""The Admin API's directory endpoints: users, projects and admin API keys.

Connectors call these to check a key (``users?limit=1`` is the usual probe)
and to turn the ids in audit events and usage results into names and emails.
They page with the common list envelope (``first_id``, ``last_id``,
``has_more``; the next page is ``after=last_id``), over the same seeded
organization the other sandbox endpoints serve, so every id resolves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

from aiohttp import web

from aiaudit_chatgpt.sandbox._web import (
    ApiError,
    json_response,
    parse_bool,
    parse_int,
    require_key,
)
from aiaudit_chatgpt.sandbox.org import stable_token


if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from multidict import MultiMapping

    from aiaudit_chatgpt.sandbox._web import SandboxKeys
    from aiaudit_chatgpt.sandbox.org import ApiKey, Organization, Project, User
    from aiaudit_chatgpt.sandbox.usage import UsageData


__all__ = ["directory_routes"]

_T = TypeVar("_T")
_DEFAULT_LIMIT: Final = 20
_MAX_LIMIT: Final = 100
_DAY: Final = 86_400


def _hashed(seed: int, *parts: object, modulo: int) -> int:
    """A deterministic number in ``[0, modulo)`` for details org.py leaves out."""
    return int(stable_token(seed, *parts, length=8), 16) % modulo


class _Listing(Generic[_T]):
    """Objects in their list order, and the ``after`` cursor over them."""

    def __init__(self, items: Sequence[_T], ident: Callable[[_T], str]) -> None:
        self.items = tuple(items)
        self.position = {ident(item): ix for ix, item in enumerate(self.items)}

    def page(
        self,
        query: MultiMapping[str],
        *,
        keep: Callable[[_T], bool] | None = None,
    ) -> tuple[list[_T], bool]:
        """The page a request asks for, and whether more objects follow it."""
        limit = (
            parse_int(query, "limit", minimum=1, maximum=_MAX_LIMIT) or _DEFAULT_LIMIT
        )
        after = query.get("after")
        begin = 0
        if after:
            if after not in self.position:
                raise ApiError(
                    400,
                    f"Invalid 'after': no object with id '{after}' in this list.",
                    param="after",
                    code="invalid_value",
                )
            begin = self.position[after] + 1
        chosen: list[_T] = []
        for item in self.items[begin:]:
            if keep is not None and not keep(item):
                continue
            if len(chosen) == limit:
                return chosen, True
            chosen.append(item)
        return chosen, False


def _envelope(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def _list_param(query: MultiMapping[str], name: str) -> list[str]:
    # The SDK sends ``emails[]=a&emails[]=b``; plain repeats work too.
    return [
        value
        for raw in (*query.getall(f"{name}[]", ()), *query.getall(name, ()))
        for value in raw.split(",")
        if value.strip()
    ]


def _user(org: Organization, user: User, usage: UsageData | None) -> dict[str, Any]:
    # People often had an OpenAI account before they joined the organization.
    created = user.added_at - _hashed(
        org.seed, "created", user.index, modulo=400 * _DAY
    )
    last_used = None if usage is None else usage.key_last_used(user.key_id)
    return {
        "object": "organization.user",
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "added_at": user.added_at,
        "is_default": False,
        "created": created,
        "user": {
            "object": "user",
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "picture": None,
            "enabled": True,
            "banned": False,
            "banned_at": None,
        },
        "is_service_account": False,
        "is_scale_tier_authorized_purchaser": None,
        "is_scim_managed": False,
        "api_key_last_used_at": last_used,
    }


def _project(project: Project) -> dict[str, Any]:
    return {
        "id": project.id,
        "object": "organization.project",
        "name": project.name,
        "created_at": project.created_at,
        "archived_at": None,
        "status": "active",
        "external_key_id": None,
    }


def _admin_key(org: Organization, key: ApiKey) -> dict[str, Any]:
    owner = org.users[key.owner]
    # Admin keys feed exports that run all the time: each was used in the
    # last few hours of the organization's history.
    last_used = (
        int(org.end.timestamp())
        - 1
        - _hashed(org.seed, "admin-used", key.id, modulo=6 * 3_600)
    )
    return {
        "object": "organization.admin_api_key",
        "id": key.id,
        "name": key.name,
        "redacted_value": key.redacted_value,
        "created_at": key.created_at,
        "expires_at": None,
        "last_used_at": max(last_used, key.created_at),
        "owner": {
            "type": "user",
            "object": "organization.user",
            "id": owner.id,
            "name": owner.name,
            "created_at": owner.added_at,
            "role": owner.role,
        },
    }


def directory_routes(
    org: Organization, keys: SandboxKeys, usage: UsageData | None = None
) -> list[web.RouteDef]:
    """The users, projects and admin key lists of *org*.

    Both admin keys may read them: the restricted key lacks only the audit
    and usage permissions. With *usage*, each user's ``api_key_last_used_at``
    is the last request their key sent in it; without, it is null.
    """
    allowed = frozenset({keys.admin, keys.admin_no_audit})
    users = _Listing(sorted(org.users, key=lambda u: (u.added_at, u.id)), _user_id)
    projects = _Listing(
        sorted(org.projects, key=lambda p: (p.created_at, p.id)), _project_id
    )
    ascending = sorted(org.admin_keys, key=lambda k: (k.created_at, k.id))
    admin_keys = {
        "asc": _Listing(ascending, _key_id),
        "desc": _Listing(ascending[::-1], _key_id),
    }

    async def list_users(request: web.Request) -> web.Response:
        require_key(request, allowed=allowed, permission="api.organization.read")
        wanted = {
            email.strip().casefold() for email in _list_param(request.query, "emails")
        }
        chosen, more = users.page(
            request.query,
            keep=(lambda u: u.email.casefold() in wanted) if wanted else None,
        )
        return json_response(_envelope([_user(org, u, usage) for u in chosen], more))

    async def list_projects(request: web.Request) -> web.Response:
        require_key(request, allowed=allowed, permission="api.organization.read")
        # No generated project is archived, so the flag only has to be valid.
        parse_bool(request.query, "include_archived")
        chosen, more = projects.page(request.query)
        return json_response(_envelope([_project(p) for p in chosen], more))

    async def list_admin_keys(request: web.Request) -> web.Response:
        require_key(request, allowed=allowed, permission="api.organization.read")
        order = request.query.get("order") or "asc"
        if order not in admin_keys:
            raise ApiError(
                400,
                f"Invalid value for 'order': '{order}'. Supported values are: "
                "asc, desc.",
                param="order",
                code="invalid_value",
            )
        chosen, more = admin_keys[order].page(request.query)
        return json_response(_envelope([_admin_key(org, k) for k in chosen], more))

    return [
        web.get("/v1/organization/users", list_users),
        web.get("/v1/organization/projects", list_projects),
        web.get("/v1/organization/admin_api_keys", list_admin_keys),
    ]


def _user_id(user: User) -> str:
    return user.id


def _project_id(project: Project) -> str:
    return project.id


def _key_id(key: ApiKey) -> str:
    return key.id
