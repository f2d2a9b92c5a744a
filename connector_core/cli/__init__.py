"""The ``aiaudit`` command line.

The CLI is the one place that configures logging: library code only emits
structlog events. Every command answers a failure with one line on stderr
and a non-zero exit; ``--debug`` adds the traceback and debug-level events.
Every command has ``--json`` for machines.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click
import structlog

from connector_core.cli._common import (
    STORE_HELP,
    Context,
    configure_logging,
    error_message,
    resolve_store_url,
)
from connector_core.cli._demo import demo_command
from connector_core.cli._plugins import plugins_command, sandbox_command
from connector_core.cli._reading import logs_command, usage_command
from connector_core.cli._risks import risks_command
from connector_core.cli._syncing import (
    check_command,
    checkpoints_group,
    connections_group,
    sync_command,
)
from connector_core.exceptions import ConnectorError, redact
from connector_core.registry import Registry


if TYPE_CHECKING:
    from collections.abc import Sequence


__all__ = ["build_cli", "configure_logging", "main"]


def build_cli(registry: Registry) -> click.Group:
    """Build the command group, with the commands plugins contribute."""

    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("--debug", is_flag=True, help="Show debug events and tracebacks.")
    @click.option(
        "-v", "--verbose", is_flag=True, help="Show warnings (retries, quarantines)."
    )
    @click.option(
        "--store",
        "store_url",
        metavar="URL",
        help=STORE_HELP + " Also accepted after the command.",
    )
    @click.version_option(package_name="aiaudit", prog_name="aiaudit")
    @click.pass_context
    def cli(
        ctx: click.Context, *, debug: bool, verbose: bool, store_url: str | None
    ) -> None:
        """See who in your company uses which AI platform, and how."""
        configure_logging(debug=debug, verbose=verbose)
        url = resolve_store_url(store_url, os.environ)
        ctx.obj = Context(registry, debug=debug, store_url=url)
        ctx.call_on_close(ctx.obj.close)

    for command in (
        plugins_command,
        connections_group,
        check_command,
        sync_command,
        checkpoints_group,
        logs_command,
        usage_command,
        risks_command,
        sandbox_command,
        demo_command,
    ):
        cli.add_command(command)
    _add_plugin_commands(registry, cli)
    return cli


def _add_plugin_commands(registry: Registry, cli: click.Group) -> None:
    for impl in registry.pm.hook.aiaudit_register_commands.get_hookimpls():
        try:
            registry.call_impl("aiaudit_register_commands", impl, {"cli": cli})
        except Exception as exc:  # noqa: BLE001 - a plugin's commands must not break the CLI
            structlog.get_logger(__name__).warning(
                "plugin.commands_failed", plugin=impl.plugin_name, error=str(exc)
            )


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``aiaudit`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    configure_logging(debug=debug)
    registry = Registry.load()
    cli = build_cli(registry)
    try:
        cli.main(args=args, prog_name="aiaudit", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        # click turns Ctrl-C into Abort. Every batch is its own transaction,
        # so nothing partial was committed and a rerun resumes.
        click.echo(
            "interrupted: what was committed stays; run the same command to resume",
            err=True,
        )
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except (ConnectorError, OSError) as exc:
        if debug:
            raise
        # Connector errors are redacted where raised; a store URL's password
        # could still ride along in an OS error, so mask what we can see.
        message = redact(error_message(exc), [os.environ.get("DATABASE_URL")])
        click.echo(f"error: {message}", err=True)
        sys.exit(1)
