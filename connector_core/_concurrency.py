"""How many requests to one API may be in flight: at most a configured
number, fewer while the API throttles.

A connection reads several time windows at once (:mod:`connector_core.windows`)
so that a backfill runs at the API's speed instead of one round trip at a
time. How many requests the API will take at once is not published and
changes with its load, so the number is found the way TCP finds a link's
capacity: additive increase, multiplicative decrease. Each request that
succeeds adds about one slot per round of requests; a 429 halves the slots,
once per round (the other answers of the same burst are the same signal,
not a new one). The requests already in flight finish; new ones wait.
"""

from __future__ import annotations

import asyncio
import collections
import math
import weakref
from typing import Final

import attrs

from connector_core._rate_budget import Budget, RateBudget
from connector_core.exceptions import ConfigurationError
from connector_core.shared_budget import shared_budget, shared_budget_url


__all__ = [
    "DEFAULT_CONCURRENCY",
    "MAX_CONCURRENCY",
    "AdaptiveConcurrency",
    "ConnectionPace",
    "Slot",
    "concurrency_option",
    "rate_limit_option",
]

DEFAULT_CONCURRENCY: Final = 16
"""Requests in flight a connection starts with, and never exceeds unless
configured: enough to fill a 50 ms round trip ten times over with pages of a
few milliseconds of work each, and halved at the API's first 429."""

MAX_CONCURRENCY: Final = 64
"""The most a connection may be configured with: past this an API throttles
long before the client is the limit."""


@attrs.frozen
class Slot:
    """A request's place in flight, and the round it was started in: a 429
    answered to a request of an earlier round was already counted."""

    round: int


class AdaptiveConcurrency:
    """The requests to one API allowed in flight at once, adapted to its 429s.

    Attributes:
        limit: The most ever allowed (the connection's configured
            concurrency).
        backoffs: How many times a 429 halved the allowance.
    """

    __slots__ = ("_allowed", "_in_flight", "_round", "_waiters", "backoffs", "limit")

    def __init__(self, limit: int = DEFAULT_CONCURRENCY) -> None:
        """Allow up to *limit* requests at once, all of them to begin with.

        Raises:
            ConfigurationError: *limit* is not between 1 and
                :data:`MAX_CONCURRENCY`.
        """
        if not 1 <= limit <= MAX_CONCURRENCY:
            raise ConfigurationError(
                f"concurrency must be a whole number from 1 to {MAX_CONCURRENCY},"
                f" got {limit!r}"
            )
        self.limit = limit
        self._allowed = float(limit)
        self._in_flight = 0
        self._round = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self.backoffs = 0

    def __repr__(self) -> str:
        return (
            f"AdaptiveConcurrency(limit={self.limit}, allowed={self.allowed},"
            f" in_flight={self._in_flight})"
        )

    @property
    def allowed(self) -> int:
        """Requests allowed in flight now."""
        return max(1, int(self._allowed))

    @property
    def in_flight(self) -> int:
        """Requests in flight now."""
        return self._in_flight

    async def acquire(self) -> Slot:
        """Wait for a place in flight, first come, first served."""
        if self._in_flight >= self.allowed or self._waiters:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                # Cancelled while waiting, or after being woken: a place
                # handed over must go to the next in line, not be lost.
                if waiter.done() and not waiter.cancelled():
                    self._in_flight -= 1
                    self._wake()
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise
        else:
            self._in_flight += 1
        return Slot(self._round)

    def release(self, slot: Slot, *, throttled: bool = False) -> None:
        """Give *slot* back: *throttled* when the API answered 429, which
        halves the allowance once per round; any other answer grows it by
        about one place per round of requests."""
        self._in_flight -= 1
        if throttled:
            if slot.round == self._round:
                self._round += 1
                self._allowed = max(1.0, self._allowed / 2)
                self.backoffs += 1
        elif self._allowed < self.limit:
            self._allowed = min(float(self.limit), self._allowed + 1 / self._allowed)
        self._wake()

    def _wake(self) -> None:
        """Hand free places to waiters in order; a place handed over counts
        as in flight at once, so a newcomer cannot take it first."""
        while self._waiters and self._in_flight < self.allowed:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_flight += 1
                waiter.set_result(None)


class ConnectionPace:
    """What every transport of one connection shares: the requests in
    flight and, when the connection's rate limit is known, its budget.

    A connector makes one from its configuration (conventionally the
    ``concurrency`` and ``rate_limit`` options) and passes
    ``concurrency=pace.concurrency, budget=pace.budget`` to each transport
    it builds, so a read of several streams at once still keeps to one
    limit. A connector handle may be called from one event loop and later
    from another (a host's threads); the budget's lock belongs to a loop,
    so each loop gets its own budget, while the allowance, which holds no
    loop, is one.

    When a shared budget is configured (``AIAUDIT_REDIS_URL``, see
    :mod:`connector_core.shared_budget`) and the pace has a :attr:`scope`,
    the budget is kept in Redis, shared with every process of that scope;
    otherwise it is this process's own.

    Attributes:
        concurrency: The connection's requests in flight.
        rate_limit: Requests per second the connection keeps to, or
            ``None`` when it is not known (only 429s then steer).
        scope: Whose budget this is across processes: set by the registry's
            connector handle from the connector's ``budget_scope()``, else
            the connection name; ``None`` keeps the budget in this process.
    """

    __slots__ = ("_budgets", "concurrency", "rate_limit", "scope")

    def __init__(
        self,
        concurrency: int = DEFAULT_CONCURRENCY,
        rate_limit: float | None = None,
        *,
        scope: str | None = None,
    ) -> None:
        """Allow *concurrency* requests in flight, and *rate_limit* a second.

        Raises:
            ConfigurationError: *concurrency* is out of range, or
                *rate_limit* is not a positive number.
        """
        if rate_limit is not None and not (
            rate_limit > 0 and math.isfinite(rate_limit)
        ):
            raise ConfigurationError(
                f"rate_limit must be a positive number of requests per second,"
                f" got {rate_limit!r}"
            )
        self.concurrency = AdaptiveConcurrency(concurrency)
        self.rate_limit = rate_limit
        self.scope = scope
        self._budgets: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, RateBudget
        ] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"ConnectionPace({self.concurrency!r}, rate_limit={self.rate_limit!r})"

    @property
    def budget(self) -> Budget | None:
        """The rate budget of the running event loop (``None`` without a
        known rate limit, or outside a loop): shared in Redis when one is
        configured and the pace has a scope.

        Raises:
            ConfigurationError: A shared budget is configured but the
                ``redis`` package is missing or the URL is malformed.
        """
        if self.rate_limit is None:
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        # A burst of one second's worth: a connection that was idle may
        # start at once, never faster than the limit over any second.
        burst = max(1, math.floor(self.rate_limit))
        url = shared_budget_url()
        if url is not None and self.scope is not None:
            return shared_budget(url, self.scope, self.rate_limit, burst)
        budget = self._budgets.get(loop)
        if budget is None:
            budget = self._budgets[loop] = RateBudget(self.rate_limit, burst)
        return budget


def concurrency_option(value: object) -> int:
    """A connection's ``concurrency`` option as a config converter: options
    given on the command line arrive as text, and a bad value is refused
    when the connection is saved (naming the option), not at its first sync.

    Raises:
        ValueError: Not a whole number from 1 to :data:`MAX_CONCURRENCY`.
    """
    try:
        number = int(str(value))
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_CONCURRENCY:
        raise ValueError(
            f"concurrency must be a whole number from 1 to {MAX_CONCURRENCY},"
            f" got {value!r}"
        )
    return number


def rate_limit_option(value: object) -> float | None:
    """A connection's ``rate_limit`` option (requests per second) as a
    config converter; ``None`` or an empty text: not known.

    Raises:
        ValueError: Not a positive, finite number.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(str(value))
    except ValueError:
        number = math.nan
    if not (number > 0 and math.isfinite(number)):
        raise ValueError(
            f"rate_limit must be a positive number of requests per second,"
            f" got {value!r}"
        )
    return number
