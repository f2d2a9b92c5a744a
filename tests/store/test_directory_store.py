"""A connection's directory in the store, on SQLite and PostgreSQL: a
listing replaces it in one transaction, members left out are kept as
removed and come back as new, a record the store cannot hold is
quarantined, and a purge forgets it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector_core import (
    DIRECTORY_STREAM,
    DirectoryListing,
    DirectoryMember,
    MemberStatus,
    QuarantinedRecord,
)
from connector_core.exceptions import StoreError


def member(user_id, **fields):
    return DirectoryMember(user_id=user_id, email=f"{user_id}@example.test", **fields)


def statuses(store, connection="c"):
    return {s.member.user_id: s.member.status for s in store.directory(connection)}


def test_a_listing_round_trips_whole(store):
    big = member(
        "u1",
        name="Ünïcode Name",
        role="owner",
        status=MemberStatus.INVITED,
        created_at=datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        raw={"id": "u1", "notes": "x" * 5_000, "nested": {"a": [1, 2, None]}},
    )
    written = store.replace_directory(
        "c", "acme", DirectoryListing(members=(big, member("u0")))
    )
    assert (written.members, written.new, written.gone) == (2, 2, 0)
    stored = store.directory("c")
    assert [s.member for s in stored] == [member("u0"), big]
    assert {s.platform for s in stored} == {"acme"}
    assert store.directory("other") == []
    assert [s.member.user_id for s in store.directory()] == ["u0", "u1"]


def test_members_left_out_are_kept_as_removed_and_come_back_as_new(store):
    store.replace_directory(
        "c", "acme", DirectoryListing(members=(member("a"), member("b")))
    )
    first = {s.member.user_id: s for s in store.directory("c")}
    gone = store.replace_directory(
        "c", "acme", DirectoryListing(members=(member("a"),))
    )
    assert (gone.members, gone.new, gone.gone) == (1, 0, 1)
    assert statuses(store) == {"a": MemberStatus.ACTIVE, "b": MemberStatus.REMOVED}
    removed = next(s for s in store.directory("c") if s.member.user_id == "b")
    assert removed.last_seen == first["b"].last_seen
    again = store.replace_directory(
        "c", "acme", DirectoryListing(members=(member("a"),))
    )
    assert again.gone == 0  # removed once, not again
    back = store.replace_directory(
        "c", "acme", DirectoryListing(members=(member("a"), member("b")))
    )
    assert (back.new, back.gone) == (1, 0)
    returned = next(s for s in store.directory("c") if s.member.user_id == "b")
    assert returned.member.status is MemberStatus.ACTIVE
    assert returned.first_seen == first["b"].first_seen


def test_a_repeated_id_is_one_member_the_last_listed(store):
    listing = DirectoryListing(
        members=(member("a", role="user"), member("a", role="admin"))
    )
    written = store.replace_directory("c", "acme", listing)
    assert written.members == 1
    [stored] = store.directory("c")
    assert stored.member.role == "admin"


def test_what_cannot_be_stored_is_quarantined_not_lost(store):
    unreadable = QuarantinedRecord.of_value(
        DIRECTORY_STREAM, "a user without an id", {"email": "x@example.test"}
    )
    listing = DirectoryListing(
        members=(member("ok"), member("bad\ud800id")),
        quarantined=(unreadable,),
    )
    written = store.replace_directory("c", "acme", listing)
    assert (written.members, written.quarantined) == (1, 2)
    assert list(statuses(store)) == ["ok"]
    reasons = sorted(q.record.reason for q in store.quarantined("c"))
    assert reasons[0] == "a user without an id"
    assert reasons[1].startswith("cannot store directory member")
    assert {q.record.stream for q in store.quarantined("c")} == {DIRECTORY_STREAM}


def test_a_purge_forgets_the_directory(store):
    store.replace_directory("c", "acme", DirectoryListing(members=(member("a"),)))
    assert store.remove_connection("c", purge=True)
    assert store.directory("c") == []


def test_an_empty_listing_is_a_fault_not_everyone_gone(store):
    # A platform always lists someone (the credential's own account): an
    # empty page from a faulty API must not mark every member removed.
    store.replace_directory(
        "c", "acme", DirectoryListing(members=(member("a"), member("b")))
    )
    bad = QuarantinedRecord.of(DIRECTORY_STREAM, "x", "{}")
    for listing in (DirectoryListing(), DirectoryListing(quarantined=(bad,))):
        with pytest.raises(StoreError, match="listed no member, while 2 are stored"):
            store.replace_directory("c", "acme", listing)
        assert statuses(store) == {"a": MemberStatus.ACTIVE, "b": MemberStatus.ACTIVE}
    # What it could not read is kept all the same.
    assert len(store.quarantined("c")) == 1
    # A connection with nothing stored yet may list nobody.
    assert store.replace_directory("new", "acme", DirectoryListing()).members == 0
