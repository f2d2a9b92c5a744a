"""Starting the sandbox: its domain, its keys, its faults, what it tells the host.

:class:`GeminiSandbox` generates a seeded Workspace domain (:mod:`.data`),
writes service-account key files, and serves the token endpoint
(:mod:`.token`) and the Reports API (:mod:`.api`) on loopback;
:class:`GeminiSandboxProvider` is what the plugin registers.

The history ends at ``SandboxOptions.end`` (by default the start of the
current UTC day) and spans ``SandboxOptions.days``, but never reaches back
more than 179 days from now: the API answers 180 days, and a history the
client may not ask for would be one no read could complete.

``SandboxOptions.faults`` names a profile, applied to ``fault_rate`` of the
API's requests (never to the token endpoint's):

``rate_limit``
    429 ``rateLimitExceeded`` with ``Retry-After: 1``.
``server_error``
    500 and 503 ``backendError``, in turn.
``quota``
    503 ``quotaExceeded``: the Reports API's own way of saying "slow down".
``malformed``
    200 whose ``items`` is not a list.
``redirect``
    307 to the same URL plus a ``signature`` parameter; the redirected
    request is served only if it carries no ``Authorization``.
``stuck_cursor``
    The query's first page with the same ``nextPageToken``, whatever
    token is sent.
``poisoned``
    The same data plus activities no database takes as they are (a lone
    surrogate, NULs, a 6,000-character profile id), listed in
    ``poisoned_ids`` by log id.
``late``
    A burst of activity in the last :data:`PUBLICATION_LAG` of each
    application's history, and every other activity of that stretch held
    back until the sandbox has served ``SandboxOptions.publish_delay``
    seconds.

``SandboxOptions.rate_limit`` (requests a second) is enforced as a budget
per minute, refused with 429 ``rateLimitExceeded``; without it nothing is
counted.
"""

from __future__ import annotations

import contextlib
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from aiaudit_gemini.sandbox.api import HORIZON, Budget, ReportsApi, dumps
from aiaudit_gemini.sandbox.data import (
    APPLICATIONS,
    AUDIT_SCOPE,
    Activity,
    Domain,
    format_time,
)
from aiaudit_gemini.sandbox.token import (
    TOKEN_PATH,
    KeyFolder,
    TokenEndpoint,
    service_accounts,
)
from connector_core import FaultDraw, RunningSandbox, SandboxOptions


if TYPE_CHECKING:
    from collections.abc import AsyncIterator


__all__ = [
    "FAULT_PROFILES",
    "POISONS",
    "PUBLICATION_LAG",
    "SANDBOX_PAGE_SIZE",
    "GeminiSandbox",
    "GeminiSandboxProvider",
]

FAULT_PROFILES: Final = (
    "rate_limit",
    "server_error",
    "quota",
    "malformed",
    "redirect",
    "stuck_cursor",
    "poisoned",
    "late",
)

SANDBOX_PAGE_SIZE: Final = 100
"""Small on purpose, so that every window of a read spans pages."""

PUBLICATION_LAG: Final = timedelta(hours=72)
"""How late the ``late`` profile publishes: the trailing stretch the
connector re-reads by default (its ``lag_hours``)."""

HISTORY_LIMIT: Final = HORIZON - timedelta(days=1)
"""The oldest history generated, before now: a day inside the API's 180, so
the history stays readable for a day of serving."""

POISONS: Final = (
    ("gemini_in_workspace_apps", "email", "poisoned\ud800@acme-corp.example"),
    ("gemini_notebook", "profileId", "10492\x0083745"),
    ("token", "email", "nul\x00member@acme-corp.example"),
    ("login", "ipAddress", "192.0.2.9\x00"),
    ("gemini_in_workspace_apps", "profileId", "9" * 6000),
)
"""The ``poisoned`` profile's activities: the application, and the field
each spoils."""

_LATE_BURST: Final = 4


def history_bounds(options: SandboxOptions) -> tuple[datetime, datetime]:
    """The history's start and end.

    Raises:
        ValueError: The history would end before the API's horizon.
    """
    if options.end is not None:
        end = options.end.astimezone(UTC)
    else:
        end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    oldest = (datetime.now(UTC) - HISTORY_LIMIT).replace(microsecond=0)
    start = max(end - timedelta(days=options.days), oldest)
    if start >= end:
        raise ValueError(
            f"the history would end at {end.isoformat()}, more than "
            f"{HISTORY_LIMIT.days} days ago: the Reports API keeps 180 days, so "
            "no client could read it; leave SandboxOptions.end unset (the start "
            "of today) or give a recent one"
        )
    return start, end


def _poison(domain: Domain) -> dict[str, str]:
    """Add the poisoned activities; their log ids (each its own native id)."""
    found: dict[str, str] = {}
    start = max(domain.start, min(a.time for a in domain.all_activities()))
    for number, (app, field, value) in enumerate(POISONS):
        moment = start + (domain.end - start) * (number + 1) / (len(POISONS) + 1)
        activity = domain.extra_activity(app, moment, f"poison-{number}")
        if field == "ipAddress":
            activity.record[field] = value
        else:
            activity.record["actor"][field] = value
        domain.add(activity)
        found.update((i, i) for i in activity.log_ids(domain.customer_id))
    return found


def _late(domain: Domain) -> frozenset[tuple[str, int]]:
    """Add a burst to each application's last publication lag and hold
    back every other activity of that stretch."""
    lag_start = domain.end - PUBLICATION_LAG
    start = max(lag_start, domain.start)
    step = (domain.end - start) / (_LATE_BURST + 1)
    hidden: set[tuple[str, int]] = set()
    for app in APPLICATIONS:
        if not domain.activities[app]:
            continue  # no Gemini history this far back
        for number in range(_LATE_BURST):
            moment = start + step * (number + 1)
            domain.add(domain.extra_activity(app, moment, f"late-{app}-{number}"))
        recent = [a for a in domain.activities[app] if a.time >= start]
        hidden.update((a.application, a.qualifier) for a in recent[::2])
    return frozenset(hidden)


class GeminiSandbox:
    """The server, its domain and its keys; start it with :meth:`run`."""

    def __init__(
        self, options: SandboxOptions, domain: Domain, *, budget_window: float = 60.0
    ) -> None:
        self.options = options
        self.domain = domain
        self.url = ""
        self.keys = KeyFolder()
        self.accounts = service_accounts(options.seed)
        faults = options.faults
        self.poisoned = _poison(domain) if faults == "poisoned" else {}
        hidden = _late(domain) if faults == "late" else frozenset()
        budget = None
        if options.rate_limit is not None:
            limit = max(1, math.floor(options.rate_limit * budget_window))
            budget = Budget(limit=limit, window=budget_window)
        self.tokens = TokenEndpoint(domain, self.accounts)
        self.api = ReportsApi(
            domain,
            self.tokens,
            faults=FaultDraw.of(options),
            budget=budget,
            publish_delay=options.publish_delay,
            hidden=hidden,
        )

    @classmethod
    @contextlib.asynccontextmanager
    async def run(
        cls, options: SandboxOptions, *, budget_window: float = 60.0
    ) -> AsyncIterator[GeminiSandbox]:
        """Generate the domain and serve it on loopback until the block
        ends; the key files are removed then.

        Raises:
            ValueError: An unknown fault profile, or a history the API
                would no longer serve.
        """
        if options.faults is not None and options.faults not in FAULT_PROFILES:
            raise ValueError(
                f"unknown fault profile {options.faults!r}; valid profiles: "
                f"{', '.join(FAULT_PROFILES)}"
            )
        start, end = history_bounds(options)
        domain = Domain.generate(
            seed=options.seed, events=options.events, start=start, end=end
        )
        sandbox = cls(options, domain, budget_window=budget_window)
        runner = web.AppRunner(sandbox.api.app(options), access_log=None)
        try:
            await runner.setup()
            site = web.TCPSite(runner, options.host, options.port)
            await site.start()
            port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
            sandbox.url = f"http://{options.host}:{port}"
            sandbox.tokens.url = sandbox.token_url
            for name, account in sandbox.accounts.items():
                sandbox.keys.write(name, account.key_file(sandbox.token_url))
            if options.ground_truth_dir is not None:
                sandbox.write_ground_truth(Path(options.ground_truth_dir))
            sandbox.api.started = time.monotonic()
            yield sandbox
        finally:
            await runner.cleanup()
            sandbox.keys.close()

    @property
    def token_url(self) -> str:
        return f"{self.url}{TOKEN_PATH}"

    def key_file(self, name: str = "reader") -> str:
        """The path of a key file: ``reader`` (delegated), ``undelegated``
        or ``unknown`` (a key the token endpoint never registered)."""
        return str(self.keys.files[name])

    def config(
        self, *, key: str = "reader", subject: str | None = None
    ) -> dict[str, Any]:
        """A connector configuration for this server."""
        return {
            "credentials_file": self.key_file(key),
            "subject": subject or self.domain.subject.email,
            "customer_id": self.domain.customer_id,
            "base_url": self.url,
            "page_size": SANDBOX_PAGE_SIZE,
            "rate_limit": self.options.rate_limit,
        }

    def expected_ids(self) -> list[str]:
        """Every log id of the history, late and poisoned ones included."""
        return self.domain.expected_ids()

    def write_ground_truth(self, directory: Path) -> None:
        """Each application's activities as served, oldest first, in
        ``<application>/activities.jsonl``, and every log id a complete
        read returns in ``expected_ids.json``."""
        directory.mkdir(parents=True, exist_ok=True)
        for app in APPLICATIONS:
            folder = directory / app
            folder.mkdir(exist_ok=True)
            with (folder / "activities.jsonl").open("w", encoding="utf-8") as out:
                for activity in self.domain.activities[app]:
                    out.write(dumps(activity.record))
                    out.write("\n")
        (directory / "expected_ids.json").write_text(
            dumps(self.expected_ids()), encoding="utf-8"
        )

    def describe(self) -> RunningSandbox:
        domain = self.domain
        activities: dict[str, list[Activity]] = domain.activities
        return RunningSandbox(
            platform="gemini",
            urls={"api": self.url, "token": self.token_url},
            config=self.config(),
            details={
                "seed": self.options.seed,
                "activities": {app: len(activities[app]) for app in APPLICATIONS},
                "events": domain.events(),
                "history": [format_time(domain.start), format_time(domain.end)],
                "customer_id": domain.customer_id,
                "domain": domain.domain,
                "users": len(domain.users),
                "admins": [u.email for u in domain.admins],
                "restricted_subject": domain.restricted.email,
                "key_files": {name: str(p) for name, p in self.keys.files.items()},
                "service_accounts": {
                    name: a.client_email for name, a in self.accounts.items()
                },
                "faults": self.options.faults,
                "fault_rate": self.options.fault_rate,
                "conformance": {
                    "bad_config": self.config(key="unknown"),
                    "restricted_config": self.config(subject=domain.restricted.email),
                    "restricted_missing": [AUDIT_SCOPE],
                    "expected_ids": self.expected_ids(),
                    "faults": {
                        "rate_limit": "rate_limit",
                        "server_error": "server_error",
                        "malformed": "malformed",
                        "redirect": "redirect",
                        "stuck_cursor": "stuck_cursor",
                        "poisoned": "poisoned",
                        "late": "late",
                    },
                    "poisoned_ids": dict(self.poisoned),
                    "observed": self.api.observed,
                    # The config names a key file: what it refers to, and
                    # the tokens a client comes to hold, are the secrets.
                    "held_secrets": self.tokens.held,
                },
            },
        )


class GeminiSandboxProvider:
    """What the plugin registers with ``register(..., sandbox=...)``."""

    @contextlib.asynccontextmanager
    async def start(self, options: SandboxOptions) -> AsyncIterator[RunningSandbox]:
        async with GeminiSandbox.run(options) as sandbox:
            yield sandbox.describe()
