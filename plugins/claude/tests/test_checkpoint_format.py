"""The feed's and the chats' checkpoints keep the shape earlier releases
stored, so a stored checkpoint still resumes."""

from __future__ import annotations

from datetime import UTC, datetime

from aiaudit_claude.connector import Resume
from aiaudit_claude.content import ChatsResume


SINCE = datetime(2026, 2, 27, 10, tzinfo=UTC)
STORED = {"v": 1, "since": "2026-02-27T10:00:00Z", "seen": ["activity_01", "b"]}


def test_a_stored_feed_checkpoint_reads_back_and_is_written_alike():
    point = Resume.from_dict("activities", STORED)
    assert point == Resume(since=SINCE, seen=("activity_01", "b"))
    assert point.to_dict() == STORED
    assert Resume.from_dict("activities", {"since": STORED["since"]}) == Resume(
        since=SINCE
    )


def test_a_stored_chats_checkpoint_reads_back_and_is_written_alike():
    stored = {**STORED, "seen": ["chat_01@2026-02-27T09:59:00Z"]}
    point = ChatsResume.from_dict("chats", stored)
    assert point == ChatsResume(since=SINCE, seen=("chat_01@2026-02-27T09:59:00Z",))
    assert point.to_dict() == stored
