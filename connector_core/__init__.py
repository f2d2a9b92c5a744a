"""aiaudit's platform-neutral core.

Plugin authors need little more than this module::

    import connector_core as cc

    class MyConnector:
        platform = "myplatform"
        display_name = "My Platform"
        config_class = MyConfig

        def __init__(self, config, *, session=None): ...

        @cc.hookimpl
        async def get_ai_audit_logs(self, query): ...

    @cc.hookimpl
    def aiaudit_register_connectors(register):
        register(MyConnector)

Hosts use :class:`Registry` to find platforms and create connectors.

Library code logs through :func:`get_logger` (``log = get_logger(__name__)``),
never ``structlog.get_logger``: it stays silent unless the host application
configures ``logging`` or structlog (see ``docs/hosting.md``).
"""

from __future__ import annotations

from importlib.metadata import version as _version

from connector_core._logging import LibraryLogger, get_logger
from connector_core.connector import (
    OPERATIONS,
    REQUIRED_OPERATIONS,
    Connector,
    ConnectorSpec,
)
from connector_core.hookspecs import PROJECT, AIPlatformConnector, hookimpl, hookspec
from connector_core.registry import FanOutResult, PluginInfo, Registry
from connector_core.sandbox import RunningSandbox, SandboxOptions, SandboxProvider
from connector_core.secrets import Secret


__all__ = [
    "OPERATIONS",
    "PROJECT",
    "REQUIRED_OPERATIONS",
    "AIPlatformConnector",
    "Connector",
    "ConnectorSpec",
    "FanOutResult",
    "LibraryLogger",
    "PluginInfo",
    "Registry",
    "RunningSandbox",
    "SandboxOptions",
    "SandboxProvider",
    "Secret",
    "get_logger",
    "hookimpl",
    "hookspec",
]


def __getattr__(name: str) -> str:
    # The version comes from the installed metadata, never a second copy.
    if name == "__version__":
        return _version("aiaudit")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
