"""The range a sync reads: resumed streams are never clipped by --since, the
end never reaches past the present, and a bad range or a reader's crash is
a clear error, for one stream at most.

A connector registered here serves events "as published": only those whose
time has come, so a test can let time pass between two syncs.
"""

from __future__ import annotations

import asyncio
import types
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import attrs
import pytest

from connector_core import Registry, Secret, hookimpl
from connector_core.exceptions import ConfigurationError
from connector_core.models import (
    AIActivityType,
    AIAuditLog,
    AICredentialValidation,
    ConnectionResult,
)
from connector_core.store.base import LogFilter
from connector_core.streams import StreamBatch, StreamInfo, StreamKind
from connector_core.sync import RESUME_START, sync_connection


def event(i: int, at: datetime) -> AIAuditLog:
    return AIAuditLog(
        id=f"evt-{i}",
        platform="clock",
        timestamp=at,
        user_id="user-ada",
        user_email="ada@example.com",
        organization_id="org-1",
        activity_type=AIActivityType.LOGIN,
        action="user.login",
        native_type="LOGIN",
        raw={"n": i},
    )


@attrs.frozen
class ClockConfig:
    token: Secret


class ClockConnector:
    """Two windowed streams over ``EVENTS``; a window's end is the
    checkpoint, as ISO text. Events are served once their time has come."""

    platform: ClassVar[str] = "clock"
    config_class: ClassVar[type[ClockConfig]] = ClockConfig
    EVENTS: ClassVar[list[AIAuditLog]] = []
    QUERIES: ClassVar[list[tuple[str, datetime, datetime]]] = []
    BROKEN: ClassVar[set[str]] = set()

    def __init__(self, config: ClockConfig, *, session=None) -> None:
        self.config = config

    @hookimpl
    async def authenticate(self) -> ConnectionResult:
        return ConnectionResult(success=True)

    @hookimpl
    async def validate_ai_credentials(self) -> AICredentialValidation:
        return AICredentialValidation(
            is_valid=True,
            platform=self.platform,
            has_required_permissions=True,
            last_checked=datetime.now(UTC),
        )

    @hookimpl
    async def list_streams(self) -> list[StreamInfo]:
        return [
            StreamInfo(name="first", kind=StreamKind.WINDOWED),
            StreamInfo(name="second", kind=StreamKind.WINDOWED),
        ]

    @hookimpl
    async def read_stream(self, stream, checkpoint, query):
        self.QUERIES.append((stream, query.start_date, query.end_date))
        if stream in self.BROKEN:
            # A reader bug on a checkpoint it does not understand.
            raise KeyError("until")
        # The contract: resume from the checkpoint, else start at the query.
        low = (
            datetime.fromisoformat(checkpoint["until"])
            if checkpoint
            else query.start_date
        )
        now = datetime.now(UTC)
        logs = tuple(
            log
            for n, log in enumerate(self.EVENTS)
            if n % 2 == (stream == "second")
            and low < log.timestamp <= query.end_date
            and log.timestamp <= now  # published
        )
        yield StreamBatch(logs=logs, checkpoint={"until": query.end_date.isoformat()})


@pytest.fixture
def clock():
    ClockConnector.EVENTS = []
    ClockConnector.QUERIES = []
    ClockConnector.BROKEN = set()
    plugin = types.SimpleNamespace(
        aiaudit_register_connectors=hookimpl(lambda register: register(ClockConnector))
    )
    registry = Registry.load(entry_points=False, plugins=[("clock", plugin)])
    return registry, ClockConnector


async def _sync(registry, store, **kwargs):
    async with registry.create("clock", {"token": "secret-token"}) as connector:
        return await sync_connection(connector, store, connection="c", **kwargs)


def _stored(store) -> set[str]:
    return {log.id for log in store.iter_logs(LogFilter(connection="c"))}


async def test_a_sync_long_after_the_last_reads_the_whole_gap(clock, store):
    registry, feed = clock
    now = datetime.now(UTC)
    feed.EVENTS = [event(i, now - timedelta(days=90 - i)) for i in range(80)]
    first = await _sync(
        registry, store, since=now - timedelta(days=91), until=now - timedelta(days=60)
    )
    feed.QUERIES.clear()

    second = await _sync(registry, store, until=now - timedelta(days=15))

    expected = {
        log.id for log in feed.EVENTS if log.timestamp <= now - timedelta(days=15)
    }
    missing = expected - _stored(store)
    assert not missing, f"{len(missing)} events of the gap never read"
    assert second.ok
    # The resumed streams' queries are not clipped at the default --since.
    assert {start for _, start, _ in feed.QUERIES} == {RESUME_START}
    assert not any(s.resumed for s in first.streams)
    assert all(s.resumed for s in second.streams)


async def test_a_future_until_never_makes_a_checkpoint_past_the_present(clock, store):
    """Events published after a sync asked for a future --until are read by
    the next one."""
    registry, feed = clock
    started = datetime.now(UTC)
    later = started + timedelta(seconds=0.5)
    feed.EVENTS = [event(0, started - timedelta(hours=1)), event(1, later)]

    first = await _sync(registry, store, until=started + timedelta(days=1))
    checkpoints = store.checkpoints("c")
    stored_first = _stored(store)
    await asyncio.sleep((later - datetime.now(UTC)).total_seconds() + 0.1)
    second = await _sync(registry, store)

    assert _stored(store) == {"evt-0", "evt-1"}, "published after the sync: lost"
    assert stored_first == {"evt-0"}
    assert all(
        datetime.fromisoformat(c["until"]) <= second.until for c in checkpoints.values()
    )
    assert second.ok
    assert first.until_clamped
    assert not second.until_clamped
    assert first.requested_until == started + timedelta(days=1)
    assert first.until < second.until


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        (None, datetime(1, 1, 2, tzinfo=UTC), "outside the calendar"),
        (datetime(9999, 12, 31, tzinfo=UTC), None, "is after"),
        (datetime(2025, 1, 1), None, "must carry a time zone"),  # noqa: DTZ001
    ],
)
async def test_a_range_out_of_bounds_is_a_configuration_error(
    clock, store, since, until, message
):
    registry, _ = clock
    with pytest.raises(ConfigurationError, match=message):
        await _sync(registry, store, since=since, until=until)


async def test_a_reader_crash_fails_its_stream_alone_in_one_line(clock, store):
    registry, feed = clock
    now = datetime.now(UTC)
    feed.EVENTS = [event(i, now - timedelta(hours=10 - i)) for i in range(6)]
    feed.BROKEN = {"first"}
    report = await _sync(registry, store, since=now - timedelta(days=1))
    failed = {s.stream: s.error for s in report.streams if s.error}
    assert set(failed) == {"first"}
    assert "KeyError" in failed["first"]
    assert "\n" not in failed["first"]
    assert "secret-token" not in failed["first"]
    assert _stored(store) == {f"evt-{i}" for i in range(1, 6, 2)}
