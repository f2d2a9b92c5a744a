"""Store URLs without their passwords.

A store URL may carry a PostgreSQL password; every message and repr shows it
masked, and an error quoting a piece of the URL must not repeat it. Kept
apart from the drivers because the CLI masks URLs too, without opening a
store.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote


__all__ = ["mask_url", "url_passwords"]


_MASK: Final = "***"
_QUERY_SECRET = re.compile(r"(?i)([?&](?:password|sslpassword)=)[^&#]*")


def mask_url(url: str) -> str:
    """*url* with any password replaced by ``***``.

    Works on malformed URLs too (no parsing that could fail and fall back to
    the raw text): the password is whatever sits between the first ``:``
    and the last ``@`` before the path (libpq ends the credentials at the
    first ``/``, so a password may hold ``?`` or ``#``), or a ``password=``
    parameter.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return _QUERY_SECRET.sub(rf"\1{_MASK}", url)
    authority, slash, tail = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    if at:
        user, colon, _password = userinfo.partition(":")
        if colon:
            authority = f"{user}:{_MASK}@{hostport}"
    return _QUERY_SECRET.sub(rf"\1{_MASK}", f"{scheme}://{authority}{slash}{tail}")


def url_passwords(url: str) -> list[str]:
    """The passwords *url* carries, as written and percent-decoded: what an
    error message quoting a piece of the URL must not repeat."""
    _, sep, rest = url.partition("://")
    found: list[str] = []
    userinfo, at, _ = rest.partition("/")[0].rpartition("@")
    if sep and at and ":" in userinfo:
        found.append(userinfo.partition(":")[2])
    found.extend(m.group(0).partition("=")[2] for m in _QUERY_SECRET.finditer(url))
    return [p for raw in found if raw for p in {raw, unquote(raw)}]
