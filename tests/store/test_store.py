"""The stores: every guarantee of ``connector_core.store.base``, on both kinds.

Most tests take the ``store`` fixture and so run once on SQLite and once on
PostgreSQL; the two must behave identically.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import random
import secrets
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector_core.analytics import UsageAccumulator
from connector_core.exceptions import (
    ConfigurationError,
    ConnectionBusyError,
    StoreError,
)
from connector_core.models import (
    AIActivityType,
    AIAuditLog,
    AIDateRange,
    AIRiskIndicator,
    AIRiskType,
    ComplianceFramework,
    Coordinates,
    GeoLocation,
    RiskSeverity,
)
from connector_core.secrets import Secret
from connector_core.store import (
    LogFilter,
    SavedConnection,
    _schema,
    _sql,
    default_store_url,
    mask_url,
    open_store,
)
from connector_core.streams import QuarantinedRecord


UTC = dt.UTC
T0 = dt.datetime(2024, 3, 1, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


def make_log(
    number: int | str,
    *,
    at: dt.datetime = T0,
    user: str = "u1",
    email: str | None = "u1@example.com",
    action: str = "conversation.created",
    platform: str = "chatgpt",
    metadata: dict | None = None,
    **fields,
) -> AIAuditLog:
    return AIAuditLog(
        id=number if isinstance(number, str) else f"evt-{number:05d}",
        platform=platform,
        timestamp=at,
        user_id=user,
        user_email=email,
        activity_type=AIActivityType.CONVERSATION,
        action=action,
        metadata=metadata or {},
        native_type=action,
        **{"organization_id": "org-1", **fields},
    )


def of_org(logs, organization):
    """*logs* as another organization's: the same ids, other events."""
    return [attrs.evolve(log, organization_id=organization) for log in logs]


def in_order(logs):
    return sorted(logs, key=lambda log: (log.timestamp, log.id))


def all_logs(store, **where):
    return list(store.iter_logs(LogFilter(**where)))


# --------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------


def test_migrating_again_changes_nothing(store, store_url):
    store.write_batch("c1", "audit", [make_log(1)], checkpoint={"after": 1})
    store.migrate()
    store.migrate()
    with store._session("read") as session:
        versions = session.query("SELECT version FROM schema_version ORDER BY 1")
    assert versions == [(m.version,) for m in _schema.MIGRATIONS]

    reopened = open_store(store_url)
    try:
        assert all_logs(reopened) == [make_log(1)]
        assert reopened.checkpoints("c1") == {"audit": {"after": 1}}
    finally:
        reopened.close()


def test_concurrent_first_opens_migrate_once(store_url):
    # Several connections race to create the same new schema.
    opened, errors = [], []

    def open_one():
        try:
            opened.append(open_store(store_url))
        except Exception as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        with opened[0]._session("read") as session:
            count = session.query("SELECT COUNT(*) FROM schema_version")[0][0]
            assert count == len(_schema.MIGRATIONS)
    finally:
        for one in opened:
            one.close()


def test_a_newer_schema_is_refused(store, store_url):
    with store._session("write") as session:
        session.execute(
            store.dialect.sql(
                "INSERT INTO schema_version (version, description, applied_at)"
                " VALUES (?, ?, ?)"
            ),
            (999, "from the future", "2030-01-01T00:00:00.000000Z"),
        )
    with pytest.raises(StoreError, match="upgrade aiaudit"):
        open_store(store_url)


def test_a_closed_store_says_so(store):
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.list_connections()


def test_a_failed_sqlite_commit_leaves_the_store_usable(tmp_path):
    """A COMMIT can fail after every statement succeeded (here a deferred
    foreign key, in real life a busy reader or an I/O error); SQLite then
    keeps the transaction open, and the store must not stay stuck in it."""
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with store._session("read") as session:  # outside a transaction
            session.execute("PRAGMA foreign_keys = ON")
        with store._session("write") as session:
            session.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
            session.execute(
                "CREATE TABLE child (parent INTEGER REFERENCES parent (id)"
                " DEFERRABLE INITIALLY DEFERRED)"
            )
        with pytest.raises(StoreError, match="FOREIGN KEY"):  # noqa: SIM117
            with store._session("write") as session:
                session.execute("INSERT INTO child VALUES (42)")

        result = store.write_batch("c", "s", [make_log(1)], checkpoint={"at": 1})
        assert result.inserted == 1
        with store._session("read") as session:
            assert session.query("SELECT count(*) FROM child") == [(0,)]
        assert store.checkpoints("c") == {"s": {"at": 1}}
    finally:
        store.close()


# --------------------------------------------------------------------------
# Connections
# --------------------------------------------------------------------------


def saved(name="prod", platform="chatgpt", **config):
    return SavedConnection(
        name=name,
        platform=platform,
        config=config or {"api_key": {"env": "OPENAI_ADMIN_KEY"}, "org": "org-1"},
        created_at=T0,
    )


def test_connections_are_added_listed_replaced_and_removed(store):
    assert store.list_connections() == []
    assert store.get_connection("prod") is None

    store.add_connection(saved("prod"))
    store.add_connection(saved("dev", base_url="http://localhost:8080", pages=[1, 2]))
    assert store.get_connection("prod") == saved("prod")
    assert [c.name for c in store.list_connections()] == ["dev", "prod"]
    assert store.get_connection("dev").config == {
        "base_url": "http://localhost:8080",
        "pages": [1, 2],
    }

    with pytest.raises(StoreError, match="already exists"):
        store.add_connection(saved("prod", org="other"))
    assert store.get_connection("prod") == saved("prod")

    store.add_connection(saved("prod", org="other"), replace=True)
    assert store.get_connection("prod").config == {"org": "other"}

    assert store.remove_connection("prod") is True
    assert store.remove_connection("prod") is False
    assert [c.name for c in store.list_connections()] == ["dev"]


def test_created_at_keeps_the_instant(store):
    at = dt.datetime(
        2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2))
    )
    store.add_connection(attrs.evolve(saved(), created_at=at))
    assert store.get_connection("prod").created_at == at
    naive = attrs.evolve(saved("naive"), created_at=dt.datetime(2024, 1, 1))  # noqa: DTZ001 -- the point
    with pytest.raises(StoreError, match="naive"):
        store.add_connection(naive)


@pytest.mark.parametrize(
    "config",
    [
        {"api_key": Secret("a-real-key-123")},
        {"api_key": "sk-admin-abcdefghijklmnop"},
        {"nested": {"keys": ["fine", "sk-proj-0123456789"]}},
    ],
)
def test_a_config_holding_a_key_is_refused(store, config):
    with pytest.raises(StoreError, match=r"never hold a key.*\{'env'") as caught:
        store.add_connection(saved(**config))
    assert "abcdefghijklmnop" not in str(caught.value)
    assert "0123456789" not in str(caught.value)
    assert store.list_connections() == []


def test_a_config_that_is_not_json_is_refused(store):
    with pytest.raises(StoreError, match="not JSON-serializable"):
        store.add_connection(saved(when=T0))


def test_purging_a_connection_forgets_everything_of_it(store):
    store.add_connection(saved("prod"))
    record = QuarantinedRecord.of("audit", "bad", "{}")
    store.write_batch("prod", "audit", [make_log(1)], [record], {"after": 1})
    store.write_batch(
        "other", "audit", of_org([make_log(1)], "org-2"), [record], {"after": 1}
    )

    assert store.remove_connection("prod", purge=True) is True
    assert store.count_logs(LogFilter(connection="prod")) == 0
    assert store.checkpoints("prod") == {}
    assert store.quarantined("prod") == []
    period = AIDateRange(start=T0, end=T0)
    assert store.usage_analytics(period, platform="chatgpt").total_events == 1
    assert store.count_logs(LogFilter(connection="other")) == 1
    # Orphaned data (no saved connection) can be purged too.
    assert store.remove_connection("other", purge=True) is True
    assert store.remove_connection("other", purge=True) is False


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


def rich_logs():
    berlin = dt.timezone(dt.timedelta(hours=1))
    return [
        make_log(
            1,
            at=dt.datetime(2024, 3, 1, 10, 0, 0, 1, tzinfo=UTC),
            metadata={
                "model": "gpt-4o",
                "tokens_used": 1234,
                "nested": {"list": [1, 2.5, "x", None, True], "text": "héllo ✓ 日本"},
                "float": 0.1,
                "negative": -3,
            },
            raw={"id": "evt-00001", "type": "conversation.created", "actor": {"n": 1}},
            ip_address="203.0.113.7",
            user_agent="Mozilla/5.0",
            location=GeoLocation(
                country="DE",
                region="Berlin",
                city="Berlin",
                coordinates=Coordinates(latitude=52.52, longitude=13.405),
                timezone="Europe/Berlin",
            ),
            risk_indicators=(
                AIRiskIndicator(
                    type=AIRiskType.SENSITIVE_DATA,
                    severity=RiskSeverity.HIGH,
                    description="an upload named payroll.xlsx",
                    confidence=87.5,
                    evidence=("file_name", "payroll.xlsx"),
                    compliance_impact=(
                        ComplianceFramework.GDPR,
                        ComplianceFramework.SOX,
                    ),
                ),
            ),
        ),
        # Another zone: stored as the same instant in UTC.
        make_log(2, at=dt.datetime(2024, 3, 1, 12, 30, tzinfo=berlin), email=None),
        make_log(3, at=dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        make_log(
            "odd id: ünïcode / 'quotes' \"and\" \\ backslash", user="user with spaces"
        ),
    ]


def test_stored_logs_come_back_exactly(store):
    logs = rich_logs()
    result = store.write_batch("c1", "audit", logs)
    assert (result.inserted, result.duplicates, result.quarantined) == (4, 0, 0)
    stored = all_logs(store)
    assert stored == in_order(logs)
    # Equal is not enough for floats and zones: the documents are identical.
    assert [log.raw for log in stored] == [log.raw for log in in_order(logs)]
    assert stored[0].timestamp.tzinfo is UTC
    assert store.count_logs(LogFilter()) == 4


def test_a_log_that_cannot_be_serialized_is_quarantined(store):
    bad = make_log(2, metadata={"huge": 2**70})
    result = store.write_batch("c1", "audit", [make_log(1), bad], checkpoint={"a": 1})
    assert (result.inserted, result.quarantined) == (1, 1)
    assert all_logs(store) == [make_log(1)]
    assert store.checkpoints("c1") == {"audit": {"a": 1}}
    [item] = store.quarantined()
    assert item.record.native_id == "evt-00002"
    assert "not serializable as JSON" in item.record.reason
    assert str(2**70) in item.record.raw


def test_duplicates_are_counted_and_never_stored_twice(store):
    logs = [make_log(i, at=T0 + dt.timedelta(minutes=i)) for i in range(10)]
    first = store.write_batch("c1", "audit", logs[:6])
    assert (first.inserted, first.duplicates) == (6, 0)

    again = store.write_batch("c1", "audit", [*logs[4:], logs[9]])
    assert (again.inserted, again.duplicates) == (4, 3)

    nothing_new = store.write_batch("c1", "audit", logs)
    assert (nothing_new.inserted, nothing_new.duplicates) == (0, 10)

    # The same id in another connection's organization is another event
    # (of one organization, it would be stored once: see
    # test_shared_organizations).
    other = store.write_batch("c2", "audit", of_org(logs[:2], "org-2"))
    assert (other.inserted, other.duplicates) == (2, 0)

    assert all_logs(store, connection="c1") == logs
    period = AIDateRange(start=T0, end=T0 + dt.timedelta(days=1))
    analytics = store.usage_analytics(period, platform="chatgpt", connection="c1")
    assert analytics.total_events == 10


def test_a_duplicate_keeps_the_first_version(store):
    store.write_batch("c1", "audit", [make_log(1, action="first")])
    result = store.write_batch("c1", "audit", [make_log(1, action="second")])
    assert result.duplicates == 1
    assert [log.action for log in all_logs(store)] == ["first"]


def test_checkpoints_are_upserted_per_stream(store):
    assert store.checkpoints("c1") == {}
    store.write_batch("c1", "audit", [make_log(1)], checkpoint={"after": "a"})
    store.write_batch("c1", "audit", [], checkpoint={"after": "b", "n": [1, 2]})
    store.write_batch("c1", "files", [], checkpoint={"file": "x.jsonl"})
    store.write_batch("c1", "audit", [make_log(2)])  # None keeps the previous one
    store.write_batch("c2", "audit", [], checkpoint={"after": "z"})
    assert store.checkpoints("c1") == {
        "audit": {"after": "b", "n": [1, 2]},
        "files": {"file": "x.jsonl"},
    }
    assert store.checkpoints("c2") == {"audit": {"after": "z"}}


def test_a_failing_checkpoint_takes_the_batch_with_it(store):
    store.write_batch("c1", "audit", [make_log(1)], checkpoint={"after": 1})
    before = store.usage_analytics(AIDateRange(start=T0, end=T0), platform="chatgpt")
    batch = [make_log(2), make_log(3, user="u2")]
    bad = [QuarantinedRecord.of("audit", "unparseable", "{oops")]
    with pytest.raises(StoreError, match="not JSON-serializable"):
        store.write_batch("c1", "audit", batch, bad, checkpoint={"after": object()})
    assert all_logs(store) == [make_log(1)]
    assert store.checkpoints("c1") == {"audit": {"after": 1}}
    assert store.quarantined() == []
    after = store.usage_analytics(AIDateRange(start=T0, end=T0), platform="chatgpt")
    assert after == before


@pytest.mark.parametrize("step", ["_add_usage", "_save_checkpoint", "_bulk_insert"])
def test_a_failure_in_the_middle_of_a_batch_leaves_nothing(store, monkeypatch, step):
    store.write_batch("c1", "audit", [make_log(1)], checkpoint={"after": 1})
    original = getattr(type(store), step)
    calls = []

    def fail_after_the_events(self, *args, **kwargs):
        calls.append(step)
        if step != "_bulk_insert" or len(calls) == 2:
            raise RuntimeError("injected")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(store), step, fail_after_the_events)
    batch = [make_log(2), make_log(3, at=T0 + dt.timedelta(days=2))]
    record = QuarantinedRecord.of("audit", "bad", "{x")
    with pytest.raises(RuntimeError, match="injected"):
        store.write_batch("c1", "audit", batch, [record], checkpoint={"after": 3})
    monkeypatch.undo()

    assert all_logs(store) == [make_log(1)]
    assert store.checkpoints("c1") == {"audit": {"after": 1}}
    assert store.quarantined() == []
    period = AIDateRange(start=T0 - dt.timedelta(days=1), end=T0 + dt.timedelta(days=3))
    assert store.usage_analytics(period, platform="chatgpt").total_events == 1
    # And the store still works: the same batch goes in afterwards.
    result = store.write_batch("c1", "audit", batch, [record], checkpoint={"after": 3})
    assert (result.inserted, result.quarantined) == (2, 1)
    assert store.usage_analytics(period, platform="chatgpt").total_events == 3


def test_quarantined_records_are_stored_once(store):
    first = QuarantinedRecord.of("audit", "no timestamp", '{"id": "a"}', native_id="a")
    second = QuarantinedRecord.of(
        "files", "not JSON", b"\xff\xfe garbage", native_type="file.line"
    )
    huge = QuarantinedRecord.of("audit", "too big", "x" * 100_000)
    result = store.write_batch("c1", "audit", [], [first, second, first])
    assert result.quarantined == 2
    result = store.write_batch("c1", "audit", [make_log(1)], [first, huge])
    assert (result.inserted, result.quarantined) == (1, 1)
    # Same text, other stream: another record. Other connection: another.
    same_text = QuarantinedRecord.of("files", "no timestamp", '{"id": "a"}')
    store.write_batch("c1", "files", [], [same_text])
    store.write_batch("c2", "audit", [], [first])

    stored = store.quarantined("c1")
    assert [item.record for item in stored] == [first, second, huge, same_text]
    assert stored[2].record.truncated is True
    assert all(item.connection == "c1" for item in stored)
    assert all(item.created_at.tzinfo is not None for item in stored)
    assert len(store.quarantined()) == 5
    assert [item.connection for item in store.quarantined("c2")] == ["c2"]


def test_quarantined_text_the_databases_cannot_hold_is_escaped(store):
    record = QuarantinedRecord(stream="audit", reason="nul\x00", raw='{"a": "\x00"}')
    store.write_batch("c1", "audit", [], [record])
    store.write_batch("c1", "audit", [], [record])
    [stored] = store.quarantined()
    assert stored.record.raw == '{"a": "\\u0000"}'
    assert stored.record.reason == "nul\\u0000"


def test_concurrent_writers_count_each_event_once(store, store_url):
    # The sync lock keeps one writer per connection; without it, batches
    # that overlap still store each event once, sum it once, and do not
    # deadlock, even written at the same moment in opposite orders.
    rounds = [
        [
            make_log(
                f"r{n}-{i:03d}", at=T0 + dt.timedelta(minutes=i), user=f"user-{i % 7}"
            )
            for i in range(300)
        ]
        for n in range(4)
    ]
    other = open_store(store_url)
    start = threading.Barrier(2)
    results, errors = [], []

    def write(target, reverse):
        try:
            for batch in rounds:
                start.wait(timeout=30)
                ordered = batch[::-1] if reverse else batch
                results.append(target.write_batch("c1", "audit", ordered))
        except Exception as exc:  # noqa: BLE001 -- reported below
            start.abort()
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(store, False)),
        threading.Thread(target=write, args=(other, True)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.close()
    assert errors == []
    assert sum(result.inserted for result in results) == 1200
    assert sum(result.duplicates for result in results) == 1200
    period = AIDateRange(start=T0, end=T0 + dt.timedelta(days=1))
    logs = [("c1", log) for batch in rounds for log in batch]
    expected = expected_analytics(logs, period, platform="chatgpt")
    assert store.usage_analytics(period, platform="chatgpt") == expected


def test_the_store_can_be_used_from_a_worker_thread(store):
    # The sync engine writes from a thread; the CLI reads from the main one.
    done = []
    worker = threading.Thread(
        target=lambda: done.append(store.write_batch("c1", "audit", [make_log(1)]))
    )
    worker.start()
    worker.join()
    assert done[0].inserted == 1
    assert all_logs(store) == [make_log(1)]


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------


@pytest.fixture
def filtered(store):
    logs = {
        "c1": [
            make_log(1, at=T0, user="alice", email="alice@example.com"),
            make_log(2, at=T0 + dt.timedelta(hours=1), user="bob", email=None),
            make_log(3, at=T0 + dt.timedelta(hours=2), action="file.uploaded"),
            make_log(4, at=T0 + dt.timedelta(days=1), user="carol", email="c@x.io"),
        ],
        # Another organization's: its event 1 is not c1's.
        "c2": of_org(
            [
                make_log(1, at=T0, user="alice", email="alice@example.com"),
                make_log(5, at=T0 + dt.timedelta(hours=1), platform="claude"),
            ],
            "org-2",
        ),
    }
    for connection, batch in logs.items():
        store.write_batch(connection, "audit", batch)
    return store, logs


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({}, ["c1/1", "c2/1", "c1/2", "c2/5", "c1/3", "c1/4"]),
        ({"connection": "c2"}, ["c2/1", "c2/5"]),
        ({"platform": "claude"}, ["c2/5"]),
        ({"start": T0 + dt.timedelta(hours=1)}, ["c1/2", "c2/5", "c1/3", "c1/4"]),
        ({"end": T0 + dt.timedelta(hours=1)}, ["c1/1", "c2/1", "c1/2", "c2/5"]),
        (
            {"start": T0 + dt.timedelta(hours=1), "end": T0 + dt.timedelta(hours=2)},
            ["c1/2", "c2/5", "c1/3"],
        ),
        ({"user_ids": ("bob",)}, ["c1/2"]),
        ({"user_ids": ("alice@example.com", "carol")}, ["c1/1", "c2/1", "c1/4"]),
        ({"actions": ("file.uploaded",)}, ["c1/3"]),
        (
            {"actions": ("file.uploaded", "conversation.created"), "limit": 2},
            ["c1/1", "c2/1"],
        ),
        ({"limit": 0}, []),
        ({"connection": "c1", "user_ids": ("u1",), "platform": "chatgpt"}, ["c1/3"]),
        ({"connection": "nobody"}, []),
    ],
)
def test_filters_narrow_the_logs(filtered, where, expected):
    store, logs = filtered
    by_name = {
        f"{connection}/{int(log.id.removeprefix('evt-'))}": log
        for connection, batch in logs.items()
        for log in batch
    }
    assert all_logs(store, **where) == [by_name[name] for name in expected]
    assert store.count_logs(LogFilter(**where)) == len(expected)


def test_a_negative_limit_is_an_error(store):
    with pytest.raises(ValueError, match="limit"):
        store.count_logs(LogFilter(limit=-1))


def test_reading_pages_through_ties_in_order(store, monkeypatch):
    monkeypatch.setattr(_sql, "READ_CHUNK", 7)
    # Many events per timestamp, in two connections (of two organizations)
    # with the same ids: the pages must split inside a timestamp and inside
    # an id.
    logs = [make_log(i, at=T0 + dt.timedelta(seconds=i // 20)) for i in range(60)]
    for connection in ("c2", "c1"):
        store.write_batch(connection, "audit", of_org(logs, f"org-{connection}"))
    stored = all_logs(store)
    assert len(stored) == 120
    keys = [(log.timestamp, log.id) for log in stored]
    assert keys == sorted(keys)
    assert stored == [
        attrs.evolve(log, organization_id=f"org-{connection}")
        for log in in_order(logs)
        for connection in ("c1", "c2")
    ]
    assert all_logs(store, limit=15) == stored[:15]
    assert all_logs(store, connection="c1", limit=30) == of_org(
        in_order(logs)[:30], "org-c1"
    )


def test_reading_while_writing(store, monkeypatch):
    # No cursor stays open between pages: writing between them is fine.
    monkeypatch.setattr(_sql, "READ_CHUNK", 2)
    store.write_batch(
        "c1", "audit", [make_log(i, at=T0 + dt.timedelta(seconds=i)) for i in range(6)]
    )
    seen = []
    for log in store.iter_logs(LogFilter(connection="c1")):
        seen.append(log.id)
        store.write_batch("c2", "audit", of_org([make_log(len(seen))], "org-2"))
    assert seen == [f"evt-{i:05d}" for i in range(6)]


# --------------------------------------------------------------------------
# Analytics
# --------------------------------------------------------------------------

ACTIONS = ("conversation.created", "file.uploaded", "user.login", "gpt.updated")
MODELS = ("gpt-4o", "o3", "gpt-4.1")


def random_logs(rnd: random.Random, count: int, days: int = 4):
    """(connection, log) pairs with the awkward cases the definitions cover."""
    users = []
    for number in range(14):
        kind = number % 4
        user = f"user-{number:02d}"
        emails = {
            0: [f"{user}@example.com"],
            1: [None, f"{user}@example.com"],  # sometimes unknown
            2: [None],  # a service account
            3: [f"{user}@old.example", f"{user}@new.example", None],  # renamed
        }[kind]
        users.append((user, emails))
    moments = [
        T0
        + dt.timedelta(
            seconds=rnd.randrange(days * 86400), microseconds=rnd.randrange(10**6)
        )
        for _ in range(count // 3)
    ]
    # Events exactly on day and hour boundaries, and repeated timestamps.
    moments += [
        T0 + dt.timedelta(days=d, hours=h) for d in range(days) for h in (0, 23)
    ]
    pairs = []
    for number in range(count):
        user, emails = rnd.choice(users[: rnd.choice((3, 14))])  # a few heavy users
        metadata = rnd.choice(
            [
                {},
                {"model": rnd.choice(MODELS)},
                {"model": rnd.choice(MODELS), "tokens_used": rnd.randrange(1, 5000)},
                {"model": rnd.choice(MODELS), "tokens_used": True},  # not a count
                {"model": rnd.choice(MODELS), "tokens_used": "12"},  # not a count
                {"model": ""},  # not a model
                {"model": 4},  # not a model
                {"tokens_used": 99},  # tokens without a model
            ]
        )
        connection = rnd.choice(("c1", "c1", "c2"))
        pairs.append(
            (
                connection,
                make_log(
                    # Ids repeat across connections, each of its own
                    # organization: distinct events there.
                    number % (count - 5),
                    organization_id=f"org-{connection}",
                    at=rnd.choice(moments),
                    user=user,
                    email=rnd.choice(emails),
                    action=rnd.choice(ACTIONS),
                    platform=rnd.choice(("chatgpt", "chatgpt", "chatgpt", "claude")),
                    metadata=metadata,
                ),
            )
        )
    return pairs


def expected_analytics(pairs, period, *, platform, connection=None, top_users=10):
    """What the accumulator says, fed the logs in reading order."""
    accumulator = UsageAccumulator(
        platform=platform, period=period, top_users=top_users
    )
    chosen = [
        (log.timestamp, log.id, name, log)
        for name, log in pairs
        if log.platform == platform
        and (connection is None or name == connection)
        and period.start <= log.timestamp <= period.end
    ]
    for *_, log in sorted(chosen, key=lambda item: item[:3]):
        accumulator.add(log)
    return accumulator.result()


def write_pairs(store, pairs, batch=97):
    written = {}
    for name, log in pairs:
        # A later event with an id already stored is a duplicate, not stored.
        written.setdefault((name, log.id), (name, log))
    for start in range(0, len(pairs), batch):
        for name in ("c1", "c2"):
            chunk = [log for n, log in pairs[start : start + batch] if n == name]
            store.write_batch(name, "audit", chunk)
    return list(written.values())


PERIODS = {
    "everything": (T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=9)),
    "whole days": (
        T0 + dt.timedelta(days=1),
        T0 + dt.timedelta(days=3, microseconds=-1),
    ),
    "to a midnight": (T0 + dt.timedelta(days=1), T0 + dt.timedelta(days=3)),
    "ragged": (
        T0 + dt.timedelta(days=1, hours=3, minutes=17, seconds=12, microseconds=345678),
        T0 + dt.timedelta(days=2, hours=20, minutes=3),
    ),
    "within an hour": (
        T0 + dt.timedelta(days=2, hours=5, minutes=10),
        T0 + dt.timedelta(days=2, hours=5, minutes=50),
    ),
    "an instant": (T0 + dt.timedelta(days=1), T0 + dt.timedelta(days=1)),
    "empty": (T0 + dt.timedelta(days=300), T0 + dt.timedelta(days=301)),
}


@pytest.mark.parametrize("seed", [1, 2])
def test_analytics_agree_with_the_accumulator(store, seed):
    pairs = write_pairs(store, random_logs(random.Random(seed), 700))
    cases = [
        (name, platform, connection, 5)
        for name in PERIODS
        for platform in ("chatgpt", "claude", "gemini")
        for connection in (None, "c1", "c2")
    ]
    cases += [("everything", "chatgpt", None, top) for top in (0, 1, 10, 100)]
    for name, platform, connection, top_users in cases:
        period = AIDateRange(start=PERIODS[name][0], end=PERIODS[name][1])
        actual = store.usage_analytics(
            period, platform=platform, connection=connection, top_users=top_users
        )
        expected = expected_analytics(
            pairs, period, platform=platform, connection=connection, top_users=top_users
        )
        assert actual == expected, (name, platform, connection, top_users)
    everything = AIDateRange(
        start=PERIODS["everything"][0], end=PERIODS["everything"][1]
    )
    assert store.usage_analytics(everything, platform="chatgpt").total_events > 400


def test_analytics_of_nothing(store):
    period = AIDateRange(start=T0, end=T0 + dt.timedelta(days=1))
    analytics = store.usage_analytics(period, platform="chatgpt")
    assert analytics == UsageAccumulator(platform="chatgpt", period=period).result()
    assert analytics.total_events == 0
    with pytest.raises(ValueError, match="top_users"):
        store.usage_analytics(period, platform="chatgpt", top_users=-1)


def test_analytics_details(store):
    # The definitions, spelled out once on a small case.
    logs = [
        make_log(1, at=T0 + dt.timedelta(hours=5), user="b", email=None),
        make_log(
            2, at=T0 + dt.timedelta(hours=5, minutes=1), user="b", email="b@new.example"
        ),
        make_log(
            3, at=T0 + dt.timedelta(hours=5, minutes=2), user="b", email="b@a.example"
        ),
        make_log(
            4,
            at=T0 + dt.timedelta(hours=3),
            user="a",
            metadata={"model": "o3", "tokens_used": 5},
        ),
        make_log(5, at=T0 + dt.timedelta(hours=3), user="a", metadata={"model": "o3"}),
        make_log(
            6,
            at=T0 + dt.timedelta(days=1, hours=7),
            user="c",
            metadata={"model": "gpt-4o"},
        ),
    ]
    store.write_batch("c1", "audit", logs)
    period = AIDateRange(start=T0, end=T0 + dt.timedelta(days=2))
    analytics = store.usage_analytics(period, platform="chatgpt", top_users=2)
    assert analytics.total_events == 6
    assert analytics.active_users == analytics.total_users == 3
    top = [(user.user_id, user.email, user.event_count) for user in analytics.top_users]
    # b first (3 events), then a before c on the tie (2 vs 1: a has 2).
    assert top == [("b", "b@new.example", 3), ("a", "u1@example.com", 2)]
    assert analytics.top_users[0].last_activity == T0 + dt.timedelta(hours=5, minutes=2)
    # Day one: 3 events at 05:00 beat 2 at 03:00.
    assert [
        (d.date.isoformat(), d.total_events, d.active_users, d.peak_hour)
        for d in analytics.daily_breakdown
    ] == [
        ("2024-03-01", 5, 2, 5),
        ("2024-03-02", 1, 1, 7),
    ]
    assert [
        (m.model, m.usage_count, m.total_tokens) for m in analytics.model_usage
    ] == [
        ("o3", 2, 5),
        ("gpt-4o", 1, None),
    ]
    assert analytics == expected_analytics(
        [("c1", log) for log in logs], period, platform="chatgpt", top_users=2
    )


log_strategy = st.builds(
    lambda minute, user, email, action, model, tokens: make_log(
        f"h-{minute}-{user}",
        at=T0 + dt.timedelta(minutes=minute),
        user=f"user-{user}",
        email=email,
        action=action,
        metadata={"model": model, "tokens_used": tokens} if model else {},
    ),
    minute=st.integers(0, 3 * 24 * 60),
    user=st.integers(0, 5),
    email=st.sampled_from([None, "a@example.com", "b@example.com"]),
    action=st.sampled_from(ACTIONS),
    model=st.sampled_from([None, *MODELS]),
    tokens=st.one_of(st.none(), st.integers(0, 10**6)),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    logs=st.lists(log_strategy, max_size=40),
    start=st.integers(0, 3 * 24 * 60),
    length=st.integers(0, 3 * 24 * 60),
    top_users=st.integers(0, 4),
)
def test_analytics_agree_with_the_accumulator_on_any_logs(
    store, logs, start, length, top_users
):
    connection = f"h{secrets.token_hex(8)}"  # each example on its own
    logs = of_org(logs, f"org-{connection}")  # and its own organization
    store.write_batch(connection, "audit", logs)
    begin = T0 + dt.timedelta(minutes=start, seconds=30)
    period = AIDateRange(start=begin, end=begin + dt.timedelta(minutes=length))
    pairs: dict[str, tuple[str, AIAuditLog]] = {}
    for log in logs:
        pairs.setdefault(log.id, (connection, log))  # the first is stored
    actual = store.usage_analytics(
        period, platform="chatgpt", connection=connection, top_users=top_users
    )
    expected = expected_analytics(
        list(pairs.values()),
        period,
        platform="chatgpt",
        connection=connection,
        top_users=top_users,
    )
    assert actual == expected


# --------------------------------------------------------------------------
# The sync lock
# --------------------------------------------------------------------------

HOLDER = textwrap.dedent(
    """
    import sys, time
    from connector_core.store import open_store

    store = open_store(sys.argv[1])
    with store.lock(sys.argv[2]):
        print("locked", flush=True)
        time.sleep(120)
    """
)


def hold_lock(url: str, connection: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, connection],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    line = holder.stdout.readline()
    if line != "locked\n":
        holder.kill()
        pytest.fail(f"the lock holder failed: {holder.communicate()[1]}")
    return holder


def test_a_second_process_cannot_lock_a_held_connection(store, store_url):
    holder = hold_lock(store_url, "prod")
    try:
        began = time.monotonic()
        with (
            pytest.raises(ConnectionBusyError, match=f"pid {holder.pid}") as caught,
            store.lock("prod"),
        ):
            pass
        assert time.monotonic() - began < 5
        assert caught.value.connection == "prod"
        assert "pass wait=True" in str(caught.value)
        with store.lock("staging"):  # other connections are free
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate()
    # Killed without a chance to clean up, the holder left nothing behind.
    deadline = time.monotonic() + 10
    while True:
        try:
            with store.lock("prod"):
                break
        except ConnectionBusyError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_lock_with_wait_waits_for_the_holder(store, store_url):
    holder = hold_lock(store_url, "prod")
    killer = threading.Timer(0.5, lambda: holder.send_signal(signal.SIGKILL))
    killer.start()
    try:
        began = time.monotonic()
        with store.lock("prod", wait=True):
            assert time.monotonic() - began > 0.3
    finally:
        killer.cancel()
        holder.kill()
        holder.communicate()


def test_the_lock_is_exclusive_within_a_process_too(store):
    with store.lock("prod"), pytest.raises(ConnectionBusyError), store.lock("prod"):
        pass
    with store.lock("prod"):  # released on exit
        pass
    with pytest.raises(RuntimeError), store.lock("prod"):
        raise RuntimeError
    with store.lock("prod"):  # released on error too
        pass


def test_an_in_memory_store_locks_in_process():
    store = open_store("sqlite:///:memory:")
    try:
        with (
            store.lock("prod"),
            pytest.raises(ConnectionBusyError, match="this process"),
            store.lock("prod"),
        ):
            pass
        with store.lock("prod"):
            pass
        store.write_batch("c1", "audit", [make_log(1)])
        assert all_logs(store) == [make_log(1)]
    finally:
        store.close()


# --------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------


def test_the_default_store_is_a_file_in_the_user_data_folder(tmp_path, monkeypatch):
    folder = tmp_path / "data" / "aiaudit"
    monkeypatch.setattr("platformdirs.user_data_dir", lambda *_a, **_k: str(folder))
    url = default_store_url()
    assert url == f"sqlite:///{folder}/aiaudit.db"
    assert folder.is_dir()
    store = open_store()
    try:
        assert store.url == url
        assert (folder / "aiaudit.db").exists()
    finally:
        store.close()


def test_a_relative_sqlite_path_is_relative_to_the_working_folder(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    store = open_store("sqlite:///sub/my.db")
    try:
        assert (tmp_path / "sub" / "my.db").exists()
        assert store.url == "sqlite:///sub/my.db"
    finally:
        store.close()


@pytest.mark.parametrize(
    "url",
    [
        "mysql://user@host/db",
        "https://example.com/store",
        "aiaudit.db",
        "",
        "sqlite://",
        "sqlite:///",
        "sqlite://relative.db",
        "sqlite:///x.db?mode=ro",
        "postgresql://u@host/db?schema=a&schema=b",
        "postgresql://u@host/db?schema=",
        "postgresql://u:s3cretpw@host/db?not_a_libpq_option=1",
        # libpq quotes the token it cannot read: here, the password.
        "postgresql://u:s3cret%zzpw@host/db",
        "postgresql://u@host/db?password=s3cret%zzpw",
    ],
)
def test_bad_urls_are_configuration_errors(url):
    with pytest.raises(ConfigurationError) as caught:
        open_store(url)
    message = str(caught.value)
    assert "\n" not in message
    assert "s3cretpw" not in message
    assert "s3cret%zzpw" not in message


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://u:s3cretpw@host/db", "postgresql://u:***@host/db"),
        (
            "postgres://u:s3c%40ret@host:5433/db?schema=x",
            "postgres://u:***@host:5433/db?schema=x",
        ),
        (
            "postgresql://u@host/db?password=s3cretpw&sslmode=require",
            "postgresql://u@host/db?password=***&sslmode=require",
        ),
        ("postgresql://u:p@ss:w0rd@host/db", "postgresql://u:***@host/db"),
        # libpq ends the credentials at the first "/", not at "?" or "#".
        ("postgresql://u:pa?ss@host/db", "postgresql://u:***@host/db"),
        (
            "postgresql://u:pa#ss@host:5/db?schema=x",
            "postgresql://u:***@host:5/db?schema=x",
        ),
        ("postgresql://u:pw@host?password=pw2", "postgresql://u:***@host?password=***"),
        ("postgresql://host/db", "postgresql://host/db"),
        # Several hosts, a socket folder, no database, upper case, a
        # password for the client key, a password file (not a secret).
        ("postgresql://u:pw@h1:5,h2:6/db", "postgresql://u:***@h1:5,h2:6/db"),
        (
            "postgresql://u:pw@/db?host=/var/run/postgresql",
            "postgresql://u:***@/db?host=/var/run/postgresql",
        ),
        ("POSTGRESQL://u:pw@host", "POSTGRESQL://u:***@host"),
        (
            "postgresql://u@h/db?sslpassword=pw&passfile=/p",
            "postgresql://u@h/db?sslpassword=***&passfile=/p",
        ),
        ("postgresql://u@h/db?PASSWORD=pw#x", "postgresql://u@h/db?PASSWORD=***#x"),
        ("sqlite:////var/lib/aiaudit.db", "sqlite:////var/lib/aiaudit.db"),
        ("weird://u:s3cretpw@[broken", "weird://u:***@[broken"),
    ],
)
def test_passwords_are_masked(url, masked):
    assert mask_url(url) == masked


def test_an_unreachable_server_is_a_one_line_store_error():
    pytest.importorskip("psycopg")
    url = "postgresql://someone:s3cretpw@127.0.0.1:1/db?connect_timeout=2"
    with pytest.raises(StoreError) as caught:
        open_store(url)
    message = str(caught.value)
    assert message.startswith(
        "cannot connect to PostgreSQL store postgresql://someone:***@127.0.0.1:1/db"
    )
    assert "\n" not in message
    assert "s3cretpw" not in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_the_store_url_never_shows_the_password(postgres_server, postgres_schema):
    # The test server trusts local connections, so any password opens it.
    scheme, rest = postgres_server.split("://", 1)
    user, host = rest.split("@", 1)
    url = f"{scheme}://{user}:s3cretpw@{host}?schema={postgres_schema}"
    store = open_store(url)
    try:
        assert "s3cretpw" not in store.url
        assert "s3cretpw" not in repr(store)
        assert store.url.startswith(f"{scheme}://{user}:***@")
        store.write_batch("c1", "audit", [make_log(1)])
        with pytest.raises(StoreError) as caught:
            store.add_connection(saved(api_key="sk-not-allowed-here"))
        assert "s3cretpw" not in str(caught.value)
    finally:
        store.close()


def test_postgres_without_psycopg_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.delitem(sys.modules, "connector_core.store.postgres", raising=False)
    with pytest.raises(ConfigurationError, match=r"pip install 'aiaudit\[postgres\]'"):
        open_store("postgresql://u:s3cretpw@host/db")


def test_an_sqlite_file_in_a_missing_folder_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="does not exist") as caught:
        open_store(f"sqlite:///{tmp_path}/missing/store.db")
    assert "\n" not in str(caught.value)


def test_an_sqlite_path_that_is_a_folder_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="cannot open SQLite store"):
        open_store(f"sqlite:///{tmp_path}")


# --------------------------------------------------------------------------
# Figures (opt-in: AIAUDIT_STORE_BENCH=1 pytest tests/store -k figures -s)
# --------------------------------------------------------------------------

BENCH = os.environ.get("AIAUDIT_STORE_BENCH") == "1"


@dataclasses.dataclass
class Figures:
    events: int
    write_s: float = 0.0
    write_cpu_s: float = 0.0
    first_100k_s: float = 0.0
    analytics_s: float = 0.0


def _bench(store, events: int, batch: int = 500) -> Figures:
    rnd = random.Random(7)
    users = [(f"user-{n}", f"user-{n}@example.com") for n in range(1000)]
    actions = [f"action.{n}" for n in range(12)]
    span_us = 90 * 86400 * 10**6
    figures = Figures(events)
    for first in range(0, events, batch):
        logs = []
        for number in range(first, min(events, first + batch)):
            user, email = rnd.choice(users)
            metadata = {}
            if rnd.random() < 0.5:
                metadata = {
                    "model": rnd.choice(MODELS),
                    "tokens_used": rnd.randrange(5000),
                }
            logs.append(
                make_log(
                    f"audit_log-{rnd.getrandbits(64):016x}",  # random, like real ids
                    at=T0 + dt.timedelta(microseconds=number * span_us // events),
                    user=user,
                    email=email,
                    action=rnd.choice(actions),
                    metadata=metadata,
                    raw={"id": number, "type": "conversation.created", "email": email},
                )
            )
        began, cpu = time.perf_counter(), time.process_time()
        store.write_batch("bench", "audit", logs)
        figures.write_s += time.perf_counter() - began
        figures.write_cpu_s += time.process_time() - cpu
        if first + batch == 100_000:
            figures.first_100k_s = figures.write_s
    period = AIDateRange(
        start=T0 - dt.timedelta(hours=7), end=T0 + dt.timedelta(days=91, hours=3)
    )
    timings = []
    for _ in range(3):
        began = time.perf_counter()
        store.usage_analytics(period, platform="chatgpt")
        timings.append(time.perf_counter() - began)
    figures.analytics_s = min(timings)
    return figures


@pytest.mark.skipif(not BENCH, reason="figures only on demand: AIAUDIT_STORE_BENCH=1")
def test_figures(store, backend):
    default = "1000000" if backend == "sqlite" else "100000"
    events = int(os.environ.get("AIAUDIT_STORE_BENCH_EVENTS", default))
    figures = _bench(store, events)
    first = (
        f"; the first 100,000 at {100_000 / figures.first_100k_s:,.0f}/s"
        if figures.first_100k_s
        else ""
    )
    print(
        f"\n{backend}: {figures.events:,} events (batches of 500, random ids) written"
        f" at {figures.events / figures.write_s:,.0f} events/s"
        f" ({figures.events / figures.write_cpu_s:,.0f}/s of this process's CPU time)"
        f"{first}; usage_analytics over all: {figures.analytics_s * 1000:.0f} ms"
    )
