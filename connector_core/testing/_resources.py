"""Instruments the suite puts around a connector while it watches it.

* :func:`track_sessions` records every ``aiohttp.ClientSession`` the
  connector opens, so the suite can tell which ones were left open.
* :func:`leftover_tasks` waits briefly for the tasks a read started to end,
  and names those that do not.
* :func:`stop_half_way` stops a read part-way the two ways a host does:
  closing its generator, or cancelling the task that consumes it.
* :func:`capture_logs` records every structlog event and stdlib log record
  at debug level, so the suite can look for secrets in them.
* :func:`single_attempt_transports` makes every
  :class:`~connector_core.http.HTTPTransport` give up after one attempt.
  The sandboxes spare a retried request (so that retries are tested); a
  suite that wants to see the *error* a 429 or a 503 becomes must keep the
  transport's retries from hiding it.

Each restores what it changed on exit, and each only observes the thread it
was entered on: the sandbox runs on another thread and is not under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import TYPE_CHECKING, Any, Final
from unittest import mock

import aiohttp
import structlog

from connector_core.http import RetryPolicy, retry_policy_override


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Iterator, MutableMapping

    from connector_core.streams import StreamBatch


__all__ = [
    "CapturedLogs",
    "capture_logs",
    "describe_task",
    "leftover_tasks",
    "single_attempt_transports",
    "stop_half_way",
    "track_sessions",
]

_SETTLE_SECONDS: Final = 1.0
_SETTLE_STEP: Final = 0.01


@contextlib.contextmanager
def track_sessions() -> Iterator[list[aiohttp.ClientSession]]:
    """Yield a list that fills with the sessions opened on this thread."""
    created: list[aiohttp.ClientSession] = []
    original = aiohttp.ClientSession.__init__
    thread = threading.get_ident()

    def init(self: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if threading.get_ident() == thread:
            created.append(self)

    with mock.patch.object(aiohttp.ClientSession, "__init__", init):
        yield created


def describe_task(task: asyncio.Task[Any]) -> str:
    """A task as a person can find it in their code: its coroutine's name."""
    coroutine = task.get_coro()
    name = getattr(coroutine, "__qualname__", None) or repr(coroutine)
    return f"{task.get_name()} running {name}"


async def leftover_tasks(before: set[asyncio.Task[Any]]) -> list[asyncio.Task[Any]]:
    """The tasks not in *before* that are still running after a short grace.

    Cancellation takes a few loop iterations to travel through nested tasks
    and ``finally`` blocks, so a task is only reported once it has had a
    second to finish.
    """
    current = asyncio.current_task()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _SETTLE_SECONDS
    while True:
        extra = [
            task
            for task in asyncio.all_tasks()
            if task not in before and task is not current and not task.done()
        ]
        if not extra or loop.time() >= deadline:
            return extra
        await asyncio.sleep(_SETTLE_STEP)


class CapturedLogs:
    """The structlog events and stdlib records seen during a capture."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.records: list[logging.LogRecord] = []

    def texts(self) -> Iterator[tuple[str, str]]:
        """``(where, text)`` for every event and record, fully rendered."""
        for event in self.events:
            yield f"structlog event {event.get('event')!r}", repr(event)
        for record in self.records:
            yield (
                f"log record {record.name}:{record.levelname}",
                f"{record.getMessage()} {record.__dict__!r}",
            )


class _Handler(logging.Handler):
    def __init__(self, captured: CapturedLogs, thread: int) -> None:
        super().__init__(logging.DEBUG)
        self._captured = captured
        self._thread = thread

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self._thread:
            self._captured.records.append(record)


@contextlib.contextmanager
def capture_logs() -> Iterator[CapturedLogs]:
    """Record every log event of this thread at debug level, and print none.

    structlog's processors are replaced in place (bound loggers keep a
    reference to the list) and its level is opened to debug; the root
    stdlib logger gets a debug handler. Everything is restored on exit,
    structlog's unconfigured state included: while structlog is not
    configured the library logs through the standard library (see
    :mod:`connector_core._logging`), and a capture must not leave a
    configuration behind that would send it to standard output.
    """
    captured = CapturedLogs()
    thread = threading.get_ident()
    was_configured = structlog.is_configured()

    def record(
        logger: object, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if threading.get_ident() == thread:
            captured.events.append({**event, "log_level": method})
        raise structlog.DropEvent

    config = structlog.get_config()
    processors = config["processors"]
    saved = list(processors)
    root = logging.getLogger()
    handler = _Handler(captured, thread)
    level = root.level
    try:
        processors.clear()
        processors.append(record)
        structlog.configure(
            processors=processors,
            wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        )
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        yield captured
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        processors.clear()
        processors.extend(saved)
        structlog.configure(
            processors=processors, wrapper_class=config["wrapper_class"]
        )
        if not was_configured:
            structlog.reset_defaults()


@contextlib.contextmanager
def single_attempt_transports() -> Iterator[None]:
    """Make every HTTPTransport built inside the block try each request once.

    The limit follows the context (:func:`connector_core.http.retry_policy_override`):
    enter it in the coroutine that builds the connector, or around code on
    the same event loop; tasks started inside inherit it.
    """
    with retry_policy_override(RetryPolicy(max_attempts=1)):
        yield


async def stop_half_way(
    batches: AsyncGenerator[StreamBatch, None], how: str, *, after: int = 100
) -> int:
    """Read *batches* until more than *after* logs came, then stop the read
    as a host does: ``how="close"`` closes the generator, ``how="cancel"``
    cancels the task consuming it (a Ctrl-C, a host's timeout). Returns
    the logs read. What the read started (window tasks, sessions) must be
    gone when this returns: that is for the caller to check.

    Raises:
        ValueError: *how* is neither of the two.
    """
    logs = 0
    if how == "close":
        async for batch in batches:
            logs += len(batch.logs)
            if logs > after:
                break
        await batches.aclose()
        return logs
    if how != "cancel":
        raise ValueError(f"how must be 'close' or 'cancel', got {how!r}")
    underway = asyncio.Event()

    async def consume() -> None:
        nonlocal logs
        async for batch in batches:
            logs += len(batch.logs)
            if logs > after:
                underway.set()

    task = asyncio.create_task(consume())
    waiting = asyncio.ensure_future(underway.wait())
    await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if task.done():
        task.result()  # the read ended or failed before it was underway
        raise AssertionError(f"the read ended after {logs} logs, before {after}")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if not task.cancelled():
        raise AssertionError("the read did not end cancelled")
    return logs
