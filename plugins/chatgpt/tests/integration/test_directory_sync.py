"""The workspace directory synced from the ChatGPT sandbox on SQLite and
PostgreSQL, for several seeds: every member listed is stored, and the
store's ``total_users`` is the members together with the users who acted,
never fewer than the active users; from the Compliance API's ``/users``
when it is configured, else from the Admin API's ``/organization/users``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aiaudit_chatgpt.sandbox.server import ChatGPTSandbox
from connector_core import MemberStatus, Registry
from connector_core.models import AIDateRange
from connector_core.sandbox import SandboxOptions
from connector_core.store import open_store
from connector_core.store.base import LogFilter
from connector_core.sync import sync_connection


END = datetime(2025, 3, 1, tzinfo=UTC)
START = END - timedelta(days=7)
PERIOD = AIDateRange(start=START, end=END - timedelta(seconds=1))
ADMIN_ONLY = ("compliance_api_key", "workspace_id", "compliance_base_url")


@pytest.fixture
def registry():
    return Registry.load(environ={"AIAUDIT_PLUGINS": "chatgpt"})


@pytest.mark.parametrize("admin_only", [False, True], ids=["compliance", "admin"])
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
async def test_total_users_is_the_directory_and_the_active_users(
    registry, store_url, seed, admin_only
):
    options = SandboxOptions(seed=seed, events=300, days=7, end=END)
    store = open_store(store_url)
    try:
        async with ChatGPTSandbox.run(options) as sandbox:
            config = sandbox.connector_config()
            if admin_only:
                config = {k: v for k, v in config.items() if k not in ADMIN_ONLY}
            async with registry.create("chatgpt", config) as connector:
                report = await sync_connection(
                    connector, store, connection="acme", since=START, until=END
                )
            members = {user.id for user in sandbox.state.org.users}
        assert report.directory is not None
        assert report.directory.error is None, report.directory.error
        assert report.directory.members == report.directory.new == len(members)
        assert report.directory.quarantined == 0
        stored = store.directory("acme")
        assert {s.member.user_id for s in stored} == members
        assert all(s.member.email for s in stored)
        if admin_only:
            assert {s.member.status for s in stored} == {MemberStatus.ACTIVE}
        active = {
            log.user_id
            for log in store.iter_logs(
                LogFilter(connection="acme", start=PERIOD.start, end=PERIOD.end)
            )
        }
        analytics = store.usage_analytics(PERIOD, platform="chatgpt")
        assert analytics.active_users == len(active)
        assert analytics.total_users == len(members | active)
        assert analytics.total_users >= analytics.active_users
    finally:
        store.close()
