"""The ``aiaudit`` command line.

The CLI is the one place that configures logging: library code only emits
structlog events. Every command answers a failure with one line on stderr
and a non-zero exit; ``--debug`` adds the traceback and debug-level events.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click
import orjson
import structlog

from connector_core.exceptions import ConnectorError
from connector_core.registry import Registry


if TYPE_CHECKING:
    from collections.abc import Sequence

    from connector_core.registry import PluginInfo


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

    _add_plugin_commands(registry, cli)
    return cli


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
