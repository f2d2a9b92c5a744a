"""Reading stored events the way a person asks for them: an email typed in
any case, actions by glob, the newest first. On both store kinds, which must
answer alike."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest
from test_store import T0, all_logs, make_log

from connector_core.store import LogFilter, _sql


ACTIONS = (
    "user.login",
    "user.logout",
    "userXlogin",
    "file.uploaded",
    "file.downloaded",
    "conversation.created",
    # The wildcards of LIKE and GLOB, and the escape, as plain characters.
    "file_upload",
    "fileXupload",
    "100%done",
    "100Xdone",
    "a[b]c",
    "abc",
    "back\\slash",
    "star*name",
    "starXname",
)


@pytest.fixture
def actions_store(store):
    logs = [
        make_log(number, at=T0 + dt.timedelta(minutes=number), action=action)
        for number, action in enumerate(ACTIONS)
    ]
    store.write_batch("c1", "audit", logs)
    return store


def actions_of(store, *patterns: str) -> list[str]:
    return [log.action for log in all_logs(store, actions=patterns)]


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (("user.*",), ["user.login", "user.logout"]),
        (("file.*",), ["file.uploaded", "file.downloaded"]),
        (("user.login", "file.*"), ["user.login", "file.uploaded", "file.downloaded"]),
        (("user.log?n",), ["user.login"]),
        (("*",), list(ACTIONS)),
        # An underscore, a percent sign, brackets, a backslash: themselves.
        (("file_*",), ["file_upload"]),
        (("100%*",), ["100%done"]),
        (("a[b]*",), ["a[b]c"]),
        (("back\\*",), ["back\\slash"]),
        (("*\\slash",), ["back\\slash"]),
        # Case matters, as it does for an exact action.
        (("USER.*",), []),
        (("User.login",), []),
        # No wildcard: the exact action, as before.
        (("file_upload",), ["file_upload"]),
        (("user",), []),
    ],
)
def test_actions_match_by_glob(actions_store, patterns, expected):
    assert actions_of(actions_store, *patterns) == expected
    assert actions_store.count_logs(LogFilter(actions=patterns)) == len(expected)


def test_a_star_in_an_action_is_still_a_wildcard(actions_store):
    # A glob cannot escape its own star; both names match.
    assert actions_of(actions_store, "star*name") == ["star*name", "starXname"]


def test_an_email_matches_in_any_case(store):
    logs = [
        make_log(1, user="u-priya", email="priya.jensen@example.com"),
        make_log(2, user="u-other", email="other@example.com"),
        make_log(3, user="u-priya", email="Priya.Jensen@Example.COM"),
        make_log(4, user="U-PRIYA", email=None),
    ]
    store.write_batch("c1", "audit", logs)
    for typed in (
        "PRIYA.JENSEN@EXAMPLE.COM",
        "priya.jensen@example.com",
        "Priya.Jensen@example.com",
    ):
        found = all_logs(store, user_ids=(typed,))
        assert [log.id for log in found] == ["evt-00001", "evt-00003"], typed
        assert store.count_logs(LogFilter(user_ids=(typed,))) == 2
    # A user id is the platform's own key: it still matches exactly.
    assert [log.id for log in all_logs(store, user_ids=("u-priya",))] == [
        "evt-00001",
        "evt-00003",
    ]
    assert [log.id for log in all_logs(store, user_ids=("U-PRIYA",))] == ["evt-00004"]


def test_newest_first(store, monkeypatch):
    # Pages split inside a timestamp and across connections.
    monkeypatch.setattr(_sql, "READ_CHUNK", 7)
    logs = [make_log(i, at=T0 + dt.timedelta(seconds=i // 5)) for i in range(40)]
    # The same ids in two organizations: two events each.
    other = [attrs.evolve(log, organization_id="org-2") for log in logs]
    store.write_batch("c1", "audit", logs)
    store.write_batch("c2", "audit", other)
    oldest_first = all_logs(store)
    newest_first = all_logs(store, newest_first=True)
    assert newest_first == oldest_first[::-1]
    assert all_logs(store, newest_first=True, limit=20) == oldest_first[::-1][:20]
    assert all_logs(store, newest_first=True, connection="c2", limit=3) == [
        other[39],
        other[38],
        other[37],
    ]
    assert store.count_logs(LogFilter(newest_first=True, limit=20)) == 20
