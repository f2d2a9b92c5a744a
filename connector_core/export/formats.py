"""Writing logs and analytics for people (tables) and for tools (JSON, CSV, OCSF).

Exports can be large (a year of an enterprise's conversations), so every log
writer streams: it takes any iterable, writes each log as it arrives and
keeps nothing but the current log. ``json`` writes its array bracket by
bracket for the same reason, so even the one format that is a single value
never holds a list. Stored events need not be rebuilt for the JSON formats:
``write_documents`` writes a store's documents, the same JSON, as they are.

Output that a person reads is defended against the data it shows: log fields
come from the platform and, ultimately, from whoever typed them, so control
characters are replaced in tables (an escape sequence in a user agent must
not repaint an analyst's terminal) and CSV cells that a spreadsheet would run
as a formula get a leading apostrophe (OWASP's advice against CSV injection).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, get_args

import orjson

from connector_core.analytics import uses_known
from connector_core.export.ocsf import platform_display_name, to_ocsf
from connector_core.models import (
    AIAuditLog,
    DailyActivityMetric,
    RiskSeverity,
    UsageAnalytics,
)
from connector_core.serialization import Style, dumps, restyle_log, unstructure


if TYPE_CHECKING:
    from typing import TextIO

    from connector_core.analytics import AppGrants, FeaturesUsed
    from connector_core.risk import RiskAssessment


__all__ = [
    "ANALYTICS_FORMATS",
    "CSV_COLUMNS",
    "DOCUMENT_FORMATS",
    "LOG_FORMATS",
    "daily_series",
    "highest_risk",
    "write_analytics",
    "write_documents",
    "write_logs",
]

LOG_FORMATS: Final = ("table", "json", "jsonl", "csv", "ocsf")
"""What ``write_logs`` (and ``aiaudit logs --format``) can produce."""

DOCUMENT_FORMATS: Final = ("json", "jsonl")
"""The formats ``write_documents`` writes from stored documents as they are."""

ANALYTICS_FORMATS: Final = ("table", "json")
"""What ``write_analytics`` can produce."""

CSV_COLUMNS: Final = (
    "id",
    "timestamp",
    "platform",
    "user_id",
    "user_email",
    "organization_id",
    "activity_type",
    "action",
    "native_type",
    "ip_address",
    "user_agent",
    "risk",
    "metadata",
)
"""The CSV header: one flat column per scalar field of a log.

``risk`` is the highest severity among the log's risk indicators (empty when
it has none) and ``metadata`` is the metadata as compact JSON, so a
spreadsheet gets one row per log and a script can still recover the details.
"""

_SEVERITY_ORDER: Final = tuple(RiskSeverity)
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
_ELLIPSIS: Final = "…"
_REPLACEMENT: Final = "?"

# Column widths of the table: time fits exactly; the rest are truncated.
_TABLE_COLUMNS: Final = (("TIME", 20), ("PLATFORM", 10), ("USER", 32), ("ACTION", 30))
_IP_WIDTH: Final = 39  # the longest IPv6 address

_SPARKS: Final = "▁▂▃▄▅▆▇█"
_EIGHTHS: Final = " ▏▎▍▌▋▊▉"
_BAR_WIDTH: Final = 24
_TOP_TYPES: Final = 15


# --------------------------------------------------------------------------
# Helpers shared with the HTML report
# --------------------------------------------------------------------------


def highest_risk(log: AIAuditLog) -> RiskSeverity | None:
    """The most severe risk indicator's severity, ``None`` without findings."""
    if not log.risk_indicators:
        return None
    return max(
        (risk.severity for risk in log.risk_indicators), key=_SEVERITY_ORDER.index
    )


def daily_series(days: Iterable[DailyActivityMetric]) -> list[DailyActivityMetric]:
    """The daily breakdown with the days it leaves out filled in as zeros.

    The breakdown lists only days that have logs; a chart or sparkline that
    skipped quiet days would draw a weekend as if it were not there.
    """
    by_date = {day.date: day for day in days}
    if not by_date:
        return []
    first, last = min(by_date), max(by_date)
    return [
        by_date.get(day)
        or DailyActivityMetric(date=day, active_users=0, total_events=0)
        for day in (
            first + dt.timedelta(days=n) for n in range((last - first).days + 1)
        )
    ]


def _printable(text: str) -> str:
    # Replaces newlines, tabs and escape sequences alike: each would break a
    # line of the table or, worse, be interpreted by the terminal.
    return "".join(ch if ch.isprintable() else _REPLACEMENT for ch in text)


def _cell(text: str, width: int) -> str:
    text = _printable(text)
    if len(text) > width:
        text = text[: width - 1] + _ELLIPSIS
    return text.ljust(width)


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _dump(data: Any) -> str:
    return orjson.dumps(data).decode()


# --------------------------------------------------------------------------
# Log writers
# --------------------------------------------------------------------------

_LogWriter = Callable[
    [Iterator[AIAuditLog], "TextIO", Style, Mapping[str, str] | None], int
]


def _write_table(
    logs: Iterator[AIAuditLog],
    out: TextIO,
    style: Style,
    display_names: Mapping[str, str] | None,
) -> int:
    header = [_cell(name, width) for name, width in _TABLE_COLUMNS]
    out.write("  ".join([*header, "IP"]).rstrip() + "\n")
    count = 0
    for log in logs:
        cells = (
            _utc(log.timestamp),
            log.platform,
            log.user_email or log.user_id,
            log.action,
        )
        row = [
            _cell(text, width)
            for text, (_, width) in zip(cells, _TABLE_COLUMNS, strict=True)
        ]
        row.append(_cell(log.ip_address or "-", _IP_WIDTH))
        out.write("  ".join(row).rstrip() + "\n")
        count += 1
    return count


def _json_array(texts: Iterator[str], out: TextIO) -> int:
    count = 0
    out.write("[")
    for text in texts:
        out.write("\n" if count == 0 else ",\n")
        out.write(text)
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def _json_lines(texts: Iterator[str], out: TextIO) -> int:
    count = 0
    for text in texts:
        out.write(text + "\n")
        count += 1
    return count


def _write_json(
    logs: Iterator[AIAuditLog],
    out: TextIO,
    style: Style,
    display_names: Mapping[str, str] | None,
) -> int:
    return _json_array((dumps(log, style=style).decode() for log in logs), out)


def _write_jsonl(
    logs: Iterator[AIAuditLog],
    out: TextIO,
    style: Style,
    display_names: Mapping[str, str] | None,
) -> int:
    return _json_lines((dumps(log, style=style).decode() for log in logs), out)


def _write_ocsf(
    logs: Iterator[AIAuditLog],
    out: TextIO,
    style: Style,
    display_names: Mapping[str, str] | None,
) -> int:
    # OCSF has its own (snake_case) attribute names; the style does not apply.
    count = 0
    for log in logs:
        out.write(_dump(to_ocsf(log, display_names=display_names)) + "\n")
        count += 1
    return count


def _defuse(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv_row(log: AIAuditLog) -> list[str]:
    risk = highest_risk(log)
    metadata = orjson.dumps(
        unstructure(dict(log.metadata)), option=orjson.OPT_SORT_KEYS
    )
    cells = (
        log.id,
        unstructure(log.timestamp),
        log.platform,
        log.user_id,
        log.user_email or "",
        log.organization_id,
        log.activity_type.value,
        log.action,
        log.native_type,
        log.ip_address or "",
        log.user_agent or "",
        risk.value if risk else "",
        metadata.decode(),
    )
    return [_defuse(cell) for cell in cells]


def _write_csv(
    logs: Iterator[AIAuditLog],
    out: TextIO,
    style: Style,
    display_names: Mapping[str, str] | None,
) -> int:
    # "\n" rather than the RFC's "\r\n": the stream is usually a text-mode
    # stdout, which would turn "\r\n" into "\r\r\n" on Windows.
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for log in logs:
        writer.writerow(_csv_row(log))
        count += 1
    return count


_TEXT_WRITERS: Final[Mapping[str, Callable[[Iterator[str], TextIO], int]]] = {
    "json": _json_array,
    "jsonl": _json_lines,
}
"""The writers of :data:`DOCUMENT_FORMATS`, from each log's JSON text."""

_LOG_WRITERS: Final[Mapping[str, _LogWriter]] = {
    "table": _write_table,
    "json": _write_json,
    "jsonl": _write_jsonl,
    "csv": _write_csv,
    "ocsf": _write_ocsf,
}


def _check_style(style: str) -> Style:
    styles: tuple[Style, ...] = get_args(Style)
    for known in styles:
        if style == known:
            return known
    raise ValueError(f"unknown style {style!r}; expected one of: {', '.join(styles)}")


def write_logs(
    logs: Iterable[AIAuditLog],
    out: TextIO,
    *,
    format: str,  # noqa: A002 -- the CLI option's name
    style: str = "snake",
    display_names: Mapping[str, str] | None = None,
) -> int:
    """Write *logs* to *out* in *format* and return how many were written.

    Formats: ``table`` (aligned columns for a terminal), ``json`` (one
    array), ``jsonl`` (one object a line), ``csv`` (see :data:`CSV_COLUMNS`)
    and ``ocsf`` (one OCSF event a line). *style* picks the key style of
    ``json`` and ``jsonl`` (``camel`` for hosts using the shared types).
    *display_names* (platform → the connector's ``display_name``) names
    the platforms in ``ocsf``; see
    :func:`~connector_core.export.ocsf.platform_display_name`.

    The format and style are checked before the first log is read, so a
    typo never consumes (and loses) part of a stream.

    Raises:
        ValueError: unknown *format* or *style*.
    """
    writer = _LOG_WRITERS.get(format)
    if writer is None:
        raise ValueError(
            f"unknown log format {format!r}; expected one of: {', '.join(LOG_FORMATS)}"
        )
    return writer(iter(logs), out, _check_style(style), display_names)


def write_documents(
    documents: Iterable[str],
    out: TextIO,
    *,
    format: str,  # noqa: A002 -- the CLI option's name
    style: str = "snake",
) -> int:
    """Write stored log documents to *out* in *format* and return how many
    were written: the output of :func:`write_logs` for the logs they hold,
    byte for byte, without rebuilding them.

    *documents* are the JSON a store keeps of each event
    (:meth:`~connector_core.store.base.Store.iter_documents`). Formats:
    ``json`` and ``jsonl``, the ones made of each log's JSON
    (:data:`DOCUMENT_FORMATS`); the others need the logs. In the snake style
    a document is written as it is stored; in the camel style it is parsed
    and its keys renamed (see
    :func:`~connector_core.serialization.restyle_log`).

    The format and style are checked before the first document is read.

    Raises:
        ValueError: unknown *format* or *style*, or a format that needs the
            logs.
        SchemaError: A document is not a log's JSON where it has to be read.
    """
    writer = _TEXT_WRITERS.get(format)
    if writer is None:
        raise ValueError(
            f"format {format!r} is not written from stored documents; "
            f"expected one of: {', '.join(DOCUMENT_FORMATS)}"
        )
    checked = _check_style(style)
    return writer((restyle_log(document, style=checked) for document in documents), out)


# --------------------------------------------------------------------------
# Analytics
# --------------------------------------------------------------------------


def _bar(value: float, maximum: float, width: int = _BAR_WIDTH) -> str:
    # Eighth blocks give a bar chart 8x the resolution of its width.
    if maximum <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / maximum * width * 8))
    full, part = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


def sparkline(values: Sequence[int]) -> str:
    """One block character per value, scaled from the lowest to the highest."""
    if not values:
        return ""
    top = max(values)
    if top <= 0:
        return _SPARKS[0] * len(values)
    steps = len(_SPARKS) - 1
    return "".join(_SPARKS[math.ceil(value / top * steps)] for value in values)


def _percent(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def _compact_number(value: float) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:,.0f}"


def split_types(
    ranked: Sequence[tuple[str, int]], limit: int = _TOP_TYPES
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """The event types a report lists, and those it folds into "other
    types": the *limit* most frequent, and every security-relevant one
    (:func:`~connector_core.risk.security_relevant`: a rare role change or
    IP-allowlist edit is what a security reader looks for), in *ranked*'s
    order."""
    from connector_core.risk import security_relevant  # noqa: PLC0415

    shown: list[tuple[str, int]] = []
    rest: list[tuple[str, int]] = []
    for index, (action, count) in enumerate(ranked):
        listed = index < limit or security_relevant(action)
        (shown if listed else rest).append((action, count))
    return shown, rest


def _analytics_lines(
    analytics: UsageAnalytics, display_names: Mapping[str, str] | None
) -> Iterator[str]:
    period = analytics.period
    total = analytics.total_events
    yield f"AI usage: {platform_display_name(analytics.platform, display_names)}"
    yield f"Period: {_utc(period.start)} to {_utc(period.end)}"
    yield ""
    yield f"  Events        {total:>12,}"
    active, users = analytics.active_users, analytics.total_users
    yield f"  Active users  {active:>12,} of {users:,} ({_percent(active, users)})"

    if analytics.top_users:
        yield ""
        yield "Top users"
        most = max(user.event_count for user in analytics.top_users)
        # As wide as the longest shown: an email is copied, never cut.
        width = max(
            32, min(64, max(len(u.email or u.user_id) for u in analytics.top_users))
        )
        for rank, user in enumerate(analytics.top_users, start=1):
            who = _cell(user.email or user.user_id, width)
            last = _utc(user.last_activity) if user.last_activity else "-"
            risk = f"risk {user.risk_score:.0f}" if user.risk_score is not None else ""
            yield (
                f"  {rank:>2}. {who} {user.event_count:>9,}  "
                f"{_bar(user.event_count, most):<{_BAR_WIDTH}}  last {last}  {risk}"
            ).rstrip()

    if analytics.events_by_type:
        yield ""
        yield "Events by type"
        ranked = sorted(
            analytics.events_by_type.items(), key=lambda kv: (-kv[1], kv[0])
        )
        most = ranked[0][1]
        shown, rest = split_types(ranked)
        width = max(32, min(48, max(len(action) for action, _ in shown)))
        for action, count in shown:
            yield (
                f"  {_cell(action, width)} {count:>9,}  "
                f"{_bar(count, most):<{_BAR_WIDTH}}  {_percent(count, total)}"
            ).rstrip()
        if rest:
            others = sum(count for _, count in rest)
            label = _cell(f"({len(rest)} other types)", width)
            padding = " " * _BAR_WIDTH
            yield f"  {label} {others:>9,}  {padding}  {_percent(others, total)}"

    days = daily_series(analytics.daily_breakdown)
    if days:
        yield ""
        busiest = max(days, key=lambda day: day.total_events)
        yield (
            f"Daily activity ({days[0].date} to {days[-1].date}, busiest "
            f"{busiest.date} with {busiest.total_events:,} events)"
        )
        yield f"  {sparkline([day.total_events for day in days])}"
        yield f"  {'DATE':<10}  {'EVENTS':>9}  {'USERS':>7}  PEAK (UTC)"
        for day in days:
            peak = f"{day.peak_hour:02d}:00" if day.peak_hour is not None else "-"
            yield (
                f"  {day.date.isoformat():<10}  {day.total_events:>9,}  "
                f"{day.active_users:>7,}  {peak}"
            )

    if analytics.model_usage:
        yield ""
        yield "Model usage"
        yield f"  {'MODEL':<32} {'USES':>9}  {'TOKENS':>8}  {'EST. COST':>10}"
        for model in analytics.model_usage:
            tokens = (
                _compact_number(model.total_tokens)
                if model.total_tokens is not None
                else "-"
            )
            cost = (
                f"${model.cost_estimate:,.2f}"
                if model.cost_estimate is not None
                else "-"
            )
            uses = f"{model.usage_count:,}" if uses_known(model) else "-"
            yield f"  {_cell(model.model, 32)} {uses:>9}  {tokens:>8}  {cost:>10}"


def write_analytics(
    analytics: UsageAnalytics,
    out: TextIO,
    *,
    format: str,  # noqa: A002 -- the CLI option's name
    style: str = "snake",
    display_names: Mapping[str, str] | None = None,
    apps: AppGrants | None = None,
    features: FeaturesUsed | None = None,
    security: RiskAssessment | None = None,
    zone: dt.tzinfo = dt.UTC,
) -> None:
    """Write *analytics* as a readable text report (``table``) or ``json``.

    The text report has the totals, top users, events by type (the 15 most
    frequent, the rest summed), the daily breakdown with a sparkline (quiet
    days filled in as zeros) and model usage. ``json`` is the analytics as
    data, in *style*. *display_names* names the platform in the text
    report, as in :func:`write_logs`. *apps* and *features*, when given,
    add their sections (:func:`~connector_core.export.apps.apps_lines`) or
    JSON keys (:func:`~connector_core.export.apps.apps_data`). *security*,
    when given, comes first: its text section (times in *zone*), or its
    summary under the JSON key ``security``
    (:func:`~connector_core.export.security.security_data`).

    Raises:
        ValueError: unknown *format* or *style*.
    """
    # Here, not at the top: those modules build on this one's helpers.
    from connector_core.export.apps import apps_data, apps_lines  # noqa: PLC0415
    from connector_core.export.security import (  # noqa: PLC0415
        ROWS_SHOWN,
        security_data,
        security_lines,
    )

    checked = _check_style(style)

    if format == "json":
        data = unstructure(analytics, style=checked)
        data.update(apps_data(apps, features, checked))
        if security is not None:
            data["security"] = security_data(security, checked, rows=ROWS_SHOWN)
        out.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif format == "table":
        report = (
            _printable(line) + "\n"
            for line in _analytics_lines(analytics, display_names)
        )
        views = [
            _printable(line) + "\n"
            for line in apps_lines(apps, features, display_names)
        ]
        if security is None:
            out.writelines(report)
            out.writelines(views)
        else:
            # Risk first: the security section, the apps, then the usage.
            out.writelines(
                _printable(line) + "\n"
                for line in security_lines(security, display_names, zone=zone)
            )
            out.writelines(views[1:])  # the section ends with an empty line
            if views:
                out.write("\n")
            out.writelines(report)
    else:
        raise ValueError(
            f"unknown analytics format {format!r}; expected one of: "
            f"{', '.join(ANALYTICS_FORMATS)}"
        )
