"""The Admin API's directory: the sandbox lists the members as
``/v1/organizations/users`` does, to Admin keys only, and the connector
counts its members with the active users as the organization's head count
when an Admin key is set."""

from __future__ import annotations

from conftest import END, connector
from multidict import CIMultiDict

from aiaudit_claude.connector import ADMIN_KEY
from aiaudit_claude.content import CONTENT_TYPES
from connector_core import AIAuditLogQuery, AIDateRange, Registry


USERS = "/v1/organizations/users"


async def test_the_directory_pages_with_after_id(client, sandbox):
    headers = {"x-api-key": sandbox.key("admin"), "anthropic-version": "2023-06-01"}
    seen, after = [], None
    while True:
        params = {
            "limit": "7",
            "beta": "true",
            **({"after_id": after} if after else {}),
        }
        async with client.get(USERS, params=params, headers=headers) as response:
            assert response.status == 200
            body = await response.json()
        assert set(body) == {"data", "has_more", "first_id", "last_id"}
        seen.extend(body["data"])
        if not body["has_more"]:
            break
        after = body["last_id"]
    assert [u["id"] for u in seen] == [u["user_id"] for u in sandbox.data.users]
    assert set(seen[0]) == {"id", "type", "email", "name", "role", "added_at"}
    assert sandbox.api.accessed == []  # not a Compliance API call


async def test_the_directory_refuses_a_compliance_key(client, sandbox):
    async with client.get(USERS, headers={"x-api-key": sandbox.key()}) as response:
        body, sent = await response.json(), CIMultiDict(response.headers)
    assert response.status == 401
    assert body["error"]["type"] == "authentication_error"
    assert sent["request-id"] == body["request_id"]


async def _analytics(sandbox, **changes):
    registry = Registry.load()
    config = {**sandbox.config(), **changes}
    async with registry.create("claude", config) as handle:
        period = AIDateRange(start=END.replace(day=1, month=2), end=END)
        return await handle.get_usage_analytics(period)


async def test_the_head_count_comes_from_the_directory(sandbox):
    """The members listed and every actor of the period (keys, SCIM and
    the system act too), each once: never fewer than the active users."""
    analytics = await _analytics(sandbox)
    period = AIDateRange(start=END.replace(day=1, month=2), end=END)
    query = AIAuditLogQuery(start_date=period.start, end_date=period.end)
    async with Registry.load().create("claude", sandbox.config()) as handle:
        actors = {
            log.user_id
            async for log in handle.stream_ai_audit_logs(query)
            if log.native_type not in CONTENT_TYPES
        }
    members = {user["user_id"] for user in sandbox.data.users}
    assert analytics.active_users == len(actors)
    assert analytics.total_users == len(members | actors)
    assert analytics.total_users >= analytics.active_users
    assert analytics.total_events > 0


async def test_without_an_admin_key_the_head_count_is_the_active_users(sandbox):
    analytics = await _analytics(sandbox, admin_key=None)
    assert analytics.total_users == analytics.active_users


async def test_a_refused_admin_key_is_a_missing_permission(sandbox):
    result = await connector(sandbox, admin_key=sandbox.key()).validate_ai_credentials()
    assert result.is_valid
    assert result.missing_permissions == (ADMIN_KEY,)
    assert sandbox.key() not in str(result)
