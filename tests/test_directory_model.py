"""The directory member and listing: validated like every record, and the
one definition of ``total_users`` over them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from connector_core import (
    DIRECTORY_STREAM,
    DirectoryListing,
    DirectoryMember,
    MemberStatus,
    QuarantinedRecord,
    normalize_or_quarantine,
)
from connector_core.directory import directory_total


def test_a_member_is_checked():
    for bad in ("", "   ", "a\x00b", "x" * 2_000):
        with pytest.raises(ValueError, match="user_id"):
            DirectoryMember(user_id=bad)
    with pytest.raises(ValueError, match="naive"):
        DirectoryMember(user_id="u", created_at=datetime(2025, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="'retired'"):
        DirectoryMember(user_id="u", status="retired")
    with pytest.raises(TypeError):
        DirectoryMember(user_id="u", email=3)


def test_a_member_is_utc_and_frozen():
    plus_two = timezone(timedelta(hours=2))
    member = DirectoryMember(
        user_id="u",
        status="invited",
        created_at=datetime(2025, 1, 1, 2, tzinfo=plus_two),
    )
    assert member.status is MemberStatus.INVITED
    assert member.created_at == datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(AttributeError):
        member.user_id = "v"  # type: ignore[misc]


def test_a_listing_sorts_what_the_normalizer_returned():
    def read(raw):
        return DirectoryMember(user_id=raw["id"])

    listing = DirectoryListing.from_results(
        normalize_or_quarantine(DIRECTORY_STREAM, raw, read)
        for raw in ({"id": "a"}, {"name": "no id"}, {"id": "b"})
    )
    assert [m.user_id for m in listing.members] == ["a", "b"]
    [bad] = listing.quarantined
    assert isinstance(bad, QuarantinedRecord)
    assert bad.stream == DIRECTORY_STREAM
    with pytest.raises(TypeError):
        DirectoryListing(members=[DirectoryMember(user_id="a")])  # type: ignore[arg-type]


def test_total_users_is_never_below_the_active_users():
    members = [
        DirectoryMember(user_id="seat"),
        DirectoryMember(user_id="both"),
        DirectoryMember(user_id="left", status=MemberStatus.REMOVED),
        DirectoryMember(user_id="paused", status=MemberStatus.SUSPENDED),
    ]
    assert directory_total({"both", "left", "gone"}, members) == 5
    assert directory_total({"a", "b"}, []) == 2
    assert directory_total(set(), members) == 3
