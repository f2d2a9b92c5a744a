"""The usage stream against the sandbox's Admin API reports: a full read is
the ground truth, the open day is read again and replaces the stored
buckets, the cost's unit is cents, and without an Admin key the stream
alone fails, naming the key."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from conftest import END, OPTIONS, connector, whole_history

from aiaudit_claude.connector import ADMIN_KEY
from aiaudit_claude.sandbox.server import ClaudeSandbox
from aiaudit_claude.usage import (
    COST_UNIT,
    STREAM_USAGE,
    UsageResume,
    bucket_lines,
    cost_line,
    join_day,
    usage_line,
)
from connector_core import ConfigurationError, Registry, SchemaError
from connector_core.analytics import model_usage_of
from connector_core.models import AIDateRange
from connector_core.store import open_store
from connector_core.sync import sync_connection
from connector_core.testing.contracts import load_contract


CONTRACTS = Path(__file__).parent / "contracts"


def contract(name: str):
    return load_contract(CONTRACTS / name, remake="its README's instructions")


async def read_usage(target, query, checkpoint=None):
    records, quarantined, checkpoints = [], [], []
    async for batch in target.read_stream(STREAM_USAGE, checkpoint, query):
        records.extend(batch.usage)
        quarantined.extend(batch.quarantined)
        if batch.checkpoint is not None:
            checkpoints.append(dict(batch.checkpoint))
    return records, quarantined, checkpoints


def as_truth(record):
    return {
        "id": record.id,
        "start": record.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": record.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": record.model,
        "workspace_id": record.dimensions["workspace_id"],
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "cost": record.cost,
        "currency": record.currency,
    }


def truth(sandbox):
    return [{**r, "cost": float(Decimal(r["cost"]))} for r in sandbox.expected_usage()]


async def test_a_full_read_is_the_ground_truth(sandbox):
    records, quarantined, checkpoints = await read_usage(
        connector(sandbox), whole_history()
    )
    assert quarantined == []
    assert sorted(map(as_truth, records), key=lambda r: r["id"]) == sorted(
        truth(sandbox), key=lambda r: r["id"]
    )
    assert all(r.requests is None for r in records)  # the report counts none
    assert {r.model for r in records} >= {"claude-opus-4-7", "web_search"}
    # The last day read is the one that may still change.
    assert checkpoints[-1] == UsageResume(since=END).to_dict()


async def test_the_reports_are_read_with_the_admin_key_and_their_groups(sandbox):
    await read_usage(connector(sandbox), whole_history())
    asked = sandbox.usage_api.queries
    assert {path for path, _ in asked} == {
        "/v1/organizations/usage_report/messages",
        "/v1/organizations/cost_report",
    }
    for path, query in asked:
        groups = [v for k, v in query if k == "group_by[]"]
        if path.endswith("messages"):
            assert groups == ["model", "workspace_id"]
        else:
            assert groups == ["workspace_id", "description"]
        assert ("bucket_width", "1d") in query
    assert sandbox.api.accessed == []  # no Compliance API call


async def test_a_long_range_is_read_a_month_of_days_a_batch(sandbox):
    query = whole_history(start_date=END - timedelta(days=OPTIONS.days + 40))
    records, _, checkpoints = await read_usage(connector(sandbox), query)
    assert len(checkpoints) == 2  # 51 days: 31, then 20
    assert len(records) == len(truth(sandbox))  # the sandbox's history is 10 days


async def test_a_revised_open_day_replaces_the_stored_buckets(sandbox, tmp_path):
    registry = Registry.load()
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")

    async def sync():
        async with registry.create("claude", sandbox.config()) as handle:
            report = await sync_connection(
                handle,
                store,
                connection="acme",
                since=END - timedelta(days=OPTIONS.days),
                until=END,
            )
        assert report.ok, [(s.stream, s.error) for s in report.streams]
        return next(s for s in report.streams if s.stream == STREAM_USAGE)

    try:
        first = await sync()
        expected = truth(sandbox)
        assert first.usage_read == first.usage_inserted == len(expected)
        stored = store.usage_records(connection="acme")
        assert sorted(map(as_truth, stored), key=lambda r: r["id"]) == sorted(
            expected, key=lambda r: r["id"]
        )

        before = {r.id: r for r in stored if r.start == END}
        sandbox.usage_api.revise()
        second = await sync()
        # Only the open day is read again: every bucket of it grew, and a
        # workspace's first web search of the day is a bucket of its own.
        now_open = [r for r in truth(sandbox) if r["start"] == "2026-03-01T00:00:00Z"]
        assert (second.usage_read, second.usage_inserted, second.usage_updated) == (
            len(now_open),
            len(now_open) - len(before),
            len(before),
        )
        stored = store.usage_records(connection="acme")
        assert sorted(map(as_truth, stored), key=lambda r: r["id"]) == sorted(
            truth(sandbox), key=lambda r: r["id"]
        )
        after = {r.id: r for r in stored if r.start == END}
        assert after.keys() >= before.keys()
        assert all(after[i].cost > before[i].cost for i in before)

        period = AIDateRange(start=END - timedelta(days=OPTIONS.days), end=END)
        analytics = store.usage_analytics(period, platform="claude")
        assert analytics.model_usage == model_usage_of(stored)
        opus = next(m for m in analytics.model_usage if m.model == "claude-opus-4-7")
        assert opus.total_tokens
        assert opus.cost_estimate
    finally:
        store.close()


async def test_without_an_admin_key_the_stream_is_off_and_says_why(sandbox, tmp_path):
    target = connector(sandbox, admin_key=None)
    assert STREAM_USAGE not in [s.name for s in await target.list_streams()]
    with pytest.raises(ConfigurationError, match="ANTHROPIC_ADMIN_KEY"):
        await read_usage(target, whole_history())

    registry = Registry.load()
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        async with registry.create(
            "claude", {**sandbox.config(), "admin_key": None}
        ) as handle:
            report = await sync_connection(
                handle,
                store,
                connection="acme",
                since=END - timedelta(days=OPTIONS.days),
                until=END,
            )
        assert report.ok  # the feed synced, whole
        streams = {s.stream: s for s in report.streams}
        assert streams["activities"].inserted == len(sandbox.expected_ids())
        assert STREAM_USAGE not in streams
        assert store.usage_records(connection="acme") == []
    finally:
        store.close()


async def test_the_check_says_the_usage_stream_needs_an_admin_key(sandbox):
    result = await connector(sandbox, admin_key=None).validate_ai_credentials()
    assert result.is_valid
    assert result.has_required_permissions  # the feed needs no Admin key
    [said] = result.errors
    assert "usage stream" in said
    assert "ANTHROPIC_ADMIN_KEY" in said


async def test_a_compliance_key_is_refused_by_the_reports(sandbox):
    target = connector(sandbox, admin_key=sandbox.key())
    result = await target.validate_ai_credentials()
    assert result.missing_permissions == (ADMIN_KEY,)
    assert sandbox.key() not in str(result)


async def test_a_read_of_some_actions_asks_the_reports_nothing(sandbox):
    query = whole_history(event_types=("user.login",))
    records, _, _ = await read_usage(connector(sandbox), query)
    assert records == []
    assert sandbox.usage_api.queries == []


async def test_a_resumed_read_starts_at_the_open_day(sandbox):
    target = connector(sandbox)
    records, _, _ = await read_usage(
        target, whole_history(), UsageResume(since=END).to_dict()
    )
    assert {r.start for r in records} == {END}


# -- the restated contract: the unit of a cost, the reading of a row ---------------


def test_a_cost_amount_is_in_cents():
    """The cost report's ``amount`` is a decimal string in the lowest
    currency unit: "1245.50" is $12.455."""
    page = contract("cost-report-page.json")["response"]["body"]
    [bucket] = page["data"]
    lines = bucket_lines(bucket, cost_line, "cost")
    assert Decimal("0.01") == COST_UNIT
    opus, search = lines
    assert opus.cost == Decimal("12.4550")
    assert (opus.model, opus.currency) == ("claude-opus-4-7", "USD")
    assert (search.model, search.workspace) == ("web_search", "default")
    assert search.cost == Decimal("0.2000")


def test_the_restated_pages_join_into_records():
    usage = contract("usage-messages-page.json")["response"]["body"]["data"][0]
    cost = contract("cost-report-page.json")["response"]["body"]["data"][0]
    records = join_day(
        bucket_lines(usage, usage_line, "usage"),
        bucket_lines(cost, cost_line, "cost"),
    )
    by_model = {r.model: r for r in records}
    opus = by_model["claude-opus-4-7"]
    # Input counts the cache: 152,340 uncached + 12,000 written + 880,120 read.
    assert opus.input_tokens == 152_340 + 12_000 + 880_120
    assert opus.output_tokens == 40_211
    assert opus.cost == 12.455
    assert opus.requests is None
    assert opus.dimensions == {"workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"}
    haiku = by_model["claude-haiku-4-5"]
    assert (haiku.cost, haiku.dimensions) == (None, {"workspace_id": "default"})
    search = by_model["web_search"]
    assert (search.input_tokens, search.cost) == (None, 0.2)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"uncached_input_tokens": "9", "output_tokens": 1, "model": "m"}, "malformed"),
        ({"uncached_input_tokens": -1, "output_tokens": 1, "model": "m"}, "negative"),
        ({"uncached_input_tokens": 1, "output_tokens": 1, "model": None}, "model"),
        (
            {"uncached_input_tokens": 1, "output_tokens": 1, "model": "m\x00"},
            "printable",
        ),
        (
            {"uncached_input_tokens": 1, "output_tokens": 1, "model": "m"}
            | {"workspace_id": "w" * 300},
            "printable",
        ),
        (
            {"uncached_input_tokens": 1, "output_tokens": 1, "model": "m"}
            | {"cache_creation": {"ephemeral_5m_input_tokens": -4}},
            "negative",
        ),
        ("not a row", "malformed"),
    ],
)
def test_an_unreadable_usage_row_is_quarantined(row, reason):
    bucket = {
        "starting_at": "2026-11-19T00:00:00Z",
        "ending_at": "2026-11-20T00:00:00Z",
        "results": [row],
    }
    [line] = bucket_lines(bucket, usage_line, "usage")
    assert reason in line.reason


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"amount": "12,50", "currency": "USD"}, "decimal"),
        ({"amount": "-3", "currency": "USD"}, "non-negative"),
        ({"amount": "NaN", "currency": "USD"}, "finite"),
        ({"amount": 12.5, "currency": "USD"}, "malformed"),
        ({"amount": "1", "currency": "USD", "model": "\ud800"}, "printable"),
    ],
)
def test_an_unreadable_cost_row_is_quarantined(row, reason):
    bucket = {
        "starting_at": "2026-11-19T00:00:00Z",
        "ending_at": "2026-11-20T00:00:00Z",
        "results": [row],
    }
    [line] = bucket_lines(bucket, cost_line, "cost")
    assert reason in line.reason


def test_a_bucket_with_unreadable_times_is_quarantined_whole():
    bucket = {"starting_at": "yesterday", "ending_at": "today", "results": [{}]}
    [refused] = bucket_lines(bucket, usage_line, "usage")
    assert "malformed usage bucket" in refused.reason


def test_costs_in_two_currencies_are_quarantined_not_summed():
    bucket = {
        "starting_at": "2026-11-19T00:00:00Z",
        "ending_at": "2026-11-20T00:00:00Z",
        "results": [
            {"amount": "1", "currency": "USD", "model": "m"},
            {"amount": "1", "currency": "EUR", "model": "m"},
        ],
    }
    [refused] = join_day([], bucket_lines(bucket, cost_line, "cost"))
    assert "more than one currency" in refused.reason


async def test_a_page_of_the_wrong_shape_is_a_schema_error():
    """A report whose ``data`` is not a list (the sandbox's ``malformed``
    profile) is an API fault, never an empty report."""
    options = attrs.evolve(OPTIONS, faults="malformed", fault_rate=1.0)
    async with ClaudeSandbox.run(options, ingestion_delay=0.0) as faulty:
        with pytest.raises(SchemaError, match="usage_report/messages: malformed page"):
            await read_usage(connector(faulty), whole_history())


async def test_the_live_usage_report_takes_tokens_and_cost_from_the_reports(sandbox):
    period = AIDateRange(start=END - timedelta(days=3), end=END)
    registry = Registry.load()
    async with registry.create("claude", sandbox.config()) as handle:
        analytics = await handle.get_usage_analytics(period)
    expected = [
        r
        for r in (await read_usage(connector(sandbox), whole_history()))[0]
        if period.start <= r.start <= period.end
    ]
    assert analytics.model_usage == model_usage_of(expected)
    assert analytics.total_events > 0  # the rest still from the feed
