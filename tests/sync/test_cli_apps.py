"""``aiaudit usage`` shows the apps granted access and the AI features used,
for one platform and side by side: a real process on a real store of each
kind, filled with a toy platform's logs through the store's API."""

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
HOSTILE = "<img src=x onerror=alert(1)> Mail Agent"


def _log(number: int, platform: str, user: str, metadata: dict) -> AIAuditLog:
    return AIAuditLog(
        id=f"evt-{number:03d}",
        platform=platform,
        timestamp=DAY + timedelta(hours=number),
        user_id=user,
        user_email=f"{user}@example.com",
        organization_id="org-1",
        activity_type=AIActivityType.INTEGRATION_CREATED,
        action="app.access",
        native_type="app.access",
        metadata=metadata,
    )


def _fill(store_url: str, logs: dict[tuple[str, str], list[AIAuditLog]]) -> None:
    store = open_store(store_url)
    try:
        for (name, platform), batch in logs.items():
            store.add_connection(
                SavedConnection(
                    name=name,
                    platform=platform,
                    config={"api_key": {"env": "EXAMPLE_API_KEY"}},
                    created_at=DAY,
                )
            )
            store.write_batch(name, "audit", batch)
    finally:
        store.close()


AGENT = {
    "app_id": "client-7",
    "app_name": HOSTILE,
    "app_is_ai": True,
    "app_reaches": ["mail"],
    "app_scopes": ["mail.read"],
}


@pytest.fixture
def toy_store(store_url):
    _fill(
        store_url,
        {
            ("acme", "toy"): [
                _log(1, "toy", "ann", {"app_access": "granted", **AGENT}),
                _log(2, "toy", "bo", {"app_access": "granted", **AGENT}),
                _log(3, "toy", "bo", {"app_access": "revoked", **AGENT}),
                _log(4, "toy", "cy", {"app_access": "granted", "app_name": "Clock"}),
                _log(5, "toy", "ann", {"feature_app": "mail", "feature": "summarize"}),
                _log(6, "toy", "bo", {"feature_app": "mail", "feature": "summarize"}),
            ],
        },
    )
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


def test_the_text_shows_both_sections(toy_store):
    result = aiaudit("--store", toy_store, "usage", *RANGE)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    start = lines.index("Apps granted access (AI apps and apps reaching data first)")
    agent, ann, bo, clock = lines[start + 2 : start + 6]
    assert agent.split()[-6:-3] == ["AI", "mail", "1"]
    assert ann == "      granted to: ann@example.com"
    assert bo == "      revoked by: bo@example.com"
    assert "Clock" in clock
    features = lines.index("AI features used")
    assert lines[features + 2].split()[1:] == ["mail", "summarize", "2", "2"]


def test_the_json_has_the_views_beside_the_analytics(toy_store):
    result = aiaudit("--store", toy_store, "usage", *RANGE, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["total_events"] == 6
    [agent, clock] = data["apps_granted"]
    assert agent == {
        "platform": "toy",
        "app_id": "client-7",
        "name": HOSTILE,
        "is_ai": True,
        "reaches": ["mail"],
        "scopes": ["mail.read"],
        "granted_to": ["ann@example.com"],
        "revoked_by": ["bo@example.com"],
        "first_granted": "2025-03-03T01:00:00Z",
        "last_granted": "2025-03-03T02:00:00Z",
        "events": 3,
    }
    assert clock["name"] == "Clock"
    assert data["ai_features"] == [
        {
            "platform": "toy",
            "app": "mail",
            "feature": "summarize",
            "uses": 2,
            "people": 2,
        }
    ]


def test_a_connection_and_a_period_narrow_the_views(store_url):
    _fill(
        store_url,
        {
            ("one", "toy"): [_log(1, "toy", "ann", {"app_access": "granted", **AGENT})],
            ("two", "toy"): [_log(2, "toy", "bo", {"app_access": "granted", **AGENT})],
        },
    )
    result = aiaudit(
        "--store", store_url, "usage", *RANGE, "--connection", "two", "--json"
    )
    assert result.returncode == 0, result.stderr
    [agent] = json.loads(result.stdout)["apps_granted"]
    assert agent["granted_to"] == ["bo@example.com"]
    result = aiaudit(
        "--store", store_url, "usage", "--platform", "toy", "--json",
        "--since", "2025-03-04", "--until", "2025-03-05",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["apps_granted"], data["ai_features"]) == ([], [])
    text = aiaudit(
        "--store", store_url, "usage", "--platform", "toy",
        "--since", "2025-03-04", "--until", "2025-03-05",
    ).stdout  # fmt: skip
    assert "Apps granted access" not in text
    assert "AI features used" not in text


def test_side_by_side_the_views_cover_every_platform(toy_store):
    _fill(
        toy_store,
        {
            ("beta", "other"): [
                _log(7, "other", "dee", {"app_access": "granted", "app_name": "Zed"}),
                _log(8, "other", "dee", {"feature": "draft"}),
            ]
        },
    )
    result = aiaudit("--store", toy_store, "usage", *RANGE, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    other, toy = data["platforms"]
    # Each platform's entry is what --platform gives, its views included.
    assert [a["name"] for a in toy["apps_granted"]] == [HOSTILE, "Clock"]
    assert [a["name"] for a in other["apps_granted"]] == ["Zed"]
    assert [f["feature"] for f in other["ai_features"]] == ["draft"]
    alone = aiaudit(
        "--store", toy_store, "usage", *RANGE, "--platform", "toy", "--json"
    )
    assert json.loads(alone.stdout) == toy
    text = aiaudit("--store", toy_store, "usage", *RANGE).stdout
    # Risk first (the security section, then the apps), then usage, every
    # platform side by side before each alone.
    assert text.startswith("Security: ")
    assert text.index("Apps granted access") < text.index("AI usage: all platforms")
    assert text.index("AI usage: all platforms") < text.index(
        "AI usage: ", text.index("AI usage: all platforms") + 1
    )


def test_the_html_report_has_the_security_cards_escaped(toy_store, tmp_path):
    page = tmp_path / "report.html"
    result = aiaudit(
        "--store", toy_store, "usage", *RANGE, "--format", "html",
        "--output", str(page),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    html = page.read_text()
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt; Mail Agent" in html
    assert html.index("Apps granted access") < html.index("Top users")
    assert "AI features used" in html
