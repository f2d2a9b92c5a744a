"""The ``aiaudit`` command line.

The CLI is the one place that configures logging: library code only emits
structlog events. Every command answers a failure with one line on stderr
and a non-zero exit; ``--debug`` adds the traceback and debug-level events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click
import orjson
import structlog

from connector_core.exceptions import ConfigurationError, ConnectorError
from connector_core.registry import Registry
from connector_core.sandbox import SandboxOptions


if TYPE_CHECKING:
    from collections.abc import Sequence

    from connector_core.registry import PluginInfo
    from connector_core.sandbox import SandboxProvider


__all__ = ["build_cli", "main"]


def configure_logging(*, debug: bool) -> None:
    """Send structlog events to stderr, warnings and up unless *debug*."""
    level = logging.DEBUG if debug else logging.WARNING
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


class _Context:
    """What every command receives: the loaded registry and the flags."""

    def __init__(self, registry: Registry, *, debug: bool) -> None:
        self.registry = registry
        self.debug = debug


def _fail(message: str, *, debug: bool) -> NoReturn:
    if debug:
        raise  # noqa: PLE0704 - re-raise the exception being handled, with traceback
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _dump_json(data: Any) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def _plugin_json(info: PluginInfo) -> dict[str, Any]:
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
            }
            for c in info.connectors
        ],
        "error": info.error,
    }


def _plugins_table(plugins: Sequence[PluginInfo]) -> str:
    if not plugins:
        return "No plugins installed."
    lines = []
    for info in plugins:
        version = f" {info.version}" if info.version else ""
        platforms = ", ".join(c.platform for c in info.connectors) or "-"
        lines.append(f"{info.name}{version}  [{info.status}]  platforms: {platforms}")
        if info.error:
            lines.append(f"    error: {info.error}")
        lines.extend(
            f"    {connector.platform}: {connector.display_name} "
            f"({', '.join(connector.operations)})"
            for connector in info.connectors
        )
    return "\n".join(lines)


def build_cli(registry: Registry) -> click.Group:
    """Build the command group, with the commands plugins contribute."""

    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("--debug", is_flag=True, help="Show debug events and tracebacks.")
    @click.version_option(package_name="aiaudit", prog_name="aiaudit")
    @click.pass_context
    def cli(ctx: click.Context, debug: bool) -> None:
        """See who in your company uses which AI platform, and how."""
        configure_logging(debug=debug)
        ctx.obj = _Context(registry, debug=debug)

    @cli.command("plugins")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
    @click.pass_obj
    def plugins_command(obj: _Context, as_json: bool) -> None:
        """List the installed plugins, the platforms and hooks they provide.

        A plugin that failed to load is listed with its error; the command
        still succeeds, so one broken plugin never hides the others.
        """
        plugins = obj.registry.plugins
        if as_json:
            _dump_json([_plugin_json(info) for info in plugins])
        else:
            click.echo(_plugins_table(plugins))

    @cli.command("sandbox")
    @click.argument("platform", required=False)
    @click.option(
        "--host", default="127.0.0.1", show_default=True, help="Address to bind."
    )
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
        "--ground-truth",
        type=click.Path(file_okay=False, writable=True),
        help="Write every served record into this folder.",
    )
    @click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print the sandbox description as one JSON line.",
    )
    @click.pass_obj
    def sandbox_command(
        obj: _Context,
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
        ground_truth: str | None,
        as_json: bool,
    ) -> None:
        """Serve a platform's sandbox API on loopback until interrupted.

        Prints the base URLs and the keys to use; point a connector (or the
        platform's official SDK) at them.
        """
        registry = obj.registry
        platform = platform or _only_sandbox_platform(registry)
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
        )
        try:
            asyncio.run(_serve(provider, options, as_json=as_json))
        except KeyboardInterrupt:
            click.echo("sandbox stopped", err=True)

    _add_plugin_commands(registry, cli)
    return cli


def _only_sandbox_platform(registry: Registry) -> str:
    with_sandbox = [p for p in registry.platforms if registry.sandbox(p) is not None]
    if len(with_sandbox) == 1:
        return with_sandbox[0]
    raise ConfigurationError(
        "name the platform to serve: "
        + (", ".join(with_sandbox) or "no installed plugin ships a sandbox")
    )


async def _serve(
    provider: SandboxProvider, options: SandboxOptions, *, as_json: bool
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        try:
            running = await stack.enter_async_context(provider.start(options))
        except ValueError as exc:
            # The plugin refuses an option (an unknown fault profile, say).
            raise ConfigurationError(str(exc)) from exc
        if as_json:
            description = {
                "platform": running.platform,
                "urls": dict(running.urls),
                "config": dict(running.config),
                "details": dict(running.details),
            }
            click.echo(orjson.dumps(description, default=str).decode())
        else:
            click.echo(f"{running.platform} sandbox (seed {options.seed})")
            for name, url in running.urls.items():
                click.echo(f"  {name}: {url}")
            click.echo("connector configuration:")
            for key, value in running.config.items():
                click.echo(f"  {key}: {value}")
            click.echo("Press Ctrl-C to stop.")
        sys.stdout.flush()
        await asyncio.Event().wait()


def _add_plugin_commands(registry: Registry, cli: click.Group) -> None:
    for impl in registry.pm.hook.aiaudit_register_commands.get_hookimpls():
        try:
            impl.function(*({"cli": cli}[arg] for arg in impl.argnames))
        except Exception as exc:  # noqa: BLE001 - a plugin's commands must not break the CLI
            structlog.get_logger(__name__).warning(
                "plugin.commands_failed", plugin=impl.plugin_name, error=str(exc)
            )


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``aiaudit`` console script."""
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    configure_logging(debug=debug)
    registry = Registry.load()
    cli = build_cli(registry)
    try:
        cli.main(args=argv, prog_name="aiaudit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConnectorError as exc:
        _fail(str(exc), debug=debug)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
