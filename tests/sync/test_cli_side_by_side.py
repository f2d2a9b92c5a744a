"""``aiaudit usage`` on a store of several platforms, none named: every
platform side by side (events, people, users, tokens and cost, models
across platforms), then each platform's own report. A real process on a real
store of each kind, filled through the store's API."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from connector_core.models import AIActivityType, AIAuditLog
from connector_core.store import open_store
from connector_core.store.base import SavedConnection
from connector_core.testing.processes import AIAUDIT, clean_env


DAY = datetime(2025, 3, 3, tzinfo=UTC)
RANGE = ("--since", "2025-03-01", "--until", "2025-03-05")


def _log(
    number: int,
    platform: str,
    user: str,
    email: str | None,
    metadata: dict[str, object] | None = None,
) -> AIAuditLog:
    return AIAuditLog(
        id=f"evt-{number:03d}",
        platform=platform,
        timestamp=DAY + timedelta(hours=number),
        user_id=user,
        user_email=email,
        organization_id="org-1",
        activity_type=AIActivityType.CONVERSATION,
        action="conversation.created",
        native_type="conversation.created",
        metadata=metadata or {},
    )


@pytest.fixture
def two_platforms(store_url):
    """Priya on both platforms (her email in two cases), Sam on one, and a
    service account without an email on the other."""
    store = open_store(store_url)
    try:
        for name, platform in (("acme", "example"), ("beta", "other")):
            store.add_connection(
                SavedConnection(
                    name=name,
                    platform=platform,
                    config={"api_key": {"env": "EXAMPLE_API_KEY"}},
                    created_at=DAY,
                )
            )
        store.write_batch(
            "acme",
            "audit",
            [
                _log(1, "example", "priya", "priya@example.com"),
                _log(
                    2,
                    "example",
                    "sam",
                    "sam@example.com",
                    {"model": "small", "tokens_used": 1200},
                ),
            ],
        )
        store.write_batch(
            "beta",
            "audit",
            [
                _log(
                    3,
                    "other",
                    "p-17",
                    "Priya@Example.com",
                    {"model": "large", "tokens_used": 800},
                ),
                _log(4, "other", "svc-1", None),
                _log(5, "other", "svc-1", None),
            ],
        )
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


def test_the_table_puts_every_platform_side_by_side_first(two_platforms):
    result = aiaudit("--store", two_platforms, "usage", *RANGE)
    assert result.returncode == 0, result.stderr
    # The security section leads (docs/risk.md), then the usage of every
    # platform side by side before any platform's own.
    assert result.stdout.startswith("Security: ")
    text = result.stdout[result.stdout.index("AI usage: ") :]
    assert text.startswith("AI usage: all platforms\n")
    lines = text.splitlines()
    assert "  People                   3  (one per email, across platforms)" in lines
    assert "  Events                   5" in lines
    header = next(i for i, line in enumerate(lines) if line.startswith("  PLATFORM"))
    rows = lines[header + 1 : header + 4]
    # The busiest first; a platform not installed is named as stored.
    assert [" ".join(row.split()) for row in rows] == [
        "Other 3 2 2 800 -",
        "Example Reports 2 2 2 1.2k -",
        "All platforms 5 3 2.0k -",
    ]
    # Columns line up: every figure ends where its heading does.
    assert {len(row) for row in rows} == {len(lines[header])}
    assert "Models across platforms" in lines
    # Then each platform's own report, as --platform gives it.
    assert text.index("AI usage: Example Reports") > text.index("Models across")
    assert "AI usage: Other" in text


def test_json_holds_the_people_and_each_platforms_analytics(two_platforms):
    result = aiaudit("--store", two_platforms, "usage", "--json", *RANGE)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["people"] == 3
    assert [p["platform"] for p in data["platforms"]] == ["example", "other"]
    assert [p["total_events"] for p in data["platforms"]] == [2, 3]
    alone = aiaudit(
        "--store", two_platforms, "usage", "--json", "--platform", "other", *RANGE
    )
    assert json.loads(alone.stdout) == data["platforms"][1]


def test_a_named_platform_or_connection_is_that_platform_alone(two_platforms):
    for args in (("--platform", "example"), ("--connection", "acme")):
        result = aiaudit("--store", two_platforms, "usage", *args, *RANGE)
        assert result.returncode == 0, result.stderr
        # After the security section (docs/risk.md), that platform's usage.
        assert result.stdout.startswith("Security: ")
        assert "\nAI usage: Example Reports\n" in result.stdout
        assert "all platforms" not in result.stdout


def test_the_html_report_shows_people_and_models_across_platforms(
    two_platforms, tmp_path
):
    page = tmp_path / "report.html"
    result = aiaudit(
        "--store",
        two_platforms,
        "usage",
        "--format",
        "html",
        "--output",
        str(page),
        *RANGE,
    )
    assert result.returncode == 0, result.stderr
    html = page.read_text()
    assert ">People<" in html
    assert "one per email, across platforms" in html
    assert "Models across platforms" in html
    assert html.count("<section") >= 3  # the figures, then a section per platform
