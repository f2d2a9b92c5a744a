"""Connector classes as the registry sees them, and the handle hosts call.

A plugin registers a connector *class*; :class:`ConnectorSpec` is the checked
record of it. A host gets a :class:`Connector` *handle* back from
``Registry.create``: a typed façade over one connector instance whose calls
go through a plugin manager of their own (see ``hookspecs`` for why), with
the core defaults behind the instance's own hook implementations.

The handle is also where plugin bugs are caught at the boundary: an
operation that returns the wrong type, a stream that yields something other
than a log, or an operation nobody implements becomes a typed error here,
not a confusing ``AttributeError`` three calls later in the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol, Self, TypeVar

import attrs
import pluggy

from connector_core import _defaults, _environment, _tracing
from connector_core._concurrency import ConnectionPace
from connector_core._logging import get_logger
from connector_core._url_credentials import (
    check_url_credentials,
    has_url_credentials,
    mask_url_credentials,
)
from connector_core.directory import DirectoryListing
from connector_core.exceptions import (
    ConfigurationError,
    ConnectorError,
    NotSupportedError,
    PluginError,
    redact,
)
from connector_core.hookspecs import PROJECT, AIPlatformConnector
from connector_core.models import (
    AIAuditLog,
    AIAuditLogResult,
    AICredentialValidation,
    AuditLogEntry,
    AutomationEvent,
    ConnectionResult,
    PermissionCheck,
    UsageAnalytics,
)
from connector_core.secrets import Secret
from connector_core.streams import StreamBatch, StreamInfo


if TYPE_CHECKING:
    from datetime import datetime

    import aiohttp

    from connector_core.models import (
        AIAuditLogQuery,
        AIDateRange,
        OAuthCredentials,
    )


__all__ = [
    "OPERATIONS",
    "REQUIRED_OPERATIONS",
    "Connector",
    "ConnectorSpec",
    "Parkable",
    "ParkedReads",
    "check_url_credentials",
    "has_url_credentials",
    "mask_url_credentials",
]

log = get_logger(__name__)

T = TypeVar("T")

OPERATIONS: Final = (
    "authenticate",
    "validate_ai_credentials",
    "list_streams",
    "read_stream",
    "get_ai_audit_logs",
    "stream_ai_audit_logs",
    "get_usage_analytics",
    "validate_permissions",
    "discover_automations",
    "read_directory",
    "get_audit_logs",
    "aclose",
)
"""Every connector hook, in the order the docs present them."""

REQUIRED_OPERATIONS: Final = frozenset(
    {"validate_ai_credentials", "list_streams", "read_stream"}
)
"""The operations without a core default; a connector class must have them.

``authenticate`` has one, derived from ``validate_ai_credentials``: checking
a key and connecting with it are the same question for most platforms."""

_PLATFORM_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_GENERATORS: Final = frozenset({"stream_ai_audit_logs", "read_stream"})


def _new_manager(*, trace: bool = False) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(AIPlatformConnector)
    if trace:
        _tracing.monitor(pm)
    return pm


def _hook_names(pm: pluggy.PluginManager, plugin: object) -> tuple[str, ...]:
    return tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()))


@attrs.frozen(kw_only=True)
class ConnectorSpec:
    """A registered connector class, checked against the hook specification.

    Attributes:
        platform: The platform name hosts ask for.
        display_name: A human name for reports.
        connector_class: The class; instantiated as
            ``connector_class(config, session=session)``.
        config_class: The attrs class of its configuration.
        plugin: The name of the plugin that registered it.
        operations: The hooks the class implements itself.
        secret_fields: Configuration fields holding secrets.
        retention: How far back the platform keeps history (class
            attribute ``retention``, a ``timedelta``), or ``None`` when it
            keeps everything or does not say. The conformance suite ends a
            sandbox's history today rather than on its pinned date when the
            pinned history would fall outside it.
    """

    platform: str
    display_name: str
    connector_class: type[Any]
    config_class: type[Any]
    plugin: str
    operations: tuple[str, ...]
    secret_fields: tuple[str, ...]
    retention: timedelta | None = None

    @property
    def default_connection(self) -> str:
        """The connection name of a connector created without one, and of
        the connection the platform's environment variables describe: the
        platform's name. The one derivation; every caller asks here."""
        return self.platform

    @classmethod
    def from_class(cls, connector_class: object, *, plugin: str) -> ConnectorSpec:
        """Check *connector_class* and describe it.

        Raises:
            PluginError: The class breaks the contract; the message says how.
        """
        if not inspect.isclass(connector_class):
            raise PluginError(
                plugin, f"register() takes a class, got {connector_class!r}"
            )
        name = connector_class.__name__
        platform = getattr(connector_class, "platform", None)
        if not isinstance(platform, str) or not _PLATFORM_NAME.match(platform):
            raise PluginError(
                plugin,
                f"{name}.platform must be a lowercase name like 'acme_chat', "
                f"got {platform!r}",
            )
        display_name = getattr(connector_class, "display_name", platform)
        if not isinstance(display_name, str):
            raise PluginError(plugin, f"{name}.display_name must be a string")
        config_class = getattr(connector_class, "config_class", None)
        if not (inspect.isclass(config_class) and attrs.has(config_class)):
            raise PluginError(plugin, f"{name}.config_class must be an attrs class")
        try:
            _environment.declared(config_class)
        except ConfigurationError as exc:
            raise PluginError(plugin, f"{name}.config_class: {exc}") from None
        operations = _check_operations(connector_class, plugin=plugin)
        try:
            inspect.signature(connector_class).bind(None, session=None)
        except TypeError as exc:
            raise PluginError(
                plugin,
                f"{name} must be constructible as {name}(config, session=...): {exc}",
            ) from exc
        retention = getattr(connector_class, "retention", None)
        if retention is not None and not (
            isinstance(retention, timedelta) and retention > timedelta(0)
        ):
            raise PluginError(
                plugin,
                f"{name}.retention must be a positive timedelta or None, "
                f"got {retention!r}",
            )
        secret_fields = tuple(
            field.name
            for field in attrs.fields(config_class)
            if _is_secret_type(field.type)
        )
        return cls(
            platform=platform,
            display_name=display_name,
            connector_class=connector_class,
            config_class=config_class,
            plugin=plugin,
            operations=operations,
            secret_fields=secret_fields,
            retention=retention,
        )

    def make_config(self, config: object) -> Any:
        """Turn *config* into an instance of :attr:`config_class`.

        Accepts an instance (returned as is) or a mapping of field names to
        values, as read from a file, a store or a sandbox. Unknown keys are an
        error, so a misspelled option never silently falls back to a default.

        Raises:
            ConfigurationError: The mapping does not fit the class.
        """
        if isinstance(config, self.config_class):
            check_url_credentials(
                {
                    field.name: getattr(config, field.name, None)
                    for field in attrs.fields(self.config_class)
                    if field.name not in self.secret_fields
                },
                f"{self.platform} configuration",
            )
            return config
        if not isinstance(config, Mapping):
            raise ConfigurationError(
                f"{self.platform} configuration must be a mapping or "
                f"{self.config_class.__name__}, got {type(config).__name__}"
            )
        names = {field.name for field in attrs.fields(self.config_class)}
        check_url_credentials(
            {k: v for k, v in config.items() if k not in self.secret_fields},
            f"{self.platform} configuration",
        )
        unknown = sorted(set(config) - names)
        if unknown:
            raise ConfigurationError(
                f"unknown {self.platform} configuration option(s): "
                f"{', '.join(map(str, unknown))} (known: {', '.join(sorted(names))})"
            )
        values = {
            key: Secret(value)
            if key in self.secret_fields and isinstance(value, str)
            else value
            for key, value in config.items()
        }
        try:
            return self.config_class(**values)
        except (TypeError, ValueError) as exc:
            # A validator may quote the value it rejected; never a secret's.
            secrets = [str(config[key]) for key in self.secret_fields if key in config]
            # attrs validators put the readable sentence first in args.
            first = exc.args[0] if exc.args else exc
            message = redact(str(first), secrets)
            raise ConfigurationError(
                f"invalid {self.platform} configuration: {message}"
            ) from None

    def config_from_env(self, environ: Mapping[str, str]) -> Any:
        """Build the configuration the environment describes.

        Read from the config class's ``environment`` declaration (each field
        and the variable or variables it is read from, the first one set
        winning), so a plugin writes no loading code. A class with a
        ``from_env(environ)`` classmethod of its own is asked instead, for
        rules a declaration cannot state.

        Raises:
            ConfigurationError: The class declares no environment, or a
                variable it needs is missing or malformed; the message names
                the variable, never a secret's value.
        """
        from_env = getattr(self.config_class, "from_env", None)
        if from_env is not None:
            return self.make_config(from_env(environ))
        config = _environment.load(
            self.config_class,
            environ,
            platform=self.platform,
            secret_fields=frozenset(self.secret_fields),
        )
        return self.make_config(config)


def _is_secret_type(annotation: object) -> bool:
    if annotation is Secret:
        return True
    if isinstance(annotation, str):
        return "Secret" in annotation
    return Secret in getattr(annotation, "__args__", ())


def _check_operations(connector_class: type[Any], *, plugin: str) -> tuple[str, ...]:
    name = connector_class.__name__
    pm = _new_manager()
    try:
        pm.register(connector_class, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(plugin, f"{name}: {exc}") from exc
    unknown = sorted(
        caller.name
        for caller in pm.get_hookcallers(connector_class) or ()
        if not caller.has_spec()
    )
    if unknown:
        raise PluginError(
            plugin,
            f"{name} implements unknown hook(s) {', '.join(unknown)}; "
            f"the connector hooks are {', '.join(OPERATIONS)}",
        )
    operations = _hook_names(pm, connector_class)
    missing = sorted(REQUIRED_OPERATIONS - set(operations))
    if missing:
        raise PluginError(plugin, f"{name} lacks required hook(s) {', '.join(missing)}")
    for operation in operations:
        function = getattr(connector_class, operation)
        if operation in _GENERATORS:
            ok = inspect.isasyncgenfunction(function)
            kind = "an async generator (async def with yield)"
        else:
            ok = inspect.iscoroutinefunction(function)
            kind = "async def"
        if not ok:
            raise PluginError(plugin, f"{name}.{operation} must be {kind}")
    return operations


class _Instance:
    """One plugin connector object, the plugin manager in front of it, and
    how many operations (and ``async with`` blocks) are using it."""

    __slots__ = ("closed", "instance", "pm", "users")

    def __init__(self, instance: Any, pm: pluggy.PluginManager) -> None:
        self.instance = instance
        self.pm = pm
        self.users = 0
        self.closed = False


class Parkable(Protocol):
    """What a handle can hold between calls: something it can close."""

    async def aclose(self) -> None: ...


@attrs.define
class _Spot:
    item: Parkable
    loop: asyncio.AbstractEventLoop
    since: float


class ParkedReads:
    """Reads a page stopped at, held open for the page that continues them.

    Keyed by the cursor the page returned. Bounded: at most :attr:`size`
    (the least recently parked goes first) and none idle longer than
    :attr:`timeout` seconds, so a host that drops its cursors holds neither
    memory nor a platform response for long. Expiry is checked when a read
    is parked or taken, and every read is closed with the handle.

    A read is closed on the event loop it was opened on: one parked on
    another loop is never resumed, and when it must go while that loop is
    not running it is left to asyncio, which closes an abandoned generator
    on its own loop (or, the loop closed, already has).
    """

    size: int = 4
    timeout: float = 300.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._spots: OrderedDict[str, _Spot] = OrderedDict()

    def __len__(self) -> int:
        return len(self._spots)

    async def put(self, key: str, item: Parkable) -> None:
        spots = self._spots
        gone = [spot for k, spot in self._expired()]
        replaced = spots.pop(key, None)
        if replaced is not None:
            gone.append(replaced)
        spots[key] = _Spot(item, asyncio.get_running_loop(), self.clock())
        while len(spots) > self.size:
            gone.append(spots.popitem(last=False)[1])
        await _close_all(gone)

    async def take(self, key: str) -> Parkable | None:
        """The read parked at *key*, no longer parked (so a second caller
        with the same key reads afresh), or ``None``."""
        await _close_all([spot for k, spot in self._expired()])
        spot = self._spots.get(key)
        if spot is None or spot.loop is not asyncio.get_running_loop():
            return None
        del self._spots[key]
        return spot.item

    async def aclose(self) -> None:
        spots = list(self._spots.values())
        self._spots.clear()
        await _close_all(spots)

    def _expired(self) -> list[tuple[str, _Spot]]:
        oldest = self.clock() - self.timeout
        expired = [(k, spot) for k, spot in self._spots.items() if spot.since < oldest]
        for key, _ in expired:
            del self._spots[key]
        return expired


async def _close_all(spots: list[_Spot]) -> None:
    """Close each parked read on its own loop (see :class:`ParkedReads`).

    A read that fails to close is reported, not raised: it is closed by
    the time the error comes out, and the call that evicted it must not
    lose its page over it.
    """
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    for spot in spots:
        if spot.loop is not running:
            continue
        try:
            await spot.item.aclose()
        except Exception as exc:  # noqa: BLE001 - reported; the read is closed
            log.warning("connector.parked_read_close_failed", error=type(exc).__name__)


class Connector:
    """A configured connector instance, as a host uses it.

    Every method forwards to the instance's hook implementation, or to the
    core default when the instance has none, and checks what comes back.

    Inside ``async with connector:`` every call shares the plugin's
    resources (its HTTP session and pooled connections) until the block
    exits. Outside one, each call opens what it needs and releases it when
    it returns (a stream: when it ends or is closed), so a handle a host
    keeps without a context, or drives with ``asyncio.run`` call after call,
    leaves no session open and belongs to no event loop. Releasing is the
    plugin's ``aclose`` hook, which is final for its object: the handle
    builds a fresh plugin object from the same configuration for the next
    call, so state a plugin keeps between calls lasts only within a block.

    Inside a block the handle also keeps, in :attr:`parked`, the reads a
    page of ``get_ai_audit_logs`` stopped at, so the next page continues
    them instead of reading again from a checkpoint (see
    :mod:`connector_core.paging`); they are closed with the block.

    Attributes:
        name: The connection name (a platform may be connected many times).
        platform: The platform name.
        spec: The registered class description.
        config: The configuration instance (secrets masked in its repr).
    """

    __slots__ = (
        "_contexts",
        "_current",
        "_log",
        "_session",
        "_trace",
        "config",
        "name",
        "parked",
        "spec",
    )

    def __init__(
        self,
        spec: ConnectorSpec,
        config: Any,
        *,
        name: str | None = None,
        session: aiohttp.ClientSession | None = None,
        trace: bool = False,
    ) -> None:
        self.spec = spec
        self._trace = trace
        self.config = config
        self.name = name or spec.default_connection
        self._session = session
        self._contexts: list[_Instance] = []
        self.parked = ParkedReads()
        # Built now, so a class that cannot be built fails in create().
        self._current = self._build()
        self._log = log.bind(platform=spec.platform, connection=self.name)

    def _build(self) -> _Instance:
        spec = self.spec
        try:
            instance = spec.connector_class(self.config, session=self._session)
        except ConnectorError:
            raise
        except Exception as exc:
            raise PluginError(
                spec.plugin, f"{spec.connector_class.__qualname__}() failed: {exc}"
            ) from exc
        pace = getattr(instance, "pace", None)
        if isinstance(pace, ConnectionPace):
            pace.scope = self._budget_scope(instance)
        pm = _new_manager(trace=self._trace)
        pm.register(_defaults, name="aiaudit.defaults")
        pm.register(instance, name=f"{spec.platform}:{self.name}")
        return _Instance(instance, pm)

    def _budget_scope(self, instance: Any) -> str:
        """Whose rate budget the connection spends across processes: the
        scope the connector declares (``budget_scope()``, say one per key
        or organization, so connections sharing one share a budget), else
        the connection's own."""
        declare = getattr(instance, "budget_scope", None)
        try:
            declared = declare() if callable(declare) else None
        except Exception as exc:
            raise PluginError(
                self.spec.plugin,
                f"{type(instance).__qualname__}.budget_scope() failed: {exc}",
            ) from exc
        if declared is None:
            return f"connection:{self.name}"
        if not isinstance(declared, str) or not declared:
            raise PluginError(
                self.spec.plugin,
                f"{type(instance).__qualname__}.budget_scope() must return a"
                f" non-empty string or None, got {declared!r}",
            )
        return f"{self.spec.platform}:{declared}"

    def _acquire(self) -> _Instance:
        current = self._current
        if current.closed:
            current = self._current = self._build()
        current.users += 1
        return current

    async def _release(self, held: _Instance) -> None:
        held.users -= 1
        if held.users <= 0 and not held.closed:
            await self._close(held)

    async def _close(self, held: _Instance) -> None:
        # Marked first: a call starting while the plugin closes gets a new
        # object instead of one whose sessions are going away.
        held.closed = True
        for awaitable in held.pm.hook.aclose(connector=self):
            if awaitable is not None:
                await awaitable

    @property
    def in_block(self) -> bool:
        """Whether an ``async with`` block is open: only then may a call
        leave something open for the next one (outside, each call releases
        what it opened)."""
        return bool(self._contexts)

    @property
    def instance(self) -> Any:
        """The plugin's connector object: the one in use, else the last one."""
        return self._current.instance

    @property
    def platform(self) -> str:
        return self.spec.platform

    def __repr__(self) -> str:
        return f"<Connector {self.name!r} platform={self.platform!r}>"

    def implements(self, operation: str) -> bool:
        """Whether the instance itself implements *operation* (no default)."""
        return operation in self.spec.operations

    async def _call(self, operation: str, expected: type[T], **kwargs: Any) -> T:
        held = self._acquire()
        try:
            caller = getattr(held.pm.hook, operation)
            started = time.perf_counter()
            awaitable = caller(connector=self, **kwargs)
            if awaitable is None:
                raise NotSupportedError(self.platform, operation)
            result = await awaitable
            if not isinstance(result, expected):
                raise PluginError(
                    self.spec.plugin,
                    f"{operation} returned {type(result).__name__}, "
                    f"expected {expected.__name__}",
                )
            self._log.debug(
                "connector.call",
                operation=operation,
                elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
            )
            return result
        finally:
            await self._release(held)

    async def authenticate(
        self, credentials: OAuthCredentials | None = None
    ) -> ConnectionResult:
        """Check that the credentials reach the platform (see the hook)."""
        return await self._call(
            "authenticate", ConnectionResult, credentials=credentials
        )

    async def get_ai_audit_logs(self, query: AIAuditLogQuery) -> AIAuditLogResult:
        """Return one page of normalized audit logs (see the hook)."""
        return await self._call("get_ai_audit_logs", AIAuditLogResult, query=query)

    async def stream_ai_audit_logs(
        self, query: AIAuditLogQuery
    ) -> AsyncGenerator[AIAuditLog, None]:
        """Yield every normalized audit log in the query's range.

        Leaving the loop early, or cancelling the task, closes the plugin's
        generator at once, so its open response and session are released.
        """
        held = self._acquire()
        try:
            iterator = held.pm.hook.stream_ai_audit_logs(connector=self, query=query)
            checked = self._checked(iterator, "stream_ai_audit_logs", AIAuditLog)
            async with contextlib.aclosing(checked) as logs:
                async for log in logs:
                    yield log
        finally:
            await self._release(held)

    async def list_streams(self) -> list[StreamInfo]:
        """The feeds this connector reads, each checkpointed on its own."""
        found = await self._call("list_streams", list)
        return _checked_items(self.spec.plugin, "list_streams", found, StreamInfo)

    async def read_stream(
        self,
        stream: str,
        checkpoint: Mapping[str, Any] | None,
        query: AIAuditLogQuery,
    ) -> AsyncGenerator[StreamBatch, None]:
        """Read one stream from *checkpoint* on, batch by batch (see the hook)."""
        held = self._acquire()
        try:
            iterator = held.pm.hook.read_stream(
                connector=self, stream=stream, checkpoint=checkpoint, query=query
            )
            checked = self._checked(iterator, "read_stream", StreamBatch)
            async with contextlib.aclosing(checked) as batches:
                async for batch in batches:
                    yield batch
        finally:
            await self._release(held)

    async def _checked(
        self, iterator: AsyncIterator[Any] | None, operation: str, expected: type[T]
    ) -> AsyncGenerator[T, None]:
        """Relay a plugin's async generator, checking every item it yields."""
        if iterator is None:
            raise NotSupportedError(self.platform, operation)
        try:
            async for item in iterator:
                if not isinstance(item, expected):
                    raise PluginError(
                        self.spec.plugin,
                        f"{operation} yielded {type(item).__name__}, "
                        f"expected {expected.__name__}",
                    )
                yield item
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()

    def plugin_error(self, operation: str, exc: Exception) -> PluginError:
        """*exc*, an exception other than a :class:`ConnectorError` that
        escaped the plugin's *operation* (a ``KeyError`` on a checkpoint it
        cannot read, say), as a one-line :class:`PluginError`; the
        configuration's secrets are redacted from its text.

        The handle itself relays such exceptions unchanged (a conformance
        suite inspects them); a host that must go on, like the sync engine
        with the next stream, turns them into this."""
        secrets = []
        for field in self.spec.secret_fields:
            value = getattr(self.config, field, None)
            if isinstance(value, Secret):
                secrets.append(value.reveal())
        return PluginError(
            self.spec.plugin,
            f"{operation} failed: {type(exc).__name__}: {redact(str(exc), secrets)}",
        )

    async def validate_ai_credentials(self) -> AICredentialValidation:
        """Check the configured credentials and their permissions."""
        return await self._call("validate_ai_credentials", AICredentialValidation)

    async def get_usage_analytics(self, period: AIDateRange) -> UsageAnalytics:
        """Summarize usage over *period*."""
        return await self._call("get_usage_analytics", UsageAnalytics, period=period)

    async def validate_permissions(self) -> PermissionCheck:
        """Probe each surface the connector reads."""
        return await self._call("validate_permissions", PermissionCheck)

    async def discover_automations(self) -> list[AutomationEvent]:
        """List the automations users built on the platform."""
        found = await self._call("discover_automations", list)
        return _checked_items(
            self.spec.plugin, "discover_automations", found, AutomationEvent
        )

    async def read_directory(self) -> DirectoryListing:
        """List every member of the platform's directory (see the hook)."""
        return await self._call("read_directory", DirectoryListing)

    async def get_audit_logs(self, since: datetime) -> list[AuditLogEntry]:
        """Return the audit trail since *since*, in the generic form."""
        found = await self._call("get_audit_logs", list, since=since)
        return _checked_items(self.spec.plugin, "get_audit_logs", found, AuditLogEntry)

    async def aclose(self) -> None:
        """Let the plugin release what it holds now; safe to call twice.

        Outside ``async with`` there is nothing to call it for (each call
        releases its own resources); it closes the plugin object even while
        a call is using it, as a host shutting down wants. The handle stays
        usable: a later call starts afresh.
        """
        # Parked reads first: they use the plugin object about to close.
        try:
            await self.parked.aclose()
        finally:
            current = self._current
            if not current.closed:
                await self._close(current)

    async def __aenter__(self) -> Self:
        self._contexts.append(self._acquire())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        held = self._contexts.pop()
        if self._contexts:
            await self._release(held)
        else:
            # The outermost block closes, whatever is still open: a stream
            # left suspended inside it must not keep the session alive.
            await self.aclose()


def _checked_items(
    plugin: str, operation: str, items: list[Any], expected: type[T]
) -> list[T]:
    for item in items:
        if not isinstance(item, expected):
            raise PluginError(
                plugin,
                f"{operation} returned a {type(item).__name__} item, "
                f"expected {expected.__name__}",
            )
    return items
