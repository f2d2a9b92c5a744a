"""Runs that make a sandbox fail, and cancelled reads: what they leave behind.

Both need a connector of their own: a fault run talks to a second sandbox
started with a fault profile at a rate of 1.0 (every request is disturbed),
and a cancellation run must see the sessions and tasks one connector creates.

Two families of fault run:

* *error* runs (``rate_limit``, ``server_error``, ``malformed``,
  ``stuck_cursor``): the read must fail, with the right class;
* *integrity* runs (``redirect``, ``poisoned``, ``late``): the read must
  succeed and return exactly what a clean read returns. Their measure is the
  fault sandbox's own ``expected_ids``, or else a read of a clean sandbox
  started with the same options.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import aiohttp
import attrs

from connector_core.models import ConnectionResult
from connector_core.sandbox import RunningSandbox
from connector_core.streams import QuarantinedRecord, StreamInfo
from connector_core.testing._details import ConformanceDetails
from connector_core.testing._resources import (
    describe_task,
    leftover_tasks,
    single_attempt_transports,
    track_sessions,
)
from connector_core.testing._sandbox import SandboxThread


if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from connector_core.connector import Connector
    from connector_core.sandbox import SandboxOptions
    from connector_core.testing._harness import Harness


__all__ = [
    "STUCK_MAX_REQUESTS",
    "STUCK_MAX_SECONDS",
    "Cancellation",
    "FaultOutcome",
    "FaultSandbox",
    "LateOutcome",
    "PoisonOutcome",
    "RedirectOutcome",
    "SandboxRefusedError",
    "StreamOutcome",
    "StuckOutcome",
    "StuckStream",
    "accounted",
    "cancel_a_read",
    "fault_options",
    "fault_sandbox",
    "first_error",
    "read_late",
    "read_poisoned",
    "read_stuck",
    "read_under_redirects",
    "read_with_fault",
]

_FAULT_EVENTS: Final = 300
_FIRST_LOG_TIMEOUT: Final = 60.0

STUCK_MAX_REQUESTS: Final = 500
"""HTTP requests one stream may send against a cursor that never advances
before the suite calls it a loop: room for a listing page of a few hundred
files, each downloaded, and the next page whose cursor repeats; a loop on
loopback sends that many in a second or two."""

STUCK_MAX_SECONDS: Final = 30.0
"""Seconds one stream may take against a cursor that never advances."""

_LATE_MARGIN: Final = 0.25
"""Seconds waited beyond ``publish_delay``, for clocks read a moment apart."""


@attrs.define
class FaultOutcome:
    """What reading every stream did while every request failed one way.

    Attributes:
        profile: The sandbox fault profile used.
        error: What the read raised, if anything.
        quarantined: Records quarantined before it stopped.
        logs: Logs returned before it stopped.
        authenticate: What ``authenticate`` did: its result or its error.
    """

    profile: str
    error: BaseException | None = None
    quarantined: int = 0
    logs: int = 0
    authenticate: ConnectionResult | BaseException | None = None


class SandboxRefusedError(Exception):
    """The sandbox would not start with the fault profile the suite asked for."""


def fault_options(harness: Harness, profile: str | None) -> SandboxOptions:
    """The options of a fault run's sandbox (and of its clean twin, with
    *profile* ``None``): fewer events, every request disturbed."""
    return attrs.evolve(
        harness.options,
        faults=profile,
        fault_rate=1.0 if profile is not None else 0.0,
        events=min(harness.options.events, _FAULT_EVENTS),
    )


@attrs.frozen
class FaultSandbox:
    """A sandbox started for one fault run.

    Attributes:
        profile: Its fault profile (``None`` for a clean twin).
        running: What it describes of itself.
        details: Its own conformance details.
        config: Its configuration, with ``fault_config`` merged in.
        started: ``time.monotonic()`` once it was serving.
    """

    profile: str | None
    running: RunningSandbox
    details: ConformanceDetails
    config: dict[str, Any]
    started: float


@contextlib.contextmanager
def fault_sandbox(harness: Harness, profile: str | None) -> Iterator[FaultSandbox]:
    """Serve a sandbox with *profile* at a rate of 1.0 for the block.

    Raises:
        SandboxRefusedError: The sandbox refused *profile*, or describes
            itself wrongly under it.
    """
    try:
        thread = SandboxThread(harness.provider, fault_options(harness, profile))
        running = thread.__enter__()
    except Exception as exc:
        raise SandboxRefusedError(f"{type(exc).__name__}: {exc}") from exc
    started = time.monotonic()
    try:
        try:
            details = ConformanceDetails.from_details(running.details)
        except ValueError as exc:
            raise SandboxRefusedError(str(exc)) from exc
        config = {**running.config, **harness.details.fault_config}
        yield FaultSandbox(profile, running, details, config, started)
    finally:
        thread.__exit__(None, None, None)


def read_with_fault(harness: Harness, profile: str) -> FaultOutcome:
    """Start a sandbox failing every request with *profile*, and read it.

    The transports are limited to one attempt: a retry would meet a spared
    request and succeed, hiding the error this run is here to see.

    Raises:
        SandboxRefusedError: The sandbox refused *profile*.
    """
    with fault_sandbox(harness, profile) as sandbox:
        return harness.run(_read_everything(harness, sandbox.config, profile))


async def _read_everything(
    harness: Harness, config: dict[str, Any], profile: str
) -> FaultOutcome:
    outcome = FaultOutcome(profile=profile)
    # Entered here, on the connector's loop: the limit follows the context
    # the transports are built in.
    async with _connector(harness, config) as connector:
        try:
            for info in await connector.list_streams():
                async with contextlib.aclosing(
                    connector.read_stream(info.name, None, harness.window)
                ) as batches:
                    async for batch in batches:
                        outcome.logs += len(batch.logs)
                        outcome.quarantined += len(batch.quarantined)
        except Exception as exc:  # noqa: BLE001 - the error is the finding
            outcome.error = exc
        try:
            outcome.authenticate = await connector.authenticate()
        except Exception as exc:  # noqa: BLE001 - likewise
            outcome.authenticate = exc
    return outcome


@attrs.define
class Cancellation:
    """What a read cancelled after its first log left behind.

    Attributes:
        finished: The read ended before it could be cancelled.
        error: What the read raised instead of being cancelled, if anything.
        tasks: The tasks still running afterwards, described.
        sessions_opened: How many aiohttp sessions the connector opened.
        sessions_open: How many were still open after ``aclose``.
    """

    finished: bool = False
    error: BaseException | None = None
    tasks: list[str] = attrs.Factory(list)
    sessions_opened: int = 0
    sessions_open: int = 0


async def cancel_a_read(harness: Harness) -> Cancellation:
    """Cancel a full read right after its first log, close the connector, and
    see what is left: a host cancels reads all the time (a timeout, Ctrl-C,
    a page closed) and must not leak with each one."""
    outcome = Cancellation()
    with track_sessions() as sessions:
        connector = harness.create()
        first = asyncio.Event()

        async def consume() -> None:
            async with contextlib.aclosing(
                connector.stream_ai_audit_logs(harness.window)
            ) as logs:
                async for _ in logs:
                    first.set()

        waiter = asyncio.create_task(first.wait())
        before = set(asyncio.all_tasks())
        reader = asyncio.create_task(consume(), name="aiaudit-conformance-read")
        await asyncio.wait(
            {reader, waiter},
            timeout=_FIRST_LOG_TIMEOUT,
            return_when=asyncio.FIRST_COMPLETED,
        )
        waiter.cancel()
        outcome.finished = reader.done()
        reader.cancel()
        try:
            await reader
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001 - reported by the test
            outcome.error = exc
        await connector.aclose()
        left = await leftover_tasks(before)
    outcome.tasks = [describe_task(task) for task in left]
    for task in left:
        task.cancel()
    outcome.sessions_opened = len(sessions)
    still_open = [session for session in sessions if not session.closed]
    outcome.sessions_open = len(still_open)
    for session in still_open:
        await session.close()
    return outcome


# -- reads that must succeed: redirects, poisoned records, late events --------


@attrs.define
class StreamOutcome:
    """One stream read to its end, or as far as it got.

    Attributes:
        info: The stream.
        ids: The log ids returned, in order.
        quarantined: The records quarantined.
        checkpoint: The last checkpoint yielded, if any.
        error: What the read raised, if anything.
    """

    info: StreamInfo
    ids: list[str] = attrs.Factory(list)
    quarantined: list[QuarantinedRecord] = attrs.Factory(list)
    checkpoint: Mapping[str, Any] | None = None
    error: BaseException | None = None


async def _read_streams(
    harness: Harness,
    connector: Connector,
    checkpoints: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> list[StreamOutcome]:
    """Read every stream (from *checkpoints*, else from the start); a
    stream's error is kept with it and the next stream is read."""
    found: list[StreamOutcome] = []
    for info in await connector.list_streams():
        outcome = StreamOutcome(info=info)
        found.append(outcome)
        start = None if checkpoints is None else checkpoints.get(info.name)
        try:
            async with contextlib.aclosing(
                connector.read_stream(info.name, start, harness.window)
            ) as batches:
                async for batch in batches:
                    outcome.ids.extend(entry.id for entry in batch.logs)
                    outcome.quarantined.extend(batch.quarantined)
                    if batch.checkpoint is not None:
                        outcome.checkpoint = batch.checkpoint
        except Exception as exc:  # noqa: BLE001 - the error is the finding
            outcome.error = exc
    return found


@contextlib.asynccontextmanager
async def _connector(
    harness: Harness, config: Mapping[str, Any]
) -> AsyncIterator[Connector]:
    """A connector whose transports try each request once: the faults of
    these runs answer a retry as they answered the request, so retrying
    would only spend the transport's time budget."""
    with single_attempt_transports():
        async with harness.create(config) as connector:
            yield connector


async def _read_all(harness: Harness, config: Mapping[str, Any]) -> list[StreamOutcome]:
    """Every stream read from the start by a connector of its own."""
    async with _connector(harness, config) as connector:
        return await _read_streams(harness, connector)


def first_error(streams: list[StreamOutcome]) -> str | None:
    """The first stream error of a read, described; ``None`` if none."""
    for stream in streams:
        if stream.error is not None:
            return (
                f"reading stream {stream.info.name!r} raised "
                f"{type(stream.error).__name__}: {stream.error}"
            )
    return None


def _clean_ids(harness: Harness) -> tuple[frozenset[str] | None, str | None]:
    """The ids a read of a clean sandbox with the fault run's options gives:
    its ``expected_ids``, or what the connector reads from it."""
    with fault_sandbox(harness, None) as clean:
        if clean.details.expected_ids is not None:
            return clean.details.expected_ids, None
        streams = harness.run(_read_all(harness, clean.config))
    error = first_error(streams)
    if error is not None:
        return None, f"the clean read to compare with failed: {error}"
    return frozenset(i for stream in streams for i in stream.ids), None


@attrs.define
class RedirectOutcome:
    """A read of every stream while every API request was redirected.

    Attributes:
        profile: The sandbox fault profile used.
        error: The first stream error, described.
        ids: Every log id returned, in order.
        expected: What a clean read returns, when known.
        baseline_error: Why it is not known.
        observed: The sandbox's counters, when it keeps them.
    """

    profile: str
    error: str | None = None
    ids: list[str] = attrs.Factory(list)
    expected: frozenset[str] | None = None
    baseline_error: str | None = None
    observed: dict[str, Any] | None = None


def read_under_redirects(harness: Harness, profile: str) -> RedirectOutcome:
    """Read every stream with every API request redirected (see the module
    docs of :mod:`connector_core.testing._details`).

    Raises:
        SandboxRefusedError: The sandbox refused *profile*.
    """
    outcome = RedirectOutcome(profile=profile)
    with fault_sandbox(harness, profile) as sandbox:
        streams = harness.run(_read_all(harness, sandbox.config))
        outcome.error = first_error(streams)
        outcome.ids = [i for stream in streams for i in stream.ids]
        outcome.expected = sandbox.details.expected_ids
        if sandbox.details.observed is not None:
            outcome.observed = dict(sandbox.details.observed)
    if outcome.expected is None:
        outcome.expected, outcome.baseline_error = _clean_ids(harness)
    return outcome


@attrs.define
class StuckStream:
    """How one stream's read against a cursor that never advances ended.

    Attributes:
        name: The stream.
        error: What the read raised, if it ended by raising.
        records: The logs and quarantined records it returned.
        requests: The HTTP requests it sent.
        seconds: How long it ran.
        stopped: Why the suite stopped it, when it did not end by itself.
    """

    name: str
    error: BaseException | None
    records: int
    requests: int
    seconds: float
    stopped: str | None


@attrs.define
class StuckOutcome:
    """How each stream's read against a cursor that never advances ended."""

    profile: str
    streams: list[StuckStream] = attrs.Factory(list)


@contextlib.contextmanager
def _counted_requests() -> Iterator[list[int]]:
    """Count the aiohttp requests sent from this thread (each redirect hop
    a connector follows itself counts too): ``[count]``."""
    count = [0]
    original = aiohttp.ClientSession._request  # noqa: SLF001 - counted, not changed
    thread = threading.get_ident()

    async def counted(
        self: aiohttp.ClientSession, *args: Any, **kwargs: Any
    ) -> aiohttp.ClientResponse:
        if threading.get_ident() == thread:
            count[0] += 1
        return await original(self, *args, **kwargs)

    with _patched(aiohttp.ClientSession, "_request", counted):
        yield count


@contextlib.contextmanager
def _patched(owner: type, name: str, value: Any) -> Iterator[None]:
    saved = owner.__dict__[name]
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, saved)


def read_stuck(harness: Harness, profile: str) -> StuckOutcome:
    """Read each stream while every listing answers the same page, with
    "more" and the same cursor, forever; stop a read that goes on past
    :data:`STUCK_MAX_REQUESTS` requests or :data:`STUCK_MAX_SECONDS`.

    Raises:
        SandboxRefusedError: The sandbox refused *profile*.
    """
    outcome = StuckOutcome(profile=profile)
    with fault_sandbox(harness, profile) as sandbox:
        harness.run(_read_stuck(harness, sandbox.config, outcome))
    return outcome


async def _read_stuck(
    harness: Harness, config: dict[str, Any], outcome: StuckOutcome
) -> None:
    async with _connector(harness, config) as connector:
        for info in await connector.list_streams():
            outcome.streams.append(await _read_one_stuck(harness, connector, info.name))


async def _read_one_stuck(
    harness: Harness, connector: Connector, name: str
) -> StuckStream:
    """Read stream *name* in a task, and cancel it once it passes a bound."""
    result = StuckStream(
        name=name, error=None, records=0, requests=0, seconds=0.0, stopped=None
    )

    async def consume() -> None:
        async with contextlib.aclosing(
            connector.read_stream(name, None, harness.window)
        ) as batches:
            async for batch in batches:
                result.records += len(batch.logs) + len(batch.quarantined)

    with _counted_requests() as count:
        started = time.monotonic()
        reader = asyncio.create_task(consume())
        result.stopped = await _watch(reader, count, started)
        try:
            await reader
        except asyncio.CancelledError:
            if result.stopped is None:
                raise
        except Exception as exc:  # noqa: BLE001 - the finding
            result.error = exc
        result.requests = count[0]
        result.seconds = time.monotonic() - started
    return result


async def _watch(
    reader: asyncio.Task[None], count: list[int], started: float
) -> str | None:
    """Wait for *reader* to end; cancel it past a bound and say which."""
    while True:
        await asyncio.wait({reader}, timeout=0.02)
        if reader.done():
            return None
        stopped = None
        if count[0] > STUCK_MAX_REQUESTS:
            stopped = f"more than {STUCK_MAX_REQUESTS} requests"
        elif time.monotonic() - started > STUCK_MAX_SECONDS:
            stopped = f"more than {STUCK_MAX_SECONDS:g} seconds"
        if stopped is not None:
            reader.cancel()
            return stopped


@attrs.define
class PoisonOutcome:
    """A full read and two syncs of a history with poisoned records.

    Attributes:
        profile: The sandbox fault profile used.
        poisoned: The sandbox's ``poisoned_ids`` (log id to native id).
        error: The first stream error of the read, described.
        ids: The log ids the read returned.
        quarantined: The records the read quarantined.
        expected: Every id of the history (the poisoned ones included),
            when the sandbox lists them; else ``None``.
        clean: The ids of a clean read, when ``expected`` is ``None``.
        baseline_error: Why neither is known.
        sync_error: What syncing raised or a stream's sync error, if any.
        stored: The log ids the first sync stored.
        stored_quarantined: The quarantined records it stored.
        second: What the second sync changed: inserted and quarantined
            counts and how many events and quarantined records the store
            then held, or ``None`` if it failed.
    """

    profile: str
    poisoned: dict[str, str] = attrs.Factory(dict)
    error: str | None = None
    ids: list[str] = attrs.Factory(list)
    quarantined: list[QuarantinedRecord] = attrs.Factory(list)
    expected: frozenset[str] | None = None
    clean: frozenset[str] | None = None
    baseline_error: str | None = None
    sync_error: str | None = None
    stored: list[str] = attrs.Factory(list)
    stored_quarantined: list[QuarantinedRecord] = attrs.Factory(list)
    second: dict[str, int] | None = None

    def good(self) -> frozenset[str] | None:
        """The ids of the records that are not poisoned."""
        if self.expected is not None:
            return self.expected - set(self.poisoned)
        if self.clean is not None:
            return self.clean - set(self.poisoned)
        return None


def accounted(
    log_id: str,
    native_id: str,
    ids: set[str],
    quarantined: list[QuarantinedRecord],
) -> bool:
    """Whether a poisoned record was returned (or stored) as a log, or kept
    as a quarantined record naming its native id or its log id."""
    if log_id in ids:
        return True
    return any(record.native_id in {native_id, log_id} for record in quarantined)


def read_poisoned(harness: Harness, profile: str) -> PoisonOutcome:
    """Read every stream of a history holding poisoned records, then sync it
    twice into a SQLite store in a temporary folder.

    Raises:
        SandboxRefusedError: The sandbox refused *profile*.
    """
    outcome = PoisonOutcome(profile=profile)
    with (
        fault_sandbox(harness, profile) as sandbox,
        tempfile.TemporaryDirectory(prefix="aiaudit-conformance-") as folder,
    ):
        outcome.poisoned = dict(sandbox.details.poisoned_ids)
        outcome.expected = sandbox.details.expected_ids
        streams = harness.run(_read_all(harness, sandbox.config))
        outcome.error = first_error(streams)
        outcome.ids = [i for stream in streams for i in stream.ids]
        outcome.quarantined = [r for stream in streams for r in stream.quarantined]
        harness.run(_sync_twice(harness, sandbox.config, Path(folder), outcome))
    if outcome.expected is None:
        outcome.clean, outcome.baseline_error = _clean_ids(harness)
    return outcome


_CONNECTION: Final = "conformance"


async def _sync_twice(
    harness: Harness, config: dict[str, Any], folder: Path, outcome: PoisonOutcome
) -> None:
    # Imported here: the store is only needed by this run.
    from connector_core.store.base import LogFilter  # noqa: PLC0415
    from connector_core.store.sqlite import SQLiteStore  # noqa: PLC0415
    from connector_core.sync import sync_connection  # noqa: PLC0415

    store = SQLiteStore(folder / "conformance.db")
    try:
        everything = LogFilter(connection=_CONNECTION)
        counts: list[tuple[int, int, int]] = []
        for attempt in range(2):
            try:
                async with _connector(harness, config) as connector:
                    report = await sync_connection(
                        connector,
                        store,
                        connection=_CONNECTION,
                        since=harness.window.start_date,
                        until=harness.window.end_date,
                    )
            except Exception as exc:  # noqa: BLE001 - the finding
                outcome.sync_error = (
                    f"sync {attempt + 1} raised {type(exc).__name__}: {exc}"
                )
                return
            failed = [s for s in report.streams if s.error is not None]
            if failed:
                outcome.sync_error = (
                    f"sync {attempt + 1} stopped stream {failed[0].stream!r}: "
                    f"{failed[0].error}"
                )
                return
            stored = await asyncio.to_thread(
                lambda: [entry.id for entry in store.iter_logs(everything)]
            )
            kept = await asyncio.to_thread(store.quarantined, _CONNECTION)
            counts.append((report.inserted, len(stored), len(kept)))
            if attempt == 0:
                outcome.stored = stored
                outcome.stored_quarantined = [item.record for item in kept]
            else:
                outcome.second = {
                    "inserted": report.inserted,
                    "quarantined": report.quarantined,
                    "events_before": counts[0][1],
                    "events_after": len(stored),
                    "quarantined_before": counts[0][2],
                    "quarantined_after": len(kept),
                }
    finally:
        await asyncio.to_thread(store.close)


@attrs.define
class LateOutcome:
    """A read to the end of the history, and a second one from its
    checkpoints once the late events were published.

    Attributes:
        profile: The sandbox fault profile used.
        delay: The sandbox's ``publish_delay``, in seconds.
        lags: Each stream's ``publication_lag``, in seconds.
        first: The first read, per stream.
        second: The read resumed from the first one's checkpoints.
        expected: Every id of the history, when known.
        baseline_error: Why it is not known.
        first_seconds: How long the first read took.
    """

    profile: str
    delay: float = 0.0
    lags: dict[str, float] = attrs.Factory(dict)
    first: list[StreamOutcome] = attrs.Factory(list)
    second: list[StreamOutcome] = attrs.Factory(list)
    expected: frozenset[str] | None = None
    baseline_error: str | None = None
    first_seconds: float = 0.0

    def counts(self) -> Counter[str]:
        """How often each id was returned by the two reads together."""
        return Counter(i for read in (*self.first, *self.second) for i in read.ids)


def read_late(harness: Harness, profile: str) -> LateOutcome:
    """Read every stream to the end of the history while some recent events
    are still unpublished, keep each stream's last checkpoint, wait until
    the sandbox publishes them, and read again from those checkpoints.

    Without ``expected_ids``, the measure is a fresh full read of the same
    sandbox once everything is published.

    Raises:
        SandboxRefusedError: The sandbox refused *profile*.
    """
    delay = harness.options.publish_delay
    outcome = LateOutcome(profile=profile, delay=delay)
    with fault_sandbox(harness, profile) as sandbox:
        outcome.expected = sandbox.details.expected_ids

        async def first() -> None:
            async with _connector(harness, sandbox.config) as connector:
                for info in await connector.list_streams():
                    outcome.lags[info.name] = info.publication_lag.total_seconds()
                began = time.monotonic()
                outcome.first = await _read_streams(harness, connector)
                outcome.first_seconds = time.monotonic() - began

        harness.run(first())
        if first_error(outcome.first) is not None:
            return outcome
        wait = sandbox.started + delay + _LATE_MARGIN - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        saved: dict[str, Mapping[str, Any] | None] = {}
        for read in outcome.first:
            # Saved as a sync saves it: through JSON.
            saved[read.info.name] = (
                None
                if read.checkpoint is None
                else json.loads(json.dumps(dict(read.checkpoint)))
            )

        async def second() -> None:
            async with _connector(harness, sandbox.config) as connector:
                outcome.second = await _read_streams(harness, connector, saved)
                if outcome.expected is None:
                    fresh = await _read_streams(harness, connector)
                    error = first_error(fresh)
                    if error is not None:
                        outcome.baseline_error = (
                            f"the fresh read to compare with failed: {error}"
                        )
                    else:
                        outcome.expected = frozenset(
                            i for read in fresh for i in read.ids
                        )

        harness.run(second())
    return outcome
