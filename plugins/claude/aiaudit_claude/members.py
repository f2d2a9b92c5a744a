"""From the Admin API's user listing to directory members.

``GET /v1/organizations/users`` lists every member of the organization
(``{id, type: "user", email, name, role, added_at}``), paged with
``after_id``; it needs an Admin API key. A member is named by the user id
the Compliance API's activities name their actor by, so a member and their
activity are one person. The listing has no status: a listed member holds
a seat, and one who leaves is no longer listed (the store then marks them
removed). A record of another shape is refused with the reason, and
quarantined by the reader.
"""

from __future__ import annotations

from typing import Any

import attrs
import cattrs

from aiaudit_claude.normalize import parse_time
from connector_core import (
    DirectoryMember,
    MemberStatus,
    RecordRefusedError,
    describe_structure_error,
    strict_converter,
)


__all__ = ["admin_member"]


@attrs.frozen
class AdminUser:
    """The fields of a listed member the connector reads."""

    id: str
    email: str | None = None
    name: str | None = None
    role: str | None = None
    added_at: str | None = None


_read_user = strict_converter().get_structure_hook(AdminUser)


def admin_member(raw: Any) -> DirectoryMember:
    """The directory member of one listed user.

    Raises:
        RecordRefusedError: It cannot be read; the reason names what is wrong.
    """
    try:
        user = _read_user(raw, AdminUser)
    except (cattrs.BaseValidationError, TypeError) as exc:
        reason = f"malformed organization user: {describe_structure_error(exc)}"
        raise RecordRefusedError(reason, native_type="user") from None
    try:
        return DirectoryMember(
            user_id=user.id,
            email=user.email,
            name=user.name,
            role=user.role,
            status=MemberStatus.ACTIVE,
            created_at=None if user.added_at is None else parse_time(user.added_at),
            raw=raw,
        )
    except (ValueError, TypeError) as exc:
        raise RecordRefusedError(
            f"organization user: {exc}", native_id=user.id, native_type="user"
        ) from None
