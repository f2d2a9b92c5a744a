"""``AIAUDIT_TRACE_PLUGINS``: one debug line before and after each hook call.

Shared by the registry's plugin manager, the per-connector managers and the
plugin hooks the core calls one implementation at a time (to know which
plugin answered), so a trace shows every call into a plugin, whichever way
it is made. A connector hook returns a coroutine or a generator: its
``hook.return`` line marks the hand-over, not the end of the work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector_core._logging import get_logger


if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import pluggy


__all__ = ["after", "before", "call", "error_line", "monitor"]

log = get_logger("connector_core.registry")


def error_line(exc: BaseException) -> str:
    """*exc* as one line: its type and the first line of its text."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def before(
    hook_name: str, hook_impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]
) -> None:
    log.debug(
        "hook.call",
        hook=hook_name,
        arguments=sorted(kwargs),
        plugins=[impl.plugin_name for impl in hook_impls],
    )


def after(
    outcome: pluggy.Result[Any],
    hook_name: str,
    hook_impls: Sequence[pluggy.HookImpl],
    kwargs: Mapping[str, Any],
) -> None:
    exc = outcome.exception
    log.debug(
        "hook.return",
        hook=hook_name,
        error=None if exc is None else error_line(exc),
    )


def monitor(pm: pluggy.PluginManager) -> None:
    """Trace every call made through *pm*'s hooks."""
    pm.add_hookcall_monitoring(before, after)


def call(
    hook_name: str, impl: pluggy.HookImpl, kwargs: Mapping[str, Any], *, trace: bool
) -> Any:
    """Call one implementation of a hook directly, by argument name, traced
    as a call through the manager would be."""
    arguments = {name: kwargs[name] for name in impl.argnames}
    if not trace:
        return impl.function(**arguments)
    before(hook_name, [impl], kwargs)
    try:
        result = impl.function(**arguments)
    except BaseException as exc:
        log.debug("hook.return", hook=hook_name, error=error_line(exc))
        raise
    log.debug("hook.return", hook=hook_name, error=None)
    return result
