"""LaggedWindows: bounds, dedupe and checkpoints over a publication lag, on
a source in memory whose events may be published late."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from connector_core import (
    AIActivityType,
    AIAuditLog,
    LagCheckpoint,
    LagDigestCheckpoint,
    LaggedWindows,
    SeenIds,
    StreamBatch,
    Window,
    WindowSizing,
)


START = datetime(2026, 1, 1, tzinfo=UTC)
LAG = timedelta(minutes=5)
DAY = timedelta(days=1)
DAYS = WindowSizing(first=DAY, target=1, minimum=DAY, maximum=DAY)
NARROW = WindowSizing(
    first=timedelta(minutes=2),
    target=1,
    minimum=timedelta(minutes=2),
    maximum=timedelta(minutes=2),
)


def _log(rid: str, at: datetime, action: str = "login") -> AIAuditLog:
    return AIAuditLog(
        id=rid,
        timestamp=at,
        platform="memory",
        user_id="u",
        user_email="u@example.test",
        organization_id="o",
        activity_type=AIActivityType.LOGIN,
        action=action,
        native_type=action,
    )


@attrs.define
class Source:
    """Events published at a time of their own: a read made at ``now`` sees
    those published by then. Like some APIs, it answers a window with a few
    events just outside it, and may list an event twice."""

    events: list[tuple[AIAuditLog, datetime]] = attrs.Factory(list)
    now: datetime = START
    fail_in: int | None = None  # window index that fails after its first page
    sloppy: timedelta = timedelta(0)  # answers this far outside the window
    twice: bool = False

    def add(self, rid: str, at: datetime, *, published: datetime | None = None) -> None:
        self.events.append((_log(rid, at), published or at))

    async def read(self, window: Window):
        low, high = window.start - self.sloppy, window.end + self.sloppy
        inside = sorted(
            (e for e, published in self.events if published <= self.now),
            key=lambda e: e.timestamp,
        )
        inside = [e for e in inside if low <= e.timestamp < high]
        if self.twice:
            inside = inside + inside
        for page in range(0, max(len(inside), 1), 2):
            yield StreamBatch(logs=tuple(inside[page : page + 2]))
            if window.index == self.fail_in:
                raise RuntimeError("window failed")


async def _read(
    source: Source,
    checkpoint: dict | None,
    end: datetime,
    *,
    sizing: WindowSizing = DAYS,
    kind: type[LagCheckpoint | LagDigestCheckpoint] = LagCheckpoint,
    keep=None,
) -> tuple[list[str], list[dict]]:
    resume = kind.from_dict("memory", checkpoint)
    lagged = LaggedWindows(lag=LAG, resume=resume, checkpoint=kind, keep=keep)
    ids: list[str] = []
    points: list[dict] = []
    batches = lagged.read(
        source.read, start=lagged.start(START), end=end, sizing=sizing
    )
    async with contextlib.aclosing(batches) as reading:
        async for batch in reading:
            ids.extend(log.id for log in batch.logs)
            if batch.checkpoint is not None:
                points.append(dict(batch.checkpoint))
    return ids, points


async def test_a_log_on_a_window_edge_is_the_next_window_s_once() -> None:
    source = Source(sloppy=timedelta(seconds=1))
    edge = START + DAY
    source.add("before", edge - timedelta(microseconds=1))
    source.add("tie-1", edge)
    source.add("tie-2", edge)
    source.now = START + 3 * DAY
    ids, points = await _read(source, None, START + 2 * DAY)
    assert sorted(ids) == ["before", "tie-1", "tie-2"]
    assert len(ids) == 3  # the sloppy answers outside a window are dropped
    first = LagCheckpoint.from_dict("memory", points[0])
    assert first is not None
    assert first.since == edge
    assert first.seen == ("before",)  # the ties are past its end
    last = LagCheckpoint.from_dict("memory", points[-1])
    assert last is not None
    assert last.seen == ()  # the ties are a day before its end


async def test_a_log_listed_twice_in_a_window_is_yielded_once() -> None:
    source = Source(twice=True)
    source.add("a", START + timedelta(hours=1))
    source.add("b", START + timedelta(hours=2))
    source.now = START + DAY
    ids, _ = await _read(source, None, START + DAY)
    assert ids == ["a", "b"]


@pytest.mark.parametrize("kind", [LagCheckpoint, LagDigestCheckpoint])
async def test_an_id_the_resumed_checkpoint_names_is_skipped(kind) -> None:
    source = Source()
    end = START + DAY
    source.add("old", end - timedelta(minutes=2))
    source.now = end
    ids, points = await _read(source, None, end, kind=kind)
    assert ids == ["old"]
    assert "old" in kind.from_dict("memory", points[-1]).seen
    source.now = end + DAY
    ids, _ = await _read(source, points[-1], end + DAY, kind=kind)
    assert ids == []  # read again in the lag, and skipped


@pytest.mark.parametrize("kind", [LagCheckpoint, LagDigestCheckpoint])
async def test_a_late_event_inside_the_lag_is_found_on_the_next_read(kind) -> None:
    source = Source()
    end = START + DAY
    source.add("on-time", end - timedelta(minutes=3))
    # Happened before the first read's end, published after it.
    source.add("late", end - timedelta(minutes=1), published=end + timedelta(hours=1))
    source.now = end
    ids, points = await _read(source, None, end, kind=kind)
    assert ids == ["on-time"]
    source.now = end + DAY
    ids, points = await _read(source, points[-1], end + DAY, kind=kind)
    assert ids == ["late"]
    # A third read from the second's checkpoint finds nothing new.
    ids, _ = await _read(source, points[-1], end + DAY, kind=kind)
    assert ids == []


async def test_narrow_windows_carry_the_ids_of_the_lag_across_windows() -> None:
    # Two-minute windows under a five-minute lag: a window's checkpoint
    # names the ids of the windows before it still in the lag.
    source = Source()
    for minute in range(10):
        source.add(f"m{minute}", START + timedelta(minutes=minute, seconds=30))
    end = START + timedelta(minutes=10)
    source.now = end
    ids, points = await _read(source, None, end, sizing=NARROW)
    assert ids == [f"m{minute}" for minute in range(10)]
    last = LagCheckpoint.from_dict("memory", points[-1])
    assert last is not None
    assert last.since == end
    assert last.seen == ("m5", "m6", "m7", "m8", "m9")
    # Resumed from any window's checkpoint, nothing is yielded twice.
    for point in points:
        again, _ = await _read(source, point, end, sizing=NARROW)
        since = LagCheckpoint.from_dict("memory", point).since
        assert again == [
            f"m{minute}"
            for minute in range(10)
            if START + timedelta(minutes=minute, seconds=30) >= since
        ]


async def test_the_resumed_ids_stay_in_checkpoints_while_in_the_lag() -> None:
    source = Source()
    source.add("a", START + timedelta(minutes=4))
    end = START + timedelta(minutes=6)
    source.now = end
    _, points = await _read(source, None, end, sizing=NARROW)
    # Resumed with windows narrower than the lag: "a" (before the
    # resumed checkpoint) is still in the lag of the first window's end.
    source.now = end + timedelta(minutes=4)
    ids, more = await _read(source, points[-1], source.now, sizing=NARROW)
    assert ids == []
    first = LagCheckpoint.from_dict("memory", more[0])
    assert first is not None
    assert "a" in first.seen


async def test_keep_filters_what_is_yielded_and_remembered() -> None:
    source = Source()
    source.events.append((_log("x", START + timedelta(hours=1), "logout"), START))
    source.add("y", START + timedelta(hours=2))
    source.now = START + DAY
    ids, _ = await _read(
        source, None, START + DAY, keep=lambda log: log.action == "login"
    )
    assert ids == ["y"]


async def test_a_window_failing_mid_way_yields_no_checkpoint_for_it() -> None:
    source = Source(fail_in=1)
    for day in range(3):
        source.add(f"d{day}-a", START + day * DAY + timedelta(hours=1))
        source.add(f"d{day}-b", START + day * DAY + timedelta(hours=2))
        source.add(f"d{day}-c", START + day * DAY + timedelta(hours=3))
    source.now = START + 3 * DAY
    lagged = LaggedWindows(lag=LAG, resume=None, checkpoint=LagCheckpoint)
    points: list[datetime] = []

    async def drain() -> None:
        batches = lagged.read(
            source.read, start=START, end=START + 3 * DAY, sizing=DAYS
        )
        async for batch in batches:
            if batch.checkpoint is not None:
                point = LagCheckpoint.from_dict("memory", batch.checkpoint)
                assert point is not None
                points.append(point.since)

    with pytest.raises(RuntimeError, match="window failed"):
        await drain()
    assert points == [START + DAY]  # the first day's, never the failed one's


def test_digest_checkpoints_read_a_plain_list_of_ids() -> None:
    stored = {"since": "2026-01-01T00:00:00Z", "seen": ["a", "b"]}
    point = LagDigestCheckpoint.from_dict("memory", stored)
    assert point is not None
    assert point.seen == SeenIds(["a", "b"])
    listed = LagCheckpoint.from_dict("memory", stored)
    assert listed is not None
    assert listed.seen == ("a", "b")
