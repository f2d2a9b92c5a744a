"""How a failed attempt becomes a retry or a connector error.

Every attempt, a request or the opening of a stream, fails in the same
handful of ways: an error status, a timeout, a refused or dropped
connection. Sorting these into "try again" and "give up with this error"
in one place keeps the retry loop blind to aiohttp and keeps every error
message redacted the same way.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Final

import aiohttp

from connector_core._bodies import error_details, excerpt
from connector_core._lines import TooSlowError
from connector_core._retry import parse_retry_after
from connector_core._urls import display_url
from connector_core.exceptions import (
    ConnectorError,
    ConnectorHTTPError,
    ConnectorTimeoutError,
    TransportError,
    error_for_status,
)


if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from yarl import URL

    from connector_core._headers import RequestHeaders
    from connector_core._retry import RetryPolicy


__all__ = [
    "HTTP_OK_MAX",
    "HTTP_OK_MIN",
    "RetryableError",
    "check_status",
    "io_failures",
]

HTTP_OK_MIN: Final = 200
HTTP_OK_MAX: Final = 299
_RETRYABLE_IO: Final = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    ConnectionError,
)
# No connection made at all: retried on the policy's shorter connect budget.
_CONNECT_FAILURES: Final = (aiohttp.ClientConnectorError, ConnectionRefusedError)


class RetryableError(Exception):
    """An attempt failed in a way a later attempt may not.

    Internal: it carries the error to raise if no attempt is left, and
    never escapes the transport.
    """

    def __init__(
        self,
        reason: str,
        final: ConnectorError,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        connect: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.final = final
        self.status = status
        self.retry_after = retry_after
        # No connection could be made at all (refused, no such host).
        self.connect = connect


def check_status(
    response: aiohttp.ClientResponse,
    body: bytes,
    policy: RetryPolicy,
    clock: Callable[[], float],
    headers: RequestHeaders,
) -> None:
    """Return for 2xx; otherwise raise a retryable or a final error."""
    status = response.status
    if HTTP_OK_MIN <= status <= HTTP_OK_MAX:
        return
    retry_after = parse_retry_after(response.headers, now=clock())
    error = _http_error(response, body, retry_after, headers)
    if status not in policy.retry_statuses or _told_not_to_retry(response):
        raise error
    if retry_after is not None and retry_after > policy.max_retry_after:
        # Sleeping that long would hide a quota problem behind a hang.
        raise error
    raise RetryableError(
        f"status {status}", error, status=status, retry_after=retry_after
    )


SHOULD_RETRY_HEADER: Final = "x-should-retry"
"""A server's own verdict on an error: ``false`` says the failure is
deterministic (the same request fails the same way), so retrying it only
spends the rate budget; the retry policy is overruled then."""

REQUEST_ID_HEADERS: Final = ("x-request-id", "request-id")
"""Where servers name the request for their support, in the order read."""


def _told_not_to_retry(response: aiohttp.ClientResponse) -> bool:
    return response.headers.get(SHOULD_RETRY_HEADER, "").strip().lower() == "false"


def _request_id(response: aiohttp.ClientResponse) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = response.headers.get(name)
        if value:
            return value
    return None


def _http_error(
    response: aiohttp.ClientResponse,
    body: bytes,
    retry_after: float | None,
    headers: RequestHeaders,
) -> ConnectorHTTPError:
    message, code = error_details(body, response.reason)
    return error_for_status(
        response.status,
        message,
        retry_after=retry_after,
        method=response.method,
        url=display_url(response.url),
        code=code,
        body=excerpt(body),
        request_id=_request_id(response),
        secrets=headers.secret_values(),
    )


@contextlib.contextmanager
def io_failures(method: str, url: URL, headers: RequestHeaders) -> Iterator[None]:
    """Sort aiohttp's failures into retryable and final connector errors.

    Timeouts are tested first because aiohttp's read timeouts are also
    connection errors, and a caller should be told it was a timeout.
    """
    redact = headers.redact
    try:
        yield
    except TooSlowError as exc:
        where = redact(f"{method} {display_url(url)}")
        error = ConnectorTimeoutError(f"{where}: download stopped after 0 lines, {exc}")
        raise RetryableError("too slow", error) from exc
    except TimeoutError as exc:
        where = redact(f"{method} {display_url(url)}")
        error = ConnectorTimeoutError(f"{where}: no answer in time")
        raise RetryableError("timeout", error) from exc
    except _CONNECT_FAILURES as exc:
        where = redact(f"{method} {display_url(url)}")
        detail = redact(f"{type(exc).__name__}: {exc}")
        refused = TransportError(f"{where}: {detail}")
        raise RetryableError(detail, refused, connect=True) from exc
    except _RETRYABLE_IO as exc:
        where = redact(f"{method} {display_url(url)}")
        detail = redact(f"{type(exc).__name__}: {exc}")
        raise RetryableError(detail, TransportError(f"{where}: {detail}")) from exc
    except aiohttp.ClientError as exc:
        where = redact(f"{method} {display_url(url)}")
        detail = redact(f"{type(exc).__name__}: {exc}")
        raise TransportError(f"{where}: {detail}") from exc
