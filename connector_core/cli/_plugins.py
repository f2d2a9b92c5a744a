"""``aiaudit plugins`` and ``aiaudit sandbox``."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import sys
from typing import TYPE_CHECKING, Any

import click
import orjson

from connector_core.cli._common import Context, emit_json, json_option, pass_context
from connector_core.connections import environment_of
from connector_core.exceptions import ConfigurationError, ConnectorError
from connector_core.sandbox import SandboxOptions, check_milliseconds
from connector_core.secrets import Secret


if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from connector_core.connector import ConnectorSpec
    from connector_core.registry import PluginInfo, Registry
    from connector_core.sandbox import SandboxProvider


def sandbox_label(registry: Registry, platform: str) -> str | None:
    """The sandbox provider of *platform* by its class, ``None`` for none,
    or why it cannot be had: a listing shows a broken sandbox, it does not
    fail over it."""
    try:
        provider = registry.sandbox(platform)
    except ConnectorError as exc:
        return f"error: {exc}"
    if provider is None:
        return None
    kind = type(provider)
    return f"{kind.__module__}.{kind.__qualname__}"


def plugin_json(
    info: PluginInfo, sandboxes: Mapping[str, str | None] | None = None
) -> dict[str, Any]:
    """A plugin as ``aiaudit plugins --json`` lists it."""
    sandboxes = sandboxes or {}
    return {
        "name": info.name,
        "status": info.status,
        "module": info.module,
        "distribution": info.distribution,
        "version": info.version,
        "hooks": list(info.hooks),
        "connectors": [
            {
                "platform": c.platform,
                "display_name": c.display_name,
                "class": c.connector_class,
                "hooks": list(c.operations),
                "secret_fields": list(c.secret_fields),
                "sandbox": sandboxes.get(c.platform),
            }
            for c in info.connectors
        ],
        "error": info.error,
    }


def _plugins_table(
    plugins: Sequence[PluginInfo], sandboxes: Mapping[str, str | None]
) -> str:
    if not plugins:
        return "No plugins installed."
    lines = []
    for info in plugins:
        version = f" {info.version}" if info.version else ""
        platforms = ", ".join(c.platform for c in info.connectors) or "-"
        lines.append(f"{info.name}{version}  [{info.status}]  platforms: {platforms}")
        if info.error:
            lines.append(f"    error: {info.error}")
        for connector in info.connectors:
            lines.append(
                f"    {connector.platform}: {connector.display_name} "
                f"({', '.join(connector.operations)})"
            )
            sandbox = sandboxes.get(connector.platform) or "none"
            lines.append(f"      sandbox: {sandbox}")
    return "\n".join(lines)


@click.command("plugins")
@json_option
@pass_context
def plugins_command(ctx: Context, *, as_json: bool) -> None:
    """List the installed plugins, the platforms, hooks and sandboxes they
    provide.

    A plugin that failed to load is listed with its error; the command
    still succeeds, so one broken plugin never hides the others.
    """
    registry = ctx.registry
    plugins = registry.plugins
    sandboxes = {
        platform: sandbox_label(registry, platform) for platform in registry.platforms
    }
    if as_json:
        emit_json([plugin_json(info, sandboxes) for info in plugins])
    else:
        click.echo(_plugins_table(plugins, sandboxes))


def only_sandbox_platform(registry: Registry) -> str:
    """The one platform with a sandbox, when there is exactly one."""
    with_sandbox = [p for p in registry.platforms if registry.sandbox(p) is not None]
    if len(with_sandbox) == 1:
        return with_sandbox[0]
    raise ConfigurationError(
        "name the platform to serve: "
        + (", ".join(with_sandbox) or "no installed plugin ships a sandbox")
    )


def sandbox_platforms(
    registry: Registry, names: Sequence[str] = ()
) -> list[tuple[str, SandboxProvider]]:
    """The platforms *names* (each once), or every one with a sandbox, and
    their sandboxes.

    Raises:
        ConfigurationError: A platform named is unknown or ships no
            sandbox, or none is named and no plugin ships one.
    """
    if not names:
        every = [
            (platform, provider)
            for platform in registry.platforms
            if (provider := registry.sandbox(platform)) is not None
        ]
        if not every:
            raise ConfigurationError("no installed plugin ships a sandbox")
        return every
    chosen = []
    for platform in dict.fromkeys(names):
        provider = registry.sandbox(platform)
        if provider is None:
            raise ConfigurationError(f"the {platform} plugin ships no sandbox")
        chosen.append((platform, provider))
    return chosen


def _milliseconds_option(
    _: click.Context, param: click.Parameter, value: float
) -> float:
    """Refuse a delay with no meaning (negative, infinite, NaN) as a usage
    error; ``click.FloatRange`` lets NaN and infinity through."""
    try:
        return check_milliseconds("the value", value)
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("sandbox")
@click.argument("platform", required=False)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    help="API port (0: any free port).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Same seed, same data."
)
@click.option(
    "--events",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Audit events to generate.",
)
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    help="Days of history.",
)
@click.option(
    "--faults",
    metavar="PROFILE",
    help="A fault profile (the plugin documents its names).",
)
@click.option(
    "--fault-rate",
    type=click.FloatRange(0.0, 1.0),
    default=0.1,
    show_default=True,
    help="Share of requests a fault profile disturbs.",
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=0.0, min_open=True),
    help="Requests per second per key before 429.",
)
@click.option(
    "--latency",
    type=float,
    default=0.0,
    callback=_milliseconds_option,
    metavar="MS",
    help="Milliseconds added before every request is answered.",
)
@click.option(
    "--jitter",
    type=float,
    default=0.0,
    callback=_milliseconds_option,
    metavar="MS",
    help="Up to this many milliseconds more per request, seeded by --seed.",
)
@click.option(
    "--ground-truth",
    type=click.Path(file_okay=False, writable=True),
    help="Write every served record into this folder.",
)
@json_option
@pass_context
def sandbox_command(
    ctx: Context,
    *,
    platform: str | None,
    host: str,
    port: int,
    seed: int,
    events: int,
    days: int,
    faults: str | None,
    fault_rate: float,
    rate_limit: float | None,
    latency: float,
    jitter: float,
    ground_truth: str | None,
    as_json: bool,
) -> None:
    """Serve a platform's sandbox API on loopback until interrupted.

    Prints the base URLs and the keys to use, and the same as environment
    variables (export lines to paste into another shell, where 'aiaudit
    sync PLATFORM' then reads the sandbox); point a connector, or the
    platform's official SDK, at them.
    """
    registry = ctx.registry
    platform = platform or only_sandbox_platform(registry)
    provider = registry.sandbox(platform)
    if provider is None:
        raise ConfigurationError(f"the {platform} plugin ships no sandbox")
    options = SandboxOptions(
        seed=seed,
        events=events,
        days=days,
        faults=faults,
        fault_rate=fault_rate if faults else 0.0,
        rate_limit=rate_limit,
        host=host,
        port=port,
        ground_truth_dir=ground_truth,
        latency_ms=latency,
        jitter_ms=jitter,
    )
    try:
        asyncio.run(_serve(registry.spec(platform), provider, options, as_json=as_json))
    except KeyboardInterrupt:
        click.echo("sandbox stopped", err=True)


def sandbox_environment(
    spec: ConnectorSpec, config: Mapping[str, Any]
) -> dict[str, str]:
    """The environment variables that configure a connector as *config*
    does: what a person pastes into another shell to use a sandbox.

    Each field is named by the first variable the plugin's configuration
    class reads it from (its ``environment`` declaration); a field it reads
    from none is left out, as is a class that reads no environment.
    """
    try:
        declared = environment_of(spec)
    except ConfigurationError:
        return {}
    environment = {}
    for field, value in config.items():
        variables = declared.get(field)
        if variables and value is not None:
            text = value.reveal() if isinstance(value, Secret) else str(value)
            environment[variables[0]] = text
    return environment


async def _serve(
    spec: ConnectorSpec,
    provider: SandboxProvider,
    options: SandboxOptions,
    *,
    as_json: bool,
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        try:
            running = await stack.enter_async_context(provider.start(options))
        except ValueError as exc:
            # The plugin refuses an option (an unknown fault profile, say).
            raise ConfigurationError(str(exc)) from exc
        environment = sandbox_environment(spec, running.config)
        if as_json:
            description = {
                "platform": running.platform,
                "urls": dict(running.urls),
                "config": dict(running.config),
                "environment": environment,
                "latency": {
                    "latency_ms": options.latency_ms,
                    "jitter_ms": options.jitter_ms,
                },
                "details": dict(running.details),
            }
            click.echo(orjson.dumps(description, default=str).decode())
        else:
            click.echo(f"{running.platform} sandbox (seed {options.seed})")
            for name, url in running.urls.items():
                click.echo(f"  {name}: {url}")
            if options.latency_ms or options.jitter_ms:
                click.echo(
                    f"latency: {options.latency_ms:g} ms per request"
                    f" (+ up to {options.jitter_ms:g} ms jitter)"
                )
            click.echo("connector configuration:")
            for key, value in running.config.items():
                click.echo(f"  {key}: {value}")
            if environment:
                click.echo(
                    f"to use it from another shell ('aiaudit sync {running.platform}'),"
                    " paste:"
                )
                for name, value in environment.items():
                    click.echo(f"export {name}={shlex.quote(value)}")
            click.echo("Press Ctrl-C to stop.")
        sys.stdout.flush()
        await asyncio.Event().wait()
