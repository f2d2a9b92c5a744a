"""A usage-report stream synced: its buckets stored with their checkpoints,
merged writes storing what one-by-one writes store, a revised bucket
replacing the stored one and counted apart, and the report and ``aiaudit
sync``'s summary saying so. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from connector_core import _drain
from connector_core.analytics import model_usage_of
from connector_core.cli._syncing import _summary
from connector_core.models import AIDateRange, ModelUsageRecord
from connector_core.streams import (
    QuarantinedRecord,
    StreamBatch,
    StreamInfo,
    StreamKind,
)
from connector_core.sync import sync_connection


START = datetime(2025, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
MODELS = ("large", "small", "vision")


def bucket(day: int, model: str, *, revision: int = 0) -> ModelUsageRecord:
    begins = START + day * DAY
    return ModelUsageRecord(
        id=f"{begins.date()}/{model}",
        platform="toy",
        start=begins,
        end=begins + DAY,
        model=model,
        requests=day + 1 + revision,
        input_tokens=100 * (day + 1),
        output_tokens=10 * (day + 1) + revision,
        cost=0.25 * (day + 1) + revision,
        raw={"day": day, "model": model, "revision": revision},
    )


class UsageFeed:
    """One usage stream of *days* daily buckets per model, a batch per day,
    checkpointed by the day read; the last day is still open, so a read
    resumes at its start and reads it again, with *revision* applied."""

    platform = "toy"

    def __init__(self, days: int) -> None:
        self.days = days
        self.revision = 0

    async def list_streams(self) -> list[StreamInfo]:
        return [StreamInfo(name="usage", kind=StreamKind.WINDOWED)]

    async def read_stream(self, stream, checkpoint, query):
        first = 0 if checkpoint is None else checkpoint["open_day"]
        for day in range(first, self.days):
            open_day = day == self.days - 1
            records = tuple(
                bucket(day, model, revision=self.revision if open_day else 0)
                for model in MODELS
            )
            bad = (
                (QuarantinedRecord.of(stream, "no model", '{"day": 3}'),)
                if day == 3
                else ()
            )
            yield StreamBatch(
                usage=records,
                quarantined=bad,
                checkpoint={"open_day": day if open_day else day + 1},
            )
            await asyncio.sleep(0)


async def _sync(feed, store):
    return await sync_connection(
        feed,
        store,
        connection="acme",
        since=START - DAY,
        until=START + 365 * DAY,
    )


async def test_a_usage_stream_is_stored_and_revised(store, monkeypatch):
    monkeypatch.setattr(_drain, "MAX_MERGED_EVENTS", 7)
    feed = UsageFeed(days=10)
    first = await _sync(feed, store)
    assert first.ok, [s.error for s in first.streams]
    (stream,) = first.streams
    assert (stream.usage_read, stream.usage_inserted, stream.usage_updated) == (
        30,
        30,
        0,
    )
    assert (stream.read, stream.quarantined) == (0, 1)
    assert store.checkpoints("acme") == {"usage": {"open_day": 9}}
    assert len(store.usage_records(connection="acme")) == 30

    feed.revision = 5
    second = await _sync(feed, store)
    (again,) = second.streams
    # The open day read again: its three buckets revised, nothing new.
    assert (again.usage_read, again.usage_inserted, again.usage_updated) == (3, 0, 3)
    assert second.as_dict()["usage_updated"] == 3
    summary = _summary(second)
    assert "usage: 3 usage buckets read, 0 new, 3 updated" in summary

    stored = store.usage_records(connection="acme")
    expected = [bucket(day, m) for day in range(9) for m in MODELS] + [
        bucket(9, m, revision=5) for m in MODELS
    ]
    assert sorted(stored, key=lambda r: r.id) == sorted(expected, key=lambda r: r.id)
    period = AIDateRange(start=START, end=START + 30 * DAY)
    analytics = store.usage_analytics(period, platform="toy", connection="acme")
    assert analytics.model_usage == model_usage_of(expected)
    assert analytics.total_events == 0

    third = await _sync(feed, store)
    (unchanged,) = third.streams
    assert (unchanged.usage_read, unchanged.usage_updated) == (3, 0)
    assert "usage buckets" in _summary(third)
