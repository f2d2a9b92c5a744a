"""The example plugin's usage report, synced with no platform installed: its
daily buckets stored, a revised bucket of the open day replacing the stored
one, and ``aiaudit usage`` showing tokens and cost per model from them. On
SQLite and PostgreSQL, which agree with the figures computed in memory."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from aiaudit_example.connector import USAGE_STREAM
from aiaudit_example.normalize import normalize_usage
from aiaudit_example.sandbox import ExampleSandbox

from connector_core import Registry
from connector_core.analytics import model_usage_of
from connector_core.models import AIDateRange
from connector_core.sandbox import SandboxOptions
from connector_core.store import open_store
from connector_core.sync import sync_connection
from connector_core.testing.processes import AIAUDIT, clean_env


END = datetime(2025, 3, 1, tzinfo=UTC)
DAYS = 6
UNTIL = END + timedelta(hours=6)
OPEN_DAY_BUCKETS = 6  # three models, two projects


@pytest.fixture
async def sandbox():
    options = SandboxOptions(seed=11, events=400, days=DAYS, end=END)
    async with ExampleSandbox.run(options) as running:
        yield running


@pytest.fixture
def registry():
    return Registry.load(environ={"AIAUDIT_PLUGINS": "example"})


async def _sync(registry, sandbox, store):
    async with registry.create("example", sandbox.config()) as connector:
        return await sync_connection(
            connector,
            store,
            connection="acme",
            since=END - timedelta(days=DAYS),
            until=UNTIL,
        )


def _served(sandbox):
    return [normalize_usage(b.to_json()) for b in sandbox.api.usage_buckets()]


def _usage(report):
    return next(s for s in report.streams if s.stream == USAGE_STREAM)


async def test_the_usage_report_is_stored_revised_and_reported(
    registry, sandbox, store_url
):
    store = open_store(store_url)
    try:
        first = await _sync(registry, sandbox, store)
        assert first.ok, [(s.stream, s.error) for s in first.streams]
        usage = _usage(first)
        served = _served(sandbox)
        assert usage.usage_read == usage.usage_inserted == len(served)
        assert usage.read == usage.inserted == 0
        stored = store.usage_records(connection="acme")
        assert sorted(stored, key=lambda r: r.id) == sorted(served, key=lambda r: r.id)

        sandbox.api.revise_usage()
        second = await _sync(registry, sandbox, store)
        again = _usage(second)
        # Only the open day is read again, and every bucket of it changed.
        assert (again.usage_read, again.usage_inserted, again.usage_updated) == (
            OPEN_DAY_BUCKETS,
            0,
            OPEN_DAY_BUCKETS,
        )
        revised = _served(sandbox)
        stored = store.usage_records(connection="acme")
        assert sorted(stored, key=lambda r: r.id) == sorted(revised, key=lambda r: r.id)
        period = AIDateRange(start=END - timedelta(days=DAYS), end=UNTIL)
        analytics = store.usage_analytics(period, platform="example")
        assert analytics.model_usage == model_usage_of(revised)
        assert all(m.total_tokens and m.cost_estimate for m in analytics.model_usage)
        assert analytics.total_events > 0  # the events still count
    finally:
        store.close()

    shown = _aiaudit_usage(store_url, "--json")
    models = json.loads(shown)["model_usage"]
    assert {m["model"] for m in models} == {
        "example-large",
        "example-small",
        "example-vision",
    }
    assert all(m["total_tokens"] > 0 and m["cost_estimate"] > 0 for m in models)

    table = _aiaudit_usage(store_url)
    lines = [line for line in table.splitlines() if "example-large" in line]
    assert lines, table
    assert "$" in lines[0], table  # the cost, where events alone show "-"


def _aiaudit_usage(store_url: str, *options: str) -> str:
    shown = subprocess.run(
        [
            str(AIAUDIT),
            "--store",
            store_url,
            "usage",
            "--platform",
            "example",
            "--since",
            "2025-02-23",
            "--until",
            "2025-03-01",
            *options,
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    return shown.stdout
