"""URL values that carry a user name or password, found and masked.

A configuration value that is a URL with credentials in it would be stored
and shown in clear (a store holds no secret, only references to
variables), and sent to whatever the URL names; both the registry's checked
configurations and the saved connections refuse one, through these.
Written by hand rather than with ``urllib``: a malformed URL must not make
the check fail open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector_core.exceptions import ConfigurationError


if TYPE_CHECKING:
    from collections.abc import Mapping


__all__ = ["check_url_credentials", "has_url_credentials", "mask_url_credentials"]


def _authority(value: str) -> tuple[str, str, str] | None:
    """``(scheme://, authority, rest)`` of a URL-looking string, else
    ``None``; by hand, since a malformed URL must not make the check fail."""
    scheme, sep, rest = value.partition("://")
    if not sep or not scheme or any(c.isspace() for c in scheme):
        return None
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    # A password may hold '?' or '#': the credentials end at the last '@'
    # before the path.
    slash = rest.find("/")
    at = rest.rfind("@", 0, slash if slash >= 0 else len(rest))
    end = max(end, at + 1)
    return scheme + sep, rest[:end], rest[end:]


def has_url_credentials(value: object) -> bool:
    """Whether *value* is a URL with a user name or password in it."""
    if not isinstance(value, str):
        return False
    parts = _authority(value.strip())
    return parts is not None and "@" in parts[1]


def mask_url_credentials(value: str) -> str:
    """*value* with the user name and password of its URL replaced."""
    parts = _authority(value.strip())
    if parts is None or "@" not in parts[1]:
        return value
    scheme, authority, rest = parts
    host = authority.rpartition("@")[2]
    return f"{scheme}***@{host}{rest}"


def check_url_credentials(values: Mapping[str, object], where: str) -> None:
    """Refuse a configuration value that is a URL with credentials.

    They would be stored and shown in clear (a store holds no secret, only
    references to variables), and sent to whatever the URL names; keys go in
    the connector's secret fields. The message names the field, never the
    value.

    Raises:
        ConfigurationError: One of *values* carries credentials.
    """
    for field, value in values.items():
        if has_url_credentials(value):
            raise ConfigurationError(
                f"{where}: {field} holds a URL with a user name or password; "
                "give it without them (keys go in the connector's secret "
                "fields, through environment variables)"
            )
