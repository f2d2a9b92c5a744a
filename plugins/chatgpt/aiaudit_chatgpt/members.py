"""From the user listings to directory members.

The workspace's members come from the Compliance API's ``/users`` listing
when the connector reads the Compliance API (``compliance.workspace.user``:
``status`` ``active`` or ``inactive``), else from the Admin API's
``/v1/organization/users`` (``organization.user``, whose nested ``user``
says whether the account is enabled or banned). Both name a member by the
``user-...`` id the audit logs' actors carry, so a member and their events
are one person. A record of another shape is refused with the reason, and
quarantined by the reader.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from connector_core import DirectoryMember, MemberStatus, RecordRefusedError


__all__ = ["ADMIN_USERS", "compliance_member", "organization_member"]

ADMIN_USERS: Final = "/organization/users"
"""The Admin API's listing of the organization's members."""


def _text(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordRefusedError(
            f"{key} is {type(value).__name__}, not text",
            native_id=_id(record),
            native_type="user",
        )
    return value


def _id(record: dict[str, Any]) -> str | None:
    value = record.get("id")
    return value if isinstance(value, str) else None


def _record(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise RecordRefusedError(
            f"a user listed as {type(raw).__name__}, not an object", native_type="user"
        )
    if not _id(raw):
        raise RecordRefusedError("a user without an id", native_type="user")
    return raw


def _time(record: dict[str, Any], key: str) -> datetime | None:
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordRefusedError(
            f"{key} is not a Unix time: {value!r}"[:200],
            native_id=_id(record),
            native_type="user",
        )
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise RecordRefusedError(
            f"{key} is not a Unix time: {value!r}"[:200],
            native_id=_id(record),
            native_type="user",
        ) from None


def _member(
    record: dict[str, Any], status: MemberStatus, created: str
) -> DirectoryMember:
    try:
        return DirectoryMember(
            user_id=record["id"],
            email=_text(record, "email"),
            name=_text(record, "name"),
            role=_text(record, "role"),
            status=status,
            created_at=_time(record, created),
            raw=record,
        )
    except ValueError as exc:
        raise RecordRefusedError(
            f"user: {exc}", native_id=_id(record), native_type="user"
        ) from None


def compliance_member(raw: Any) -> DirectoryMember:
    """A workspace user of the Compliance API; ``inactive`` is suspended
    (listed, holding no working seat), any other status active."""
    record = _record(raw)
    inactive = record.get("status") == "inactive"
    status = MemberStatus.SUSPENDED if inactive else MemberStatus.ACTIVE
    return _member(record, status, "created_at")


def organization_member(raw: Any) -> DirectoryMember:
    """An organization user of the Admin API; an account disabled or
    banned is suspended."""
    record = _record(raw)
    account = record.get("user")
    suspended = isinstance(account, dict) and (
        account.get("enabled") is False or account.get("banned") is True
    )
    status = MemberStatus.SUSPENDED if suspended else MemberStatus.ACTIVE
    return _member(record, status, "added_at")
