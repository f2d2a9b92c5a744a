"""``aiaudit risks``, and the security section ``usage`` puts first: a real
process on a real store of each kind (SQLite, PostgreSQL), filled through
the store's API with events each rule should find."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from connector_core.models import AIActivityType, AIAuditLog, GeoLocation
from connector_core.store import open_store
from connector_core.store.base import SavedConnection
from connector_core.testing.processes import AIAUDIT, clean_env


DAY = datetime(2025, 3, 4, tzinfo=UTC)  # a Tuesday
RANGE = ("--since", "2025-03-01", "--until", "2025-03-07")
LONG_EMAIL = "maximiliane.von-und-zu-oberhausen-rheinland@subsidiary.acme-corp.example"


def _log(
    number: int,
    platform: str,
    user: str,
    action: str,
    at: datetime,
    *,
    country: str | None = None,
    **metadata: object,
) -> AIAuditLog:
    return AIAuditLog(
        id=f"evt-{platform}-{number:03d}",
        platform=platform,
        timestamp=at,
        user_id=user,
        user_email=user if "@" in user else f"{user}@example.com",
        organization_id="org-1",
        activity_type=AIActivityType.LOGIN,
        action=action,
        native_type=action,
        metadata=metadata,
        location=GeoLocation(country=country) if country else None,
    )


def _events(platform: str) -> list[AIAuditLog]:
    logs = []
    n = iter(range(1000))
    # A burst of failed sign-ins by the long-named person.
    logs += [
        _log(
            next(n),
            platform,
            LONG_EMAIL,
            "user.login.failed",
            DAY + timedelta(hours=9, minutes=i),
        )
        for i in range(6)
    ]
    # Sign-ins from the US for days, then one from Brazil.
    logs += [
        _log(
            next(n),
            platform,
            "ann",
            "user.login",
            DAY - timedelta(days=3 - i, hours=-9),
            country="US",
        )
        for i in range(4)
    ]
    logs.append(
        _log(
            next(n),
            platform,
            "ann",
            "user.login",
            DAY + timedelta(days=1, hours=8),
            country="BR",
        )
    )
    # A sensitive upload and an ordinary one.
    logs.append(
        _log(
            next(n),
            platform,
            "bo",
            "file.uploaded",
            DAY + timedelta(hours=11),
            file_name="soc2-report.pdf",
        )
    )
    logs.append(
        _log(
            next(n),
            platform,
            "bo",
            "file.uploaded",
            DAY + timedelta(hours=12),
            file_name="lunch-menu.pdf",
        )
    )
    # An admin key at 02:13, and a role change.
    logs.append(
        _log(
            next(n),
            platform,
            "cy",
            "api_key.created",
            DAY + timedelta(hours=2, minutes=13),
        )
    )
    logs.append(
        _log(
            next(n),
            platform,
            "cy",
            "user.role.updated",
            DAY + timedelta(hours=14),
            target_user_email="dee@example.com",
        )
    )
    return logs


@pytest.fixture
def risky_store(store_url):
    store = open_store(store_url)
    try:
        for name, platform in (("acme", "example"), ("beta", "toy")):
            store.add_connection(
                SavedConnection(
                    name=name,
                    platform=platform,
                    config={"api_key": {"env": "EXAMPLE_API_KEY"}},
                    created_at=DAY,
                )
            )
            store.write_batch(name, "audit", _events(platform))
    finally:
        store.close()
    return store_url


def aiaudit(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AIAUDIT), *args],
        capture_output=True,
        text=True,
        env=clean_env(**(env or {})),
        timeout=120,
        check=False,
    )


EXPECTED_RULES = {
    "failed_sign_in_burst",
    "new_country_sign_in",
    "sensitive_upload",
    "api_key_off_hours",
    "role_change",
}


def test_risks_lists_each_kind_of_finding_highest_first(risky_store):
    result = aiaudit("--store", risky_store, "risks", "--json", *RANGE)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    found = data["findings"]
    assert {f["rule"] for f in found} == EXPECTED_RULES
    # Two platforms, each finding once per platform.
    assert data["findings_total"] == 2 * len(EXPECTED_RULES)
    scores = [f["score"] for f in found]
    assert scores == sorted(scores, reverse=True)
    burst = next(f for f in found if f["rule"] == "failed_sign_in_burst")
    assert burst["user_email"] == LONG_EMAIL
    assert len(burst["events"]) == 6
    assert {e["risk_score"] for e in burst["events"]} == {70}
    upload = next(f for f in found if f["rule"] == "sensitive_upload")
    assert upload["detail"] == "soc2-report.pdf"
    assert data["uploads"][0]["sensitive_files"] == ["soc2-report.pdf"]
    assert {r["id"] for r in data["rules"]} >= EXPECTED_RULES


def test_risks_filters(risky_store):
    def rules_of(*args: str) -> set[str]:
        result = aiaudit("--store", risky_store, "risks", "--json", *RANGE, *args)
        assert result.returncode == 0, result.stderr
        return {
            (f["platform"], f["rule"]) for f in json.loads(result.stdout)["findings"]
        }

    assert rules_of("--rule", "role_change") == {
        ("example", "role_change"),
        ("toy", "role_change"),
    }
    assert {r for _, r in rules_of("--min-score", "65")} == {
        "failed_sign_in_burst",
        "new_country_sign_in",
    }
    assert {p for p, _ in rules_of("--platform", "toy")} == {"toy"}
    assert {p for p, _ in rules_of("--connection", "acme")} == {"example"}
    assert rules_of("--user", "ANN@example.com") == {
        ("example", "new_country_sign_in"),
        ("toy", "new_country_sign_in"),
    }
    assert {r for _, r in rules_of("--section", "changes")} == {
        "api_key_off_hours",
        "role_change",
    }


def test_risks_text_names_the_events_and_never_cuts_an_email(risky_store):
    result = aiaudit("--store", risky_store, "risks", "--tz", "Asia/Tokyo", *RANGE)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.match(r"10 of 10 findings, .* \(Asia/Tokyo\)\n", out)
    assert "WHEN (Asia/Tokyo)" in out
    assert LONG_EMAIL in out
    assert "events: evt-example-" in out
    # 02:13 UTC is 11:13 in Tokyo.
    assert "2025-03-04 11:13" in out


def test_usage_puts_the_security_section_first(risky_store):
    result = aiaudit("--store", risky_store, "usage", *RANGE)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Security: 10 findings")
    assert out.index("Highest risk") < out.index("AI usage: all platforms")
    for heading in (
        "Failed sign-ins per person",
        "Who uploaded which files",
        "Key, admin, role and settings changes",
        "New locations",
    ):
        assert heading in out
    assert LONG_EMAIL in out


def test_usage_json_carries_the_security_summary(risky_store):
    result = aiaudit(
        "--store", risky_store, "usage", "--json", "--platform", "toy", *RANGE
    )
    assert result.returncode == 0, result.stderr
    security = json.loads(result.stdout)["security"]
    assert security["findings_total"] == len(EXPECTED_RULES)
    assert {f["platform"] for f in security["findings"]} == {"toy"}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.links: list[str] = []
        self.sections: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.append(attributes["id"] or "")
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"] or "")
        if tag == "section":
            self.sections.append(attributes.get("id"))


def test_the_html_report_leads_with_security_and_every_row_links_to_events(
    risky_store, tmp_path
):
    report = tmp_path / "report.html"
    result = aiaudit(
        "--store",
        risky_store,
        "usage",
        "--format",
        "html",
        "--output",
        str(report),
        *RANGE,
    )
    assert result.returncode == 0, result.stderr
    page = report.read_text()
    parsed = _Page()
    parsed.feed(page)
    assert parsed.sections[0] == "security"
    assert parsed.links, "no row links to its events"
    for link in parsed.links:
        assert link.startswith("#ev-")
        assert link[1:] in parsed.ids
    assert LONG_EMAIL in page
    # The viewer's zone by default: times marked for the page's one script.
    assert 'class="local"' in page
    assert page.count("<script>") == 1
    zoned = tmp_path / "tokyo.html"
    aiaudit(
        "--store",
        risky_store,
        "usage",
        "--format",
        "html",
        "--tz",
        "Asia/Tokyo",
        "--output",
        str(zoned),
        *RANGE,
    )
    assert "<script>" not in zoned.read_text()
    assert "Times are in Asia/Tokyo." in zoned.read_text()


def test_a_broken_rule_file_is_named_before_anything_is_read(risky_store, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rule]]\nid = "mine"\ntitle = "Mine"\nsection = "changes"\nkind = "event"\n'
        'actions = ["x"]\nscore = 500\nseverity = "low"\ntype = "security_event"\n'
    )
    result = aiaudit("--store", risky_store, "risks", "--rules", str(rules), *RANGE)
    assert result.returncode != 0
    assert f"risk rules {rules}, rule 1 (mine): score must be 0 to 100" in result.stderr
    assert "Traceback" not in result.stderr
    missing = aiaudit(
        "--store", risky_store, "risks", "--rules", str(tmp_path / "no.toml")
    )
    assert missing.returncode != 0
    assert "cannot read risk rules" in missing.stderr


def test_a_host_rule_file_replaces_and_adds_rules(risky_store, tmp_path):
    rules = tmp_path / "acme.toml"
    rules.write_text(
        """
[[rule]]
id = "role_change"
title = "Role change"
section = "changes"
kind = "event"
actions = ["user.role.updated"]
score = 95
severity = "critical"
type = "security_event"

[[rule]]
id = "lunch"
title = "Lunch menu uploaded"
section = "uploads"
kind = "event"
actions = ["file.uploaded"]
file_words = ["lunch"]
score = 10
severity = "low"
type = "policy_violation"
"""
    )
    for args, env in (
        (("--rules", str(rules)), None),
        ((), {"AIAUDIT_RISK_RULES": str(rules)}),
    ):
        result = aiaudit(
            "--store",
            risky_store,
            "risks",
            "--json",
            "--platform",
            "toy",
            *RANGE,
            *args,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        found = {f["rule"]: f for f in json.loads(result.stdout)["findings"]}
        assert found["role_change"]["score"] == 95
        assert found["lunch"]["detail"] == "lunch-menu.pdf"
        # The highest score leads.
        assert next(iter(found)) == "role_change"


def test_an_unknown_rule_or_zone_is_a_usage_error(risky_store):
    result = aiaudit("--store", risky_store, "risks", "--rule", "nope", *RANGE)
    assert result.returncode == 2
    assert "no rule nope" in result.stderr
    result = aiaudit("--store", risky_store, "risks", "--tz", "Mars/Olympus", *RANGE)
    assert result.returncode == 2
    assert "is not a time zone" in result.stderr


def test_list_rules(risky_store):
    result = aiaudit("--store", risky_store, "risks", "--list-rules")
    assert result.returncode == 0, result.stderr
    assert "new_network_sign_in" in result.stdout
    assert "(off)" in result.stdout
