"""A service account's access tokens, and requests to the API that carry them.

The Reports API takes an OAuth access token for a service account that
acts, through domain-wide delegation, as a Workspace administrator. The
token comes from the JWT bearer grant (RFC 7523): the connector signs an
assertion naming the service account (``iss``), the administrator
(``sub``), the audit scope and the token endpoint (``aud``) with the
account's private key, and posts it to the key file's ``token_uri``. No
refresh token exists; an expired token is replaced by minting a new
assertion.

Why not ``google.oauth2.service_account.Credentials.refresh``: it performs
the exchange through a *blocking* transport (``requests``), which would
stall the event loop every read shares for the length of a round trip, and
its retries, timeouts and error texts would be Google's rather than the
ones every other request of aiaudit has. So google-auth does what it is
best at, signing (``RSASigner`` and ``google.auth.jwt.encode``; no
cryptography is written here), and the exchange goes through the core's
:class:`~connector_core.HTTPTransport` like any other request: the same
timeouts, retries with backoff on 429 and 5xx, proxy handling and
redaction.

Secrets: the private key is read from the file when a token is needed and
held as a :class:`~connector_core.Secret`; assertions and tokens are
Secrets too, and no error text quotes the key file, an assertion or a
token.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Self

import attrs
import orjson
from google.auth import crypt, jwt
from yarl import URL

from connector_core import (
    AuthenticationError,
    ConfigurationError,
    ConnectionPace,
    ConnectorHTTPError,
    HTTPTransport,
    PermissionDeniedError,
    SchemaError,
    Secret,
    get_logger,
)
from connector_core.http import DEFAULT_RETRY_STATUSES, RetryPolicy


if TYPE_CHECKING:
    from collections.abc import Awaitable

    import aiohttp

    from connector_core.http import Params


__all__ = [
    "ACCESS_DENIED",
    "ASSERTION_LIFETIME",
    "EXPIRY_MARGIN",
    "JWT_GRANT",
    "SCOPE",
    "ReportsClient",
    "ServiceAccountAuth",
    "ServiceAccountKey",
    "load_key",
]

log = get_logger(__name__)

SCOPE: Final = "https://www.googleapis.com/auth/admin.reports.audit.readonly"
"""The one scope ``activities.list`` declares ("View audit reports for your
Google Workspace domain")."""

JWT_GRANT: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"

ASSERTION_LIFETIME: Final = 3600
"""Seconds an assertion is valid: Google's maximum (google-auth uses the
same)."""

EXPIRY_MARGIN: Final = 60
"""A token is replaced this many seconds before it expires, so a request
sent with it does not arrive after."""

ACCESS_DENIED: Final = "Access denied. You are not authorized to read activity records."
"""What the API answers (401) when the impersonated administrator's role
lacks the Reports privilege: no new token changes that."""

_RETRIED_GRANT_ERRORS: Final = frozenset(
    {"internal_failure", "server_error", "temporarily_unavailable"}
)
"""Token endpoint errors that a later attempt may not meet (google-auth
retries the same ones); every other error is about the key or the
delegation, and a retry would only repeat it."""

_GRANT_ATTEMPTS: Final = 3

_FIELDS: Final = ("client_email", "private_key", "private_key_id", "token_uri")

_DELEGATION_HELP: Final = (
    "In the Admin console (Security > Access and data control > API controls "
    "> Manage Domain Wide Delegation) a super admin must grant the service "
    "account's client id the scope " + SCOPE + "; a new grant can take up to a "
    "day to apply"
)


@attrs.frozen(kw_only=True)
class ServiceAccountKey:
    """What the connector needs of a service-account key file.

    Attributes:
        path: Where it was read from, for messages.
        client_email: The service account (the assertion's issuer).
        client_id: Its numeric OAuth client id (what delegation is granted
            to), when the file has it.
        private_key_id: The key's id, sent as the assertion's ``kid``.
        private_key: The PEM private key.
        token_uri: Where assertions are exchanged for tokens.
    """

    path: str
    client_email: str
    client_id: str | None
    private_key_id: str
    private_key: Secret
    token_uri: str

    def signer(self) -> crypt.Signer:
        """An RS256 signer of the key, made when needed and not kept: the
        parsed key would otherwise live as long as the connector.

        Raises:
            ConfigurationError: The key is not a PEM RSA private key.
        """
        info = {
            "private_key": self.private_key.reveal(),
            "private_key_id": self.private_key_id,
        }
        make = crypt.RSASigner.from_service_account_info
        try:
            signer: crypt.Signer = make(info)  # type: ignore[no-untyped-call]
        except (ValueError, TypeError, IndexError):
            # Neither the key nor the parser's words about it are repeated.
            raise ConfigurationError(
                f"credentials_file {self.path}: private_key is not a PEM RSA "
                "private key"
            ) from None
        return signer


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_token_uri(path: str, token_uri: str) -> None:
    """An assertion is a credential: it goes over TLS, or to this machine."""
    try:
        url = URL(token_uri)
    except ValueError:
        url = None
    if url is None or url.scheme not in {"http", "https"} or not url.host:
        raise ConfigurationError(f"credentials_file {path}: token_uri is not a URL")
    if url.scheme == "http" and not _is_loopback(url.host):
        raise ConfigurationError(
            f"credentials_file {path}: token_uri must be https (plain http is "
            "accepted only on this machine's loopback)"
        )


def load_key(path: str) -> ServiceAccountKey:
    """Read the service-account key at *path*.

    Raises:
        ConfigurationError: The file is missing, unreadable, not JSON, or not
            a service-account key. The message names the file and what is
            wrong, never what the file holds.
    """
    where = f"credentials_file {path}"
    try:
        with open(path, "rb") as handle:  # noqa: PTH123 - a path given as text
            content = handle.read(1 << 20)
    except FileNotFoundError:
        raise ConfigurationError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise ConfigurationError(f"{where}: is a directory, not a key file") from None
    except PermissionError:
        raise ConfigurationError(
            f"{where}: cannot be read (permission denied)"
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"{where}: cannot be read ({exc.strerror})") from None
    try:
        info = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise ConfigurationError(f"{where}: is not a JSON key file") from None
    if not isinstance(info, Mapping) or info.get("type") != "service_account":
        raise ConfigurationError(
            f"{where}: is not a service-account key (its type is not "
            "service_account; download a JSON key of the service account in "
            "the Google Cloud console)"
        )
    missing = [f for f in _FIELDS if not isinstance(info.get(f), str) or not info[f]]
    if missing:
        raise ConfigurationError(
            f"{where}: the service-account key lacks {', '.join(missing)}"
        )
    client_id = info.get("client_id")
    _check_token_uri(path, info["token_uri"])
    return ServiceAccountKey(
        path=path,
        client_email=info["client_email"],
        client_id=client_id if isinstance(client_id, str) and client_id else None,
        private_key_id=info["private_key_id"],
        private_key=Secret(info["private_key"]),
        token_uri=info["token_uri"],
    )


@attrs.frozen
class _Grant:
    """A token and when (epoch seconds) to stop using it."""

    token: Secret
    renew_at: float


def _grant_error(body: str) -> tuple[str | None, str | None]:
    """The ``error`` and ``error_description`` of a token endpoint's answer."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(document, Mapping):
        return None, None
    error, description = document.get("error"), document.get("error_description")
    return (
        error if isinstance(error, str) else None,
        description if isinstance(description, str) else None,
    )


def _expires_in(value: object) -> float | None:
    """``expires_in`` in seconds; Google sends it as a number or as text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if number > 0 else None


class ServiceAccountAuth:
    """Access tokens of one service account acting as one administrator.

    A token is minted on first use and reused until :data:`EXPIRY_MARGIN`
    seconds before it expires; concurrent readers wait for the one exchange
    in flight. :meth:`invalidate` drops a token the API refused, so the
    next :meth:`token` mints another.

    *clock* (epoch seconds) and *sleep* are injectable for tests.
    """

    def __init__(
        self,
        credentials_file: str,
        subject: str,
        *,
        timeout: float = 60.0,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.credentials_file = credentials_file
        self.subject = subject
        self._timeout = timeout
        self._session = session
        self._clock = clock
        self._sleep = sleep
        self._key: ServiceAccountKey | None = None
        self._grant: _Grant | None = None
        self._lock: asyncio.Lock | None = None
        self.exchanges = 0

    def __repr__(self) -> str:
        return (
            f"ServiceAccountAuth(credentials_file={self.credentials_file!r}, "
            f"subject={self.subject!r})"
        )

    @property
    def key(self) -> ServiceAccountKey:
        """The key file, read once.

        Raises:
            ConfigurationError: It cannot be used (see :func:`load_key`).
        """
        if self._key is None:
            self._key = load_key(self.credentials_file)
        return self._key

    async def token(self) -> Secret:
        """A valid access token, minted when none is or the last expired.

        Raises:
            ConfigurationError: The key file cannot be used.
            AuthenticationError: The token endpoint refused the assertion;
                the message says what to fix.
        """
        grant = self._grant
        if grant is not None and self._clock() < grant.renew_at:
            return grant.token
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            grant = self._grant
            if grant is None or self._clock() >= grant.renew_at:
                grant = self._grant = await self._exchange()
            return grant.token

    def invalidate(self, token: Secret) -> None:
        """Forget *token* (the API refused it); a newer one stays."""
        if self._grant is not None and self._grant.token == token:
            self._grant = None

    def assertion(self) -> Secret:
        """A signed JWT bearer assertion for the audit scope, valid
        :data:`ASSERTION_LIFETIME` seconds."""
        key = self.key
        now = int(self._clock())
        claims = {
            "iss": key.client_email,
            "sub": self.subject,
            "scope": SCOPE,
            "aud": key.token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        }
        signer = key.signer()
        signed: bytes = jwt.encode(signer, claims, key_id=key.private_key_id)  # type: ignore[no-untyped-call]
        return Secret(signed.decode("ascii"))

    async def _exchange(self) -> _Grant:
        key = self.key
        for attempt in range(1, _GRANT_ATTEMPTS + 1):
            assertion = self.assertion()
            form = {"grant_type": JWT_GRANT, "assertion": assertion.reveal()}
            started = self._clock()
            try:
                data = await self._post(key.token_uri, form)
            except ConnectorHTTPError as exc:
                error, description = _grant_error(exc.body)
                if error in _RETRIED_GRANT_ERRORS and attempt < _GRANT_ATTEMPTS:
                    await self._sleep(float(attempt))
                    continue
                raise self._refused(exc, error, description, assertion) from None
            self.exchanges += 1
            return self._granted(data, started)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _post(self, token_uri: str, form: Mapping[str, str]) -> Any:
        """POST the form to the token endpoint through the core's transport
        (its timeouts, proxy rules and redaction). Every method is retried on
        429 and 5xx: minting a token twice is harmless.
        """
        async with HTTPTransport(
            token_uri,
            timeout=self._timeout,
            session=self._session,
            retry=RetryPolicy(retry_statuses=DEFAULT_RETRY_STATUSES),
        ) as http:
            response = await http.request(
                "POST",
                token_uri,
                form=form,
            )
        return response.data

    def _granted(self, data: object, started: float) -> _Grant:
        key = self.key
        if not isinstance(data, Mapping):
            raise SchemaError(
                f"token endpoint {key.token_uri}: the answer is not an object"
            )
        token = data.get("access_token")
        lifetime = _expires_in(data.get("expires_in"))
        if not isinstance(token, str) or not token:
            raise SchemaError(
                f"token endpoint {key.token_uri}: the answer has no access_token"
            )
        if lifetime is None:
            raise SchemaError(
                f"token endpoint {key.token_uri}: the answer has no usable expires_in"
            )
        # Counted from before the request: the token's life began at the
        # server while the answer travelled.
        renew_at = started + max(lifetime - EXPIRY_MARGIN, lifetime / 2)
        log.debug("auth.token_minted", expires_in=lifetime, subject=self.subject)
        return _Grant(token=Secret(token), renew_at=renew_at)

    def _refused(
        self,
        exc: ConnectorHTTPError,
        error: str | None,
        description: str | None,
        assertion: Secret,
    ) -> ConnectorHTTPError:
        """The token endpoint's refusal, said with what to fix."""
        key = self.key
        status = exc.status
        said = f"{error}: {description}" if error and description else error or str(exc)
        who = f"service account {key.client_email}"
        if key.client_id:
            who += f" (client id {key.client_id})"
        if error == "unauthorized_client":
            message = (
                f"the token endpoint refused the {who} acting as {self.subject} "
                f"({said}): domain-wide delegation is not granted for the scope. "
                + _DELEGATION_HELP
            )
        elif error == "invalid_grant":
            message = (
                f"the token endpoint refused the assertion of the {who} acting as "
                f"{self.subject} ({said}): check that {self.subject} is an "
                "existing user of the domain whose admin role includes the "
                "Reports privilege, that the key (id "
                f"{key.private_key_id}) is not deleted or disabled in the Google "
                "Cloud console, and that this machine's clock is right"
            )
        elif error is not None:
            message = f"the token endpoint refused the {who} ({said})"
        else:
            return exc
        return AuthenticationError(
            status,
            message,
            code=error,
            method="POST",
            url=key.token_uri,
            secrets=[assertion.reveal()],
        )


def _said(exc: ConnectorHTTPError) -> str:
    """What the API said, without the status and URL the error adds."""
    text = str(exc)
    for mark in ("): ", ": "):
        head, found, rest = text.partition(mark)
        if found and head.startswith("HTTP "):
            return rest
    return text


class ReportsClient:
    """GET requests to the Reports API with a service account's token.

    A transport is made per token (its ``Authorization`` header, a
    credential the transport redacts and keeps off redirects), all sharing
    one pace: the requests in flight and the rate budget. A request the API
    answers 401 gets one new token and is sent again, unless the answer is
    :data:`ACCESS_DENIED` (the administrator's role, which no token
    changes); a second 401 is final. Close it with :meth:`aclose`.
    """

    def __init__(
        self,
        auth: ServiceAccountAuth,
        *,
        base_url: str,
        timeout: float,
        pace: ConnectionPace,
        session: aiohttp.ClientSession | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.auth = auth
        self._base_url = base_url
        self._timeout = timeout
        self._pace = pace
        self._session = session
        self._retry = retry
        self._current: tuple[Secret, HTTPTransport] | None = None
        self._retired: list[HTTPTransport] = []

    def __repr__(self) -> str:
        return f"ReportsClient(base_url={self._base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        transports = self._retired
        if self._current is not None:
            transports.append(self._current[1])
        self._current, self._retired = None, []
        for transport in transports:
            await transport.aclose()

    def _transport(self, token: Secret) -> HTTPTransport:
        current = self._current
        if current is not None and current[0] == token:
            return current[1]
        if current is not None:
            # Other requests may still be in flight on it: closed at the end.
            self._retired.append(current[1])
        transport = HTTPTransport(
            self._base_url,
            api_key=token,
            timeout=self._timeout,
            session=self._session,
            concurrency=self._pace.concurrency,
            budget=self._pace.budget,
            retry=self._retry,
        )
        self._current = (token, transport)
        return transport

    async def get_json(self, path: str, *, params: Params | None = None) -> Any:
        """GET *path* and return its JSON.

        Raises:
            PermissionDeniedError: The administrator may not read the
                reports (401 Access denied, or 403); the message says what
                to fix.
            AuthenticationError: Tokens are refused, or cannot be minted.
            ConfigurationError: The key file cannot be used.
        """
        token = await self.auth.token()
        try:
            return await self._transport(token).get_json(path, params=params)
        except PermissionDeniedError as exc:
            raise self._forbidden(exc) from None
        except AuthenticationError as exc:
            if ACCESS_DENIED in str(exc):
                raise self._denied(exc) from None
            log.debug("auth.token_refused", status=exc.status)
            self.auth.invalidate(token)
        token = await self.auth.token()
        try:
            return await self._transport(token).get_json(path, params=params)
        except PermissionDeniedError as exc:
            raise self._forbidden(exc) from None
        except AuthenticationError as exc:
            if ACCESS_DENIED in str(exc):
                raise self._denied(exc) from None
            self.auth.invalidate(token)
            raise

    def _denied(self, exc: AuthenticationError) -> PermissionDeniedError:
        return PermissionDeniedError(
            exc.status,
            f"{_said(exc)} The subject {self.auth.subject} must be an "
            "administrator whose role includes the Reports privilege (Admin "
            "console: Account > Admin roles), and the service account acts as "
            "them through domain-wide delegation",
            code=exc.code,
            url=exc.url,
        )

    def _forbidden(self, exc: PermissionDeniedError) -> PermissionDeniedError:
        return PermissionDeniedError(
            exc.status,
            f"{_said(exc)}: the subject {self.auth.subject} may lack the "
            "Reports privilege, or the Admin SDK API may not be enabled in the "
            "service account's Google Cloud project",
            code=exc.code,
            url=exc.url,
        )
