"""Every built-in risk rule finds what it describes, and nothing else.

Each rule has a positive case (events it must find) and a negative case
(events close to it that it must not find), scored through the same engine
the store uses (``assess_logs``). A test below fails when a rule ships
without both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import pytest

from connector_core.exceptions import ConfigurationError
from connector_core.models import (
    AIActivityType,
    AIAuditLog,
    AIDateRange,
    AIRiskIndicator,
    AIRiskType,
    GeoLocation,
    RiskSeverity,
)
from connector_core.risk import assess_logs, default_rules, load_rules, merge_rules


# A Tuesday; the period is the week around it, with history before.
DAY = dt.datetime(2026, 3, 10, tzinfo=dt.UTC)
PERIOD = AIDateRange(start=DAY - dt.timedelta(days=1), end=DAY + dt.timedelta(days=5))

_ACTIVITY = {
    "user.login": AIActivityType.LOGIN,
    "user.login.failed": AIActivityType.LOGIN,
    "file.uploaded": AIActivityType.FILE_UPLOAD,
    "api_key.created": AIActivityType.API_KEY_CREATED,
    "service_account.created": AIActivityType.API_KEY_CREATED,
    "data.exported": AIActivityType.DATA_EXPORT,
}
_counter = iter(range(1_000_000))


def event(
    action: str,
    at: dt.datetime = DAY + dt.timedelta(hours=10),
    *,
    user: str = "u1",
    country: str | None = None,
    ip: str | None = None,
    indicators: Sequence[AIRiskIndicator] = (),
    **metadata: object,
) -> AIAuditLog:
    return AIAuditLog(
        id=f"e{next(_counter)}",
        platform="example",
        timestamp=at,
        user_id=user,
        user_email=f"{user}@example.test",
        organization_id="org",
        activity_type=_ACTIVITY.get(action, AIActivityType.SETTINGS_CHANGE),
        action=action,
        metadata=metadata,
        ip_address=ip,
        location=GeoLocation(country=country) if country else None,
        risk_indicators=tuple(indicators),
        native_type=action,
    )


def upload(name: str) -> AIAuditLog:
    return event("file.uploaded", file_name=name)


def minutes(n: float) -> dt.timedelta:
    return dt.timedelta(minutes=n)


def failures(count: int, gap: dt.timedelta, user: str = "u1") -> list[AIAuditLog]:
    start = DAY + dt.timedelta(hours=9)
    return [
        event("user.login.failed", start + i * gap, user=user) for i in range(count)
    ]


def sign_ins(countries: Sequence[str], user: str = "u1") -> list[AIAuditLog]:
    start = DAY - dt.timedelta(days=len(countries) - 1)
    return [
        event("user.login", start + dt.timedelta(days=i, hours=9), user=user, country=c)
        for i, c in enumerate(countries)
    ]


def from_networks(addresses: Sequence[str]) -> list[AIAuditLog]:
    start = DAY - dt.timedelta(days=1)
    return [
        event("user.login", start + dt.timedelta(hours=i), ip=a)
        for i, a in enumerate(addresses)
    ]


def flagged(severity: RiskSeverity, action: str = "app.authorized") -> AIAuditLog:
    return event(
        action,
        indicators=[
            AIRiskIndicator(
                type=AIRiskType.DATA_EXFILTRATION,
                severity=severity,
                description="AI app granted mail access",
                confidence=90.0,
            )
        ],
    )


TUESDAY_2AM = DAY + dt.timedelta(hours=2, minutes=13)
TUESDAY_10AM = DAY + dt.timedelta(hours=10)
SATURDAY_11AM = DAY + dt.timedelta(days=4, hours=11)

Case = Callable[[], list[AIAuditLog]]

# rule id -> (events it finds, how many findings; events it must not find)
CASES: dict[str, tuple[Case, int, Case]] = {
    "failed_sign_in_burst": (
        lambda: failures(6, minutes(1.5)),
        1,
        # Four quickly, or five spread over the hour: no burst.
        lambda: failures(4, minutes(1)) + failures(5, minutes(12), user="u2"),
    ),
    "sensitive_upload": (
        lambda: [
            upload("soc2-report.pdf"),
            upload("Payroll_2026.xlsx"),
            upload("prod.pem"),
        ],
        3,
        lambda: [
            upload("roadmap-q4.pptx"),
            upload("syntax-notes.md"),
            upload("classnotes.md"),
        ],
    ),
    "api_key_off_hours": (
        lambda: [
            event("api_key.created", TUESDAY_2AM),
            event("api_key.created", SATURDAY_11AM),
            event("tenant.admin_api_key.created", TUESDAY_2AM),
        ],
        3,
        lambda: [
            event("api_key.created", TUESDAY_10AM),
            event("user.login", TUESDAY_2AM),
        ],
    ),
    "key_for_service_account": (
        lambda: [event("api_key.created", actor_type="service_account")],
        1,
        lambda: [
            event("api_key.created", actor_type="user"),
            event("user.login", actor_type="service_account"),
        ],
    ),
    "role_change": (
        lambda: [
            event("user.role.updated", target_user_email="v@example.test"),
            event("role.assignment.created"),
        ],
        2,
        lambda: [event("user.updated"), event("roles.listed")],
    ),
    "access_control_change": (
        lambda: [
            event("ip_allowlist.updated"),
            event("scim.enabled"),
            event("sso.disabled"),
            event("user.2sv.disabled"),
            event("tenant.sso_connection.created"),
        ],
        5,
        lambda: [event("settings.updated"), event("user.2sv.enrolled")],
    ),
    "settings_change": (
        lambda: [event("settings.updated"), event("compliance_api.settings.updated")],
        2,
        lambda: [event("user.login"), event("settings.viewed")],
    ),
    "new_country_sign_in": (
        lambda: sign_ins(["US", "US", "US", "DE"]),
        1,
        # Too little history to differ from, or the usual country.
        lambda: sign_ins(["US", "US", "DE"]) + sign_ins(["FR"] * 5, user="u2"),
    ),
    "new_network_sign_in": (
        lambda: from_networks(["10.0.0.5"] * 20 + ["192.168.1.9"]),
        1,
        lambda: from_networks(["10.0.0.5"] * 20 + ["10.0.0.200"]),
    ),
    "shared_outside": (
        lambda: [
            event("share.created", visibility="anyone_with_link"),
            event("gpt.updated", visibility="public"),
        ],
        2,
        lambda: [
            event("share.created", visibility="workspace"),
            event("share.revoked", visibility="anyone_with_link"),
        ],
    ),
    "assistant_created": (
        lambda: [event("gpt.created"), event("claude_canvas.published")],
        2,
        lambda: [event("gpt.updated"), event("gpt.deleted")],
    ),
    "data_export": (
        lambda: [event("data.exported"), event("audit_log.export.started")],
        2,
        lambda: [event("file.downloaded"), event("export.viewed")],
    ),
    "platform_flagged": (
        lambda: [flagged(RiskSeverity.HIGH)],
        1,
        # Unflagged, or flagged where the upload and sign-in rules judge.
        lambda: [
            event("app.authorized"),
            flagged(RiskSeverity.HIGH, "file.uploaded"),
            flagged(RiskSeverity.MEDIUM, "user.login.failed"),
        ],
    ),
}


def _with_all_on() -> list:
    """The built-in rules, the ones off by default turned on."""
    import attrs  # noqa: PLC0415

    return [attrs.evolve(rule, enabled=True) for rule in default_rules()]


def findings_of(rule_id: str, logs: list[AIAuditLog]) -> list:
    logs = sorted(logs, key=lambda log: (log.timestamp, log.id))
    assessment = assess_logs(logs, PERIOD, _with_all_on())
    return [f for f in assessment.findings if f.rule == rule_id]


def test_every_built_in_rule_has_a_positive_and_a_negative_case():
    assert {rule.id for rule in default_rules()} == set(CASES)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_the_rule_finds_what_it_describes(rule_id):
    positive, count, _ = CASES[rule_id]
    found = findings_of(rule_id, positive())
    assert len(found) == count, found
    rule = next(r for r in default_rules() if r.id == rule_id)
    for finding in found:
        assert finding.title == rule.title
        assert finding.section == rule.section
        assert finding.events
        assert all(PERIOD.start <= e.timestamp <= PERIOD.end for e in finding.events)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_the_rule_finds_nothing_else(rule_id):
    _, _, negative = CASES[rule_id]
    assert findings_of(rule_id, negative()) == []


def test_a_burst_is_one_finding_with_all_its_events():
    [burst] = findings_of("failed_sign_in_burst", failures(8, minutes(1)))
    assert len(burst.events) == 8
    assert burst.detail == "8 in 7 min"
    assert burst.score == 70
    assert {e.risk_score for e in burst.events} == {70}


def test_sensitive_upload_names_the_files():
    [finding] = findings_of("sensitive_upload", [upload("customers-export.csv")])
    assert finding.detail == "customers-export.csv"


def test_new_country_says_where_from_and_where_before():
    [finding] = findings_of("new_country_sign_in", sign_ins(["US"] * 4 + ["RU"]))
    assert finding.detail == "from RU; before: US (4)"


def test_off_hours_follow_the_rule_time_zone():
    import attrs  # noqa: PLC0415

    berlin = [
        attrs.evolve(r, timezone="Europe/Berlin")
        for r in default_rules()
        if r.id == "api_key_off_hours"
    ]
    # 06:30 UTC is 07:30 in Berlin (winter): office hours there, not in UTC.
    log = event("api_key.created", DAY + dt.timedelta(hours=6, minutes=30))
    assert findings_of("api_key_off_hours", [log])
    in_berlin = assess_logs([log], PERIOD, merge_rules(berlin))
    assert in_berlin.findings == ()


def test_skip_actions_leaves_events_to_other_rules():
    [rule] = load_rules(
        """
        [[rule]]
        id = "anything_but_logins"
        title = "Anything but sign-ins"
        section = "flagged"
        kind = "event"
        actions = ["*"]
        skip_actions = ["user.login*"]
        score = 10
        severity = "low"
        type = "unusual_activity"
        """,
        source="test",
    )
    assert rule.skip_actions == ("user.login*",)
    logs = [event("user.login"), event("user.login.failed"), event("file.uploaded")]
    found = assess_logs(logs, PERIOD, [rule]).findings
    assert [f.events[0].action for f in found] == ["file.uploaded"]
    with pytest.raises(ConfigurationError, match="skip_actions must be a list"):
        load_rules(
            """
            [[rule]]
            id = "bad"
            title = "Bad"
            section = "flagged"
            kind = "event"
            actions = ["*"]
            skip_actions = "user.login"
            score = 10
            severity = "low"
            type = "unusual_activity"
            """,
            source="test",
        )


def test_a_flag_scores_by_its_severity():
    scores = {
        severity: findings_of("platform_flagged", [flagged(severity)])[0].score
        for severity in RiskSeverity
    }
    assert scores == {
        RiskSeverity.LOW: 20,
        RiskSeverity.MEDIUM: 40,
        RiskSeverity.HIGH: 60,
        RiskSeverity.CRITICAL: 85,
    }


def test_an_event_scores_the_highest_of_its_findings():
    # Off-hours (55) and by a service account (45): the event scores 55.
    log = event("api_key.created", TUESDAY_2AM, actor_type="service_account")
    assessment = assess_logs([log], PERIOD, default_rules())
    assert assessment.scores() == {("example", log.id): 55}
    assert {e.risk_score for f in assessment.findings for e in f.events} == {55}


def test_history_before_the_period_is_compared_but_not_reported():
    early = DAY - dt.timedelta(days=3)
    logs = [
        event("user.login", early + dt.timedelta(hours=h), country="US")
        for h in range(3)
    ] + [event("user.login", early + dt.timedelta(hours=5), country="DE")]
    later = [event("user.login", DAY + dt.timedelta(hours=9), country="JP")]
    found = findings_of("new_country_sign_in", logs + later)
    # DE was new before the period: history; JP in it: found, with DE known.
    assert [f.detail for f in found] == ["from JP; before: US (3), DE (1)"]


def test_the_off_by_default_rule_finds_nothing_by_default():
    logs = from_networks(["10.0.0.5"] * 20 + ["192.168.1.9"])
    assessment = assess_logs(logs, PERIOD, default_rules())
    assert [f for f in assessment.findings if f.rule == "new_network_sign_in"] == []
    assert "new_network_sign_in" not in {r.id for r in assessment.rules}


def test_the_people_views_count_failures_and_list_uploads():
    logs = sorted(
        [
            *failures(6, minutes(1)),
            upload("soc2-report.pdf"),
            upload("notes.txt"),
            upload("notes.txt"),
        ],
        key=lambda log: log.timestamp,
    )
    assessment = assess_logs(logs, PERIOD, default_rules())
    [failed] = assessment.failed_sign_ins
    assert (failed.failures, failed.bursts) == (6, 1)
    [uploads] = assessment.uploads
    assert uploads.uploads == 3
    assert uploads.sensitive == 1
    assert uploads.sensitive_files == ("soc2-report.pdf",)
    assert uploads.files == ("notes.txt",)
