"""The security views in the exports: the HTML report's cards (valid,
escaped, before the usage cards, empty states), the text sections and the
JSON keys, on views built from a toy platform's logs."""

from __future__ import annotations

import datetime as dt
import io
import json

from test_formats_report import GENERATED, make_analytics, parse

from connector_core.analytics import (
    AppGrantsAccumulator,
    FeaturesAccumulator,
    side_by_side,
)
from connector_core.export.apps import apps_lines, people_text
from connector_core.export.formats import write_analytics
from connector_core.export.overview import write_platforms_usage
from connector_core.export.report import render_html_report
from connector_core.models import AIActivityType, AIAuditLog, AIDateRange


T0 = dt.datetime(2025, 6, 2, 9, tzinfo=dt.UTC)
PERIOD = AIDateRange(start=T0, end=T0 + dt.timedelta(days=3))
HOSTILE = '<script>alert("app")</script>&'


def _log(number: int, user: str, metadata: dict, platform: str = "my_ai"):
    return AIAuditLog(
        id=f"toy-{number:03d}",
        platform=platform,
        timestamp=T0 + dt.timedelta(hours=number),
        user_id=f"id-{user}",
        user_email=f"{user}@example.com",
        organization_id="org-toy",
        activity_type=AIActivityType.INTEGRATION_CREATED,
        action="app.access",
        native_type="app.access",
        metadata=metadata,
    )


def views(logs):
    apps, features = AppGrantsAccumulator(PERIOD), FeaturesAccumulator(PERIOD)
    for log in logs:
        apps.add(log)
        features.add(log)
    return apps.result(), features.result()


LOGS = [
    _log(
        1,
        "ann",
        {
            "app_access": "granted",
            "app_id": "c-1",
            "app_name": HOSTILE,
            "app_is_ai": True,
            "app_reaches": ["mail", "<b>files</b>"],
        },
    ),
    *(
        _log(2 + n, f"user{n}", {"app_access": "granted", "app_id": "c-1"})
        for n in range(5)
    ),
    _log(8, "bo", {"app_access": "granted", "app_name": "Plain"}),
    _log(9, "bo", {"app_access": "revoked", "app_name": "Plain"}),
    _log(10, "ann", {"feature_app": "mail", "feature": "<i>summarize</i>"}),
]


def test_the_cards_come_before_the_usage_cards_and_escape_everything():
    apps, features = views(LOGS)
    page = render_html_report(
        make_analytics(), generated_at=GENERATED, apps=apps, features=features
    )
    checker = parse(page)
    assert "<script>" not in page
    assert "<b>files</b>" not in page
    assert "<i>summarize</i>" not in page
    text = "".join(checker.text)
    assert HOSTILE in text  # shown as text, not markup
    assert "files</b>" in text
    assert page.index("Apps granted access") < page.index("AI features used")
    assert page.index("AI features used") < page.index("Top users")
    assert '<span class="badge ai">AI</span>' in page
    # People now: the count, the first few, how many more.
    assert "6 · ann@example.com, user0@example.com, user1@example.com and 3 more" in (
        text
    )
    assert "bo@example.com" in text  # revoked Plain


def test_the_cards_say_when_there_was_nothing():
    apps, features = views([])
    page = render_html_report(
        make_analytics(), generated_at=GENERATED, apps=apps, features=features
    )
    parse(page)
    assert "No app was granted or revoked access in this period." in page
    assert "No AI feature was used in this period." in page


def test_without_the_views_the_report_is_as_before():
    page = render_html_report(make_analytics(), generated_at=GENERATED)
    assert "Apps granted access" not in page
    assert page == render_html_report(
        make_analytics(), generated_at=GENERATED, apps=None, features=None
    )


def test_a_report_of_no_platform_still_shows_the_views():
    apps, features = views(LOGS)
    page = render_html_report([], generated_at=GENERATED, apps=apps, features=features)
    parse(page)
    assert "Apps granted access" in page


def test_several_platforms_get_a_platform_column():
    apps, features = views([*LOGS, _log(20, "cy", {"feature": "x"}, platform="b")])
    page = render_html_report(
        side_by_side([make_analytics("my_ai"), make_analytics("b")], people=3),
        generated_at=GENERATED,
        apps=apps,
        features=features,
    )
    parse(page)
    assert "<th>Platform</th><th>Product</th>" in page


def test_the_text_sections_flag_ai_apps_and_name_who():
    apps, features = views(LOGS)
    lines = list(apps_lines(apps, features, {"my_ai": "My AI"}))
    text = "\n".join(lines)
    assert "Apps granted access (AI apps and apps reaching data first)" in lines
    first = next(line for line in lines if "My AI" in line)
    assert " AI " in first
    assert "mail" in first
    assert "      revoked by: bo@example.com" in lines
    assert "granted to: ann@example.com, user0@example.com" in text
    assert "AI features used" in lines
    assert list(apps_lines(*views([]))) == []
    assert list(apps_lines(None, None)) == []


def test_the_text_report_ends_with_the_sections_made_printable():
    apps, features = views(
        [_log(1, "ann", {"app_access": "granted", "app_name": "Evil\x1b[2J\nApp"})]
    )
    out = io.StringIO()
    write_analytics(make_analytics(), out, format="table", apps=apps, features=features)
    text = out.getvalue()
    assert "\x1b" not in text
    assert "Apps granted access" in text
    assert "AI features used" not in text  # none: no section


def test_the_json_adds_two_keys_in_the_style_asked():
    apps, features = views(LOGS)
    out = io.StringIO()
    write_analytics(make_analytics(), out, format="json", apps=apps, features=features)
    data = json.loads(out.getvalue())
    [notes, plain] = data["apps_granted"]
    assert notes["name"] == HOSTILE
    assert notes["is_ai"] is True
    assert notes["reaches"] == ["<b>files</b>", "mail"]
    assert len(notes["granted_to"]) == 6
    assert notes["first_granted"] == "2025-06-02T10:00:00Z"
    assert plain["revoked_by"] == ["bo@example.com"]
    assert plain["app_id"] is None
    assert data["ai_features"] == [
        {
            "platform": "my_ai",
            "app": "mail",
            "feature": "<i>summarize</i>",
            "uses": 1,
            "people": 1,
        }
    ]
    out = io.StringIO()
    write_platforms_usage(
        side_by_side([make_analytics("my_ai"), make_analytics("b")], people=3),
        out,
        format="json",
        style="camel",
        apps=apps,
        features=features,
    )
    mine, other = json.loads(out.getvalue())["platforms"]
    assert mine["appsGranted"][0]["grantedTo"][0] == "ann@example.com"
    assert mine["aiFeatures"][0]["feature"] == "<i>summarize</i>"
    assert (other["appsGranted"], other["aiFeatures"]) == ([], [])


def test_people_text_shortens_long_lists():
    assert people_text(["a", "b"]) == "a, b"
    assert people_text(["a", "b", "c", "d", "e"], 2) == "a, b and 3 more"
