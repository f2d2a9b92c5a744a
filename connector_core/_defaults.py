"""Core defaults for the connector operations that follow from others.

Registered behind every connector instance with ``trylast``, so a connector's
own implementation always wins and a small connector (the required three
operations) still answers connection, analytics, permission and generic
audit-log calls.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from connector_core import paging
from connector_core._logging import get_logger
from connector_core.analytics import UsageAccumulator
from connector_core.exceptions import (
    ConfigurationError,
    ConnectorError,
    NotSupportedError,
)
from connector_core.hookspecs import hookimpl
from connector_core.models import (
    ActorType,
    AIAuditLog,
    AIAuditLogQuery,
    AuditLogEntry,
    AuditOutcome,
    ConnectionResult,
    PermissionCheck,
)


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from connector_core.connector import Connector
    from connector_core.directory import DirectoryMember
    from connector_core.models import (
        AIAuditLogResult,
        AIDateRange,
        OAuthCredentials,
        UsageAnalytics,
    )

log = get_logger(__name__)


@hookimpl(trylast=True)
async def authenticate(
    connector: Connector, credentials: OAuthCredentials | None
) -> ConnectionResult:
    # Validation checks the configured key only: answering for other
    # credentials with it would report on the wrong key.
    if credentials is not None:
        raise NotSupportedError(
            connector.platform, "authenticate with credentials handed over"
        )
    validation = await connector.validate_ai_credentials()
    metadata: dict[str, object] = {"derived_from": "validate_ai_credentials"}
    if validation.missing_permissions:
        metadata["missing_permissions"] = list(validation.missing_permissions)
    if validation.is_valid:
        return ConnectionResult(success=True, metadata=metadata)
    return ConnectionResult(
        success=False,
        error="; ".join(validation.errors) or "the credentials were refused",
        # A failed connection carries a code a host can branch on.
        error_code="INVALID_CREDENTIALS",
        metadata=metadata,
    )


@hookimpl(trylast=True)
async def get_ai_audit_logs(
    connector: Connector, query: AIAuditLogQuery
) -> AIAuditLogResult:
    return await paging.read_page(connector, query)


@hookimpl(trylast=True)
async def stream_ai_audit_logs(
    connector: Connector, query: AIAuditLogQuery
) -> AsyncGenerator[AIAuditLog, None]:
    async with contextlib.aclosing(paging.iter_logs(connector, query)) as logs:
        async for entry in logs:
            yield entry


@hookimpl(trylast=True)
async def get_usage_analytics(
    connector: Connector, period: AIDateRange
) -> UsageAnalytics:
    accumulator = UsageAccumulator(platform=connector.platform, period=period)
    query = AIAuditLogQuery(start_date=period.start, end_date=period.end)
    async for log in connector.stream_ai_audit_logs(query):
        accumulator.add(log)
    return accumulator.result(directory=await live_directory(connector))


async def live_directory(connector: Connector) -> list[DirectoryMember] | None:
    """The connector's directory members, read now, for the live analytics'
    ``total_users``; ``None`` (the active users are counted) when it has
    none, or it cannot be read: a head count is worth a warning, not a
    failed report."""
    if not connector.implements("read_directory"):
        return None
    try:
        return list((await connector.read_directory()).members)
    except NotSupportedError:
        return None
    except ConnectorError as exc:
        log.warning("usage.directory_unavailable", error=str(exc))
        return None


@hookimpl(trylast=True)
async def validate_permissions(connector: Connector) -> PermissionCheck:
    validation = await connector.validate_ai_credentials()
    return PermissionCheck(
        is_valid=validation.is_valid and validation.has_required_permissions,
        permissions=(),
        missing_permissions=validation.missing_permissions,
        errors=validation.errors,
        last_checked=validation.last_checked,
        metadata={"derived_from": "validate_ai_credentials"},
    )


@hookimpl(trylast=True)
async def get_audit_logs(connector: Connector, since: datetime) -> list[AuditLogEntry]:
    if since.tzinfo is None:
        raise ConfigurationError("since must be an aware datetime")
    now = datetime.now(UTC)
    if since > now:
        return []
    query = AIAuditLogQuery(start_date=since, end_date=now)
    return [
        to_audit_log_entry(log) async for log in connector.stream_ai_audit_logs(query)
    ]


def to_audit_log_entry(log: AIAuditLog) -> AuditLogEntry:
    """Express a normalized log in the generic audit-trail shape.

    The resource is what the platform's metadata names (``resource_type`` and
    ``resource_id``), else the activity itself; the actor type is
    ``metadata["actor_type"]`` when it is one the generic shape knows, else a
    user; a ``*.failed`` action is a failure outcome, everything else a
    success.
    """
    metadata = log.metadata
    try:
        actor_type = ActorType(metadata.get("actor_type", ActorType.USER))
    except ValueError:
        actor_type = ActorType.USER
    location = None
    if log.location is not None:
        parts = (log.location.city, log.location.region, log.location.country)
        location = ", ".join(part for part in parts if part) or None
    return AuditLogEntry(
        id=log.id,
        timestamp=log.timestamp,
        actor_id=log.user_id,
        actor_type=actor_type,
        action_type=log.action,
        resource_type=str(metadata.get("resource_type", log.activity_type)),
        resource_id=str(metadata.get("resource_id", log.id)),
        details={
            "platform": log.platform,
            "native_type": log.native_type,
            "metadata": dict(metadata),
        },
        ip_address=log.ip_address,
        user_agent=log.user_agent,
        location=location,
        outcome=AuditOutcome.FAILURE
        if log.action.endswith(".failed")
        else AuditOutcome.SUCCESS,
    )
