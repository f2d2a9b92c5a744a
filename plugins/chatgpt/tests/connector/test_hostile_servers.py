"""The ChatGPT readers against servers that behave badly in ways the APIs
allow: a listing that reads ``after`` either way, cursors that do not move,
events published late, a GPT dated 2100, a download that stalls, and
checkpoints that are not what the reader wrote."""

from __future__ import annotations

import asyncio
import contextlib
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from chatgpt_history import DAYS, END, WHOLE, stream_truth

from aiaudit_chatgpt.event_map import native_filter
from aiaudit_chatgpt.files_reader import read_compliance_logs
from aiaudit_chatgpt.listings import list_all
from aiaudit_chatgpt.normalize import Normalizer
from aiaudit_chatgpt.sandbox.server import FUTURE_GPT_CREATED, ChatGPTSandbox
from connector_core import Registry
from connector_core.exceptions import CheckpointError, SchemaError
from connector_core.http import HTTPTransport
from connector_core.models import AIAuditLogQuery
from connector_core.sandbox import SandboxOptions
from connector_core.secrets import Secret
from connector_core.store import open_store
from connector_core.store.base import LogFilter
from connector_core.sync import sync_connection


if TYPE_CHECKING:
    from connector_core.streams import QuarantinedRecord


ADMIN, TENANT = "admin_audit_logs", "admin_tenant_audit_logs"
FILES, GPTS = "compliance_logs", "custom_gpts"
READINGS = [None, "listing_after_exclusive"]


@contextlib.asynccontextmanager
async def serving(registry, session, faults=None, rate=1.0, config=None, **options):
    settings = {"seed": 42, "events": 3_000, "days": DAYS, "end": END} | options
    async with (
        ChatGPTSandbox.run(
            SandboxOptions(faults=faults, fault_rate=rate, **settings)
        ) as sandbox,
        registry.create(
            "chatgpt", sandbox.connector_config() | (config or {}), session=session
        ) as connector,
    ):
        yield sandbox, connector


async def read(connector, stream, query=WHOLE, checkpoint=None):
    """The ids of one read, its checkpoints and where each fell."""
    ids: list[str] = []
    checkpoints: list[dict] = []
    positions: list[int] = []
    async with contextlib.aclosing(
        connector.read_stream(stream, checkpoint, query)
    ) as batches:
        async for batch in batches:
            ids.extend(log.id for log in batch.logs)
            if batch.checkpoint is not None:
                checkpoints.append(dict(batch.checkpoint))
                positions.append(len(ids))
    return ids, checkpoints, positions


# -- Logs Platform: either reading of `after` ----------------------------------


@pytest.mark.parametrize("reading", READINGS)
async def test_a_clean_read_equals_the_ground_truth(registry, session, reading):
    async with serving(registry, session, reading) as (sandbox, connector):
        ids = [log.id async for log in connector.stream_ai_audit_logs(WHOLE)]
        truth = set(sandbox.expected_logs(WHOLE))
    assert len(ids) == len(set(ids))
    assert set(ids) == truth, f"{len(truth - set(ids))} lost"


@pytest.mark.parametrize("reading", READINGS)
async def test_files_resumed_from_any_checkpoint_lose_nothing(
    registry, session, reading
):
    # One file at a time, so the logs before a checkpoint are exactly its
    # files' (tests/connector/test_concurrent_reads.py resumes reads of
    # several at once).
    one = {"concurrency": 1}
    async with serving(registry, session, reading, config=one) as (_, connector):
        full, checkpoints, positions = await read(connector, FILES)
        assert len(checkpoints) > 20
        lost = 0
        for index in range(0, len(checkpoints), 7):
            resumed, _, _ = await read(connector, FILES, checkpoint=checkpoints[index])
            before = full[: positions[index]]
            assert not set(resumed) & set(before), "nothing delivered twice"
            lost += len(set(full) - set(before) - set(resumed))
    assert len(full) == len(set(full))
    assert lost == 0


# -- cursors that do not advance -------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "path", "cursor"),
    [
        (ADMIN, "/organization/audit_logs", "last_id"),
        (TENANT, "/organization/audit_logs", "last_id"),
        (FILES, "/logs?", "last_end_time"),
        (GPTS, "/gpts", "last_id"),
    ],
)
async def test_a_stuck_listing_stops_the_stream(  # noqa: PLR0917 - fixtures
    registry, session, requests, stream, path, cursor
):
    # One window or file at a time: the requests one reading spends.
    one = {"concurrency": 1}
    async with serving(registry, session, "stuck_cursor", config=one) as (_, connector):
        with pytest.raises(SchemaError) as raised:
            await asyncio.wait_for(read(connector, stream), timeout=10)
    made = len(requests.paths(path))
    assert made <= 4, f"{made} listing requests"
    assert cursor in str(raised.value)
    assert "page" in str(raised.value)


async def test_directory_listings_stop_on_a_stuck_cursor(registry, session):
    async with serving(registry, session, "stuck_cursor") as (_, connector):
        plugin = connector.instance
        path = f"/compliance/workspaces/{plugin.workspace_id}/users"
        with pytest.raises(SchemaError, match="last_id"):
            await asyncio.wait_for(
                _drain(list_all(plugin.compliance, path, "users")), 10
            )


async def _drain(items):
    return [item async for item in items]


# -- late publication ------------------------------------------------------------


@pytest.mark.parametrize("stream", [ADMIN, FILES])
async def test_late_events_are_read_once_by_the_next_read(registry, session, stream):
    delay = 4.0
    async with serving(registry, session, "late", publish_delay=delay) as (
        sandbox,
        connector,
    ):
        started = sandbox.state.publication.started
        first, checkpoints, _ = await read(connector, stream)
        assert time.monotonic() - started < delay, "the first read came too late"
        await asyncio.sleep(started + delay - time.monotonic() + 0.05)
        again, _, _ = await read(connector, stream, checkpoint=checkpoints[-1])
        truth = stream_truth(sandbox, stream)
    delivered = first + again
    assert truth - set(first), "some events were held back from the first read"
    assert len(delivered) == len(set(delivered))
    lost = truth - set(delivered)
    assert not lost, f"{len(lost)} lost"


async def test_sync_before_and_after_publication_stores_everything_once(
    registry, session, store_url
):
    store = open_store(store_url)
    try:
        async with serving(registry, session, "late", publish_delay=8.0) as (
            sandbox,
            connector,
        ):
            since, until = WHOLE.start_date, END
            started = sandbox.state.publication.started
            first = await sync_connection(
                connector, store, connection="c", since=since, until=until
            )
            assert time.monotonic() - started < 8.0, "the first sync came too late"
            held_back = first.inserted
            await asyncio.sleep(started + 8.05 - time.monotonic())
            second = await sync_connection(
                connector, store, connection="c", since=since, until=until
            )
            truth = set(
                sandbox.expected_logs(AIAuditLogQuery(start_date=since, end_date=until))
            )
        stored = [log.id for log in store.iter_logs(LogFilter(connection="c"))]
    finally:
        store.close()
    assert not [s.error for s in (*first.streams, *second.streams) if s.error]
    assert held_back < len(truth), "some events were held back from the first sync"
    assert len(stored) == len(set(stored))
    assert set(stored) == truth, f"{len(truth - set(stored))} lost"


# -- custom GPTs -------------------------------------------------------------------


async def test_a_gpt_dated_2100_hides_no_later_gpt(registry, session):
    async with serving(registry, session, "late", publish_delay=1.0) as (
        sandbox,
        connector,
    ):
        hidden = sandbox.state.compliance.hidden_gpts
        far = AIAuditLogQuery(
            start_date=WHOLE.start_date, end_date=datetime(2101, 1, 1, tzinfo=UTC)
        )
        future = next(
            g for g in sandbox.state.org.gpts if g.created_at == FUTURE_GPT_CREATED
        )
        before, checkpoints, _ = await read(connector, GPTS, far)
        await asyncio.sleep(1.05)
        after, _, _ = await read(connector, GPTS, far, checkpoints[-1])
    late = {f"gpt.created:{gpt}" for gpt in hidden}
    assert f"gpt.created:{future.id}" in before
    assert not late & set(before)
    assert late <= set(after), "a GPT listed late is stored"


async def test_gpt_events_stay_within_the_query(registry, session):
    async with serving(registry, session, "late", publish_delay=0.0) as (
        sandbox,
        connector,
    ):
        await asyncio.sleep(0.01)
        ids, _, _ = await read(connector, GPTS, WHOLE)
        truth = stream_truth(sandbox, GPTS)
    assert set(ids) == truth
    future = next(
        g for g in sandbox.state.org.gpts if g.created_at == FUTURE_GPT_CREATED
    )
    assert f"gpt.created:{future.id}" not in ids


# -- a download that stalls ----------------------------------------------------------


async def test_a_stalled_download_is_resumed_after_its_last_line(registry, session):
    query = AIAuditLogQuery(start_date=END - timedelta(hours=3), end_date=END)
    async with serving(registry, session, "stall", config={"timeout": 0.4}) as (
        sandbox,
        connector,
    ):
        ids, _, _ = await read(connector, FILES, query)
        truth = stream_truth(sandbox, FILES, query)
        await asyncio.sleep(0.2)  # the stalled handlers notice the hang-ups
        stalls = sandbox.state.faults.injected["stall"]
    assert stalls >= 1
    assert len(ids) == len(set(ids))
    assert truth <= set(ids)


async def test_a_drip_fed_download_is_cut_and_resumed(registry, session):
    """A storage host that sends a byte every few seconds keeps every
    per-read timeout happy; only a minimum rate notices. The download is cut
    there, and the reader resumes it after its last line: nothing lost,
    nothing doubled, in seconds rather than the hours the drip would take."""
    query = AIAuditLogQuery(start_date=END - timedelta(hours=3), end_date=END)
    async with serving(registry, session, "drip") as (sandbox, _):
        sandbox.state.faults.drip_seconds = 0.1
        config = sandbox.connector_config()
        normalizer = Normalizer(
            organization_id=config["organization_id"],
            workspace_id=config["workspace_id"],
        )
        http = HTTPTransport(
            config["compliance_base_url"],
            api_key=Secret(config["compliance_api_key"]),
            stream_min_bytes=256,
            stream_window=0.5,
        )
        async with http:
            reading = read_compliance_logs(
                http,
                normalizer,
                native=native_filter(None),
                workspace_id=config["workspace_id"],
                checkpoint=None,
                query=query,
            )
            batches = await asyncio.wait_for(_drain(reading), timeout=60)
        ids = [log.id for batch in batches for log in batch.logs]
        truth = stream_truth(sandbox, FILES, query)
        await asyncio.sleep(0.2)  # the dripping handlers notice the hang-ups
        drips = sandbox.state.faults.injected["drip"]
    assert drips >= 1
    assert len(ids) == len(set(ids))
    assert truth <= set(ids)


# -- checkpoints ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "checkpoint"),
    [
        (ADMIN, {"until": "soon"}),
        (ADMIN, {"seen": []}),
        (ADMIN, {"until": 1_700_000_000, "seen": 5}),
        (TENANT, {"until": [1]}),
        (FILES, {"end": 17}),
        (FILES, {"end": "yesterday", "seen": []}),
        (FILES, {"end": "2025-02-01T00:00:00Z", "seen": "!!"}),
        (GPTS, {"floor": 3}),
        (GPTS, {"floor": "2025-02-01"}),
        (GPTS, {"floor": "2025-02-01T00:00:00Z", "seen": 3}),
    ],
)
async def test_an_unreadable_checkpoint_is_a_clear_error(connector, stream, checkpoint):
    """A CheckpointError naming the stream, so the sync engine reports it for
    that stream with the command that clears it; the reason never quotes the
    checkpoint itself."""
    with pytest.raises(CheckpointError) as raised:
        await read(connector, stream, checkpoint=checkpoint)
    assert isinstance(raised.value, SchemaError)
    assert raised.value.stream == stream
    message = str(raised.value)
    assert stream in message
    assert "checkpoint" in message
    for value in checkpoint.values():
        if isinstance(value, str | list) and value:
            assert repr(value) not in message
            assert str(value) not in raised.value.reason


@pytest.mark.parametrize("stream", [ADMIN, TENANT, FILES, GPTS])
async def test_a_checkpoint_wins_over_an_epoch_query_start(connector, sandbox, stream):
    """The sync engine asks a stream that has a checkpoint from 1970-01-01:
    the read resumes at the checkpoint, not at the query's start, so nothing
    the first read delivered comes again and nothing after it is lost."""
    middle = END - timedelta(days=10)
    head = AIAuditLogQuery(start_date=WHOLE.start_date, end_date=middle)
    first, checkpoints, _ = await read(connector, stream, head)
    assert checkpoints
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    tail = AIAuditLogQuery(start_date=epoch, end_date=WHOLE.end_date)
    rest, _, _ = await read(connector, stream, tail, checkpoints[-1])
    assert not set(first) & set(rest), "resumed before the checkpoint"
    assert len(rest) == len(set(rest))
    assert stream_truth(sandbox, stream) <= set(first + rest)


@pytest.mark.parametrize("stream", [ADMIN, TENANT, FILES, GPTS])
async def test_a_checkpoint_wins_over_a_later_query_start(connector, sandbox, stream):
    """With a checkpoint, a read resumes there whatever the query's start."""
    middle = END - timedelta(days=10)
    head = AIAuditLogQuery(start_date=WHOLE.start_date, end_date=middle)
    first, checkpoints, _ = await read(connector, stream, head)
    tail = AIAuditLogQuery(start_date=END - timedelta(days=2), end_date=WHOLE.end_date)
    rest, _, _ = await read(connector, stream, tail, checkpoints[-1])
    truth = stream_truth(sandbox, stream)
    assert len(first + rest) == len(set(first + rest))
    assert truth <= set(first + rest)


async def test_more_files_without_a_last_end_time_is_an_error_not_an_end():
    """Stopping there would lose every file after the page, silently."""

    async def listing(request: web.Request) -> web.Response:
        item = {"id": "log_1", "end_time": "2025-02-01T01:00:00Z"}
        return web.json_response({"data": [item], "has_more": True})

    async def download(request: web.Request) -> web.Response:
        return web.Response(text='{"event_id": "e1"}\n')

    app = web.Application()
    app.router.add_get("/compliance/workspaces/w/logs", listing)
    app.router.add_get("/compliance/workspaces/w/logs/log_1", download)
    async with TestServer(app, host="127.0.0.1") as server:
        http = HTTPTransport(str(server.make_url("")))
        async with http:
            normalizer = Normalizer(organization_id=None, workspace_id="w")
            reading = read_compliance_logs(
                http,
                normalizer,
                native=native_filter(None),
                workspace_id="w",
                checkpoint=None,
                query=WHOLE,
            )
            with pytest.raises(SchemaError, match="last_end_time"):
                await _drain(reading)


# -- poisoned records ----------------------------------------------------------------

STREAMS = (ADMIN, TENANT, FILES, GPTS)


async def clean_ids(registry, session):
    """Every id a read of the same history without the spoils returns."""
    async with serving(registry, session) as (_, connector):
        return {i for stream in STREAMS for i in (await read(connector, stream))[0]}


def accounted(log_id, native_id, ids, quarantined):
    return log_id in ids or any(q.native_id in {log_id, native_id} for q in quarantined)


async def test_poisoned_records_cost_only_themselves_on_a_read(registry, session):
    """A lone surrogate, a NUL in a user id, an email or an IP, a user id of
    6,000 characters, in the audit log, the Logs Platform and the GPT
    listing: the read completes, every good record comes, and each poisoned
    one is returned or quarantined with its id."""
    clean = await clean_ids(registry, session)
    async with serving(registry, session, "poisoned") as (sandbox, connector):
        poisoned = dict(sandbox.state.poisoned_ids)
        ids: list[str] = []
        quarantined: list[QuarantinedRecord] = []
        for stream in STREAMS:
            async for batch in connector.read_stream(stream, None, WHOLE):
                ids.extend(log.id for log in batch.logs)
                quarantined.extend(batch.quarantined)
        details = sandbox.describe().details["conformance"]
    assert details["poisoned_ids"] == poisoned
    natives = set(poisoned.values())
    # Spoils in each listing: audit events, sign-in lines and GPTs.
    assert any(n.startswith("audit_log-") for n in natives)
    assert any(n.startswith("evt_") for n in natives)
    assert any(n.startswith("g-") for n in natives)
    assert len(natives) == 14
    good = clean - set(poisoned)
    assert not good - set(ids), "good records lost"
    lost = [
        i for i, n in poisoned.items() if not accounted(i, n, set(ids), quarantined)
    ]
    assert not lost


async def test_a_poisoned_history_syncs_whole(registry, session, store_url):
    """Every good event is stored, every poisoned one stored or quarantined,
    nothing blocks the sync, and a second sync changes nothing: in SQLite
    and in PostgreSQL (which refuses NUL in text)."""
    clean = await clean_ids(registry, session)
    store = open_store(store_url)
    try:
        async with serving(registry, session, "poisoned") as (sandbox, connector):
            poisoned = dict(sandbox.state.poisoned_ids)
            since, until = WHOLE.start_date, END
            first = await sync_connection(
                connector, store, connection="c", since=since, until=until
            )
            stored = {log.id for log in store.iter_logs(LogFilter(connection="c"))}
            kept = [q.record for q in store.quarantined("c")]
            second = await sync_connection(
                connector, store, connection="c", since=since, until=until
            )
            again = store.count_logs(LogFilter(connection="c"))
            kept_again = len(store.quarantined("c"))
    finally:
        store.close()
    assert not [s.error for s in (*first.streams, *second.streams) if s.error]
    good = clean - set(poisoned)
    assert not good - stored, f"{len(good - stored)} good events not stored"
    lost = [i for i, n in poisoned.items() if not accounted(i, n, stored, kept)]
    assert not lost
    assert (again, kept_again) == (len(stored), len(kept))


# -- a record too long to hold ---------------------------------------------------------

MIB = 1024 * 1024


async def test_an_oversized_line_is_quarantined_and_the_read_goes_on(registry, session):
    """One Logs Platform line of 8 MiB against a cap of 1 MiB: quarantined with
    its size, the cap and its first bytes, every other record read, and the
    client's memory stays far below the line's size."""
    async with serving(
        registry, session, "oversized", config={"max_record_bytes": MIB}
    ) as (sandbox, connector):
        compliance = sandbox.state.compliance
        compliance.oversized_bytes = 8 * MIB
        file_id, position = compliance.oversized
        huge = list(compliance.iter_file_records(file_id))[position]
        org = sandbox.state.org
        normalizer = Normalizer(
            organization_id=org.org_id, workspace_id=org.workspace_id
        )
        dropped = {log.id for log in normalizer.compliance_record(huge, log_id=file_id)}
        native = huge["event_id"]
        truth = stream_truth(sandbox, FILES) - dropped
        del huge
        ids: list[str] = []
        quarantined: list[QuarantinedRecord] = []
        tracemalloc.start()
        try:
            async for batch in connector.read_stream(FILES, None, WHOLE):
                ids.extend(log.id for log in batch.logs)
                quarantined.extend(batch.quarantined)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert dropped
    assert len(ids) == len(set(ids))
    assert set(ids) == truth
    [record] = quarantined
    assert f"line {position + 1} of {file_id}" in record.reason
    assert "8,388,608 bytes" in record.reason
    assert "1,048,576 bytes" in record.reason
    assert record.native_id == native
    assert record.raw.startswith('{"event_id"')
    assert len(record.raw) <= 64 * 1024
    assert peak < 4 * MIB, f"peak {peak:,} bytes for an 8 MiB line"


def test_max_record_bytes_is_configurable_and_checked():
    from aiaudit_chatgpt.config import ChatGPTComplianceAPIConfig  # noqa: PLC0415
    from connector_core.exceptions import ConfigurationError  # noqa: PLC0415
    from connector_core.http import DEFAULT_MAX_LINE  # noqa: PLC0415

    base = {"api_key": "sk-admin-x"}
    assert ChatGPTComplianceAPIConfig(**base).max_record_bytes == DEFAULT_MAX_LINE
    environ = {"OPENAI_ADMIN_KEY": "sk-admin-x"}
    from_env = Registry.load(environ={}).spec("chatgpt").config_from_env
    read = from_env(environ | {"AIAUDIT_CHATGPT_MAX_RECORD_BYTES": "1048576"})
    assert read.max_record_bytes == MIB
    with pytest.raises(ConfigurationError, match="AIAUDIT_CHATGPT_MAX_RECORD_BYTES"):
        from_env(environ | {"AIAUDIT_CHATGPT_MAX_RECORD_BYTES": "10"})
