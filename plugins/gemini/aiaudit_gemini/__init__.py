"""aiaudit's connector for Gemini: the Google Workspace Admin SDK Reports API.

Registered through the ``aiaudit`` entry-point group like any third-party
plugin, as platform ``gemini``. It reads four of the Reports API's
applications: Gemini in Workspace and NotebookLM use, the OAuth grants people
give third-party apps (the AI apps among them flagged), and sign-ins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiaudit_gemini.config import GeminiConfig
from aiaudit_gemini.connector import GeminiConnector
from connector_core import hookimpl


if TYPE_CHECKING:
    from collections.abc import Callable

    from connector_core.sandbox import SandboxProvider


__all__ = ["GeminiConfig", "GeminiConnector"]


def _sandbox() -> SandboxProvider:
    # Imported on demand: the sandbox generates data, keys and serves HTTP,
    # which a host that only reads the real API never needs to load.
    from aiaudit_gemini.sandbox.server import GeminiSandboxProvider  # noqa: PLC0415

    return GeminiSandboxProvider()


@hookimpl
def aiaudit_register_connectors(register: Callable[..., None]) -> None:
    register(GeminiConnector, sandbox=_sandbox)
