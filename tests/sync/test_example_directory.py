"""The example plugin's user directory, synced through its sandbox on
loopback into SQLite and PostgreSQL: ``total_users`` is the members not
removed together with the users who acted, never fewer than the active
users, on every seed; a member removed between two syncs is kept, marked
removed; a record that is no user is quarantined; a store of the version
before directories reads, then upgrades."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from aiaudit_example.normalize import normalize_member
from aiaudit_example.sandbox import ExampleSandbox

from connector_core import (
    DIRECTORY_STREAM,
    MemberStatus,
    RecordRefusedError,
    Registry,
)
from connector_core.models import AIDateRange
from connector_core.sandbox import SandboxOptions
from connector_core.store import LogFilter, open_store
from connector_core.sync import sync_connection
from connector_core.testing.processes import AIAUDIT, clean_env


END = datetime(2025, 3, 1, tzinfo=UTC)
DAYS = 6
SINCE = END - timedelta(days=DAYS)
PERIOD = AIDateRange(start=SINCE, end=END)
SEEDS = (1, 2, 3, 4, 5)


@pytest.fixture
def registry():
    return Registry.load(environ={"AIAUDIT_PLUGINS": "example"})


async def _sync(registry, sandbox, store, connection="acme"):
    async with registry.create("example", sandbox.config()) as connector:
        return await sync_connection(
            connector, store, connection=connection, since=SINCE, until=END
        )


def _listed(sandbox):
    """The members the sandbox lists now, read as the connector reads them
    (without the records it cannot read)."""
    found = []
    for user in sandbox.data.directory():
        if user.get("id") in sandbox.api.removed:
            continue
        try:
            found.append(normalize_member(user))
        except RecordRefusedError:
            continue
    return found


def _active(store, connection=None):
    return {
        log.user_id
        for log in store.iter_logs(
            LogFilter(connection=connection, start=PERIOD.start, end=PERIOD.end)
        )
    }


@pytest.mark.parametrize("seed", SEEDS)
async def test_total_users_is_the_directory_and_the_active_users(
    registry, store_url, seed
):
    options = SandboxOptions(seed=seed, events=150, days=DAYS, end=END)
    store = open_store(store_url)
    try:
        async with ExampleSandbox.run(options) as sandbox:
            report = await _sync(registry, sandbox, store)
            listed = _listed(sandbox)
        assert report.ok, report.as_dict()
        assert report.directory is not None
        assert (report.directory.members, report.directory.new) == (
            len(listed),
            len(listed),
        )
        assert report.directory.gone == report.directory.quarantined == 0
        stored = store.directory("acme")
        assert [s.member for s in stored] == sorted(listed, key=lambda m: m.user_id)

        analytics = store.usage_analytics(PERIOD, platform="example")
        seated = {m.user_id for m in listed if m.status is not MemberStatus.REMOVED}
        active = _active(store)
        assert analytics.active_users == len(active)
        assert analytics.total_users == len(seated | active)
        assert analytics.total_users >= analytics.active_users
        # The idle members make the directory larger than the active users.
        assert analytics.total_users > analytics.active_users
        scoped = store.usage_analytics(PERIOD, platform="example", connection="acme")
        assert scoped.total_users == analytics.total_users
    finally:
        store.close()


async def test_two_connections_count_each_person_once_per_platform(registry, store_url):
    options = SandboxOptions(seed=7, events=150, days=DAYS, end=END)
    store = open_store(store_url)
    try:
        async with ExampleSandbox.run(options) as sandbox:
            await _sync(registry, sandbox, store, "acme")
            await _sync(registry, sandbox, store, "acme_eu")
            listed = _listed(sandbox)
        analytics = store.usage_analytics(PERIOD, platform="example")
        seated = {m.user_id for m in listed}
        assert analytics.total_users == len(seated | _active(store))
    finally:
        store.close()


async def test_a_member_removed_between_syncs_is_kept_as_removed(registry, store_url):
    options = SandboxOptions(seed=3, events=150, days=DAYS, end=END)
    store = open_store(store_url)
    try:
        async with ExampleSandbox.run(options) as sandbox:
            await _sync(registry, sandbox, store)
            before = {s.member.user_id: s for s in store.directory("acme")}
            total_before = store.usage_analytics(PERIOD, platform="example")
            active = _active(store)
            acted = min(active)
            idle = next(u for u in sorted(before) if u not in active)
            sandbox.api.remove_member(acted)
            sandbox.api.remove_member(idle)
            report = await _sync(registry, sandbox, store)
        assert report.ok
        assert report.directory is not None
        assert (report.directory.new, report.directory.gone) == (0, 2)
        assert report.directory.members == len(before) - 2
        after = {s.member.user_id: s for s in store.directory("acme")}
        assert set(after) == set(before)  # nobody lost
        for user_id in (acted, idle):
            assert after[user_id].member.status is MemberStatus.REMOVED
            assert after[user_id].last_seen == before[user_id].last_seen
            assert after[user_id].first_seen == before[user_id].first_seen
        kept = next(u for u in after if u not in {acted, idle})
        assert after[kept].last_seen > before[kept].last_seen
        analytics = store.usage_analytics(PERIOD, platform="example")
        # The removed member who acted still counts; the idle one does not.
        assert analytics.total_users == total_before.total_users - 1
        assert analytics.total_users >= analytics.active_users
    finally:
        store.close()


async def test_records_that_are_no_member_are_quarantined(registry, store_url):
    options = SandboxOptions(
        seed=5, events=150, days=DAYS, end=END, faults="poisoned", fault_rate=0.0
    )
    store = open_store(store_url)
    try:
        async with ExampleSandbox.run(options) as sandbox:
            report = await _sync(registry, sandbox, store)
            listed = _listed(sandbox)
        assert report.directory is not None
        assert report.directory.error is None
        assert report.directory.quarantined == 2
        assert report.directory.members == len(listed)
        bad = [q.record for q in store.quarantined("acme")]
        reasons = [r.reason for r in bad if r.stream == DIRECTORY_STREAM]
        assert len(reasons) == 2
        assert any("malformed directory user" in reason for reason in reasons)
        assert any("not-a-time" in reason for reason in reasons)
    finally:
        store.close()


async def test_a_store_from_before_directories_reads_then_upgrades(registry, store_url):
    options = SandboxOptions(seed=2, events=150, days=DAYS, end=END)
    async with ExampleSandbox.run(options) as sandbox:
        store = open_store(store_url)
        try:
            await _sync(registry, sandbox, store)
            with store._mutex, store._session("write") as session:
                session.execute("DROP TABLE directory")
                session.execute("DROP TABLE organizations")
                session.execute("DROP TABLE shared_organizations")
                session.execute("DELETE FROM schema_version WHERE version >= 4")
        finally:
            store.close()
        reader = open_store(store_url, read_only=True)
        try:
            assert reader.directory() == []
            old = reader.usage_analytics(PERIOD, platform="example")
            assert old.total_users == old.active_users > 0
        finally:
            reader.close()

        store = open_store(store_url)
        try:
            with store._session("read") as session:
                versions = session.query("SELECT MAX(version) FROM schema_version")
            assert versions[0][0] >= 4
            report = await _sync(registry, sandbox, store)
            assert report.directory is not None
            assert report.directory.new == report.directory.members > 0
            analytics = store.usage_analytics(PERIOD, platform="example")
            assert analytics.total_users > analytics.active_users == old.active_users
        finally:
            store.close()


def test_sync_and_usage_on_the_command_line(registry, store_url):
    """``aiaudit sync`` prints the directory's line and ``aiaudit usage
    --json`` the total counted from it, as the demo's runs do."""
    import asyncio  # noqa: PLC0415 -- only this test drives its own loop

    options = SandboxOptions(seed=4, events=150, days=DAYS, end=END)

    async def run() -> tuple[str, str, int]:
        async with ExampleSandbox.run(options) as sandbox:
            config = sandbox.config()
            env = clean_env(
                EXAMPLE_API_KEY=config["api_key"],
                EXAMPLE_CUSTOMER_ID=config["customer_id"],
                EXAMPLE_BASE_URL=config["base_url"],
            )
            args = [
                str(AIAUDIT),
                "--store",
                store_url,
                "sync",
                "example",
                "--since",
                SINCE.isoformat(),
                "--until",
                END.isoformat(),
            ]
            text = await asyncio.to_thread(
                subprocess.run,
                args,
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            as_json = await asyncio.to_thread(
                subprocess.run,
                [*args, "--json"],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            assert text.returncode == 0, text.stderr
            assert as_json.returncode == 0, as_json.stderr
            return text.stdout, as_json.stdout, len(_listed(sandbox))

    printed, second, members = asyncio.run(run())
    assert f"directory: {members:,} members ({members:,} new, 0 gone)" in printed
    [again] = json.loads(second)
    assert again["directory"]["members"] == members
    assert again["directory"]["new"] == again["directory"]["gone"] == 0

    shown = subprocess.run(
        [
            str(AIAUDIT),
            "--store",
            store_url,
            "usage",
            "--platform",
            "example",
            "--since",
            SINCE.isoformat(),
            "--until",
            END.isoformat(),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    usage = json.loads(shown.stdout)
    assert usage["total_users"] >= usage["active_users"] > 0
    store = open_store(store_url, read_only=True)
    try:
        seated = {s.member.user_id for s in store.directory("example")}
        assert usage["total_users"] == len(seated | _active(store))
    finally:
        store.close()
