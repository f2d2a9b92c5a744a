"""An example aiaudit plugin: a connector for a Reports-style audit API.

It is packaged and installed as any third-party plugin is, and registers
through the ``aiaudit`` entry-point group (see ``pyproject.toml``). The
plugin module implements two plugin hooks: one registers the connector
class, the other hands the host a local sandbox of the API, which is how
the demo and the conformance suite run it with no account and no network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector_core import hookimpl

from aiaudit_example.config import ExampleConfig
from aiaudit_example.connector import ExampleConnector


if TYPE_CHECKING:
    from collections.abc import Callable

    from connector_core.sandbox import SandboxProvider


__all__ = ["ExampleConfig", "ExampleConnector"]


@hookimpl
def aiaudit_register_connectors(register: Callable[..., None]) -> None:
    register(ExampleConnector)


@hookimpl
def aiaudit_sandbox(platform: str) -> SandboxProvider | None:
    if platform != ExampleConnector.platform:
        return None
    # Imported on demand: a host reading the real API never needs the server.
    from aiaudit_example.sandbox import ExampleSandboxProvider  # noqa: PLC0415

    return ExampleSandboxProvider()
