"""What every ``aiaudit`` command shares: context, options, output, errors."""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Final

import click
import orjson
import structlog

from connector_core.connections import (
    connection_from_environment,
    resolve_config,
)
from connector_core.exceptions import (
    ConfigurationError,
    ConnectionBusyError,
    ParameterError,
    StoreError,
)
from connector_core.sync import DEFAULT_HISTORY


if TYPE_CHECKING:
    from collections.abc import Mapping

    from connector_core.connector import Connector
    from connector_core.registry import Registry
    from connector_core.store.base import SavedConnection, Store


__all__ = [
    "DATETIME",
    "DEFAULT_SINCE",
    "FLAGS",
    "STORE_ENV",
    "STORE_HELP",
    "UNTIL",
    "ZONE",
    "Context",
    "check_range",
    "configure_logging",
    "emit_json",
    "error_message",
    "json_option",
    "pass_context",
    "range_checked",
    "resolve_store_url",
    "store_option",
]

STORE_ENV: Final = "AIAUDIT_STORE"
"""The store URL, when ``--store`` is not given; ``DATABASE_URL`` also works."""

STORE_HELP: Final = (
    f"sqlite:///path or postgresql://... (default: ${STORE_ENV}, "
    "$DATABASE_URL, else a SQLite file in your data folder)."
)

FLAGS: Final = {
    "since": "--since",
    "until": "--until",
    "options": "--option",
    "secrets": "--secret",
    "wait": "--wait",
}
"""The flag each library parameter is given with, for the library's
messages that name a parameter: a host reads ``since``, the command line
``--since``."""

DEFAULT_SINCE: Final = f"{DEFAULT_HISTORY.days} days before --until"
"""Where a range starts when ``--since`` is not given, for the help
(:data:`~connector_core.sync.DEFAULT_HISTORY`, the one default window)."""


def error_message(exc: BaseException) -> str:
    """*exc*'s message as the command line says it: a parameter a library
    error names is called by its flag (``since`` is ``--since``)."""
    if isinstance(exc, ParameterError | ConnectionBusyError):
        return exc.worded(FLAGS)
    return str(exc)


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
        from connector_core.store._urls import url_passwords  # noqa: PLC0415 - lazy

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
    _ZoneParam = click.ParamType[tzinfo, Any]
else:  # older click releases' ParamType is not generic at run time
    _ParamType = _ZoneParam = click.ParamType


class _Zone(_ZoneParam):
    """A time zone: ``UTC``, an IANA name (``Europe/Berlin``), or
    ``local``, this machine's own."""

    name = "zone"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tzinfo:
        if isinstance(value, tzinfo):
            return value
        text = str(value).strip()
        if text.upper() == "UTC":
            return UTC
        if text.lower() == "local":
            local = datetime.now().astimezone().tzinfo
            return local or UTC
        try:
            return zoneinfo.ZoneInfo(text)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.fail(
                f"{text!r} is not a time zone: give UTC, local, or an IANA name "
                "such as Europe/Berlin",
                param,
                ctx,
            )


ZONE = _Zone()
"""A time zone option's type."""


class _DateTime(_ParamType):
    """A moment: ``2025-01-31``, an ISO time (UTC unless it says), or a
    time ago: ``30d``, ``12h``, ``90m``, ``2w``; returned in UTC.

    A date alone is the start of that day (UTC), or, for the end of a range
    (*end_of_day*), its end: ``--since D --until D`` is the whole day D, as
    a person means it. The end is the day's last microsecond, the finest
    moment an event has, since every range's end is inclusive; so an event
    at the next midnight is not in it.

    Only moments from :data:`EARLIEST` on are accepted: an audit event has
    none before 1970, and the default range of days before a moment then
    stays inside the calendar. A moment past year 9999 once in UTC (a time
    zone behind UTC on the last day), a time ago before year 1 or a number
    too large for a time span is a usage error too, never a traceback.
    """

    name = "datetime"

    def __init__(self, *, end_of_day: bool = False) -> None:
        self.end_of_day = end_of_day

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            moment = _parse_moment(text, end_of_day=self.end_of_day)
        except ValueError:
            self.fail(
                f"{text!r} is not a date (2025-01-31), an ISO time "
                "(2025-01-31T12:00:00Z) or a time ago (30d, 12h)",
                param,
                ctx,
            )
        except OverflowError:
            moment = None
        if moment is None or moment < EARLIEST:
            self.fail(
                f"{text!r} is out of range: give a moment between "
                f"{EARLIEST:%Y-%m-%d} and 9999-12-31 (UTC)",
                param,
                ctx,
            )
        return moment


def _parse_moment(text: str, *, end_of_day: bool = False) -> datetime:
    """*text* as an aware UTC moment; a date alone is the first moment of
    that day, or with *end_of_day* its last.

    Raises:
        ValueError: It is not a date, an ISO time or a time ago.
        OverflowError: It is one, outside the calendar once in UTC.
    """
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = int(relative.group(1)), _UNITS[relative.group(2)]
        # timedelta itself refuses more than 999,999,999 days.
        return datetime.now(UTC) - timedelta(**{unit: amount})
    try:
        # Any date ISO 8601 writes (2025-01-31, 20250131, 2025-W05-5).
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime.combine(day, time.max if end_of_day else time.min, UTC)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
"""The earliest moment a date option accepts."""

DATETIME = _DateTime()
"""A moment; a date alone is the start of its day."""

UNTIL = _DateTime(end_of_day=True)
"""The end of a range; a date alone is the end of its day."""


def check_range(
    since: datetime | None, until: datetime | None, *, until_is_now: bool = False
) -> None:
    """Refuse a range that ends before it starts; *until_is_now* when the
    command put the present there for want of an ``--until``.

    Raises:
        click.ClickException: A usage error (exit status 2) of one line.
    """
    if since is not None and until is not None and since > until:
        end = "now" if until_is_now else "--until"
        raise _OneLineUsageError(
            f"--since ({_shown(since)}) is after {end} ({_shown(until)}): "
            "give the earlier moment to --since"
        )


def _shown(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def range_checked(function: Any) -> Any:
    """Refuse an inverted ``--since``/``--until`` before the command runs.

    For commands that pass both on as they are: the check happens before
    anything is read or fetched, as a usage error, whatever the command
    does with the range afterwards.
    """

    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        check_range(kwargs.get("since"), kwargs.get("until"))
        return function(*args, **kwargs)

    return checked


def emit_json(data: Any) -> None:
    """Print *data* as indented JSON on stdout."""
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode())


def json_option(function: Any) -> Any:
    """The ``--json`` flag every command has."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print JSON for machines."
    )(function)


def _take_store(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    url = resolve_store_url(value, {})  # refuses a password, as before the command
    context = ctx.find_object(Context)
    if context is not None:
        context.use_store(url)


def store_option(function: Any) -> Any:
    """``--store`` after the command's name, as before it: the same option.

    Given after, it wins over one given before: the last word on a command
    line is what a person edits. The command receives nothing; the context
    holds the URL.
    """
    return click.option(
        "--store",
        metavar="URL",
        expose_value=False,
        callback=_take_store,
        help=STORE_HELP,
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

    def store_exists(self) -> bool:
        """Whether the store can be opened for reading as it is: false for
        a SQLite file nothing was synced to yet."""
        try:
            self.open_store(read_only=True)
        except StoreError:
            return False
        return True

    def use_store(self, url: str | None) -> None:
        """Use the store at *url* from now on (``--store`` after a command)."""
        self.close()
        self.store_url = url

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def no_such_connection(self, name: str, hint: str = "") -> ConfigurationError:
        """The error of a connection name the store does not know, with the
        names it does (*hint* says what to do instead)."""
        # Read-only: the store open already serves, or one that exists.
        store = self.open_store(read_only=True)
        known = ", ".join(c.name for c in store.list_connections())
        return ConfigurationError(
            f"no connection named {name!r} (saved: {known or 'none'})"
            + (f"; {hint}" if hint else "")
        )

    def saved_or_environment(self, name: str, *, save: bool = True) -> SavedConnection:
        """The saved connection *name*, or, when *name* is a platform with
        nothing saved under it, the one its environment variables describe
        (saved now, secrets as references, under the platform's
        ``default_connection`` name).

        With *save* false the store is only read, and not even that when
        there is none yet: a command that only looks (``check``) must
        leave the store as it found it, or a later sync of another name for
        the same organization would store its history twice.
        """
        if save:
            saved = self.store.get_connection(name)
        elif name in self.registry.platforms and not self.store_exists():
            saved = None  # nothing saved anywhere yet: the environment it is
        else:
            # A store that is not there says so, naming where it looked.
            saved = self.open_store(read_only=True).get_connection(name)
        if saved is not None:
            return saved
        if name in self.registry.platforms:
            spec = self.registry.spec(name)
            connection = connection_from_environment(spec, None, os.environ)
            if not save:
                return connection
            # Atomic create-if-absent: syncs started at once for a platform
            # never saved all save it, and all get the one saved.
            return self.store.ensure_connection(connection)
        raise self.no_such_connection(
            name,
            "add one with 'aiaudit connections add', or name a platform to "
            "use its environment variables",
        )

    def connector_for(self, connection: SavedConnection) -> Connector:
        spec = self.registry.spec(connection.platform)
        config = resolve_config(spec, connection, os.environ)
        return self.registry.create(connection.platform, config, name=connection.name)


pass_context = click.make_pass_decorator(Context)
