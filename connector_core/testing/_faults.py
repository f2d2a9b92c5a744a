"""Runs that make a sandbox fail, and cancelled reads: what they leave behind.

Both need a connector of their own: a fault run talks to a second sandbox
started with a fault profile at a rate of 1.0 (every request fails), and a
cancellation run must see the sessions and tasks one connector creates.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, Final

import attrs

from connector_core.models import ConnectionResult
from connector_core.testing._resources import (
    describe_task,
    leftover_tasks,
    single_attempt_transports,
    track_sessions,
)
from connector_core.testing._sandbox import SandboxThread


if TYPE_CHECKING:
    from connector_core.testing._harness import Harness


__all__ = ["Cancellation", "FaultOutcome", "cancel_a_read", "read_with_fault"]

_FAULT_EVENTS: Final = 300
_FIRST_LOG_TIMEOUT: Final = 60.0


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


def read_with_fault(harness: Harness, profile: str) -> FaultOutcome:
    """Start a sandbox failing every request with *profile*, and read it.

    The transports are limited to one attempt: a retry would meet a spared
    request and succeed, hiding the error this run is here to see.

    Raises:
        SandboxRefusedError: The sandbox refused *profile*.
    """
    options = attrs.evolve(
        harness.options,
        faults=profile,
        fault_rate=1.0,
        events=min(harness.options.events, _FAULT_EVENTS),
    )
    try:
        thread = SandboxThread(harness.provider, options)
        running = thread.__enter__()
    except Exception as exc:
        raise SandboxRefusedError(f"{type(exc).__name__}: {exc}") from exc
    try:
        config = {**running.config, **harness.details.fault_config}
        return harness.run(_read_everything(harness, config, profile))
    finally:
        thread.__exit__(None, None, None)


async def _read_everything(
    harness: Harness, config: dict[str, Any], profile: str
) -> FaultOutcome:
    outcome = FaultOutcome(profile=profile)
    # Entered here, on the connector's loop: the limit follows the context
    # the transports are built in.
    with single_attempt_transports():
        async with harness.create(config) as connector:
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
