"""aiaudit's connector for Claude: the Anthropic Compliance API.

Registered through the ``aiaudit`` entry-point group like any third-party
plugin, as platform ``claude``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiaudit_claude.config import ClaudeConfig
from aiaudit_claude.connector import ClaudeConnector
from connector_core import hookimpl


if TYPE_CHECKING:
    from collections.abc import Callable

    from connector_core.sandbox import SandboxProvider


__all__ = ["ClaudeConfig", "ClaudeConnector"]


def _sandbox() -> SandboxProvider:
    # Imported on demand: the sandbox generates data and serves HTTP, which a
    # host that only reads the real API never needs to load.
    from aiaudit_claude.sandbox.server import ClaudeSandboxProvider  # noqa: PLC0415

    return ClaudeSandboxProvider()


@hookimpl
def aiaudit_register_connectors(register: Callable[..., None]) -> None:
    register(ClaudeConnector, sandbox=_sandbox)
