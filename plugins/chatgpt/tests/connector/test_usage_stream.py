"""The ``usage`` stream against the sandbox: the Usage and Costs APIs read
into daily buckets per model, project and key, equal to the generated
ground truth; the open day read again and replaced; a key without
``api.usage.read`` refused for this stream alone."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from chatgpt_history import END, WHOLE

from aiaudit_chatgpt.sandbox.org import MODELS
from aiaudit_chatgpt.usage_reader import USAGE_STREAM, model_of_line_item, usage_id
from connector_core.exceptions import CheckpointError, PermissionDeniedError
from connector_core.models import AIAuditLogQuery
from connector_core.store import open_store
from connector_core.sync import sync_connection


DAY = 86_400


async def read_usage(connector, checkpoint=None, query=WHOLE):
    """Every bucket and quarantined record of one read, and its checkpoints."""
    records, quarantined, checkpoints = [], [], []
    async for batch in connector.read_stream(USAGE_STREAM, checkpoint, query):
        records.extend(batch.usage)
        quarantined.extend(batch.quarantined)
        assert not batch.logs
        if batch.checkpoint is not None:
            checkpoints.append(dict(batch.checkpoint))
    return records, quarantined, checkpoints


def day_costs(sandbox, start, end):
    """The sandbox's cost of each (day, model), from its cost rows."""
    usage = sandbox.state.usage
    costs = defaultdict(float)
    for day in range(start, end, DAY):
        for model in MODELS:
            costs[day, model] = 0.0
    columns = usage._costs  # the ground truth, not the API under test
    for ts, _, _, item, _, amount in columns.rows(0, len(columns.ts)):
        if start <= ts < end:
            costs[ts, model_of_line_item(usage.line_items[item])] += amount
    return costs


async def test_a_full_read_equals_the_ground_truth(connector, sandbox):
    records, quarantined, checkpoints = await read_usage(connector)
    assert not quarantined
    assert records
    assert len({r.id for r in records}) == len(records)
    start, end = int(WHOLE.start_date.timestamp()), int(END.timestamp())
    truth = sandbox.state.usage
    costs = day_costs(sandbox, start, end)
    for day in range(start, end, DAY):
        expected = truth.totals(day, day + DAY)
        for model in MODELS:
            mine = [
                r for r in records if r.model == model and r.start.timestamp() == day
            ]
            assert (
                sum(r.requests for r in mine) == expected[f"{model}:num_model_requests"]
            )
            assert (
                sum(r.input_tokens for r in mine) == expected[f"{model}:input_tokens"]
            )
            assert (
                sum(r.output_tokens for r in mine) == expected[f"{model}:output_tokens"]
            )
            cached = sum(r.raw["input_cached_tokens"] for r in mine)
            assert cached == expected[f"{model}:input_cached_tokens"]
            # Every sandbox line item names its model, so all cost is attributed.
            assert sum(r.cost for r in mine) == pytest.approx(
                costs[day, model], abs=1e-9
            )
    for record in records:
        assert record.platform == "chatgpt"
        assert record.end - record.start == timedelta(days=1)
        assert record.currency == "USD"
        assert set(record.dimensions) == {"project_id", "api_key_id"}
        assert record.id == usage_id(
            int(record.start.timestamp()),
            record.model,
            record.dimensions["project_id"],
            record.dimensions["api_key_id"],
        )
    # Twenty-one days in one completions page; the last day stays open.
    assert checkpoints == [{"v": 1, "since": "2025-02-28T00:00:00Z"}]


async def test_pages_of_31_days_checkpoint_the_last_bucket_of_each(registry, session):
    from aiaudit_chatgpt.sandbox.server import ChatGPTSandbox  # noqa: PLC0415
    from connector_core.sandbox import SandboxOptions  # noqa: PLC0415

    options = SandboxOptions(seed=8, events=300, days=40, end=END)
    whole = AIAuditLogQuery(
        start_date=END - timedelta(days=40), end_date=END - timedelta(seconds=1)
    )
    async with (
        ChatGPTSandbox.run(options) as sandbox,
        registry.create("chatgpt", sandbox.connector_config(), session=session) as conn,
    ):
        records, _, checkpoints = await read_usage(conn, query=whole)
        start, end = int(whole.start_date.timestamp()), int(END.timestamp())
        expected = sandbox.state.usage.totals(start, end)
        assert sum(r.input_tokens for r in records) == expected["input_tokens"]
        # The first page ends with the 31st day, read again from there.
        since = (whole.start_date + timedelta(days=30)).isoformat()
        assert checkpoints[0]["since"] == since.replace("+00:00", "Z")
        assert checkpoints[-1]["since"] == "2025-02-28T00:00:00Z"
        again, _, _ = await read_usage(conn, checkpoints[0], whole)
        later = {r.id for r in records if r.start.timestamp() >= start + 30 * DAY}
        assert {r.id for r in again} == later


async def test_the_open_day_is_read_again_with_its_revised_figures(connector, sandbox):
    records, _, checkpoints = await read_usage(connector)
    before = {r.id: r for r in records}
    sandbox.state.usage.revise_open_day()
    again, quarantined, _ = await read_usage(connector, checkpoints[-1])
    assert not quarantined
    open_day = datetime(2025, 2, 28, tzinfo=UTC)
    assert again
    assert {r.start for r in again} == {open_day}
    assert {r.id for r in again} >= {r.id for r in records if r.start == open_day}
    grew = [
        r for r in again if r.id not in before or r.requests > before[r.id].requests
    ]
    assert grew
    day = int(open_day.timestamp())
    expected = sandbox.state.usage.totals(day, day + DAY)
    assert sum(r.requests for r in again) == expected["num_model_requests"]
    assert sum(r.input_tokens for r in again) == expected["input_tokens"]
    assert sum(r.cost for r in again) == pytest.approx(
        sum(v for (d, _), v in day_costs(sandbox, day, day + DAY).items() if d == day),
        abs=1e-9,
    )


async def test_a_sync_after_the_open_day_grew_replaces_its_stored_buckets(
    connector, sandbox, tmp_path
):
    store = open_store(f"sqlite:///{tmp_path / 'usage.db'}")
    try:
        kwargs = {
            "connection": "acme",
            "since": WHOLE.start_date,
            "until": WHOLE.end_date,
        }
        first = await sync_connection(connector, store, **kwargs)
        assert first.ok, [s.error for s in first.streams]
        stored = {r.id: r for r in store.usage_records(connection="acme")}
        sandbox.state.usage.revise_open_day()
        second = await sync_connection(connector, store, **kwargs)
        assert second.ok, [s.error for s in second.streams]
        [report] = [s for s in second.streams if s.stream == USAGE_STREAM]
        assert report.usage_updated > 0
        revised = {r.id: r for r in store.usage_records(connection="acme")}
    finally:
        store.close()
    assert set(revised) >= set(stored)
    start, end = int(WHOLE.start_date.timestamp()), int(END.timestamp())
    expected = sandbox.state.usage.totals(start, end)
    assert sum(r.requests for r in revised.values()) == expected["num_model_requests"]
    assert sum(r.input_tokens for r in revised.values()) == expected["input_tokens"]
    changed = {k for k in stored if stored[k].requests != revised[k].requests}
    assert changed
    assert {revised[k].start for k in changed} == {datetime(2025, 2, 28, tzinfo=UTC)}


async def test_a_key_without_usage_permission_fails_this_stream_alone(
    registry, sandbox, session
):
    config = sandbox.connector_config() | {"api_key": sandbox.keys.admin_no_audit}
    async with registry.create("chatgpt", config, session=session) as conn:
        with pytest.raises(PermissionDeniedError) as refused:
            await read_usage(conn)
        assert "api.usage.read" in str(refused.value)
        assert sandbox.keys.admin_no_audit not in str(refused.value)
        # The Compliance API's streams read on with the same configuration.
        gpts = [b async for b in conn.read_stream("custom_gpts", None, WHOLE)]
        assert any(b.logs for b in gpts)


async def test_a_read_of_some_actions_has_no_buckets(connector):
    query = attrs.evolve(WHOLE, event_types=("user.login",))
    records, quarantined, checkpoints = await read_usage(connector, query=query)
    assert (records, quarantined, checkpoints) == ([], [], [])


async def test_a_checkpoint_of_another_shape_is_a_checkpoint_error(connector):
    with pytest.raises(CheckpointError):
        await read_usage(connector, {"v": 1, "since": "yesterday"})


def test_a_line_item_names_a_model_only_before_a_comma():
    assert model_of_line_item("gpt-4o, input") == "gpt-4o"
    assert model_of_line_item("gpt-4o-mini, cached input (batch)") == "gpt-4o-mini"
    assert model_of_line_item("input_tokens") is None
    assert model_of_line_item(None) is None
    assert model_of_line_item(", input") is None


def test_bucket_ids_cannot_collide_through_a_colon():
    one = usage_id(0, "ft:gpt-4o:acme::x", "proj_a", "key_b")
    other = usage_id(0, "x", "proj_a", "key_b:ft:gpt-4o:acme:")
    assert one != other
