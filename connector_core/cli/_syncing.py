"""``aiaudit connections``, ``aiaudit check`` and ``aiaudit sync``."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from connector_core.cli._common import (
    DATETIME,
    DEFAULT_SINCE,
    UNTIL,
    Context,
    emit_json,
    json_option,
    pass_context,
    range_checked,
    store_option,
)
from connector_core.connections import (
    connection_from_environment,
    connection_from_options,
    describe,
)
from connector_core.exceptions import ConfigurationError
from connector_core.sync import StreamReport, SyncReport, sync_connection


if TYPE_CHECKING:
    from datetime import datetime

    from connector_core.store.base import SavedConnection


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            # The value is not echoed: a --secret given without "=" is
            # often a pasted key.
            raise click.BadParameter(
                "expected FIELD=VALUE (one was given without '=')", param_hint=option
            )
        pairs[key.strip()] = rest.strip()
    return pairs


# -- connections ---------------------------------------------------------------


@click.group("connections")
def connections_group() -> None:
    """Add, list and remove saved connections (never their secrets)."""


@connections_group.command("add")
@click.argument("name")
@click.option("--platform", required=True, help="The platform the connection is for.")
@click.option(
    "--from-env",
    is_flag=True,
    help="Take the configuration from the platform's environment variables.",
)
@click.option(
    "--option", "options", multiple=True, metavar="FIELD=VALUE", help="A setting."
)
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    metavar="FIELD=VARIABLE",
    help="A secret, by the name of the environment variable that holds it.",
)
@click.option("--replace", is_flag=True, help="Overwrite a connection of that name.")
@json_option
@store_option
@pass_context
def connections_add(
    ctx: Context,
    *,
    name: str,
    platform: str,
    from_env: bool,
    options: tuple[str, ...],
    secrets: tuple[str, ...],
    replace: bool,
    as_json: bool,
) -> None:
    """Save a connection called NAME.

    Keys are never stored: a secret is saved as a reference to the
    environment variable that holds it, read when the connection is used.
    """
    spec = ctx.registry.spec(platform)
    if from_env:
        connection = connection_from_environment(spec, name, os.environ)
    else:
        connection = connection_from_options(
            spec,
            name,
            options=_pairs(options, "--option"),
            secrets=_pairs(secrets, "--secret"),
            environ=os.environ,
        )
    ctx.store.add_connection(connection, replace=replace)
    if as_json:
        emit_json(describe(connection))
    else:
        click.echo(f"saved connection {name!r} ({platform}) in {ctx.store.url}")


@connections_group.command("list")
@json_option
@store_option
@pass_context
def connections_list(ctx: Context, *, as_json: bool) -> None:
    """List the saved connections, and which read one organization."""
    connections = ctx.store.list_connections()
    shared: dict[str, set[str]] = {}
    for pair in ctx.store.shared_organizations():
        shared.setdefault(pair.connection, set()).add(pair.other)
        shared.setdefault(pair.other, set()).add(pair.connection)
    if as_json:
        emit_json(
            [
                {
                    **describe(c),
                    "shares_organization_with": sorted(shared.get(c.name, ())),
                }
                for c in connections
            ]
        )
        return
    if not connections:
        click.echo("No saved connections.")
    for connection in connections:
        fields = ", ".join(
            f"{k}={v}" for k, v in describe(connection)["config"].items()
        )
        others = sorted(shared.get(connection.name, ()))
        note = f"  (same organization as {', '.join(others)})" if others else ""
        click.echo(f"{connection.name}  [{connection.platform}]  {fields}{note}")


@connections_group.command("remove")
@click.argument("name")
@click.option("--purge", is_flag=True, help="Also delete its events and checkpoints.")
@json_option
@store_option
@pass_context
def connections_remove(ctx: Context, *, name: str, purge: bool, as_json: bool) -> None:
    """Forget the connection NAME.

    With --purge, a connection that read the same organization no longer
    finds NAME's events: those it skipped as already stored go with NAME,
    and it is named, with how to read them again.
    """
    readers = sorted(
        {s.connection for s in ctx.store.shared_organizations(name) if s.other == name}
    )
    if not ctx.store.remove_connection(name, purge=purge):
        raise ConfigurationError(f"no connection named {name!r}")
    reread = readers if purge else []
    if as_json:
        emit_json({"removed": name, "purged": purge, "read_again": reread})
        return
    click.echo(f"removed {name!r}" + (" and its events" if purge else ""))
    for reader in reread:
        click.echo(
            f"warning: {reader!r} read the same organization and skipped the "
            f"events {name!r} had stored; to store them under {reader!r}, run "
            f"'aiaudit checkpoints reset {reader}' and sync it again",
            err=True,
        )


# -- checkpoints -----------------------------------------------------------------


@click.group("checkpoints")
def checkpoints_group() -> None:
    """Manage where each stream's next sync resumes."""


@checkpoints_group.command(
    "reset",
    help="Forget the checkpoints of STREAMS of CONNECTION (or --all).\n\n"
    f"The next sync reads those streams again from --since ({DEFAULT_SINCE} "
    "by default; give an earlier --since to cover a longer gap since the "
    "last good sync). Events already stored are recognised by their ids, so "
    "nothing is doubled. What the streams covered is forgotten too, and so "
    "is a backfill under way: they cover from that --since on. This is how "
    "a checkpoint a sync reports unreadable is cleared.",
)
@click.argument("connection")
@click.argument("streams", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Reset every stream.")
@json_option
@store_option
@pass_context
def checkpoints_reset(
    ctx: Context,
    *,
    connection: str,
    streams: tuple[str, ...],
    every: bool,
    as_json: bool,
) -> None:
    """Forget checkpoints, for the next sync to read their streams again;
    the help (given to the command, as it quotes the default window) says
    how."""
    if bool(streams) == every:
        raise click.UsageError("name the streams to reset, or pass --all")
    removed = ctx.store.reset_checkpoints(connection, None if every else streams)
    unknown = sorted(set(streams) - set(removed))
    if as_json:
        emit_json({"connection": connection, "reset": removed, "unknown": unknown})
    else:
        for stream in removed:
            click.echo(f"reset {connection}/{stream}: the next sync reads it again")
    if unknown or not removed:
        raise ConfigurationError(
            f"no checkpoint for {connection!r} "
            + (f"stream(s) {', '.join(unknown)}" if unknown else "at all")
        )


# -- check ---------------------------------------------------------------------


def _targets(
    ctx: Context, names: tuple[str, ...], *, save: bool = True
) -> list[SavedConnection]:
    """The connections *names* stand for (all saved ones without names).
    Without *save* (``check``) the store is only read and nothing is saved:
    a platform named with nothing saved is used from its environment."""
    if names:
        return [ctx.saved_or_environment(name, save=save) for name in names]
    store = ctx.store if save else ctx.open_store(read_only=True)
    saved = store.list_connections()
    if not saved:
        raise ConfigurationError(
            "no saved connections: name one (or a platform) to use its environment"
        )
    return saved


@click.command("check")
@click.argument("names", nargs=-1)
@json_option
@store_option
@pass_context
def check_command(ctx: Context, *, names: tuple[str, ...], as_json: bool) -> None:
    """Check credentials and permissions, with a verdict per surface.

    NAMES are saved connections or platforms (their environment variables);
    all saved connections by default. Saves nothing: a platform is checked
    from its environment without becoming a connection. Exits 1 unless
    every one passes.
    """
    results = [asyncio.run(_check(ctx, c)) for c in _targets(ctx, names, save=False)]
    if as_json:
        emit_json(results)
    else:
        for result in results:
            verdict = "ok" if result["ok"] else "PROBLEMS"
            click.echo(f"{result['connection']} [{result['platform']}]: {verdict}")
            for surface, state in result["surfaces"].items():
                click.echo(f"  {surface}: {state}")
            if result["missing"]:
                click.echo(f"  missing: {', '.join(result['missing'])}")
    if not all(result["ok"] for result in results):
        sys.exit(1)


async def _check(ctx: Context, connection: SavedConnection) -> dict[str, Any]:
    async with ctx.connector_for(connection) as connector:
        check = await connector.validate_permissions()
    surfaces = check.metadata.get("surfaces")
    if not isinstance(surfaces, dict):
        surfaces = dict.fromkeys(check.permissions, "ok") | dict.fromkeys(
            check.missing_permissions, "missing"
        )
    return {
        "connection": connection.name,
        "platform": connection.platform,
        "ok": check.is_valid,
        "surfaces": surfaces,
        "permissions": list(check.permissions),
        "missing": list(check.missing_permissions),
        "errors": list(check.errors),
    }


# -- sync ----------------------------------------------------------------------


class _ProgressLine:
    """A one-line live counter on a terminal; silent when stderr is a pipe."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.started = time.perf_counter()

    def update(self, report: StreamReport) -> None:
        if not self.enabled:
            return
        elapsed = max(time.perf_counter() - self.started, 1e-6)
        buckets = f", {report.usage_read:,} usage buckets" if report.usage_read else ""
        click.echo(
            f"\r{report.connection}/{report.stream}: {report.read:,} events "
            f"({report.read / elapsed:,.0f}/s), {report.batches:,} pages "
            f"({report.batches / elapsed:,.1f}/s), {report.inserted:,} new"
            f"{buckets}   ",
            err=True,
            nl=False,
        )

    def done(self) -> None:
        if self.enabled:
            click.echo("", err=True)


def _summary(report: SyncReport) -> str:
    rows = [("stream", "read", "new", "duplicate", "quarantined", "seconds")]
    rows += [
        (
            s.stream + (" (failed)" if s.error else ""),
            f"{s.read:,}",
            f"{s.inserted:,}",
            f"{s.duplicates:,}",
            f"{s.quarantined:,}",
            f"{s.seconds:.1f}",
        )
        for s in report.streams
    ]
    rows.append(
        (
            "total",
            f"{report.read:,}",
            f"{report.inserted:,}",
            f"{report.duplicates:,}",
            f"{report.quarantined:,}",
            f"{report.seconds:.1f}",
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    heading = (
        f"synced {report.connection} [{report.platform}] "
        f"{report.since:%Y-%m-%d %H:%M} .. {report.until:%Y-%m-%d %H:%M} UTC"
    )
    lines = [heading]
    if report.until_clamped and report.requested_until is not None:
        lines.append(
            f"  --until {report.requested_until:%Y-%m-%d %H:%M} UTC is in the "
            "future: synced up to now, so the next sync reads what is published "
            "meanwhile"
        )
    resumed = [s.stream for s in report.streams if s.resumed]
    if resumed:
        lines.append(f"  resumed from their checkpoints: {', '.join(resumed)}")
    lines.extend(_backfill_lines(report))
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  " + "  ".join(cells))
    lines.extend(_usage_lines(report))
    lines.extend(f"  {s.stream} stopped: {s.error}" for s in report.streams if s.error)
    lines.extend(_shared_lines(report))
    lines.extend(_directory_lines(report))
    return "\n".join(lines)


def _shared_lines(report: SyncReport) -> list[str]:
    """The warning of a connection reading an organization another one
    reads: nothing is counted twice, but one of them is likely a mistake."""
    if not report.held_elsewhere:
        return []
    holders = ", ".join(
        f"{name!r} ({events:,})" for name, events in report.held_by.items()
    )
    warning = (
        f"  warning: {report.held_elsewhere:,} events were stored already through "
        f"{holders}, which reads the same organization; each is counted once, "
        "under the connection that stored it first. If both connections are "
        "meant to read it, nothing needs doing; otherwise remove one "
        "(aiaudit connections remove NAME)."
    )
    return [warning]


def _directory_lines(report: SyncReport) -> list[str]:
    """The directory's line, when the connector has one: members are not
    events, so the table does not count them."""
    directory = report.directory
    if directory is None:
        return []
    if directory.error is not None:
        return [f"  directory not stored: {directory.error}"]
    quarantined = (
        f", {directory.quarantined:,} quarantined" if directory.quarantined else ""
    )
    line = (
        f"  directory: {directory.members:,} members ({directory.new:,} new, "
        f"{directory.gone:,} gone{quarantined})"
    )
    return [line]


def _usage_lines(report: SyncReport) -> list[str]:
    """A line per stream that read usage-report buckets: they are not
    events, so the table's columns do not count them. A bucket read again
    unchanged is neither new nor updated."""
    return [
        f"  {s.stream}: {s.usage_read:,} usage buckets read, "
        f"{s.usage_inserted:,} new, {s.usage_updated:,} updated"
        for s in report.streams
        if s.usage_read
    ]


def _backfill_lines(report: SyncReport) -> list[str]:
    """A line per stream whose older range was read (its counts are in the
    table's too), and any warning or error of it."""
    lines = []
    for stream in report.backfilled:
        backfill = stream.backfill
        assert backfill is not None  # noqa: S101 -- what backfilled means
        span = f"{backfill.start:%Y-%m-%d %H:%M} .. {backfill.end:%Y-%m-%d %H:%M} UTC"
        if backfill.whole:
            what = (
                f"read again whole from {backfill.start:%Y-%m-%d %H:%M} UTC "
                "(a snapshot)"
            )
        else:
            what = f"{span}{' (resumed)' if backfill.resumed else ''}"
        lines.append(
            f"  backfilled {stream.stream}: {what}, {backfill.read:,} read, "
            f"{backfill.inserted:,} new"
        )
        if backfill.warning:
            lines.append(f"    warning: {backfill.warning}")
        if backfill.error:
            lines.append(f"    stopped: {backfill.error}")
    return lines


@click.command("sync")
@click.argument("names", nargs=-1)
@click.option(
    "--since",
    type=DATETIME,
    help=f"Start of streams never synced (default: {DEFAULT_SINCE}). "
    "A stream with a checkpoint resumes from it whatever --since says; "
    "given, and earlier than what a stream has covered, it also backfills "
    "the older range, once. 'aiaudit checkpoints reset' makes a stream start "
    "at --since again.",
)
@click.option(
    "--until",
    type=UNTIL,
    help="End of the range (default: now; a future one is clamped to now); "
    "a date alone means the end of that day (UTC).",
)
@click.option(
    "--wait", is_flag=True, help="Wait for another process syncing the same connection."
)
@json_option
@store_option
@range_checked
@pass_context
def sync_command(
    ctx: Context,
    *,
    names: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    wait: bool,
    as_json: bool,
) -> None:
    """Pull new events of connections into the store.

    NAMES are saved connections, or platforms (their environment variables);
    all saved connections by default. Each stream resumes from its last
    checkpoint, however long ago (the gap is read whole); running it again
    with nothing new writes nothing. A --since earlier than what a stream
    has covered backfills the older range first; the summary says so.
    """
    reports = []
    for connection in _targets(ctx, names):
        progress = _ProgressLine()
        try:
            report = asyncio.run(
                _sync(
                    ctx,
                    connection,
                    since=since,
                    until=until,
                    wait=wait,
                    progress=progress,
                )
            )
        finally:
            progress.done()
        reports.append(report)
        if not as_json:
            click.echo(_summary(report))
    if as_json:
        emit_json([r.as_dict() for r in reports])
    if not all(r.ok for r in reports):
        sys.exit(1)


async def _sync(
    ctx: Context,
    connection: SavedConnection,
    *,
    since: datetime | None,
    until: datetime | None,
    wait: bool,
    progress: _ProgressLine,
) -> SyncReport:
    async with ctx.connector_for(connection) as connector:
        return await sync_connection(
            connector,
            ctx.store,
            connection=connection.name,
            since=since,
            until=until,
            wait=wait,
            progress=progress,
        )
