"""The exceptions every connector raises.

A host application catches one root, :class:`ConnectorError`, and decides what
to do from the subclass alone: retry later (:class:`RateLimitedError`,
:class:`ServerError`, :class:`TransportError`), ask a person for new
credentials (:class:`AuthenticationError`), fix its configuration
(:class:`ConfigurationError`) or report a connector bug (:class:`SchemaError`).
One more, :class:`RecordRefusedError`, is raised and caught inside a read, so
a malformed record is quarantined rather than fatal.
Plugins raise these, never their own roots, so a host never has to know which
plugin it is talking to.

HTTP statuses are mapped to classes in exactly one place,
:func:`error_for_status`. Messages never carry a secret: every constructor that
takes text from the outside world runs it through :func:`redact` with the
secrets the caller knows about.
"""

from __future__ import annotations

import base64
import functools
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus


if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "CheckpointError",
    "ConfigurationError",
    "ConnectionBusyError",
    "ConnectorError",
    "ConnectorHTTPError",
    "ConnectorTimeoutError",
    "NotFoundError",
    "NotSupportedError",
    "ParameterError",
    "PermissionDeniedError",
    "PluginError",
    "RateLimitedError",
    "RecordRefusedError",
    "SchemaError",
    "ServerError",
    "StoreError",
    "TransportError",
    "UnknownPlatformError",
    "error_for_status",
    "redact",
]

REDACTED = "[REDACTED]"

# Shorter strings would redact ordinary words; real keys are far longer.
_MIN_SECRET_LENGTH = 6


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of each secret in *text*, in any form.

    Servers echo what they received, and not always verbatim: an error body
    may quote the key upper-cased, URL-encoded, or inside a ``Basic``
    header as base64 (alone, or as ``user:key``). So each secret is looked
    for as itself and URL-encoded, case-insensitively, and as base64
    (standard and URL-safe alphabets, with or without padding, and at each
    of the three byte alignments it can take inside a longer encoded
    value). Longer forms are replaced first, so a key that contains another
    key is never left half-visible.
    """
    kept = tuple(sorted({s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH}))
    if not kept:
        return text
    return _pattern(kept).sub(REDACTED, text)


@functools.lru_cache(maxsize=32)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str]:
    forms: set[str] = set()
    for secret in secrets:
        forms.update(_forms(secret))
    ordered = sorted(
        (form for form in forms if len(form) >= _MIN_SECRET_LENGTH),
        key=len,
        reverse=True,
    )
    return re.compile("|".join(map(re.escape, ordered)), re.IGNORECASE)


def _forms(secret: str) -> set[str]:
    raw = secret.encode()
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}
    for alignment in range(3):
        # The characters that depend on the secret's bytes alone when it
        # sits *alignment* bytes into a longer value: the same in every
        # encoding of that value, whatever surrounds the secret.
        encoded = base64.b64encode(b"\0" * alignment + raw).decode("ascii")
        first = -(-alignment * 8 // 6)
        last = (alignment + len(raw)) * 8 // 6
        core = encoded[first:last]
        forms.update((core, core.translate(_URL_SAFE)))
    whole = base64.b64encode(raw).decode("ascii")
    for padded in (whole, whole.translate(_URL_SAFE)):
        forms.update((padded, padded.rstrip("=")))
    return forms


_URL_SAFE = str.maketrans("+/", "-_")


class ConnectorError(Exception):
    """The root of every error a connector or the framework raises."""


class ConfigurationError(ConnectorError):
    """The configuration, a CLI argument or an environment variable is wrong.

    Not retryable: a person has to change something first.
    """


class ParameterError(ConfigurationError):
    """A call was given a value it cannot use.

    The message names the parameter as the call does (``since``), never a
    command-line flag: a host calling the library has none. A front end
    with names of its own for the parameters (the CLI's ``--since``) words
    the message with them through :meth:`worded`.

    Attributes:
        parameters: The parameters the message names, as the call does.
        details: The other values the message quotes, by name.
    """

    def __init__(
        self, template: str, *, parameters: Iterable[str], **details: Any
    ) -> None:
        """*template* is the message, a :meth:`str.format` string whose
        fields are the *parameters* (replaced by their names) and the
        *details*."""
        self.template = template
        self.parameters = tuple(parameters)
        self.details = details
        super().__init__(self.worded({}))

    def worded(self, names: Mapping[str, str]) -> str:
        """The message with each parameter called what *names* calls it
        (by its own name when *names* does not)."""
        called = {name: names.get(name, name) for name in self.parameters}
        return self.template.format(**self.details, **called)


class UnknownPlatformError(ConfigurationError):
    """No loaded plugin provides the requested platform."""

    def __init__(self, platform: str, known: Iterable[str]) -> None:
        self.platform = platform
        self.known = tuple(sorted(known))
        listed = ", ".join(self.known) or "none"
        super().__init__(
            f"no connector for platform {platform!r} (loaded platforms: {listed})"
        )


class PluginError(ConnectorError):
    """A plugin failed to import, to register, or broke the hook contract."""

    def __init__(self, plugin: str, message: str) -> None:
        self.plugin = plugin
        super().__init__(f"plugin {plugin!r}: {message}")


class StoreError(ConnectorError):
    """The store cannot be opened, migrated, read or written."""


class ConnectionBusyError(StoreError):
    """Another process is syncing this connection right now.

    Attributes:
        connection: The connection.
        holder: Who holds its lock, when the store can tell.
        parameters: ``("wait",)``: the parameter that waits instead, which
            :meth:`worded` names as its caller calls it.
    """

    parameters = ("wait",)

    def __init__(self, connection: str, holder: str | None = None) -> None:
        self.connection = connection
        self.holder = holder
        super().__init__(self.worded({}))

    def worded(self, names: Mapping[str, str]) -> str:
        """The message with the parameter ``wait`` called what *names* calls
        it (``wait=True`` when it does not)."""
        who = f" ({self.holder})" if self.holder else ""
        return (
            f"connection {self.connection!r} is being synced by another "
            f"process{who}; wait for it to finish, or pass "
            f"{names.get('wait', 'wait=True')}"
        )


class NotSupportedError(ConnectorError):
    """The connector does not implement the requested operation."""

    def __init__(self, platform: str, operation: str) -> None:
        self.platform = platform
        self.operation = operation
        super().__init__(f"the {platform} connector does not support {operation}")


class TransportError(ConnectorError):
    """The request never got an HTTP answer: DNS, refused, reset, TLS.

    Raised only after the transport's retries are spent.
    """


class ConnectorTimeoutError(TransportError):
    """No complete answer arrived within the configured timeout."""


class SchemaError(ConnectorError):
    """An answer arrived but is not what the API promises.

    Raised for undecodable bodies and for pages whose structure is wrong.
    Single malformed *records* are quarantined instead, so one bad record
    never costs the good ones around it.
    """


class RecordRefusedError(ConnectorError):
    """One record cannot be normalized; it is quarantined, never lost.

    A normalizer raises it with a reason a person can act on (``timestamp
    has no UTC offset``) and whatever identity it could read;
    :func:`~connector_core.streams.normalize_or_quarantine` turns it into a
    :class:`~connector_core.streams.QuarantinedRecord` that keeps the raw
    record, and the read goes on. It never reaches a host: a reader that
    lets one escape has a bug. Code that learns the record's identity after
    the refusal was raised (deeper down) may set ``native_id`` and
    ``native_type`` on it before re-raising.

    Attributes:
        reason: Why the record was refused, for a person.
        native_id: The record's id, when it had a readable one.
        native_type: The record's type, when it had a readable one.
    """

    def __init__(
        self,
        reason: str,
        *,
        native_id: str | None = None,
        native_type: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.native_id = native_id
        self.native_type = native_type


class ConnectorHTTPError(ConnectorError):
    """The API answered with an error status.

    Attributes:
        status: The HTTP status code.
        method: The request method.
        url: The request URL without its query string.
        code: The API's machine-readable error code, when it sent one.
        body: The start of the response body, redacted.
        request_id: The API's request id header, for support tickets.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        method: str = "GET",
        url: str = "",
        code: str | None = None,
        body: str = "",
        request_id: str | None = None,
        secrets: Iterable[str | None] = (),
    ) -> None:
        self.status = status
        self.method = method
        self.url = redact(url, secrets)
        self.code = code
        self.body = redact(body, secrets)
        self.request_id = request_id
        message = redact(message, secrets)
        where = f" ({method} {self.url})" if self.url else ""
        super().__init__(f"HTTP {status}{where}: {message}")


class BadRequestError(ConnectorHTTPError):
    """The API rejected the request itself (400, 409, 422 and other 4xx)."""


class AuthenticationError(ConnectorHTTPError):
    """The credentials were refused (401) or lack a permission (403)."""


class PermissionDeniedError(AuthenticationError):
    """The credentials are valid but not allowed to do this (403)."""


class NotFoundError(ConnectorHTTPError):
    """The resource does not exist, or the base URL is wrong (404)."""


class RateLimitedError(ConnectorHTTPError):
    """The API asked us to slow down for longer than we are allowed to wait.

    Attributes:
        retry_after: The wait the API asked for, in seconds, if it said.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        retry_after: float | None = None,
        **kwargs: Any,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(status, message, **kwargs)


class ServerError(ConnectorHTTPError):
    """The API failed (5xx) and kept failing through every retry."""


def error_for_status(
    status: int,
    message: str,
    *,
    retry_after: float | None = None,
    **kwargs: Any,
) -> ConnectorHTTPError:
    """Build the exception for an HTTP error *status*.

    This is the single place where statuses become classes.
    """
    if status == 429:  # noqa: PLR2004
        return RateLimitedError(status, message, retry_after=retry_after, **kwargs)
    cls = _STATUS_CLASSES.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else BadRequestError  # noqa: PLR2004
    return cls(status, message, **kwargs)


_STATUS_CLASSES: Mapping[int, type[ConnectorHTTPError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
}


class CheckpointError(SchemaError):
    """A stream's stored checkpoint cannot be read: not JSON, or not a shape
    its reader knows (written by an older version, or edited by hand).

    Readers raise it instead of guessing a resume point, since a guess either
    skips events or reads the stream's whole history. The sync engine
    reports it for that stream alone, with the command that clears the
    checkpoint; the next sync then reads the stream again from ``--since``,
    and the events already stored are recognised by their ids.

    Attributes:
        stream: The stream whose checkpoint is unreadable.
        reason: What is wrong with it (never the checkpoint itself).
    """

    def __init__(self, stream: str, reason: str) -> None:
        self.stream = stream
        self.reason = reason
        super().__init__(f"the checkpoint of stream {stream!r} is unreadable: {reason}")
