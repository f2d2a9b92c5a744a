"""What the store keeps of a stream's coverage and of a backfill under way,
on SQLite and PostgreSQL: a backfill's checkpoint commits with its events
and never touches the stream's own, and a record that cannot be read, a
reset or a purge are handled like a checkpoint's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector_core.exceptions import CheckpointError, StoreError
from connector_core.models import AIActivityType, AIAuditLog
from connector_core.store.base import Backfill, Coverage, LogFilter


START = datetime(2025, 1, 1, tzinfo=UTC)


def make_log(i: int) -> AIAuditLog:
    return AIAuditLog(
        id=f"evt-{i}",
        platform="toy",
        timestamp=START + timedelta(hours=i),
        user_id="user-ada",
        user_email="ada@example.com",
        organization_id="org-1",
        activity_type=AIActivityType.LOGIN,
        action="user.login",
        native_type="login",
        raw={"n": i},
    )


def _pending(checkpoint=None) -> Coverage:
    return Coverage(
        start=START + timedelta(days=10),
        backfill=Backfill(
            start=START, end=START + timedelta(days=10), checkpoint=checkpoint
        ),
    )


def test_a_backfill_checkpoint_commits_with_its_events_and_apart(store):
    store.write_batch("c1", "audit", [make_log(300)], checkpoint={"at": 300})
    store.save_coverage("c1", "audit", _pending())

    result = store.write_batch(
        "c1", "audit", [make_log(1), make_log(300)], checkpoint={"at": 1}, backfill=True
    )

    assert (result.inserted, result.duplicates) == (1, 1)
    assert store.checkpoint("c1", "audit") == {"at": 300}
    assert store.coverage("c1", "audit") == _pending({"at": 1})
    # Microseconds survive, as every stored time does.
    exact = Coverage(start=START + timedelta(microseconds=123_457))
    store.save_coverage("c1", "audit", exact)
    assert store.coverage("c1", "audit") == exact


def test_a_backfill_batch_with_no_backfill_under_way_writes_nothing(store):
    store.save_coverage("c1", "audit", Coverage(start=START))
    with pytest.raises(StoreError, match="no backfill of 'c1'/'audit' is under way"):
        store.write_batch("c1", "audit", [make_log(1)], backfill=True)
    assert store.count_logs(LogFilter(connection="c1")) == 0


def test_an_unreadable_backfill_checkpoint_is_a_checkpoint_error(store):
    store.save_coverage("c1", "audit", _pending({"at": 1}))
    with store._mutex, store._session("write") as session:
        session.execute(
            store._sql("UPDATE coverage SET backfill_checkpoint = ?"), ("[1, 2",)
        )
    with pytest.raises(CheckpointError, match=r"'audit'.*not JSON"):
        store.coverage("c1", "audit")
    assert store.reset_checkpoints("c1") == []
    assert store.coverage("c1", "audit") == Coverage(start=None, estimated=True)


def test_a_coverage_needs_a_start(store):
    with pytest.raises(StoreError, match="needs a start"):
        store.save_coverage("c1", "audit", Coverage(start=None))


def test_reset_and_purge_forget_the_coverage(store):
    for stream in ("audit", "files"):
        store.write_batch("c1", stream, [], checkpoint={"at": 1})
        store.save_coverage("c1", stream, _pending({"at": 2}))
    store.save_coverage("c2", "audit", Coverage(start=START))

    assert store.reset_checkpoints("c1", ["audit"]) == ["audit"]
    assert store.coverage("c1", "audit").estimated
    assert store.coverage("c1", "files") == _pending({"at": 2})

    assert store.remove_connection("c1", purge=True) is True
    assert store.coverage("c1", "files").estimated
    assert store.coverage("c2", "audit") == Coverage(start=START)
