"""Retry arithmetic for the HTTP transport, kept free of I/O.

Deciding *how long* to wait is pure computation on a status, a few headers
and a clock reading. Keeping it here, away from sockets and sessions, means
every edge of it (HTTP dates in the past, absurd ``Retry-After`` values,
overflowing exponents) can be tested without a network or an event loop.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import random
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Final

import attrs


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from connector_core._failures import RetryableError


__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "RetryPolicy",
    "parse_retry_after",
    "retry_policy_override",
]

DEFAULT_RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})

# 2**62 seconds is already far beyond any cap; a larger exponent would only
# risk an OverflowError for no change in the result.
_MAX_EXPONENT: Final = 62


def _status_set(statuses: Iterable[int]) -> frozenset[int]:
    return frozenset(statuses)


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 0:  # also rejects NaN
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _optional_non_negative(
    _: object, attribute: attrs.Attribute[float], value: float | None
) -> None:
    if value is not None:
        _non_negative(_, attribute, value)


@attrs.frozen
class RetryPolicy:
    """How long and how patiently a transport retries.

    A frozen value so one policy can be shared by many transports and tests
    can compare policies. The defaults follow what the OpenAI API asks of
    its clients: retry throttling and server failures, back off
    exponentially, and refuse to wait longer than two minutes on a
    ``Retry-After`` (a longer wait means a quota problem a person must see,
    not a blip to sleep through).

    Retries are limited by time, not by a count: at a 30 % failure rate a
    run of five failures in a row comes up every few hundred requests, so
    any small count eventually stops a long stream, while five minutes of
    failing is an outage worth reporting. The budget covers the attempts
    themselves and every wait between them; a wait that would end past it
    is not begun, the last error is raised at once instead.

    Attributes:
        max_elapsed: Seconds from the start of the first attempt after
            which no retry is begun; ``None`` for no time limit.
        max_connect_elapsed: The shorter budget of a run of failures to
            connect at all (refused, no such host): those mostly mean a
            wrong URL or a service that is down, and a few seconds ride out
            a restart, while minutes would only delay the error a person
            needs to see. ``None`` leaves them to ``max_elapsed``.
        max_attempts: An optional cap on tries including the first; 1
            disables retries. ``None`` (the default) leaves only the time
            budget.
        backoff_base: The backoff ceiling of the first retry, in seconds.
        backoff_max: The ceiling the exponential backoff never exceeds.
        max_retry_after: The longest server-requested wait we honour;
            a longer ``Retry-After`` fails at once instead of sleeping.
        retry_statuses: The HTTP statuses worth another attempt.
        jitter: Draw each backoff uniformly below its ceiling ("full
            jitter"), so many clients throttled together do not return
            together. Turn off only for deterministic tests.
    """

    max_attempts: int | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(
            [attrs.validators.instance_of(int), attrs.validators.ge(1)]
        ),
    )
    backoff_base: float = attrs.field(default=0.5, validator=_non_negative)
    backoff_max: float = attrs.field(default=30.0, validator=_non_negative)
    max_retry_after: float = attrs.field(default=120.0, validator=_non_negative)
    retry_statuses: frozenset[int] = attrs.field(
        default=DEFAULT_RETRY_STATUSES, converter=_status_set
    )
    jitter: bool = True
    max_elapsed: float | None = attrs.field(
        default=300.0, validator=_optional_non_negative
    )

    max_connect_elapsed: float | None = attrs.field(
        default=10.0, validator=_optional_non_negative
    )

    def allows(
        self,
        attempts: int,
        elapsed: float,
        delay: float,
        *,
        connecting: float | None = None,
    ) -> bool:
        """Whether another attempt may follow *attempts* made so far.

        *elapsed* is the time spent since the first attempt began and
        *delay* the wait before the next one: a retry whose wait would end
        past ``max_elapsed`` is refused rather than slept into. *connecting*
        is the time since the current run of failures to connect began, if
        the last failure was one; it is held to ``max_connect_elapsed``.
        """
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return False
        if (
            connecting is not None
            and self.max_connect_elapsed is not None
            and connecting + delay > self.max_connect_elapsed
        ):
            return False
        return self.max_elapsed is None or elapsed + delay <= self.max_elapsed

    def backoff(
        self,
        retry_index: int,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> float:
        """The wait before retry number *retry_index* (0 for the first retry).

        Used only when the server did not say how long to wait.
        """
        exponent = min(max(retry_index, 0), _MAX_EXPONENT)
        ceiling = min(self.backoff_max, self.backoff_base * 2.0**exponent)
        if not self.jitter:
            return ceiling
        return uniform(0.0, ceiling)


def parse_retry_after(headers: Mapping[str, str], *, now: float) -> float | None:
    """The wait in seconds the server asked for, or ``None`` if it did not say.

    *headers* must look names up case-insensitively (aiohttp's headers do).
    *now* is wall-clock time in epoch seconds, needed because ``Retry-After``
    may be an HTTP date. ``retry-after-ms`` wins when present because it is
    the more precise of the two. A date in the past means "now", while a
    value we cannot read is ignored, so the caller falls back to its own
    backoff rather than guessing.
    """
    millis = _parse_seconds(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _parse_seconds(value)
    if seconds is not None:
        return seconds
    return _parse_http_date(value, now)


def _parse_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    # inf is kept on purpose: "wait forever" must trip the cap, not vanish.
    if math.isnan(seconds) or seconds < 0:
        return None
    return seconds


def _parse_http_date(value: str, now: float) -> float | None:
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # RFC 7231 dates are always GMT; "-0000" parses as naive.
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


_RETRY_OVERRIDE: contextvars.ContextVar[RetryPolicy | None] = contextvars.ContextVar(
    "aiaudit_retry_override", default=None
)


@contextlib.contextmanager
def retry_policy_override(policy: RetryPolicy) -> Iterator[None]:
    """Make transports created inside the block use *policy*.

    A test that injects faults wants to see a connector's first failure, not
    its fifth retry; the connector builds its transports deep inside, with
    the policy it chose. Inside this block (and in tasks started from it)
    every new :class:`HTTPTransport` uses *policy* instead, whatever its
    ``retry`` argument; a policy passed to a single request still applies.
    The conformance suite runs its fault scenarios this way.
    """
    token = _RETRY_OVERRIDE.set(policy)
    try:
        yield
    finally:
        _RETRY_OVERRIDE.reset(token)


@attrs.define
class _Attempts:
    """One request's attempts so far: how many, since when, how long it was
    told to wait, and the current run of failures to connect."""

    started: float
    number: int = 0
    waited: float = 0.0
    refused: int = 0
    refused_since: float = 0.0
    resume_at: float = -1.0  # when the wait before this attempt ended

    def delay(
        self,
        failure: RetryableError,
        policy: RetryPolicy,
        *,
        began: float,
        elapsed: float,
    ) -> float:
        """Seconds to wait before the next attempt; raises the failure's
        final error when the policy allows no more."""
        connecting = None
        if failure.connect:
            if not self.refused:
                self.refused_since = began
            self.refused += 1
            connecting = elapsed - self.refused_since
        else:
            self.refused = 0
        delay = failure.retry_after
        if delay is None:
            # A run of refusals backs off from the start: its own budget is
            # short, and earlier failures were another matter.
            delay = policy.backoff(
                self.refused - 1 if self.refused else self.number - 1
            )
        if not policy.allows(self.number, elapsed, delay, connecting=connecting):
            raise failure.final from failure.__cause__
        return delay
