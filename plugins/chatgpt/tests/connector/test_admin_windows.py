"""How the admin audit log is cut into windows, and what that costs in requests.

The API serves the log newest first, so the connector reads ascending time
windows, each drained page by page; each window ends with a partial page, so
the windows' sizes decide how close the request count comes to the fewest
possible, ``ceil(events / 100)``.
"""

from __future__ import annotations

import asyncio
import math
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import attrs
import pytest

from aiaudit_chatgpt.admin_reader import (
    ADMIN_PUBLICATION_LAG,
    MAX_WINDOW,
    MIN_WINDOW,
    TARGET_WINDOW_EVENTS,
    WINDOW,
    next_window,
)
from aiaudit_chatgpt.sandbox.server import ChatGPTSandbox
from connector_core.models import AIAuditLogQuery
from connector_core.sandbox import SandboxOptions


END = datetime(2025, 3, 1, tzinfo=UTC)
STREAM = "admin_audit_logs"


def whole(days: int) -> AIAuditLogQuery:
    return AIAuditLogQuery(
        start_date=END - timedelta(days=days), end_date=END - timedelta(seconds=1)
    )


async def read(connector, query, checkpoint=None):
    """Every event id and checkpoint of one read, in order, and where each
    checkpoint fell (the number of ids before it)."""
    ids: list[str] = []
    checkpoints: list[dict] = []
    positions: list[int] = []
    async for batch in connector.read_stream(STREAM, checkpoint, query):
        ids.extend(log.id for log in batch.logs)
        if batch.checkpoint is not None:
            checkpoints.append(batch.checkpoint)
            positions.append(len(ids))
    return ids, checkpoints, positions


def _client_tasks() -> set[asyncio.Task]:
    """The running tasks, less the sandbox server's connection handlers."""
    return {
        task
        for task in asyncio.all_tasks()
        if "RequestHandler" not in getattr(task.get_coro(), "__qualname__", "")
    }


def test_the_next_window_aims_at_the_target_density():
    # A day that held 20,000 events: half a day holds about the target.
    assert next_window(86_400, 2 * TARGET_WINDOW_EVENTS) == 43_200
    # A day of 1,000 events: ten days.
    assert next_window(86_400, TARGET_WINDOW_EVENTS // 10) == 864_000


def test_the_next_window_stays_within_bounds():
    assert next_window(86_400, 10_000_000) == MIN_WINDOW
    assert next_window(86_400, 1) == MAX_WINDOW
    assert next_window(86_400, 0) == MAX_WINDOW
    # A window always advances past the stretch the next one re-reads.
    assert ADMIN_PUBLICATION_LAG.total_seconds() < MIN_WINDOW


def _windows(requests) -> set[tuple[str, str]]:
    """The audit-log windows the requests read, each once."""
    opened = set()
    for url in requests.paths("/organization/audit_logs"):
        params = dict(parse_qsl(urlsplit(url).query))
        opened.add((params["effective_at[gte]"], params["effective_at[lt]"]))
    return opened


@pytest.mark.parametrize(
    ("events", "days"),
    [(3_000, 21), (30_000, 21), (40_000, 60)],
)
async def test_a_clean_read_spends_about_the_fewest_requests(
    registry, session, requests, events, days
):
    """One window at a time, each sized by the last one's density."""
    options = SandboxOptions(seed=7, events=events, days=days, end=END)
    async with (
        ChatGPTSandbox.run(options) as sandbox,
        registry.create(
            "chatgpt", {**sandbox.connector_config(), "concurrency": 1}, session=session
        ) as conn,
    ):
        ids, checkpoints, _ = await read(conn, whole(days))

    assert len(ids) == len(set(ids))
    made = len(requests.paths("/organization/audit_logs"))
    ideal = math.ceil(len(ids) / 100)
    # One partial page per window at most, and windows of about the target.
    assert made <= ideal + len(checkpoints)
    assert len(checkpoints) <= math.ceil(len(ids) / TARGET_WINDOW_EVENTS) + 2
    assert made / ideal <= 1.02 or made - ideal <= 1


@pytest.mark.parametrize(("events", "days"), [(3_000, 21), (40_000, 60)])
async def test_windows_read_at_once_cost_a_partial_page_each(
    registry, session, requests, events, days
):
    """Several windows at once start a day wide, before any density is
    known: each costs at most one partial page, and the windows after them
    are sized by density again."""
    options = SandboxOptions(seed=7, events=events, days=days, end=END)
    async with (
        ChatGPTSandbox.run(options) as sandbox,
        registry.create(
            "chatgpt", {**sandbox.connector_config(), "concurrency": 8}, session=session
        ) as conn,
    ):
        ids, checkpoints, _ = await read(conn, whole(days))
        organization = {
            r["id"] for r in sandbox.state.audit.iter_records(tenant_only=False)
        }
        truth = set(sandbox.expected_logs(whole(days))) & organization

    assert len(ids) == len(set(ids))
    assert set(ids) == truth
    made = len(requests.paths("/organization/audit_logs"))
    opened = _windows(requests)
    assert made <= math.ceil(len(ids) / 100) + len(opened)
    # The first eight a day each, then by density: not a window a day.
    assert len(opened) < days
    assert checkpoints[-1]["until"] == int(END.timestamp())


async def test_windows_follow_the_density_of_the_log(registry, session):
    """Read one window at a time, each is sized by the one before it."""
    options = SandboxOptions(seed=7, events=60_000, days=30, end=END)
    async with (
        ChatGPTSandbox.run(options) as sandbox,
        registry.create(
            "chatgpt", {**sandbox.connector_config(), "concurrency": 1}, session=session
        ) as conn,
    ):
        _, checkpoints, _ = await read(conn, whole(30))

    widths = [checkpoint["width"] for checkpoint in checkpoints]
    # About 2,000 events a day: the first window is a day, the next ones
    # about five days each (the weekly rhythm moves them a little).
    assert widths[0] != WINDOW
    assert all(2 * 86_400 <= width <= 10 * 86_400 for width in widths[:-1])
    ends = [checkpoint["until"] for checkpoint in checkpoints]
    assert ends == sorted(ends)
    assert ends[-1] == int(END.timestamp())


async def test_a_checkpoint_without_a_width_still_resumes(connector):
    """Checkpoints written before windows were sized by density carry no width."""
    query = whole(21)
    full, checkpoints, positions = await read(connector, query)
    assert len(checkpoints) > 1
    old_style = {"until": checkpoints[0]["until"], "seen": checkpoints[0]["seen"]}

    resumed, _, _ = await read(connector, query, old_style)

    # The windows are cut differently from there, so the order may differ,
    # but exactly the events after the checkpoint come, each once.
    assert len(resumed) == len(set(resumed))
    assert set(resumed) == set(full[positions[0] :])


async def test_a_resumed_read_cuts_the_same_windows(connector):
    """Page cursors count records from a checkpoint, so a hinted read (a
    page's) resumed there must yield the same records in the same order as
    the read that wrote it."""
    query = attrs.evolve(whole(21), limit=500)
    full, checkpoints, positions = await read(connector, query)
    ends = [i for i, checkpoint in enumerate(checkpoints) if "until" in checkpoint]
    assert len(ends) > 1
    for index in ends[:-1]:
        resumed, rest, _ = await read(connector, query, checkpoints[index])
        assert resumed == full[positions[index] :]
        # Pages inside a window are sized from where the read starts; the
        # windows are the same.
        assert [c for c in rest if "until" in c] == [
            checkpoints[i] for i in ends if i > index
        ]


@pytest.mark.parametrize("concurrency", [1, 16])
async def test_stopping_early_leaves_no_request_in_flight(
    registry, sandbox, session, requests, concurrency
):
    config = {**sandbox.connector_config(), "concurrency": concurrency}
    async with registry.create("chatgpt", config, session=session) as connector:
        before = _client_tasks()
        batches = connector.read_stream(STREAM, None, whole(21))
        async with aclosing(batches):
            async for batch in batches:
                assert batch.logs
                break
        assert _client_tasks() == before  # nothing left for a finalizer either
        await asyncio.sleep(0)
        assert _client_tasks() == before
    # Each window read had the page after its first asked for (read ahead),
    # no more.
    assert len(requests.paths("/organization/audit_logs")) <= 2 * concurrency


async def test_syncs_closer_than_two_overlaps_apart_deliver_nothing_twice(
    registry, session
):
    """A read resumed a minute after the last one ended re-reads the overlap;
    the ids it skips there must stay in its checkpoint for the next read."""
    options = SandboxOptions(seed=3, events=20_000, days=2, end=END)
    cut = END - timedelta(hours=20)
    async with (
        ChatGPTSandbox.run(options) as sandbox,
        registry.create("chatgpt", sandbox.connector_config(), session=session) as conn,
    ):
        delivered: list[str] = []
        checkpoint = None
        for until in (cut, cut + timedelta(seconds=60), cut + timedelta(seconds=200)):
            query = AIAuditLogQuery(start_date=END - timedelta(days=2), end_date=until)
            ids, checkpoints, _ = await read(conn, query, checkpoint)
            delivered.extend(ids)
            checkpoint = checkpoints[-1]
        truth = sandbox.expected_logs(
            AIAuditLogQuery(
                start_date=END - timedelta(days=2),
                end_date=cut + timedelta(seconds=200),
            )
        )

    in_window = [
        log for log in truth.values() if cut - timedelta(seconds=60) <= log.timestamp
    ]
    assert in_window, "the test needs events just before the cut"
    assert len(delivered) == len(set(delivered))
    assert set(delivered) <= set(truth)
