"""``aiaudit logs`` and ``aiaudit usage``: reading what the store holds."""

from __future__ import annotations

import datetime as dt
import errno
import os
import sys
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import click

from connector_core.analytics import PlatformsUsage, side_by_side
from connector_core.cli._common import (
    DATETIME,
    DEFAULT_SINCE,
    UNTIL,
    Context,
    check_range,
    pass_context,
    store_option,
)
from connector_core.cli._risks import (
    risk_assessment,
    rules_in_force,
    rules_option,
    tz_option,
)
from connector_core.exceptions import ConfigurationError
from connector_core.export.formats import ANALYTICS_FORMATS, LOG_FORMATS
from connector_core.models import AIDateRange
from connector_core.store.base import LogFilter
from connector_core.sync import DEFAULT_HISTORY


if TYPE_CHECKING:
    from collections.abc import Mapping

    from connector_core.analytics import AppGrants, FeaturesUsed
    from connector_core.models import UsageAnalytics
    from connector_core.risk import RiskAssessment
    from connector_core.store.base import SavedConnection


USAGE_FORMATS = (*ANALYTICS_FORMATS, "html")


@click.command("logs")
@click.option("--connection", help="Only this connection's events.")
@click.option("--platform", help="Only this platform's events.")
@click.option("--since", type=DATETIME, help="From this moment (2025-01-31, 7d, ...).")
@click.option(
    "--until",
    type=UNTIL,
    help="Up to this moment, included; a date alone means the end of that day (UTC).",
)
@click.option(
    "--user",
    "users",
    multiple=True,
    help="By this user id, or email in any case; repeat for several.",
)
@click.option(
    "--action",
    "actions",
    multiple=True,
    metavar="PATTERN",
    help="With this action (user.login), or any action a glob matches: "
    "* any characters, ? one (user.*, file.*); repeat for several.",
)
@click.option("--limit", type=click.IntRange(min=1), help="At most this many events.")
@click.option(
    "--newest-first",
    is_flag=True,
    help="The newest events first (with --limit: the latest ones).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(LOG_FORMATS),
    default="table",
    show_default=True,
)
@click.option("--camel", is_flag=True, help="JSON in the host's camelCase shape.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format jsonl.")
@store_option
@pass_context
def logs_command(
    ctx: Context,
    *,
    connection: str | None,
    platform: str | None,
    since: datetime | None,
    until: datetime | None,
    users: tuple[str, ...],
    actions: tuple[str, ...],
    limit: int | None,
    newest_first: bool,
    output_format: str,
    camel: bool,
    as_json: bool,
) -> None:
    """Print stored events, oldest first (or newest first), in the format
    asked for."""
    from connector_core.export.formats import (  # noqa: PLC0415 - lazy
        DOCUMENT_FORMATS,
        write_documents,
        write_logs,
    )

    check_range(since, until)
    store = ctx.open_store(read_only=True)
    if connection is not None:
        _check_connection(ctx, connection)
    where = LogFilter(
        connection=connection,
        platform=platform,
        start=since,
        end=until,
        user_ids=users,
        actions=actions,
        limit=limit,
        newest_first=newest_first,
    )
    chosen = "jsonl" if as_json else output_format
    style = "camel" if camel else "snake"
    if chosen in DOCUMENT_FORMATS:
        # The stored JSON is the output already: no event is rebuilt.
        write_documents(
            store.iter_documents(where), sys.stdout, format=chosen, style=style
        )
        return
    write_logs(
        store.iter_logs(where),
        sys.stdout,
        format=chosen,
        style=style,
        display_names=ctx.registry.display_names,
    )


def _check_connection(ctx: Context, name: str) -> SavedConnection | None:
    """The saved connection *name*; ``None`` for one removed whose events
    the store still holds.

    Raises:
        ConfigurationError: The store knows no such connection: most often
            a typo, which an empty answer would hide.
    """
    store = ctx.open_store(read_only=True)
    saved = store.get_connection(name)
    if (
        saved is None
        and next(store.iter_documents(LogFilter(connection=name, limit=1)), None)
        is None
    ):
        raise ctx.no_such_connection(name)
    return saved


def _platform_of(ctx: Context, connection: str | None, platform: str | None) -> str:
    saved = None if connection is None else _check_connection(ctx, connection)
    if platform:
        return platform
    if connection:
        if saved is None:
            # Removed, its events kept: theirs is the platform.
            [event] = ctx.open_store(read_only=True).iter_logs(
                LogFilter(connection=connection, limit=1)
            )
            return event.platform
        return saved.platform
    platforms = _platforms(ctx)
    if len(platforms) == 1:
        return platforms[0]
    raise ConfigurationError(
        "name the --platform or --connection to report on "
        f"(the store has: {', '.join(platforms) or 'nothing yet'})"
    )


def _platforms(ctx: Context) -> list[str]:
    """The platforms of the store's saved connections, sorted."""
    store = ctx.open_store(read_only=True)
    return sorted({c.platform for c in store.list_connections()})


def usage_report(
    ctx: Context,
    *,
    connection: str | None,
    platform: str | None,
    since: datetime | None,
    until: datetime | None,
) -> UsageAnalytics | PlatformsUsage:
    """The store's usage analytics for the options of ``aiaudit usage``:
    with neither a platform nor a connection named and several platforms
    stored, all of them side by side."""
    end = until or datetime.now(UTC)
    check_range(since, end, until_is_now=until is None)
    period = AIDateRange(start=since or end - DEFAULT_HISTORY, end=end)
    store = ctx.open_store(read_only=True)
    if platform is None and connection is None:
        platforms = _platforms(ctx)
        if len(platforms) > 1:
            return side_by_side(
                [store.usage_analytics(period, platform=p) for p in platforms],
                store.people(period),
            )
    return store.usage_analytics(
        period,
        platform=_platform_of(ctx, connection, platform),
        connection=connection,
    )


@click.command("usage")
@click.option("--connection", help="Only this connection.")
@click.option("--platform", help="Only this platform.")
@click.option(
    "--since", type=DATETIME, help=f"From this moment (default: {DEFAULT_SINCE})."
)
@click.option(
    "--until",
    type=UNTIL,
    help="Up to this moment, included (default: now); a date alone means the "
    "end of that day (UTC).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(USAGE_FORMATS),
    default="table",
    show_default=True,
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the report to this file instead of printing it.",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@rules_option
@tz_option
@store_option
@pass_context
def usage_command(
    ctx: Context,
    *,
    connection: str | None,
    platform: str | None,
    since: datetime | None,
    until: datetime | None,
    output_format: str,
    output: str | None,
    as_json: bool,
    rule_files: tuple[str, ...],
    zone: dt.tzinfo | None,
) -> None:
    """Usage analytics computed in the store: who uses it, how much, when.

    The security section comes first: the highest-risk findings of the risk
    rules (docs/risk.md; aiaudit risks lists them all), failed sign-ins and
    uploads per person, key, role and settings changes, new locations,
    sharing, and the apps granted access. With --format html it is a
    self-contained report with charts, viewable offline: give --output
    report.html too.
    """
    if output is not None:
        # Before the store is read: a report computed only to be refused
        # by its destination wastes the reading, and a store that cannot be
        # read yet would hide the real mistake behind its own error.
        _check_writable_folder(output)
    analytics = usage_report(
        ctx, connection=connection, platform=platform, since=since, until=until
    )
    apps, features = security_views(ctx, analytics, connection=connection)
    security = risk_assessment(
        ctx,
        analytics.period,
        rules=rules_in_force(ctx, rule_files),
        connection=connection,
        platform=None if isinstance(analytics, PlatformsUsage) else analytics.platform,
    )
    write_usage(
        analytics,
        "json" if as_json else output_format,
        output,
        names=ctx.registry.display_names,
        apps=apps,
        features=features,
        security=security,
        zone=zone,
    )


def security_views(
    ctx: Context,
    analytics: UsageAnalytics | PlatformsUsage,
    *,
    connection: str | None,
) -> tuple[AppGrants, FeaturesUsed]:
    """The apps granted access and the AI features used over the period of
    *analytics*, of its one platform (and *connection*) or of all of them."""
    store = ctx.open_store(read_only=True)
    connections = () if connection is None else (connection,)
    platform = None if isinstance(analytics, PlatformsUsage) else analytics.platform
    return (
        store.app_grants(analytics.period, connections=connections, platform=platform),
        store.features_used(
            analytics.period, connections=connections, platform=platform
        ),
    )


def write_usage(
    analytics: UsageAnalytics | PlatformsUsage,
    output_format: str,
    output: str | None,
    *,
    names: Mapping[str, str],
    apps: AppGrants | None = None,
    features: FeaturesUsed | None = None,
    security: RiskAssessment | None = None,
    zone: dt.tzinfo | None = None,
) -> None:
    """Print or write *analytics* (one platform's, or several side by side)
    as a table, JSON or an HTML report; *names* are the platforms' display
    names (``Registry.display_names``); *apps* and *features* add their
    sections, keys or cards; *security* comes first in each. Times are in
    *zone*: by default UTC in text, and the viewer's own in HTML."""
    from connector_core.export.files import (  # noqa: PLC0415
        private_file,
        write_private_text,
    )
    from connector_core.export.formats import write_analytics  # noqa: PLC0415
    from connector_core.export.overview import write_platforms_usage  # noqa: PLC0415
    from connector_core.export.report import render_html_report  # noqa: PLC0415

    if isinstance(analytics, PlatformsUsage):
        write = partial(
            write_platforms_usage,
            analytics,
            apps=apps,
            features=features,
            security=security,
            zone=zone or dt.UTC,
        )
    else:
        write = partial(
            write_analytics,
            analytics,
            apps=apps,
            features=features,
            security=security,
            zone=zone or dt.UTC,
        )
    if output_format == "html":
        page = render_html_report(
            analytics,
            display_names=names,
            apps=apps,
            features=features,
            security=security,
            zone=zone,
        )
        if output is None:
            click.echo(page)
        else:
            # Every user's email and IP: owner-only (see export.files).
            write_private_text(output, page)
            click.echo(f"wrote {output}", err=True)
        return
    if output is None:
        write(sys.stdout, format=output_format, display_names=names)
    else:
        with private_file(output) as out:
            write(out, format=output_format, display_names=names)


def _check_writable_folder(output: str) -> None:
    """Refuse an output whose folder is missing or not writable."""
    folder = Path(output).parent
    if not folder.is_dir():
        raise ConfigurationError(
            f"cannot write {output}: {os.strerror(errno.ENOENT)} ({folder})"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigurationError(
            f"cannot write {output}: {os.strerror(errno.EACCES)} ({folder})"
        )
