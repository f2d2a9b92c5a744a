"""The core's listing guards and the checkpoint id set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector_core.cursors import CursorGuard, SeenIds, TimeCursorGuard
from connector_core.exceptions import SchemaError


T0 = datetime(2025, 3, 1, tzinfo=UTC)


def test_a_repeated_cursor_names_the_listing_the_cursor_and_the_pages():
    guard = CursorGuard("gpts listing", "last_id")
    guard.advance("a")
    guard.advance("b")
    with pytest.raises(SchemaError) as raised:
        guard.advance("a")
    message = str(raised.value)
    assert "gpts listing" in message
    assert "last_id 'a'" in message
    assert "page 3" in message
    assert "page 1" in message


def test_fresh_cursors_pass():
    guard = CursorGuard("users listing")
    for n in range(1000):
        guard.advance(f"user-{n}")
    assert guard.pages == 1000


def test_a_time_cursor_must_move_forward():
    guard = TimeCursorGuard("logs listing", "last_end_time")
    guard.advance(T0)
    guard.advance(T0 + timedelta(hours=1))
    with pytest.raises(SchemaError, match="page 3 repeated last_end_time"):
        guard.advance(T0 + timedelta(hours=1))


def test_a_time_cursor_that_goes_back_is_refused():
    guard = TimeCursorGuard("logs listing", "last_end_time")
    guard.advance(T0)
    with pytest.raises(SchemaError, match="went back"):
        guard.advance(T0 - timedelta(seconds=1))


def test_a_time_cursor_before_the_bound_asked_is_refused():
    guard = TimeCursorGuard("logs listing", "last_end_time")
    with pytest.raises(SchemaError, match="went back"):
        guard.advance(T0, floor=T0 + timedelta(seconds=1))


def test_seen_ids_round_trip_and_read_plain_lists():
    ids = [f"audit_log-{n:07d}_20250301" for n in range(500)]
    seen = SeenIds(ids)
    encoded = seen.encode()
    assert len(encoded) < 12 * len(ids)
    again = SeenIds.decode(encoded)
    assert all(i in again for i in ids)
    assert "audit_log-x" not in again
    assert len(again) == len(ids)
    assert "audit_log-0000001_20250301" in SeenIds.decode(ids[:3])
    empty = SeenIds.decode(SeenIds().encode())
    assert not len(empty)


@pytest.mark.parametrize("bad", [5, "!!", "YWJj", [1, 2], {"a": 1}, None])
def test_seen_ids_refuse_what_they_did_not_write(bad):
    with pytest.raises(ValueError, match="id"):
        SeenIds.decode(bad)


def test_seen_ids_take_ids_no_utf8_holds():
    """A hostile server's id may hold a lone surrogate (JSON's ``\\ud800``
    escape decodes to one), which has no UTF-8 form: it is still an id to
    remember and to tell apart, not a crash of the reader."""
    poisoned = "audit_log-\ud800"
    other = "audit_log-\udc00"
    seen = SeenIds([poisoned])
    seen.add(other)
    assert poisoned in seen
    assert other in seen
    assert "audit_log-" not in seen
    assert len(seen) == 2
    again = SeenIds.decode(seen.encode())
    assert poisoned in again
    assert other in again
    # An id with a NUL or of thousands of characters is only a digest too.
    seen.add("user\x00id")
    seen.add("9" * 6000)
    assert "user\x00id" in seen
    assert "9" * 6000 in seen


def test_seen_ids_compare_by_the_ids_they_hold():
    """Checkpoints holding them compare by value."""
    assert SeenIds(["a", "b"]) == SeenIds(["b", "a"])
    assert SeenIds(["a", "b"]) == SeenIds.decode(SeenIds(["a", "b"]).encode())
    assert SeenIds(["a"]) != SeenIds(["b"])
    assert SeenIds() == SeenIds()
    assert SeenIds(["a"]) != {"a"}
    with pytest.raises(TypeError):
        hash(SeenIds())


def test_seen_ids_show_their_size_not_their_digests():
    assert repr(SeenIds(["a", "b"])) == "<SeenIds of 2 ids>"


def test_seen_ids_encode_what_they_hold_after_every_change():
    seen = SeenIds(["a"])
    first = seen.encode()
    assert seen.encode() is first  # kept while the set stays the same
    seen.add("b")
    assert seen.encode() == SeenIds(["a", "b"]).encode()
    seen.update(SeenIds(["c"]))
    assert seen.encode() == SeenIds(["a", "b", "c"]).encode()
    seen.add("c")
    assert SeenIds.decode(seen.encode()) == SeenIds(["a", "b", "c"])
