"""Several platforms side by side: the text and JSON of ``aiaudit usage``
when a store holds more than one platform and none is named.

The question it answers before any platform's own report: which platform
is used how much, by how many people, at what token count and cost, and how
many people use any of them (a person with accounts on two platforms is one,
see :func:`~connector_core.analytics.count_people`). Each platform's own
report follows it, unchanged.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import orjson

from connector_core.analytics import platform_cost, platform_tokens, uses_known
from connector_core.export.apps import apps_data, apps_lines
from connector_core.export.formats import (
    ANALYTICS_FORMATS,
    _cell,
    _check_style,
    _compact_number,
    _printable,
    _utc,
    write_analytics,
)
from connector_core.export.ocsf import platform_display_name
from connector_core.export.security import (
    ROWS_SHOWN,
    security_data,
    security_lines,
)
from connector_core.serialization import unstructure


if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import TextIO

    from connector_core.analytics import AppGrants, FeaturesUsed, PlatformsUsage
    from connector_core.risk import RiskAssessment


__all__ = ["overview_lines", "write_platforms_usage"]

_NAME_WIDTH = 30


def _tokens(value: int | None) -> str:
    return "-" if value is None else _compact_number(value)


def _cost(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}"


def overview_lines(
    usage: PlatformsUsage, display_names: Mapping[str, str] | None = None
) -> Iterator[str]:
    """The side-by-side table of *usage*, one line at a time (no newline)."""
    period = usage.period
    yield "AI usage: all platforms"
    yield f"Period: {_utc(period.start)} to {_utc(period.end)}"
    yield ""
    yield f"  People        {usage.people:>12,}  (one per email, across platforms)"
    yield f"  Events        {usage.total_events:>12,}"
    yield ""
    yield (
        f"  {'PLATFORM':<{_NAME_WIDTH}} {'EVENTS':>9}  {'ACTIVE':>7}  {'USERS':>7}"
        f"  {'TOKENS':>8}  {'EST. COST':>10}"
    )
    ranked = sorted(usage.platforms, key=lambda a: (-a.total_events, a.platform))
    for analytics in ranked:
        name = _cell(
            platform_display_name(analytics.platform, display_names), _NAME_WIDTH
        )
        yield (
            f"  {name} {analytics.total_events:>9,}  {analytics.active_users:>7,}"
            f"  {analytics.total_users:>7,}  {_tokens(platform_tokens(analytics)):>8}"
            f"  {_cost(platform_cost(analytics)):>10}"
        )
    tokens = [t for a in usage.platforms if (t := platform_tokens(a)) is not None]
    costs = [c for a in usage.platforms if (c := platform_cost(a)) is not None]
    yield (
        f"  {_cell('All platforms', _NAME_WIDTH)} {usage.total_events:>9,}"
        f"  {usage.people:>7,}  {'':>7}  {_tokens(sum(tokens) if tokens else None):>8}"
        f"  {_cost(sum(costs) if costs else None):>10}"
    )
    models = usage.models
    if models:
        yield ""
        yield "Models across platforms"
        yield (
            f"  {'PLATFORM':<{_NAME_WIDTH}} {'MODEL':<24} {'USES':>9}  {'TOKENS':>8}"
            f"  {'EST. COST':>10}"
        )
        for platform, model in models:
            name = _cell(platform_display_name(platform, display_names), _NAME_WIDTH)
            uses = f"{model.usage_count:,}" if uses_known(model) else "-"
            yield (
                f"  {name} {_cell(model.model, 24)} {uses:>9}"
                f"  {_tokens(model.total_tokens):>8}  {_cost(model.cost_estimate):>10}"
            )


def write_platforms_usage(
    usage: PlatformsUsage,
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
    """Write *usage* as text (the side-by-side table, the sections of
    *apps* and *features* when given and not empty, then each platform's
    report) or as JSON (``people``, ``period`` and ``platforms``, each the
    JSON of ``aiaudit usage --platform``: with *apps* and *features* given,
    that platform's part of them, see
    :func:`~connector_core.export.apps.apps_data`). *security*, when
    given, comes first: its text section (times in *zone*; the security
    view is every platform's at once), or its summary under the top-level
    JSON key ``security``.

    Raises:
        ValueError: unknown *format* or *style*.
    """
    checked = _check_style(style)
    if format == "json":
        data = {
            "period": unstructure(usage.period, style=checked),
            "people": usage.people,
            "platforms": [
                {
                    **unstructure(a, style=checked),
                    **apps_data(apps, features, checked, platform=a.platform),
                    **(
                        {}
                        if security is None
                        else {
                            "security": security_data(
                                security.of_platform(a.platform),
                                checked,
                                rows=ROWS_SHOWN,
                            )
                        }
                    ),
                }
                for a in usage.platforms
            ],
        }
        if security is not None:
            data["security"] = security_data(security, checked, rows=ROWS_SHOWN)
        out.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    if format != "table":
        raise ValueError(
            f"unknown analytics format {format!r}; expected one of: "
            f"{', '.join(ANALYTICS_FORMATS)}"
        )
    overview = (
        _printable(line) + "\n" for line in overview_lines(usage, display_names)
    )
    views = [
        _printable(line) + "\n" for line in apps_lines(apps, features, display_names)
    ]
    if security is None:
        out.writelines(overview)
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
        out.writelines(overview)
    for analytics in usage.platforms:
        out.write("\n")
        write_analytics(analytics, out, format="table", display_names=display_names)
