"""Security-relevant event types are listed on their own in every report,
however rare; only the others fold into "other types"."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from connector_core.export.formats import split_types, write_analytics
from connector_core.export.report import render_html_report
from connector_core.models import AIDateRange, TopUserMetric, UsageAnalytics
from connector_core.risk import security_relevant


PERIOD = AIDateRange(
    start=datetime(2025, 3, 1, tzinfo=UTC), end=datetime(2025, 3, 31, tzinfo=UTC)
)
LONG = "maximiliane.von-und-zu-oberhausen@subsidiary.acme-corp.example"


def _analytics() -> UsageAnalytics:
    common = {f"conversation.kind{i:02d}": 1000 - i for i in range(20)}
    rare = {"ip_allowlist.updated": 1, "scim.enabled": 1, "user.role.updated": 2}
    return UsageAnalytics(
        period=PERIOD,
        platform="example",
        total_events=sum(common.values()) + sum(rare.values()) + 3,
        active_users=1,
        total_users=1,
        top_users=(TopUserMetric(user_id="u1", email=LONG, event_count=5),),
        events_by_type={**common, **rare, "misc.thing": 3},
        daily_breakdown=(),
    )


def test_security_relevant_follows_the_rules():
    assert security_relevant("ip_allowlist.updated")
    assert security_relevant("role.assignment.created")
    assert security_relevant("user.login.failed")
    assert not security_relevant("conversation.message")
    assert not security_relevant("misc.thing")


def test_split_lists_the_top_and_every_security_type():
    ranked = sorted(_analytics().events_by_type.items(), key=lambda kv: (-kv[1], kv[0]))
    shown, rest = split_types(ranked, 15)
    names = [action for action, _ in shown]
    assert names[:15] == [f"conversation.kind{i:02d}" for i in range(15)]
    assert {"ip_allowlist.updated", "scim.enabled", "user.role.updated"} <= set(names)
    assert {action for action, _ in rest} == {
        *(f"conversation.kind{i:02d}" for i in range(15, 20)),
        "misc.thing",
    }


def test_the_text_report_names_rare_security_types_and_whole_emails():
    out = io.StringIO()
    write_analytics(_analytics(), out, format="table")
    text = out.getvalue()
    for action in ("ip_allowlist.updated", "scim.enabled", "user.role.updated"):
        assert f"  {action} " in text
    assert "(6 other types)" in text
    assert LONG in text


def test_the_html_report_names_rare_security_types():
    page = render_html_report(_analytics())
    for action in ("ip_allowlist.updated", "scim.enabled", "user.role.updated"):
        assert action in page
