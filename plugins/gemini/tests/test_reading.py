"""The connector against the sandbox: a full read is the ground truth,
pages are followed at any size, checkpoints resume exactly and find late
events, filters become ``eventName``, poisoned records are quarantined,
and what the API cannot answer is refused before any request."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from conftest import APPLICATIONS, OPTIONS, connector, read, whole_history

from aiaudit_gemini import GeminiConfig, GeminiConnector
from aiaudit_gemini.connector import GEMINI_DATA_START, HORIZON
from aiaudit_gemini.sandbox.server import PUBLICATION_LAG, GeminiSandbox
from connector_core import AIAuditLogQuery, ConfigurationError, SchemaError
from connector_core.http import RetryPolicy, retry_policy_override
from connector_core.testing._resources import capture_logs


FAST = RetryPolicy(backoff_base=0.01, backoff_max=0.05, max_elapsed=20)
"""Quick retries: the faults here are about what is retried, not how long
it waits."""


async def test_a_full_read_is_the_ground_truth(sandbox):
    reading = await read(connector(sandbox), whole_history(sandbox))
    assert reading.quarantined == []
    assert sorted(reading.ids) == sorted(sandbox.expected_ids())
    assert set(reading.checkpoints) == set(APPLICATIONS)
    for entry in reading.logs:
        assert entry.platform == "gemini"
        assert entry.organization_id == sandbox.domain.customer_id
        assert entry.metadata["application"] in APPLICATIONS


async def test_every_request_names_the_customer_and_a_window(sandbox):
    await read(connector(sandbox), whole_history(sandbox))
    assert sandbox.api.queries
    for query in sandbox.api.queries:
        names = dict(query)
        assert names["customerId"] == sandbox.domain.customer_id
        assert {"startTime", "endTime", "maxResults"} <= set(names)


async def test_pages_of_seven_are_followed_to_the_end(sandbox):
    reading = await read(connector(sandbox, page_size=7), whole_history(sandbox))
    assert sorted(reading.ids) == sorted(sandbox.expected_ids())
    sizes = {dict(q)["maxResults"] for q in sandbox.api.queries}
    assert sizes == {"7"}
    assert any("pageToken" in dict(q) for q in sandbox.api.queries)


async def test_a_read_resumed_from_its_checkpoints_returns_nothing_twice(sandbox):
    target = connector(sandbox)
    first = await read(target, whole_history(sandbox))
    again = await read(target, whole_history(sandbox), first.checkpoints)
    assert again.ids == []
    assert set(again.checkpoints) == set(APPLICATIONS)


async def test_a_paged_read_splits_the_history_exactly(sandbox):
    query = whole_history(sandbox, limit=150)
    target = connector(sandbox)
    pages, cursor = [], None
    for _ in range(100):
        page = await target_page(target, attrs.evolve(query, cursor=cursor))
        pages.append(page)
        if not page.has_more:
            break
        cursor = page.next_cursor
    ids = [entry.id for page in pages for entry in page.logs]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(sandbox.expected_ids())


async def target_page(target, query):
    from connector_core import Registry  # noqa: PLC0415

    registry = Registry.load()
    handle = registry.create("gemini", target.config)
    async with handle:
        return await handle.get_ai_audit_logs(query)


async def test_late_events_are_found_by_the_next_read():
    options = attrs.evolve(OPTIONS, faults="late", publish_delay=0.5)
    async with GeminiSandbox.run(options) as sandbox:
        target = connector(sandbox)
        query = whole_history(sandbox)
        first = await read(target, query)
        expected = set(sandbox.expected_ids())
        missing = expected - set(first.ids)
        assert missing, "the sandbox held events back"
        await asyncio.sleep(0.6)  # until the sandbox publishes them
        second = await read(target, query, first.checkpoints)
    assert set(second.ids) == missing
    assert len(first.ids) + len(second.ids) == len(expected)
    lag = connector(sandbox).lag
    assert lag == PUBLICATION_LAG


async def test_a_filter_asks_for_one_event_name(sandbox):
    query = whole_history(sandbox, event_types=("user.login.failed",))
    reading = await read(connector(sandbox), query)
    assert reading.logs
    assert {entry.action for entry in reading.logs} == {"user.login.failed"}
    asked = {dict(q).get("eventName") for q in sandbox.api.queries}
    assert asked == {"login_failure"}, "other applications are not asked at all"


async def test_poisoned_records_are_quarantined_with_their_log_id():
    options = attrs.evolve(OPTIONS, faults="poisoned")
    async with GeminiSandbox.run(options) as sandbox:
        reading = await read(connector(sandbox), whole_history(sandbox))
        poisoned = sandbox.poisoned
        expected = set(sandbox.expected_ids())
    assert poisoned
    quarantined = {r.native_id for r in reading.quarantined}
    assert quarantined == set(poisoned.values())
    assert set(reading.ids) == expected - set(poisoned)


@pytest.mark.parametrize("profile", ["quota", "rate_limit", "server_error"])
async def test_quota_throttling_and_outages_are_waited_out(profile):
    options = attrs.evolve(OPTIONS, faults=profile, fault_rate=0.3, events=300)
    async with GeminiSandbox.run(options) as sandbox:
        with retry_policy_override(FAST):
            reading = await read(connector(sandbox), whole_history(sandbox))
        assert sorted(reading.ids) == sorted(sandbox.expected_ids())


async def test_a_malformed_page_is_an_error_not_an_empty_page():
    options = attrs.evolve(OPTIONS, faults="malformed", fault_rate=1.0, events=200)
    async with GeminiSandbox.run(options) as sandbox:
        with (
            retry_policy_override(FAST),
            pytest.raises(SchemaError, match="malformed page"),
        ):
            await read(connector(sandbox), whole_history(sandbox), streams=("login",))


async def test_a_page_token_that_never_changes_stops_the_read():
    options = attrs.evolve(OPTIONS, faults="stuck_cursor", fault_rate=1.0, events=2000)
    async with GeminiSandbox.run(options) as sandbox:
        with pytest.raises(SchemaError, match="does not advance"):
            await read(connector(sandbox, page_size=10), whole_history(sandbox))


async def test_a_redirect_is_followed_without_the_token():
    options = attrs.evolve(OPTIONS, faults="redirect", fault_rate=1.0, events=200)
    async with GeminiSandbox.run(options) as sandbox:
        reading = await read(connector(sandbox), whole_history(sandbox))
        assert sorted(reading.ids) == sorted(sandbox.expected_ids())
        assert sandbox.api.observed["redirect_hops"] > 0
        assert sandbox.api.observed["credentialed_hops"] == 0


# -- what the API cannot answer --------------------------------------------------------


async def test_a_start_past_the_horizon_is_refused_before_any_request(sandbox):
    now = datetime.now(UTC)
    query = AIAuditLogQuery(start_date=now - HORIZON - timedelta(days=1), end_date=now)
    with pytest.raises(ConfigurationError, match="180 days") as caught:
        await read(connector(sandbox), query)
    assert "nothing before" in str(caught.value)
    assert sandbox.api.observed["requests"] == 0


async def test_a_checkpoint_past_the_horizon_resumes_from_it(sandbox):
    target = connector(sandbox)
    first = await read(target, whole_history(sandbox), streams=("login",))
    old = dict(first.checkpoints["login"])
    old["since"] = "2020-01-01T00:00:00.000000Z"
    old["seen"] = []
    with capture_logs() as captured:
        again = await read(
            target, whole_history(sandbox), {"login": old}, streams=("login",)
        )
    assert sorted(again.ids) == sorted(first.ids)
    assert any("horizon" in text for _, text in captured.texts())


async def test_gemini_reads_start_on_the_day_its_logs_begin(sandbox):
    """With the clock at the start of Gemini's logs, a read from before it
    starts there, warning, and asks for nothing the API has not."""
    moment = GEMINI_DATA_START + timedelta(days=10)
    target = GeminiConnector(GeminiConfig(**sandbox.config()), clock=moment.timestamp)
    query = AIAuditLogQuery(
        start_date=GEMINI_DATA_START - timedelta(days=30),
        end_date=GEMINI_DATA_START - timedelta(days=1),
    )
    with capture_logs() as captured:
        reading = await read(target, query, streams=("gemini_in_workspace_apps",))
    assert reading.ids == []
    assert sandbox.api.observed["requests"] == 0
    assert any("2025-06-20" in text for _, text in captured.texts())


async def test_a_window_in_the_future_asks_nothing(sandbox):
    now = datetime.now(UTC)
    query = AIAuditLogQuery(
        start_date=now + timedelta(days=1), end_date=now + timedelta(days=2)
    )
    reading = await read(connector(sandbox), query)
    assert reading.ids == []
    assert sandbox.api.observed["requests"] == 0
