"""Finding plugins, resolving platforms, creating connectors.

The registry loads every plugin in the ``aiaudit`` entry-point group, in-tree
ones included, through one path. Each plugin is loaded and checked on its
own: one that fails to import, implements a hook that does not exist or
registers a broken connector class is recorded with its error and left out,
and every other plugin works as before. ``aiaudit plugins`` shows both.

Environment:

``AIAUDIT_PLUGINS``
    A comma-separated allow-list of entry-point or distribution names to
    load; set but empty loads none. Unset loads all.
``AIAUDIT_TRACE_PLUGINS``
    When ``1``, every hook call is logged at debug level with its arguments'
    names and the plugins it reached: the plugin hooks (registering
    connectors, sandboxes, commands) and the connector hooks of every
    connector the registry creates.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import os
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import attrs
import pluggy

from connector_core import _tracing, hookspecs
from connector_core._logging import get_logger
from connector_core.connector import OPERATIONS, Connector, ConnectorSpec
from connector_core.exceptions import ConnectorError, PluginError, UnknownPlatformError


if TYPE_CHECKING:
    import aiohttp

    from connector_core.risk import RiskRule
    from connector_core.sandbox import SandboxProvider

SandboxSource = Any
"""What ``register(..., sandbox=...)`` takes: a
:class:`~connector_core.sandbox.SandboxProvider`, or a class or function
that returns one when called with no arguments (so the sandbox's code is
imported only when a host asks for it)."""


__all__ = [
    "ENV_PLUGINS",
    "ENV_TRACE",
    "ConnectorInfo",
    "FanOutResult",
    "PluginInfo",
    "Registry",
]

log = get_logger(__name__)

ENV_PLUGINS = "AIAUDIT_PLUGINS"
ENV_TRACE = "AIAUDIT_TRACE_PLUGINS"

T = TypeVar("T")

PluginStatus = Literal["loaded", "failed", "disabled"]


@attrs.frozen(kw_only=True)
class ConnectorInfo:
    """A connector class as listed by ``aiaudit plugins``."""

    platform: str
    display_name: str
    connector_class: str
    operations: tuple[str, ...]
    secret_fields: tuple[str, ...]


@attrs.frozen(kw_only=True)
class PluginInfo:
    """One plugin, loaded or not.

    Attributes:
        name: The entry-point name (or the name it was registered under).
        status: ``loaded``, ``failed`` (see ``error``) or ``disabled`` by
            ``AIAUDIT_PLUGINS``.
        module: The module the entry point names.
        distribution: The installed distribution that declares it.
        version: That distribution's version.
        hooks: The plugin hooks the module implements.
        connectors: The connector classes it registered.
        error: Why it failed, as one line.
    """

    name: str
    status: PluginStatus
    module: str | None = None
    distribution: str | None = None
    version: str | None = None
    hooks: tuple[str, ...] = ()
    connectors: tuple[ConnectorInfo, ...] = ()
    error: str | None = None


@attrs.frozen(kw_only=True)
class FanOutResult(Generic[T]):
    """What one connector answered to a fanned-out call.

    Exactly one of ``value`` and ``error`` is set; an error in one connector
    never hides the answers of the others.
    """

    name: str
    platform: str
    value: T | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


_error_line = _tracing.error_line


def _allow_list(environ: Mapping[str, str]) -> frozenset[str] | None:
    raw = environ.get(ENV_PLUGINS)
    if raw is None:
        return None
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


@attrs.define
class _Candidate:
    name: str
    load: Callable[[], object]
    module: str | None = None
    distribution: str | None = None
    version: str | None = None

    def info(
        self,
        status: PluginStatus,
        *,
        hooks: tuple[str, ...] = (),
        connectors: tuple[ConnectorInfo, ...] = (),
        error: str | None = None,
    ) -> PluginInfo:
        return PluginInfo(
            name=self.name,
            status=status,
            module=self.module,
            distribution=self.distribution,
            version=self.version,
            hooks=hooks,
            connectors=connectors,
            error=error,
        )


def _given(obj: object) -> object:
    return obj


class Registry:
    """Loaded plugins and the platforms they provide.

    Build one with :meth:`load`; it never raises for a broken plugin.
    """

    def __init__(self, pm: pluggy.PluginManager, *, trace: bool = False) -> None:
        self.pm = pm
        self.trace = trace
        self._plugins: list[PluginInfo] = []
        self._specs: dict[str, ConnectorSpec] = {}
        self._sandboxes: dict[str, SandboxSource] = {}
        self._resolved: dict[str, SandboxProvider] = {}

    @classmethod
    def load(
        cls,
        *,
        entry_points: bool = True,
        plugins: Iterable[tuple[str, object]] = (),
        environ: Mapping[str, str] | None = None,
    ) -> Registry:
        """Load the installed plugins, plus *plugins* given as objects.

        :param entry_points: Load the ``aiaudit`` entry-point group.
        :param plugins: ``(name, module_or_object)`` pairs to register as
            well; hosts and tests use it for plugins that are not installed.
        :param environ: Where to read ``AIAUDIT_PLUGINS`` and
            ``AIAUDIT_TRACE_PLUGINS``; the process environment by default.
        """
        environ = os.environ if environ is None else environ
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        trace = environ.get(ENV_TRACE) == "1"
        registry = cls(pm, trace=trace)
        if trace:
            _tracing.monitor(pm)
        allowed = _allow_list(environ)
        candidates: list[_Candidate] = []
        if entry_points:
            candidates.extend(_entry_point_candidates())
        candidates.extend(
            _Candidate(
                name=name,
                load=functools.partial(_given, obj),
                module=getattr(obj, "__name__", type(obj).__name__),
            )
            for name, obj in plugins
        )
        for candidate in candidates:
            if allowed is not None and not (
                {candidate.name, candidate.distribution} & allowed
            ):
                registry._plugins.append(candidate.info("disabled"))
                continue
            registry._add(candidate)
        return registry

    def _add(self, candidate: _Candidate) -> None:
        try:
            plugin = candidate.load()
        except Exception as exc:  # noqa: BLE001 - any import failure is reported, not raised
            error = _error_line(exc)
            log.warning("plugin.load_failed", plugin=candidate.name, error=error)
            self._plugins.append(candidate.info("failed", error=error))
            return
        try:
            specs, sandboxes = self._register(candidate.name, plugin)
        except PluginError as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            log.warning("plugin.rejected", plugin=candidate.name, error=str(exc))
            self._plugins.append(candidate.info("failed", error=str(exc)))
            return
        for spec in specs:
            self._specs[spec.platform] = spec
        self._sandboxes.update(sandboxes)
        hooks = tuple(
            sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or ())
        )
        self._plugins.append(
            candidate.info(
                "loaded",
                hooks=hooks,
                connectors=tuple(_connector_info(spec) for spec in specs),
            )
        )

    def _register(
        self, name: str, plugin: object
    ) -> tuple[list[ConnectorSpec], dict[str, SandboxSource]]:
        """Register *plugin* and collect its connectors and their sandboxes,
        all or nothing."""
        if self.pm.get_plugin(name) is not None:
            raise PluginError(name, "a plugin of this name is already loaded")
        try:
            self.pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginError(name, str(exc)) from exc
        self._check_hook_names(name, plugin)
        specs: list[ConnectorSpec] = []
        sandboxes: dict[str, SandboxSource] = {}

        def register(connector_class: object, *, sandbox: SandboxSource = None) -> None:
            spec = ConnectorSpec.from_class(connector_class, plugin=name)
            _check_sandbox(spec, sandbox)
            taken = self._specs.get(spec.platform)
            if taken is not None or any(s.platform == spec.platform for s in specs):
                owner = taken.plugin if taken is not None else name
                raise PluginError(
                    name,
                    f"platform {spec.platform!r} is already provided by plugin "
                    f"{owner!r}",
                )
            specs.append(spec)
            if sandbox is not None:
                sandboxes[spec.platform] = sandbox

        for impl in self.pm.hook.aiaudit_register_connectors.get_hookimpls():
            if impl.plugin is not plugin:
                continue
            try:
                self.call_impl(
                    "aiaudit_register_connectors", impl, {"register": register}
                )
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(
                    name, f"aiaudit_register_connectors failed: {_error_line(exc)}"
                ) from exc
        return specs, sandboxes

    def _check_hook_names(self, name: str, plugin: object) -> None:
        unknown = sorted(
            caller.name
            for caller in self.pm.get_hookcallers(plugin) or ()
            if not caller.has_spec()
        )
        if unknown:
            raise PluginError(
                name,
                f"implements unknown hook(s) {', '.join(unknown)}; the plugin "
                "hooks are aiaudit_register_connectors, aiaudit_sandbox, "
                "aiaudit_register_commands and aiaudit_risk_rules",
            )

    def call_impl(
        self, hook_name: str, impl: pluggy.HookImpl, kwargs: Mapping[str, Any]
    ) -> Any:
        """Call one plugin's implementation of a plugin hook, traced like a
        call through :attr:`pm` (the core calls some hooks one plugin at a
        time, to know which plugin answered or failed)."""
        return _tracing.call(hook_name, impl, kwargs, trace=self.trace)

    @property
    def plugins(self) -> tuple[PluginInfo, ...]:
        """Every plugin seen, in load order, loaded or not."""
        return tuple(self._plugins)

    @property
    def platforms(self) -> Mapping[str, ConnectorSpec]:
        """The loaded platforms by name."""
        return dict(sorted(self._specs.items()))

    @property
    def display_names(self) -> Mapping[str, str]:
        """Each loaded platform's ``display_name``, for exports to name it.

        The exports take names as an argument rather than loading plugins
        themselves, so the caller decides where names come from; this is
        where a host that loaded the registry gets them.
        """
        return {name: spec.display_name for name, spec in self.platforms.items()}

    def risk_rules(self) -> list[Sequence[RiskRule]]:
        """The risk rules each loaded plugin adds (its ``aiaudit_risk_rules``
        hook), in load order.

        :raises PluginError: naming the plugin whose hook failed or
            returned something other than rules: a rule set half-applied
            would score silently differently from what its author wrote.
        """
        from connector_core.risk import RiskRule  # noqa: PLC0415

        found: list[Sequence[RiskRule]] = []
        for impl in self.pm.hook.aiaudit_risk_rules.get_hookimpls():
            try:
                rules = self.call_impl("aiaudit_risk_rules", impl, {})
            except Exception as exc:
                raise PluginError(
                    impl.plugin_name,
                    f"aiaudit_risk_rules failed: {_error_line(exc)}",
                ) from exc
            if rules is None:
                continue
            if not isinstance(rules, list | tuple) or not all(
                isinstance(rule, RiskRule) for rule in rules
            ):
                raise PluginError(
                    impl.plugin_name,
                    "aiaudit_risk_rules must return a list of RiskRule"
                    " (connector_core.risk.load_rules), got "
                    f"{type(rules).__name__}",
                )
            found.append(tuple(rules))
        return found

    def spec(self, platform: str) -> ConnectorSpec:
        """The connector class registered for *platform*.

        Raises:
            UnknownPlatformError: No loaded plugin provides it.
        """
        try:
            return self._specs[platform]
        except KeyError:
            raise UnknownPlatformError(platform, self._specs) from None

    def create(
        self,
        platform: str,
        config: object,
        *,
        name: str | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> Connector:
        """Create a connector for *platform* from *config*.

        :param config: The platform's config instance, or a mapping of its
            fields (secrets as plain strings are wrapped for you).
        :param name: The connection name; the platform name by default.
        :param session: An aiohttp session to share; the connector owns one
            otherwise.
        """
        spec = self.spec(platform)
        return Connector(
            spec,
            spec.make_config(config),
            name=name,
            session=session,
            trace=self.trace,
        )

    def create_from_env(
        self,
        platform: str,
        *,
        environ: Mapping[str, str] | None = None,
        name: str | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> Connector:
        """Create the connector the environment variables describe."""
        spec = self.spec(platform)
        config = spec.config_from_env(os.environ if environ is None else environ)
        return Connector(spec, config, name=name, session=session, trace=self.trace)

    def sandbox(self, platform: str) -> SandboxProvider | None:
        """The sandbox server a plugin contributes for *platform*, if any.

        The one registered with the connector (``register(cls,
        sandbox=...)``) when there is one, made on first use and kept; else
        what the older ``aiaudit_sandbox`` hook answers.

        Raises:
            UnknownPlatformError: No loaded plugin provides *platform*.
            PluginError: The registered sandbox factory failed, or returned
                something that is not a sandbox provider.
        """
        spec = self.spec(platform)
        if platform in self._resolved:
            return self._resolved[platform]
        source = self._sandboxes.get(platform)
        if source is None:
            provider: SandboxProvider | None = self.pm.hook.aiaudit_sandbox(
                platform=platform
            )
            return provider
        if callable(getattr(source, "start", None)) and not isinstance(source, type):
            made = source
        else:
            try:
                made = source()
            except Exception as exc:
                raise PluginError(
                    spec.plugin,
                    f"the {platform} sandbox could not be made: {_error_line(exc)}",
                ) from exc
            if not callable(getattr(made, "start", None)):
                raise PluginError(
                    spec.plugin,
                    f"the {platform} sandbox factory returned "
                    f"{type(made).__name__}, not a SandboxProvider",
                )
        self._resolved[platform] = made
        return typing.cast("SandboxProvider", made)

    async def fan_out(
        self,
        connectors: Iterable[Connector],
        call: Callable[[Connector], Awaitable[T]],
        *,
        concurrency: int = 8,
    ) -> list[FanOutResult[T]]:
        """Run *call* on every connector concurrently and collect the answers.

        A connector that raises a :class:`ConnectorError` (or any other
        exception, which is a plugin bug) gets its error in its result; the
        others are unaffected. Cancellation is never captured: cancelling the
        caller cancels every call.

        :param concurrency: At most this many calls run at once.
        :returns: One result per connector, in the order given.
        """
        limit = asyncio.Semaphore(concurrency)

        async def one(connector: Connector) -> FanOutResult[T]:
            async with limit:
                try:
                    value = await call(connector)
                except Exception as exc:  # noqa: BLE001 - reported per connector
                    if not isinstance(exc, ConnectorError):
                        log.warning(
                            "fan_out.plugin_bug",
                            connection=connector.name,
                            error=_error_line(exc),
                        )
                    return FanOutResult(
                        name=connector.name, platform=connector.platform, error=exc
                    )
                return FanOutResult(
                    name=connector.name, platform=connector.platform, value=value
                )

        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(connector)) for connector in connectors]
        return [task.result() for task in tasks]


def _check_sandbox(spec: ConnectorSpec, sandbox: SandboxSource) -> None:
    if sandbox is not None and not (
        callable(sandbox) or callable(getattr(sandbox, "start", None))
    ):
        raise PluginError(
            spec.plugin,
            f"register({spec.connector_class.__name__}, sandbox=...) takes "
            "a SandboxProvider, or a class or function returning one; "
            f"got {type(sandbox).__name__}",
        )


def _entry_point_candidates() -> list[_Candidate]:
    found: list[_Candidate] = []
    for ep in importlib.metadata.entry_points(group=hookspecs.PROJECT):
        dist = ep.dist
        found.append(
            _Candidate(
                name=ep.name,
                load=ep.load,
                module=ep.module,
                distribution=dist.name if dist is not None else None,
                version=dist.version if dist is not None else None,
            )
        )
    # The same distribution can be visible twice (an editable install beside
    # a copy on the path); the first one found wins, as importlib does.
    unique: dict[str, _Candidate] = {}
    for candidate in found:
        unique.setdefault(candidate.name, candidate)
    return sorted(unique.values(), key=lambda c: c.name)


def _connector_info(spec: ConnectorSpec) -> ConnectorInfo:
    cls = spec.connector_class
    return ConnectorInfo(
        platform=spec.platform,
        display_name=spec.display_name,
        connector_class=f"{cls.__module__}.{cls.__qualname__}",
        operations=tuple(op for op in OPERATIONS if op in spec.operations),
        secret_fields=spec.secret_fields,
    )
