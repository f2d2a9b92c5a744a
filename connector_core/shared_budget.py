"""One rate budget for every process spending one key: a token bucket in Redis.

An API's rate limit belongs to its key (or its organization), not to a
process. When many processes on many machines read connections that share
a key, each keeping its own :class:`~connector_core.RateBudget` would let
them together send the limit times the number of processes. Here the bucket
lives in Redis instead, and every process draws from it:

* One Lua script per token, run atomically by the server: it reads the
  *server's* clock (``TIME``), refills the bucket by the time passed, and
  either takes a token or answers how long to wait. The caller sleeps that
  long and asks again. No process's clock is ever compared with another's.
* A ``Retry-After`` seen by any process sets a shared "paused until" (on the
  server's clock, and only ever later) that every process's next token
  waits for: one 429 pauses every worker of that key.
* The keys are ``aiaudit:budget:{scope}`` and ``aiaudit:budget:{scope}:paused``
  (the braces are a Redis Cluster hash tag, so both sit in one slot), and
  they expire when idle: a bucket left alone is full again anyway.

Configured by :data:`REDIS_URL_VARIABLE` or, for a host embedding the
library, :func:`use_shared_budget`. The ``redis`` package is an optional
dependency (``pip install 'aiaudit[workers]'``), imported only when a
shared budget is configured. A Redis URL's password never appears in a
message, a log line or a repr.
"""

from __future__ import annotations

import asyncio
import math
import os
import weakref
from typing import TYPE_CHECKING, Any, Final

from connector_core._logging import get_logger
from connector_core.exceptions import ConfigurationError, ConnectorError
from connector_core.store._urls import mask_url, url_passwords


if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping


__all__ = [
    "KEY_PREFIX",
    "REDIS_URL_VARIABLE",
    "RedisRateBudget",
    "SharedBudgetError",
    "shared_budget",
    "shared_budget_url",
    "use_shared_budget",
]

log = get_logger(__name__)

REDIS_URL_VARIABLE: Final = "AIAUDIT_REDIS_URL"
"""The environment variable naming the Redis server of the shared budget."""

KEY_PREFIX: Final = "aiaudit:budget:"
"""Where the buckets live in Redis."""

_IDLE_TTL_MS: Final = 60_000
"""How long an untouched bucket is kept at least: past the time it takes to
fill, its absence means the same as its presence."""

_CONNECT_TIMEOUT: Final = 5.0

# KEYS[1] the bucket, KEYS[2] its pause; ARGV: rate (tokens a second), burst,
# the bucket's idle lifetime (ms). Times are microseconds of the server's
# clock. Answers 0 when a token was taken, else the microseconds to wait.
# Numbers are written with string.format: Lua's own conversion keeps 14
# digits, too few for a time in microseconds.
_ACQUIRE: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then
  return math.ceil(paused - now)
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1])
local updated = tonumber(state[2])
if tokens == nil or updated == nil then
  tokens = burst
  updated = now
end
if paused > updated then
  tokens = math.min(tokens, 1)
  updated = paused
end
if now > updated then
  tokens = math.min(burst, tokens + (now - updated) * rate / 1000000)
  updated = now
end
local wait = 0
if tokens >= 1 - 1e-9 then
  tokens = math.max(0, tokens - 1)
else
  wait = math.max(1, math.ceil((1 - tokens) * 1000000 / rate))
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
  'updated', string.format('%.0f', updated))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return wait
"""

# KEYS[1] the pause; ARGV: seconds, the idle lifetime (ms). Only extends.
# Answers the server time (microseconds) the pause now ends at.
_PAUSE: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ends = now + math.ceil(tonumber(ARGV[1]) * 1000000)
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if ends > current then
  redis.call('SET', KEYS[1], string.format('%.0f', ends),
    'PX', math.ceil((ends - now) / 1000) + tonumber(ARGV[2]))
  return ends
end
return current
"""


class SharedBudgetError(ConnectorError):
    """The shared rate budget's Redis server cannot be reached or used.

    Never a silent fallback to a per-process budget: processes that each
    kept their own would together exceed the limit the budget exists for.
    """


_UNSET: Final[Any] = object()
_configured: str | None = _UNSET


def use_shared_budget(url: str | None) -> None:
    """Keep rate budgets in the Redis at *url* (``None``: in each process),
    whatever :data:`REDIS_URL_VARIABLE` says; for a host embedding the
    library. Applies to budgets made from now on."""
    global _configured  # noqa: PLW0603 - one setting for the process
    _configured = url


def shared_budget_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The Redis URL rate budgets are kept at, ``None`` for none: the one
    :func:`use_shared_budget` set, else :data:`REDIS_URL_VARIABLE`."""
    if _configured is not _UNSET:
        return _configured
    value = (os.environ if environ is None else environ).get(REDIS_URL_VARIABLE)
    return (value.strip() or None) if value else None


def _client(url: str) -> Any:
    """A ``redis.asyncio`` client for *url*, imported only now."""
    try:
        import redis.asyncio as aioredis  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise ConfigurationError(
            f"{REDIS_URL_VARIABLE} is set ({mask_url(url)}) but the redis package"
            " is not installed: pip install 'aiaudit[workers]'"
        ) from None
    try:
        return aioredis.Redis.from_url(
            url,
            socket_connect_timeout=_CONNECT_TIMEOUT,
            socket_timeout=_CONNECT_TIMEOUT,
        )
    except ValueError as exc:
        message = str(exc).replace(url, mask_url(url))
        raise ConfigurationError(
            f"{REDIS_URL_VARIABLE} is not a Redis URL ({mask_url(url)}): {message}"
        ) from None


class RedisRateBudget:
    """A token bucket in Redis, shared by every process that names its scope.

    Made per event loop (its connections belong to one), as
    :class:`~connector_core.RateBudget` is; any number of them, in any
    number of processes, with the same URL and scope draw from one bucket.
    The bucket holds at most *burst* tokens and refills at *rate* a second,
    by the Redis server's clock.
    """

    __slots__ = (
        "_burst",
        "_client",
        "_failure",
        "_key",
        "_pause_key",
        "_paused_until",
        "_pending",
        "_rate",
        "_sleep",
        "_ttl_ms",
        "_url",
        "scope",
    )

    def __init__(
        self,
        url: str,
        scope: str,
        rate: float,
        burst: int | None = None,
        *,
        prefix: str = KEY_PREFIX,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Allow *rate* requests a second on average and *burst* at once
        (one second's worth by default) to every holder of *scope*.

        Raises:
            ConfigurationError: *rate* or *burst* is out of range, *scope*
                is empty, the URL is malformed, or ``redis`` is not
                installed.
        """
        if not (rate > 0 and math.isfinite(rate)):
            raise ConfigurationError(f"rate must be a positive number, got {rate!r}")
        if burst is None:
            burst = max(1, math.floor(rate))
        if burst < 1:
            raise ConfigurationError(f"burst must be at least 1, got {burst!r}")
        if not scope:
            raise ConfigurationError("a shared budget needs a scope")
        self._url = url
        self._client = _client(url)
        self.scope = scope
        self._rate = float(rate)
        self._burst = burst
        self._key = f"{prefix}{{{scope}}}"
        self._pause_key = f"{self._key}:paused"
        self._ttl_ms = max(_IDLE_TTL_MS, math.ceil(2000 * burst / rate))
        self._sleep = sleep
        # This process's own pause, on its own loop's clock: honoured at
        # once, before the server has heard of it.
        self._paused_until = -math.inf
        self._pending: set[asyncio.Task[None]] = set()
        # A background pause that could not reach Redis: raised by the next
        # acquire, not lost in a task nobody awaits.
        self._failure: SharedBudgetError | None = None

    def __repr__(self) -> str:
        return (
            f"RedisRateBudget({mask_url(self._url)!r}, scope={self.scope!r},"
            f" rate={self._rate!r}, burst={self._burst!r})"
        )

    @property
    def url(self) -> str:
        """The server's URL, its password masked."""
        return mask_url(self._url)

    @property
    def key(self) -> str:
        """The bucket's Redis key (the pause's is this and ``:paused``)."""
        return self._key

    async def acquire(self) -> None:
        """Wait until a request may be sent by any holder of the scope, and
        take its token.

        Raises:
            SharedBudgetError: Redis cannot be reached or refused the script.
        """
        loop = asyncio.get_running_loop()
        while True:
            if self._pending:
                await asyncio.wait(self._pending)
            failure, self._failure = self._failure, None
            if failure is not None:
                raise failure
            now = loop.time()
            if now < self._paused_until:
                await self._sleep(self._paused_until - now)
                continue
            wait_us = await self._run(
                _ACQUIRE,
                [self._key, self._pause_key],
                [repr(self._rate), str(self._burst), str(self._ttl_ms)],
            )
            if wait_us <= 0:
                return
            await self._sleep(wait_us / 1_000_000)

    def pause(self, seconds: float) -> None:
        """Hand out no token, here or in any process of the scope, for
        *seconds* from now. Called where no await is possible (as the
        transport does): the pause holds in this process at once and
        reaches Redis in the background, before this budget's next token.
        """
        seconds = max(0.0, seconds)
        loop = asyncio.get_running_loop()
        self._paused_until = max(self._paused_until, loop.time() + seconds)
        task = loop.create_task(self.pause_everywhere(seconds))
        self._pending.add(task)
        task.add_done_callback(self._paused)

    def _paused(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled():
            failure = task.exception()
            if isinstance(failure, SharedBudgetError):
                self._failure = failure

    async def pause_everywhere(self, seconds: float) -> None:
        """Pause every holder of the scope for *seconds* from now (by the
        server's clock); a pause only ever extends.

        Raises:
            SharedBudgetError: Redis cannot be reached or refused the script.
        """
        await self._run(
            _PAUSE, [self._pause_key], [repr(max(0.0, seconds)), str(self._ttl_ms)]
        )

    async def aclose(self) -> None:
        """Close the connections to Redis (a later call opens new ones)."""
        await self._client.aclose()

    async def _run(self, script: str, keys: list[str], args: list[str]) -> int:
        from redis.exceptions import (  # noqa: PLC0415 - optional dependency
            AuthenticationError,
            RedisError,
        )

        problem = None
        try:
            answer = await self._client.eval(script, len(keys), *keys, *args)
        except AuthenticationError:
            problem = "authentication refused"
        except (RedisError, OSError) as exc:
            problem = str(exc).partition("\n")[0] or type(exc).__name__
        if problem is not None:  # outside the except: one message, no traceback
            for secret in url_passwords(self._url):
                problem = problem.replace(secret, "***")
            raise SharedBudgetError(
                f"the shared rate budget's Redis at {mask_url(self._url)} cannot"
                f" be used: {problem}"
            )
        return int(answer)


_BUDGETS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, str, float, int], RedisRateBudget]
] = weakref.WeakKeyDictionary()


def shared_budget(url: str, scope: str, rate: float, burst: int) -> RedisRateBudget:
    """The running loop's budget for *scope* at *url*: one per loop, scope,
    rate and burst, so every pace of one scope in a process shares one
    client."""
    loop = asyncio.get_running_loop()
    budgets = _BUDGETS.setdefault(loop, {})
    key = (url, scope, rate, burst)
    budget = budgets.get(key)
    if budget is None:
        budget = budgets[key] = RedisRateBudget(url, scope, rate, burst)
    return budget
