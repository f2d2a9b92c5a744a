"""Starting the sandbox: its data, its faults, what it tells the host.

:class:`ClaudeSandbox` generates a seeded organization (:mod:`.data`) and
serves the feed (:mod:`.api`) on loopback; :class:`ClaudeSandboxProvider`
is what the plugin registers. ``SandboxOptions.faults`` names a profile,
applied to ``fault_rate`` of the requests:

``rate_limit``
    429 ``rate_limit_error`` with ``retry-after: 1``.
``server_error``
    529 ``overloaded_error``, transient.
``server_error_final``
    500 ``api_error`` with ``x-should-retry: false``: deterministic.
``malformed``
    200 whose ``data`` is not a list.
``bad_records``
    200 whose activities have an unreadable ``created_at``.
``redirect``
    307 to the same URL, signed; the signed request must carry no key.
``stuck_cursor``
    The listing's first page, ``has_more`` true, the same ``last_id``
    whatever cursor is sent.
``poisoned``
    The same data plus activities no database takes as they are (a lone
    surrogate, NULs, a 6,000-character user id).
``late``
    A burst of activity in the last publication lag of the history, every
    other activity of that stretch hidden until the sandbox has served for
    ``SandboxOptions.publish_delay`` seconds.

Beside the feed, the organization has Claude Enterprise chats
(:mod:`.chats`): one for about every six activities asked for, of the same
people, served by the content endpoints and written to the ground truth as
``chats.jsonl``; and its API use, a day at a time (:mod:`.usage`), served
by the Admin API's usage and cost reports and written as ``usage.jsonl``,
the records a correct reader yields.

``SandboxOptions.rate_limit`` (requests a second) sets the parent
organization's budget; without it the budget is the API's 600 a minute,
counted and reported in the headers but not enforced, so that tests which
read a history many times are not slowed by it.
"""

from __future__ import annotations

import contextlib
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import orjson
from aiohttp import web

from aiaudit_claude.sandbox.api import ORGANIZATION_BUDGET, Budget, FeedApi
from aiaudit_claude.sandbox.chats import Chat, generate_chats
from aiaudit_claude.sandbox.chats_api import ChatsApi
from aiaudit_claude.sandbox.data import (
    ALL_SCOPES,
    Activity,
    OrgData,
    format_created,
    stable_id,
)
from aiaudit_claude.sandbox.usage import UsageApi, UsageData
from connector_core import FaultDraw, RunningSandbox, SandboxOptions


if TYPE_CHECKING:
    from collections.abc import AsyncIterator


__all__ = ["FAULT_PROFILES", "POISONS", "ClaudeSandbox", "ClaudeSandboxProvider"]

FAULT_PROFILES: Final = (
    "rate_limit",
    "server_error",
    "server_error_final",
    "malformed",
    "bad_records",
    "redirect",
    "stuck_cursor",
    "poisoned",
    "late",
)

SANDBOX_PAGE_SIZE: Final = 100
"""Small on purpose: with a hundred activities a day, every window spans
pages, so the ``after_id`` chain is exercised on every read."""

POISONS: Final = (
    ("email_address", "poisoned\ud800@example.test"),
    ("user_id", "user_01\x00poisoned"),
    ("email_address", "nul\x00member@example.test"),
    ("ip_address", "192.0.2.9\x00"),
    ("user_id", "user_" + "9" * 6000),
)
"""The ``poisoned`` profile's activities: the actor field each spoils."""

_LATE_BURST: Final = 8

ACTIVITIES_PER_CHAT: Final = 6
"""How many activities the history has for each chat generated."""


def _history_end(options: SandboxOptions) -> datetime:
    if options.end is not None:
        return options.end.astimezone(UTC)
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _poisoned(data: OrgData) -> dict[str, str]:
    """Add the poisoned activities; their log ids and native ids."""
    found: dict[str, str] = {}
    for number, (field, value) in enumerate(POISONS):
        moment = data.start + (data.end - data.start) * (number + 1) / (
            len(POISONS) + 1
        )
        moment = moment.replace(microsecond=0)
        activity_id = f"activity_{stable_id(data.seed, f'poison-{number}', 26)}"
        actor: dict[str, Any] = {
            "type": "user_actor",
            "email_address": "member000@example.test",
            "user_id": data.users[0]["user_id"],
            "ip_address": "192.0.2.9",
            "user_agent": "Claude/1.0",
        }
        actor[field] = value
        record = {
            "id": activity_id,
            "created_at": format_created(moment),
            "organization_id": data.parent_id,
            "organization_uuid": data.parent_uuid,
            "actor": actor,
            "type": "claude_chat_created",
            "claude_chat_id": "claude_chat_"
            + stable_id(data.seed, f"poison-chat-{number}"),
            "claude_project_id": None,
        }
        data.add(Activity(record=record, created_at=moment, id=activity_id))
        found[activity_id] = activity_id
    return found


def _late(data: OrgData) -> frozenset[str]:
    """Add a burst in the history's last publication lag and hide every
    other activity of that stretch until published."""
    # The reader declares the lag; the sandbox is exactly as late as that.
    from aiaudit_claude.connector import PUBLICATION_LAG  # noqa: PLC0415

    lag_start = data.end - PUBLICATION_LAG
    step = PUBLICATION_LAG / (_LATE_BURST + 1)
    for number in range(_LATE_BURST):
        moment = (lag_start + step * (number + 1)).replace(microsecond=0)
        activity_id = f"activity_{stable_id(data.seed, f'late-{number}', 26)}"
        user = data.users[number % len(data.users)]
        record = {
            "id": activity_id,
            "created_at": format_created(moment),
            "organization_id": data.parent_id,
            "organization_uuid": data.parent_uuid,
            "actor": {
                "type": "user_actor",
                "email_address": user["email"],
                "user_id": user["user_id"],
                "ip_address": "192.0.2.77",
                "user_agent": "Claude/1.0",
            },
            "type": "claude_chat_created",
            "claude_chat_id": "claude_chat_"
            + stable_id(data.seed, f"late-chat-{number}"),
            "claude_project_id": None,
        }
        data.add(Activity(record=record, created_at=moment, id=activity_id))
    recent = [a for a in data.activities if a.created_at >= lag_start]
    return frozenset(a.id for a in recent[::2])


class ClaudeSandbox:
    """The server and its data; start it with :meth:`run`."""

    def __init__(
        self,
        options: SandboxOptions,
        data: OrgData,
        *,
        budget_window: float = 60.0,
        ingestion_delay: float = 60.0,
    ) -> None:
        self.options = options
        self.data = data
        self.url = ""
        self.chats: list[Chat] = generate_chats(
            data, max(10, options.events // ACTIVITIES_PER_CHAT)
        )
        faults = options.faults
        self.poisoned = _poisoned(data) if faults == "poisoned" else {}
        hidden = _late(data) if faults == "late" else frozenset()
        if options.rate_limit is not None:
            budget = Budget(
                limit=max(1, math.floor(options.rate_limit * budget_window)),
                window=budget_window,
            )
        else:
            budget = Budget(
                limit=ORGANIZATION_BUDGET, window=budget_window, enforced=False
            )
        self.api = FeedApi(
            data,
            faults=FaultDraw.of(options),
            budget=budget,
            publish_delay=options.publish_delay,
            hidden=hidden,
            ingestion_delay=ingestion_delay,
        )
        self.chats_api = ChatsApi(self.chats)
        self.usage_api = UsageApi(UsageData.generate(data))

    @classmethod
    @contextlib.asynccontextmanager
    async def run(
        cls,
        options: SandboxOptions,
        *,
        budget_window: float = 60.0,
        ingestion_delay: float = 60.0,
    ) -> AsyncIterator[ClaudeSandbox]:
        """Generate the data and serve it on loopback until the block ends.

        *budget_window* is the rate budget's period (a minute, as the API's;
        tests shorten it) and *ingestion_delay* how long the feed's own
        ``compliance_api_accessed`` rows take to be listed.

        Raises:
            ValueError: An unknown fault profile.
        """
        if options.faults is not None and options.faults not in FAULT_PROFILES:
            raise ValueError(
                f"unknown fault profile {options.faults!r}; valid profiles: "
                f"{', '.join(FAULT_PROFILES)}"
            )
        end = _history_end(options)
        data = OrgData.generate(
            seed=options.seed,
            events=options.events,
            start=end - timedelta(days=options.days),
            end=end,
        )
        sandbox = cls(
            options, data, budget_window=budget_window, ingestion_delay=ingestion_delay
        )
        if options.ground_truth_dir is not None:
            sandbox.write_ground_truth(Path(options.ground_truth_dir))
        app = sandbox.api.app(options)
        sandbox.chats_api.register(app)
        sandbox.usage_api.register(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, options.host, options.port)
            await site.start()
            sandbox.api.started = time.monotonic()
            port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
            sandbox.url = f"http://{options.host}:{port}"
            yield sandbox
        finally:
            await runner.cleanup()

    def key(self, kind: str = "compliance", *, without: str | None = None) -> str:
        """A key's secret: the full compliance key, the Admin API key, or
        the compliance key that lacks scope *without*."""
        scopes = None if kind == "admin" else frozenset(ALL_SCOPES) - {without or ""}
        return self.data.key_named(kind, scopes).secret

    def config(self, key: str | None = None) -> dict[str, Any]:
        """A connector configuration for this server (the full key by default)."""
        rate = self.options.rate_limit
        return {
            "api_key": key or self.key(),
            "admin_key": self.key("admin"),
            "base_url": self.url,
            "organization_id": self.data.parent_id,
            "page_size": SANDBOX_PAGE_SIZE,
            "rate_limit": rate,
        }

    def expected_ids(self) -> list[str]:
        """Every activity id of the history: what a full read returns."""
        return [a.id for a in self.data.activities]

    def expected_chats(self) -> list[Chat]:
        """Every chat, in the order they were made."""
        return list(self.chats)

    def expected_usage(self) -> list[dict[str, Any]]:
        """The usage records a full read yields now (the open day as
        revised so far)."""
        return self.usage_api.usage.expected()

    def write_ground_truth(self, directory: Path) -> None:
        """Every activity of the history, oldest first, every chat with
        the files its users attached (message bodies left out), and the
        usage records of the reports as first served, as JSON lines."""
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / "activities.jsonl").open("wb") as out:
            for activity in self.data.activities:
                out.write(orjson.dumps(activity.record))
                out.write(b"\n")
        with (directory / "chats.jsonl").open("wb") as out:
            for chat in self.chats:
                uploads = [
                    {"message_id": m["id"], "created_at": m["created_at"], **f}
                    for m, f in chat.uploads()
                ]
                out.write(orjson.dumps({**chat.record, "uploads": uploads}))
                out.write(b"\n")
        with (directory / "usage.jsonl").open("wb") as out:
            for record in self.expected_usage():
                out.write(orjson.dumps(record))
                out.write(b"\n")

    def describe(self) -> RunningSandbox:
        data = self.data
        return RunningSandbox(
            platform="claude",
            urls={"api": self.url},
            config=self.config(),
            details={
                "seed": self.options.seed,
                "activities": len(data.activities),
                "history": [format_created(data.start), format_created(data.end)],
                "organization_id": data.parent_id,
                "linked_organizations": [org for org, _ in data.linked],
                "users": len(data.users),
                "chats": len(self.chats),
                "chat_uploads": sum(len(c.uploads()) for c in self.chats),
                "usage_buckets": len(self.expected_usage()),
                "keys": {
                    "compliance": self.key(),
                    "admin": self.key("admin"),
                    "without_activities_scope": self.key(
                        without="read:compliance_activities"
                    ),
                    "without_user_data_scope": self.key(
                        without="read:compliance_user_data"
                    ),
                },
                "faults": self.options.faults,
                "fault_rate": self.options.fault_rate,
                "conformance": {
                    "bad_config": self.config(
                        f"sk-ant-api01-{stable_id(-1, 'revoked', 40)}"
                    ),
                    "restricted_config": self.config(
                        self.key(without="read:compliance_activities")
                    ),
                    "restricted_missing": ["read:compliance_activities"],
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
                },
            },
        )


class ClaudeSandboxProvider:
    """What the plugin registers with ``register(..., sandbox=...)``."""

    @contextlib.asynccontextmanager
    async def start(self, options: SandboxOptions) -> AsyncIterator[RunningSandbox]:
        async with ClaudeSandbox.run(options) as sandbox:
            yield sandbox.describe()
