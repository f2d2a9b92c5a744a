"""What a plugin author must write, at the least, and what the core derives.

A connector with ``list_streams``, ``read_stream`` and
``validate_ai_credentials`` is complete; one ``register(cls, sandbox=...)``
contributes its sandbox; the configuration class's ``environment``
declaration is all the environment loading it needs; the package docstring's
example runs; and ``AIAUDIT_TRACE_PLUGINS`` sees every hook call.
"""

from __future__ import annotations

import contextlib
import doctest
import enum
import types
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import attrs
import pytest
from click.testing import CliRunner

import connector_core
from connector_core import (
    Registry,
    RunningSandbox,
    SandboxOptions,
    Secret,
    hookimpl,
)
from connector_core.cli import build_cli
from connector_core.exceptions import ConfigurationError, NotSupportedError, PluginError
from connector_core.models import (
    AIActivityType,
    AIAuditLog,
    AICredentialValidation,
    ConnectionResult,
    OAuthCredentials,
)
from connector_core.streams import StreamBatch, StreamInfo, StreamKind


CHECKED = datetime(2025, 1, 1, tzinfo=UTC)


@attrs.frozen(kw_only=True)
class MiniConfig:
    token: Secret
    events: int = 3

    environment: ClassVar = {"token": "MINI_TOKEN", "events": "MINI_EVENTS"}


class MiniConnector:
    """Exactly the three hooks an author must write."""

    platform: ClassVar[str] = "mini"
    display_name: ClassVar[str] = "Mini"
    config_class: ClassVar[type[MiniConfig]] = MiniConfig

    def __init__(self, config: MiniConfig, *, session: object = None) -> None:
        self.config = config

    @hookimpl
    async def validate_ai_credentials(self) -> AICredentialValidation:
        ok = self.config.token.reveal() == "good"
        return AICredentialValidation(
            is_valid=ok,
            platform=self.platform,
            has_required_permissions=ok,
            missing_permissions=() if ok else ("logs.read",),
            last_checked=CHECKED,
            errors=() if ok else ("the token was refused",),
        )

    @hookimpl
    async def list_streams(self) -> list[StreamInfo]:
        return [StreamInfo(name="events", kind=StreamKind.WINDOWED)]

    @hookimpl
    async def read_stream(self, stream, checkpoint, query):
        logs = tuple(
            AIAuditLog(
                id=f"e{i}",
                platform=self.platform,
                timestamp=datetime.now(UTC) - timedelta(hours=1 + i),
                user_id="u1",
                user_email="u1@example.com",
                organization_id="org-mini",
                activity_type=AIActivityType.LOGIN,
                action="user.login",
                native_type="LOGIN",
            )
            for i in range(self.config.events)
        )
        yield StreamBatch(logs=logs, checkpoint={"done": True})


def plugin(*register_args, **register_kwargs) -> types.ModuleType:
    @hookimpl
    def aiaudit_register_connectors(register):
        register(*register_args, **register_kwargs)

    module = types.ModuleType("mini_plugin")
    module.aiaudit_register_connectors = aiaudit_register_connectors
    return module


def load(*plugins, environ=None) -> Registry:
    return Registry.load(entry_points=False, plugins=plugins, environ=environ or {})


# ---------------------------------------------------------------------------
# Three hooks make a connector; authenticate follows from validation
# ---------------------------------------------------------------------------


def test_three_hooks_make_a_complete_connector():
    registry = load(("mini", plugin(MiniConnector)))
    [info] = registry.plugins
    assert info.status == "loaded", info.error
    assert set(registry.spec("mini").operations) == {
        "list_streams",
        "read_stream",
        "validate_ai_credentials",
    }
    assert "authenticate" not in connector_core.REQUIRED_OPERATIONS


async def test_default_authenticate_derives_from_validation():
    registry = load(("mini", plugin(MiniConnector)))
    async with registry.create("mini", {"token": "good"}) as good:
        result = await good.authenticate()
    assert result == ConnectionResult(
        success=True,
        metadata={"derived_from": "validate_ai_credentials"},
    )
    async with registry.create("mini", {"token": "bad"}) as bad:
        result = await bad.authenticate()
    assert result.success is False
    assert result.error == "the token was refused"
    assert result.error_code == "INVALID_CREDENTIALS"  # the suite asks for one
    assert result.metadata["missing_permissions"] == ["logs.read"]


async def test_default_authenticate_refuses_credentials_it_cannot_check():
    registry = load(("mini", plugin(MiniConnector)))
    conn = registry.create("mini", {"token": "good"})
    with pytest.raises(NotSupportedError, match="authenticate"):
        await conn.authenticate(OAuthCredentials(access_token="other"))


async def test_a_connector_own_authenticate_still_wins():
    class Own(MiniConnector):
        @hookimpl
        async def authenticate(self) -> ConnectionResult:
            return ConnectionResult(success=True, platform_user_id="mine")

    registry = load(("own", plugin(Own)))
    result = await registry.create("mini", {"token": "bad"}).authenticate()
    assert result.platform_user_id == "mine"


# ---------------------------------------------------------------------------
# Registering a sandbox with its connector
# ---------------------------------------------------------------------------


class MiniSandbox:
    """A sandbox with nothing to serve: the toy reads from memory."""

    started = 0

    @contextlib.asynccontextmanager
    async def start(self, options: SandboxOptions):
        MiniSandbox.started += 1
        yield RunningSandbox(
            platform="mini",
            urls={"api": "memory://mini"},
            config={"token": "good", "events": 5},
        )


def test_register_with_a_sandbox_provider():
    provider = MiniSandbox()
    registry = load(("mini", plugin(MiniConnector, sandbox=provider)))
    assert registry.sandbox("mini") is provider
    assert registry.plugins[0].hooks == ("aiaudit_register_connectors",)


def test_register_with_a_sandbox_factory_calls_it_once_when_asked():
    calls = []

    def factory() -> MiniSandbox:
        calls.append(1)
        return MiniSandbox()

    registry = load(("mini", plugin(MiniConnector, sandbox=factory)))
    assert calls == []
    first = registry.sandbox("mini")
    assert isinstance(first, MiniSandbox)
    assert registry.sandbox("mini") is first
    assert calls == [1]
    # A class is a factory too.
    registry = load(("mini", plugin(MiniConnector, sandbox=MiniSandbox)))
    assert isinstance(registry.sandbox("mini"), MiniSandbox)


def test_register_refuses_a_sandbox_that_is_not_one():
    registry = load(("mini", plugin(MiniConnector, sandbox="nope")))
    [info] = registry.plugins
    assert info.status == "failed"
    assert "sandbox=" in info.error


def test_a_sandbox_factory_that_fails_is_a_plugin_error():
    def factory():
        raise RuntimeError("no server today")

    registry = load(("mini", plugin(MiniConnector, sandbox=factory)))
    with pytest.raises(PluginError, match="no server today"):
        registry.sandbox("mini")


def test_the_older_sandbox_hook_still_works():
    provider = MiniSandbox()

    @hookimpl
    def aiaudit_sandbox(platform):
        return provider if platform == "mini" else None

    old = types.ModuleType("old")
    old.aiaudit_sandbox = aiaudit_sandbox
    registry = load(("mini", plugin(MiniConnector)), ("old", old))
    assert registry.sandbox("mini") is provider


def test_plugins_command_shows_the_sandbox_per_platform():
    registry = load(("mini", plugin(MiniConnector, sandbox=MiniSandbox)))
    table = CliRunner().invoke(build_cli(registry), ["plugins"])
    assert table.exit_code == 0, table.output
    assert "sandbox: test_author_minimum.MiniSandbox" in table.output
    listed = CliRunner().invoke(build_cli(registry), ["plugins", "--json"])
    [connector] = __import__("json").loads(listed.output)[0]["connectors"]
    assert connector["sandbox"] == "test_author_minimum.MiniSandbox"


def test_sandbox_and_demo_commands_see_a_registered_sandbox(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    registry = load(("mini", plugin(MiniConnector, sandbox=MiniSandbox)))
    cli = build_cli(registry)
    store = f"sqlite:///{tmp_path / 'demo.db'}"
    result = CliRunner().invoke(cli, ["demo", "--store", store, "--json"])
    assert result.exit_code == 0, result.output
    report = __import__("json").loads(result.output)
    assert [p["platform"] for p in report["platforms"]] == ["mini"]
    assert report["platforms"][0]["sync"]["inserted"] == 5
    # `aiaudit sandbox` with no platform picks the only one with a sandbox;
    # an unknown fault option is refused before serving.
    from connector_core.cli._plugins import only_sandbox_platform  # noqa: PLC0415

    assert only_sandbox_platform(registry) == "mini"


# ---------------------------------------------------------------------------
# Configuration from the declared environment
# ---------------------------------------------------------------------------


class Tier(enum.Enum):
    FREE = "free"
    PAID = "paid"


@attrs.frozen(kw_only=True)
class EnvConfig:
    api_key: Secret
    region: str = "eu"
    timeout: float = 30.0
    pages: int = 1
    verbose: bool = False
    tier: Tier = Tier.FREE
    workspace: str | None = None
    limit: int = attrs.field(default=10, validator=attrs.validators.le(100))

    environment: ClassVar = {
        "api_key": ("ENV_KEY", "ENV_OLD_KEY"),
        "region": "ENV_REGION",
        "timeout": "ENV_TIMEOUT",
        "pages": "ENV_PAGES",
        "verbose": "ENV_VERBOSE",
        "tier": "ENV_TIER",
        "workspace": "ENV_WORKSPACE",
        "limit": "ENV_LIMIT",
    }


class EnvConnector(MiniConnector):
    platform: ClassVar[str] = "envy"
    config_class: ClassVar = EnvConfig


@pytest.fixture
def envy() -> Registry:
    return load(("envy", plugin(EnvConnector)))


def test_env_values_take_the_field_types(envy):
    conn = envy.create_from_env(
        "envy",
        environ={
            "ENV_KEY": " sk-secret-1234 ",
            "ENV_REGION": "us",
            "ENV_TIMEOUT": "2.5",
            "ENV_PAGES": "7",
            "ENV_VERBOSE": "yes",
            "ENV_TIER": "paid",
            "ENV_WORKSPACE": "ws-1",
        },
    )
    config = conn.config
    assert config.api_key == Secret("sk-secret-1234")
    assert isinstance(config.api_key, Secret)
    assert (config.region, config.timeout, config.pages) == ("us", 2.5, 7)
    assert config.verbose is True
    assert config.tier is Tier.PAID
    assert config.workspace == "ws-1"
    assert "sk-secret" not in repr(config)


def test_env_defaults_apply_and_first_set_variable_wins(envy):
    config = envy.spec("envy").config_from_env(
        {"ENV_KEY": "", "ENV_OLD_KEY": "old-key", "ENV_VERBOSE": "0"}
    )
    assert config.api_key == Secret("old-key")
    assert (config.region, config.verbose, config.workspace) == ("eu", False, None)
    config = envy.spec("envy").config_from_env(
        {"ENV_KEY": "new-key", "ENV_OLD_KEY": "old-key"}
    )
    assert config.api_key == Secret("new-key")


def test_env_missing_required_field_names_its_variables(envy):
    with pytest.raises(ConfigurationError) as caught:
        envy.spec("envy").config_from_env({"ENV_REGION": "us"})
    assert "ENV_KEY" in str(caught.value)
    assert "ENV_OLD_KEY" in str(caught.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ENV_PAGES", "seven"),
        ("ENV_TIMEOUT", "fast"),
        ("ENV_VERBOSE", "perhaps"),
        ("ENV_TIER", "gold"),
        ("ENV_LIMIT", "1000"),
    ],
)
def test_env_malformed_value_names_the_variable(envy, variable, value):
    with pytest.raises(ConfigurationError, match=variable):
        envy.spec("envy").config_from_env({"ENV_KEY": "k", variable: value})


def test_env_malformed_secret_is_never_quoted():
    @attrs.frozen(kw_only=True)
    class Strict:
        api_key: Secret = attrs.field(
            validator=lambda _i, _a, v: _refuse(v.reveal())  # quotes the value
        )
        environment: ClassVar = {"api_key": "STRICT_KEY"}

    def _refuse(value):
        raise ValueError(f"api_key {value!r} has the wrong prefix")

    class StrictConnector(MiniConnector):
        platform: ClassVar[str] = "strict"
        config_class: ClassVar = Strict

    registry = load(("strict", plugin(StrictConnector)))
    with pytest.raises(ConfigurationError) as caught:
        registry.spec("strict").config_from_env({"STRICT_KEY": "sk-leaky-9999"})
    assert "STRICT_KEY" in str(caught.value)
    assert "sk-leaky-9999" not in str(caught.value)


def test_env_declaration_naming_no_field_is_refused_at_load():
    @attrs.frozen
    class Typo:
        token: Secret
        environment: ClassVar = {"tokne": "TYPO_TOKEN"}

    class TypoConnector(MiniConnector):
        platform: ClassVar[str] = "typo"
        config_class: ClassVar = Typo

    [info] = load(("typo", plugin(TypoConnector))).plugins
    assert info.status == "failed"
    assert "tokne" in info.error


def test_a_class_own_from_env_still_wins():
    @attrs.frozen(kw_only=True)
    class Own:
        token: Secret
        environment: ClassVar = {"token": "OWN_TOKEN"}

        @classmethod
        def from_env(cls, environ):
            return cls(token=Secret("from-" + environ["OWN_TOKEN"]))

    class OwnConnector(MiniConnector):
        platform: ClassVar[str] = "own"
        config_class: ClassVar = Own

    registry = load(("own", plugin(OwnConnector)))
    config = registry.spec("own").config_from_env({"OWN_TOKEN": "x"})
    assert config.token == Secret("from-x")


# ---------------------------------------------------------------------------
# The façade and its docstring
# ---------------------------------------------------------------------------


def test_the_package_docstring_example_runs():
    failures, tried = doctest.testmod(connector_core, optionflags=doctest.ELLIPSIS)
    assert tried > 0
    assert failures == 0


def test_the_facade_exports_what_an_author_needs():
    needed = {
        "hookimpl",
        "StreamInfo",
        "StreamBatch",
        "StreamKind",
        "QuarantinedRecord",
        "Secret",
        "AIAuditLog",
        "AIActivityType",
        "AICredentialValidation",
        "ConnectionResult",
        "ConfigurationError",
        "AuthenticationError",
        "get_logger",
        "SandboxOptions",
        "RunningSandbox",
        "SandboxProvider",
        "HTTPTransport",
    }
    assert needed <= set(connector_core.__all__)
    for name in connector_core.__all__:
        assert getattr(connector_core, name) is not None


# ---------------------------------------------------------------------------
# Tracing sees every hook call
# ---------------------------------------------------------------------------


async def test_tracing_sees_plugin_and_connector_hooks():
    from structlog.testing import capture_logs  # noqa: PLC0415

    @hookimpl
    def aiaudit_register_commands(cli):
        pass

    commands = types.ModuleType("commands")
    commands.aiaudit_register_commands = aiaudit_register_commands
    with capture_logs() as events:
        registry = load(
            ("mini", plugin(MiniConnector)),
            ("commands", commands),
            environ={"AIAUDIT_TRACE_PLUGINS": "1"},
        )
        build_cli(registry)
        registry.sandbox("mini")
        conn = registry.create("mini", {"token": "good"})
        await conn.authenticate()
    called = [
        (e["hook"], tuple(e["plugins"])) for e in events if e["event"] == "hook.call"
    ]
    hooks = [hook for hook, _ in called]
    assert ("aiaudit_register_connectors", ("mini",)) in called
    assert ("aiaudit_register_commands", ("commands",)) in called
    assert "aiaudit_sandbox" in hooks
    assert "authenticate" in hooks
    # The default authenticate calls the connector's own validation.
    assert "validate_ai_credentials" in hooks
    returns = [e["hook"] for e in events if e["event"] == "hook.return"]
    assert sorted(returns) == sorted(hooks)


async def test_no_tracing_unless_asked():
    from structlog.testing import capture_logs  # noqa: PLC0415

    with capture_logs() as events:
        registry = load(("mini", plugin(MiniConnector)))
        await registry.create("mini", {"token": "good"}).validate_ai_credentials()
    assert not [e for e in events if e["event"].startswith("hook.")]
