"""Usage-report buckets in the store: upserted by id in the batch's
transaction, counted new, revised or unchanged, forgotten with their
connection, and the model usage of a period when it has any.

Every test runs on SQLite and on PostgreSQL (the ``store`` fixture), and
the figures agree with :func:`connector_core.analytics.model_usage_of`.
"""

from __future__ import annotations

import datetime as dt
import random

import attrs
import pytest

from connector_core.analytics import model_usage_of
from connector_core.exceptions import StoreError
from connector_core.models import (
    AIActivityType,
    AIAuditLog,
    AIDateRange,
    ModelUsageMetric,
    ModelUsageRecord,
)
from connector_core.streams import StreamBatch, normalize_or_quarantine


T0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def bucket(day: int, model: str = "large", project: str = "p1", **figures):
    start = T0 + day * DAY
    values = {"requests": 10, "input_tokens": 100, "output_tokens": 50, "cost": 0.5}
    values.update(figures)
    return ModelUsageRecord(
        id=f"{start.date()}/{model}/{project}",
        platform="acme",
        start=start,
        end=start + DAY,
        model=model,
        dimensions={"project": project},
        raw={"bucket": day, "model": model, **values},
        **values,
    )


def log(number: int, model: str = "large"):
    return AIAuditLog(
        id=f"e{number}",
        platform="acme",
        timestamp=T0 + dt.timedelta(hours=number),
        user_id="u1",
        user_email="u1@example.test",
        organization_id="org",
        activity_type=AIActivityType.CONVERSATION,
        action="conversation.message",
        metadata={"model": model, "tokens_used": 7},
        native_type="message",
    )


def test_buckets_are_stored_and_read_back(store):
    records = [bucket(0), bucket(0, "small"), bucket(1)]
    result = store.write_batch("c1", "usage", [], usage=records)
    assert (result.usage_inserted, result.usage_updated) == (3, 0)
    assert store.usage_records(connection="c1") == sorted(
        records, key=lambda r: (r.start, r.id)
    )
    assert store.usage_records(start=T0 + DAY) == [bucket(1)]
    assert store.usage_records(platform="other") == []


def test_a_revised_bucket_replaces_the_stored_one(store):
    store.write_batch("c1", "usage", [], usage=[bucket(0), bucket(1)])
    again = store.write_batch(
        "c1", "usage", [], usage=[bucket(0), bucket(1, requests=25, cost=1.25)]
    )
    assert (again.usage_inserted, again.usage_updated, again.usage_unchanged) == (
        0,
        1,
        1,
    )
    assert store.usage_records(connection="c1")[1].requests == 25
    # Within one batch, the last revision read wins.
    last = store.write_batch(
        "c1", "usage", [], usage=[bucket(2, requests=1), bucket(2, requests=2)]
    )
    assert last.usage_inserted == 1
    assert store.usage_records(start=T0 + 2 * DAY)[0].requests == 2


def test_buckets_commit_with_the_checkpoint(store):
    with pytest.raises(StoreError):
        store.write_batch(
            "c1", "usage", [], checkpoint={"bad": object()}, usage=[bucket(0)]
        )
    assert store.usage_records() == []
    store.write_batch("c1", "usage", [], checkpoint={"day": 1}, usage=[bucket(0)])
    assert store.checkpoints("c1") == {"usage": {"day": 1}}
    assert len(store.usage_records()) == 1


def test_a_bucket_the_store_cannot_hold_is_quarantined(store):
    huge = bucket(0, requests=2**64)
    result = store.write_batch("c1", "usage", [], usage=[huge, bucket(1)])
    assert (result.usage_inserted, result.quarantined) == (1, 1)
    [stored] = store.quarantined("c1")
    assert stored.record.native_id == huge.id
    assert "64-bit" in stored.record.reason


def test_purging_a_connection_forgets_its_buckets(store):
    store.write_batch("c1", "usage", [], usage=[bucket(0)])
    store.write_batch("c2", "usage", [], usage=[bucket(0)])
    assert store.remove_connection("c1", purge=True) is True
    assert [r.id for r in store.usage_records()] == [bucket(0).id]
    assert store.usage_records(connection="c1") == []


def test_model_usage_comes_from_the_buckets_of_the_period(store):
    store.write_batch(
        "c1",
        "audit",
        [log(1), log(2, "small")],
        usage=[bucket(0), bucket(0, "small", requests=30), bucket(5)],
    )
    period = AIDateRange(start=T0, end=T0 + DAY - dt.timedelta(microseconds=1))
    analytics = store.usage_analytics(period, platform="acme")
    assert analytics.total_events == 2
    assert analytics.model_usage == (
        ModelUsageMetric(
            model="small", usage_count=30, total_tokens=150, cost_estimate=0.5
        ),
        ModelUsageMetric(
            model="large", usage_count=10, total_tokens=150, cost_estimate=0.5
        ),
    )
    # A connection without buckets keeps its events' model usage.
    store.write_batch("c2", "audit", [log(3)])
    events_only = store.usage_analytics(period, platform="acme", connection="c2")
    assert events_only.model_usage == (
        ModelUsageMetric(model="large", usage_count=1, total_tokens=7),
    )
    # And so does a period without buckets.
    later = AIDateRange(start=T0 + 10 * DAY, end=T0 + 11 * DAY)
    assert store.usage_analytics(later, platform="acme").model_usage == ()


def test_unknown_figures_and_other_currencies(store):
    records = [
        bucket(0, requests=None, input_tokens=None, output_tokens=None, cost=None),
        attrs.evolve(bucket(1), currency="EUR"),
    ]
    store.write_batch("c1", "usage", [], usage=records)
    period = AIDateRange(start=T0, end=T0 + 3 * DAY)
    [large] = store.usage_analytics(period, platform="acme").model_usage
    # Unknown requests add none, tokens count where known, and a cost in
    # another currency is kept in the store but not summed.
    assert large == ModelUsageMetric(
        model="large", usage_count=10, total_tokens=150, cost_estimate=None
    )
    assert large == model_usage_of(records)[0]
    assert store.usage_records(start=T0 + DAY)[0].currency == "EUR"


@pytest.mark.parametrize("seed", [1, 2])
def test_model_usage_agrees_with_model_usage_of(store, seed):
    rnd = random.Random(seed)
    records = [
        bucket(
            rnd.randrange(10),
            rnd.choice(["large", "small", "vision"]),
            rnd.choice(["p1", "p2", "p3"]),
            requests=rnd.choice([None, rnd.randrange(1000)]),
            input_tokens=rnd.choice([None, rnd.randrange(10**6)]),
            output_tokens=rnd.randrange(10**6),
            cost=rnd.choice([None, rnd.random() * 10]),
        )
        for _ in range(200)
    ]
    for start in range(0, len(records), 37):
        store.write_batch("c1", "usage", [], usage=records[start : start + 37])
    period = AIDateRange(start=T0 + 2 * DAY, end=T0 + 7 * DAY)
    latest = {r.id: r for r in records}.values()
    expected = model_usage_of(
        r for r in latest if period.start <= r.start <= period.end
    )
    assert store.usage_analytics(period, platform="acme").model_usage == expected


def test_a_malformed_bucket_is_quarantined_by_the_reader():
    def normalize(raw):
        return ModelUsageRecord(
            id=raw["id"],
            platform="acme",
            start=T0,
            end=T0 + DAY,
            model="large",
            requests=raw["requests"],
        )

    batch = StreamBatch.from_results(
        normalize_or_quarantine("usage", raw, normalize)
        for raw in ({"id": "a", "requests": 3}, {"id": "b", "requests": -1})
    )
    assert [r.id for r in batch.usage] == ["a"]
    [bad] = batch.quarantined
    assert "requests" in bad.reason
