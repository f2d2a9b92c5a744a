"""One filter, one answer: ``LogFilter.matches`` agrees with what SQLite and
PostgreSQL return for the same filter, over generated filters and events.

The events are built to collide with the filters: user ids and emails that
differ only in case (in A to Z and beyond it), actions full of the
characters GLOB and LIKE treat specially, values too long or with a NUL,
which the stores index in a cut form, and times on the edges of ranges.
"""

from __future__ import annotations

import datetime as dt

import attrs
import pytest
import toy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector_core import Registry
from connector_core.models import AIActivityType, AIAuditLog, AIAuditLogQuery
from connector_core.paging import matches
from connector_core.store import LogFilter


UTC = dt.UTC
T0 = dt.datetime(2024, 3, 1, tzinfo=UTC)
CONNECTIONS = ("c1", "c2")

# Letters that fold in A to Z, letters that fold only outside it (É, the
# Kelvin sign, dotted I, sharp s), and the characters of emails.
USER_CHARS = ("a", "A", "b", "B", "é", "É", "k", "K", "\u212a", "i", "İ", "ß", "@", ".")
# Everything GLOB and LIKE give a meaning to, and the escape.
ACTION_CHARS = ("u", "U", "s", ".", "*", "?", "%", "_", "[", "]", "\\", "é", "x", "\n")
PLATFORMS = ("chatgpt", "claude", "p" * 600)
MOMENTS = tuple(
    T0 + dt.timedelta(seconds=s, microseconds=u) for s in (0, 1) for u in (0, 1)
)


def _texts(chars: tuple[str, ...]) -> st.SearchStrategy[str]:
    short = st.text(alphabet=st.sampled_from(chars), max_size=4)
    # Indexed in a cut form, by their digest: long, or holding a NUL.
    long = short.filter(bool).map(lambda text: (text * 600)[:600])
    nul = short.map(lambda text: f"{text}\x00{text}")
    return st.one_of(short, short, short, long, nul)


USERS = _texts(USER_CHARS)
ACTIONS = _texts(ACTION_CHARS)
CASES = st.sampled_from((str, str, str.upper, str.lower, str.swapcase, str.casefold))
# A lone surrogate no store can hold: a filter may still carry one.
ODD = st.sampled_from(("\ud800", "a\ud800", "*\ud800*", "\x00", "?"))


@st.composite
def events(draw) -> list[tuple[str, AIAuditLog]]:
    count = draw(st.integers(min_value=1, max_value=12))
    stored = []
    for number in range(count):
        user = draw(USERS)
        action = draw(ACTIONS)
        stored.append(
            (
                draw(st.sampled_from(CONNECTIONS)),
                AIAuditLog(
                    id=f"evt-{number:03d}",
                    platform=draw(st.sampled_from(PLATFORMS)),
                    timestamp=draw(st.sampled_from(MOMENTS)),
                    user_id=user,
                    user_email=draw(st.one_of(st.none(), USERS)),
                    organization_id="org-1",
                    activity_type=AIActivityType.CONVERSATION,
                    action=action,
                    native_type="native",
                ),
            )
        )
    return stored


def _near(draw, values: list[str], others: st.SearchStrategy[str]) -> str:
    """A filter value: one of the events' *values* in some case, or
    another."""
    if values and draw(st.integers(0, 3)):
        return draw(CASES)(draw(st.sampled_from(values)))
    return draw(st.one_of(others, ODD))


def _glob(draw, action: str) -> str:
    """*action* with some characters made wildcards."""
    chars = list(action)
    for index in range(len(chars)):
        if draw(st.integers(0, 3)) == 0:
            chars[index] = draw(st.sampled_from("*?"))
    return "".join(chars) or "*"


FIELDS = ("connection", "platform", "platforms", "start", "end", "users", "actions")


@st.composite
def filters(draw, stored: list[tuple[str, AIAuditLog]]) -> LogFilter:
    """A filter of one to three fields, mostly values of *stored*: one of
    every field would rarely match anything."""
    logs = [log for _, log in stored]
    people = [log.user_id for log in logs] + [
        log.user_email for log in logs if log.user_email is not None
    ]
    actions = [log.action for log in logs]
    moment = st.sampled_from(MOMENTS).flatmap(
        lambda at: st.sampled_from((at, at - dt.timedelta(microseconds=1)))
    )
    fields = draw(st.sets(st.sampled_from(FIELDS), min_size=1, max_size=3))
    wanted: dict[str, object] = {}
    if "connection" in fields:
        wanted["connection"] = draw(st.sampled_from((*CONNECTIONS, "c3")))
    if "platform" in fields:
        wanted["platform"] = draw(st.sampled_from((*PLATFORMS, "nope")))
    if "platforms" in fields:
        wanted["platforms"] = draw(
            st.lists(st.sampled_from((*PLATFORMS, "nope")), min_size=1, max_size=2)
        )
    for end in ("start", "end"):
        if end in fields:
            wanted[end] = draw(moment)
    if "users" in fields:
        count = draw(st.integers(1, 3))
        wanted["user_ids"] = [_near(draw, people, USERS) for _ in range(count)]
    if "actions" in fields:
        wanted["actions"] = []
        for _ in range(draw(st.integers(1, 3))):
            exact = _near(draw, actions, ACTIONS)
            glob = actions and draw(st.booleans())
            wanted["actions"].append(_glob(draw, exact) if glob else exact)
    return LogFilter(**wanted)


def _agree(store, stored: list[tuple[str, AIAuditLog]], where: LogFilter) -> None:
    """Store *stored*, and check that the store reads exactly the events
    *where* matches, in its order, on its own and counted."""
    try:
        for connection in CONNECTIONS:
            batch = [log for at, log in stored if at == connection]
            written = store.write_batch(connection, "audit", batch)
            assert written.inserted == len(batch), written
        expected = [
            log.id
            for connection, log in sorted(
                stored, key=lambda pair: (pair[1].timestamp, pair[1].id, pair[0])
            )
            if where.matches(log, connection=connection)
        ]
        assert [log.id for log in store.iter_logs(where)] == expected, where
        assert store.count_logs(where) == len(expected), where
    finally:
        for connection in CONNECTIONS:
            store.remove_connection(connection, purge=True)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_matches_agrees_with_both_stores(store, data):
    stored = data.draw(events())
    _agree(store, stored, data.draw(filters(stored)))


# The edges, every time: emails in cases folded and not, values the stores
# index cut, the characters GLOB and LIKE give a meaning to.
EDGES = [
    ("c1", "u-1", "Priya@Example.COM", "user.login", "chatgpt"),
    ("c1", "u-2", "ÉLODIE@example.com", "user.logout", "chatgpt"),
    ("c2", "u-3", "\u212aelvin@example.com", "file_upload", "claude"),
    ("c2", "U-1", None, "fileXupload", "chatgpt"),
    ("c1", "u-4", "a" * 600, "100%done", "chatgpt"),
    ("c2", "u-5", "A" * 600, "a[b]c", "claude"),
    ("c1", "nul\x00id", "nul\x00@example.com", "act\x00ion", "p" * 600),
    ("c2", "u-6", "straße@example.com", "back\\slash", "chatgpt"),
    ("c1", "u-7", "i̇@example.com", "star*name", "chatgpt"),
    ("c2", "İ", "İ@example.com", "x" * 600, "chatgpt"),
    ("c1", "u-8", None, "line\nbreak", "chatgpt"),
]


def _edges() -> list[tuple[str, AIAuditLog]]:
    return [
        (
            connection,
            AIAuditLog(
                id=f"evt-{number:03d}",
                platform=platform,
                timestamp=T0 + dt.timedelta(microseconds=number % 3),
                user_id=user,
                user_email=email,
                organization_id="org-1",
                activity_type=AIActivityType.CONVERSATION,
                action=action,
                native_type="native",
            ),
        )
        for number, (connection, user, email, action, platform) in enumerate(EDGES)
    ]


@pytest.mark.parametrize(
    "where",
    [
        LogFilter(),
        LogFilter(user_ids=("priya@example.com",)),
        LogFilter(user_ids=("PRIYA@EXAMPLE.COM",)),
        LogFilter(user_ids=("élodie@example.com",)),
        LogFilter(user_ids=("ÉLODIE@EXAMPLE.COM",)),
        LogFilter(user_ids=("kelvin@example.com",)),
        LogFilter(user_ids=("\u212aELVIN@EXAMPLE.COM",)),
        LogFilter(user_ids=("u-1",)),
        LogFilter(user_ids=("U-1", "u-3")),
        LogFilter(user_ids=("a" * 600,)),
        LogFilter(user_ids=("A" * 600,)),
        LogFilter(user_ids=("nul\x00id",)),
        LogFilter(user_ids=("NUL\x00@EXAMPLE.COM",)),
        LogFilter(user_ids=("STRASSE@EXAMPLE.COM", "STRAßE@EXAMPLE.COM")),
        LogFilter(user_ids=("İ@EXAMPLE.COM", "i@example.com")),
        LogFilter(user_ids=("\ud800",)),
        LogFilter(actions=("file_*",)),
        LogFilter(actions=("file?upload",)),
        LogFilter(actions=("100%*", "a[b]?")),
        LogFilter(actions=("*\\*",)),
        LogFilter(actions=("star*name",)),
        LogFilter(actions=("act\x00ion", "act\x00*")),
        LogFilter(actions=("x" * 600,)),
        LogFilter(actions=("x" * 600 + "*",)),
        # Stars enough to make a backtracking matcher run for ages.
        LogFilter(actions=("*x" * 150 + "*y", "*x" * 150 + "*")),
        LogFilter(actions=("*\ud800*", "?")),
        LogFilter(actions=("USER.*",)),
        LogFilter(actions=("line?break",)),
        LogFilter(actions=("line*",)),
        LogFilter(platform="p" * 600),
        LogFilter(platform="claude", platforms=("chatgpt", "claude")),
        LogFilter(platforms=("chatgpt", "nope")),
        LogFilter(connection="c2", user_ids=("u-1", "U-1")),
        LogFilter(start=T0 + dt.timedelta(microseconds=1)),
        LogFilter(end=T0 + dt.timedelta(microseconds=1)),
        LogFilter(start=T0 + dt.timedelta(microseconds=2), end=T0),
    ],
)
def test_matches_agrees_with_both_stores_on_the_edges(store, where):
    _agree(store, _edges(), where)


def _log(user: str, email: str | None, action: str = "user.login") -> AIAuditLog:
    return AIAuditLog(
        id="evt-1",
        platform="chatgpt",
        timestamp=T0,
        user_id=user,
        user_email=email,
        organization_id="org-1",
        activity_type=AIActivityType.LOGIN,
        action=action,
        native_type="login",
    )


def test_a_query_filters_pages_as_a_store_filters_events():
    query = AIAuditLogQuery(
        start_date=T0,
        end_date=T0,
        user_ids=("PRIYA@EXAMPLE.COM",),
        event_types=("user.*",),
        platforms=("chatgpt",),
    )
    where = LogFilter.from_query(query)
    assert where == LogFilter(
        start=T0,
        end=T0,
        user_ids=("PRIYA@EXAMPLE.COM",),
        actions=("user.*",),
        platforms=("chatgpt",),
    )
    found = _log("u-priya", "priya@example.com")
    for log, answer in (
        (found, True),
        (_log("PRIYA@EXAMPLE.COM", None), True),
        (_log("priya@example.com", None), False),  # an id matches exactly
        (_log("u-priya", "priya@example.com", action="file.uploaded"), False),
    ):
        assert where.matches(log) is answer
        assert matches(query, log) is answer
    assert not LogFilter(connection="c1").matches(found)
    assert LogFilter(connection="c1").matches(found, connection="c1")


async def test_a_connectors_pages_keep_what_the_filter_matches():
    registry = Registry.load(entry_points=False, plugins=[("toy", toy)], environ={})
    query = AIAuditLogQuery(
        start_date=toy.START,
        end_date=toy.START + dt.timedelta(days=30),
        user_ids=("ADA@EXAMPLE.COM", "user-cy"),
        event_types=("user.*", "file.uploaded"),
        limit=3,
    )
    async with registry.create("toy", {"token": "good", "events": 60}) as connector:
        every = [log async for log in connector.stream_ai_audit_logs(query)]
        paged, cursor = [], None
        while True:
            page = await connector.get_ai_audit_logs(attrs.evolve(query, cursor=cursor))
            paged.extend(page.logs)
            if not page.has_more:
                break
            cursor = page.next_cursor
    where = LogFilter.from_query(query)
    expected = [toy.make_log(i) for i in range(60)]
    expected = [log for log in expected if where.matches(log)]
    assert {log.user_id for log in expected} == {"user-ada", "user-cy"}
    assert every == paged == expected


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"user_ids": "alice"}, TypeError),
        ({"actions": ("user.login", 3)}, TypeError),
        ({"platform": 3}, TypeError),
        ({"limit": -1}, ValueError),
        ({"start": dt.datetime(2024, 1, 1)}, ValueError),  # noqa: DTZ001
    ],
)
def test_a_malformed_filter_is_refused_when_made(fields, error):
    with pytest.raises(error):
        LogFilter(**fields)
