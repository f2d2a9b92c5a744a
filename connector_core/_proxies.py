"""The proxy the environment names, looked up once per origin.

HTTP(S)_PROXY and NO_PROXY are how corporate networks route outbound API
traffic, so a session the transport owns honours them. aiohttp's
``trust_env`` would look them up (and a ``.netrc`` entry for the target,
which would clash with our ``Authorization``) in a worker thread on every
request; the answer only depends on the origin and the environment, so it
is asked for once per origin here.
"""

from __future__ import annotations

import asyncio
import base64
import netrc
import os
import urllib.request
from pathlib import Path
from typing import Final, TypeAlias

from multidict import CIMultiDict
from yarl import URL

from connector_core._logging import get_logger
from connector_core._urls import origin


__all__ = ["NO_PROXY", "Proxy", "ProxyCache"]

# The transport's events, under the logger name hosts configure for it.
log = get_logger("connector_core.http")

Proxy: TypeAlias = tuple[URL | None, "CIMultiDict[str] | None"]
NO_PROXY: Final[Proxy] = (None, None)


class ProxyCache:
    """The environment's proxy for each origin one transport talks to.

    Environment changes after the first request to an origin are not seen:
    the price of not looking on every request.
    """

    __slots__ = ("_known",)

    def __init__(self) -> None:
        self._known: dict[tuple[str, str, int | None], Proxy] = {}

    async def lookup(self, url: URL) -> Proxy:
        """The proxy for *url*'s origin, looked up in a thread the first time."""
        key = origin(url)
        proxy = self._known.get(key)
        if proxy is None:
            proxy = await asyncio.to_thread(_environment_proxy, url)
            self._known[key] = proxy
        return proxy


def _environment_proxy(url: URL) -> Proxy:
    """The proxy the environment names for *url*, as ``trust_env`` would pick it.

    ``HTTP_PROXY``/``HTTPS_PROXY`` by the target's scheme, ``NO_PROXY``
    honoured, credentials from the proxy URL or else from ``.netrc`` (or
    ``NETRC``) for the proxy's host. aiohttp's ``trust_env`` does these
    look-ups (and a ``.netrc`` read for the target host) in a worker thread
    on every request, about a sixth of a page's cost at loopback speed; the
    answer only depends on the origin and the environment, so the transport
    asks once per origin. This blocks (it may read a file): call it in a
    thread.
    """
    host = url.host
    if host is None or urllib.request.proxy_bypass(host):
        return NO_PROXY
    named = urllib.request.getproxies().get(url.scheme)
    if not named:
        return NO_PROXY
    try:
        proxy = URL(named)
    except ValueError:
        log.warning("http.proxy_ignored", reason="not a URL", scheme=url.scheme)
        return NO_PROXY
    if proxy.scheme != "http" or not proxy.host:
        # aiohttp talks to a proxy in plain HTTP (CONNECT for https targets).
        log.warning(
            "http.proxy_ignored", reason="only http:// proxies", scheme=url.scheme
        )
        return NO_PROXY
    if proxy.user is not None:
        credentials: tuple[str, str] | None = (proxy.user, proxy.password or "")
    else:
        credentials = _netrc_credentials(proxy.host or "")
    proxy = proxy.with_user(None)
    if credentials is None:
        return proxy, None
    token = base64.b64encode(":".join(credentials).encode()).decode("ascii")
    return proxy, CIMultiDict({"Proxy-Authorization": f"Basic {token}"})


def _netrc_credentials(host: str) -> tuple[str, str] | None:
    path = os.environ.get("NETRC") or Path("~/.netrc").expanduser()
    try:
        entry = netrc.netrc(path).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return None
    if entry is None:
        return None
    login, account, password = entry
    return login or account or "", password or ""
