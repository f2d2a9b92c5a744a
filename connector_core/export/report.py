"""A self-contained HTML report of usage analytics.

The report goes to people who may read it offline, attach it to an audit
ticket or open it years later, so it is one file with everything inside:
styles inline, charts drawn as inline SVG here (no script, no font, no image
fetched from anywhere). A Content-Security-Policy that forbids every network
request makes that a property of the page rather than a promise of this
module.

Every string in it that came from data (emails, actions, model names,
platform names, the title) is HTML-escaped: a user's display address is
chosen by the user, and a report for a security team must not be the place
where someone's ``<script>`` runs.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import math
from typing import TYPE_CHECKING, Final

import attrs

from connector_core.analytics import (
    PlatformsUsage,
    platform_cost,
    platform_tokens,
    uses_known,
)
from connector_core.export._html import _card, _e, _el, _empty, _int, _n, _table
from connector_core.export._report_style import STYLE
from connector_core.export.apps import app_cards
from connector_core.export.formats import daily_series, split_types
from connector_core.export.ocsf import aiaudit_version, platform_display_name
from connector_core.export.security import security_section
from connector_core.models import (
    AIDateRange,
    DailyActivityMetric,
    ModelUsageMetric,
    TopUserMetric,
    UsageAnalytics,
    ensure_utc,
)


if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from connector_core.analytics import AppGrants, FeaturesUsed
    from connector_core.risk import RiskAssessment

    _Names = Mapping[str, str] | None


__all__ = ["render_html_report"]

_MONTHS: Final = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip
_DAY: Final = dt.timedelta(days=1)
_TOP_TYPES: Final = 12
_HALF_PERCENT: Final = 0.005
_EN_DASH: Final = "\u2013"
_HIGH_RISK: Final = 70.0
_ELEVATED_RISK: Final = 40.0
_MAX_X_LABELS: Final = 8
_DOTS_UP_TO: Final = 62
_MIN_SLOT_WITH_GAP: Final = 4.0
_MAX_MONTH_LABELS: Final = 12
LOCAL_TIMES: Final = (
    "for(const t of document.querySelectorAll('time.local')){"
    "const d=new Date(t.getAttribute('datetime'));"
    "if(!isNaN(d)){const p=n=>String(n).padStart(2,'0');"
    "t.textContent=d.getFullYear()+'-'+p(d.getMonth()+1)+'-'+p(d.getDate())"
    "+' '+p(d.getHours())+':'+p(d.getMinutes());t.title=t.getAttribute('datetime');}}"
    "const z=document.getElementById('viewer-zone');"
    "if(z){z.textContent=Intl.DateTimeFormat().resolvedOptions().timeZone||'local';}"
)
"""The page's one script: times marked ``local`` are shown in the viewer's
time zone (the report is read far from where it was made)."""

_CSP: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-"
    + base64.b64encode(hashlib.sha256(LOCAL_TIMES.encode()).digest()).decode()
    + "'"
)
"""Nothing may be fetched; only the page's own style applies, and only its
own script runs (allowed by its hash, not by 'unsafe-inline')."""


def _short(value: float) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}".removesuffix(".0") + suffix
    return _n(value)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _date(day: dt.date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _date_range(start: dt.date, end: dt.date) -> str:
    if start.year == end.year:
        return f"{start.day} {_MONTHS[start.month - 1]} {_EN_DASH} {_date(end)}"
    return f"{_date(start)} {_EN_DASH} {_date(end)}"


def _span(period: AIDateRange) -> str:
    return _date_range(period.start.date(), period.end.date())


def _percent(part: float, whole: float) -> str:
    if not whole:
        return "-"
    share = part / whole
    # "0%" next to a visible bar reads as a mistake.
    return "<1%" if 0 < share < _HALF_PERCENT else f"{share:.0%}"


def _hour(hour: int | None) -> str:
    return f"{hour:02d}:00" if hour is not None else "-"


def _nice_step(raw: float) -> float:
    # 1, 2 or 5 times a power of ten is what people read at a glance; counts
    # never get fractional steps.
    if raw <= 1:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    return float(next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw))


def _ticks(maximum: float, count: int = 4) -> list[float]:
    """Round axis values from zero to just above *maximum*."""
    step = _nice_step(maximum / count)
    return [step * i for i in range(max(1, math.ceil(maximum / step)) + 1)]


class _Ids:
    """Unique element ids, since several charts share one document."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def next(self, prefix: str) -> str:
        return f"{prefix}-{next(self._counter)}"


def _svg(width: int, height: int, caption: str, ids: _Ids, *parts: str) -> str:
    # No xmlns: inline SVG in HTML needs none, and the page then holds no URL
    # at all. The <title> is what screen readers announce for the chart.
    title_id = ids.next("chart")
    return _el(
        "svg",
        _el("title", _e(caption), id=title_id),
        *parts,
        viewBox=f"0 0 {width} {height}",
        role="img",
        aria_labelledby=title_id,
    )


def _scroll(chart: str) -> str:
    # A wide chart keeps a legible minimum size on a phone and scrolls
    # sideways instead of shrinking its text to nothing.
    return _el("div", chart, class_="scroll")


# --------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------


@attrs.frozen
class _Row:
    label: str
    value: float
    text: str
    tooltip: str
    css: str = "bar"


def _hbar_chart(
    rows: Sequence[_Row], *, caption: str, ids: _Ids, wide: bool = False
) -> str:
    """Horizontal bars with the label left and the value at the bar's end.

    *wide* charts fill a full-width card; their coordinate system is wider
    too, so text keeps the same size on screen as in half-width cards.
    """
    width, label_w, chars = (960, 240, 34) if wide else (480, 190, 27)
    value_w, row_h, bar_h = 84, 28, 16
    track = width - label_w - value_w
    top = max((row.value for row in rows), default=0) or 1
    parts = []
    for index, row in enumerate(rows):
        y = index * row_h + 2
        bar = max(track * row.value / top, 2.0) if row.value > 0 else 0.0
        text_y = float(y + row_h / 2 + 4)
        parts.append(
            _el(
                "g",
                _el("title", _e(row.tooltip)),
                _el(
                    "text",
                    _e(_truncate(row.label, chars)),
                    class_="label",
                    x=label_w - 10,
                    y=text_y,
                    text_anchor="end",
                ),
                _el(
                    "rect",
                    class_=row.css,
                    x=label_w,
                    y=float(y + (row_h - bar_h) / 2),
                    width=bar,
                    height=bar_h,
                    rx=3,
                ),
                _el("text", _e(row.text), x=label_w + bar + 6, y=text_y),
                class_="row",
            )
        )
    chart = _svg(width, len(rows) * row_h + 4, caption, ids, *parts)
    return _scroll(chart) if wide else chart


def _x_labels(days: Sequence[DailyActivityMetric]) -> Iterator[tuple[int, str]]:
    """Where to label the time axis, and with what.

    Up to two months of days get evenly spaced dates; longer ranges get the
    first of each month, as a calendar would. The year is shown where it
    changes.
    """
    if len(days) <= _DOTS_UP_TO:
        step = max(1, math.ceil(len(days) / _MAX_X_LABELS))
        marks = [(index, True) for index in range(0, len(days), step)]
    else:
        starts = [i for i, day in enumerate(days) if i == 0 or day.date.day == 1]
        step = max(1, math.ceil(len(starts) / _MAX_MONTH_LABELS))
        marks = [(i, i == 0 and days[0].date.day != 1) for i in starts[::step]]
    previous_year = None
    for index, with_day in marks:
        day = days[index].date
        label = _MONTHS[day.month - 1]
        if with_day:
            label = f"{day.day} {label}"
        if day.year != previous_year:
            label += f" {day.year}"
            previous_year = day.year
        yield index, label


def _daily_chart(days: Sequence[DailyActivityMetric], *, ids: _Ids) -> str:
    """Events per day as bars (left axis), active users as a line (right axis).

    Users get their own axis because a day has many more events than people;
    on the events axis the user line would lie flat on the floor. Both axes
    have the same number of steps, so one set of grid lines serves both.
    """
    width, height = 960, 290
    left, right, top, bottom = 56, 48, 16, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = _ticks(max(day.total_events for day in days))
    intervals = len(ticks) - 1
    user_step = _nice_step(max(day.active_users for day in days) / intervals)
    scale = plot_h / ticks[-1]
    user_scale = plot_h / (user_step * intervals)
    slot = plot_w / len(days)
    gap = slot >= _MIN_SLOT_WITH_GAP
    bar_w = slot * 0.72 if gap else slot
    base = top + plot_h
    parts = []
    for index, tick in enumerate(ticks):
        y = base - tick * scale
        parts.append(
            _el("line", class_="gridline", x1=left, x2=width - right, y1=y, y2=y)
        )
        parts.append(_el("text", _short(tick), x=left - 8, y=y + 4, text_anchor="end"))
        parts.append(
            _el(
                "text",
                _short(index * user_step),
                class_="users",
                x=width - right + 8,
                y=y + 4,
            )
        )
    points = []
    for index, day in enumerate(days):
        x = left + index * slot
        bar_h = day.total_events * scale
        tooltip = (
            f"{_date(day.date)}: {_int(day.total_events)} events, "
            f"{_int(day.active_users)} active users"
        )
        if day.peak_hour is not None:
            tooltip += f", busiest hour {_hour(day.peak_hour)} UTC"
        parts.append(
            _el(
                "rect",
                _el("title", _e(tooltip)),
                class_="bar",
                x=x + (slot - bar_w) / 2,
                y=base - bar_h,
                width=bar_w,
                height=bar_h,
                rx=1.5 if gap else None,
            )
        )
        points.append((x + slot / 2, base - day.active_users * user_scale))
    polyline = " ".join(f"{_n(x)},{_n(y)}" for x, y in points)
    dense = len(days) > _DOTS_UP_TO
    parts.append(
        _el("polyline", class_="trend dense" if dense else "trend", points=polyline)
    )
    if not dense:
        parts.extend(_el("circle", class_="dot", cx=x, cy=y, r=2.5) for x, y in points)
    parts.append(
        _el("line", class_="axis", x1=left, x2=width - right, y1=base, y2=base)
    )
    for index, label in _x_labels(days):
        x = left + index * slot + slot / 2
        parts.append(_el("line", class_="axis", x1=x, x2=x, y1=base, y2=base + 4))
        parts.append(_el("text", _e(label), x=x, y=base + 20, text_anchor="middle"))
    caption = (
        "Events (bars, left axis) and active users (line, right axis) per day, "
        f"{_date_range(days[0].date, days[-1].date)}"
    )
    return _scroll(_svg(width, height, caption, ids, *parts))


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------


def _legend(*items: tuple[str, str]) -> str:
    """Legend entries as (swatch class or "", text)."""
    return _el(
        "p",
        *(
            _el(
                "span",
                _el("span", class_=f"swatch {swatch}".strip()) if swatch else "",
                _e(text),
            )
            for swatch, text in items
        ),
        class_="legend",
    )


def _risk_class(user: TopUserMetric) -> str:
    score = user.risk_score
    if score is None or score < _ELEVATED_RISK:
        return "bar"
    return "bar risk-high" if score >= _HIGH_RISK else "bar risk-elevated"


def _share(count: int, total: int) -> str:
    return f"{_int(count)} · {_percent(count, total)}"


def _top_users_card(analytics: UsageAnalytics, ids: _Ids) -> str:
    users = sorted(analytics.top_users, key=lambda u: (-u.event_count, u.user_id))
    if not users:
        return _card("Top users", _empty("No user activity in this period."))
    rows = []
    for user in users:
        who = user.email or user.user_id
        details = [f"{who}: {_int(user.event_count)} events"]
        if user.last_activity is not None:
            details.append(f"last active {user.last_activity:%Y-%m-%d %H:%M} UTC")
        if user.risk_score is not None:
            details.append(f"risk score {user.risk_score:.0f}")
        rows.append(
            _Row(
                label=who,
                value=user.event_count,
                text=_share(user.event_count, analytics.total_events),
                tooltip=", ".join(details),
                css=_risk_class(user),
            )
        )
    # The chart's labels are cut to fit; the table under it names every
    # user in full, which a reader copies to look the person up.
    figures = _table(
        [
            ("User", False),
            ("Events", True),
            ("Last active (UTC)", True),
            ("Risk score", True),
        ],
        (
            (
                _e(user.email or user.user_id),
                _int(user.event_count),
                f"{user.last_activity:%Y-%m-%d %H:%M}"
                if user.last_activity is not None
                else "-",
                f"{user.risk_score:.0f}" if user.risk_score is not None else "-",
            )
            for user in users
        ),
    )
    content = [_hbar_chart(rows, caption="Users with the most events", ids=ids)]
    if any(user.risk_score is not None for user in users):
        content.append(
            _legend(
                ("", "Risk score:"),
                ("bar-swatch", f"below {_ELEVATED_RISK:.0f}"),
                ("warn", f"{_ELEVATED_RISK:.0f} to {_HIGH_RISK:.0f}"),
                ("danger", f"{_HIGH_RISK:.0f} or more"),
            )
        )
    content.append(_el("details", _el("summary", "Top users' figures"), figures))
    return _card("Top users", *content)


def _events_by_type_card(analytics: UsageAnalytics, ids: _Ids) -> str:
    ranked = sorted(analytics.events_by_type.items(), key=lambda kv: (-kv[1], kv[0]))
    if not ranked:
        return _card("Events by type", _empty("No events in this period."))
    total = analytics.total_events or sum(count for _, count in ranked)
    shown, rest = split_types(ranked, _TOP_TYPES)
    rows = [
        _Row(
            label=action,
            value=count,
            text=_share(count, total),
            tooltip=f"{action}: {_int(count)} events",
        )
        for action, count in shown
    ]
    if rest:
        others = sum(count for _, count in rest)
        rows.append(
            _Row(
                label=f"{len(rest)} other types",
                value=others,
                text=_share(others, total),
                tooltip=", ".join(f"{a}: {_int(c)}" for a, c in rest),
                css="bar secondary",
            )
        )
    return _card(
        "Events by type", _hbar_chart(rows, caption="Events per action", ids=ids)
    )


def _daily_card(analytics: UsageAnalytics, ids: _Ids) -> str:
    days = daily_series(analytics.daily_breakdown)
    if not days:
        return _card(
            "Daily activity", _empty("No daily activity in this period."), wide=True
        )
    busiest = max(days, key=lambda day: day.total_events)
    legend = _legend(
        ("bar-swatch", "events (left axis)"),
        ("line", "active users (right axis)"),
        ("", f"busiest day {_date(busiest.date)}: {_int(busiest.total_events)} events"),
    )
    table = _table(
        [
            ("Date", False),
            ("Events", True),
            ("Active users", True),
            ("Busiest hour (UTC)", True),
        ],
        (
            (
                day.date.isoformat(),
                _int(day.total_events),
                _int(day.active_users),
                _hour(day.peak_hour),
            )
            for day in days
        ),
    )
    figures = _el("details", _el("summary", "Daily figures"), table)
    return _card(
        "Daily activity", _daily_chart(days, ids=ids), legend, figures, wide=True
    )


def _model_card(analytics: UsageAnalytics, ids: _Ids) -> str:
    models = list(analytics.model_usage)
    if not models:
        return ""
    # The bars measure uses; a platform whose usage reports count tokens
    # but not requests is drawn by its tokens instead.
    by_uses = any(model.usage_count for model in models)
    unit = "uses" if by_uses else "tokens"

    def measure(model: ModelUsageMetric) -> int:
        return model.usage_count if by_uses else model.total_tokens or 0

    models.sort(key=lambda m: (-measure(m), m.model))
    total = sum(measure(model) for model in models)
    rows = [
        _Row(
            label=model.model,
            value=measure(model),
            text=_share(measure(model), total),
            tooltip=f"{model.model}: {_int(measure(model))} {unit}",
        )
        for model in models
    ]
    table = _table(
        [("Model", False), ("Uses", True), ("Tokens", True), ("Estimated cost", True)],
        (
            (
                _e(model.model),
                _int(model.usage_count) if uses_known(model) else "-",
                _int(model.total_tokens) if model.total_tokens is not None else "-",
                f"${model.cost_estimate:,.2f}"
                if model.cost_estimate is not None
                else "-",
            )
            for model in models
        ),
    )
    chart = _hbar_chart(
        rows, caption=f"{unit.capitalize()} per model", ids=ids, wide=True
    )
    return _card("Model usage", chart, table, wide=True)


def _platform_section(
    analytics: UsageAnalytics, ids: _Ids, *, heading: bool, names: _Names
) -> str:
    title = ""
    if heading:
        title = _el(
            "h2",
            _e(platform_display_name(analytics.platform, names)),
            _el(
                "span",
                _e(
                    f" · {_int(analytics.total_events)} events · "
                    f"{_span(analytics.period)}"
                ),
                class_="sub",
            ),
        )
    cards = (
        _daily_card(analytics, ids),
        _top_users_card(analytics, ids),
        _events_by_type_card(analytics, ids),
        _model_card(analytics, ids),
    )
    return _el("section", title, _el("div", *cards, class_="grid"), class_="platform")


def _kpi(label: str, value: str, hint: str = "", *, small: bool = False) -> str:
    return _el(
        "div",
        _el("div", _e(label), class_="label"),
        _el("div", _e(value), class_="value small" if small else "value"),
        _el("div", _e(hint), class_="hint") if hint else "",
        class_="card kpi",
    )


def _kpis(reports: Sequence[UsageAnalytics], people: int | None) -> str:
    events = sum(a.total_events for a in reports)
    active = sum(a.active_users for a in reports)
    users = sum(a.total_users for a in reports)
    start = min(a.period.start for a in reports)
    end = max(a.period.end for a in reports)
    days = max(1, math.ceil((end - start) / _DAY))
    several = len(reports) > 1
    summed = " (summed per platform)" if several else ""
    people_kpi = (
        ""
        if people is None
        else _kpi("People", _int(people), "one per email, across platforms")
    )
    return _el(
        "section",
        _kpi("Events", _int(events), f"{len(reports)} platforms" if several else ""),
        people_kpi,
        _kpi(
            "Active users", _int(active), f"{_percent(active, users)} of users{summed}"
        ),
        _kpi("Total users", _int(users), "summed per platform" if several else ""),
        _kpi(
            "Period",
            _date_range(start.date(), end.date()),
            f"{days} day{'s' if days != 1 else ''}, UTC",
            small=True,
        ),
        class_="kpis",
    )


def _tokens_text(value: int | None) -> str:
    return "-" if value is None else _int(value)


def _cost_text(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}"


def _models_card(usage: PlatformsUsage, names: _Names) -> str:
    """Every platform's models in one table: what the organization's AI
    use costs, model by model, wherever it runs."""
    models = usage.models
    if not models:
        return ""
    table = _table(
        [
            ("Platform", False),
            ("Model", False),
            ("Uses", True),
            ("Tokens", True),
            ("Estimated cost", True),
        ],
        (
            (
                _e(platform_display_name(platform, names)),
                _e(model.model),
                _int(model.usage_count) if uses_known(model) else "-",
                _tokens_text(model.total_tokens),
                _cost_text(model.cost_estimate),
            )
            for platform, model in models
        ),
    )
    return _el("div", _card("Models across platforms", table, wide=True), class_="grid")


def _platforms_card(reports: Sequence[UsageAnalytics], ids: _Ids, names: _Names) -> str:
    ranked = sorted(reports, key=lambda a: (-a.total_events, a.platform))
    rows = []
    for a in ranked:
        name = platform_display_name(a.platform, names)
        rows.append(
            _Row(
                label=name,
                value=a.total_events,
                text=_int(a.total_events),
                tooltip=f"{name}: {_int(a.total_events)} events",
            )
        )
    table = _table(
        [
            ("Platform", False),
            ("Events", True),
            ("Active users", True),
            ("Total users", True),
            ("Tokens", True),
            ("Estimated cost", True),
            ("Period", False),
        ],
        (
            (
                _e(platform_display_name(a.platform, names)),
                _int(a.total_events),
                _int(a.active_users),
                _int(a.total_users),
                _tokens_text(platform_tokens(a)),
                _cost_text(platform_cost(a)),
                _e(_span(a.period)),
            )
            for a in ranked
        ),
    )
    chart = _hbar_chart(rows, caption="Events per platform", ids=ids, wide=True)
    return _el("div", _card("Platforms", chart, table, wide=True), class_="grid")


def render_html_report(
    analytics: UsageAnalytics | Sequence[UsageAnalytics] | PlatformsUsage,
    *,
    title: str = "AI usage report",
    generated_at: dt.datetime | None = None,
    display_names: Mapping[str, str] | None = None,
    apps: AppGrants | None = None,
    features: FeaturesUsed | None = None,
    security: RiskAssessment | None = None,
    zone: dt.tzinfo | None = None,
) -> str:
    """Return a complete, self-contained HTML page of *analytics*.

    One :class:`UsageAnalytics` gives a single-platform report; several give
    an overview of all platforms followed by one section per platform; a
    :class:`~connector_core.analytics.PlatformsUsage` adds the people across
    platforms and every platform's models in one table. The
    page has the totals, a daily activity chart, the top users, events by
    type and, when reported, model usage; exact daily figures sit in a
    collapsible table for people who need the numbers.

    *generated_at* (default: now) must be timezone-aware; it is shown in UTC.
    *display_names* (platform → the connector's ``display_name``) names the
    platforms; see :func:`~connector_core.export.ocsf.platform_display_name`.

    *apps* and *features*, when given, add the security cards right after
    the totals, before any usage card: the apps granted access (AI apps
    flagged, what they reach, who holds a grant now, who revoked) and the
    AI features used; each says so when its view is empty.

    *security*, when given, puts the security section first (the risk
    findings, each row linking to its events; the apps cards join it).
    Its times are in *zone* when one is given, otherwise in the viewer's
    own time zone: a small script, allowed by its hash alone, rewrites them.
    """
    people: int | None = None
    combined: PlatformsUsage | None = None
    if isinstance(analytics, PlatformsUsage):
        combined, people = analytics, analytics.people
        reports = list(analytics.platforms)
    elif isinstance(analytics, UsageAnalytics):
        reports = [analytics]
    else:
        reports = list(analytics)
    moment = ensure_utc(generated_at or dt.datetime.now(dt.UTC))
    version = aiaudit_version()
    generator = f"aiaudit {version}" if version else "aiaudit"
    ids = _Ids()

    if reports:
        several = len(reports) > 1
        subtitle = ", ".join(
            platform_display_name(a.platform, display_names) for a in reports
        )
        cards = app_cards(apps, features, display_names)
        if security is not None:
            body = security_section(
                security, display_names, zone=zone, extra=cards
            ) + _kpis(reports, people)
        else:
            body = _kpis(reports, people) + cards
        if several:
            body += _platforms_card(reports, ids, display_names)
        if combined is not None:
            body += _models_card(combined, display_names)
        body += "".join(
            _platform_section(a, ids, heading=several, names=display_names)
            for a in reports
        )
    else:
        subtitle = "No platforms"
        cards = app_cards(apps, features, display_names)
        body = _empty("No platform reported usage for this report.")
        if security is not None:
            body = (
                security_section(security, display_names, zone=zone, extra=cards) + body
            )
        else:
            body += cards

    header = _el(
        "header",
        _el("div", _el("h1", _e(title)), _el("p", _e(subtitle), class_="sub")),
        _el("p", _e(f"Generated {moment:%Y-%m-%d %H:%M} UTC"), class_="meta"),
        class_="page",
    )
    # Only a page with times to show in the viewer's zone has a script.
    script = f"<script>{LOCAL_TIMES}</script>\n" if 'class="local"' in body else ""
    footer = _el(
        "footer",
        _e(
            f"Generated by {generator} on {moment:%Y-%m-%d %H:%M:%S} UTC. Active "
            "users are distinct people with at least one event; days and hours "
            "are UTC."
        ),
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(_CSP)}">\n'
        f'<meta name="generator" content="{_e(generator)}">\n'
        '<meta name="color-scheme" content="light dark">\n'
        f"<title>{_e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<main>\n{header}\n{body}\n{footer}\n</main>\n"
        f"{script}</body>\n</html>\n"
    )
