"""One bad record never blocks the others, and both stores treat it alike.

An API may send anything: NUL characters, lone surrogates (which a tolerant
decoder lets through), ids and names thousands of characters long, numbers
no JSON writer takes. Each poisoned event below is either stored (and read
back exactly) or quarantined with its reason and evidence, the same way on
SQLite and PostgreSQL, while every good event of its batch is stored; and
writing the same batches again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import random
import string

import pytest

from connector_core.models import AIActivityType, AIAuditLog, AIDateRange
from connector_core.store import LogFilter
from connector_core.streams import QuarantinedRecord


UTC = dt.UTC
T0 = dt.datetime(2024, 3, 1, tzinfo=UTC)
# Random text does not compress: PostgreSQL cannot squeeze it under the
# size limit of an index row the way it would a run of one letter.
_NOISE = random.Random(7)
LONG = "".join(_NOISE.choices(string.ascii_letters + string.digits, k=6000))
LONG_TOO = "".join(_NOISE.choices(string.ascii_letters + string.digits, k=6000))


def event(number: int, **fields: object) -> AIAuditLog:
    values: dict[str, object] = {
        "id": f"evt-{number:05d}",
        "platform": "chatgpt",
        "timestamp": T0 + dt.timedelta(minutes=number),
        "user_id": f"user-{number % 7}",
        "user_email": f"user-{number % 7}@example.com",
        "organization_id": "org-1",
        "activity_type": AIActivityType.CONVERSATION,
        "action": "conversation.created",
        "native_type": "conversation.created",
        "metadata": {"model": "gpt-4o", "tokens_used": 10},
        "ip_address": "192.0.2.1",
    }
    values.update(fields)
    return AIAuditLog(**values)  # type: ignore[arg-type]


STORED, QUARANTINED = "stored", "quarantined"

# (name, fields of the poisoned event, what the store does with it)
POISONS = [
    ("nul in the user id", {"user_id": "user\x00x"}, STORED),
    ("nul in the email", {"user_email": "a\x00b@example.com"}, STORED),
    ("nul in the ip address", {"ip_address": "192.0.2.\x00"}, STORED),
    ("nul in the id", {"id": "evt-\x00-nul"}, STORED),
    ("nul in the action", {"action": "conversation\x00created"}, STORED),
    ("nul in the model", {"metadata": {"model": "gpt\x00"}}, STORED),
    ("nul in the raw document", {"raw": {"note": "a\x00b", "k\x00": 1}}, STORED),
    ("a 6000-character user id", {"user_id": LONG}, STORED),
    ("a 6000-character id", {"id": LONG}, STORED),
    ("a 6000-character email", {"user_email": LONG + "@example.com"}, STORED),
    ("a 6000-character action", {"action": LONG}, STORED),
    ("a 6000-character model", {"metadata": {"model": LONG}}, STORED),
    (
        "long ids alike but for their end",
        {"id": LONG[:5990] + "-one", "user_id": LONG[:5990] + "-one"},
        STORED,
    ),
    ("a lone surrogate in the user id", {"user_id": "user-\ud800"}, QUARANTINED),
    ("a lone surrogate in the raw record", {"raw": {"x": "\udfff"}}, QUARANTINED),
    ("a number no JSON holds", {"metadata": {"huge": 2**70}}, QUARANTINED),
]


def batches_with(poisoned: list[AIAuditLog]) -> list[list[AIAuditLog]]:
    """Three batches of good events with the poisoned ones spread among them."""
    good = [event(number) for number in range(1, 31)]
    batches = [good[:10], good[10:20], good[20:]]
    for index, log in enumerate(poisoned):
        batches[index % 3].insert(index % 10, log)
    return batches


def _write(store, batches):
    return [
        store.write_batch("c1", "audit", batch, checkpoint={"after": index})
        for index, batch in enumerate(batches)
    ]


@pytest.mark.parametrize(
    ("fields", "outcome"),
    [pytest.param(fields, outcome, id=name) for name, fields, outcome in POISONS],
)
def test_a_poisoned_event_is_stored_or_quarantined_alike(store, fields, outcome):
    poisoned = event(999, **fields)
    batches = batches_with([poisoned])
    results = _write(store, batches)

    good = [log for batch in batches for log in batch if log is not poisoned]
    stored = list(store.iter_logs(LogFilter()))
    quarantined = store.quarantined()
    assert store.checkpoints("c1") == {"audit": {"after": 2}}
    if outcome == STORED:
        assert sorted(stored, key=lambda log: log.id) == sorted(
            [*good, poisoned], key=lambda log: log.id
        )
        assert quarantined == []
        assert sum(r.inserted for r in results) == len(good) + 1
    else:
        assert sorted(stored, key=lambda log: log.id) == sorted(
            good, key=lambda log: log.id
        )
        [item] = quarantined
        record = item.record
        assert (record.stream, record.native_id) == ("audit", poisoned.id)
        assert record.native_type == poisoned.native_type
        assert "cannot store event" in record.reason
        # The evidence is the event as JSON text, whatever it held.
        assert poisoned.id in record.raw
        assert "\ud800" not in record.raw
        assert "\udfff" not in record.raw
        assert sum(r.quarantined for r in results) == 1

    period = AIDateRange(start=T0, end=T0 + dt.timedelta(days=1))
    before = (
        store.usage_analytics(period, platform="chatgpt"),
        store.count_logs(LogFilter()),
        quarantined,
    )
    again = _write(store, batches)
    assert sum(r.inserted for r in again) == 0
    assert sum(r.quarantined for r in again) == 0
    after = (
        store.usage_analytics(period, platform="chatgpt"),
        store.count_logs(LogFilter()),
        store.quarantined(),
    )
    assert after == before


def test_every_poison_at_once(store):
    """All of them in the same three batches: the good events are all
    stored, every poisoned one stored or quarantined as on its own."""
    poisoned = [
        event(900 + index, **fields) for index, (_, fields, _) in enumerate(POISONS)
    ]
    batches = batches_with(poisoned)
    _write(store, batches)
    expected_stored = {
        log.id
        for log, (_, _, outcome) in zip(poisoned, POISONS, strict=True)
        if outcome == STORED
    }
    expected_quarantined = {
        log.id
        for log, (_, _, outcome) in zip(poisoned, POISONS, strict=True)
        if outcome == QUARANTINED
    }
    stored = {log.id: log for log in store.iter_logs(LogFilter())}
    assert set(stored) == {f"evt-{n:05d}" for n in range(1, 31)} | expected_stored
    for log in poisoned:
        if log.id in expected_stored:
            assert stored[log.id] == log
    assert {q.record.native_id for q in store.quarantined()} == expected_quarantined

    count = store.count_logs(LogFilter())
    quarantine = store.quarantined()
    _write(store, batches)
    assert store.count_logs(LogFilter()) == count
    assert store.quarantined() == quarantine


def test_filters_find_events_by_a_poisoned_user(store):
    """The filters treat a value as the columns store it, so the user of an
    event with a NUL or an over-long id is found by that id."""
    logs = [event(1, user_id="nul\x00user"), event(2, user_id=LONG), event(3)]
    store.write_batch("c1", "audit", logs)
    for log in logs[:2]:
        found = list(store.iter_logs(LogFilter(user_ids=(log.user_id,))))
        assert found == [log]
    assert list(store.iter_logs(LogFilter(user_ids=(LONG_TOO,)))) == []


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param('{"user": "\ud800"}', id="surrogate"),
        pytest.param('{"user": "\x00"}', id="nul"),
        pytest.param('{"user": "\udfff\x00\ud83d"}', id="both"),
    ],
)
def test_a_quarantined_record_holding_what_the_databases_refuse(store, raw):
    record = QuarantinedRecord(
        stream="audit", reason="bad \ud800", raw=raw, native_id="id\x00"
    )
    first = store.write_batch("c1", "audit", [event(1)], [record])
    again = store.write_batch("c1", "audit", [event(1)], [record])
    assert (first.inserted, first.quarantined) == (1, 1)
    assert (again.inserted, again.quarantined) == (0, 0)
    [stored] = store.quarantined()
    # Escaped as JSON writes them: the evidence shows what was there.
    expected = (
        raw.replace("\x00", "\\u0000")
        .replace("\ud800", "\\ud800")
        .replace("\udfff", "\\udfff")
        .replace("\ud83d", "\\ud83d")
    )
    assert stored.record.raw == expected
    assert stored.record.reason == "bad \\ud800"
    assert stored.record.native_id == "id\\u0000"


def test_a_value_the_database_refuses_is_quarantined(store, backend, monkeypatch):
    """The safety net under column_text: with the cut turned off, a
    6000-character id is more than a PostgreSQL index row takes; that one
    event is quarantined, with the database's reason, and the rest of its
    batch stored (SQLite indexes it as it is)."""
    from connector_core.store import _values  # noqa: PLC0415

    monkeypatch.setattr(_values, "COLUMN_MAX_BYTES", 10**6)
    poisoned = event(999, id=LONG)
    batch = [event(1), poisoned, event(2)]
    result = store.write_batch("c1", "audit", batch, checkpoint={"after": 1})
    stored = list(store.iter_logs(LogFilter()))
    assert store.checkpoints("c1") == {"audit": {"after": 1}}
    if backend == "sqlite":
        assert (result.inserted, result.quarantined) == (3, 0)
        return
    assert (result.inserted, result.duplicates, result.quarantined) == (2, 0, 1)
    assert stored == [event(1), event(2)]
    [item] = store.quarantined()
    assert item.record.native_id == LONG
    assert "the database refused it: index row size" in item.record.reason
    again = store.write_batch("c1", "audit", batch)
    assert (again.inserted, again.quarantined) == (0, 0)
