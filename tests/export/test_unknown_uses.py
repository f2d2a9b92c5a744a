"""A model whose usage reports give tokens and cost but no request count
(some platforms' do not count requests) is shown with its uses unknown, not
as used zero times, in the text report, beside other platforms and in HTML."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from connector_core.analytics import side_by_side, uses_known
from connector_core.export.formats import write_analytics
from connector_core.export.overview import overview_lines, write_platforms_usage
from connector_core.export.report import render_html_report
from connector_core.models import AIDateRange, ModelUsageMetric, UsageAnalytics


UTC = dt.UTC
PERIOD = AIDateRange(
    start=dt.datetime(2025, 1, 1, tzinfo=UTC), end=dt.datetime(2025, 1, 31, tzinfo=UTC)
)
TOKENS_ONLY = ModelUsageMetric(
    model="big-model", usage_count=0, total_tokens=1_500_000, cost_estimate=12.5
)
COUNTED = ModelUsageMetric(model="small-model", usage_count=40, total_tokens=9000)


def _analytics(*models: ModelUsageMetric) -> UsageAnalytics:
    return UsageAnalytics(
        platform="example",
        period=PERIOD,
        total_users=3,
        active_users=3,
        total_events=40,
        model_usage=models,
    )


def test_uses_are_unknown_only_when_a_report_gave_figures_but_no_count():
    assert not uses_known(TOKENS_ONLY)
    assert uses_known(COUNTED)
    # Zero uses and nothing else is a plain zero.
    assert uses_known(ModelUsageMetric(model="m", usage_count=0))


def test_the_text_report_shows_unknown_uses_as_a_dash():
    out = io.StringIO()
    write_analytics(_analytics(TOKENS_ONLY, COUNTED), out, format="table")
    rows = {
        line.split()[0]: line.split() for line in out.getvalue().splitlines() if line
    }
    assert rows["big-model"][1:] == ["-", "1.5M", "$12.50"]
    assert rows["small-model"][1:] == ["40", "9.0k", "-"]


def test_side_by_side_shows_unknown_uses_as_a_dash():
    lines = list(overview_lines(side_by_side([_analytics(TOKENS_ONLY)], 3)))
    (row,) = [line for line in lines if "big-model" in line]
    assert row.split()[-3:] == ["-", "1.5M", "$12.50"]


def test_html_draws_tokens_when_no_model_has_a_count():
    page = render_html_report(_analytics(TOKENS_ONLY))
    assert "Tokens per model" in page
    assert "Uses per model" not in page
    assert "<td>-</td>" in page or ">-<" in page
    both = render_html_report(_analytics(TOKENS_ONLY, COUNTED))
    assert "Uses per model" in both


def test_side_by_side_refuses_a_format_it_cannot_write():
    with pytest.raises(ValueError, match="unknown analytics format 'csv'"):
        write_platforms_usage(
            side_by_side([_analytics(COUNTED)], 3), io.StringIO(), format="csv"
        )
