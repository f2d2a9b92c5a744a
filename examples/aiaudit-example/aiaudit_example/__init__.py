"""An example aiaudit plugin: a connector for a Reports-style audit API.

It is packaged and installed as any third-party plugin is, and registers
through the ``aiaudit`` entry-point group (see ``pyproject.toml``). The
plugin module implements one plugin hook, which registers the connector
class with a local sandbox of the API: that is how the demo and the
conformance suite run it with no account and no network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector_core import hookimpl

from aiaudit_example.config import ExampleConfig
from aiaudit_example.connector import ExampleConnector


if TYPE_CHECKING:
    from collections.abc import Callable

    from connector_core import SandboxProvider


__all__ = ["ExampleConfig", "ExampleConnector"]


def _sandbox() -> SandboxProvider:
    # Imported on demand: a host reading the real API never needs the server.
    from aiaudit_example.sandbox import ExampleSandboxProvider  # noqa: PLC0415

    return ExampleSandboxProvider()


@hookimpl
def aiaudit_register_connectors(register: Callable[..., None]) -> None:
    register(ExampleConnector, sandbox=_sandbox)
