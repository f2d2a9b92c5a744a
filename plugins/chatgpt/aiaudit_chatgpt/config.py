"""Configuration of the ChatGPT Enterprise / OpenAI organization connector.

Two APIs, two keys. The OpenAI Admin API (audit logs, usage, costs) takes an
Admin API key (``sk-admin-...``) that only an organization owner can create.
The ChatGPT Enterprise Compliance API (conversations, file uploads, custom
GPTs) lives on another host and takes a key with Compliance scopes, bound to
one workspace. A company may hold either or both, so either API may be
configured alone; the connector reports what it cannot see.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Final

import attrs
import yarl

from connector_core import DEFAULT_CONCURRENCY, concurrency_option, rate_limit_option
from connector_core.http import DEFAULT_MAX_LINE
from connector_core.secrets import Secret


__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_COMPLIANCE_BASE_URL",
    "ENVIRONMENT",
    "MIN_RECORD_BYTES",
    "ChatGPTComplianceAPIConfig",
]

DEFAULT_BASE_URL: Final = "https://api.openai.com/v1"
DEFAULT_COMPLIANCE_BASE_URL: Final = "https://api.chatgpt.com/v1"
MIN_RECORD_BYTES: Final = 64 * 1024
"""The smallest ``max_record_bytes``: a cap below what ordinary records
take would quarantine them all."""

ENVIRONMENT: Final = {
    "api_key": ("OPENAI_ADMIN_KEY", "OPENAI_ENTERPRISE_API_KEY"),
    "organization_id": ("OPENAI_ORGANIZATION_ID",),
    "base_url": ("OPENAI_BASE_URL",),
    "compliance_api_key": ("CHATGPT_COMPLIANCE_API_KEY",),
    "workspace_id": ("CHATGPT_WORKSPACE_ID",),
    "compliance_base_url": ("CHATGPT_COMPLIANCE_BASE_URL",),
    "timeout": ("AIAUDIT_CHATGPT_TIMEOUT",),
    "max_record_bytes": ("AIAUDIT_CHATGPT_MAX_RECORD_BYTES",),
    "concurrency": ("AIAUDIT_CHATGPT_CONCURRENCY",),
    "rate_limit": ("AIAUDIT_CHATGPT_RATE_LIMIT",),
}
"""Each field and the variables it is read from, first match wins; the
core's ``ConnectorSpec.config_from_env`` reads them (there is no
``from_env`` here: when no key is set, the class's own check names the
fields and the core adds their variables).

``OPENAI_ENTERPRISE_API_KEY`` is the name the original plan used; the
official SDK and OpenAI's docs call the admin key ``OPENAI_ADMIN_KEY``.
"""


def _optional_secret(value: object) -> Secret | None:
    if value is None or isinstance(value, Secret):
        return value or None
    if not isinstance(value, str):
        raise TypeError(f"a key must be a string, got {type(value).__name__}")
    value = value.strip()
    return Secret(value) if value else None


def _http_url(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{attribute.name} must be a string")
    try:
        url = yarl.URL(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{attribute.name} is not a URL: {value!r}") from exc
    if url.scheme not in {"http", "https"} or not url.host:
        raise ValueError(
            f"{attribute.name} must be an http(s) URL with a host, got {value!r}"
        )


def _strip_slash(value: object) -> object:
    # Non-strings pass through to the URL validator, which names the field.
    return value.rstrip("/") if isinstance(value, str) else value


@attrs.frozen(kw_only=True)
class ChatGPTComplianceAPIConfig:
    """Where and how to reach the two APIs.

    Attributes:
        api_key: The OpenAI Admin API key; ``None`` skips the Admin API.
        organization_id: The OpenAI organization (``org-...``); reported as
            the platform user id and sent as ``OpenAI-Organization`` when set.
        base_url: The Admin API base URL.
        timeout: Seconds one HTTP attempt may take.
        compliance_api_key: The Compliance API key; ``None`` skips it.
        workspace_id: The ChatGPT Enterprise workspace the key belongs to.
        compliance_base_url: The Compliance API base URL.
        max_record_bytes: The longest Logs Platform line (one record) read
            whole, in bytes; a longer one is quarantined with its first
            bytes as evidence, and memory stays about this size however
            long the line (the transport's ``max_line``).
        concurrency: Requests in flight at most, over both APIs: windows
            of the audit log and Logs Platform files are read this many at
            once, fewer while the APIs answer 429.
        rate_limit: Requests per second the connection keeps to, over both
            APIs, when the keys' limit is known; ``None``: only 429s steer.
    """

    api_key: Secret | None = attrs.field(default=None, converter=_optional_secret)
    organization_id: str | None = None
    base_url: str = attrs.field(
        default=DEFAULT_BASE_URL, converter=_strip_slash, validator=_http_url
    )
    timeout: float = attrs.field(
        default=30.0,
        converter=float,
        validator=[attrs.validators.gt(0.0), attrs.validators.le(600.0)],
    )
    compliance_api_key: Secret | None = attrs.field(
        default=None, converter=_optional_secret
    )
    workspace_id: str | None = None
    compliance_base_url: str = attrs.field(
        default=DEFAULT_COMPLIANCE_BASE_URL, converter=_strip_slash, validator=_http_url
    )

    max_record_bytes: int = attrs.field(
        default=DEFAULT_MAX_LINE,
        converter=int,
        validator=attrs.validators.ge(MIN_RECORD_BYTES),
    )
    # Converters: options given on the command line arrive as text.
    concurrency: int = attrs.field(
        default=DEFAULT_CONCURRENCY, converter=concurrency_option
    )
    rate_limit: float | None = attrs.field(default=None, converter=rate_limit_option)

    environment: ClassVar[Mapping[str, tuple[str, ...]]] = ENVIRONMENT
    """Which variables feed which field; saved connections refer to them."""

    def __attrs_post_init__(self) -> None:
        if self.api_key is None and self.compliance_api_key is None:
            raise ValueError(
                "configure the Admin API (api_key), the Compliance API "
                "(compliance_api_key and workspace_id), or both"
            )
        if self.compliance_api_key is not None and not self.workspace_id:
            raise ValueError("compliance_api_key needs workspace_id")

    @property
    def admin_enabled(self) -> bool:
        """Whether the Admin API (audit logs, usage) is configured."""
        return self.api_key is not None

    @property
    def compliance_enabled(self) -> bool:
        """Whether the Compliance API (conversations, files, GPTs) is configured."""
        return self.compliance_api_key is not None
