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
    AIAuditLogResult,
    AIAuditLogResultMetadata,
    AICredentialValidation,
    ConnectionResult,
)


START = datetime(2025, 1, 1, tzinfo=UTC)
USERS = ("ada", "bob", "cy")
ACTIONS = ("user.login", "conversation.message", "file.uploaded")


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
    async def get_ai_audit_logs(self, query) -> AIAuditLogResult:
        selected = self._selected(query)
        start = int(query.cursor or 0)
        limit = query.limit or 10
        page = tuple(selected[start : start + limit])
        more = start + limit < len(selected)
        return AIAuditLogResult(
            logs=page,
            total_count=len(selected),
            has_more=more,
            next_cursor=str(start + limit) if more else None,
            metadata=AIAuditLogResultMetadata(
                query_time_ms=0.0, platform=self.platform
            ),
        )

    @hookimpl
    async def stream_ai_audit_logs(self, query):
        try:
            for log in self._selected(query):
                yield log
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
