"""``aiaudit logs`` and ``aiaudit usage`` as a person first uses them: an
email typed in capitals, one day asked for by its date, actions by glob, the
latest events first, a mistyped connection. A real process on a real store
of each kind (SQLite and PostgreSQL), filled through the store's API."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from connector_core.models import AIActivityType, AIAuditLog
from connector_core.store import open_store
from connector_core.store.base import SavedConnection
from connector_core.testing.processes import AIAUDIT, clean_env


DAY = datetime(2025, 1, 31, tzinfo=UTC)
"""The day asked for by its date, ``2025-01-31``."""

MOMENTS = {
    "day-before-last": DAY - timedelta(microseconds=1),
    "midnight": DAY,
    "noon": DAY + timedelta(hours=12),
    "late": DAY + timedelta(hours=23, minutes=59, seconds=59, microseconds=500_000),
    "last": DAY + timedelta(days=1, microseconds=-1),
    "next-midnight": DAY + timedelta(days=1),
    "next-noon": DAY + timedelta(days=1, hours=12),
}
ACTIONS = ("user.login", "user.logout", "file.uploaded", "conversation.created")


def _log(number: int, at: datetime, action: str, email: str) -> AIAuditLog:
    return AIAuditLog(
        id=f"evt-{number:03d}",
        platform="example",
        timestamp=at,
        user_id=email.partition("@")[0],
        user_email=email,
        organization_id="org-1",
        activity_type=AIActivityType.CONVERSATION,
        action=action,
        native_type=action,
    )


LOGS = [
    _log(
        number,
        at,
        ACTIONS[number % len(ACTIONS)],
        "priya.jensen@example.com" if number % 2 else "sam.okafor@example.com",
    )
    for number, at in enumerate(MOMENTS.values())
]


@pytest.fixture
def filled(store_url):
    store = open_store(store_url)
    try:
        store.add_connection(
            SavedConnection(
                name="acme",
                platform="example",
                config={"api_key": {"env": "EXAMPLE_API_KEY"}},
                created_at=DAY,
            )
        )
        store.write_batch("acme", "audit", LOGS)
    finally:
        store.close()
    return store_url


def aiaudit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AIAUDIT), *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )


def logs(store_url: str, *args: str) -> list[dict]:
    result = aiaudit("--store", store_url, "logs", "--json", *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def ids(events: list[dict]) -> list[str]:
    return [event["id"] for event in events]


def expected(*names: str) -> list[str]:
    moments = list(MOMENTS)
    return [f"evt-{moments.index(name):03d}" for name in names]


def test_an_email_in_capitals_finds_its_events(filled):
    priya = [log.id for log in LOGS if log.user_email.startswith("priya")]
    for typed in ("PRIYA.JENSEN@EXAMPLE.COM", "Priya.Jensen@example.com"):
        assert ids(logs(filled, "--user", typed)) == priya


def test_a_date_until_covers_that_whole_day(filled):
    whole_day = expected("midnight", "noon", "late", "last")
    assert ids(logs(filled, "--since", "2025-01-31", "--until", "2025-01-31")) == (
        whole_day
    )
    # A full time stays the moment it says (the end is inclusive, as before).
    assert ids(
        logs(filled, "--since", "2025-01-31", "--until", "2025-01-31T12:00:00Z")
    ) == expected("midnight", "noon")
    usage = aiaudit(
        "--store",
        filled,
        "usage",
        "--platform",
        "example",
        "--since",
        "2025-01-31",
        "--until",
        "2025-01-31",
        "--json",
    )
    assert usage.returncode == 0, usage.stderr
    report = json.loads(usage.stdout)
    assert report["total_events"] == len(whole_day)
    assert [day["date"] for day in report["daily_breakdown"]] == ["2025-01-31"]


@pytest.mark.parametrize("command", ["logs", "usage", "sync"])
def test_an_inverted_range_is_a_usage_error(filled, command):
    result = aiaudit(
        "--store",
        filled,
        command,
        *(["--platform", "example"] if command == "usage" else []),
        "--since",
        "2025-02-01",
        "--until",
        "2025-01-31",
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    [line] = result.stderr.strip().splitlines()
    assert "--since" in line
    assert "--until" in line
    assert "after" in line
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("logs", "--connection", "acmee"),
        ("usage", "--connection", "acmee"),
        ("usage", "--connection", "acmee", "--platform", "example"),
    ],
)
def test_an_unknown_connection_is_an_error(filled, args):
    result = aiaudit("--store", filled, *args)
    assert result.returncode == 1, (result.stdout, result.stderr)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: no connection named 'acmee'")
    assert "(saved: acme)" in line
    assert result.stdout == ""


def test_the_events_of_a_removed_connection_stay_readable(filled):
    removed = aiaudit("--store", filled, "connections", "remove", "acme")
    assert removed.returncode == 0, removed.stderr
    assert ids(logs(filled, "--connection", "acme")) == [log.id for log in LOGS]


def test_actions_by_glob_and_repeated(filled):
    def actions(*args: str) -> set[str]:
        return {event["action"] for event in logs(filled, *args)}

    assert actions("--action", "user.*") == {"user.login", "user.logout"}
    assert actions("--action", "user.login", "--action", "file.*") == {
        "user.login",
        "file.uploaded",
    }
    assert actions("--action", "user.log?n") == {"user.login"}
    help_text = aiaudit("logs", "--help").stdout
    assert "user.*" in help_text
    assert "repeat" in help_text


def test_newest_first(filled):
    newest = list(reversed([log.id for log in LOGS]))
    assert ids(logs(filled, "--newest-first")) == newest
    assert ids(logs(filled, "--newest-first", "--limit", "3")) == newest[:3]
    assert ids(logs(filled, "--limit", "3")) == [log.id for log in LOGS][:3]
