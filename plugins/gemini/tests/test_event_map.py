"""The tables as data: the event map and the AI apps load, every application
read has its rows, a filter by action becomes the ``eventName`` to ask
for, and a malformed table is refused naming the entry at fault."""

from __future__ import annotations

import pytest

from aiaudit_gemini.apps import TABLE as APPS
from aiaudit_gemini.apps import AppTableError, load_apps
from aiaudit_gemini.event_map import (
    APPLICATIONS,
    TABLE,
    EventMapError,
    event_names,
    load_table,
    row_for,
)


def test_the_four_applications_are_read():
    assert APPLICATIONS == (
        "gemini_in_workspace_apps",
        "gemini_notebook",
        "token",
        "login",
    )


def test_each_application_lists_its_actions():
    assert TABLE.actions("gemini_in_workspace_apps") == ("ai.feature.used",)
    assert "app.authorized" in TABLE.actions("token")
    assert "user.login.failed" in TABLE.actions("login")
    assert all("{name}" not in a for app in APPLICATIONS for a in TABLE.actions(app))


def test_a_type_without_a_row_for_its_name_takes_its_star_row():
    row = row_for("login", "account_warning", "gov_attack_warning")
    assert row.action_for("gov_attack_warning") == "account.warning.gov_attack_warning"


@pytest.mark.parametrize(
    ("application", "actions", "names"),
    [
        ("login", None, None),
        ("login", ["user.login.failed"], frozenset({"login_failure"})),
        (
            "login",
            ["user.login", "user.logout"],
            frozenset({"login_success", "logout"}),
        ),
        ("token", ["app.authorized"], frozenset({"authorize"})),
        # Another application's action, or a reserved one: nothing to ask.
        ("token", ["user.login"], frozenset()),
        ("login", ["conversation.message"], frozenset()),
        # A notebook's unlisted events are AI use too: no narrowing.
        ("gemini_notebook", ["ai.feature.used"], None),
        (
            "gemini_notebook",
            ["project.created"],
            frozenset({"create_notebook", "copy_notebook"}),
        ),
        # Not ours: maybe a native type passed through; ask for everything.
        ("login", ["login/risky_sensitive_action_allowed"], None),
        (
            "login",
            ["account.warning.suspicious_login"],
            frozenset({"suspicious_login"}),
        ),
        # A warning the table does not name comes from the `*` row.
        ("login", ["account.warning.some_new_warning"], None),
    ],
)
def test_a_filter_becomes_event_names(application, actions, names):
    assert event_names(application, actions) == names


HEAD = "version = 1\n[defaults]\npass_through_activity = 'login'\n"


def login_row(row: str) -> str:
    return HEAD + "[applications.login]\n" + row


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("version = 2", "version must be 1"),
        (
            "version = 1\n[defaults]\npass_through_activity = 'nope'",
            "pass_through_activity",
        ),
        (login_row("'login' = { action = 'a', activity = 'login' }"), "<type>/<name>"),
        (
            login_row("'login/x' = { action = 'a', activity = 'nope' }"),
            "activity must be one of",
        ),
        (
            login_row("'login/x' = { action = 'a', activity = 'login', extra = 1 }"),
            "unknown key",
        ),
        (
            login_row("'login/x' = { action = 'a', activity = 'login', risk = 'r' }"),
            "no [risks.r]",
        ),
        (
            login_row(
                "'x/y' = { action = 'a', activity = 'login', app_access = 'no' }"
            ),
            "app_access must be granted or revoked",
        ),
        ("not toml [", "not TOML"),
    ],
)
def test_a_malformed_event_map_names_the_entry(text, problem):
    with pytest.raises(EventMapError, match=problem.replace("[", r"\[")):
        load_table(text)


def test_the_app_table_loads_with_its_reaches():
    assert APPS.reach_of("https://mail.google.com/") == "mail"
    assert APPS.reach_of("https://www.googleapis.com/auth/gmail.send") == "mail"
    assert APPS.reach_of("https://www.googleapis.com/auth/drive.appdata") == ""
    assert APPS.reach_of("https://www.googleapis.com/auth/drive.file") == "files"
    assert APPS.reach_of("https://www.googleapis.com/auth/documents") == "files"
    assert (
        APPS.reach_of("https://www.googleapis.com/auth/calendar.events") == "calendar"
    )
    assert (
        APPS.reach_of("https://www.googleapis.com/auth/contacts.readonly") == "contacts"
    )
    assert APPS.reach_of("openid") == ""


def test_a_client_id_in_the_table_wins_over_the_name():
    table = load_apps(
        "version = 1\n[[apps]]\nname = 'Internal Copilot'\nvendor = 'Acme'\n"
        "patterns = []\nclient_ids = ['42-internal.apps.googleusercontent.com']\n"
    )
    found = table.ai_app("42-internal.apps.googleusercontent.com", "Expense Helper")
    assert found is not None
    assert found.name == "Internal Copilot"
    assert table.ai_app("other", "Expense Helper") is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("version = 3", "version must be 1"),
        ("version = 1\n[[apps]]\nvendor = 'x'", "name and vendor"),
        (
            "version = 1\n[[apps]]\nname = 'x'\npatterns = [1]",
            "list of non-empty strings",
        ),
        ("version = 1\n[[apps]]\nname = 'x'\nlogo = 'y'", "unknown key"),
        ("version = 1\n[[reaches]]\nprefix = 'x'", "prefix and reach"),
        ("version = 1\n[buckets]\nGMAIL = 1", "buckets"),
    ],
)
def test_a_malformed_app_table_names_the_entry(text, problem):
    with pytest.raises(AppTableError, match=problem):
        load_apps(text)
