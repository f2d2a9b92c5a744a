"""The security section: risk findings first, in every format.

How ``aiaudit usage``, ``aiaudit risks`` and the HTML report show a
:class:`~connector_core.risk.RiskAssessment`: text sections, JSON keys, and
the report's first section, whose every row links to the events behind it
(listed at the end of the section, so the page stays one file that works
offline).

Emails are never cut: a security lead copies them into the next tool. The
columns that hold them are as wide as the longest shown. Times are shown in
the time zone asked for (UTC unless told); the JSON always has them in UTC.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import TYPE_CHECKING, Any, Final

from connector_core.export._html import _e, _el, _empty, _int, _table
from connector_core.export.formats import _cell, _printable
from connector_core.export.ocsf import platform_display_name
from connector_core.risk import SECTIONS
from connector_core.serialization import unstructure


if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from connector_core.risk import (
        FailedSignIns,
        RiskAssessment,
        RiskEvent,
        RiskFinding,
        RiskRule,
        Uploads,
    )
    from connector_core.serialization import Style


__all__ = [
    "SECTION_ID",
    "findings_lines",
    "rules_data",
    "security_data",
    "security_lines",
    "security_section",
    "zone_name",
]

SECTION_ID: Final = "security"
"""The HTML report's security section's id (``#security``)."""

ROWS_SHOWN: Final = 10
"""Rows per table of the usage report's section; ``aiaudit risks`` lists
every finding."""

_WHO_MAX: Final = 64
"""The widest a person's column grows (an email longer than this is rare
enough to wrap the line rather than squeeze the others)."""


def _when(moment: dt.datetime, zone: dt.tzinfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def zone_name(zone: dt.tzinfo) -> str:
    """A time zone's name for column headings (``UTC``, ``Europe/Berlin``)."""
    return str(getattr(zone, "key", None) or zone.tzname(None) or "UTC")


def _who(email: str | None, user_id: str) -> str:
    return email or user_id


def _who_width(people: Iterable[str]) -> int:
    longest = max((len(_printable(p)) for p in people), default=0)
    return max(len("WHO"), min(longest, _WHO_MAX))


# --------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------


def rules_data(rules: Sequence[RiskRule]) -> list[dict[str, Any]]:
    """The rules in force, as ``aiaudit risks --json`` lists them."""
    return [
        {
            "id": rule.id,
            "title": rule.title,
            "section": rule.section,
            "kind": rule.kind.value,
            "actions": list(rule.actions),
            "skip_actions": list(rule.skip_actions),
            "score": rule.score,
            "severity": rule.severity.value,
            "type": rule.type.value,
        }
        for rule in rules
    ]


def security_data(
    assessment: RiskAssessment,
    style: Style,
    *,
    findings: Sequence[RiskFinding] | None = None,
    rows: int | None = None,
) -> dict[str, Any]:
    """The assessment as JSON-ready data in *style*: the rules in force,
    the *findings* (default: all, highest score first), the failed sign-ins
    and the uploads per person, and the count of findings per rule; with
    *rows*, the first *rows* of each list (the usage report's summary)."""
    chosen = list(assessment.findings if findings is None else findings)
    failed = list(assessment.failed_sign_ins)
    uploads = list(assessment.uploads)
    if rows is not None:
        chosen, failed, uploads = chosen[:rows], failed[:rows], uploads[:rows]
    camel = style == "camel"
    per_rule = Counter(f.rule for f in assessment.findings)
    return {
        "period": unstructure(assessment.period, style=style),
        ("findingsTotal" if camel else "findings_total"): len(assessment.findings),
        ("findingsByRule" if camel else "findings_by_rule"): dict(per_rule),
        "rules": rules_data(assessment.rules),
        "findings": unstructure(chosen, style=style),
        ("failedSignIns" if camel else "failed_sign_ins"): unstructure(
            failed, style=style
        ),
        "uploads": unstructure(uploads, style=style),
    }


# --------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------


def _findings_table(
    findings: Sequence[RiskFinding],
    names: Mapping[str, str] | None,
    zone: dt.tzinfo,
    *,
    indent: str = "  ",
) -> Iterator[str]:
    who = _who_width(f.who for f in findings)
    platforms = [platform_display_name(f.platform, names) for f in findings]
    width = max((len(p) for p in platforms), default=0)
    width = max(len("PLATFORM"), min(width, 28))
    heading = f"WHEN ({zone_name(zone)})"
    yield (
        f"{indent}{'SCORE':>5}  {heading:<16}  {'PLATFORM':<{width}}  {'WHO':<{who}}"
        f"  {'FINDING':<36}  DETAIL"
    )
    for finding, platform in zip(findings, platforms, strict=True):
        yield (
            f"{indent}{finding.score:>5.0f}  {_when(finding.last, zone):<16}"
            f"  {_cell(platform, width)}  {_printable(finding.who):<{who}}"
            f"  {_cell(finding.title, 36)}  {_printable(finding.detail)}"
        )


def _pick(found: Sequence[RiskFinding], rows: int) -> list[RiskFinding]:
    """A section's *rows* findings: every rule of it represented (its
    newest first, taken in turn), so a rare rule's finding (a key created
    at night) is not crowded out by a frequent one's; then the highest
    score first, the newest first within it."""
    by_rule: dict[str, list[RiskFinding]] = {}
    for finding in found:  # newest first already
        by_rule.setdefault(finding.rule, []).append(finding)
    queues = sorted(by_rule.values(), key=lambda q: (-q[0].score, q[0].rule))
    chosen: list[RiskFinding] = []
    depth = 0
    while len(chosen) < rows and any(depth < len(q) for q in queues):
        for queue in queues:
            if depth < len(queue) and len(chosen) < rows:
                chosen.append(queue[depth])
        depth += 1
    chosen.sort(key=lambda f: (-f.score, -f.last.timestamp()))
    return chosen


def findings_lines(
    findings: Sequence[RiskFinding],
    display_names: Mapping[str, str] | None,
    zone: dt.tzinfo = dt.UTC,
) -> Iterator[str]:
    """Findings as ``aiaudit risks`` prints them: the table, each row
    followed by the ids of its events (for ``aiaudit logs``)."""
    table = _findings_table(findings, display_names, zone)
    yield next(table)
    for finding, line in zip(findings, table, strict=True):
        yield line
        ids = [e.id for e in finding.events]
        shown = ", ".join(_printable(i) for i in ids[:5])
        more = f" and {len(ids) - 5:,} more" if len(ids) > 5 else ""  # noqa: PLR2004
        yield f"         events: {shown}{more}"


def _failed_lines(
    rows: Sequence[FailedSignIns], names: Mapping[str, str] | None, zone: dt.tzinfo
) -> Iterator[str]:
    who = _who_width(_who(r.user_email, r.user_id) for r in rows)
    yield (
        f"    {'WHO':<{who}}  {'PLATFORM':<20}  {'FAILED':>6}  {'BURSTS':>6}"
        f"  LAST ({zone_name(zone)})"
    )
    for row in rows:
        yield (
            f"    {_printable(_who(row.user_email, row.user_id)):<{who}}"
            f"  {_cell(platform_display_name(row.platform, names), 20)}"
            f"  {row.failures:>6,}  {row.bursts:>6,}  {_when(row.last, zone)}"
        )


def _upload_lines(
    rows: Sequence[Uploads], names: Mapping[str, str] | None
) -> Iterator[str]:
    who = _who_width(_who(r.user_email, r.user_id) for r in rows)
    yield (
        f"    {'WHO':<{who}}  {'PLATFORM':<20}  {'UPLOADS':>7}  {'SENSITIVE':>9}  FILES"
    )
    for row in rows:
        files = [*row.sensitive_files, *row.files]
        shown = ", ".join(_printable(f) for f in files[:6])
        more = len(files) - 6
        yield (
            f"    {_printable(_who(row.user_email, row.user_id)):<{who}}"
            f"  {_cell(platform_display_name(row.platform, names), 20)}"
            f"  {row.uploads:>7,}  {row.sensitive:>9,}  {shown}"
            + (f" and {more:,} more" if more > 0 else "")
        )


def security_lines(
    assessment: RiskAssessment,
    display_names: Mapping[str, str] | None = None,
    *,
    zone: dt.tzinfo = dt.UTC,
    rows: int = ROWS_SHOWN,
) -> Iterator[str]:
    """The security section of the text report, one line at a time (no
    newline): the highest-risk findings, the count per rule, the failed
    sign-ins and uploads per person, then each section's newest findings;
    *rows* per table. It ends with an empty line."""
    period = assessment.period
    findings = assessment.findings
    yield (
        f"Security: {len(findings):,} findings by {len(assessment.rules)} rules,"
        f" {_when(period.start, zone)} to {_when(period.end, zone)}"
        f" ({zone_name(zone)})"
    )
    yield "  (the rules: docs/risk.md; every finding: aiaudit risks)"
    if not findings and not assessment.failed_sign_ins and not assessment.uploads:
        yield "  No rule found anything in this period."
        yield ""
        return
    if findings:
        yield ""
        yield f"  Highest risk ({min(rows, len(findings))} of {len(findings):,})"
        yield from _findings_table(findings[:rows], display_names, zone)
        yield ""
        yield "  Findings by rule"
        titles = {rule.id: rule for rule in assessment.rules}
        per_rule = Counter(f.rule for f in findings)
        people: dict[str, set[str]] = {}
        for finding in findings:
            people.setdefault(finding.rule, set()).add(finding.who)
        yield f"    {'RULE':<52} {'FINDINGS':>8} {'PEOPLE':>7} {'SCORE':>5}"
        for rule_id, count in sorted(per_rule.items(), key=lambda i: (-i[1], i[0])):
            rule = titles.get(rule_id)
            title = f"{rule.title} ({rule_id})" if rule else rule_id
            score = f"{rule.score:>5.0f}" if rule else "    -"
            people_count = len(people[rule_id])
            yield f"    {_cell(title, 52)} {count:>8,} {people_count:>7,} {score}"
    if assessment.failed_sign_ins:
        failed = assessment.failed_sign_ins
        yield ""
        yield (
            "  Failed sign-ins per person, bursts first"
            f" ({min(rows, len(failed))} of {len(failed):,})"
        )
        yield from _failed_lines(failed[:rows], display_names, zone)
    if assessment.uploads:
        uploads = assessment.uploads
        yield ""
        yield (
            f"  Who uploaded which files, sensitive first"
            f" ({min(rows, len(uploads))} of {len(uploads):,} people)"
        )
        yield from _upload_lines(uploads[:rows], display_names)
    for section, found in assessment.by_section().items():
        if not found or section == "sign_ins":
            continue
        yield ""
        yield (
            f"  {SECTIONS[section]}, each kind, highest score first"
            f" ({min(rows, len(found))} of {len(found):,})"
        )
        yield from _findings_table(
            _pick(found, rows), display_names, zone, indent="    "
        )
    yield ""


# --------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------


class _Anchors:
    """The events the section's rows link to, each given an anchor in the
    order first linked (so a burst's events sit together)."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], tuple[str, RiskEvent]] = {}

    def link(self, events: Sequence[RiskEvent]) -> str:
        """A link to *events* (to the first; the others follow it)."""
        if not events:
            return ""
        anchors = [self._anchor(event) for event in events]
        label = "1 event" if len(events) == 1 else f"{len(events):,} events"
        return _el("a", _e(label), href=f"#{anchors[0]}", class_="events-link")

    def _anchor(self, event: RiskEvent) -> str:
        key = (event.platform, event.id)
        if key not in self.events:
            self.events[key] = (f"ev-{len(self.events) + 1}", event)
        return self.events[key][0]


def _time(moment: dt.datetime, zone: dt.tzinfo | None) -> str:
    """A ``<time>``: in *zone* when one was chosen; else in UTC, which the
    page's script rewrites in the viewer's own zone."""
    utc = moment.astimezone(dt.UTC)
    shown = _when(utc if zone is None else moment, zone or dt.UTC)
    return _el(
        "time",
        _e(shown),
        datetime=utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        class_="local" if zone is None else None,
    )


def _score(score: float) -> str:
    level = "high" if score >= 60 else "medium" if score >= 40 else "low"  # noqa: PLR2004
    return _el("span", f"{score:.0f}", class_=f"score {level}")


def _findings_card(
    heading: str,
    findings: Sequence[RiskFinding],
    anchors: _Anchors,
    names: Mapping[str, str] | None,
    zone: dt.tzinfo | None,
    *,
    total: int,
    empty: str,
    card_id: str,
) -> str:
    if not findings:
        return _card_with_id(heading, card_id, _empty(empty))
    headers = [
        ("Score", True),
        ("When", False),
        ("Platform", False),
        ("Who", False),
        ("Finding", False),
        ("Detail", False),
        ("Events", False),
    ]
    rows = [
        (
            _score(f.score),
            _time(f.last, zone),
            _e(platform_display_name(f.platform, names)),
            _el("span", _e(f.who), class_="email"),
            _e(f.title),
            _e(f.detail),
            anchors.link(f.events),
        )
        for f in findings
    ]
    note = (
        _el(
            "p",
            _e(f"{len(findings)} of {total:,}; aiaudit risks lists all."),
            class_="note",
        )
        if total > len(findings)
        else ""
    )
    return _card_with_id(heading, card_id, _table(headers, rows), note)


def _card_with_id(heading: str, card_id: str, *content: str) -> str:
    return _el(
        "section", _el("h3", _e(heading)), *content, class_="card wide", id=card_id
    )


def _failed_card(
    rows: Sequence[FailedSignIns],
    anchors: _Anchors,
    names: Mapping[str, str] | None,
    zone: dt.tzinfo | None,
    shown: int,
) -> str:
    if not rows:
        return _card_with_id(
            "Failed sign-ins per person",
            "failed-sign-ins",
            _empty("No failed sign-in in this period."),
        )
    headers = [
        ("Who", False),
        ("Platform", False),
        ("Failed", True),
        ("Bursts", True),
        ("Last", False),
        ("Events", False),
    ]
    body = [
        (
            _el("span", _e(_who(r.user_email, r.user_id)), class_="email"),
            _e(platform_display_name(r.platform, names)),
            _int(r.failures),
            _int(r.bursts),
            _time(r.last, zone),
            anchors.link(r.events[-20:]),
        )
        for r in rows[:shown]
    ]
    return _card_with_id(
        "Failed sign-ins per person", "failed-sign-ins", _table(headers, body)
    )


def _uploads_card(
    rows: Sequence[Uploads],
    anchors: _Anchors,
    names: Mapping[str, str] | None,
    zone: dt.tzinfo | None,
    shown: int,
) -> str:
    if not rows:
        return _card_with_id(
            "Who uploaded which files", "uploads", _empty("No upload in this period.")
        )
    headers = [
        ("Who", False),
        ("Platform", False),
        ("Uploads", True),
        ("Sensitive", True),
        ("Files", False),
        ("Last", False),
        ("Events", False),
    ]
    body = []
    for r in rows[:shown]:
        sensitive = [
            _el("strong", _e(name), class_="sensitive")
            for name in r.sensitive_files[:8]
        ]
        others = [_e(name) for name in r.files[: max(0, 8 - len(sensitive))]]
        more = len(r.sensitive_files) + len(r.files) - len(sensitive) - len(others)
        files = ", ".join([*sensitive, *others]) + (
            _e(f" and {more:,} more") if more > 0 else ""
        )
        flagged = [e for e in r.events if set(e.files) & set(r.sensitive_files)]
        body.append(
            (
                _el("span", _e(_who(r.user_email, r.user_id)), class_="email"),
                _e(platform_display_name(r.platform, names)),
                _int(r.uploads),
                _int(r.sensitive),
                files,
                _time(r.last, zone),
                anchors.link((flagged or list(r.events))[-20:]),
            )
        )
    return _card_with_id("Who uploaded which files", "uploads", _table(headers, body))


def _events_table(
    anchors: _Anchors, names: Mapping[str, str] | None, zone: dt.tzinfo | None
) -> str:
    rows = "".join(
        _el(
            "tr",
            _el("td", _score(event.risk_score), class_="num"),
            _el("td", _time(event.timestamp, zone)),
            _el("td", _e(platform_display_name(event.platform, names))),
            _el(
                "td",
                _el("span", _e(_who(event.user_email, event.user_id)), class_="email"),
            ),
            _el("td", _e(event.action)),
            _el("td", _e(event.country or "-")),
            _el("td", _e(event.ip_address or "-")),
            _el("td", _e(", ".join(event.files) or "-")),
            _el("td", _el("code", _e(event.id))),
            id=anchor,
        )
        for anchor, event in anchors.events.values()
    )
    head = "".join(
        _el("th", _e(name), class_="num" if name == "Score" else None)
        for name in (
            "Score",
            "When",
            "Platform",
            "Who",
            "Action",
            "Country",
            "IP",
            "Files",
            "Event id",
        )
    )
    table = _el("table", _el("thead", _el("tr", head)), _el("tbody", rows))
    return _el(
        "details",
        _el("summary", _e(f"The {len(anchors.events):,} events behind these rows")),
        _el("div", table, class_="scroll"),
        id="security-events",
        class_="card wide",
        open="open",
    )


def security_section(
    assessment: RiskAssessment,
    display_names: Mapping[str, str] | None = None,
    *,
    zone: dt.tzinfo | None = None,
    extra: str = "",
    rows: int = ROWS_SHOWN,
) -> str:
    """The report's security section (``section#security``): the
    highest-risk findings, failed sign-ins and uploads per person, then
    each kind of finding; *extra* (the apps cards) follows them, and the
    events every row links to close it. Times are in *zone*, or, when
    none is given, in the viewer's own zone (rewritten by the page)."""
    anchors = _Anchors()
    names = display_names
    grouped = assessment.by_section()
    cards = [
        _findings_card(
            "Highest-risk findings",
            assessment.findings[:rows],
            anchors,
            names,
            zone,
            total=len(assessment.findings),
            empty="No rule found anything in this period.",
            card_id="highest-risk",
        ),
        _failed_card(assessment.failed_sign_ins, anchors, names, zone, rows),
        _uploads_card(assessment.uploads, anchors, names, zone, rows),
    ]
    for section, found in grouped.items():
        if section == "sign_ins":
            continue
        cards.append(
            _findings_card(
                SECTIONS[section],
                _pick(found, rows),
                anchors,
                names,
                zone,
                total=len(found),
                empty="Nothing in this period.",
                card_id=f"risk-{section.replace('_', '-')}",
            )
        )
    where = (
        _e(f"Times are in {zone_name(zone)}.")
        if zone is not None
        else _e("Times are in your time zone (")
        + _el("span", "UTC", id="viewer-zone")
        + _e(").")
    )
    intro = _el(
        "p",
        _e(
            f"{len(assessment.findings):,} findings by {len(assessment.rules)} rules"
            " (docs/risk.md). Each row links to the events behind it. "
        )
        + where,
        class_="note",
    )
    return _el(
        "section",
        _el("h2", "Security"),
        intro,
        _el("div", *cards, class_="grid security"),
        extra,
        _events_table(anchors, names, zone) if anchors.events else "",
        id=SECTION_ID,
    )
