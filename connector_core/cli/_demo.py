"""``aiaudit demo``: the whole product in one command, offline.

It starts a platform's sandbox in-process, saves a connection to it, syncs
a month of activity into a store, prints the usage report and writes the
HTML one. Nothing leaves the machine, and nothing needs an account.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from connector_core.cli._common import Context, emit_json, json_option, pass_context
from connector_core.cli._plugins import only_sandbox_platform
from connector_core.cli._reading import write_usage
from connector_core.cli._syncing import _ProgressLine, _summary
from connector_core.connections import ENV_REFERENCE
from connector_core.exceptions import ConfigurationError
from connector_core.models import AIDateRange
from connector_core.sandbox import SandboxOptions
from connector_core.serialization import unstructure
from connector_core.store import default_store_url
from connector_core.store.base import SavedConnection
from connector_core.sync import sync_connection


if TYPE_CHECKING:
    from connector_core.sandbox import RunningSandbox


DEMO_CONNECTION: Final = "demo"


@click.command("demo")
@click.argument("platform", required=False)
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
@pass_context
def demo_command(
    ctx: Context,
    *,
    platform: str | None,
    events: int,
    days: int,
    seed: int,
    report: str,
    as_json: bool,
) -> None:
    """Sync a month from the built-in sandbox, then report on usage.

    Uses its own store (see the last lines of output) unless --store is
    given, so it never mixes demo data into real data.
    """
    registry = ctx.registry
    platform = platform or only_sandbox_platform(registry)
    provider = registry.sandbox(platform)
    if provider is None:
        raise ConfigurationError(f"the {platform} plugin ships no sandbox")
    if ctx.store_url is None:
        # Its own file in the data folder, apart from the user's real store.
        ctx.store_url = default_store_url("demo.db")
    options = SandboxOptions(seed=seed, events=events, days=days)
    summary = asyncio.run(_demo(ctx, provider.start(options), platform, days))
    analytics = summary.pop("analytics")
    if as_json:
        emit_json(summary | {"usage": unstructure(analytics)})
        _write_report(report, analytics)
        return
    click.echo(summary["sync_text"])
    click.echo("")
    write_usage(analytics, "table", None)
    _write_report(report, analytics)
    click.echo("")
    click.echo(f"HTML report: {Path(report).resolve()}")
    click.echo(f"store: {ctx.store.url}")
    click.echo(f"try: aiaudit --store {ctx.store.url} logs --limit 20")


def _write_report(report: str, analytics: Any) -> None:
    # Every user's email and IP: owner-only (see export.files).
    from connector_core.export.files import write_private_text  # noqa: PLC0415

    write_private_text(report, _render(analytics))


def _render(analytics: Any) -> str:
    from connector_core.export.report import render_html_report  # noqa: PLC0415

    return render_html_report(analytics, title="AI usage report (demo data)")


async def _demo(
    ctx: Context, starting: Any, platform: str, days: int
) -> dict[str, Any]:
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
    return {
        "sync": report.as_dict(),
        "sync_text": _summary(report),
        "analytics": analytics,
        "store": ctx.store.url,
    }


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
    """Save the demo connection with its keys as variable references.

    The sandbox's keys live in this process's environment only; the store
    keeps the variable names, as it does for real connections.
    """
    spec = ctx.registry.spec(running.platform)
    config: dict[str, Any] = {}
    for field, value in running.config.items():
        if field in spec.secret_fields:
            variable = f"AIAUDIT_DEMO_{field.upper()}"
            os.environ[variable] = str(value)
            config[field] = {ENV_REFERENCE: variable}
        else:
            config[field] = value
    connection = SavedConnection(
        name=DEMO_CONNECTION,
        platform=running.platform,
        config=config,
        created_at=datetime.now(UTC),
    )
    ctx.store.add_connection(connection, replace=True)
    return connection
