"""A --since earlier than a stream has covered backfills the older range:
the engine against the ChatGPT sandbox, on SQLite and PostgreSQL. (The core
tests the engine's rules on the example plugin; here its four streams show
the ChatGPT connector's checkpoints keep to them.)

Its four streams are of every kind: two windowed (the Admin API's audit
logs), one of files (the Logs Platform) and one snapshot (the custom GPTs,
read again whole). The reference is the same connector synced over the
whole range at once, into a connection of its own: a file of the Logs
Platform holds records a little older than the range it is listed for, so
the sandbox's ground truth of the range is a subset of both, and every
stored event beyond it is older than the range.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aiaudit_chatgpt.sandbox.server import ChatGPTSandbox
from connector_core import Registry
from connector_core.models import AIAuditLogQuery
from connector_core.sandbox import SandboxOptions
from connector_core.store import open_store
from connector_core.store._values import from_us
from connector_core.store.base import Coverage, LogFilter
from connector_core.sync import sync_connection


END = datetime(2025, 3, 1, tzinfo=UTC)
UNTIL = END - timedelta(seconds=1)


def _days(n: int) -> datetime:
    return END - timedelta(days=n)


@pytest.fixture
def store(store_url):
    """A new, empty, open store of the test's kind (SQLite and PostgreSQL)."""
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
async def sandbox():
    options = SandboxOptions(seed=5, events=3_000, days=40, end=END)
    async with ChatGPTSandbox.run(options) as running:
        yield running


@pytest.fixture
def whole(tmp_path):
    """A store of its own for the reference sync of the whole range."""
    opened = open_store(f"sqlite:///{tmp_path / 'whole.db'}")
    yield opened
    opened.close()


@pytest.fixture
def registry():
    return Registry.load(environ={"AIAUDIT_PLUGINS": "chatgpt"})


async def _sync(registry, sandbox, store, connection="acme", **kwargs):
    kwargs.setdefault("until", UNTIL)
    async with registry.create("chatgpt", sandbox.connector_config()) as connector:
        return await sync_connection(connector, store, connection=connection, **kwargs)


def _ids(store, connection="acme") -> list[str]:
    return [log.id for log in store.iter_logs(LogFilter(connection=connection))]


def _assert_exact(store, sandbox, since: datetime, whole) -> None:
    """The store holds what one sync of the whole range holds (into the
    store *whole*: a second connection to the sandbox's organization in the
    same store would store none of it): nothing lost, nothing twice."""
    stored = _ids(store)
    assert len(stored) == len(set(stored)), "an event stored twice"
    reference = set(_ids(whole, "whole"))
    truth = set(
        sandbox.expected_logs(AIAuditLogQuery(start_date=since, end_date=UNTIL))
    )
    assert truth <= reference
    missing, extra = reference - set(stored), set(stored) - reference
    assert not missing, f"{len(missing)} events of the older range never read"
    assert not extra, f"{len(extra)} events one sync of the range does not read"
    older = {log.id for log in store.iter_logs(LogFilter(connection="acme", end=since))}
    assert set(stored) - truth <= older


async def test_an_earlier_since_backfills_every_stream_exactly(
    registry, sandbox, store, whole
):
    await _sync(registry, sandbox, whole, "whole", since=_days(30))
    first = await _sync(registry, sandbox, store, since=_days(10))
    checkpoints = store.checkpoints("acme")

    second = await _sync(registry, sandbox, store, since=_days(30))

    _assert_exact(store, sandbox, _days(30), whole)
    assert second.ok, [(s.stream, s.error, s.backfill) for s in second.streams]
    backfills = {s.stream: s.backfill for s in second.streams}
    assert all(backfills.values()), backfills
    for name, backfill in backfills.items():
        assert backfill.start == _days(30), name
        assert backfill.covered_from == _days(10), name
        assert backfill.complete, name
        assert backfill.error is None, name
    assert backfills["custom_gpts"].whole
    assert not backfills["admin_audit_logs"].whole
    assert backfills["admin_audit_logs"].end == _days(10)
    assert second.inserted == sum(b.inserted for b in backfills.values()) > 0
    assert first.inserted + second.inserted == len(_ids(store))
    # The windowed and file streams' checkpoints neither moved back nor
    # skipped ahead: the backfill kept its own.
    after = store.checkpoints("acme")
    for name in ("admin_audit_logs", "admin_tenant_audit_logs"):
        assert after[name]["until"] == checkpoints[name]["until"], name
    assert after["compliance_logs"]["end"] == checkpoints["compliance_logs"]["end"]
    # The snapshot's was replaced by that of its read from --since.
    assert after["custom_gpts"]["floor"] == "2025-01-30T00:00:00Z"
    for name in backfills:
        assert store.coverage("acme", name) == Coverage(start=_days(30)), name

    third = await _sync(registry, sandbox, store, since=_days(30))
    plain = await _sync(registry, sandbox, store)
    assert third.ok
    assert not third.backfilled
    assert third.inserted == 0
    # Nothing old read: exactly what a sync with no --since reads.
    assert [(s.stream, s.read) for s in third.streams] == [
        (s.stream, s.read) for s in plain.streams
    ]
    _assert_exact(store, sandbox, _days(30), whole)


async def test_a_store_that_kept_no_coverage_backfills_from_its_oldest_event(
    registry, sandbox, store_url, whole
):
    """A store of the schema before coverage was kept: migrated on opening,
    readable before that, and backfilled from each stream's oldest stored
    event, which its first sync read from or after."""
    store = open_store(store_url)
    try:
        await _sync(registry, sandbox, whole, "whole", since=_days(30))
        await _sync(registry, sandbox, store, since=_days(10))
        with store._mutex, store._session("write") as session:
            session.execute("DROP TABLE coverage")
            session.execute("DELETE FROM schema_version WHERE version = 2")
            # Nor did the releases before coverage have the usage stream (its
            # table came later still): the stream is new to this store.
            session.execute("DELETE FROM checkpoints WHERE stream = 'usage'")
            session.execute("DELETE FROM usage_reports")
    finally:
        store.close()
    reader = open_store(store_url, read_only=True)
    try:
        assert len(_ids(reader)) > 0
    finally:
        reader.close()

    store = open_store(store_url)
    try:
        oldest = {
            stream: from_us(ts_us)
            for stream, ts_us in store._query(
                "SELECT stream, MIN(ts_us) FROM events WHERE connection = ?"
                " GROUP BY stream",
                ("acme",),
            )
        }
        estimated = store.coverage("acme", "admin_audit_logs")
        assert estimated == Coverage(start=oldest["admin_audit_logs"], estimated=True)

        report = await _sync(registry, sandbox, store, since=_days(30))

        _assert_exact(store, sandbox, _days(30), whole)
        assert report.ok
        backfills = {s.stream: s.backfill for s in report.streams}
        assert backfills["admin_audit_logs"].estimated
        assert backfills["admin_audit_logs"].end == oldest["admin_audit_logs"]
        assert backfills["compliance_logs"].end == oldest["compliance_logs"]
        for name in backfills:
            assert store.coverage("acme", name) == Coverage(start=_days(30)), name
    finally:
        store.close()
