"""The URLs the transport builds, shows and accepts.

Three rules about URLs hold for every request, and each is easy to get
subtly wrong in one place: query parameters are flattened the way APIs
expect, a URL that reaches a log line or an error loses its query and user
info (pre-signed links carry their signature there), and a base URL that
would leak credentials (user info in it, or plain http to a remote host) is
refused before anything is sent.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from typing import Final, TypeAlias

from yarl import URL

from connector_core.exceptions import ConfigurationError


__all__ = [
    "HTTP_SCHEMES",
    "ParamScalar",
    "ParamValue",
    "Params",
    "display_url",
    "encode_params",
    "origin",
    "parse_base_url",
    "refuse_plain_http",
]

ParamScalar: TypeAlias = str | int | float | bool | None
ParamValue: TypeAlias = ParamScalar | list[ParamScalar] | tuple[ParamScalar, ...]
Params: TypeAlias = Mapping[str, ParamValue] | Iterable[tuple[str, ParamValue]]

HTTP_SCHEMES: Final = ("http", "https")
_INSECURE_HTTP_VARIABLE: Final = "AIAUDIT_ALLOW_INSECURE_HTTP"


def encode_params(params: Params | None) -> list[tuple[str, str]]:
    """Flatten query parameters into the ordered pairs that go on the wire.

    A list or tuple repeats its key, because that is how array parameters
    travel; the caller picks the name (``event_types[]`` or ``emails``), as
    APIs disagree. Booleans become ``true``/``false`` rather than Python's
    ``True``, which no API accepts. ``None`` means "not given" and is
    dropped, so callers can pass optional filters without branching.
    """
    if params is None:
        return []
    items = params.items() if isinstance(params, Mapping) else params
    pairs: list[tuple[str, str]] = []
    for key, value in items:
        values = value if isinstance(value, list | tuple) else (value,)
        pairs.extend((key, _param_text(item)) for item in values if item is not None)
    return pairs


def _param_text(value: str | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def display_url(url: URL) -> str:
    """The URL as it may appear in logs and errors.

    The query goes because pre-signed URLs carry their signature there, and
    user info goes because it is a credential.
    """
    return str(url.with_user(None).with_query(None).with_fragment(None))


def origin(url: URL) -> tuple[str, str, int | None]:
    # yarl keeps an explicit default port in origin(), so https://h:443 and
    # https://h would differ there; the effective port makes them equal.
    return (url.scheme.lower(), (url.host or "").lower(), url.port)


def parse_base_url(base_url: str) -> URL:
    """Parse and check a transport's base URL.

    Errors show the URL without user info or query (where credentials hide)
    or, when it cannot even be parsed, not at all.
    """
    try:
        base = URL(base_url.rstrip("/"))
    except (ValueError, TypeError) as exc:
        raise ConfigurationError("base_url is not a URL") from exc
    if base.scheme not in HTTP_SCHEMES or not base.host:
        shown = f", not {base.scheme}:" if base.scheme else ""
        raise ConfigurationError(f"base_url must be an http(s) URL with a host{shown}")
    if base.raw_user is not None or base.raw_password is not None:
        raise ConfigurationError(
            f"base_url {display_url(base)} holds user info (user:password@): "
            "give the key as the connector's API key instead"
        )
    return base


def _is_loopback(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_plain_http(base: URL) -> None:
    """Refuse to send credentials in clear to a host that is not loopback.

    Anyone on the path could read the key off a plain-http request. A local
    test server or a TLS-terminating sidecar on loopback is fine; anything
    else needs an explicit opt-in, in code or by the operator.
    """
    if base.scheme != "http" or _is_loopback(base.host or ""):
        return
    if os.environ.get(_INSECURE_HTTP_VARIABLE) == "1":
        return
    raise ConfigurationError(
        f"base_url is plain http to {base.host}, which would send the "
        "credentials unencrypted: use https, or allow it explicitly with "
        f"allow_insecure_http=True or {_INSECURE_HTTP_VARIABLE}=1"
    )
