"""The organization's directory synced from the Claude sandbox on SQLite
and PostgreSQL, for several seeds: every member the Admin API lists is
stored, and the store's ``total_users`` is the members together with the
actors of the period, never fewer than the active users. Without an Admin
key there is no directory, and the sync says nothing of one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aiaudit_claude.sandbox.server import ClaudeSandbox
from connector_core import Registry
from connector_core.models import AIDateRange
from connector_core.sandbox import SandboxOptions
from connector_core.store import open_store
from connector_core.store.base import LogFilter
from connector_core.sync import sync_connection


END = datetime(2026, 3, 1, tzinfo=UTC)
START = END - timedelta(days=7)
PERIOD = AIDateRange(start=START, end=END - timedelta(seconds=1))


@pytest.fixture
def registry():
    return Registry.load(environ={"AIAUDIT_PLUGINS": "claude"})


async def _sync(registry, store, config):
    async with registry.create("claude", config) as connector:
        return await sync_connection(
            connector, store, connection="acme", since=START, until=END
        )


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
async def test_total_users_is_the_directory_and_the_active_users(
    registry, store_url, seed
):
    options = SandboxOptions(seed=seed, events=300, days=7, end=END)
    store = open_store(store_url)
    try:
        async with ClaudeSandbox.run(options, ingestion_delay=0.0) as sandbox:
            report = await _sync(registry, store, sandbox.config())
            members = {user["user_id"] for user in sandbox.data.users}
        assert report.directory is not None
        assert report.directory.error is None, report.directory.error
        assert report.directory.members == report.directory.new == len(members)
        assert {s.member.user_id for s in store.directory("acme")} == members
        actors = {
            log.user_id
            for log in store.iter_logs(
                LogFilter(connection="acme", start=PERIOD.start, end=PERIOD.end)
            )
        }
        analytics = store.usage_analytics(PERIOD, platform="claude")
        assert analytics.active_users == len(actors)
        assert analytics.total_users == len(members | actors)
        assert analytics.total_users >= analytics.active_users
    finally:
        store.close()


async def test_without_an_admin_key_there_is_no_directory(registry, store_url):
    options = SandboxOptions(seed=1, events=200, days=7, end=END)
    store = open_store(store_url)
    try:
        async with ClaudeSandbox.run(options, ingestion_delay=0.0) as sandbox:
            report = await _sync(
                registry, store, {**sandbox.config(), "admin_key": None}
            )
        assert report.ok
        assert report.directory is None
        assert store.directory("acme") == []
        analytics = store.usage_analytics(PERIOD, platform="claude")
        assert analytics.total_users == analytics.active_users
    finally:
        store.close()
