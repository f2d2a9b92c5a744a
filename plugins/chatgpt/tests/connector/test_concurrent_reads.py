"""The ChatGPT readers several audit-log windows and Logs Platform files at
once, against the sandbox.

A read without a hint (a sync) reads up to ``concurrency`` windows or files
at once. Whatever the concurrency it returns exactly the sandbox's ground
truth, each log once, events on a window's edge included; a window that
fails fails the read, and a read again from the last checkpoint yielded
loses nothing and reads nothing again from before it; a storm of 429s backs
off and loses nothing; a read stopped half-way leaves no task and no session
behind; and files read at once are the files read one after another, with
the same checkpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs
import pytest
from chatgpt_history import ADMIN, DAYS, END, FILES, TENANT, WHOLE, stream_truth

import aiaudit_chatgpt.files_reader
from aiaudit_chatgpt.admin_reader import ADMIN_PUBLICATION_LAG
from aiaudit_chatgpt.checkpoints import AdminWindowEnd
from aiaudit_chatgpt.sandbox.server import ChatGPTSandbox
from connector_core import DEFAULT_CONCURRENCY
from connector_core.exceptions import SchemaError
from connector_core.http import HTTPTransport
from connector_core.sandbox import SandboxOptions
from connector_core.testing import stop_half_way, track_sessions


START = int((END - timedelta(days=DAYS)).timestamp())
DAY = 86_400


@contextlib.asynccontextmanager
async def serving(registry, session, concurrency, config=None, **options):
    settings = {"seed": 42, "events": 3_000, "days": DAYS, "end": END} | options
    async with (
        ChatGPTSandbox.run(SandboxOptions(**settings)) as sandbox,
        registry.create(
            "chatgpt",
            sandbox.connector_config() | {"concurrency": concurrency} | (config or {}),
            session=session,
        ) as connector,
    ):
        yield sandbox, connector


@attrs.define
class Read:
    """What one read yielded, up to where it stopped."""

    logs: list = attrs.Factory(list)
    quarantined: list = attrs.Factory(list)
    checkpoints: list[dict[str, Any]] = attrs.Factory(list)

    @property
    def ids(self) -> list[str]:
        return [log.id for log in self.logs]


async def read(connector, stream, query=WHOLE, checkpoint=None, into=None) -> Read:
    done = Read() if into is None else into
    batches = connector.read_stream(stream, checkpoint, query)
    async with contextlib.aclosing(batches):
        async for batch in batches:
            done.logs.extend(batch.logs)
            done.quarantined.extend(batch.quarantined)
            if batch.checkpoint is not None:
                done.checkpoints.append(dict(batch.checkpoint))
    return done


def client_tasks() -> set[asyncio.Task]:
    """The running tasks, less the sandbox server's connection handlers."""
    return {
        task
        for task in asyncio.all_tasks()
        if "RequestHandler" not in getattr(task.get_coro(), "__qualname__", "")
    }


def edges(requests) -> set[int]:
    """Every window edge the audit-log requests asked for."""
    asked = set()
    for url in requests.paths("/organization/audit_logs"):
        params = dict(parse_qsl(urlsplit(url).query))
        asked.add(int(params["effective_at[gte]"]))
        asked.add(int(params["effective_at[lt]"]))
    return asked


# -- the ground truth at any concurrency ------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 4, 16])
async def test_every_stream_reads_exactly_the_ground_truth(
    registry, session, concurrency
):
    async with serving(registry, session, concurrency) as (sandbox, connector):
        for stream in (ADMIN, TENANT, FILES):
            done = await read(connector, stream)
            assert len(done.ids) == len(set(done.ids)), f"{stream}: a log twice"
            assert set(done.ids) == stream_truth(sandbox, stream), stream
            assert done.checkpoints, stream
        # The audit log's last checkpoint is the end, whichever window
        # finished last.
        last = AdminWindowEnd.from_dict(
            ADMIN, (await read(connector, ADMIN)).checkpoints[-1]
        )
        assert last is not None
        assert last.until == int(END.timestamp())


@pytest.mark.parametrize("concurrency", [4, 16])
async def test_events_on_a_window_edge_come_once(
    registry, session, requests, concurrency
):
    """The first windows of a read are a day wide, from the query's start:
    events moved onto each midnight sit exactly on an edge, the end of one
    window (exclusive) and the start of the next."""
    async with serving(registry, session, concurrency) as (sandbox, connector):
        times = sandbox.state.audit.times
        on_edges = 0
        for index, at in enumerate(times):
            midnight = at - (at - START) % DAY + DAY
            if midnight - at <= 4 * 3600 and midnight < int(END.timestamp()):
                times[index] = midnight  # still sorted: the next ones are later
                on_edges += 1
        done = await read(connector, ADMIN)
        truth = stream_truth(sandbox, ADMIN)
    assert on_edges > 20
    cut = {at for at in edges(requests) if (at - START) % DAY == 0}
    assert len(cut) > concurrency, "the windows were cut at midnights"
    tied = [log for log in done.logs if int(log.timestamp.timestamp()) in cut]
    assert len(tied) > 10
    assert len(done.ids) == len(set(done.ids))
    assert set(done.ids) == truth


# -- a failing window, and the read again from its checkpoint ------------------------


async def test_a_failing_window_fails_the_read_and_its_checkpoint_resumes_exactly(
    registry, session, monkeypatch
):
    """A window cut after the first four fails on its second page, once the
    first window is read: the read fails, the windows in flight are
    cancelled, and a read from the last checkpoint yielded reads nothing
    before it again and loses nothing."""
    get_json = HTTPTransport.get_json
    failing = {"first read": False, "failed": False}

    async def failing_get_json(self, path, *, params=None, **kwargs):
        asked = dict(params or ())
        if path != "/organization/audit_logs" or "tenant_only" in asked:
            return await get_json(self, path, params=params, **kwargs)
        start = int(asked.get("effective_at[gte]", 0))
        if (
            failing["first read"]
            and not failing["failed"]
            and start >= START + 4 * DAY
            and "after" in asked
        ):
            failing["failed"] = True
            # Long enough for the first window's last batch and checkpoint
            # to reach the reader first, whatever the scheduling.
            await asyncio.sleep(0.2)
            raise SchemaError("audit_logs: a malformed page")
        page = await get_json(self, path, params=params, **kwargs)
        if start == START and not page.get("has_more"):
            failing["first read"] = True
        return page

    async with serving(registry, session, 4) as (sandbox, connector):
        first = Read()
        before = client_tasks()
        with monkeypatch.context() as patch:
            patch.setattr(HTTPTransport, "get_json", failing_get_json)
            with pytest.raises(SchemaError):
                await read(connector, ADMIN, into=first)
        assert client_tasks() <= before, "the other windows were cancelled"
        assert failing["failed"]
        assert first.checkpoints, "the read failed after a checkpoint"
        stored = AdminWindowEnd.from_dict(ADMIN, first.checkpoints[-1])
        assert stored is not None
        assert stored.until < int(END.timestamp())

        again = await read(connector, ADMIN, checkpoint=first.checkpoints[-1])
        truth = stream_truth(sandbox, ADMIN)

    rerun = again.ids
    assert len(rerun) == len(set(rerun)), "the second read repeats nothing"
    earlier = set(first.ids)
    until = stored.until
    since = until - int(ADMIN_PUBLICATION_LAG.total_seconds())
    assert not [
        log.id
        for log in again.logs
        if log.id in earlier and log.timestamp.timestamp() < until
    ], "nothing read before the checkpoint comes again"
    assert all(log.timestamp.timestamp() >= since for log in again.logs)
    assert earlier | set(rerun) == truth, "nothing lost"


# -- throttling --------------------------------------------------------------------


async def test_a_429_storm_backs_off_and_loses_nothing(registry, session):
    async with serving(registry, session, 16, events=800, days=3, rate_limit=10.0) as (
        sandbox,
        connector,
    ):
        done = {stream: await read(connector, stream) for stream in (ADMIN, FILES)}
        plugin = connector.instance
        throttled = plugin.admin.throttled + plugin.compliance.throttled
        backoffs = plugin.pace.concurrency.backoffs
        truth = {
            stream: stream_truth(sandbox, stream, WHOLE) for stream in (ADMIN, FILES)
        }
    assert throttled > 0
    assert backoffs > 0
    for stream, result in done.items():
        assert len(result.ids) == len(set(result.ids)), stream
        assert set(result.ids) == truth[stream], stream


async def test_a_known_rate_limit_is_kept_to(registry, session):
    """Told the key's rate, the connection paces its requests over both APIs
    and the server throttles nothing."""
    async with serving(
        registry, session, 16, {"rate_limit": "4"}, events=300, days=3, rate_limit=5.0
    ) as (sandbox, connector):
        done = await read(connector, ADMIN)
        plugin = connector.instance
        assert plugin.pace.rate_limit == 4.0
        assert plugin.pace.budget is not None
        assert plugin.admin.throttled == 0
        assert set(done.ids) == stream_truth(sandbox, ADMIN)


# -- stopping half-way ---------------------------------------------------------------


@pytest.mark.parametrize("how", ["cancel", "close"])
@pytest.mark.parametrize("stream", [ADMIN, FILES])
async def test_a_read_stopped_half_way_leaves_no_task_or_session(registry, how, stream):
    options = SandboxOptions(seed=42, events=3_000, days=DAYS, end=END)
    async with ChatGPTSandbox.run(options) as sandbox:
        before = client_tasks()
        with track_sessions() as sessions:
            # No block: the read opens its own session and must close it.
            connector = registry.create(
                "chatgpt", sandbox.connector_config() | {"concurrency": 16}
            )
            await stop_half_way(connector.read_stream(stream, None, WHOLE), how)
            left = client_tasks() - before
            assert not left, [task.get_name() for task in left]
            assert sessions
            assert all(session.closed for session in sessions)
            await connector.aclose()


# -- Logs Platform files ---------------------------------------------------------------


async def test_files_read_at_once_are_the_sequential_read(
    registry, session, monkeypatch
):
    """The same logs and the same checkpoints, in the listing's order: each
    is the one the sequential read yields after the same file. Downloads
    overlap, never more than the concurrency."""
    read_file = aiaudit_chatgpt.files_reader._read_file
    downloads = {"now": 0, "most": 0}

    async def counted(*args, **kwargs):
        downloads["now"] += 1
        downloads["most"] = max(downloads["most"], downloads["now"])
        try:
            async for batch in read_file(*args, **kwargs):
                yield batch
        finally:
            downloads["now"] -= 1

    async with serving(registry, session, 1) as (sandbox, sequential):
        one = await read(sequential, FILES)
        hinted = await read(sequential, FILES, attrs.evolve(WHOLE, limit=1_000))
        async with registry.create(
            "chatgpt",
            sandbox.connector_config() | {"concurrency": 8},
            session=session,
        ) as concurrent:
            with monkeypatch.context() as patch:
                patch.setattr(aiaudit_chatgpt.files_reader, "_read_file", counted)
                several = await read(concurrent, FILES)
        truth = stream_truth(sandbox, FILES)

    assert 1 < downloads["most"] <= 8
    assert len(one.checkpoints) > 20
    assert sorted(several.ids) == sorted(one.ids)
    assert set(one.ids) == truth
    assert len(several.ids) == len(set(several.ids))
    # Each checkpoint yielded is the sequential read's, in the same order.
    positions = [one.checkpoints.index(c) for c in several.checkpoints]
    assert positions == sorted(positions)
    assert several.checkpoints[-1] == one.checkpoints[-1]
    # A page's read (a hint) goes one file after another, as before.
    assert hinted.ids == one.ids


async def test_files_read_at_once_resume_from_any_checkpoint_exactly(registry, session):
    async with serving(registry, session, 8) as (sandbox, connector):
        full = await read(connector, FILES)
        truth = stream_truth(sandbox, FILES)
        for checkpoint in full.checkpoints[:: max(1, len(full.checkpoints) // 6)]:
            again = await read(connector, FILES, checkpoint=checkpoint)
            rerun = again.ids
            assert len(rerun) == len(set(rerun))
            # What the sequential read yields after that checkpoint.
            async with registry.create(
                "chatgpt",
                sandbox.connector_config() | {"concurrency": 1},
                session=session,
            ) as sequential:
                rest = await read(sequential, FILES, checkpoint=checkpoint)
            assert sorted(rerun) == sorted(rest.ids)
    assert set(full.ids) == truth


# -- the options ---------------------------------------------------------------------


def test_the_options_default_and_read_text():
    from aiaudit_chatgpt.config import ChatGPTComplianceAPIConfig  # noqa: PLC0415

    config = ChatGPTComplianceAPIConfig(api_key="sk-admin-x")
    assert config.concurrency == DEFAULT_CONCURRENCY
    assert config.rate_limit is None
    config = ChatGPTComplianceAPIConfig(
        api_key="sk-admin-x", concurrency="8", rate_limit="2.5"
    )
    assert (config.concurrency, config.rate_limit) == (8, 2.5)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("concurrency", "0", "concurrency must be a whole number from 1"),
        ("concurrency", "65", "concurrency must be a whole number from 1"),
        ("concurrency", "many", "concurrency must be a whole number from 1"),
        ("rate_limit", "-1", "rate_limit must be a positive number"),
        ("rate_limit", "inf", "rate_limit must be a positive number"),
    ],
)
def test_an_option_out_of_range_is_refused(option, value, message):
    from aiaudit_chatgpt.config import ChatGPTComplianceAPIConfig  # noqa: PLC0415

    with pytest.raises(ValueError, match=message):
        ChatGPTComplianceAPIConfig(api_key="sk-admin-x", **{option: value})


def test_the_options_come_from_the_environment(registry):
    spec = registry.spec("chatgpt")
    config = spec.config_from_env(
        {
            "OPENAI_ADMIN_KEY": "sk-admin-x",
            "AIAUDIT_CHATGPT_CONCURRENCY": "3",
            "AIAUDIT_CHATGPT_RATE_LIMIT": "7",
        }
    )
    assert (config.concurrency, config.rate_limit) == (3, 7.0)
