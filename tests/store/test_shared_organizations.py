"""Two connections to one organization never double count.

A second API key of the same organization, or one connection saved twice
under two names, reads the same native events. The store keeps each once,
under the connection that stored it first, says so in the write's result,
records the overlap, and counts usage buckets once; on both kinds of store.
"""

from __future__ import annotations

import datetime as dt
import threading

import attrs
import pytest

from connector_core.models import (
    AIActivityType,
    AIAuditLog,
    AIDateRange,
    ModelUsageRecord,
)
from connector_core.store import LogFilter, open_store


UTC = dt.UTC
T0 = dt.datetime(2024, 3, 1, tzinfo=UTC)
PERIOD = AIDateRange(start=T0, end=T0 + dt.timedelta(days=3))


def event(number: int, *, org: str = "org-1", user: str = "u1") -> AIAuditLog:
    return AIAuditLog(
        id=f"evt-{number:05d}",
        platform="chatgpt",
        timestamp=T0 + dt.timedelta(minutes=number),
        user_id=user,
        user_email=f"{user}@example.com",
        organization_id=org,
        activity_type=AIActivityType.CONVERSATION,
        action="conversation.created",
        native_type="conversation.created",
        metadata={"model": "large", "tokens_used": 10},
    )


def of_org(logs: list[AIAuditLog], org: str) -> list[AIAuditLog]:
    return [attrs.evolve(log, organization_id=org) for log in logs]


def bucket(day: int, model: str = "large") -> ModelUsageRecord:
    start = T0 + dt.timedelta(days=day)
    return ModelUsageRecord(
        id=f"{start:%Y-%m-%d}/{model}",
        platform="chatgpt",
        start=start,
        end=start + dt.timedelta(days=1),
        model=model,
        requests=5,
        input_tokens=100,
        output_tokens=20,
        cost=1.25,
    )


def test_the_second_connection_stores_none_of_what_the_first_holds(store):
    logs = [event(n, user=f"u{n % 3}") for n in range(30)]
    first = store.write_batch("acme", "audit", logs)
    assert (first.inserted, first.held_elsewhere) == (30, 0)

    # The same organization read again, under another name, with ten new
    # events the first connection has not read yet.
    second = store.write_batch(
        "acme-again", "audit", logs + [event(n) for n in range(30, 40)]
    )
    assert second.inserted == 10
    assert second.held_elsewhere == 30
    assert second.held_by == (("acme", 30),)
    assert second.duplicates == 0

    # Stored once: every count is the one of a single connection.
    assert store.count_logs(LogFilter()) == 40
    usage = store.usage_analytics(PERIOD, platform="chatgpt")
    assert usage.total_events == 40
    assert usage.active_users == 3
    assert [m.total_tokens for m in usage.model_usage] == [400]
    # Each connection shows what it stored.
    assert store.count_logs(LogFilter(connection="acme")) == 30
    assert store.count_logs(LogFilter(connection="acme-again")) == 10

    # The overlap is recorded, and a second read of it changes nothing.
    [shared] = store.shared_organizations()
    assert (shared.connection, shared.other, shared.organization_id) == (
        "acme-again",
        "acme",
        "org-1",
    )
    assert shared.events == 30
    again = store.write_batch("acme-again", "audit", logs)
    assert (again.inserted, again.held_elsewhere) == (0, 30)
    assert store.count_logs(LogFilter()) == 40
    assert store.shared_organizations("acme")[0].events == 60

    # The first connection, reading on, finds what the second stored first.
    later = store.write_batch("acme", "audit", [event(n) for n in range(30, 45)])
    assert (later.inserted, later.held_elsewhere) == (5, 10)
    assert later.held_by == (("acme-again", 10),)
    assert store.count_logs(LogFilter()) == 45


def test_two_organizations_never_meet_whatever_their_ids(store):
    # Ids are compared within one organization only.
    store.write_batch("acme", "audit", [event(n, org="org-1") for n in range(10)])
    other = store.write_batch(
        "globex", "audit", [event(n, org="org-2") for n in range(10)]
    )
    assert (other.inserted, other.held_elsewhere) == (10, 0)
    assert store.count_logs(LogFilter()) == 20
    assert store.shared_organizations() == []


def test_one_connection_reading_two_organizations(store):
    # A connection whose batch spans two organizations is checked per
    # organization: only what the other connection holds of its own is
    # set aside.
    store.write_batch("acme", "audit", [event(n, org="org-1") for n in range(5)])
    mixed = [event(n, org="org-1") for n in range(5)] + [
        event(n, org="org-2") for n in range(5, 10)
    ]
    written = store.write_batch("both", "audit", mixed)
    assert (written.inserted, written.held_elsewhere) == (5, 5)
    assert store.count_logs(LogFilter()) == 10


def test_usage_buckets_of_one_organization_count_once(store):
    buckets = [bucket(day) for day in range(3)]
    logs = [event(n) for n in range(4)]
    store.write_batch("acme", "usage", logs[:2], usage=buckets)
    # The second connection's buckets are stored (its own reports stay
    # whole), and counted once across connections once its events show
    # that it reads the same organization, whichever came first.
    store.write_batch("acme-again", "usage", (), usage=buckets)
    store.write_batch("acme-again", "audit", logs)
    [row] = store.usage_analytics(PERIOD, platform="chatgpt").model_usage
    assert (row.usage_count, row.total_tokens) == (15, 360)
    assert row.cost_estimate == pytest.approx(3.75)
    for connection in ("acme", "acme-again"):
        [own] = store.usage_analytics(
            PERIOD, platform="chatgpt", connection=connection
        ).model_usage
        assert own.usage_count == 15
    # Another organization's buckets of the same ids are its own.
    store.write_batch("globex", "audit", [event(1, org="org-2")], usage=buckets)
    [row] = store.usage_analytics(PERIOD, platform="chatgpt").model_usage
    assert row.usage_count == 30


def test_purging_the_holder_names_who_skipped_its_events(store):
    logs = [event(n) for n in range(5)]
    store.write_batch("acme", "audit", logs)
    store.write_batch("acme-again", "audit", logs)
    assert [s.connection for s in store.shared_organizations("acme")] == ["acme-again"]
    store.remove_connection("acme", purge=True)
    assert store.shared_organizations() == []
    # What the purged connection held is stored by the other when it reads
    # it again (after its checkpoints are reset).
    written = store.write_batch("acme-again", "audit", logs)
    assert (written.inserted, written.held_elsewhere) == (5, 0)


def as_version_4(store) -> None:
    """Make *store* look written before organizations were recorded."""
    from connector_core.store import _schema  # noqa: PLC0415

    with store._mutex, store._session("write") as session:
        session.execute("DROP TABLE organizations")
        session.execute("DROP TABLE shared_organizations")
        session.execute(
            store._sql("DELETE FROM schema_version WHERE version = ?"),
            (_schema.LATEST_VERSION,),
        )
    assert _schema.LATEST_VERSION == 5


def test_a_store_of_version_4_learns_its_organizations(store_url):
    opened = open_store(store_url)
    try:
        opened.write_batch("acme", "audit", [event(n) for n in range(5)])
        as_version_4(opened)
    finally:
        opened.close()
    reopened = open_store(store_url)
    try:
        written = reopened.write_batch("acme-again", "audit", [event(1)])
        assert (written.inserted, written.held_elsewhere) == (0, 1)
    finally:
        reopened.close()


def test_copies_an_older_store_holds_are_folded_into_one(store_url, tmp_path):
    # What an older version left: one organization synced through two
    # connections, most events stored twice. The migration keeps the first
    # stored, and every figure is then the one of a store that never held
    # a copy.
    first = [event(n, user=f"u{n % 4}") for n in range(60)]
    second = [event(n, user=f"u{n % 4}") for n in range(20, 90)]
    opened = open_store(store_url)
    try:
        opened.write_batch("acme", "audit", first)
        # Stored as a copy would have been: under another organization,
        # then given the first's (the partial sums know no organization).
        opened.write_batch("acme-again", "audit", of_org(second, "elsewhere"))
        with opened._mutex, opened._session("write") as session:
            session.execute(
                opened._sql(
                    "UPDATE events SET organization_id = ? WHERE connection = ?"
                ),
                ("org-1", "acme-again"),
            )
        assert opened.count_logs(LogFilter()) == 130
        as_version_4(opened)
    finally:
        opened.close()

    reference = open_store(f"sqlite:///{tmp_path / 'reference.db'}")
    reference.write_batch("acme", "audit", first)
    reference.write_batch("acme-again", "audit", second)
    migrated = open_store(store_url)
    try:
        assert migrated.count_logs(LogFilter()) == 90
        assert migrated.count_logs(LogFilter(connection="acme-again")) == 30
        for connection in (None, "acme", "acme-again"):
            assert migrated.usage_analytics(
                PERIOD, platform="chatgpt", connection=connection
            ) == reference.usage_analytics(
                PERIOD, platform="chatgpt", connection=connection
            ), connection
        [shared] = migrated.shared_organizations()
        assert (shared.connection, shared.other, shared.events) == (
            "acme-again",
            "acme",
            40,
        )
        # And writing goes on as in any store.
        again = migrated.write_batch("acme-again", "audit", second)
        assert (again.inserted, again.held_elsewhere) == (0, 40)
    finally:
        migrated.close()
        reference.close()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_writers_of_one_organization_at_once_store_each_event_once(store_url):
    # Two processes' worth of writers (a store each, so a database
    # connection each), one organization, the same events, at once: the
    # second to write waits for the first and finds its events.
    stores = [open_store(store_url) for _ in range(2)]
    logs = [event(n, user=f"u{n % 7}") for n in range(2_000)]
    results = {}
    start = threading.Barrier(2)

    def write(index: int) -> None:
        start.wait()
        results[index] = stores[index].write_batch(f"conn-{index}", "audit", logs)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(r.inserted for r in results.values()) == [0, 2_000]
        assert sorted(r.held_elsewhere for r in results.values()) == [0, 2_000]
        assert stores[0].count_logs(LogFilter()) == 2_000
        assert (
            stores[0].usage_analytics(PERIOD, platform="chatgpt").total_events == 2_000
        )
    finally:
        for opened in stores:
            opened.close()


def test_the_write_result_says_nothing_of_a_lone_connection(store):
    result = store.write_batch("acme", "audit", [event(1)])
    assert attrs.asdict(result)["held_by"] == ()
    assert store.shared_organizations("acme") == []
