"""What every ``aiaudit`` command shares: context, options, output, errors."""

from __future__ import annotations

import logging
import os
import re
import sys
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import click
import orjson
import structlog

from connector_core.connections import (
    connection_from_environment,
    resolve_config,
)
from connector_core.exceptions import ConfigurationError


if TYPE_CHECKING:
    from collections.abc import Mapping

    from connector_core.connector import Connector
    from connector_core.registry import Registry
    from connector_core.store.base import SavedConnection, Store


__all__ = [
    "DATETIME",
    "STORE_ENV",
    "Context",
    "configure_logging",
    "emit_json",
    "json_option",
    "pass_context",
    "resolve_store_url",
]

STORE_ENV: Final = "AIAUDIT_STORE"
"""The store URL, when ``--store`` is not given; ``DATABASE_URL`` also works."""

_PASSWORD_IN_OPTION: Final = (
    "--store must not hold a password (any local user can read a command "
    f"line): set the URL in {STORE_ENV} or DATABASE_URL instead, or leave "
    "the password out and use PGPASSWORD or a libpq passfile= parameter"
)


class _OneLineUsageError(click.ClickException):
    """A usage error shown as one line (click's ``UsageError`` adds the
    usage text)."""

    exit_code = 2


def resolve_store_url(option: str | None, environ: Mapping[str, str]) -> str | None:
    """The store URL: ``--store`` (*option*), else ``AIAUDIT_STORE``, else
    ``DATABASE_URL``, else ``None`` (the default store).

    Raises:
        click.ClickException: A usage error (exit status 2) of one line,
            without click's usage text: *option* holds a password (as
            ``USER:PASSWORD@``, ``password=`` or ``sslpassword=``), which
            ``ps`` shows every local user; the message never repeats it.
            The variables may hold one: only the process's owner can read
            its environment.
    """
    if option is not None:
        from connector_core.store._schema import url_passwords  # noqa: PLC0415 - lazy

        if url_passwords(option):
            raise _OneLineUsageError(_PASSWORD_IN_OPTION)
        return option
    return environ.get(STORE_ENV) or environ.get("DATABASE_URL")


_RELATIVE = re.compile(r"^(\d+)([mhdw])$")
_UNITS: Final = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def configure_logging(*, debug: bool, verbose: bool = False) -> None:
    """Send structlog events to stderr: errors only by default (a failure is
    one clear line), warnings such as retries with ``--verbose``, everything
    with ``--debug``. Library code never does this; the application does."""
    level = logging.DEBUG if debug else logging.WARNING if verbose else logging.ERROR
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


if TYPE_CHECKING:
    _ParamType = click.ParamType[datetime, Any]
else:  # older click releases' ParamType is not generic at run time
    _ParamType = click.ParamType


class _DateTime(_ParamType):
    """A moment: ``2025-01-31``, an ISO time (UTC unless it says), or a
    time ago: ``30d``, ``12h``, ``90m``, ``2w``."""

    name = "datetime"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        relative = _RELATIVE.match(text)
        if relative:
            amount, unit = int(relative.group(1)), _UNITS[relative.group(2)]
            return datetime.now(UTC) - timedelta(**{unit: amount})
        try:
            if len(text) == len("2025-01-31"):
                day = date.fromisoformat(text)
                return datetime(day.year, day.month, day.day, tzinfo=UTC)
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(
                f"{text!r} is not a date (2025-01-31), an ISO time "
                "(2025-01-31T12:00:00Z) or a time ago (30d, 12h)",
                param,
                ctx,
            )
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


DATETIME = _DateTime()


def emit_json(data: Any) -> None:
    """Print *data* as indented JSON on stdout."""
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode())


def json_option(function: Any) -> Any:
    """The ``--json`` flag every command has."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print JSON for machines."
    )(function)


class Context:
    """What every command receives: the registry, the flags, the store.

    The store is opened on first use, so commands that need none (plugins,
    sandbox) work without a writable data directory.
    """

    def __init__(
        self, registry: Registry, *, debug: bool, store_url: str | None
    ) -> None:
        self.registry = registry
        self.debug = debug
        self.store_url = store_url
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        """The store, open for reading and writing."""
        return self.open_store()

    def open_store(self, *, read_only: bool = False) -> Store:
        """The store, opened on first use.

        Commands that only read pass *read_only*: then a store the user may
        not write (a file 0400, a read-only database role) can still be
        read, and nothing is created or migrated. A store opened for writing
        serves reads too; one opened read-only is reopened for a write.
        """
        if self._store is not None and (read_only or not self._store.read_only):
            return self._store
        from connector_core.store import open_store  # noqa: PLC0415 - lazy

        self.close()
        self._store = open_store(self.store_url, read_only=read_only)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def saved_or_environment(self, name: str) -> SavedConnection:
        """The saved connection *name*, or, when *name* is a platform with
        nothing saved under it, the one its environment variables describe
        (saved now, secrets as references)."""
        saved = self.store.get_connection(name)
        if saved is not None:
            return saved
        if name in self.registry.platforms:
            spec = self.registry.spec(name)
            connection = connection_from_environment(spec, name, os.environ)
            self.store.add_connection(connection)
            return connection
        known = ", ".join(c.name for c in self.store.list_connections()) or "none"
        raise ConfigurationError(
            f"no connection named {name!r} (saved: {known}); add one with "
            "'aiaudit connections add', or name a platform to use its "
            "environment variables"
        )

    def connector_for(self, connection: SavedConnection) -> Connector:
        spec = self.registry.spec(connection.platform)
        config = resolve_config(spec, connection, os.environ)
        return self.registry.create(connection.platform, config, name=connection.name)


pass_context = click.make_pass_decorator(Context)
