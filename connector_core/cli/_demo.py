"""``aiaudit demo``: the whole product in one command, offline.

For each installed platform with a sandbox (or those named), it starts the
sandbox in-process, saves a connection to it and syncs a month of activity
into a store; then it prints each platform's usage report and writes one
HTML report over all. Nothing leaves the machine, and nothing needs an
account.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import click

from connector_core.analytics import (
    AppGrants,
    FeaturesUsed,
    PlatformsUsage,
    side_by_side,
)
from connector_core.cli._common import (
    Context,
    emit_json,
    json_option,
    pass_context,
    store_option,
)
from connector_core.cli._plugins import sandbox_platforms
from connector_core.cli._reading import write_usage
from connector_core.cli._risks import rules_in_force, rules_option, tz_option
from connector_core.cli._syncing import _ProgressLine, _summary
from connector_core.connections import ENV_REFERENCE
from connector_core.export.apps import apps_lines
from connector_core.export.overview import overview_lines
from connector_core.export.security import ROWS_SHOWN, security_data, security_lines
from connector_core.models import AIDateRange, UsageAnalytics
from connector_core.risk import assess
from connector_core.sandbox import SandboxOptions
from connector_core.serialization import unstructure
from connector_core.store import default_store_url
from connector_core.store._urls import url_passwords
from connector_core.store.base import SavedConnection
from connector_core.sync import SyncReport, sync_connection


if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from connector_core.risk import RiskAssessment, RiskRule
    from connector_core.sandbox import RunningSandbox


DEMO_CONNECTION: Final = "demo"
"""What the demo's connections are called, each with its platform's
connection name (``ConnectorSpec.default_connection``) after a dash:
``demo-chatgpt``."""


@attrs.frozen(kw_only=True)
class _Demo:
    """One platform's part of the demo."""

    platform: str
    connection: str
    sync: SyncReport
    analytics: UsageAnalytics


@click.command("demo")
@click.argument("platforms", nargs=-1, metavar="[PLATFORM]...")
@click.option("--events", type=click.IntRange(min=1), default=10_000, show_default=True)
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, writable=True),
    default="aiaudit-report.html",
    show_default=True,
    help="Where to write the HTML report.",
)
@json_option
@rules_option
@tz_option
@store_option
@pass_context
def demo_command(
    ctx: Context,
    *,
    platforms: tuple[str, ...],
    events: int,
    days: int,
    seed: int,
    report: str,
    as_json: bool,
    rule_files: tuple[str, ...],
    zone: tzinfo | None,
) -> None:
    """Sync a month from the built-in sandboxes, then report on usage.

    Every installed platform whose plugin ships a sandbox is served on
    loopback and synced, or only the PLATFORMs named; then comes a usage
    table per platform and one HTML report over all of them. Uses its own
    store (see the last lines of output) unless one is given (--store,
    AIAUDIT_STORE, DATABASE_URL), so it never mixes demo data into real
    data. Exits 1 if a stream failed.
    """
    chosen = sandbox_platforms(ctx.registry, platforms)
    if ctx.store_url is None:
        # Its own file in the data folder, apart from the user's real store.
        ctx.use_store(default_store_url("demo.db"))
    options = SandboxOptions(seed=seed, events=events, days=days)
    demos = [
        asyncio.run(_demo(ctx, provider.start(options), platform, days))
        for platform, provider in chosen
    ]
    names = ctx.registry.display_names
    overview = _side_by_side(ctx, demos)
    # Checked before any sandbox starts would be nicer, but the rules are
    # read from files that cannot change meanwhile; a broken one fails here,
    # before anything is written.
    rules = rules_in_force(ctx, rule_files)
    apps, features, security = _security_views(ctx, demos, rules)
    _write_report(
        report,
        overview or [demo.analytics for demo in demos],
        names,
        apps=apps,
        features=features,
        security=security,
        zone=zone,
    )
    if as_json:
        emit_json(
            {
                "store": ctx.store.url,
                "report": str(Path(report).resolve()),
                "platforms": [
                    {
                        "platform": demo.platform,
                        "connection": demo.connection,
                        "sync": demo.sync.as_dict(),
                        "usage": unstructure(demo.analytics),
                    }
                    for demo in demos
                ],
                **(
                    {}
                    if security is None
                    else {"security": security_data(security, "snake", rows=ROWS_SHOWN)}
                ),
            }
        )
    else:
        _print_text(
            ctx, demos, overview, (apps, features, security), zone=zone, report=report
        )
    if not all(demo.sync.ok for demo in demos):
        sys.exit(1)


def _print_text(
    ctx: Context,
    demos: list[_Demo],
    overview: PlatformsUsage | None,
    views: tuple[AppGrants | None, FeaturesUsed | None, RiskAssessment | None],
    *,
    zone: tzinfo | None,
    report: str,
) -> None:
    """The demo's text: each sync's summary, the security views, the usage
    side by side, each platform's usage, and where to look further."""
    names = ctx.registry.display_names
    apps, features, security = views
    for demo in demos:
        click.echo(_summary(demo.sync))
    # The security views first, over every platform the demo synced:
    # the risk findings, the apps people granted access to, the AI
    # features they used; then the usage side by side.
    if security is not None:
        click.echo("")
        for line in security_lines(security, names, zone=zone or UTC):
            click.echo(line)
    sections = list(apps_lines(apps, features, names))
    for line in sections[1:] if security is not None else sections:
        click.echo(line)
    if overview is not None:
        click.echo("")
        for line in overview_lines(overview, names):
            click.echo(line)
    for demo in demos:
        click.echo("")
        write_usage(demo.analytics, "table", None, names=names)
    click.echo("")
    click.echo(f"HTML report: {Path(report).resolve()}")
    click.echo(f"store: {ctx.store.url}")
    for hint in _hints(ctx.store.url, demos):
        click.echo(f"try: {hint}")


def _hints(url: str, demos: list[_Demo]) -> list[str]:
    """Commands to look further, ready to paste: the latest events, every
    platform's usage side by side (when there are several), and each
    platform's own over what the demo synced."""
    # A URL with a password shows it masked, which --store would refuse:
    # then it came from a variable, which the command reads again.
    store = "" if url_passwords(url) else f" --store {shlex.quote(url)}"
    hints = [f"aiaudit logs{store} --newest-first --limit 20"]
    if demos:
        since = min(demo.sync.since for demo in demos)
        hints.append(f"aiaudit risks{store} --since {since:%Y-%m-%d} --limit 20")
    if len(demos) > 1:
        hints.append(f"aiaudit usage{store} --since {since:%Y-%m-%d}")
    hints.extend(
        f"aiaudit usage{store} --connection {demo.connection} "
        f"--since {demo.sync.since:%Y-%m-%d}"
        for demo in demos
    )
    return hints


def _side_by_side(ctx: Context, demos: list[_Demo]) -> PlatformsUsage | None:
    """The platforms the demo synced side by side, when there are several."""
    if len(demos) <= 1:
        return None
    analytics = [demo.analytics for demo in demos]
    usage = side_by_side(analytics, 0)
    people = ctx.store.people(
        usage.period, connections=[demo.connection for demo in demos]
    )
    return attrs.evolve(usage, people=people)


def _security_views(
    ctx: Context, demos: list[_Demo], rules: Sequence[RiskRule]
) -> tuple[AppGrants | None, FeaturesUsed | None, RiskAssessment | None]:
    """The apps granted access, the AI features used and the risk findings
    over every connection the demo synced, and the span all of them cover."""
    if not demos:
        return None, None, None
    period = AIDateRange(
        start=min(demo.analytics.period.start for demo in demos),
        end=max(demo.analytics.period.end for demo in demos),
    )
    connections = [demo.connection for demo in demos]
    return (
        ctx.store.app_grants(period, connections=connections),
        ctx.store.features_used(period, connections=connections),
        assess(ctx.store, period, rules, connections=connections),
    )


def _write_report(
    report: str,
    analytics: list[UsageAnalytics] | PlatformsUsage,
    names: Mapping[str, str],
    *,
    apps: AppGrants | None,
    features: FeaturesUsed | None,
    security: RiskAssessment | None,
    zone: tzinfo | None,
) -> None:
    # Every user's email and IP: owner-only (see export.files).
    from connector_core.export.files import write_private_text  # noqa: PLC0415
    from connector_core.export.report import render_html_report  # noqa: PLC0415

    page = render_html_report(
        analytics,
        title="AI usage report (demo data)",
        display_names=names,
        apps=apps,
        features=features,
        security=security,
        zone=zone,
    )
    write_private_text(report, page)


async def _demo(ctx: Context, starting: Any, platform: str, days: int) -> _Demo:
    async with starting as running:
        connection = _demo_connection(ctx, running)
        progress = _ProgressLine()
        connector = ctx.registry.create(
            platform,
            ctx.registry.spec(platform).make_config(dict(running.config)),
            name=connection.name,
        )
        async with connector:
            until = datetime.now(UTC)
            since = _history_start(running) or until - timedelta(days=days)
            report = await sync_connection(
                connector,
                ctx.store,
                connection=connection.name,
                since=since,
                until=until,
                progress=progress,
            )
        progress.done()
    period = AIDateRange(start=report.since, end=report.until)
    analytics = await asyncio.to_thread(
        ctx.store.usage_analytics, period, platform=platform, connection=connection.name
    )
    return _Demo(
        platform=platform,
        connection=connection.name,
        sync=report,
        analytics=analytics,
    )


def _history_start(running: RunningSandbox) -> datetime | None:
    """Where the sandbox's generated history begins, when it says."""
    history = running.details.get("history")
    if isinstance(history, list | tuple) and history:
        try:
            return datetime.fromisoformat(str(history[0]))
        except ValueError:
            return None
    return None


def _demo_connection(ctx: Context, running: RunningSandbox) -> SavedConnection:
    """Save the platform's demo connection with its keys as variable
    references.

    The sandbox's keys live in this process's environment only; the store
    keeps the variable names, as it does for real connections.
    """
    spec = ctx.registry.spec(running.platform)
    config: dict[str, Any] = {}
    for field, value in running.config.items():
        if field in spec.secret_fields:
            # The platform in the name: two platforms' api_key stay apart.
            variable = f"AIAUDIT_DEMO_{running.platform}_{field}".upper()
            os.environ[variable] = str(value)
            config[field] = {ENV_REFERENCE: variable}
        else:
            config[field] = value
    connection = SavedConnection(
        name=f"{DEMO_CONNECTION}-{spec.default_connection}",
        platform=running.platform,
        config=config,
        created_at=datetime.now(UTC),
    )
    ctx.store.add_connection(connection, replace=True)
    return connection
