"""People across platforms: one per email, whatever platform or connection
their events came through, counted alike by the stores' SQL and by the
default that reads every event."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from test_store import PERIODS, T0, make_log, random_logs, write_pairs

from connector_core.analytics import count_people
from connector_core.models import AIDateRange
from connector_core.store.base import Store


EVERYTHING = AIDateRange(start=T0 - dt.timedelta(days=1), end=T0 + dt.timedelta(days=9))


def test_an_email_is_one_person_across_platforms_and_cases():
    accounts = [
        ("chatgpt", "user-1", "Ann@Example.com"),
        ("claude", "u-77", "ann@example.com"),
        ("gemini", "1234", "ANN@EXAMPLE.COM"),
    ]
    assert count_people(accounts) == 1


def test_only_a_to_z_fold_as_the_stores_fold():
    # The stores match emails folding A to Z alone; so does the count.
    assert (
        count_people([("a", "1", "Émile@x.example"), ("b", "2", "émile@x.example")])
        == 2
    )


def test_an_account_without_an_email_is_a_person_of_its_own():
    accounts = [
        ("chatgpt", "svc", None),
        ("claude", "svc", None),  # the same id elsewhere is another account
        ("chatgpt", "svc", None),  # the same account again is not
    ]
    assert count_people(accounts) == 2


def test_an_account_with_several_emails_is_its_lowest():
    accounts = [
        ("chatgpt", "u1", None),
        ("chatgpt", "u1", "b@x.example"),
        ("chatgpt", "u1", "a@x.example"),
        ("claude", "u9", "a@x.example"),
        ("claude", "u8", "b@x.example"),
    ]
    # u1 is a@ (its lowest), the same person as u9; u8 is b@, another.
    assert count_people(accounts) == 2


def test_a_store_counts_people_across_platforms_and_connections(store):
    store.write_batch(
        "work", "audit", [make_log(1, user="u1", email="Ann@Example.com")]
    )
    store.write_batch(
        "personal",
        "audit",
        [
            make_log(2, user="x-1", email="ann@example.com", platform="claude"),
            make_log(3, user="x-2", email=None, platform="claude"),
        ],
    )
    assert store.people(EVERYTHING) == 2
    assert store.people(EVERYTHING, connections=["personal"]) == 2
    assert store.people(EVERYTHING, connections=["work"]) == 1
    assert store.people(EVERYTHING, connections=["work", "personal"]) == 2
    assert store.people(EVERYTHING, connections=["nobody"]) == 0


@pytest.mark.parametrize("seed", [1, 2])
def test_the_sql_agrees_with_reading_every_event(store, seed):
    pairs = write_pairs(store, random_logs(random.Random(seed), 700))
    for name, (start, end) in PERIODS.items():
        period = AIDateRange(start=start, end=end)
        for connections in ((), ("c1",), ("c2",), ("c1", "c2")):
            expected = count_people(
                (log.platform, log.user_id, log.user_email)
                for connection, log in pairs
                if start <= log.timestamp <= end
                and (not connections or connection in connections)
            )
            assert store.people(period, connections=connections) == expected, (
                name,
                connections,
            )
            assert Store.people(store, period, connections=connections) == expected
