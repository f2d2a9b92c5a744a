"""The Claude connector's configuration, and the environment it is read from.

One key reads the Activity Feed: a Compliance Access Key with the
``read:compliance_activities`` scope, or an Admin API key (which always has
that scope when it was created after the Compliance API was enabled). The
first of ``ANTHROPIC_COMPLIANCE_KEY`` and ``ANTHROPIC_ADMIN_KEY`` that is
set is used. The Admin API key, when set, also reads the Admin API.

The Claude Enterprise chats (``content``) are read only when asked for:
they need a Compliance Access Key with ``read:compliance_user_data``, and
the feed already reports each chat and upload once (see
``docs/claude.md``, "Enterprise chats and files").
"""

from __future__ import annotations

from typing import ClassVar, Final

import attrs

from connector_core import (
    DEFAULT_CONCURRENCY,
    Secret,
    concurrency_option,
    rate_limit_option,
)


__all__ = [
    "API_VERSION",
    "CHATS_PAGE_MAX",
    "DEFAULT_BASE_URL",
    "FEED_PAGE_MAX",
    "ORGANIZATION_RATE_LIMIT",
    "ClaudeConfig",
]

DEFAULT_BASE_URL: Final = "https://api.anthropic.com"

API_VERSION: Final = "2023-06-01"
"""The ``anthropic-version`` sent: the one the Admin API documents. The
Compliance API's own examples send none, and whether it checks the header
is not documented, so the documented value is the safest to send."""

FEED_PAGE_MAX: Final = 5000
"""The feed's largest ``limit``."""

CHATS_PAGE_MAX: Final = 1000
"""The chat listing's largest ``limit``: a page size above it is sent as
this."""

_YES: Final = frozenset({"1", "true", "yes", "on"})
_NO: Final = frozenset({"0", "false", "no", "off", ""})

ORGANIZATION_RATE_LIMIT: Final = 600 / 60
"""Requests per second: the Compliance API allows 600 a minute per parent
organization, one budget shared by every key of it and every linked org."""


def _optional_secret(value: object) -> Secret | None:
    """An optional key: unset or blank is no key."""
    if value is None or isinstance(value, Secret):
        return value or None
    if not isinstance(value, str):
        raise TypeError(f"a key must be a string, got {type(value).__name__}")
    value = value.strip()
    return Secret(value) if value else None


def _page_size(value: object) -> int:
    """Options from the command line arrive as text; anything but a whole
    number from 1 to the feed's maximum is refused in one sentence."""
    problem = f"page_size must be a whole number from 1 to {FEED_PAGE_MAX}"
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(problem)  # noqa: TRY004 - attrs converters speak ValueError
    try:
        number = int(value)
    except ValueError:
        raise ValueError(problem) from None
    if not 1 <= number <= FEED_PAGE_MAX:
        raise ValueError(problem)
    return number


def _flag(value: object) -> bool:
    """A yes/no option; from the command line it arrives as text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _YES | _NO:
        return value.strip().lower() in _YES
    raise ValueError(
        "content must be a yes/no value (1, true, yes, on or 0, false, no, off)"
    )


@attrs.frozen(kw_only=True)
class ClaudeConfig:
    """How to reach one parent organization's Compliance API.

    Attributes:
        api_key: The key sent as ``x-api-key`` to the Activity Feed.
        admin_key: An Admin API key, for what only the Admin API tells (the
            directory's size); without one that is left out.
        base_url: The API's origin (a sandbox or a proxy in tests).
        organization_id: The parent organization's id (``org_…``). It names
            records the feed ties to no organization (sign-ins, API calls)
            and scopes the rate budget: connections that name the same one
            share it, as the API does; connections that name none share one
            budget per base URL, the safe reading when it is unknown.
        page_size: Activities per request, up to 5,000.
        concurrency: Requests in flight.
        rate_limit: Requests per second for the whole parent organization.
        content: Also read the Claude Enterprise chats and the files their
            users attached (stream ``chats``): metadata only, never a
            message's text.
    """

    api_key: Secret
    admin_key: Secret | None = attrs.field(default=None, converter=_optional_secret)
    base_url: str = DEFAULT_BASE_URL
    organization_id: str = ""
    timeout: float = attrs.field(default=60.0, converter=float)
    page_size: int = attrs.field(default=1000, converter=_page_size)
    concurrency: int = attrs.field(
        default=DEFAULT_CONCURRENCY, converter=concurrency_option
    )
    rate_limit: float | None = attrs.field(
        default=ORGANIZATION_RATE_LIMIT, converter=rate_limit_option
    )
    content: bool = attrs.field(default=False, converter=_flag)

    # The keys under the names Anthropic's documentation gives them; the
    # connector's own options under aiaudit's. The base URL is not read from
    # the SDK's ANTHROPIC_BASE_URL, which may point at a Messages API proxy
    # that has no business seeing a compliance key.
    environment: ClassVar = {
        "api_key": ("ANTHROPIC_COMPLIANCE_KEY", "ANTHROPIC_ADMIN_KEY"),
        "admin_key": "ANTHROPIC_ADMIN_KEY",
        "base_url": "AIAUDIT_CLAUDE_BASE_URL",
        "organization_id": "AIAUDIT_CLAUDE_ORGANIZATION_ID",
        "timeout": "AIAUDIT_CLAUDE_TIMEOUT",
        "page_size": "AIAUDIT_CLAUDE_PAGE_SIZE",
        "concurrency": "AIAUDIT_CLAUDE_CONCURRENCY",
        "rate_limit": "AIAUDIT_CLAUDE_RATE_LIMIT",
        "content": "AIAUDIT_CLAUDE_CONTENT",
    }
