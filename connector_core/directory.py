"""The user directory: everyone with a seat on a platform, not only those who acted.

Audit events name the people who did something; a security review also
needs the people who could have. A connector whose platform lists its
members implements the ``read_directory`` hook and returns a
:class:`DirectoryListing`: every member it lists, as a
:class:`DirectoryMember`, and each record it could not read as a
:class:`~connector_core.streams.QuarantinedRecord` (never dropped, never a
failed sync). A connector whose platform has no such listing, or whose
configuration cannot reach it, does not implement the hook, and the core
then knows only the people who acted.

The sync engine reads the listing after the streams and stores it as the
connection's directory in one transaction: members listed are stored or
updated, and members stored before but no longer listed are kept, marked
:attr:`MemberStatus.REMOVED`, with when they were last seen listed. So the
directory of a store is a record of who had a seat, and when, never a
snapshot that forgets.

The analytics count ``total_users`` from it (see ``docs/analytics.md``):
the members not removed, together with every user active in the period,
each person once, so the total is never below the active users, even when
someone active was removed since.

This module has no ``from __future__ import annotations``: the serializer
reads the annotations at run time.
"""

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Final

import attrs
from attrs import validators as v

from connector_core.models import _as_dict, ensure_utc_or_none
from connector_core.streams import QuarantinedRecord


__all__ = [
    "DIRECTORY_STREAM",
    "DirectoryListing",
    "DirectoryMember",
    "MemberStatus",
    "directory_total",
]

DIRECTORY_STREAM: Final = "directory"
"""The stream name quarantined directory records are stored under: the
directory is not a stream, but a bad member record is kept beside the
events' like any other."""

_MAX_ID = 1024
"""Characters of a member id at most: an id longer than a long email is
not an id, and it would be a primary key."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class MemberStatus(StrEnum):
    """Where a member stands, in words every platform's are mapped onto.

    The platform's own word is kept in :attr:`DirectoryMember.raw`.
    """

    ACTIVE = "active"
    """Holds a seat and may use the platform."""

    INVITED = "invited"
    """Invited, not joined yet: a seat taken, nothing used."""

    SUSPENDED = "suspended"
    """Listed, but may not use the platform now (deactivated, banned)."""

    REMOVED = "removed"
    """No longer listed: set by the store for a member a later listing
    left out, or by a connector whose platform lists removed members."""


def _member_id(
    instance: object, attribute: "attrs.Attribute[str]", value: object
) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{attribute.name} must be a non-empty string, got {value!r}")
    if len(value) > _MAX_ID or _CONTROL.search(value):
        raise ValueError(
            f"{attribute.name} must be printable and at most {_MAX_ID} characters"
        )


_optional_text = v.optional(v.instance_of(str))


@attrs.frozen(kw_only=True)
class DirectoryMember:
    """One member of a platform's directory, as the platform lists them.

    Attributes:
        user_id: The id the platform's audit events name the member by,
            so a member and their events are one person; unique within a
            connection.
        email: Their email, when the platform gives one.
        name: Their display name, when it gives one.
        role: Their role, in the platform's own word (``owner``,
            ``standard-user``), when it gives one: roles do not map across
            platforms.
        status: Where they stand (:class:`MemberStatus`).
        created_at: When they joined or were added, UTC, when known.
        raw: The member's record as the platform listed it.
    """

    user_id: str = attrs.field(validator=_member_id)
    email: str | None = attrs.field(default=None, validator=_optional_text)
    name: str | None = attrs.field(default=None, validator=_optional_text)
    role: str | None = attrs.field(default=None, validator=_optional_text)
    status: MemberStatus = attrs.field(
        default=MemberStatus.ACTIVE,
        converter=MemberStatus,
        validator=v.instance_of(MemberStatus),
    )
    created_at: dt.datetime | None = attrs.field(
        default=None, converter=ensure_utc_or_none
    )
    raw: Mapping[str, Any] = attrs.field(factory=dict, converter=_as_dict)


@attrs.frozen(kw_only=True)
class DirectoryListing:
    """What ``read_directory`` returns: the whole directory, as listed now.

    Attributes:
        members: Every member listed; a repeated ``user_id`` is one member
            (the last listed wins).
        quarantined: The records that could not be read as members, with
            why; stored under the stream :data:`DIRECTORY_STREAM`.
    """

    members: tuple[DirectoryMember, ...] = attrs.field(
        default=(),
        validator=v.deep_iterable(
            v.instance_of(DirectoryMember), iterable_validator=v.instance_of(tuple)
        ),
    )
    quarantined: tuple[QuarantinedRecord, ...] = attrs.field(
        default=(),
        validator=v.deep_iterable(
            v.instance_of(QuarantinedRecord), iterable_validator=v.instance_of(tuple)
        ),
    )

    @classmethod
    def from_results(
        cls, results: Iterable["DirectoryMember | QuarantinedRecord"]
    ) -> "DirectoryListing":
        """Members and quarantined records apart, from what
        :func:`~connector_core.streams.normalize_or_quarantine` returned
        for each record listed."""
        members: list[DirectoryMember] = []
        quarantined: list[QuarantinedRecord] = []
        for result in results:
            if isinstance(result, QuarantinedRecord):
                quarantined.append(result)
            else:
                members.append(result)
        return cls(members=tuple(members), quarantined=tuple(quarantined))


def directory_total(active: Iterable[str], members: Iterable[DirectoryMember]) -> int:
    """``total_users`` of a period: the people in *active* (user ids with
    an event in it) together with the *members* not removed, each once.

    Never below the active users: someone who acted and has left the
    directory since still counts.
    """
    seated = {m.user_id for m in members if m.status is not MemberStatus.REMOVED}
    return len(seated.union(active))
