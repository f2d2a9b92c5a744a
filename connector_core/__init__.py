"""aiaudit's platform-neutral core, and everything a plugin author imports.

A complete connector is a config class, a connector class with three hooks,
and one plugin hook that registers it (with its sandbox, when it has one).
This example is run as a test, so it stays true::

    >>> from datetime import UTC, datetime
    >>> from typing import ClassVar
    >>> import attrs
    >>> import connector_core as cc

    >>> @attrs.frozen(kw_only=True)
    ... class MyConfig:
    ...     api_key: cc.Secret
    ...     base_url: str = "https://api.example.com"
    ...     # Each field and the variable(s) it is read from, first set wins:
    ...     # Registry.create_from_env and `aiaudit sync myplatform` use it.
    ...     environment: ClassVar = {"api_key": "MY_API_KEY", "base_url": "MY_URL"}

    >>> class MyConnector:
    ...     platform = "myplatform"
    ...     display_name = "My Platform"
    ...     config_class = MyConfig
    ...
    ...     def __init__(self, config, *, session=None):
    ...         self.config = config
    ...
    ...     @cc.hookimpl
    ...     async def validate_ai_credentials(self):
    ...         ok = self.config.api_key.reveal().startswith("my-")
    ...         return cc.AICredentialValidation(
    ...             is_valid=ok,
    ...             platform=self.platform,
    ...             has_required_permissions=ok,
    ...             last_checked=datetime.now(UTC),
    ...             errors=() if ok else ("the key was refused",),
    ...         )
    ...
    ...     @cc.hookimpl
    ...     async def list_streams(self):
    ...         return [cc.StreamInfo(name="events", kind=cc.StreamKind.WINDOWED)]
    ...
    ...     @cc.hookimpl
    ...     async def read_stream(self, stream, checkpoint, query):
    ...         yield cc.StreamBatch(logs=(), checkpoint={"until": "now"})

    >>> @cc.hookimpl
    ... def aiaudit_register_connectors(register):
    ...     register(MyConnector)  # or register(MyConnector, sandbox=MySandbox)

An installed plugin names its module in the ``aiaudit`` entry-point group;
a host or a test hands the registry the plugin object instead::

    >>> import types
    >>> plugin = types.SimpleNamespace(
    ...     aiaudit_register_connectors=aiaudit_register_connectors
    ... )
    >>> registry = cc.Registry.load(
    ...     entry_points=False, plugins=[("myplugin", plugin)], environ={}
    ... )
    >>> [(p.name, p.status) for p in registry.plugins]
    [('myplugin', 'loaded')]
    >>> connector = registry.create_from_env(
    ...     "myplatform", environ={"MY_API_KEY": "my-key-123"}
    ... )
    >>> connector.config
    MyConfig(api_key=Secret('**********'), base_url='https://api.example.com')

``authenticate`` and the other operations have core defaults built from
the three::

    >>> import asyncio
    >>> asyncio.run(connector.authenticate()).success
    True

Hosts use :class:`Registry` to find platforms and create connectors.

Library code logs through :func:`get_logger` (``log = get_logger(__name__)``),
never ``structlog.get_logger``: it stays silent unless the host application
configures ``logging`` or structlog (see ``docs/hosting.md``).
"""

from __future__ import annotations

from importlib.metadata import version as _version

from connector_core._logging import LibraryLogger, get_logger
from connector_core.checkpoints import Checkpoint
from connector_core.connector import (
    OPERATIONS,
    REQUIRED_OPERATIONS,
    Connector,
    ConnectorSpec,
)
from connector_core.cursors import CursorGuard, SeenIds, TimeCursorGuard
from connector_core.directory import (
    DIRECTORY_STREAM,
    DirectoryListing,
    DirectoryMember,
    MemberStatus,
)
from connector_core.exceptions import (
    AuthenticationError,
    BadRequestError,
    CheckpointError,
    ConfigurationError,
    ConnectorError,
    ConnectorHTTPError,
    ConnectorTimeoutError,
    NotFoundError,
    NotSupportedError,
    PermissionDeniedError,
    PluginError,
    RateLimitedError,
    RecordRefusedError,
    SchemaError,
    ServerError,
    TransportError,
    UnknownPlatformError,
)
from connector_core.hookspecs import PROJECT, AIPlatformConnector, hookimpl, hookspec
from connector_core.http import (
    DEFAULT_CONCURRENCY,
    MAX_CONCURRENCY,
    AdaptiveConcurrency,
    ConnectionPace,
    HTTPTransport,
    concurrency_option,
    rate_limit_option,
)
from connector_core.lagged import (
    LagCheckpoint,
    LagDigestCheckpoint,
    LaggedWindows,
    LagPoint,
    WindowLedger,
)
from connector_core.models import (
    AIActivityType,
    AIAuditLog,
    AIAuditLogQuery,
    AIAuditLogResult,
    AICredentialValidation,
    AIDateRange,
    AuditLogEntry,
    AutomationEvent,
    ConnectionResult,
    ModelUsageRecord,
    OAuthCredentials,
    PermissionCheck,
    UsageAnalytics,
)
from connector_core.registry import FanOutResult, PluginInfo, Registry
from connector_core.sandbox import (
    FaultDraw,
    RunningSandbox,
    SandboxOptions,
    SandboxProvider,
)
from connector_core.secrets import Secret
from connector_core.store import LogFilter
from connector_core.streams import (
    UNEXPECTED_FAILURE,
    QuarantinedRecord,
    StreamBatch,
    StreamInfo,
    StreamKind,
    normalize_or_quarantine,
)
from connector_core.windows import Window, WindowSizing, read_in_order, read_windows
from connector_core.wire import describe_structure_error, fast_reader, strict_converter


__all__ = [
    "DEFAULT_CONCURRENCY",
    "DIRECTORY_STREAM",
    "MAX_CONCURRENCY",
    "OPERATIONS",
    "PROJECT",
    "REQUIRED_OPERATIONS",
    "UNEXPECTED_FAILURE",
    "AIActivityType",
    "AIAuditLog",
    "AIAuditLogQuery",
    "AIAuditLogResult",
    "AICredentialValidation",
    "AIDateRange",
    "AIPlatformConnector",
    "AdaptiveConcurrency",
    "AuditLogEntry",
    "AuthenticationError",
    "AutomationEvent",
    "BadRequestError",
    "Checkpoint",
    "CheckpointError",
    "ConfigurationError",
    "ConnectionPace",
    "ConnectionResult",
    "Connector",
    "ConnectorError",
    "ConnectorHTTPError",
    "ConnectorSpec",
    "ConnectorTimeoutError",
    "CursorGuard",
    "DirectoryListing",
    "DirectoryMember",
    "FanOutResult",
    "FaultDraw",
    "HTTPTransport",
    "LagCheckpoint",
    "LagDigestCheckpoint",
    "LagPoint",
    "LaggedWindows",
    "LibraryLogger",
    "LogFilter",
    "MemberStatus",
    "ModelUsageRecord",
    "NotFoundError",
    "NotSupportedError",
    "OAuthCredentials",
    "PermissionCheck",
    "PermissionDeniedError",
    "PluginError",
    "PluginInfo",
    "QuarantinedRecord",
    "RateLimitedError",
    "RecordRefusedError",
    "Registry",
    "RunningSandbox",
    "SandboxOptions",
    "SandboxProvider",
    "SchemaError",
    "Secret",
    "SeenIds",
    "ServerError",
    "StreamBatch",
    "StreamInfo",
    "StreamKind",
    "TimeCursorGuard",
    "TransportError",
    "UnknownPlatformError",
    "UsageAnalytics",
    "Window",
    "WindowLedger",
    "WindowSizing",
    "concurrency_option",
    "describe_structure_error",
    "fast_reader",
    "get_logger",
    "hookimpl",
    "hookspec",
    "normalize_or_quarantine",
    "rate_limit_option",
    "read_in_order",
    "read_windows",
    "strict_converter",
]


def __getattr__(name: str) -> str:
    # The version comes from the installed metadata, never a second copy.
    if name == "__version__":
        return _version("aiaudit")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
