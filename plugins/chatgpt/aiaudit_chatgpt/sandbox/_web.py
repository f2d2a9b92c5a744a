"""Request parsing and error answers shared by the sandbox's API handlers.

The real APIs answer errors as ``{"error": {message, type, param, code}}``;
so does every handler here, through :class:`ApiError`. Handlers raise it and
the middleware renders it, so no handler builds an error body by hand.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import attrs
from aiohttp import web

from aiaudit_chatgpt.sandbox.poison import dumps


if TYPE_CHECKING:
    from collections.abc import Mapping


__all__ = [
    "JSON_CONTENT_TYPE",
    "STALL_DOWNLOAD",
    "STORAGE_PREFIX",
    "TRUNCATE_DOWNLOAD",
    "ApiError",
    "Publication",
    "SandboxKeys",
    "bearer_token",
    "json_response",
    "parse_bool",
    "parse_int",
    "parse_iso_time",
    "require_key",
]

JSON_CONTENT_TYPE: Final = "application/json"

STORAGE_PREFIX: Final = "/compliance-exports"
"""The path of the signed Logs Platform downloads on the storage origin."""

TRUNCATE_DOWNLOAD: Final = web.RequestKey("aiaudit.truncate_download", str)
"""Request key: the fault injector asks the download handler to cut its body.

The handler announces the file's full ``Content-Length``, sends half and
closes the connection, then sets the key to ``"done"``; the injector sets it
to ``"asked"``."""

STALL_DOWNLOAD: Final = web.RequestKey("aiaudit.stall_download", str)
"""Request key: the download handler sends half the file, then waits for the
client to give up, then sets it to ``"done"``."""


class ApiError(Exception):
    """An error answer in OpenAI's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",  # noqa: A002 - the wire name
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        body = {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }
        return json_response(body, status=self.status, headers=self.headers)


def json_response(
    data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON answer encoded with orjson (the sandbox serves big pages fast)."""
    return web.Response(
        body=dumps(data),
        status=status,
        content_type=JSON_CONTENT_TYPE,
        headers=headers,
    )


@attrs.frozen(kw_only=True)
class SandboxKeys:
    """The keys a sandbox accepts; each one exists to test an answer.

    Attributes:
        admin: A full Admin API key.
        admin_no_audit: An Admin API key without the audit-log permission
            (403 on ``/organization/audit_logs``, usage and costs).
        compliance: A Compliance API key with the read scope.
    """

    admin: str
    admin_no_audit: str
    compliance: str


def bearer_token(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if there is one."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def parse_int(
    query: Mapping[str, str],
    name: str,
    *,
    default: int | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    """An integer query parameter, or a 400 naming it."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(
            400, f"Invalid value for '{name}': expected an integer.", param=name
        ) from None
    if (minimum is not None and value < minimum) or (
        maximum is not None and value > maximum
    ):
        raise ApiError(
            400,
            f"Invalid '{name}': {value}. Expected a value between "
            f"{minimum} and {maximum}.",
            param=name,
            code="integer_out_of_range",
        )
    return value


def parse_bool(query: Mapping[str, str], name: str, *, default: bool = False) -> bool:
    """A boolean query parameter (``true``/``false``), or a 400 naming it."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"true", "1"}:
        return True
    if raw.lower() in {"false", "0"}:
        return False
    raise ApiError(400, f"Invalid value for '{name}': expected a boolean.", param=name)


def parse_iso_time(query: Mapping[str, str], name: str) -> datetime | None:
    """An ISO 8601 time with a zone, or a 400 naming the parameter."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(
            400, f"Invalid '{name}': expected an ISO 8601 time.", param=name
        ) from None
    if value.tzinfo is None:
        raise ApiError(
            400, f"Invalid '{name}': the time must include a timezone.", param=name
        )
    return value.astimezone(UTC)


def _masked(token: str) -> str:
    # The real API quotes a wrong key masked, keeping its ends.
    return f"{token[:8]}...{token[-4:]}" if len(token) > 12 else "***"  # noqa: PLR2004


def require_key(
    request: web.Request,
    *,
    allowed: frozenset[str] | set[str],
    forbidden: frozenset[str] | set[str] = frozenset(),
    permission: str = "the requested resource",
) -> str:
    """Check the bearer key: 401 when unknown, 403 when it lacks *permission*.

    :param allowed: Keys that may call this endpoint.
    :param forbidden: Valid keys of this API that lack the permission.
    :returns: The key.
    """
    token = bearer_token(request)
    if token is None:
        raise ApiError(
            401,
            "You didn't provide an API key. You need to provide your API key in "
            "an Authorization header using Bearer auth (i.e. Authorization: "
            "Bearer YOUR_KEY).",
            code=None,
        )
    if token in forbidden:
        raise ApiError(
            403,
            f"You have insufficient permissions for this operation. Missing "
            f"scopes: {permission}.",
            type="invalid_request_error",
            code="insufficient_permissions",
        )
    if token not in allowed:
        raise ApiError(
            401,
            f"Incorrect API key provided: {_masked(token)}. You can find your "
            "API key at https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )
    return token


class Publication:
    """When the events a sandbox holds back as late become visible.

    The clock starts when the sandbox starts serving; until then, and for
    *delay* seconds after, :meth:`published` is false. Data generated
    without a running server (a test's ground truth) is never late.
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.started: float | None = None

    def start(self) -> None:
        if self.started is None:
            self.started = time.monotonic()

    def published(self) -> bool:
        return self.started is not None and (
            time.monotonic() - self.started >= self.delay
        )
