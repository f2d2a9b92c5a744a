"""Reading a time-windowed source several windows at once, checkpoints exact.

Most audit APIs list events between two times, a cursor chain per query.
One chain at a time, a backfill of months costs a round trip per page, one
after another: hours against a real API. The windows of a range are
independent, so :func:`read_windows` reads up to ``concurrency`` of them at
once, each its own cursor chain, and a connector gets the API's speed by
describing one window.

What a connector gives:

* ``read(window)``, an async generator of :class:`~connector_core.streams.StreamBatch`
  for one :class:`Window` (``[start, end)``), as its sequential reader
  drains one window today. Its last batch carries the checkpoint that
  holds once this window *and every window before it* are read; a batch
  inside the window may carry one too (a resumable position inside it).
* a :class:`WindowSizing`: the first window's width, and how many events
  a window should hold. Later windows are sized from the density the
  finished windows showed, so a quiet month is one request and a busy day
  is many windows (see :class:`_Plan` for the bounds that keep every slot
  busy).

What the core guarantees:

* Batches of later windows are yielded as they arrive, without their
  checkpoints: a consumer stores them early, and events read again after a
  crash are recognised by their ids.
* A checkpoint is yielded only over a contiguous prefix of finished
  windows: window *i*'s checkpoint once windows ``0 .. i-1`` are finished.
  A read killed at any point and resumed from the last checkpoint misses
  nothing.
* Window edges are cut only at or before ``settled`` (the time before which
  the source has published everything): the stretch after it is always
  the last window's, which the stream's next read re-reads for events
  published late, as a sequential reader does.
* A window that fails fails the read, after cancelling the others; what
  was checkpointed stands. Cancelling or closing the read cancels every
  window's task and closes its generator before returning.

With ``concurrency=1`` this is a plain sequential reader, batch for batch.
Requests in flight are bounded by the transport
(:class:`~connector_core.http.AdaptiveConcurrency`), which halves them on a
429; the windows in flight here are only the most that may ask.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import attrs

from connector_core.exceptions import ConfigurationError
from connector_core.streams import StreamBatch


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator


__all__ = ["Window", "WindowSizing", "read_in_order", "read_windows"]

_SECOND: Final = timedelta(seconds=1)
_U = TypeVar("_U")


@attrs.frozen
class Window:
    """One window of a read: ``[start, end)``.

    Attributes:
        index: Its place in the read, from 0.
        start: Its first instant (inclusive).
        end: Its end (exclusive).
        last: Whether it ends the read; only the last window may reach past
            the read's ``settled`` time.
    """

    index: int
    start: datetime
    end: datetime
    last: bool

    @property
    def width(self) -> timedelta:
        return self.end - self.start


def _positive(_: object, attribute: attrs.Attribute[Any], value: timedelta) -> None:
    if value <= timedelta(0):
        raise ConfigurationError(f"{attribute.name} must be positive, got {value}")


@attrs.frozen(kw_only=True)
class WindowSizing:
    """How wide windows are cut.

    Attributes:
        first: The first windows' width, before any density is known.
        target: Events a window aims to hold. A window costs a partial page
            and, in a sequential read, a checkpoint: a hundred pages per
            window keep the partial ones near 1% of the requests; more
            windows than ``concurrency`` keep every slot busy.
        minimum: The narrowest window: at least the stream's publication
            lag, since a window's checkpoint names only its own ids of the
            stretch the next read re-reads (and so a read always advances).
        maximum: The widest, so a long quiet stretch still checkpoints.
        step: Edges fall on whole multiples of it from the read's start
            (an API that counts whole seconds wants whole seconds).
    """

    first: timedelta = attrs.field(validator=_positive)
    target: int = attrs.field(validator=attrs.validators.gt(0))
    minimum: timedelta = attrs.field(validator=_positive)
    maximum: timedelta = attrs.field(validator=_positive)
    step: timedelta = attrs.field(default=_SECOND, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.minimum > self.maximum:
            raise ConfigurationError(
                f"minimum {self.minimum} is wider than maximum {self.maximum}"
            )

    def after(self, width: timedelta, served: int) -> timedelta:
        """The width of the next window after one of *width* that held
        *served* events: the last density is the best guess for the next
        (activity drifts slowly), clamped, in whole steps."""
        if served <= 0:
            return self.maximum
        guess = width * self.target / served
        steps = max(1, round(guess / self.step))
        return max(self.minimum, min(self.maximum, self.step * steps))


@attrs.define
class _Plan:
    """Cuts the read's windows one at a time, each sized when it starts.

    The first windows, cut before any has finished, are ``sizing.first``
    wide. Read one at a time, a window is sized from the last one's
    density, the freshest guess (activity drifts slowly). Read several at
    once, from the density of every window read so far together, those in
    flight counted with what they have served yet (a lower bound on
    theirs): the quiet ones (a weekend, a night) finish first, and a width
    guessed from them alone would put a busy month in one window read by a
    single cursor chain while the other slots idle. Two more bounds keep
    such a read parallel:

    * a window is at most twice as wide as the widest finished one, so a
      density measured over a short stretch is trusted only a little
      further (a quiet week widens the windows step by step, as a slow
      start does);
    * with several slots, a window is at most the remaining range shared
      among them, so every slot has work until the end; but not narrower
      than what holds a quarter of ``sizing.target`` events, since each
      window costs a partial page.
    """

    start: datetime
    end: datetime
    settled: datetime | None
    sizing: WindowSizing
    concurrency: int
    index: int = 0
    read_width: timedelta = timedelta(0)  # of the finished windows together
    read_events: int = 0
    widest: timedelta = timedelta(0)  # the widest finished window
    last: tuple[timedelta, int] | None = None  # the last to finish, and its events
    reading: dict[int, list[Any]] = attrs.Factory(dict)  # index -> [width, served]

    def __iter__(self) -> Iterator[Window]:
        while (window := self.next()) is not None:
            yield window

    async def counted(
        self,
        read: Callable[[Window], AsyncGenerator[StreamBatch, None]],
        window: Window,
    ) -> AsyncGenerator[StreamBatch, None]:
        """*read* of *window*, its records counted as they arrive; once it
        is read whole, :meth:`finished` (before the next window is cut: the
        reader starts one only after this window's end is queued)."""
        progress: list[Any] = [window.width, 0]
        self.reading[window.index] = progress
        try:
            async with contextlib.aclosing(read(window)) as batches:
                async for batch in batches:
                    progress[1] += len(batch.logs) + len(batch.quarantined)
                    yield batch
        finally:
            self.reading.pop(window.index, None)
        self.finished(window, progress[1])

    def finished(self, window: Window, served: int) -> None:
        self.read_width += window.width
        self.read_events += served
        self.widest = max(self.widest, window.width)
        self.last = (window.width, served)

    @property
    def width(self) -> timedelta:
        """The width of the next window."""
        sizing = self.sizing
        if self.last is None:
            return sizing.first
        if self.concurrency == 1:
            return sizing.after(*self.last)
        seen_width, seen_events = self.read_width, self.read_events
        for in_flight, served in self.reading.values():
            if served:  # one that has served nothing yet says nothing
                seen_width += in_flight
                seen_events += served
        width = min(sizing.after(seen_width, seen_events), 2 * self.widest)
        if seen_events:
            share = (self.end - self.start) / self.concurrency
            fewest = sizing.after(seen_width, 4 * seen_events)
            width = min(width, max(share, fewest))
        steps = max(1, round(width / sizing.step))
        return max(sizing.minimum, min(sizing.maximum, sizing.step * steps))

    def next(self) -> Window | None:
        if self.start >= self.end:
            return None
        width = self.width
        low = self.start
        high = min(low + width, self.end)
        if self.end - high < width / 4:
            # A sliver left over would cost a window and a partial page of
            # its own: read it with this one.
            high = self.end
        if self.settled is not None and high > self.settled:
            # Past the settled time events may still be published: that
            # stretch stays the last window's, re-read by the next read.
            high = self.end
        window = Window(self.index, low, high, last=high >= self.end)
        self.index += 1
        self.start = high
        return window


@attrs.define
class _Progress:
    """Which windows are finished and which checkpoint the finished prefix
    allows."""

    first_open: int = 0  # the lowest window not finished
    finished: set[int] = attrs.Factory(set)
    latest: dict[int, Mapping[str, Any]] = attrs.Factory(dict)
    emitted: Mapping[str, Any] | None = None

    def finish(self, index: int) -> None:
        self.finished.add(index)
        while self.first_open in self.finished:
            self.finished.discard(self.first_open)
            self.first_open += 1

    def due(self) -> Mapping[str, Any] | None:
        """The newest checkpoint the prefix allows, if not yielded yet: the
        first open window's own (a position inside it), else the last
        finished window's."""
        for index in (self.first_open, self.first_open - 1):
            checkpoint = self.latest.get(index)
            if checkpoint is not None:
                break
        else:
            return None
        for index in [i for i in self.latest if i < self.first_open - 1]:
            del self.latest[index]
        if checkpoint is self.emitted:
            return None
        self.emitted = checkpoint
        return checkpoint


class _Run(Generic[_U]):
    """The units of one read in flight, and what is due to the reader."""

    def __init__(
        self,
        units: AsyncIterator[_U],
        read: Callable[[_U], AsyncGenerator[StreamBatch, None]],
        concurrency: int,
        finished: Callable[[_U, int], None] | None,
    ) -> None:
        self.units = units
        self.read = read
        self.concurrency = concurrency
        self.finished = finished
        self.exhausted = False
        self.count = 0
        self.progress = _Progress()
        self.served: dict[int, int] = {}
        self.running: dict[int, asyncio.Task[None]] = {}
        # Bounded, so units ahead of a slow consumer wait instead of piling
        # their pages up in memory.
        self.queue: asyncio.Queue[tuple[int, _U, StreamBatch | Exception | None]] = (
            asyncio.Queue(maxsize=2 * concurrency)
        )

    async def fill(self) -> None:
        """Start units until *concurrency* are in flight or none is left."""
        while len(self.running) < self.concurrency and not self.exhausted:
            try:
                unit = await anext(self.units)
            except StopAsyncIteration:
                self.exhausted = True
                return
            index = self.count
            self.count += 1
            self.served[index] = 0
            self.running[index] = asyncio.create_task(
                self._drain(index, unit), name=f"unit {index}"
            )

    async def _drain(self, index: int, unit: _U) -> None:
        try:
            async with contextlib.aclosing(self.read(unit)) as batches:
                async for batch in batches:
                    await self.queue.put((index, unit, batch))
        except Exception as failure:  # noqa: BLE001 - raised by the reader
            await self.queue.put((index, unit, failure))
        else:
            await self.queue.put((index, unit, None))

    async def next(self) -> StreamBatch | None:
        """What the next event of a unit gives the reader, if anything.

        Raises:
            Exception: What a unit's read raised.
        """
        index, unit, item = await self.queue.get()
        if isinstance(item, Exception):
            raise item
        if item is None:
            del self.running[index]
            self.progress.finish(index)
            served = self.served.pop(index)
            if self.finished is not None:
                self.finished(unit, served)
            await self.fill()
        else:
            self.served[index] += len(item.logs) + len(item.quarantined)
            if item.checkpoint is not None:
                self.progress.latest[index] = item.checkpoint
            if item.logs or item.quarantined:
                return StreamBatch(
                    logs=item.logs,
                    quarantined=item.quarantined,
                    checkpoint=self.progress.due(),
                )
        checkpoint = self.progress.due()
        return None if checkpoint is None else StreamBatch(checkpoint=checkpoint)

    async def cancel(self) -> None:
        """Cancel every unit in flight and wait until each has closed."""
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


async def read_in_order(
    units: AsyncIterable[_U] | Iterable[_U],
    read: Callable[[_U], AsyncGenerator[StreamBatch, None]],
    *,
    concurrency: int = 1,
    finished: Callable[[_U, int], None] | None = None,
) -> AsyncGenerator[StreamBatch, None]:
    """Read ordered *units* (windows, files) up to *concurrency* at once,
    checkpointing only over a contiguous prefix of finished ones.

    ``read(unit)`` yields the unit's batches; its last batch carries the
    checkpoint valid once this unit and every earlier one are read (a batch
    inside it may carry one too). Units are taken from *units* only as
    places free up, so a lazy source (a paged listing, a plan sized as it
    goes) is asked no further ahead than *concurrency*. *finished* is told
    each finished unit and how many records (logs and quarantined) it
    yielded. :func:`read_windows` is this over a plan of time windows.

    Raises:
        ConfigurationError: *concurrency* is below 1.
        Exception: Whatever a unit's read (or *units*) raised, after the
            other units were cancelled.
    """
    if concurrency < 1:
        raise ConfigurationError(f"concurrency must be at least 1, got {concurrency}")
    run = _Run(_aiter(units), read, concurrency, finished)
    try:
        await run.fill()
        while run.running:
            batch = await run.next()
            if batch is not None:
                yield batch
    finally:
        await run.cancel()


async def _aiter(units: AsyncIterable[_U] | Iterable[_U]) -> AsyncIterator[_U]:
    if isinstance(units, AsyncIterable):
        async for unit in units:
            yield unit
    else:
        for unit in units:
            yield unit


async def read_windows(
    read: Callable[[Window], AsyncGenerator[StreamBatch, None]],
    *,
    start: datetime,
    end: datetime,
    sizing: WindowSizing,
    concurrency: int = 1,
    settled: datetime | None = None,
) -> AsyncGenerator[StreamBatch, None]:
    """Read ``[start, end)`` in windows, up to *concurrency* at once.

    See the module's description for what *read* must do and what is
    guaranteed. *settled* is the time before which the source has
    published everything (now less the stream's publication lag); edges
    are cut only before it.

    Raises:
        ConfigurationError: *concurrency* is below 1.
        Exception: Whatever a window's read raised, after the other windows
            were cancelled.
    """
    plan = _Plan(start, end, settled, sizing, concurrency)
    async with contextlib.aclosing(
        read_in_order(
            plan,
            functools.partial(plan.counted, read),
            concurrency=concurrency,
        )
    ) as batches:
        async for batch in batches:
            yield batch
