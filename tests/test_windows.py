"""The window reader's contract, on a source in memory.

``read_windows`` is pure scheduling: which windows exist, which run at
once, which checkpoint may be yielded when. That is tested here against a
log held in memory, where every interleaving can be forced; the example
plugin's tests read its sandbox over HTTP with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from connector_core import AIActivityType, AIAuditLog, ConfigurationError
from connector_core.streams import QuarantinedRecord, StreamBatch
from connector_core.windows import Window, WindowSizing, read_in_order, read_windows


START = datetime(2026, 1, 1, tzinfo=UTC)
END = START + timedelta(days=10)
SIZING = WindowSizing(
    first=timedelta(days=1),
    target=500,
    minimum=timedelta(hours=1),
    maximum=timedelta(days=31),
)


def _log(i: int, at: datetime) -> AIAuditLog:
    return AIAuditLog(
        id=f"e{i}",
        timestamp=at,
        platform="memory",
        user_id="u",
        user_email="u@example.test",
        organization_id="o",
        activity_type=AIActivityType.LOGIN,
        action="login",
        native_type="login",
    )


def _events(n: int, *, seed: int = 1, ties_at: list[datetime] | None = None) -> list:
    rng = random.Random(seed)
    times = [START + timedelta(seconds=rng.randrange(0, 10 * 86_400)) for _ in range(n)]
    for at in ties_at or []:
        times.extend([at] * 5)  # several events on an edge's exact second
    return [_log(i, at) for i, at in enumerate(sorted(times))]


class Source:
    """A log in memory, read a window at a time in pages, with hooks to
    slow, fail or stop a window."""

    def __init__(self, events, *, page: int = 50) -> None:
        self.events = events
        self.page = page
        self.windows: list[Window] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.fail: set[int] = set()
        self.delay = random.Random(5)
        self.closed: list[int] = []
        self.busy = asyncio.Event()  # several windows in flight

    async def read(self, window: Window):
        self.windows.append(window)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        if self.in_flight > 1:
            self.busy.set()
        try:
            inside = [
                e for e in self.events if window.start <= e.timestamp < window.end
            ]
            for i in range(0, len(inside), self.page):
                # Windows finish out of order.
                await asyncio.sleep(self.delay.random() / 500)
                if window.index in self.fail and i >= self.page:
                    raise RuntimeError(f"window {window.index} failed")
                yield StreamBatch(logs=tuple(inside[i : i + self.page]))
            yield StreamBatch(checkpoint={"until": window.end.isoformat()})
        finally:
            self.in_flight -= 1
            self.closed.append(window.index)


async def _collect(batches):
    return [batch async for batch in batches]


def _ids(batches) -> list[str]:
    return [log.id for batch in batches for log in batch.logs]


@pytest.mark.parametrize("concurrency", [1, 4, 16])
async def test_every_event_once_whatever_the_concurrency(concurrency):
    edges = [START + timedelta(days=d) for d in range(1, 10)]
    events = _events(3_000, ties_at=edges)
    source = Source(events)
    batches = await _collect(
        read_windows(
            source.read, start=START, end=END, sizing=SIZING, concurrency=concurrency
        )
    )
    ids = _ids(batches)
    assert len(ids) == len(set(ids))
    assert set(ids) == {e.id for e in events}
    assert source.most_in_flight <= concurrency
    if concurrency > 1:
        assert source.most_in_flight > 1


async def test_windows_tile_the_range_and_only_the_last_reaches_its_end():
    source = Source(_events(2_000))
    await _collect(
        read_windows(source.read, start=START, end=END, sizing=SIZING, concurrency=4)
    )
    windows = sorted(source.windows, key=lambda w: w.index)
    assert windows[0].start == START
    assert windows[-1].end == END
    for before, after in itertools.pairwise(windows):
        assert before.end == after.start
        assert not before.last
    assert windows[-1].last


async def test_windows_are_sized_by_the_density_seen():
    # 4,000 events, one every 20 s, all in the first day: the next window
    # aims at 500 of that density.
    dense = [_log(i, START + timedelta(seconds=i * 20)) for i in range(4_000)]
    source = Source(dense)
    await _collect(
        read_windows(source.read, start=START, end=END, sizing=SIZING, concurrency=1)
    )
    first, second = source.windows[:2]
    assert first.width == timedelta(days=1)
    assert second.width == timedelta(days=1) * 500 / 4_000


async def test_an_empty_window_widens_the_next_to_the_maximum():
    late = [_log(i, END - timedelta(hours=1)) for i in range(10)]
    source = Source(late)
    batches = await _collect(
        read_windows(source.read, start=START, end=END, sizing=SIZING, concurrency=1)
    )
    assert len(source.windows) == 2  # a day, then the rest at once
    assert set(_ids(batches)) == {e.id for e in late}


async def test_read_at_once_an_empty_stretch_widens_the_windows_by_doubling():
    # Nothing for nine days, two slots: each window is at most twice the
    # widest read, so a density measured over a short stretch is never
    # trusted far beyond it, and a quiet stretch costs a few requests.
    late = [_log(i, END - timedelta(hours=1)) for i in range(10)]
    source = Source(late)
    batches = await _collect(
        read_windows(source.read, start=START, end=END, sizing=SIZING, concurrency=2)
    )
    widths = [w.width.days for w in sorted(source.windows, key=lambda w: w.index)]
    assert widths == [1, 1, 2, 2, 4]
    assert set(_ids(batches)) == {e.id for e in late}


def _quiet_then_busy() -> list[AIAuditLog]:
    """Two quiet days, then eight busy ones: the quiet windows finish first."""
    events = [_log(i, START + timedelta(hours=4 * i)) for i in range(10)]
    busy = START + timedelta(days=2)
    events += [
        _log(10 + i, busy + timedelta(seconds=i * 86_400 * 8 // 8_000))
        for i in range(8_000)
    ]
    return events


async def test_quiet_windows_finishing_first_do_not_make_one_giant_window():
    # Sized from the last window to finish (a quiet day), the next would
    # hold the eight busy days, read by one cursor chain while the other
    # slots idle. Sized from every finished window, twice the widest at
    # most and the remainder shared among the slots, the busy days are
    # spread over many windows.
    events = _quiet_then_busy()
    source = Source(events)
    batches = await _collect(
        read_windows(source.read, start=START, end=END, sizing=SIZING, concurrency=4)
    )
    assert sorted(_ids(batches)) == sorted(e.id for e in events)
    held = [
        sum(1 for e in events if w.start <= e.timestamp < w.end) for w in source.windows
    ]
    # While the busy days' density is learnt, a window may be twice the
    # widest read (two busy days, 2,000 events); never the eight at once.
    assert max(held) <= 2_500
    assert len(source.windows) >= 8
    assert sum(1 for h in held if h > 2 * SIZING.target) <= 3


async def test_the_remainder_is_shared_among_the_slots():
    # An even log, a target far larger than the range holds: one window
    # would do for density, but sixteen slots each get a share.
    events = _events(4_000)
    sizing = WindowSizing(
        first=timedelta(hours=6),
        target=100_000,
        minimum=timedelta(hours=1),
        maximum=timedelta(days=31),
    )
    source = Source(events)
    await _collect(
        read_windows(source.read, start=START, end=END, sizing=sizing, concurrency=16)
    )
    assert len(source.windows) >= 16
    assert max(w.width for w in source.windows) <= timedelta(days=1)


async def test_sharing_the_remainder_stops_at_a_quarter_of_the_target():
    # Near the end, the remainder shared among the slots shrinks; a window
    # still holds about a quarter of the target, since each costs a
    # partial page.
    events = _events(20_000)
    sizing = attrs.evolve(SIZING, first=timedelta(hours=1))
    source = Source(events)
    await _collect(
        read_windows(source.read, start=START, end=END, sizing=sizing, concurrency=4)
    )
    windows = sorted(source.windows, key=lambda w: w.index)
    held = [sum(1 for e in events if w.start <= e.timestamp < w.end) for w in windows]
    # About a quarter: a window cut to hold 125 events at the density seen
    # holds what falls in it.
    assert min(held[-8:-1]) >= 0.6 * SIZING.target / 4
    # In flight, a window counts with what it has served yet: a lower bound
    # on its density, which makes windows err wider, but never by the
    # several times the last finished window's density could.
    assert max(held) <= 2 * SIZING.target


async def test_checkpoints_only_advance_over_finished_windows():
    events = _events(3_000)
    source = Source(events)
    finished: set[int] = set()
    checkpoints = []

    original = source.read

    async def read(window):
        async for batch in original(window):
            yield batch
        finished.add(window.index)

    async for batch in read_windows(
        read, start=START, end=END, sizing=SIZING, concurrency=8
    ):
        if batch.checkpoint is not None:
            until = datetime.fromisoformat(batch.checkpoint["until"])
            windows = [w for w in source.windows if w.end <= until]
            assert all(w.index in finished for w in windows), "checkpoint ahead"
            checkpoints.append(until)
    assert checkpoints == sorted(checkpoints)
    assert checkpoints[-1] == END


async def test_a_failing_window_fails_the_read_and_a_resume_is_exact():
    events = _events(3_000)
    source = Source(events)
    source.fail = {5}
    seen: list[str] = []
    last = None

    async def consume() -> None:
        nonlocal last
        async for batch in read_windows(
            source.read, start=START, end=END, sizing=SIZING, concurrency=4
        ):
            seen.extend(log.id for log in batch.logs)
            if batch.checkpoint is not None:
                last = datetime.fromisoformat(batch.checkpoint["until"])

    with pytest.raises(RuntimeError, match="window 5 failed"):
        await consume()
    # Every window the read started was closed before the error came out.
    assert sorted(source.closed) == sorted(w.index for w in source.windows)
    assert len(source.windows) > 4  # windows after the failing one were read
    resume = START if last is None else last
    assert resume < END
    resumed = Source(events)
    rest = await _collect(
        read_windows(resumed.read, start=resume, end=END, sizing=SIZING, concurrency=4)
    )
    # Stored early or read again: together, everything, and the resumed
    # read alone everything after its checkpoint.
    assert set(seen) | set(_ids(rest)) == {e.id for e in events}
    assert set(_ids(rest)) == {e.id for e in events if e.timestamp >= resume}


async def test_closing_the_read_early_cancels_every_window():
    source = Source(_events(3_000))
    before = asyncio.all_tasks()
    reader = read_windows(
        source.read, start=START, end=END, sizing=SIZING, concurrency=8
    )
    await anext(reader)
    assert source.in_flight > 1
    await reader.aclose()
    assert source.in_flight == 0
    assert asyncio.all_tasks() == before


async def test_cancelling_the_consumer_cancels_every_window():
    source = Source(_events(3_000))
    before = asyncio.all_tasks()

    async def consume():
        # As every consumer in the core does: an async generator is closed
        # by its consumer, not when the task running it is cancelled.
        reader = read_windows(
            source.read, start=START, end=END, sizing=SIZING, concurrency=8
        )
        async with contextlib.aclosing(reader) as batches:
            async for _ in batches:
                await asyncio.sleep(0.01)

    task = asyncio.create_task(consume())
    await source.busy.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert source.in_flight == 0
    assert asyncio.all_tasks() == before


async def test_edges_are_cut_only_before_the_settled_time():
    settled = END - timedelta(days=3, hours=5)
    source = Source(_events(500))
    await _collect(
        read_windows(
            source.read,
            start=START,
            end=END,
            sizing=SIZING,
            concurrency=4,
            settled=settled,
        )
    )
    windows = sorted(source.windows, key=lambda w: w.index)
    assert all(w.end <= settled for w in windows[:-1])
    assert windows[-1].end == END
    assert windows[-1].start <= settled


async def test_quarantined_records_count_and_pass_through():
    bad = QuarantinedRecord(stream="s", reason="broken", raw="{")

    async def read(window):
        yield StreamBatch(quarantined=(bad,))
        yield StreamBatch(checkpoint={"until": window.end.isoformat()})

    batches = await _collect(
        read_windows(read, start=START, end=END, sizing=SIZING, concurrency=3)
    )
    assert sum(len(b.quarantined) for b in batches) == len(
        [b for b in batches if b.quarantined]
    )
    assert any(b.checkpoint == {"until": END.isoformat()} for b in batches)


async def test_a_mid_window_checkpoint_is_yielded_once_its_window_leads():
    async def read(window):
        yield StreamBatch(
            logs=(_log(window.index, window.start),),
            checkpoint={"inside": window.index},
        )
        yield StreamBatch(checkpoint={"until": window.index})

    batches = await _collect(
        read_windows(read, start=START, end=END, sizing=SIZING, concurrency=1)
    )
    checkpoints = [b.checkpoint for b in batches if b.checkpoint is not None]
    assert checkpoints[:2] == [{"inside": 0}, {"until": 0}]


async def test_units_from_a_lazy_source_are_taken_only_as_places_free():
    taken: list[int] = []

    async def units():
        for i in range(20):
            taken.append(i)
            yield i

    async def read(unit):
        await asyncio.sleep(0)
        yield StreamBatch(checkpoint={"file": unit})

    reader = read_in_order(units(), read, concurrency=3)
    first = await anext(reader)
    assert len(taken) <= 4
    rest = await _collect(reader)
    checkpoints = [b.checkpoint["file"] for b in [first, *rest] if b.checkpoint]
    assert checkpoints == sorted(checkpoints)
    assert checkpoints[-1] == 19


@pytest.mark.parametrize("bad", [0, -1])
async def test_a_concurrency_below_one_is_refused(bad):
    with pytest.raises(ConfigurationError, match="at least 1"):
        await anext(
            read_windows(
                Source([]).read, start=START, end=END, sizing=SIZING, concurrency=bad
            )
        )


def test_sizing_is_validated():
    with pytest.raises(ConfigurationError, match="wider than"):
        WindowSizing(
            first=timedelta(days=1),
            target=1,
            minimum=timedelta(days=2),
            maximum=timedelta(days=1),
        )
    with pytest.raises(ConfigurationError, match="positive"):
        WindowSizing(
            first=timedelta(0), target=1, minimum=timedelta(1), maximum=timedelta(2)
        )
