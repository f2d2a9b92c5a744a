"""A --since earlier than a stream has covered backfills the older range:
the engine against the example plugin's sandbox, and against a snapshot
stream, on SQLite and PostgreSQL.

The example plugin's two streams are windowed (read in day-long windows,
each window's end the checkpoint): their backfill is bounded, and their
checkpoints stay where they were. The reference is the same connector
synced over the whole range at once, into a connection of its own, and the
sandbox's generated data of that range. A snapshot stream (a listing read
whole every time) is instead read again whole from --since, which was its
incremental read too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest
from aiaudit_example.sandbox import ExampleSandbox

from connector_core import Registry
from connector_core.cli._syncing import _summary
from connector_core.exceptions import PluginError
from connector_core.models import AIActivityType, AIAuditLog
from connector_core.sandbox import SandboxOptions
from connector_core.store import open_store
from connector_core.store._values import from_us
from connector_core.store.base import Coverage, LogFilter
from connector_core.streams import StreamBatch, StreamInfo, StreamKind
from connector_core.sync import sync_connection


END = datetime(2025, 3, 1, tzinfo=UTC)
UNTIL = END - timedelta(seconds=1)
STREAMS = ("login_activity", "assistant_activity")
USAGE = "model_usage"
"""The usage report's stream: buckets, not events."""


def _days(n: int) -> datetime:
    return END - timedelta(days=n)


@pytest.fixture
async def sandbox():
    options = SandboxOptions(seed=5, events=3_000, days=40, end=END)
    async with ExampleSandbox.run(options) as running:
        yield running


@pytest.fixture
def whole(tmp_path):
    """A store of its own for the reference sync of the whole range."""
    opened = open_store(f"sqlite:///{tmp_path / 'whole.db'}")
    yield opened
    opened.close()


@pytest.fixture
def registry():
    return Registry.load(environ={"AIAUDIT_PLUGINS": "example"})


async def _sync(registry, sandbox, store, connection="acme", **kwargs):
    kwargs.setdefault("until", UNTIL)
    async with registry.create("example", sandbox.config()) as connector:
        return await sync_connection(connector, store, connection=connection, **kwargs)


def _ids(store, connection="acme") -> list[str]:
    return [log.id for log in store.iter_logs(LogFilter(connection=connection))]


def _truth(sandbox, since: datetime) -> set[str]:
    """The ids of every event the sandbox serves from *since* to the end,
    from its generated data: no connector read involved."""
    return {
        log
        for activities in sandbox.data.by_app.values()
        for activity in activities
        if since <= activity.time <= UNTIL
        for log in activity.log_ids()
    }


def _assert_exact(store, sandbox, since: datetime, whole) -> None:
    """The store holds what one sync of the whole range holds (into the
    store *whole*: a second connection to the sandbox's organization in the
    same store would store none of it), which is the sandbox's data of the
    range: nothing lost, nothing twice."""
    stored = _ids(store)
    assert len(stored) == len(set(stored)), "an event stored twice"
    reference = set(_ids(whole, "whole"))
    assert reference == _truth(sandbox, since)
    missing, extra = reference - set(stored), set(stored) - reference
    assert not missing, f"{len(missing)} events of the older range never read"
    assert not extra, f"{len(extra)} events one sync of the range does not read"


async def test_an_earlier_since_backfills_every_stream_exactly(
    registry, sandbox, store, whole
):
    await _sync(registry, sandbox, whole, "whole", since=_days(30))
    first = await _sync(registry, sandbox, store, since=_days(10))
    checkpoints = store.checkpoints("acme")
    assert set(checkpoints) == {*STREAMS, USAGE}
    buckets = len(store.usage_records(connection="acme"))

    second = await _sync(registry, sandbox, store, since=_days(30))

    _assert_exact(store, sandbox, _days(30), whole)
    assert second.ok, [(s.stream, s.error, s.backfill) for s in second.streams]
    backfills = {s.stream: s.backfill for s in second.streams}
    assert set(backfills) == {*STREAMS, USAGE}
    assert all(backfills.values()), backfills
    for name, backfill in backfills.items():
        assert backfill.start == _days(30), name
        assert backfill.covered_from == _days(10), name
        assert backfill.complete, name
        assert backfill.error is None, name
        assert not backfill.whole, name
        assert backfill.end == _days(10), name
        assert backfill.warning is None, name
        if name == USAGE:
            assert backfill.inserted == 0
            assert backfill.usage_inserted > 0
        else:
            assert backfill.inserted > 0, name
    # The older days' buckets: the whole connection's, as a sync of the range.
    assert len(store.usage_records(connection="acme")) > buckets
    assert store.usage_records(connection="acme") == whole.usage_records(
        connection="whole"
    )
    assert second.inserted == sum(b.inserted for b in backfills.values()) > 0
    assert first.inserted + second.inserted == len(_ids(store))
    # The windowed streams' checkpoints neither moved back nor skipped
    # ahead: the backfill kept its own.
    assert store.checkpoints("acme") == checkpoints
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
            # Version 1 had neither coverage, usage reports nor directories.
            session.execute("DROP TABLE coverage")
            session.execute("DROP TABLE usage_reports")
            session.execute("DROP TABLE directory")
            session.execute("DROP TABLE organizations")
            session.execute("DROP TABLE shared_organizations")
            session.execute("DELETE FROM schema_version WHERE version >= 2")
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
        assert set(oldest) == set(STREAMS)
        for name in STREAMS:
            estimated = store.coverage("acme", name)
            assert estimated == Coverage(start=oldest[name], estimated=True), name

        report = await _sync(registry, sandbox, store, since=_days(30))

        _assert_exact(store, sandbox, _days(30), whole)
        assert report.ok
        backfills = {s.stream: s.backfill for s in report.streams}
        for name in STREAMS:
            assert backfills[name].estimated, name
            assert backfills[name].end == oldest[name], name
        # The usage stream has no event to estimate from (and a store of
        # version 1 never had one): only the event streams are checked.
        for name in STREAMS:
            assert store.coverage("acme", name) == Coverage(start=_days(30)), name
    finally:
        store.close()


# A snapshot stream: a listing read whole every time.

SNAPSHOT = "listing"
LISTED = [
    AIAuditLog(
        id=f"item-{hours:05d}",
        platform="listing",
        timestamp=_days(40) + timedelta(hours=hours),
        user_id="user-ada",
        user_email="ada@example.com",
        organization_id="org-1",
        activity_type=AIActivityType.INTEGRATION_CREATED,
        action="assistant.created",
        native_type="item",
        raw={"hours": hours},
    )
    for hours in range(0, 40 * 24, 6)
]


class Listing:
    """One snapshot stream: every item from the checkpoint's floor (else
    the query's start) to the query's end, in one batch whose checkpoint is
    that floor. ``reads``: each read's checkpoint and query start."""

    platform: ClassVar[str] = "listing"

    def __init__(self) -> None:
        self.reads: list[tuple[object, datetime]] = []

    async def list_streams(self) -> list[StreamInfo]:
        return [StreamInfo(name=SNAPSHOT, kind=StreamKind.SNAPSHOT)]

    async def read_stream(self, stream, checkpoint, query):
        self.reads.append((checkpoint, query.start_date))
        floor = (
            query.start_date
            if checkpoint is None
            else datetime.fromisoformat(checkpoint["floor"])
        )
        yield StreamBatch(
            logs=tuple(
                log for log in LISTED if floor <= log.timestamp <= query.end_date
            ),
            checkpoint={"floor": floor.isoformat()},
        )

    def plugin_error(self, operation: str, exc: Exception) -> PluginError:
        return PluginError(f"{operation}: {type(exc).__name__}")


def _listed(start: datetime, end: datetime = UNTIL) -> set[str]:
    return {log.id for log in LISTED if start <= log.timestamp <= end}


async def test_a_snapshot_is_read_again_whole_from_an_earlier_since(store):
    listing = Listing()
    first = await sync_connection(
        listing, store, connection="acme", since=_days(10), until=UNTIL
    )
    assert first.inserted == len(_listed(_days(10))) > 0
    listing.reads.clear()

    second = await sync_connection(
        listing, store, connection="acme", since=_days(30), until=UNTIL
    )

    assert second.ok, [(s.stream, s.error) for s in second.streams]
    [report] = second.streams
    backfill = report.backfill
    assert backfill is not None
    assert backfill.whole
    assert backfill.start == _days(30)
    assert backfill.covered_from == _days(10)
    assert backfill.complete
    assert backfill.error is None
    older = _listed(_days(30)) - _listed(_days(10))
    assert backfill.inserted == second.inserted == len(older)
    assert backfill.read == len(_listed(_days(30)))
    # One read from --since, as never synced: that was the incremental read.
    assert listing.reads == [(None, _days(30))]
    assert set(_ids(store)) == _listed(_days(30))
    # The snapshot's checkpoint was replaced by that of its read from --since.
    assert store.checkpoint("acme", SNAPSHOT) == {"floor": _days(30).isoformat()}
    assert store.coverage("acme", SNAPSHOT) == Coverage(start=_days(30))
    # The summary a person reads says so.
    assert f"backfilled {SNAPSHOT}: read again whole from 2025-01-30 00:00 UTC" in (
        _summary(second)
    )

    third = await sync_connection(
        listing, store, connection="acme", since=_days(30), until=UNTIL
    )
    assert third.ok
    assert not third.backfilled
    assert third.inserted == 0
    assert set(_ids(store)) == _listed(_days(30))
