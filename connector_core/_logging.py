"""Logging for library code: silent until the host application turns it on.

aiaudit is embedded in host applications, and a library must not decide
where its host's output goes. structlog's unconfigured defaults print every
event, debug included, on standard output; a host that never asked for
logs would find them mixed into its own output. So library code (the core
and every plugin) creates its loggers with :func:`get_logger`, which picks
the destination of each event at the moment it is logged:

* When the application configured structlog (``structlog.configure``, as
  the ``aiaudit`` command does), the event goes through its pipeline, with
  its bound fields, exactly as a ``structlog.get_logger`` logger would.
* Otherwise it goes to the standard library logger of the module
  (``connector_core.http``, ``aiaudit_chatgpt.connector``...), at the same
  level: nothing is shown below WARNING unless the host configured
  ``logging``, and a warning with no configuration at all reaches stderr
  through Python's last-resort handler, as any library's would.

Deciding per event, not when the logger is made, matters twice: loggers are
created at import and bound when a connector is built, usually before the
host configures anything; and structlog freezes a bound logger's
configuration when it binds, so a host configuring structlog later would
otherwise not be heard.

In the standard library form the message is the event followed by its
fields as ``key=repr(value)`` (``repr`` escapes line breaks a server's error
text may carry, so one event stays one line), and every field is also an
attribute of the record (``record.event``, ``record.status``...) for
formatters that emit structured output; a field named like a built-in
record attribute (``name``, ``msg``...) stays in the message only.

Values are logged as given: code that logs server text or URLs redacts
them first (see :func:`connector_core.exceptions.redact`).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Final

import structlog


__all__ = ["LibraryLogger", "get_logger"]

_RESERVED: Final = frozenset(
    vars(logging.LogRecord("", logging.DEBUG, "", 0, "", (), None))
) | {"message", "asctime"}
"""Record attributes an ``extra`` field may not overwrite (makeRecord
refuses them)."""


def get_logger(name: str) -> LibraryLogger:
    """The logger library code uses for module *name* (pass ``__name__``)."""
    return LibraryLogger(name)


class LibraryLogger:
    """A structlog-style logger (``log.info("event", key=value)``, ``bind``)
    that defers to structlog when the application configured it and to the
    standard library otherwise."""

    __slots__ = ("_context", "_name", "_stdlib", "_structlog")

    def __init__(
        self,
        name: str,
        context: dict[str, Any] | None = None,
        *,
        _stdlib: logging.Logger | None = None,
        _structlog: Any = None,
    ) -> None:
        self._name = name
        self._context: dict[str, Any] = context or {}
        self._stdlib = logging.getLogger(name) if _stdlib is None else _stdlib
        # A lazy proxy: it reads structlog's configuration when it is used.
        self._structlog = (
            structlog.get_logger(name) if _structlog is None else _structlog
        )

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<LibraryLogger {self._name!r} context={sorted(self._context)}>"

    def bind(self, **fields: Any) -> LibraryLogger:
        """A logger that adds *fields* to every event it logs."""
        return LibraryLogger(
            self._name,
            {**self._context, **fields},
            _stdlib=self._stdlib,
            _structlog=self._structlog,
        )

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, "debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, "info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, "warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, "error", event, fields)

    def critical(self, event: str, **fields: Any) -> None:
        self._log(logging.CRITICAL, "critical", event, fields)

    def _log(self, level: int, method: str, event: str, fields: dict[str, Any]) -> None:
        if structlog.is_configured():
            getattr(self._structlog, method)(event, **{**self._context, **fields})
            return
        stdlib = self._stdlib
        if not stdlib.isEnabledFor(level):
            return  # before any rendering: debug calls sit on hot paths
        values = {**self._context, **fields}
        exc_info = _exc_info(values.pop("exc_info", None))
        message = " ".join([event, *(f"{k}={v!r}" for k, v in values.items())])
        extra = {k: v for k, v in values.items() if k not in _RESERVED}
        extra["event"] = event
        # The record names the library code that logged, two frames up
        # (this method, then debug/info/...), on every Python version.
        frame = sys._getframe(2)  # noqa: SLF001 - what logging does itself
        record = stdlib.makeRecord(
            stdlib.name,
            level,
            frame.f_code.co_filename,
            frame.f_lineno,
            message,
            (),
            exc_info,
            frame.f_code.co_name,
            extra,
        )
        stdlib.handle(record)


def _exc_info(value: object) -> Any:
    """``exc_info`` as a record takes it, from what structlog accepts."""
    if value is None or value is False:
        return None
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if value is True:
        info = sys.exc_info()
        return info if info[0] is not None else None
    return value
