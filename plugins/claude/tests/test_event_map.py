"""The loader of ``event_map.toml``: the shipped table loads, each rule it
relies on is checked with a message naming the entry, and the reverse index
turns unified actions into the feed's ``activity_types[]``."""

from __future__ import annotations

import pytest

from aiaudit_claude.event_map import (
    TABLE,
    EventMapError,
    load_table,
    native_types,
    row_for,
)
from connector_core import AIActivityType


HEADER = 'version = 1\n[defaults]\npass_through_activity = "settings_change"\n'


def test_the_shipped_table_loads_and_maps_the_logins():
    assert TABLE.activities["sso_login_succeeded"].action == "user.login"
    assert "sso_login_succeeded" in TABLE.by_action["user.login"]


def test_an_unknown_type_passes_through():
    row = row_for("something_new")
    assert (row.action, row.activity) == (
        "something_new",
        AIActivityType.SETTINGS_CHANGE,
    )


def test_native_types_from_actions():
    assert native_types(None) is None
    logins = native_types(["user.login"])
    assert logins == TABLE.by_action["user.login"]
    assert native_types(["user.login", "not_ours_yet"]) is None  # may be pass-through
    assert (
        native_types(["sso_login_succeeded"]) == frozenset()
    )  # mapped: never an action


def test_a_reserved_action_asks_for_nothing():
    table = load_table(HEADER + '[vocabulary]\nreserved = ["file.downloaded"]\n')
    assert table.reserved == {"file.downloaded"}


def test_risks_are_read():
    text = HEADER + (
        '[activities.types]\n"claude_file_uploaded" = { action = "file.uploaded", '
        'activity = "file_upload" }\n'
        '[risks."file.uploaded"]\ntype = "sensitive_data"\nseverity = "medium"\n'
        'confidence = 80\ndescription = "File uploaded"\nevidence = "filename"\n'
    )
    table = load_table(text)
    assert table.risks["file.uploaded"].evidence == "filename"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("version = 2", "version"),
        ("version = [", "not TOML"),
        ('version = 1\n[defaults]\npass_through_activity = "nope"\n', "pass_through"),
        (HEADER + '[activities.types]\n"a" = "b"\n', "'a' must be an inline table"),
        (
            HEADER + '[activities.types]\n"a" = { action = "x", activity = "y" }\n',
            "activity must be one of",
        ),
        (
            HEADER + '[activities.types]\n"a" = { activity = "login" }\n',
            "action must be",
        ),
        (
            HEADER
            + '[activities.types]\n"a" = { action = "x", activity = "login", z = 1 }\n',
            "unknown key(s) z",
        ),
        (HEADER + '[risks."x"]\ntype = "nope"\n', "[risks.'x']"),
    ],
)
def test_a_broken_table_names_the_entry(text, fragment):
    with pytest.raises(EventMapError) as info:
        load_table(text)
    assert fragment in str(info.value)
