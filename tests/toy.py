"""A small in-memory connector the core's own tests register.

It exercises the framework's mechanics (registration, dispatch, defaults,
fan-out) without a platform; platform connectors are tested against their
sandboxes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

import attrs

from connector_core import Secret, hookimpl
from connector_core.models import (
    AIActivityType,
    AIAuditLog,
    AICredentialValidation,
    ConnectionResult,
)
from connector_core.streams import StreamBatch, StreamInfo, StreamKind


START = datetime(2025, 1, 1, tzinfo=UTC)
USERS = ("ada", "bob", "cy")
ACTIONS = ("user.login", "conversation.message", "file.uploaded")
BATCH = 4


def make_log(i: int, *, platform: str = "toy") -> AIAuditLog:
    user = USERS[i % len(USERS)] if i % 7 else USERS[0]
    action = ACTIONS[i % len(ACTIONS)]
    return AIAuditLog(
        id=f"evt-{i:05d}",
        platform=platform,
        timestamp=START + timedelta(hours=5 * i),
        user_id=f"user-{user}",
        user_email=f"{user}@example.com",
        organization_id="org-toy",
        activity_type=AIActivityType.LOGIN
        if i % 3 == 0
        else AIActivityType.CONVERSATION,
        action=action,
        metadata={"model": "gpt-4o"} if action == "conversation.message" else {},
        native_type=action.upper(),
        raw={"n": i},
    )


@attrs.frozen(kw_only=True)
class ToyConfig:
    token: Secret = attrs.field(
        converter=lambda v: v if isinstance(v, Secret) else Secret(v)
    )
    events: int = 25


class ToyConnector:
    platform: ClassVar[str] = "toy"
    display_name: ClassVar[str] = "Toy Platform"
    config_class: ClassVar[type[ToyConfig]] = ToyConfig

    def __init__(self, config: ToyConfig, *, session=None) -> None:
        self.config = config
        self.logs = [make_log(i, platform=self.platform) for i in range(config.events)]
        self.closed = 0
        self.stream_closed = 0
        self.reads = []
        self.quarantine = {}

    def _selected(self, query):
        return [
            log
            for log in self.logs
            if query.start_date <= log.timestamp <= query.end_date
            and (not query.event_types or log.action in query.event_types)
        ]

    @hookimpl
    async def authenticate(self) -> ConnectionResult:
        if self.config.token.reveal() != "good":
            return ConnectionResult(success=False, error="bad token", error_code="AUTH")
        return ConnectionResult(success=True, platform_user_id="org-toy")

    @hookimpl
    async def list_streams(self) -> list[StreamInfo]:
        return [
            StreamInfo(name="events", kind=StreamKind.WINDOWED, actions=ACTIONS),
            StreamInfo(name="extras", kind=StreamKind.SNAPSHOT, actions=ACTIONS),
        ]

    @hookimpl
    async def read_stream(self, stream, checkpoint, query):
        """Batches of BATCH logs; every other batch ends with a checkpoint.

        ``events`` holds the first two thirds of the logs, ``extras`` the
        rest, so reads and pages cross a stream boundary.
        """
        self.reads.append((stream, checkpoint))
        split = len(self.logs) * 2 // 3
        logs = self.logs[:split] if stream == "events" else self.logs[split:]
        start = checkpoint["next"] if checkpoint else 0
        try:
            for n, at in enumerate(range(start, len(logs), BATCH)):
                chunk = logs[at : at + BATCH]
                selected = tuple(
                    log
                    for log in chunk
                    if query.start_date <= log.timestamp <= query.end_date
                )
                done = at + BATCH >= len(logs)
                yield StreamBatch(
                    logs=selected,
                    quarantined=self.quarantine.get((stream, at), ()),
                    checkpoint={"next": at + BATCH} if n % 2 or done else None,
                )
        finally:
            self.stream_closed += 1

    @hookimpl
    async def validate_ai_credentials(self) -> AICredentialValidation:
        ok = self.config.token.reveal() == "good"
        return AICredentialValidation(
            is_valid=ok,
            platform=self.platform,
            has_required_permissions=ok,
            missing_permissions=() if ok else ("logs.read",),
            last_checked=START,
        )

    @hookimpl
    async def aclose(self) -> None:
        self.closed += 1


@hookimpl
def aiaudit_register_connectors(register):
    register(ToyConnector)
