"""What a plugin's sandbox server looks like to the host.

A sandbox is a real HTTP server on loopback that speaks the platform's API
with generated data. It lets the demo, the conformance suite and the
benchmarks run a connector end to end with no account and no network. A
plugin contributes one through the ``aiaudit_sandbox`` hook; the host starts
it as an async context manager and builds a connector from the configuration
it hands back.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol

import attrs


if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from aiohttp import web
    from aiohttp.typedefs import Handler, Middleware


__all__ = [
    "OFFICE_HOURS",
    "FaultDraw",
    "Latency",
    "RunningSandbox",
    "SandboxOptions",
    "SandboxProvider",
    "check_milliseconds",
    "history_moment",
    "latency_middleware",
    "office_hours",
]


def check_milliseconds(name: str, value: object) -> float:
    """*value* as a number of milliseconds, or a ValueError that names it.

    Shared by the options and the command line, so both refuse the same
    values with the same words: a negative, infinite or NaN delay has no
    meaning, and NaN would slip past a plain ``>= 0`` comparison.

    Raises:
        TypeError: Not a number.
        ValueError: Not a finite number of milliseconds >= 0.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of milliseconds, not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"{name} must be a finite number of milliseconds >= 0, not {value!r}"
        )
    return float(value)


def _milliseconds(_: object, attribute: attrs.Attribute[float], value: object) -> None:
    check_milliseconds(attribute.name, value)


@attrs.frozen(kw_only=True)
class SandboxOptions:
    """How to start a sandbox.

    Attributes:
        seed: Same seed, same data: tests compare against ground truth.
        events: Roughly how many audit events to generate.
        faults: A named fault profile (the plugin documents its names), or
            ``None`` for a well-behaved server.
        fault_rate: The share of requests a fault profile disturbs, 0 to 1.
        days: How many days of history to generate.
        end: The end of generated history (exclusive); by default the start
            of the current UTC day, so a demo's "last month" has data, while
            tests pin it for data that never moves.
        rate_limit: Requests per second a key may make before the server
            answers 429 with ``Retry-After``; ``None`` for no limit.
        host: The address to bind; loopback unless a test says otherwise.
        port: The port to bind; 0 picks a free one.
        ground_truth_dir: Where to write every record the sandbox serves,
            as JSON lines, so a test can compare a client's result with it.
        publish_delay: Seconds after it starts serving before a sandbox
            publishes the events it holds back as late (a plugin's fault
            profile for late publication, e.g. ChatGPT's ``late``): a sync
            before that misses them, one after must find them. Ground truth
            always includes them.
        latency_ms: Milliseconds added before every request is answered, so
            latency-bound behaviour (timeouts, concurrency) can be tested on
            loopback; applied by :func:`latency_middleware`.
        jitter_ms: Up to this many milliseconds more per request, drawn
            uniformly from a generator seeded by ``seed``: runs repeat.
    """

    seed: int = 0
    events: int = attrs.field(default=10_000, validator=attrs.validators.ge(1))
    faults: str | None = None
    fault_rate: float = attrs.field(
        default=0.0, validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)]
    )
    days: int = attrs.field(default=30, validator=attrs.validators.ge(1))
    end: datetime | None = None
    rate_limit: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(0.0))
    )
    host: str = "127.0.0.1"
    port: int = attrs.field(
        default=0, validator=[attrs.validators.ge(0), attrs.validators.le(65535)]
    )
    ground_truth_dir: str | None = None
    publish_delay: float = attrs.field(default=2.0, validator=attrs.validators.ge(0.0))
    latency_ms: float = attrs.field(default=0.0, validator=_milliseconds)
    jitter_ms: float = attrs.field(default=0.0, validator=_milliseconds)


def history_moment(
    start: datetime,
    end: datetime,
    fraction: float,
    at: time,
    *,
    weekend: bool | None = None,
) -> datetime | None:
    """A moment of generated history [*start*, *end*) for an event a
    sandbox places on purpose (a burst of failed sign-ins, a key created at
    night): the day about *fraction* of the way through, at the UTC
    clock time *at*.

    Rules that look at the hour or the weekday only fire when the clock
    time is kept, so the day moves instead: to the nearest day, later
    first, whose *at* falls inside the history and, with *weekend*, that is
    a Saturday or Sunday (``True``) or a weekday (``False``). ``None`` when
    no such day exists (a history of a day or two); the sandbox then leaves
    that event out rather than place it elsewhere.
    """
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    fraction = min(1.0, max(0.0, fraction))
    anchor = (start + (end - start) * fraction).date()
    days = (end - start).days + 2
    for distance in range(days + 1):
        for day in (
            anchor + timedelta(days=distance),
            anchor - timedelta(days=distance),
        ):
            moment = datetime.combine(day, at, tzinfo=UTC)
            if not start <= moment < end:
                continue
            if weekend is not None and (day.weekday() >= 5) != weekend:  # noqa: PLR2004
                continue
            return moment
    return None


OFFICE_HOURS: Final = (7, 20)
"""The UTC hours of a working day, from the first to the one it ends
before; Saturdays and Sundays have none."""


def office_hours(moment: datetime, start: datetime, end: datetime) -> datetime:
    """*moment*, or, when it falls outside :data:`OFFICE_HOURS`, the same
    minute and second at a working hour of the nearest weekday inside the
    history [*start*, *end*).

    For what people do by the clock (create a key, say): a sandbox places
    those off hours on purpose only, so that an off-hours rule finds what
    was planned. A history with no weekday keeps *moment*.
    """
    moment = moment.astimezone(UTC)
    first, last = OFFICE_HOURS
    if moment.weekday() < 5 and first <= moment.hour < last:  # noqa: PLR2004
        return moment
    span = (end - start).total_seconds()
    fraction = (moment - start).total_seconds() / span if span > 0 else 0.0
    hour = first + 2 + moment.hour % (last - first - 4)  # 09:00 to 17:59
    clock = time(hour, moment.minute, moment.second)
    return history_moment(start, end, fraction, clock, weekend=False) or moment


@attrs.define
class FaultDraw:
    """Decides, request by request, whether a sandbox misbehaves: a share
    *rate* of the requests it serves under the fault *profile*.

    The draw is a hash of the seed and the request's number, not a random
    generator's state, so the same seed disturbs the same requests on every
    run, and a test that failed on a fault fails again on it.

    Attributes:
        profile: The fault profile's name (``SandboxOptions.faults``).
        rate: The share of requests disturbed, 0 to 1.
        seed: The sandbox's seed.
        seen: Requests drawn for so far.
        injected: Requests disturbed so far.
    """

    profile: str
    rate: float
    seed: int
    seen: int = 0
    injected: int = 0

    @classmethod
    def of(cls, options: SandboxOptions) -> FaultDraw | None:
        """The draw *options* ask for, or ``None`` for a well-behaved server."""
        if not options.faults:
            return None
        return cls(options.faults, options.fault_rate, options.seed)

    def draw(self) -> bool:
        """Whether to disturb the next request."""
        number = self.seen
        self.seen += 1
        digest = hashlib.blake2b(f"{self.seed}:{number}".encode(), digest_size=8)
        hit = int.from_bytes(digest.digest(), "big") / 2.0**64 < self.rate
        self.injected += hit
        return hit


class Latency:
    """The delays a sandbox adds, one per request, in the order drawn.

    The generator is seeded from the sandbox's seed (salted, so it does not
    replay the data generator's draws): the same seed gives the same
    sequence of delays, so a latency-bound test repeats.
    """

    def __init__(self, options: SandboxOptions) -> None:
        self.latency_ms = options.latency_ms
        self.jitter_ms = options.jitter_ms
        self._rng = random.Random(f"latency:{options.seed}")  # noqa: S311 - not security

    def __bool__(self) -> bool:
        return self.latency_ms > 0 or self.jitter_ms > 0

    def next_delay(self) -> float:
        """The next request's delay, in seconds."""
        jitter = self._rng.uniform(0.0, self.jitter_ms) if self.jitter_ms else 0.0
        return (self.latency_ms + jitter) / 1000.0


def latency_middleware(options: SandboxOptions) -> Middleware:
    """An aiohttp middleware that waits ``options.latency_ms`` (plus jitter)
    before each request reaches its handler.

    A sandbox adds it first in its application's middlewares, so every
    answer (errors and faults included) pays the round trip. The wait is an
    ``asyncio.sleep``: requests in flight together overlap, as they do over
    a real network, rather than queueing behind one another. With no
    latency and no jitter it passes requests straight through.
    """
    from aiohttp import web  # noqa: PLC0415 - the server side, for sandboxes only

    latency = Latency(options)

    @web.middleware
    async def add_latency(request: web.Request, handler: Handler) -> web.StreamResponse:
        if latency:
            await asyncio.sleep(latency.next_delay())
        return await handler(request)

    return add_latency


@attrs.frozen(kw_only=True)
class RunningSandbox:
    """A started sandbox.

    Attributes:
        platform: The platform it imitates.
        urls: Named base URLs (a platform may serve several APIs).
        config: Connector configuration pointing at this sandbox, with the
            sandbox's own keys; ``Registry.create`` accepts it as is.
        details: Anything else the plugin wants to show (ground-truth path,
            fault profile, event counts).
    """

    platform: str
    urls: Mapping[str, str]
    config: Mapping[str, Any]
    details: Mapping[str, Any] = attrs.field(factory=dict)


class SandboxProvider(Protocol):
    """Starts a plugin's sandbox; returned by the ``aiaudit_sandbox`` hook."""

    def start(
        self, options: SandboxOptions
    ) -> AbstractAsyncContextManager[RunningSandbox]:
        """Start serving; the server stops when the context exits."""
        ...
