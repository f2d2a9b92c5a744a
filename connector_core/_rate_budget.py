"""The rate budget tasks talking to one API share.

A rate limit belongs to a key, not to a task or a transport, so the budget
is an object of its own that any number of them hold; it knows nothing of
HTTP beyond being told to pause.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING, Final, Protocol

from connector_core.exceptions import ConfigurationError


if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


__all__ = ["Budget", "RateBudget"]

# Tolerance for float rounding in the token arithmetic, so a sleep computed
# to refill exactly one token is not followed by a second, tiny one.
_TOKEN_EPSILON: Final = 1e-9


class Budget(Protocol):
    """What a transport asks of a rate budget, wherever its tokens live.

    :class:`RateBudget` keeps them in this process;
    :class:`connector_core.shared_budget.RedisRateBudget` keeps them in
    Redis, so every process spending one key draws from one bucket.
    """

    async def acquire(self) -> None:
        """Wait until a request may be sent, and take its token."""
        ...

    def pause(self, seconds: float) -> None:
        """Hand out no token for *seconds* from now (a 429's
        ``Retry-After``); a pause only ever extends."""
        ...


class RateBudget:
    """A token bucket shared by every task that talks to one API.

    API rate limits apply per key, not per task, so concurrent tasks must
    draw from one budget. A 429 with ``Retry-After`` seen by any task pauses
    the budget for all of them: otherwise the other tasks keep hammering an
    API that has already said stop, and each collects its own 429.
    """

    __slots__ = (
        "_burst",
        "_clock",
        "_lock",
        "_paused_until",
        "_rate",
        "_sleep",
        "_tokens",
        "_updated",
    )

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Allow *rate* requests per second on average and *burst* at once.

        *clock* must be monotonic; it and *sleep* are injectable so tests
        can run on virtual time.
        """
        if not (rate > 0 and math.isfinite(rate)):
            raise ConfigurationError(f"rate must be a positive number, got {rate!r}")
        if burst < 1:
            raise ConfigurationError(f"burst must be at least 1, got {burst!r}")
        self._rate = float(rate)
        self._burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._paused_until = -math.inf
        # Waiters queue on the lock, so tokens are handed out first come,
        # first served instead of to whichever task wakes first.
        self._lock = asyncio.Lock()

    @property
    def paused_until(self) -> float:
        """The clock reading before which no token is handed out."""
        return self._paused_until

    def pause(self, seconds: float) -> None:
        """Hand out no token for *seconds* from now.

        A pause only ever extends: two tasks reporting different waits must
        not let the shorter one cut the longer one short. When it ends the
        bucket holds a single token, so the end of a pause is not itself a
        burst of requests against an API that just throttled us.
        """
        until = self._clock() + max(0.0, seconds)
        if until > self._paused_until:
            self._paused_until = until
            self._tokens = min(self._tokens, 1.0)
            self._updated = until

    async def acquire(self) -> None:
        """Wait until a request may be sent, and take its token."""
        async with self._lock:
            while True:
                now = self._clock()
                if now < self._paused_until:
                    await self._sleep(self._paused_until - now)
                    continue
                if now > self._updated:
                    refill = (now - self._updated) * self._rate
                    self._tokens = min(self._burst, self._tokens + refill)
                    self._updated = now
                if self._tokens >= 1.0 - _TOKEN_EPSILON:
                    self._tokens = max(0.0, self._tokens - 1.0)
                    return
                await self._sleep((1.0 - self._tokens) / self._rate)
