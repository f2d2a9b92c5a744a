"""A usage-report bucket refuses what would make its figures wrong: a
negative or non-integer count, a naive or reversed time range, an unknown
currency shape, dimensions that are not text."""

from __future__ import annotations

import datetime as dt

import pytest

from connector_core.models import ModelUsageRecord


START = dt.datetime(2025, 1, 2, tzinfo=dt.UTC)
GOOD = {
    "id": "b1",
    "platform": "acme",
    "start": START,
    "end": START + dt.timedelta(days=1),
    "model": "large",
}


def test_a_bucket_with_only_its_identity_is_valid():
    record = ModelUsageRecord(**GOOD)
    assert (record.requests, record.tokens, record.cost) == (None, None, None)
    assert record.currency == "USD"
    assert ModelUsageRecord(**GOOD, output_tokens=5).tokens == 5


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"requests": -1}, ValueError),
        ({"input_tokens": True}, TypeError),
        ({"output_tokens": 1.5}, TypeError),
        ({"cost": -0.01}, ValueError),
        ({"cost": float("nan")}, ValueError),
        ({"cost": float("inf")}, ValueError),
        ({"currency": "usd"}, ValueError),
        ({"start": dt.datetime(2025, 1, 2)}, ValueError),  # noqa: DTZ001 -- naive on purpose
        ({"end": START - dt.timedelta(seconds=1)}, ValueError),
        ({"dimensions": {"project": 3}}, TypeError),
        ({"model": ""}, ValueError),
        ({"id": ""}, ValueError),
        ({"platform": "Acme"}, ValueError),
    ],
)
def test_a_bucket_refuses_bad_figures(change, error):
    with pytest.raises(error):
        ModelUsageRecord(**{**GOOD, **change})


def test_times_are_converted_to_utc_and_dimensions_copied():
    zone = dt.timezone(dt.timedelta(hours=2))
    dimensions = {"project": "p1"}
    record = ModelUsageRecord(
        **{**GOOD, "start": START.astimezone(zone)}, dimensions=dimensions
    )
    dimensions["project"] = "changed"
    assert record.start.tzinfo is dt.UTC
    assert record.dimensions == {"project": "p1"}
