"""How to reach an Example Reports tenant.

One key reads every application the key's scopes allow. It is a
:class:`~connector_core.secrets.Secret` from the moment the configuration is
built, so no repr, log line or error message can show it; the registry
finds secrets by that type and lists them in ``aiaudit plugins``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Final

import attrs
import yarl
from connector_core import Secret


__all__ = ["DEFAULT_BASE_URL", "ENVIRONMENT", "ExampleConfig"]

DEFAULT_BASE_URL: Final = "https://reports.example.com"
MAX_PAGE_SIZE: Final = 1000

ENVIRONMENT: Final = {
    "api_key": "EXAMPLE_API_KEY",
    "customer_id": "EXAMPLE_CUSTOMER_ID",
    "base_url": "EXAMPLE_BASE_URL",
}
"""The variable each field is read from. The core builds the configuration
from this declaration (``Registry.create_from_env``, ``aiaudit sync
example``), converting and checking each value as the class does; no
loading code is needed here."""


def _secret(value: object) -> Secret:
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise TypeError(f"api_key must be a string, got {type(value).__name__}")
    return Secret(value)


def _non_empty(
    instance: object, attribute: attrs.Attribute[Secret], value: Secret
) -> None:
    if not value:
        raise ValueError(f"{attribute.name} must not be empty")


def _http_url(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    url = yarl.URL(value)
    if url.scheme not in {"http", "https"} or not url.host:
        raise ValueError(f"{attribute.name} must be an http(s) URL, got {value!r}")


@attrs.frozen(kw_only=True)
class ExampleConfig:
    """Where the API is and the key to read it with.

    Attributes:
        api_key: The API key (a bearer token).
        customer_id: The tenant; reported as the platform user id.
        base_url: The API's origin.
        timeout: Seconds one HTTP attempt may take.
        page_size: ``maxResults`` per request; the API's maximum by default,
            for the fewest requests.
    """

    api_key: Secret = attrs.field(converter=_secret, validator=_non_empty)
    customer_id: str = "my_customer"
    base_url: str = attrs.field(default=DEFAULT_BASE_URL, validator=_http_url)
    timeout: float = attrs.field(
        default=30.0, converter=float, validator=attrs.validators.gt(0.0)
    )
    page_size: int = attrs.field(
        default=1000,
        converter=int,
        validator=[attrs.validators.ge(1), attrs.validators.le(MAX_PAGE_SIZE)],
    )

    environment: ClassVar[Mapping[str, str]] = ENVIRONMENT
