"""Log and analytics writers, and the HTML report.

Each log format must read back into what was written (or, for the table, be
what a person expects), every writer must stream, and the report must be a
well-formed page that needs nothing from the network and lets no data turn
into markup.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import re
import tracemalloc
from html.parser import HTMLParser
from typing import Any

import pytest

from connector_core.export import (
    CSV_COLUMNS,
    LOG_FORMATS,
    render_html_report,
    write_analytics,
    write_logs,
)
from connector_core.export.formats import daily_series, highest_risk, sparkline
from connector_core.models import (
    AIActivityType,
    AIAuditLog,
    AIDateRange,
    AIRiskIndicator,
    AIRiskType,
    Coordinates,
    DailyActivityMetric,
    GeoLocation,
    ModelUsageMetric,
    RiskSeverity,
    TopUserMetric,
    UsageAnalytics,
)
from connector_core.serialization import structure


T0 = dt.datetime(2025, 1, 1, 9, 30, tzinfo=dt.UTC)
ACTIONS = (
    ("user.login", AIActivityType.LOGIN),
    ("conversation.message", AIActivityType.CONVERSATION),
    ("file.uploaded", AIActivityType.FILE_UPLOAD),
    ("api_key.created", AIActivityType.API_KEY_CREATED),
)


def make_log(index: int, **changes: Any) -> AIAuditLog:
    action, activity = ACTIONS[index % len(ACTIONS)]
    fields: dict[str, Any] = {
        "id": f"evt-{index}",
        "platform": "chatgpt",
        "timestamp": T0 + dt.timedelta(minutes=index),
        "user_id": f"user-{index % 7}",
        "user_email": f"user{index % 7}@example.com" if index % 5 else None,
        "organization_id": "org-1",
        "activity_type": activity,
        "action": action,
        "native_type": action.upper(),
        "metadata": {"actor_type": "user", "n": index, "tags": ["a", "b"]},
        "ip_address": "203.0.113.7" if index % 2 else None,
        "user_agent": "Mozilla/5.0" if index % 3 else None,
        "raw": {"id": f"evt-{index}", "nested": {"k": [1, 2.5, None, True]}},
    }
    if index % 4 == 2:
        fields["risk_indicators"] = (
            AIRiskIndicator(
                type=AIRiskType.SENSITIVE_DATA,
                severity=RiskSeverity.MEDIUM,
                description="File uploaded",
                confidence=80,
                evidence=("report.pdf",),
            ),
            AIRiskIndicator(
                type=AIRiskType.SECURITY_EVENT,
                severity=RiskSeverity.LOW,
                description="Odd hour",
                confidence=30,
            ),
        )
    if index % 3 == 0:
        fields["location"] = GeoLocation(
            country="DE",
            city="Berlin",
            coordinates=Coordinates(latitude=52.52, longitude=13.405),
        )
    fields.update(changes)
    return AIAuditLog(**fields)


LOGS = [make_log(i) for i in range(12)]


def written(logs, **options) -> tuple[int, str]:
    out = io.StringIO()
    count = write_logs(logs, out, **options)
    return count, out.getvalue()


# --------------------------------------------------------------------------
# Log formats
# --------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["snake", "camel"])
def test_jsonl_reads_back_into_the_same_logs(style):
    count, text = written(LOGS, format="jsonl", style=style)
    lines = text.splitlines()
    assert count == len(lines) == len(LOGS)
    parsed = [structure(json.loads(line), AIAuditLog, style=style) for line in lines]
    assert parsed == LOGS
    if style == "camel":
        assert '"userEmail"' in text
        assert '"user_email"' not in text


@pytest.mark.parametrize("logs", [[], LOGS[:1], LOGS])
def test_json_is_one_valid_array(logs):
    count, text = written(logs, format="json")
    data = json.loads(text)
    assert isinstance(data, list)
    assert count == len(data) == len(logs)
    assert [structure(item, AIAuditLog) for item in data] == logs


def test_csv_has_the_header_and_flat_rows():
    count, text = written(LOGS, format="csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert count == len(rows) == len(LOGS)
    assert tuple(rows[0]) == CSV_COLUMNS
    for row, log in zip(rows, LOGS, strict=True):
        assert row["id"] == log.id
        assert row["timestamp"] == log.timestamp.isoformat().replace("+00:00", "Z")
        assert row["user_email"] == (log.user_email or "")
        assert row["action"] == log.action
        assert row["activity_type"] == log.activity_type.value
        assert row["ip_address"] == (log.ip_address or "")
        assert json.loads(row["metadata"]) == log.metadata
    risky = rows[2]
    assert risky["risk"] == "medium"
    assert rows[1]["risk"] == ""


def test_csv_defuses_formulas_but_keeps_the_text():
    log = make_log(
        1,
        user_agent='=HYPERLINK("x","click")',
        action="-cmd",
        user_id="@SUM(A1)",
    )
    _, text = written([log], format="csv")
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["user_agent"] == '\'=HYPERLINK("x","click")'
    assert row["action"] == "'-cmd"
    assert row["user_id"] == "'@SUM(A1)"


def test_csv_survives_commas_quotes_and_newlines():
    log = make_log(1, user_agent='a, "b"\nc')
    _, text = written([log], format="csv")
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["user_agent"] == 'a, "b"\nc'


def test_table_has_a_header_and_a_line_per_log():
    count, text = written(LOGS, format="table")
    lines = text.splitlines()
    assert count == len(LOGS)
    assert len(lines) == len(LOGS) + 1
    header = lines[0]
    assert header.split() == ["TIME", "PLATFORM", "USER", "ACTION", "IP"]
    # Aligned: each column starts where its heading does.
    for column in ("PLATFORM", "USER", "ACTION", "IP"):
        start = header.index(column)
        for line in lines[1:]:
            assert line[start - 2 : start] == "  "
            assert line[start] != " "
    first = lines[1]
    assert first.startswith("2025-01-01 09:30:00Z")
    assert "user.login" in first
    assert first.rstrip().endswith("-")  # no IP known
    assert "user1@example.com" in lines[2]
    assert "203.0.113.7" in lines[2]


def test_table_truncates_and_neutralizes_cells():
    long_email = "a" * 60 + "@example.com"
    log = make_log(1, user_email=long_email, action="evil\x1b[2J\nnext")
    _, text = written([log], format="table")
    lines = text.splitlines()
    assert len(lines) == 2
    assert "\x1b" not in text
    assert long_email not in text
    assert "…" in lines[1]
    assert "evil?[2J?next" in lines[1]


def test_ocsf_lines_are_events():
    count, text = written(LOGS, format="ocsf")
    events = [json.loads(line) for line in text.splitlines()]
    assert count == len(events) == len(LOGS)
    assert [event["metadata"]["uid"] for event in events] == [log.id for log in LOGS]
    assert {event["class_uid"] for event in events} == {3002, 3004, 6003, 6006}
    assert all(event["type_uid"] // 100 == event["class_uid"] for event in events)


@pytest.mark.parametrize("fmt", LOG_FORMATS)
def test_no_logs_is_fine(fmt):
    count, text = written(iter(()), format=fmt)
    assert count == 0
    if fmt in {"jsonl", "ocsf"}:
        assert text == ""
    elif fmt == "json":
        assert json.loads(text) == []
    else:
        assert len(text.splitlines()) == 1  # just the header


def test_unknown_format_is_refused_before_reading():
    pulled = []

    def logs():
        pulled.append(1)
        yield LOGS[0]

    with pytest.raises(ValueError, match="table, json, jsonl, csv, ocsf") as info:
        write_logs(logs(), io.StringIO(), format="xml")
    assert "'xml'" in str(info.value)
    with pytest.raises(ValueError, match="snake, camel"):
        write_logs(logs(), io.StringIO(), format="json", style="kebab")
    assert pulled == []


class CountingSink(io.TextIOBase):
    """A text stream that keeps only how much was written."""

    def __init__(self) -> None:
        self.chars = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.chars += len(text)
        return len(text)


@pytest.mark.parametrize("fmt", LOG_FORMATS)
def test_writers_stream(fmt):
    """10,000 logs: each is written before the next is even created."""
    sink = CountingSink()
    written_at_pull: list[int] = []

    def logs():
        for index in range(10_000):
            written_at_pull.append(sink.chars)
            yield make_log(index)

    assert write_logs(logs(), sink, format=fmt) == 10_000
    assert all(b > a for a, b in itertools.pairwise(written_at_pull))


def test_memory_stays_flat():
    """Writing 10,000 logs needs about what one log needs, not 10,000.

    The logs alone, held in a list, take over 10 MB.
    """

    def logs(count):
        for index in range(count):
            yield make_log(index)

    for fmt in ("json", "ocsf"):
        write_logs(logs(10), CountingSink(), format=fmt)  # warm the serializer
        tracemalloc.start()
        try:
            write_logs(logs(10_000), CountingSink(), format=fmt)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 1024 * 1024, (fmt, peak)


def test_highest_risk():
    assert highest_risk(LOGS[0]) is None
    assert highest_risk(LOGS[2]) is RiskSeverity.MEDIUM


# --------------------------------------------------------------------------
# Analytics
# --------------------------------------------------------------------------

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def make_analytics(platform: str = "chatgpt", **changes: Any) -> UsageAnalytics:
    days = [
        DailyActivityMetric(
            date=(START + dt.timedelta(days=n)).date(),
            active_users=3 + n % 4,
            total_events=40 + 17 * n,
            peak_hour=9 + n % 8,
        )
        for n in range(10)
        if n not in {4, 5}  # a weekend without activity
    ]
    total = sum(day.total_events for day in days)
    fields: dict[str, Any] = {
        "platform": platform,
        "period": AIDateRange(
            start=START, end=START + dt.timedelta(days=10) - dt.timedelta(seconds=1)
        ),
        "total_users": 120,
        "active_users": 37,
        "total_events": total,
        "top_users": (
            TopUserMetric(
                user_id="u1",
                email="ada@example.com",
                event_count=412,
                last_activity=START + dt.timedelta(days=9, hours=3),
                risk_score=82,
            ),
            TopUserMetric(
                user_id="u2",
                email="<script>@x.com",
                event_count=301,
                risk_score=45,
            ),
            TopUserMetric(user_id="svc-1", email="", event_count=77),
        ),
        "events_by_type": {
            "conversation.message": total - 60,
            "file.uploaded": 41,
            'user.login"onload="x': 19,
        },
        "daily_breakdown": tuple(days),
        "model_usage": (
            ModelUsageMetric(
                model="gpt-4o",
                usage_count=900,
                total_tokens=1_234_567,
                cost_estimate=12.5,
            ),
            ModelUsageMetric(model="o3", usage_count=120),
        ),
    }
    fields.update(changes)
    return UsageAnalytics(**fields)


def test_daily_series_fills_quiet_days():
    series = daily_series(make_analytics().daily_breakdown)
    assert len(series) == 10
    assert [day.total_events for day in series[4:6]] == [0, 0]
    assert series[3].total_events == 40 + 17 * 3
    assert daily_series(()) == []


def test_sparkline_scales():
    assert sparkline([0, 5, 10]) == "▁▅█"
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([]) == ""


NAMES = {"chatgpt": "ChatGPT", "claude": "Claude"}
"""The display names a CLI takes from the registry's connector classes."""


def test_analytics_text_report():
    analytics = make_analytics()
    out = io.StringIO()
    write_analytics(analytics, out, format="table", display_names=NAMES)
    text = out.getvalue()
    assert "AI usage: ChatGPT" in text
    assert f"{analytics.total_events:,}" in text
    assert "37 of 120 (30.8%)" in text
    for heading in ("Top users", "Events by type", "Daily activity", "Model usage"):
        assert heading in text
    assert "ada@example.com" in text
    assert "svc-1" in text  # no email: the id stands in
    assert "2025-01-05          0" in text  # the quiet day is shown
    assert "$12.50" in text
    assert "1.2M" in text
    assert re.search(r"[▁▂▃▄▅▆▇█]{10}", text)


def test_platform_without_a_display_name_is_title_cased():
    out = io.StringIO()
    write_analytics(make_analytics("my_ai"), out, format="table", display_names={})
    assert out.getvalue().startswith("AI usage: My Ai\n")
    out = io.StringIO()
    write_analytics(make_analytics(), out, format="table")
    assert out.getvalue().startswith("AI usage: Chatgpt\n")


def test_analytics_text_report_neutralizes_control_characters():
    analytics = make_analytics(events_by_type={"x\x1b[31m": 1}, total_events=1)
    out = io.StringIO()
    write_analytics(analytics, out, format="table")
    assert "\x1b" not in out.getvalue()


@pytest.mark.parametrize("style", ["snake", "camel"])
def test_analytics_json_reads_back(style):
    analytics = make_analytics()
    out = io.StringIO()
    write_analytics(analytics, out, format="json", style=style)
    assert structure(json.loads(out.getvalue()), UsageAnalytics, style=style) == (
        analytics
    )


def test_analytics_unknown_format():
    with pytest.raises(ValueError, match="table, json"):
        write_analytics(make_analytics(), io.StringIO(), format="csv")


# --------------------------------------------------------------------------
# HTML report
# --------------------------------------------------------------------------

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr"}


class StructureChecker(HTMLParser):
    """Collects tags and checks that every element is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.doctype = ""

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(attrs)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> StructureChecker:
    checker = StructureChecker()
    checker.feed(page)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    assert checker.doctype.lower() == "doctype html"
    assert checker.tags.count("html") == 1
    assert checker.tags.count("body") == 1
    return checker


GENERATED = dt.datetime(2025, 2, 1, 8, 0, tzinfo=dt.UTC)


def test_report_is_well_formed_with_a_chart_each():
    analytics = make_analytics()
    page = render_html_report(analytics, generated_at=GENERATED)
    checker = parse(page)
    # daily activity, top users, events by type, model usage
    assert checker.tags.count("svg") == 4
    assert ("name", "generator") in checker.attributes
    assert "<title>AI usage report</title>" in page
    text = " ".join(checker.text)
    for number in (f"{analytics.total_events:,}", "37", "120", "412", "301", "900"):
        assert number in text
    assert "1,234,567" in text
    assert "$12.50" in text
    assert "Generated 2025-02-01 08:00 UTC" in text
    assert "2025-01-05" in text  # the quiet day, filled in


def test_report_escapes_every_string():
    page = render_html_report(
        make_analytics(), title="<b>Q1</b> & more", generated_at=GENERATED
    )
    parse(page)
    assert "<script" not in page
    assert "&lt;script&gt;@x.com" in page
    assert "<b>Q1</b>" not in page
    assert "&lt;b&gt;Q1&lt;/b&gt; &amp; more" in page
    assert 'onload="x' not in page
    assert "user.login&quot;onload=&quot;x" in page


def test_report_needs_no_network():
    page = render_html_report(
        [make_analytics(), make_analytics("claude")], generated_at=GENERATED
    )
    checker = parse(page)
    assert "http://" not in page
    assert "https://" not in page
    assert "url(" not in page
    assert "@import" not in page
    names = {name for name, _ in checker.attributes}
    assert not names & {"src", "href", "srcset", "action", "xlink:href"}
    assert not {"script", "link", "img", "iframe", "object"} & set(checker.tags)
    csp = dict(checker.attributes).get("content", "")
    assert any(
        value and value.startswith("default-src 'none'")
        for _, value in checker.attributes
    ), csp


def test_report_of_several_platforms():
    page = render_html_report(
        [make_analytics(), make_analytics("claude", model_usage=())],
        title="Q1",
        generated_at=GENERATED,
        display_names=NAMES,
    )
    checker = parse(page)
    # platforms overview + 4 charts for ChatGPT + 3 for Claude (no models)
    assert checker.tags.count("svg") == 1 + 4 + 3
    assert checker.tags.count("h2") == 2
    text = " ".join(checker.text)
    assert "ChatGPT" in text
    assert "Claude" in text
    assert "240" in text  # total users, summed


def test_report_with_nothing_to_show():
    empty = UsageAnalytics(
        platform="chatgpt",
        period=AIDateRange(start=START, end=START + dt.timedelta(days=1)),
        total_users=0,
        active_users=0,
        total_events=0,
    )
    checker = parse(render_html_report(empty, generated_at=GENERATED))
    assert "svg" not in checker.tags
    text = " ".join(checker.text)
    assert "No daily activity in this period." in text
    assert "No user activity in this period." in text
    parse(render_html_report([], generated_at=GENERATED))


def test_report_wants_an_aware_time():
    with pytest.raises(ValueError, match="naive"):
        render_html_report(make_analytics(), generated_at=dt.datetime(2025, 1, 1))  # noqa: DTZ001


def test_long_periods_are_labelled_by_month():
    days = tuple(
        DailyActivityMetric(
            date=(START + dt.timedelta(days=n)).date(),
            active_users=1,
            total_events=1 + n % 9,
        )
        for n in range(100)
    )
    analytics = make_analytics(
        daily_breakdown=days, total_events=sum(d.total_events for d in days)
    )
    checker = parse(render_html_report(analytics, generated_at=GENERATED))
    text = checker.text
    assert "Jan 2025" in text
    assert "Feb" in text
    assert "Apr" in text
