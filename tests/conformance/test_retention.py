"""A platform that keeps only recent history says so (``retention``), and
the suite moves a pinned history that has aged out of it to end today."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector_core import SandboxOptions
from connector_core.connector import ConnectorSpec
from connector_core.exceptions import PluginError
from connector_core.testing._harness import within_retention
from tests.toy import ToyConnector


NOW = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
PINNED = SandboxOptions(days=14, end=datetime(2025, 3, 1, tzinfo=UTC))


def test_a_history_older_than_the_platform_keeps_ends_today():
    moved = within_retention(PINNED, timedelta(days=180), NOW)
    assert moved.end is None  # the start of the current UTC day
    assert (moved.seed, moved.events, moved.days) == (
        PINNED.seed,
        PINNED.events,
        PINNED.days,
    )


def test_a_history_inside_retention_stays_pinned():
    recent = SandboxOptions(days=14, end=NOW - timedelta(days=30))
    assert within_retention(recent, timedelta(days=180), NOW) is recent
    assert within_retention(PINNED, None, NOW) is PINNED


def test_the_first_day_of_the_history_decides():
    # Its end is inside 180 days, its first day is not.
    edge = SandboxOptions(days=14, end=NOW - timedelta(days=170))
    assert within_retention(edge, timedelta(days=180), NOW).end is None


def _connector(retention: object) -> type:
    class Keeps(ToyConnector):
        pass

    Keeps.retention = retention  # type: ignore[attr-defined]
    return Keeps


def test_retention_is_read_from_the_class():
    spec = ConnectorSpec.from_class(_connector(timedelta(days=180)), plugin="p")
    assert spec.retention == timedelta(days=180)
    assert ConnectorSpec.from_class(_connector(None), plugin="p").retention is None


@pytest.mark.parametrize("bad", [180, timedelta(0), "180 days"])
def test_a_retention_that_is_not_a_positive_timedelta_is_refused(bad):
    with pytest.raises(PluginError, match="retention must be a positive timedelta"):
        ConnectorSpec.from_class(_connector(bad), plugin="p")
