"""The Gemini connector's configuration, and the environment it is read from.

The Reports API is read as a Google Cloud service account that a Workspace
super admin has granted domain-wide delegation for the audit scope, acting
as (``subject``) an administrator whose role includes Reports access. The
configuration holds only the *path* of the service account's JSON key
(``GOOGLE_APPLICATION_CREDENTIALS``, the variable every Google client
library reads): the key itself stays in that file, is read when a token is
needed, and is held in memory as a :class:`~connector_core.Secret`. A
connection saved by a host therefore never stores a private key.

Whether the file exists and is a service-account key is checked when the
connector first authenticates, not here: a configuration is also built on
machines (a host's admin screen, a test) that never read the file.
"""

from __future__ import annotations

import math
from typing import ClassVar, Final

import attrs

from connector_core import DEFAULT_CONCURRENCY, concurrency_option, rate_limit_option


__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_CUSTOMER",
    "DEFAULT_LAG_HOURS",
    "PAGE_MAX",
    "GeminiConfig",
]

DEFAULT_BASE_URL: Final = "https://admin.googleapis.com"

DEFAULT_CUSTOMER: Final = "my_customer"
"""The API's alias for the customer the impersonated administrator belongs
to: right for every domain but a reseller's."""

PAGE_MAX: Final = 1000
"""``maxResults``' largest value (the API's default too)."""

DEFAULT_LAG_HOURS: Final = 72
"""How far back each incremental read looks again for events published
late. Google documents lags from minutes to a few hours per report, says a
small share may come later, and third-party readers see up to three days:
three days is the safe side of what is known."""

_MAX_LAG_HOURS: Final = 30 * 24
"""A re-read longer than a month would cost more than it finds."""


def _required(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string")
    value = value.strip()
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


def _credentials_file(value: object) -> str:
    """A path; whether a key is there is checked when it is read."""
    return _required("credentials_file", value)


def _customer(value: object) -> str:
    """``my_customer`` or a customer id (``C`` and more); anything else the
    API refuses, so it is refused when the connection is saved."""
    if not isinstance(value, str):
        raise TypeError("customer_id must be a string")
    value = value.strip() or DEFAULT_CUSTOMER
    if value != DEFAULT_CUSTOMER and not (
        len(value) > 1 and value.startswith("C") and value.isalnum()
    ):
        raise ValueError(
            "customer_id must be my_customer or a customer id such as C01abc234 "
            "(Admin console: Account > Account settings > Customer ID)"
        )
    return value


def _subject(value: object) -> str:
    """The administrator to act as, by primary email."""
    value = _required("subject", value)
    if "@" not in value or value.startswith("@") or value.endswith("@"):
        raise ValueError(
            "subject must be the email of a Workspace administrator with the "
            "Reports privilege"
        )
    return value


def _page_size(value: object) -> int:
    """Options from the command line arrive as text; anything but a whole
    number from 1 to 1000 is refused in one sentence."""
    problem = f"page_size must be a whole number from 1 to {PAGE_MAX}"
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(problem)  # noqa: TRY004 - attrs converters speak ValueError
    try:
        number = int(value)
    except ValueError:
        raise ValueError(problem) from None
    if not 1 <= number <= PAGE_MAX:
        raise ValueError(problem)
    return number


def _lag_hours(value: object) -> float:
    problem = (
        f"lag_hours must be a number of hours above 0 and at most {_MAX_LAG_HOURS}"
    )
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(problem)  # noqa: TRY004
    try:
        number = float(value)
    except ValueError:
        raise ValueError(problem) from None
    if not (math.isfinite(number) and 0 < number <= _MAX_LAG_HOURS):
        raise ValueError(problem)
    return number


def _timeout(value: object) -> float:
    problem = "timeout must be a positive number of seconds"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(problem)  # noqa: TRY004
    try:
        number = float(value)
    except ValueError:
        raise ValueError(problem) from None
    if not (math.isfinite(number) and number > 0):
        raise ValueError(problem)
    return number


@attrs.frozen(kw_only=True)
class GeminiConfig:
    """How to reach one Google Workspace customer's Reports API.

    Attributes:
        credentials_file: The path of the service account's JSON key. Never
            the key: the file is read when a token is minted.
        subject: The administrator the service account acts as (domain-wide
            delegation): their role must include the Reports privilege.
        customer_id: The customer reported on; ``my_customer`` is the
            subject's own.
        base_url: The API's origin (a sandbox or a proxy in tests).
        timeout: Seconds one request may take.
        page_size: Activities per request, up to 1000.
        concurrency: Requests in flight.
        rate_limit: Requests per second, or ``None``: Google publishes no
            number for the Reports API, and its 429 and 503 quota answers
            are waited out instead.
        lag_hours: How far before its checkpoint an incremental read looks
            again for events published late.
    """

    credentials_file: str = attrs.field(converter=_credentials_file)
    subject: str = attrs.field(converter=_subject)
    customer_id: str = attrs.field(default=DEFAULT_CUSTOMER, converter=_customer)
    base_url: str = DEFAULT_BASE_URL
    timeout: float = attrs.field(default=60.0, converter=_timeout)
    page_size: int = attrs.field(default=PAGE_MAX, converter=_page_size)
    concurrency: int = attrs.field(
        default=DEFAULT_CONCURRENCY, converter=concurrency_option
    )
    rate_limit: float | None = attrs.field(default=None, converter=rate_limit_option)
    lag_hours: float = attrs.field(default=DEFAULT_LAG_HOURS, converter=_lag_hours)

    # The key file under the variable every Google client library reads; the
    # connector's own options under aiaudit's names.
    environment: ClassVar = {
        "credentials_file": "GOOGLE_APPLICATION_CREDENTIALS",
        "subject": "AIAUDIT_GEMINI_SUBJECT",
        "customer_id": "AIAUDIT_GEMINI_CUSTOMER_ID",
        "base_url": "AIAUDIT_GEMINI_BASE_URL",
        "page_size": "AIAUDIT_GEMINI_PAGE_SIZE",
        "concurrency": "AIAUDIT_GEMINI_CONCURRENCY",
        "rate_limit": "AIAUDIT_GEMINI_RATE_LIMIT",
        "timeout": "AIAUDIT_GEMINI_TIMEOUT",
        "lag_hours": "AIAUDIT_GEMINI_LAG_HOURS",
    }
