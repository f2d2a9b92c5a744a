"""The harness every conformance test works through.

One :class:`Harness` exists per platform under test. It owns a sandbox
(served from a thread of its own), an event loop for the connector, and the
results of the expensive reads, computed once and shared: a full read of the
sandbox's history, a second one, reads resumed from checkpoints. Tests are
plain synchronous functions that call :meth:`Harness.run`, so the suite needs
no async test plugin and runs the same under any pytest configuration.

Some checks are the *root cause* of others: the core's page cursors are only
exact when a read resumed from a checkpoint is exact, and nothing can be
checked about logs that could not be read. A test whose premise failed skips,
naming the test that reports the cause, so a broken connector fails the one
test meant for its bug instead of a dozen at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar

import attrs
import pytest

from connector_core.exceptions import UnknownPlatformError
from connector_core.models import AIAuditLog, AIAuditLogQuery, AIDateRange
from connector_core.secrets import Secret
from connector_core.streams import StreamBatch, StreamInfo
from connector_core.testing._details import ConformanceDetails, ConformanceDetailsError
from connector_core.testing._resources import track_sessions
from connector_core.testing._sandbox import SandboxThread


if TYPE_CHECKING:
    from collections.abc import Coroutine, Iterator, Mapping

    import aiohttp

    from connector_core.connector import Connector, ConnectorSpec
    from connector_core.registry import Registry
    from connector_core.sandbox import RunningSandbox, SandboxOptions, SandboxProvider


__all__ = ["Harness", "Reading", "StreamRead", "within_retention"]

T = TypeVar("T")

TIMESTAMPS_TEST: Final = "test_timestamps_are_timezone_aware_utc"
FIELDS_TEST: Final = "test_logs_have_every_required_field"
GROUND_TRUTH_TEST: Final = "test_full_read_returns_everything_the_sandbox_serves"
DETERMINISM_TEST: Final = "test_two_full_reads_are_identical"
RESUME_TEST: Final = "test_resumed_read_returns_nothing_older"
PAGES_TEST: Final = "test_pages_are_disjoint_and_their_union_is_one_full_read"

_MIN_SECRET: Final = 6
_SHOWN: Final = 5
_RESUME_POINTS: Final = 3


def fail(message: str) -> NoReturn:
    """Fail the test with *message* alone: the message is the diagnosis."""
    pytest.fail(message, pytrace=False)


def listed(items: list[str], total: int | None = None) -> str:
    """The first few of *items*, and how many more there are."""
    total = len(items) if total is None else total
    shown = "; ".join(items[:_SHOWN])
    return shown + (f"; ... ({total - _SHOWN} more)" if total > _SHOWN else "")


def is_naive_timestamp_error(error: BaseException) -> bool:
    """Whether *error* is the models refusing a timezone-naive timestamp."""
    return isinstance(error, ValueError) and "naive datetime" in str(error)


@attrs.define
class StreamRead:
    """One stream read from the start of the window: every batch it yielded."""

    info: StreamInfo
    batches: list[StreamBatch]

    @property
    def logs(self) -> list[AIAuditLog]:
        return [entry for batch in self.batches for entry in batch.logs]

    def marks(self) -> list[tuple[int, Mapping[str, Any]]]:
        """Each checkpoint with the number of logs yielded up to it."""
        found: list[tuple[int, Mapping[str, Any]]] = []
        count = 0
        for batch in self.batches:
            count += len(batch.logs)
            if batch.checkpoint is not None:
                found.append((count, batch.checkpoint))
        return found


@attrs.define
class Reading:
    """A full read of the sandbox's history, or how it failed.

    Attributes:
        streams: Every stream, read with ``read_stream`` from no checkpoint.
        logs: Every log of the history, as ``stream_ai_audit_logs`` gives it.
        error: What a read raised, if one did.
    """

    streams: list[StreamRead] = attrs.Factory(list)
    logs: list[AIAuditLog] = attrs.Factory(list)
    error: BaseException | None = None

    def stream(self, name: str) -> StreamRead:
        return next(read for read in self.streams if read.info.name == name)


def _history_end(options: SandboxOptions) -> datetime:
    if options.end is not None:
        return options.end.astimezone(UTC)
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def within_retention(
    options: SandboxOptions,
    retention: timedelta | None,
    now: datetime | None = None,
) -> SandboxOptions:
    """*options*, with the history ending today instead of on its pinned
    date when the platform keeps less than reaches back to that date.

    The suite pins its history so every run reads the same data; a platform
    that keeps only recent history (and a sandbox that imitates it) cannot
    serve a pinned date once it has aged out. Such a history ends at the
    start of the current UTC day, seed and size unchanged: each run still
    compares the read with the sandbox's own ground truth.
    """
    if retention is None or options.end is None:
        return options
    now = now or datetime.now(UTC)
    oldest = now - retention + timedelta(days=1)  # a day's margin for the run
    if options.end - timedelta(days=options.days) >= oldest:
        return options
    return attrs.evolve(options, end=None)


class Harness:
    """A running sandbox of one platform, and everything read from it.

    Attributes:
        platform: The platform under test.
        registry: The registry it was loaded from.
        spec: Its registered connector class.
        options: How its sandbox was started.
        sandbox: The running sandbox.
        details: What the sandbox tells the suite.
        window: A query covering exactly the sandbox's history.
        period: The same span, for analytics.
        cache: Results computed once and shared by the tests.
    """

    def __init__(
        self,
        *,
        registry: Registry,
        spec: ConnectorSpec,
        provider: SandboxProvider,
        options: SandboxOptions,
        sandbox: RunningSandbox,
        details: ConformanceDetails,
        runner: asyncio.Runner,
    ) -> None:
        self.registry = registry
        self.spec = spec
        self.platform = spec.platform
        self.provider = provider
        self.options = options
        self.sandbox = sandbox
        self.details = details
        self._runner = runner
        end = _history_end(options)
        self.window = AIAuditLogQuery(
            start_date=end - timedelta(days=options.days),
            end_date=end - timedelta(microseconds=1),
        )
        self.period = AIDateRange(
            start=self.window.start_date, end=self.window.end_date
        )
        self.cache: dict[str, Any] = {}

    @classmethod
    @contextlib.contextmanager
    def start(
        cls, registry: Registry, platform: str, options: SandboxOptions
    ) -> Iterator[Harness]:
        """Start *platform*'s sandbox and a loop for its connector.

        Fails the requesting tests, with the reason, when the platform is not
        loaded, has no sandbox, or describes itself wrongly.
        """
        try:
            spec = registry.spec(platform)
        except UnknownPlatformError as exc:
            problems = [
                f"plugin {p.name!r} {p.status}: {p.error}"
                for p in registry.plugins
                if p.status != "loaded"
            ]
            fail(f"{exc}" + (f"; {listed(problems)}" if problems else ""))
        options = within_retention(options, spec.retention)
        provider = registry.sandbox(platform)
        if provider is None:
            fail(
                f"no plugin returns a sandbox for {platform!r}: implement the "
                "aiaudit_sandbox hook (see docs/connector-authors.md)"
            )
        with (
            asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner,
            track_sessions() as sessions,
            SandboxThread(provider, options) as sandbox,
        ):
            if sandbox.platform != platform:
                fail(
                    f"the sandbox of {platform!r} says it imitates {sandbox.platform!r}"
                )
            try:
                details = ConformanceDetails.from_details(sandbox.details)
            except ConformanceDetailsError as exc:
                fail(str(exc))
            try:
                yield cls(
                    registry=registry,
                    spec=spec,
                    provider=provider,
                    options=options,
                    sandbox=sandbox,
                    details=details,
                    runner=runner,
                )
            finally:
                # A session a connector leaked (the cancellation test reports
                # it) is closed here, before the garbage collector would warn
                # about it in the middle of some unrelated test.
                runner.run(_close_all(sessions))

    # -- running ------------------------------------------------------------

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run *coroutine* on the connector's loop and return its result."""
        return self._runner.run(coroutine)

    def create(self, config: Mapping[str, Any] | None = None) -> Connector:
        """A fresh connector for the sandbox (its own config by default)."""
        return self.registry.create(
            self.platform, dict(self.sandbox.config if config is None else config)
        )

    def _cached(self, key: str, coroutine: Coroutine[Any, Any, T]) -> T:
        if key not in self.cache:
            self.cache[key] = self.run(coroutine)
        else:
            coroutine.close()
        result: T = self.cache[key]
        return result

    # -- configurations and secrets -------------------------------------------

    def bad_config(self) -> Mapping[str, Any] | None:
        """Credentials the sandbox refuses: declared, or the own ones spoiled."""
        if self.details.bad_config is not None:
            return self.details.bad_config
        config = dict(self.sandbox.config)
        spoiled = False
        for field in self.spec.secret_fields:
            value = config.get(field)
            text = value.reveal() if isinstance(value, Secret) else value
            if isinstance(text, str) and text:
                config[field] = _spoil(text)
                spoiled = True
        return config if spoiled else None

    def secrets(self) -> list[tuple[str, str]]:
        """Every secret value the suite hands the connector, revealed, with a
        name to report it by (never the value itself)."""
        configs = {
            "the sandbox's": self.sandbox.config,
            "the refused": self.bad_config(),
            "the restricted": self.details.restricted_config,
        }
        found: dict[str, str] = {}
        for which, config in configs.items():
            if config is None:
                continue
            for field in self.spec.secret_fields:
                value = config.get(field)
                text = value.reveal() if isinstance(value, Secret) else value
                if isinstance(text, str) and len(text) >= _MIN_SECRET:
                    found.setdefault(text, f"{field} of {which} configuration")
        for number, text in enumerate(list(self.details.held_secrets), 1):
            if len(text) >= _MIN_SECRET:
                found.setdefault(text, f"secret #{number} the configuration refers to")
        return sorted(
            ((label, text) for text, label in found.items()),
            key=lambda item: len(item[1]),
            reverse=True,
        )

    # -- the shared reads -----------------------------------------------------

    def reading(self) -> Reading:
        """The full read of the history (cached)."""
        return self._cached("reading", self._read())

    async def _read(self) -> Reading:
        reading = Reading()
        try:
            async with self.create() as connector:
                for info in await connector.list_streams():
                    read = StreamRead(info=info, batches=[])
                    reading.streams.append(read)
                    async with contextlib.aclosing(
                        connector.read_stream(info.name, None, self.window)
                    ) as batches:
                        async for batch in batches:
                            read.batches.append(batch)
                async with contextlib.aclosing(
                    connector.stream_ai_audit_logs(self.window)
                ) as logs:
                    reading.logs.extend([entry async for entry in logs])
        except Exception as exc:  # noqa: BLE001 - reported by the tests
            reading.error = exc
        return reading

    def require_reading(self) -> Reading:
        """The full read, or skip: the read failing is another test's finding."""
        reading = self.reading()
        if reading.error is not None:
            culprit = (
                TIMESTAMPS_TEST
                if is_naive_timestamp_error(reading.error)
                else FIELDS_TEST
            )
            pytest.skip(f"this test needs a full read, which fails: see {culprit}")
        return reading

    def require(self, problems: list[str], test: str, premise: str) -> None:
        """Skip when a premise of this test is broken; *test* reports why."""
        if problems:
            pytest.skip(f"this test needs {premise}, which fails: see {test}")

    # -- root-cause verdicts (each also a test of its own) ---------------------

    def ground_truth_problems(self) -> list[str]:
        """What the full read misses or invents, against the sandbox's own list."""
        expected = self.details.expected_ids
        if expected is None:
            return []
        got = {entry.id for entry in self.require_reading().logs}
        missing = sorted(expected - got)
        extra = sorted(got - expected)
        problems = []
        if missing:
            problems.append(
                f"{len(missing)} of the {len(expected)} logs the sandbox serves "
                f"were not returned: {listed(missing)}"
            )
        if extra:
            problems.append(
                f"{len(extra)} returned log ids are not in the sandbox: {listed(extra)}"
            )
        return problems

    def determinism_problems(self) -> list[str]:
        """How a second full read differs from the first (cached)."""
        return self._cached("determinism", self._determinism())

    def hinted(self) -> AIAuditLogQuery:
        """The window as the core's pages ask for it, with a page hint.

        Only hinted reads must repeat log for log, checkpoint for
        checkpoint: a reader of concurrent windows yields later windows'
        logs as they arrive and checkpoints where its windows happen to
        finish, so without a hint the order may change, never the logs.
        """
        total = len(self.require_reading().logs)
        return attrs.evolve(self.window, limit=page_limit(total))

    async def _read_stream(
        self, connector: Connector, info: StreamInfo, query: AIAuditLogQuery
    ) -> StreamRead:
        batches = [b async for b in connector.read_stream(info.name, None, query)]
        return StreamRead(info=info, batches=batches)

    async def _determinism(self) -> list[str]:
        first = self.require_reading()
        problems: list[str] = []
        async with self.create() as connector:
            for read in first.streams:
                again = await self._read_stream(connector, read.info, self.window)
                problems.extend(_compare_sets(read, again.batches))
                hinted = await self._read_stream(connector, read.info, self.hinted())
                repeated = await self._read_stream(connector, read.info, self.hinted())
                problems.extend(_compare_reads(hinted, repeated.batches))
        return problems

    def resume_problems(self) -> list[str]:
        """What reads resumed from saved checkpoints got wrong (cached)."""
        return self._cached("resume", self._resume())

    async def _resume(self) -> list[str]:
        reading = self.require_reading()
        problems: list[str] = []
        async with self.create() as connector:
            for read in reading.streams:
                # Unhinted, a resumed read may return again what was yielded
                # early, ahead of the checkpoint (ids make that harmless),
                # but must lose nothing; hinted, it repeats nothing either.
                problems.extend(
                    await self._resume_stream(connector, read, self.window, exact=False)
                )
                hinted = await self._read_stream(connector, read.info, self.hinted())
                problems.extend(
                    await self._resume_stream(
                        connector, hinted, self.hinted(), exact=True
                    )
                )
        return problems

    async def _resume_stream(
        self,
        connector: Connector,
        read: StreamRead,
        query: AIAuditLogQuery,
        *,
        exact: bool,
    ) -> list[str]:
        name = read.info.name
        marks = read.marks()
        if not marks:
            return [
                (
                    f"stream {name!r} yielded no checkpoint over the whole "
                    "history, so a sync could never resume it"
                )
            ]
        chosen = sorted({0, len(marks) // 2, len(marks) - 1})[:_RESUME_POINTS]
        logs = read.logs
        problems: list[str] = []
        for index in chosen:
            count, checkpoint = marks[index]
            try:
                saved = json.loads(json.dumps(dict(checkpoint)))
            except (TypeError, ValueError) as exc:
                problems.append(
                    f"stream {name!r}: checkpoint {checkpoint!r} is not "
                    f"JSON-compatible ({exc}), so it cannot be saved"
                )
                continue
            before = {entry.id for entry in logs[:count]}
            resumed = [
                entry
                for batch in [
                    b async for b in connector.read_stream(name, saved, query)
                ]
                for entry in batch.logs
            ]
            resumed_ids = {entry.id for entry in resumed}
            older = [entry for entry in resumed if entry.id in before] if exact else []
            lost = [
                entry.id
                for entry in logs[count:]
                if entry.id not in before and entry.id not in resumed_ids
            ]
            hint = "" if exact else " (read without a page hint)"
            where = f"stream {name!r} resumed from checkpoint {saved!r}{hint}"
            if older:
                shown = [f"{e.id} at {e.timestamp.isoformat()}" for e in older]
                problems.append(
                    f"{where} returned {len(older)} log(s) already delivered "
                    f"before that checkpoint: {listed(shown)}"
                )
            if lost:
                problems.append(
                    f"{where} lost {len(lost)} log(s) the uninterrupted read "
                    f"returned after it: {listed(lost)}"
                )
        return problems


async def _close_all(sessions: list[aiohttp.ClientSession]) -> None:
    for session in sessions:
        if not session.closed:
            await session.close()


def _spoil(secret: str) -> str:
    """A value of the same shape as *secret* that no sandbox issued."""
    tail = "0WRONG" if not secret.endswith("0WRONG") else "1WRONG"
    return secret[: max(0, len(secret) - len(tail))] + tail


def _compare_reads(first: StreamRead, again: list[StreamBatch]) -> list[str]:
    name = first.info.name
    logs, logs_again = first.logs, [e for b in again for e in b.logs]
    problems: list[str] = []
    if len(logs) != len(logs_again):
        problems.append(
            f"stream {name!r}: the first read returned {len(logs)} logs, "
            f"the second {len(logs_again)}"
        )
    for index, (one, two) in enumerate(zip(logs, logs_again, strict=False)):
        if one != two:
            what = "another log" if one.id != two.id else "the same id, changed"
            problems.append(
                f"stream {name!r}: log #{index} differs ({what}): first read "
                f"{one.id} at {one.timestamp.isoformat()}, second read {two.id} "
                f"at {two.timestamp.isoformat()}"
            )
            break
    marks = [b.checkpoint for b in first.batches if b.checkpoint is not None]
    marks_again = [b.checkpoint for b in again if b.checkpoint is not None]
    if [dict(m) for m in marks] != [dict(m) for m in marks_again]:
        problems.append(
            f"stream {name!r}: the checkpoints differ between two reads "
            f"({len(marks)} vs {len(marks_again)}; first {marks[:1]!r} vs "
            f"{marks_again[:1]!r})"
        )
    return problems


def _compare_sets(first: StreamRead, again: list[StreamBatch]) -> list[str]:
    """How two reads without a page hint differ in what they return: the
    same logs, in any order. (A log repeated across pages is the pages
    test's finding.)"""
    name = first.info.name
    by_id = {e.id: e for e in first.logs}
    ids_again = {log.id for batch in again for log in batch.logs}
    changed = [
        log.id for batch in again for log in batch.logs if by_id.get(log.id, log) != log
    ]
    problems: list[str] = []
    if set(by_id) != ids_again:
        problems.append(
            f"stream {name!r}: two reads returned different logs: "
            f"{len(set(by_id) - ids_again)} only in the first, "
            f"{len(ids_again - set(by_id))} only in the second"
        )
    if changed:
        problems.append(
            f"stream {name!r}: {len(changed)} log(s) changed between two reads: "
            f"{listed(changed)}"
        )
    return problems


def page_limit(total: int) -> int:
    """A page size that splits *total* logs into about five pages."""
    return max(1, math.ceil(total / 5))
