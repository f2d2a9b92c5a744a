"""Apps granted access and AI features used: folded from the neutral
metadata keys alike by the accumulators, the store default that reads every
event, and the SQL stores, which select the events carrying the keys in the
database (SQLite and PostgreSQL, real ones)."""

from __future__ import annotations

import datetime as dt
import random

import attrs
import pytest

from connector_core.analytics import (
    AppGrantsAccumulator,
    FeaturesAccumulator,
    FeaturesUsed,
)
from connector_core.exceptions import SchemaError
from connector_core.metadata_keys import (
    APP_ACCESS,
    APP_ID,
    APP_IS_AI,
    APP_NAME,
    APP_REACHES,
    APP_SCOPES,
    DETAILS,
    FEATURE,
    FEATURE_APP,
)
from connector_core.models import AIActivityType, AIAuditLog, AIDateRange
from connector_core.store.base import Store


T0 = dt.datetime(2025, 6, 2, 9, tzinfo=dt.UTC)
PERIOD = AIDateRange(start=T0 - dt.timedelta(days=1), end=T0 + dt.timedelta(days=9))
_numbers = iter(range(1, 1_000_000))


def toy_log(
    hours: float,
    user: str,
    metadata: dict[str, object],
    *,
    email: str | None = "",
    platform: str = "toy",
    action: str = "app.access",
) -> AIAuditLog:
    """A toy platform's log *hours* after T0, by *user* (email
    ``user@example.com`` unless given; ``None`` for none)."""
    return AIAuditLog(
        id=f"toy-{next(_numbers):06d}",
        platform=platform,
        timestamp=T0 + dt.timedelta(hours=hours),
        user_id=f"id-{user}",
        user_email=f"{user}@example.com" if email == "" else email,
        organization_id="org-toy",
        activity_type=AIActivityType.INTEGRATION_CREATED,
        action=action,
        native_type=action,
        metadata=metadata,
    )


def grant(hours: float, user: str, app: str | None, name: str | None, **extra):
    metadata: dict[str, object] = {APP_ACCESS: "granted", **extra}
    if app is not None:
        metadata[APP_ID] = app
    if name is not None:
        metadata[APP_NAME] = name
    return toy_log(hours, user, metadata)


def revoke(hours: float, user: str, app: str | None, name: str | None, **extra):
    log = grant(hours, user, app, name, **extra)
    return attrs.evolve(log, metadata={**log.metadata, APP_ACCESS: "revoked"})


def folded(logs, period=PERIOD):
    fold = AppGrantsAccumulator(period)
    for log in logs:
        fold.add(log)
    return fold.result()


def features_of(logs, period=PERIOD) -> FeaturesUsed:
    fold = FeaturesAccumulator(period)
    for log in logs:
        fold.add(log)
    return fold.result()


# --------------------------------------------------------------------------
# The definitions, on logs in memory
# --------------------------------------------------------------------------


def test_grant_revoke_and_grant_again_leaves_the_grant():
    logs = [
        grant(0, "ann", "c-1", "Notes Bot"),
        revoke(1, "ann", "c-1", "Notes Bot"),
        grant(2, "ann", "c-1", "Notes Bot"),
    ]
    [app] = folded(logs).apps
    assert app.granted_to == ("ann@example.com",)
    assert app.revoked_by == ()
    assert (app.first_granted, app.last_granted) == (
        T0,
        T0 + dt.timedelta(hours=2),
    )
    assert app.events == 3


def test_a_revoke_after_the_grant_ends_it_for_that_person_only():
    logs = [
        grant(0, "ann", "c-1", "Notes Bot"),
        grant(1, "bo", "c-1", "Notes Bot"),
        revoke(2, "ann", "c-1", "Notes Bot"),
    ]
    [app] = folded(logs).apps
    assert app.granted_to == ("bo@example.com",)
    assert app.revoked_by == ("ann@example.com",)


def test_the_order_logs_come_in_does_not_matter():
    logs = [
        grant(0, "ann", "c-1", "Notes Bot"),
        revoke(1, "ann", "c-1", "Notes Bot"),
        grant(2, "bo", "c-1", "Notes Bot"),
        revoke(3, "bo", "c-1", "Notes Bot"),
        grant(4, "ann", "c-1", "Notes Bot"),
    ]
    expected = folded(logs)
    for seed in range(5):
        shuffled = list(logs)
        random.Random(seed).shuffle(shuffled)
        assert folded(shuffled) == expected
    [app] = expected.apps
    assert (app.granted_to, app.revoked_by) == (
        ("ann@example.com",),
        ("bo@example.com",),
    )


def test_an_id_keeps_a_renamed_app_one_and_names_it_by_its_latest_name():
    logs = [
        grant(0, "ann", "c-1", "Old Name"),
        grant(1, "bo", "c-1", "New Name"),
        # Same name, another id: another app.
        grant(2, "cy", "c-2", "New Name"),
    ]
    apps = folded(logs).apps
    assert [(a.app_id, a.name, a.granted_to) for a in apps] == [
        ("c-1", "New Name", ("ann@example.com", "bo@example.com")),
        ("c-2", "New Name", ("cy@example.com",)),
    ]


def test_without_an_id_an_app_is_its_name():
    logs = [
        grant(0, "ann", None, "Sheet Helper"),
        revoke(1, "ann", None, "Sheet Helper"),
        grant(2, "bo", None, "Other Helper"),
    ]
    apps = {a.name: a for a in folded(logs).apps}
    assert apps["Sheet Helper"].app_id is None
    assert apps["Sheet Helper"].revoked_by == ("ann@example.com",)
    assert apps["Other Helper"].granted_to == ("bo@example.com",)


def test_ai_apps_reaching_data_come_first_then_ai_then_reaching_then_the_rest():
    logs = [
        grant(0, "ann", "plain", "Plain"),
        grant(1, "ann", "reach", "Reaching", **{APP_REACHES: ["files"]}),
        grant(2, "ann", "ai", "Assistant", **{APP_IS_AI: True}),
        grant(
            3,
            "ann",
            "ai-reach",
            "Mail Agent",
            **{APP_IS_AI: True, APP_REACHES: ["mail", "calendar"]},
        ),
    ]
    apps = folded(logs).apps
    assert [a.app_id for a in apps] == ["ai-reach", "ai", "reach", "plain"]
    assert apps[0].reaches == ("calendar", "mail")
    assert [a.rank for a in apps] == [0, 1, 2, 3]


def test_within_a_rank_the_most_people_first():
    logs = [
        grant(0, "ann", "one", "Alpha"),
        grant(1, "ann", "two", "Beta"),
        grant(2, "bo", "two", "Beta"),
    ]
    assert [a.name for a in folded(logs).apps] == ["Beta", "Alpha"]


def test_scopes_and_reaches_are_every_logs_together():
    logs = [
        grant(0, "ann", "c-1", "Bot", **{APP_SCOPES: ["b.read", "a.read"]}),
        grant(1, "bo", "c-1", "Bot", **{APP_SCOPES: ["c.write"], APP_REACHES: []}),
        revoke(2, "bo", "c-1", "Bot", **{APP_REACHES: ["contacts"]}),
    ]
    [app] = folded(logs).apps
    assert app.scopes == ("a.read", "b.read", "c.write")
    assert app.reaches == ("contacts",)


def test_a_person_is_their_email_in_any_case_or_their_id_without_one():
    logs = [
        grant(0, "ann", "c-1", "Bot"),
        attrs.evolve(
            revoke(1, "ann", "c-1", "Bot"),
            user_id="other-id",
            user_email="ANN@Example.com",
        ),
        attrs.evolve(grant(2, "svc", "c-1", "Bot"), user_email=None),
    ]
    [app] = folded(logs).apps
    assert app.granted_to == ("id-svc",)
    assert app.revoked_by == ("ann@example.com",)


def test_malformed_app_metadata_is_counted_never_a_crash():
    logs = [
        # Another word for access: an event of the app, no grant.
        grant(0, "ann", "c-1", "Bot", **{APP_ACCESS: "requested"}),
        # Neither id nor name: an app of its own, not lost.
        toy_log(1, "bo", {APP_ACCESS: "granted", APP_NAME: 7, APP_ID: ""}),
        grant(
            2,
            "cy",
            "c-1",
            "Bot",
            **{APP_IS_AI: "yes", APP_REACHES: "mail", APP_SCOPES: [1, "s"]},
        ),
    ]
    apps = {a.app_id: a for a in folded(logs).apps}
    bot = apps["c-1"]
    assert bot.events == 2
    assert bot.granted_to == ("cy@example.com",)
    assert not bot.is_ai  # only True says so
    assert bot.reaches == ("mail",)
    assert bot.scopes == ("s",)
    assert apps[None].name == ""
    assert apps[None].granted_to == ("bo@example.com",)


def test_logs_without_app_access_are_no_app_events():
    logs = [toy_log(0, "ann", {APP_NAME: "Bot", APP_ID: "c-1"})]
    assert folded(logs).apps == ()


def test_features_count_uses_and_people_per_product_and_feature():
    logs = [
        toy_log(0, "ann", {FEATURE_APP: "mail", FEATURE: "summarize"}),
        toy_log(1, "ann", {FEATURE_APP: "mail", FEATURE: "summarize"}),
        toy_log(2, "bo", {FEATURE_APP: "mail", FEATURE: "summarize"}),
        toy_log(3, "bo", {FEATURE_APP: "docs", FEATURE: "summarize"}),
        toy_log(4, "cy", {FEATURE: "generate_text"}),
        toy_log(5, "cy", {FEATURE_APP: "docs", FEATURE: ""}),  # no feature
        toy_log(6, "cy", {FEATURE_APP: "docs"}),
    ]
    used = features_of(logs)
    assert [(f.app, f.feature, f.uses, f.people) for f in used.features] == [
        ("mail", "summarize", 3, 2),
        # Ties by platform, product (none first) and feature.
        (None, "generate_text", 1, 1),
        ("docs", "summarize", 1, 1),
    ]


# --------------------------------------------------------------------------
# The stores
# --------------------------------------------------------------------------


def scenario() -> dict[str, list[AIAuditLog]]:
    """Two connections of the toy platform and one of another, with app
    grants, revokes, features, and noise that must be ignored."""
    return {
        "toy-a": [
            grant(0, "ann", "c-1", "Notes Bot", **{APP_IS_AI: True}),
            revoke(1, "ann", "c-1", "Notes Bot"),
            grant(2, "ann", "c-1", "Notes Bot"),
            grant(3, "bo", "c-1", "Notes Bot", **{APP_REACHES: ["mail"]}),
            grant(30, "bo", None, "Calendar Sync", **{APP_REACHES: ["calendar"]}),
            toy_log(4, "ann", {FEATURE_APP: "mail", FEATURE: "summarize"}),
            toy_log(5, "bo", {FEATURE_APP: "mail", FEATURE: "summarize"}),
            toy_log(6, "bo", {"model": "m1"}, action="conversation.created"),
            # "app_access" in the platform's payload only: no app event.
            toy_log(7, "bo", {DETAILS: {"app_access": "granted"}}),
        ],
        "toy-b": [
            revoke(10, "bo", "c-1", "Notes Bot"),
            grant(11, "cy", "c-9", "Plain App"),
            toy_log(12, "cy", {FEATURE_APP: "docs", FEATURE: "rewrite"}),
        ],
        "elsewhere": [
            toy_log(
                13,
                "ann",
                {APP_ACCESS: "granted", APP_ID: "c-1", APP_NAME: "Same Id"},
                platform="other",
            ),
            toy_log(14, "ann", {FEATURE: "summarize"}, platform="other"),
        ],
    }


@pytest.fixture
def filled(store):
    for connection, logs in scenario().items():
        store.write_batch(connection, "audit", logs)
    return store


def test_the_store_answers_the_views(filled):
    apps = filled.app_grants(PERIOD)
    summary = [
        (a.platform, a.app_id, a.name, a.granted_to, a.revoked_by, a.events)
        for a in apps.apps
    ]
    assert summary == [
        # AI and reaching mail: first; bo's revoke came through toy-b.
        ("toy", "c-1", "Notes Bot", ("ann@example.com",), ("bo@example.com",), 5),
        ("toy", None, "Calendar Sync", ("bo@example.com",), (), 1),
        # The same id on another platform is another app.
        ("toy", "c-9", "Plain App", ("cy@example.com",), (), 1),
        ("other", "c-1", "Same Id", ("ann@example.com",), (), 1),
    ]
    notes = apps.apps[0]
    assert notes.is_ai
    assert notes.reaches == ("mail",)
    features = filled.features_used(PERIOD)
    assert [
        (f.platform, f.app, f.feature, f.uses, f.people) for f in features.features
    ] == [
        ("toy", "mail", "summarize", 2, 2),
        ("other", None, "summarize", 1, 1),
        ("toy", "docs", "rewrite", 1, 1),
    ]


def test_the_sql_agrees_with_reading_every_event(filled):
    for connections in ((), ("toy-a",), ("toy-b", "elsewhere")):
        for platform in (None, "toy", "other"):
            for period in (
                PERIOD,
                AIDateRange(
                    start=T0 + dt.timedelta(hours=2), end=T0 + dt.timedelta(hours=11)
                ),
            ):
                options = {"connections": connections, "platform": platform}
                assert filled.app_grants(period, **options) == Store.app_grants(
                    filled, period, **options
                )
                assert filled.features_used(period, **options) == Store.features_used(
                    filled, period, **options
                )


def test_a_period_sees_only_its_own_grants_and_revokes(filled):
    # From just after ann's revoke to before bo's: ann's re-grant and bo's
    # grant are seen, the revokes are not.
    period = AIDateRange(
        start=T0 + dt.timedelta(hours=1, minutes=30), end=T0 + dt.timedelta(hours=9)
    )
    [notes] = filled.app_grants(period, platform="toy").apps
    assert notes.granted_to == ("ann@example.com", "bo@example.com")
    assert notes.revoked_by == ()
    assert notes.first_granted == T0 + dt.timedelta(hours=2)
    nothing = AIDateRange(
        start=T0 + dt.timedelta(days=5), end=T0 + dt.timedelta(days=6)
    )
    assert filled.app_grants(nothing).apps == ()
    assert filled.features_used(nothing).features == ()


def test_connections_and_platform_narrow_the_views(filled):
    only_a = filled.app_grants(PERIOD, connections=["toy-a"])
    [notes] = [a for a in only_a.apps if a.app_id == "c-1"]
    assert notes.revoked_by == ()  # bo's revoke is toy-b's
    assert notes.granted_to == ("ann@example.com", "bo@example.com")
    assert {a.platform for a in filled.app_grants(PERIOD, platform="other").apps} == {
        "other"
    }
    assert filled.app_grants(PERIOD, connections=["nobody"]).apps == ()
    both = filled.features_used(PERIOD, connections=["toy-b", "elsewhere"])
    assert {(f.platform, f.feature) for f in both.features} == {
        ("toy", "rewrite"),
        ("other", "summarize"),
    }


def test_random_logs_agree_with_the_accumulators(store):
    rng = random.Random(7)
    logs = []
    for n in range(400):
        user = rng.choice(["ann", "bo", "cy", "dee"])
        kind = rng.random()
        if kind < 0.5:
            make = grant if rng.random() < 0.6 else revoke
            logs.append(
                make(
                    n * 0.25,
                    user,
                    rng.choice(["a", "b", None]),
                    rng.choice(["A", "B", "C"]),
                    **{APP_IS_AI: rng.random() < 0.3},
                )
            )
        elif kind < 0.8:
            logs.append(
                toy_log(
                    n * 0.25,
                    user,
                    {FEATURE_APP: rng.choice(["mail", "docs"]), FEATURE: "f"},
                )
            )
        else:
            logs.append(toy_log(n * 0.25, user, {}))
    store.write_batch("toy-a", "audit", logs[:200])
    store.write_batch("toy-b", "audit", logs[200:])
    assert store.app_grants(PERIOD) == folded(logs)
    assert store.features_used(PERIOD) == features_of(logs)


def test_only_the_events_carrying_the_keys_leave_the_database(filled):
    # Every other event's document is made unreadable: were the views to
    # parse them, they would fail; they never see them.
    with filled._session("write") as session:
        session.execute(
            filled._sql(
                "UPDATE events SET document = ? WHERE document NOT LIKE ?"
                " AND document NOT LIKE ?"
            ),
            ("not json", '%"app_access":"%', '%"feature":"%'),
        )
    assert len(filled.app_grants(PERIOD).apps) == 4
    assert len(filled.features_used(PERIOD).features) == 3
    # Reading every event, as the default does, meets them.
    with pytest.raises(SchemaError):
        Store.app_grants(filled, PERIOD)
