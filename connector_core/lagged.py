"""Windows read again over a publication lag, each event yielded once.

Many audit APIs publish an event some time after it happened: a read that
stops at *t* may miss events of the minutes before *t* that appear later.
A reader of such a source checkpoints a window's end, ``since``, with the
ids it yielded in the lag before it, ``seen``; the next read starts at
``since - lag`` and skips those ids. Late events are found, and none is
yielded twice.

Every windowed reader of a lagged source needs the same bookkeeping around
:func:`~connector_core.windows.read_windows`, and each copy of it is a
place for an off-by-one at a window's edge or an id forgotten between
narrow windows. :class:`LaggedWindows` holds it once:

* it keeps a window's logs inside ``[start, end)`` (an event at a window's
  end is the next window's), and drops a log whose id this window already
  yielded or the resumed checkpoint names;
* it applies the reader's ``keep`` filter (actions the API cannot filter);
* after a window is read whole it yields its checkpoint: ``since`` is the
  window's end, ``seen`` the ids yielded in the lag before it, taken from
  every window finished so far (a window narrower than the lag, as in a
  paged read's days, names its predecessors' ids too), and the resumed
  checkpoint's ids while they are still in that lag;
* a window that fails yields no checkpoint: the read fails, and what was
  checkpointed before stands.

The reader gives only ``read(window)``: the window's pages, as batches
(:class:`~connector_core.streams.StreamBatch`) without checkpoints. A
source whose unit of identity is not a log (a listed item that makes
several logs, identified by its id and change time) claims its keys itself
through :meth:`LaggedWindows.ledger` and reads with ``by_log=False``.

Checkpoints are :class:`LagCheckpoint` (ids listed, readable in a stored
checkpoint) or :class:`LagDigestCheckpoint` (ids as 64-bit digests, small
whatever the ids' length); a reader subclasses one to name its own.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar

import attrs

from connector_core.checkpoints import Checkpoint
from connector_core.cursors import SeenIds
from connector_core.exceptions import ConfigurationError
from connector_core.streams import StreamBatch
from connector_core.windows import Window, WindowSizing, read_windows


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Container, Iterable

    from connector_core.models import AIAuditLog


__all__ = [
    "LagCheckpoint",
    "LagDigestCheckpoint",
    "LagPoint",
    "LaggedWindows",
    "WindowLedger",
]


class LagPoint(Protocol):
    """What :class:`LaggedWindows` needs of a checkpoint class."""

    @property
    def since(self) -> datetime: ...

    @property
    def seen(self) -> Container[str]: ...

    def to_dict(self) -> dict[str, Any]: ...

    @classmethod
    def after_window(
        cls, since: datetime, ids: Iterable[str], earlier: Self | None
    ) -> Self: ...


@attrs.frozen(kw_only=True)
class LagCheckpoint(Checkpoint):
    """Read up to ``since``; ``seen`` are the ids yielded in the lag before
    it, sorted, as a JSON list."""

    since: datetime
    seen: tuple[str, ...] = ()

    @classmethod
    def after_window(
        cls, since: datetime, ids: Iterable[str], earlier: Self | None
    ) -> Self:
        """The checkpoint at *since* naming *ids*, and *earlier*'s ids when
        they are still in the lag."""
        merged = set(ids)
        if earlier is not None:
            merged.update(earlier.seen)
        return cls(since=since, seen=tuple(sorted(merged)))


@attrs.frozen(kw_only=True)
class LagDigestCheckpoint(Checkpoint):
    """Read up to ``since``; ``seen`` are the ids yielded in the lag before
    it, as :class:`~connector_core.cursors.SeenIds` (a busy lag of long ids
    stays a short string)."""

    since: datetime
    seen: SeenIds = attrs.field(factory=SeenIds)

    @classmethod
    def after_window(
        cls, since: datetime, ids: Iterable[str], earlier: Self | None
    ) -> Self:
        """The checkpoint at *since* naming *ids*, and *earlier*'s ids when
        they are still in the lag."""
        seen = SeenIds(ids)
        if earlier is not None:
            seen.update(earlier.seen)
        return cls(since=since, seen=seen)


_C = TypeVar("_C", bound=LagPoint)


class WindowLedger:
    """The keys one window has yielded, and those the resumed checkpoint
    names: the window's dedupe, and the source of its checkpoint's ids."""

    __slots__ = ("claimed", "skip", "window")

    def __init__(self, window: Window, skip: Container[str] = ()) -> None:
        self.window = window
        self.skip = skip
        self.claimed: dict[str, datetime] = {}

    def claim(self, key: str, moment: datetime) -> bool:
        """Whether *key* (at *moment*) is new to this read: neither yielded
        by this window nor named by the resumed checkpoint. A new key is
        remembered, for the window's checkpoint."""
        if key in self.claimed or key in self.skip:
            return False
        self.claimed[key] = moment
        return True


class LaggedWindows(Generic[_C]):
    """One read of a lagged, windowed source (see the module's description).

    Attributes:
        lag: How late the source may publish an event.
        resume: The checkpoint the read resumes from, or ``None``.
        checkpoint: The checkpoint class a finished window yields.
        keep: Which logs to yield (``None``: all); a log it refuses is not
            remembered either.
    """

    def __init__(
        self,
        *,
        lag: timedelta,
        resume: _C | None,
        checkpoint: type[_C],
        keep: Callable[[AIAuditLog], bool] | None = None,
    ) -> None:
        if lag < timedelta(0):
            raise ConfigurationError(f"lag must not be negative, got {lag}")
        self.lag = lag
        self.resume = resume
        self.checkpoint = checkpoint
        self.keep = keep
        self._ledgers: dict[int, WindowLedger] = {}
        # Ids of finished windows in the lag before the latest end: a
        # window narrower than the lag names them in its checkpoint too.
        self._carried: dict[str, datetime] = {}

    def start(self, first: datetime) -> datetime:
        """Where the read starts: *first* (the query's start) on a first
        read; on resume, the lag before the checkpoint, read again for late
        events."""
        return first if self.resume is None else self.resume.since - self.lag

    def ledger(self, window: Window) -> WindowLedger:
        """The ledger of *window*, while it is being read.

        Raises:
            KeyError: *window* is not being read.
        """
        return self._ledgers[window.index]

    async def read(
        self,
        read: Callable[[Window], AsyncGenerator[StreamBatch, None]],
        *,
        start: datetime,
        end: datetime,
        sizing: WindowSizing,
        concurrency: int = 1,
        settled: datetime | None = None,
        by_log: bool = True,
    ) -> AsyncGenerator[StreamBatch, None]:
        """Read ``[start, end)`` by :func:`~connector_core.windows.read_windows`,
        each window's logs filtered and deduplicated and its checkpoint
        yielded once it is read whole.

        *by_log* false leaves the bounds, ``keep`` and the dedupe to *read*,
        which claims its keys through :meth:`ledger`; the checkpoints still
        come from here.

        Raises:
            ConfigurationError: *concurrency* is below 1.
            Exception: Whatever a window's read raised.
        """

        async def one(window: Window) -> AsyncGenerator[StreamBatch, None]:
            skip: Container[str] = () if self.resume is None else self.resume.seen
            ledger = self._ledgers[window.index] = WindowLedger(window, skip)
            try:
                async with contextlib.aclosing(read(window)) as batches:
                    async for batch in batches:
                        if by_log:
                            batch = self._fresh(batch, ledger)  # noqa: PLW2901
                        if batch.logs or batch.quarantined:
                            yield batch
            finally:
                del self._ledgers[window.index]
            yield StreamBatch(checkpoint=self._finished(ledger).to_dict())

        windows = read_windows(
            one,
            start=start,
            end=end,
            sizing=sizing,
            concurrency=concurrency,
            settled=settled,
        )
        async with contextlib.aclosing(windows) as batches:
            async for batch in batches:
                yield batch

    def _fresh(self, batch: StreamBatch, ledger: WindowLedger) -> StreamBatch:
        window = ledger.window
        fresh = tuple(
            entry
            for entry in batch.logs
            if window.start <= entry.timestamp < window.end
            and (self.keep is None or self.keep(entry))
            and ledger.claim(entry.id, entry.timestamp)
        )
        return attrs.evolve(batch, logs=fresh)

    def _finished(self, ledger: WindowLedger) -> _C:
        """The checkpoint of a window read whole."""
        end = ledger.window.end
        horizon = end - self.lag
        self._carried = {
            key: moment
            for key, moment in (self._carried | ledger.claimed).items()
            if moment >= horizon
        }
        ids = [key for key, moment in self._carried.items() if moment < end]
        resume = self.resume
        earlier = resume if resume is not None and horizon < resume.since else None
        return self.checkpoint.after_window(end, ids, earlier)
