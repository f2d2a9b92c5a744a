"""An example aiaudit plugin: a connector for a Reports-style audit API.

The whole integration is this hook, named by the ``aiaudit`` entry point in
``pyproject.toml``. The sandbox, a local server imitating the API, is
imported only when a host first asks for it.
"""

from collections.abc import Callable

from connector_core import SandboxProvider, hookimpl

from aiaudit_example.connector import ExampleConfig, ExampleConnector


__all__ = ["ExampleConfig", "ExampleConnector"]


def _sandbox() -> SandboxProvider:
    from aiaudit_example.sandbox import ExampleSandboxProvider  # noqa: PLC0415

    return ExampleSandboxProvider()


@hookimpl
def aiaudit_register_connectors(register: Callable[..., None]) -> None:
    register(ExampleConnector, sandbox=_sandbox)
