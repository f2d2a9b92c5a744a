"""An application's checkpoint keeps the shape earlier releases stored (the
ids as an encoded digest set), so a stored checkpoint still resumes."""

from __future__ import annotations

from datetime import UTC, datetime

from aiaudit_gemini.connector import Resume
from connector_core import SeenIds


SINCE = datetime(2026, 2, 27, 10, tzinfo=UTC)


def test_a_stored_checkpoint_reads_back_and_is_written_alike():
    # As the previous release wrote it: ids "a" and "b", as sorted digests.
    stored = {
        "v": 1,
        "since": "2026-02-27T10:00:00Z",
        "seen": "QPieOVtmQi+EcsLjTYVPdQ==",
    }
    point = Resume.from_dict("login", stored)
    assert point is not None
    assert point.since == SINCE
    assert "a" in point.seen
    assert "b" in point.seen
    assert len(point.seen) == 2
    assert point.to_dict() == stored


def test_the_encoded_ids_are_those_the_read_remembered():
    point = Resume(since=SINCE, seen=SeenIds(["a", "b"]))
    again = Resume.from_dict("login", point.to_dict())
    assert again is not None
    assert "a" in again.seen
    assert "b" in again.seen
    assert "c" not in again.seen
