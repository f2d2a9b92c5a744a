"""The registry and the connector handle: loading, checking, dispatching."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sys
import types
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import attrs
import pytest
import toy

import connector_core
from connector_core import (
    AIPlatformConnector,
    DirectoryListing,
    DirectoryMember,
    Registry,
    Secret,
    hookimpl,
    hookspecs,
)
from connector_core.exceptions import (
    ConfigurationError,
    ConnectorError,
    NotSupportedError,
    PluginError,
    UnknownPlatformError,
)
from connector_core.models import (
    AIAuditLogQuery,
    AIDateRange,
    AuditLogEntry,
    ConnectionResult,
)
from connector_core.sandbox import RunningSandbox, SandboxOptions


def load(*plugins, **kwargs) -> Registry:
    """A registry with only the given plugin objects, no entry points."""
    return Registry.load(entry_points=False, plugins=plugins, environ={}, **kwargs)


def module(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(mod, key, value)
    return mod


def registering(*classes) -> types.ModuleType:
    @hookimpl
    def aiaudit_register_connectors(register):
        for cls in classes:
            register(cls)

    return module(
        "registering", aiaudit_register_connectors=aiaudit_register_connectors
    )


def status(registry: Registry, name: str):
    [info] = [p for p in registry.plugins if p.name == name]
    return info


@pytest.fixture
def registry() -> Registry:
    return load(("toy", toy))


@pytest.fixture
async def connector(registry):
    async with registry.create("toy", {"token": "good"}) as conn:
        yield conn


QUERY = AIAuditLogQuery(start_date=toy.START, end_date=toy.START + timedelta(days=30))


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


class TestLoading:
    def test_entry_points_find_an_installed_plugin(self):
        """A plugin installed as its own distribution is found by its entry
        point, with the distribution it came from."""
        registry = Registry.load(environ={})
        info = status(registry, "example")
        assert info.status == "loaded"
        assert info.distribution == "aiaudit-example"
        assert info.version == version("aiaudit-example")
        assert "aiaudit_register_connectors" in info.hooks
        assert registry.platforms["example"].plugin == "example"

    def test_allow_list_restricts_loading(self):
        """AIAUDIT_PLUGINS names what loads; the rest is listed as disabled."""
        registry = Registry.load(
            plugins=[("toy", toy)], environ={"AIAUDIT_PLUGINS": "toy"}
        )
        assert status(registry, "example").status == "disabled"
        assert status(registry, "toy").status == "loaded"
        assert set(registry.platforms) == {"toy"}

    def test_empty_allow_list_loads_nothing(self):
        registry = Registry.load(
            plugins=[("toy", toy)], environ={"AIAUDIT_PLUGINS": ""}
        )
        assert {p.status for p in registry.plugins} == {"disabled"}
        assert registry.platforms == {}

    def test_import_error_is_reported_not_raised(self):
        """A plugin that cannot import is listed with its error; others load."""

        def broken():
            import does_not_exist  # noqa: F401, PLC0415

        registry = Registry.load(entry_points=False, environ={}, plugins=[("toy", toy)])
        registry._add(connector_core.registry._Candidate(name="broken", load=broken))
        info = status(registry, "broken")
        assert info.status == "failed"
        assert info.error == "ModuleNotFoundError: No module named 'does_not_exist'"
        assert status(registry, "toy").status == "loaded"

    def test_misspelled_plugin_hook_fails_loudly(self):
        @hookimpl
        def aiaudit_register_conectors(register):
            pass

        registry = load(
            (
                "typo",
                module("typo", aiaudit_register_conectors=aiaudit_register_conectors),
            ),
            ("toy", toy),
        )
        info = status(registry, "typo")
        assert info.status == "failed"
        assert "unknown hook(s) aiaudit_register_conectors" in info.error
        assert "toy" in registry.platforms
        assert registry.pm.get_plugin("typo") is None

    def test_plugin_hook_with_wrong_argument_fails(self):
        @hookimpl
        def aiaudit_sandbox(platform, flavour):
            return None

        registry = load(("bad", module("bad", aiaudit_sandbox=aiaudit_sandbox)))
        info = status(registry, "bad")
        assert info.status == "failed"
        assert "flavour" in info.error

    def test_register_hook_that_raises_fails_only_its_plugin(self):
        @hookimpl
        def aiaudit_register_connectors(register):
            raise RuntimeError("boom")

        registry = load(
            (
                "boom",
                module("boom", aiaudit_register_connectors=aiaudit_register_connectors),
            ),
            ("toy", toy),
        )
        assert status(registry, "boom").error == (
            "plugin 'boom': aiaudit_register_connectors failed: RuntimeError: boom"
        )
        assert status(registry, "toy").status == "loaded"

    def test_duplicate_platform_is_refused(self):
        class Again(toy.ToyConnector):
            pass

        registry = load(("toy", toy), ("again", registering(Again)))
        info = status(registry, "again")
        assert info.status == "failed"
        assert "platform 'toy' is already provided by plugin 'toy'" in info.error
        assert registry.spec("toy").connector_class is toy.ToyConnector

    def test_listing_shows_connectors_and_their_hooks(self, registry):
        [info] = registry.plugins
        [connector] = info.connectors
        assert connector.platform == "toy"
        assert connector.connector_class == "toy.ToyConnector"
        assert connector.secret_fields == ("token",)
        assert connector.operations == (
            "authenticate",
            "validate_ai_credentials",
            "list_streams",
            "read_stream",
            "aclose",
        )


class TestConnectorClassChecks:
    """A connector class that breaks the contract fails at load, by name."""

    def rejected(self, cls) -> str:
        registry = load(("p", registering(cls)))
        info = status(registry, "p")
        assert info.status == "failed"
        assert registry.platforms == {}
        return info.error

    def test_misspelled_operation(self):
        class Typo(toy.ToyConnector):
            @hookimpl
            async def get_ai_audit_log(self, query):
                return None

        assert "unknown hook(s) get_ai_audit_log" in self.rejected(Typo)

    def test_unknown_argument(self):
        class Wrong(toy.ToyConnector):
            @hookimpl
            async def get_ai_audit_logs(self, q):
                return None

        assert "'q'" in self.rejected(Wrong)

    def test_missing_required_operation(self):
        class Missing:
            platform = "missing"
            config_class = toy.ToyConfig

            def __init__(self, config, *, session=None):
                pass

            @hookimpl
            async def authenticate(self):
                return None

        error = self.rejected(Missing)
        assert "lacks required hook(s) list_streams, read_stream" in error

    def test_sync_operation(self):
        class Sync(toy.ToyConnector):
            @hookimpl
            def authenticate(self):
                return None

        assert "Sync.authenticate must be async def" in self.rejected(Sync)

    def test_read_stream_must_be_an_async_generator(self):
        class NotAGenerator(toy.ToyConnector):
            @hookimpl
            async def read_stream(self, stream, checkpoint, query):
                return []

        assert "NotAGenerator.read_stream must be an async generator" in self.rejected(
            NotAGenerator
        )

    def test_stream_ai_audit_logs_must_be_an_async_generator(self):
        class NotAGenerator(toy.ToyConnector):
            @hookimpl
            async def stream_ai_audit_logs(self, query):
                return []

        assert (
            "NotAGenerator.stream_ai_audit_logs must be an async generator"
            in self.rejected(NotAGenerator)
        )

    @pytest.mark.parametrize("platform", ["Toy", "chat gpt", "", None, "9lives"])
    def test_bad_platform_name(self, platform):
        cls = type("Named", (toy.ToyConnector,), {"platform": platform})
        assert "platform must be a lowercase name" in self.rejected(cls)

    def test_config_class_must_be_attrs(self):
        cls = type("Plain", (toy.ToyConnector,), {"config_class": dict})
        assert "config_class must be an attrs class" in self.rejected(cls)

    def test_constructor_must_take_config_and_session(self):
        class NoSession(toy.ToyConnector):
            def __init__(self, config):
                pass

        assert "constructible as NoSession(config, session=...)" in self.rejected(
            NoSession
        )

    def test_register_takes_a_class(self):
        assert "register() takes a class" in self.rejected(
            toy.ToyConnector(toy.ToyConfig(token="x"))
        )


# ---------------------------------------------------------------------------
# Creating connectors
# ---------------------------------------------------------------------------


class TestCreate:
    def test_unknown_platform_names_the_known_ones(self, registry):
        with pytest.raises(UnknownPlatformError) as info:
            registry.create("claude", {})
        assert str(info.value) == (
            "no connector for platform 'claude' (loaded platforms: toy)"
        )
        assert isinstance(info.value, ConfigurationError)

    def test_mapping_config_wraps_secrets(self, registry):
        conn = registry.create("toy", {"token": "sk-toy-verysecret", "events": 3})
        assert conn.config.token == Secret("sk-toy-verysecret")
        assert "verysecret" not in repr(conn.config)
        assert len(conn.instance.logs) == 3

    def test_unknown_config_key_is_an_error(self, registry):
        with pytest.raises(
            ConfigurationError, match="unknown toy configuration option"
        ):
            registry.create("toy", {"token": "x", "evnets": 3})

    def test_invalid_config_never_echoes_a_secret(self, registry):
        with pytest.raises(ConfigurationError) as info:
            # A key of the wrong type: the validator's message quotes it.
            registry.create("toy", {"token": 98765432123})
        assert "98765432123" not in str(info.value)
        assert str(info.value).startswith("invalid toy configuration: ")
        assert info.value.__cause__ is None

    def test_config_of_the_wrong_kind(self, registry):
        with pytest.raises(ConfigurationError, match="must be a mapping"):
            registry.create("toy", ["token"])

    def test_create_from_env_without_support(self, registry):
        with pytest.raises(ConfigurationError, match="cannot be configured from"):
            registry.create_from_env("toy", environ={})

    def test_create_from_env_for_an_installed_plugin(self):
        registry = Registry.load(environ={})
        conn = registry.create_from_env(
            "example",
            environ={
                "EXAMPLE_API_KEY": "exk_live_envkey1234",
                "EXAMPLE_CUSTOMER_ID": "C0123abc",
            },
        )
        assert conn.config.api_key == Secret("exk_live_envkey1234")
        assert conn.config.customer_id == "C0123abc"
        assert "envkey" not in repr(conn.config)

    def test_constructor_failure_is_a_plugin_error(self):
        class Explodes(toy.ToyConnector):
            def __init__(self, config, *, session=None):
                raise KeyError("oops")

        registry = load(("p", registering(Explodes)))
        with pytest.raises(PluginError, match="Explodes\\(\\) failed"):
            registry.create("toy", {"token": "x"})


# ---------------------------------------------------------------------------
# Plugin hooks: one test each (a test below checks that every hook has one)
# ---------------------------------------------------------------------------


def test_hook_aiaudit_register_connectors(registry):
    assert registry.spec("toy").connector_class is toy.ToyConnector


def test_hook_aiaudit_sandbox():
    class Provider:
        def start(self, options):
            raise NotImplementedError

    provider = Provider()

    @hookimpl
    def aiaudit_sandbox(platform):
        return provider if platform == "toy" else None

    registry = load(
        ("toy", toy), ("sandboxes", module("s", aiaudit_sandbox=aiaudit_sandbox))
    )
    assert registry.sandbox("toy") is provider
    with pytest.raises(UnknownPlatformError):
        registry.sandbox("nope")
    assert RunningSandbox(platform="toy", urls={}, config={}).details == {}
    assert SandboxOptions().host == "127.0.0.1"


def test_hook_aiaudit_register_commands():
    import click  # noqa: PLC0415
    from click.testing import CliRunner  # noqa: PLC0415

    from connector_core.cli import build_cli  # noqa: PLC0415

    @hookimpl
    def aiaudit_register_commands(cli):
        @cli.command()
        def hello():
            click.echo("hello from a plugin")

    @hookimpl
    def broken_commands(cli):
        raise RuntimeError("no")

    registry = load(
        ("cmds", module("cmds", aiaudit_register_commands=aiaudit_register_commands)),
    )
    result = CliRunner().invoke(build_cli(registry), ["hello"])
    assert result.output == "hello from a plugin\n"


def test_hook_aiaudit_risk_rules():
    from connector_core.exceptions import PluginError  # noqa: PLC0415
    from connector_core.risk import configured_rules, load_rules  # noqa: PLC0415

    ours = load_rules(
        """
[[rule]]
id = "settings_change"
title = "Setting changed"
section = "changes"
kind = "event"
actions = ["settings.updated"]
score = 5
severity = "low"
type = "policy_violation"

[[rule]]
id = "toy_export"
title = "Toy export"
section = "uploads"
kind = "event"
actions = ["toy.exported"]
score = 70
severity = "high"
type = "data_exfiltration"
""",
        source="toy",
    )

    @hookimpl
    def aiaudit_risk_rules():
        return ours

    registry = load(("rules", module("rules", aiaudit_risk_rules=aiaudit_risk_rules)))
    assert registry.risk_rules() == [ours]
    rules = {r.id: r for r in configured_rules(plugin_rules=registry.risk_rules())}
    # A built-in id is replaced in its place; a new one is added.
    assert rules["settings_change"].score == 5
    assert "toy_export" in rules

    @hookimpl(specname="aiaudit_risk_rules")
    def not_rules():
        return ["a rule"]

    broken = load(("odd", module("odd", aiaudit_risk_rules=not_rules)))
    with pytest.raises(PluginError, match="must return a list of RiskRule"):
        broken.risk_rules()


# ---------------------------------------------------------------------------
# Connector hooks
# ---------------------------------------------------------------------------


async def test_hook_authenticate(registry):
    async with registry.create("toy", {"token": "good"}) as good:
        assert (await good.authenticate()).success
    async with registry.create("toy", {"token": "bad"}) as bad:
        result = await bad.authenticate()
    assert result == ConnectionResult(
        success=False, error="bad token", error_code="AUTH"
    )


async def test_hook_list_streams(connector):
    streams = await connector.list_streams()
    assert [s.name for s in streams] == ["events", "extras"]


async def test_hook_read_stream(connector):
    batches = [b async for b in connector.read_stream("events", None, QUERY)]
    checkpoints = [b.checkpoint for b in batches if b.checkpoint is not None]
    resumed = [b async for b in connector.read_stream("events", checkpoints[0], QUERY)]
    everything = [log for b in batches for log in b.logs]
    after = [log for b in resumed for log in b.logs]
    assert after == everything[checkpoints[0]["next"] :]


async def test_hook_get_ai_audit_logs(connector):
    """The core default pages through every stream with exact cursors."""
    query = attrs.evolve(QUERY, limit=10)
    first = await connector.get_ai_audit_logs(query)
    second = await connector.get_ai_audit_logs(
        attrs.evolve(query, cursor=first.next_cursor)
    )
    assert first.has_more
    assert len(first.logs) == 10
    assert {log.id for log in first.logs}.isdisjoint(log.id for log in second.logs)


async def test_hook_stream_ai_audit_logs(connector):
    logs = [log async for log in connector.stream_ai_audit_logs(QUERY)]
    assert [log.id for log in logs] == [log.id for log in connector.instance.logs]


async def test_stream_closed_when_the_caller_stops_early(connector):
    async with contextlib.aclosing(connector.stream_ai_audit_logs(QUERY)) as stream:
        async for _ in stream:
            break
    assert connector.instance.stream_closed == 1


async def test_stream_closed_by_the_loop_without_aclosing(connector):
    """Without aclosing, the event loop's finalizer closes the stream."""
    async for _ in connector.stream_ai_audit_logs(QUERY):
        break
    for _ in range(5):
        await asyncio.sleep(0)
    assert connector.instance.stream_closed == 1


async def test_stream_closed_when_the_task_is_cancelled(connector):
    started = asyncio.Event()

    async def consume():
        async with contextlib.aclosing(connector.stream_ai_audit_logs(QUERY)) as stream:
            async for _ in stream:
                started.set()
                await asyncio.sleep(3600)

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert connector.instance.stream_closed == 1


async def test_hook_validate_ai_credentials(connector):
    validation = await connector.validate_ai_credentials()
    assert validation.is_valid
    assert validation.platform == "toy"


async def test_hook_get_usage_analytics(connector):
    """The core default folds the stream; it agrees with the logs."""
    period = AIDateRange(start=QUERY.start_date, end=QUERY.end_date)
    analytics = await connector.get_usage_analytics(period)
    logs = connector.instance.logs
    assert analytics.total_events == len(logs)
    assert analytics.active_users == len({log.user_id for log in logs})
    assert sum(day.total_events for day in analytics.daily_breakdown) == len(logs)
    counts = [user.event_count for user in analytics.top_users]
    assert counts == sorted(counts, reverse=True)
    assert sum(analytics.events_by_type.values()) == len(logs)
    [model] = analytics.model_usage
    assert model.model == "gpt-4o"
    assert model.usage_count == analytics.events_by_type["conversation.message"]


async def test_hook_validate_permissions(registry):
    async with registry.create("toy", {"token": "nope"}) as conn:
        check = await conn.validate_permissions()
    assert not check.is_valid
    assert check.missing_permissions == ("logs.read",)


async def test_hook_discover_automations(registry, connector):
    with pytest.raises(
        NotSupportedError, match="toy connector does not support discover_automations"
    ):
        await connector.discover_automations()

    class WithGPTs(toy.ToyConnector):
        @hookimpl
        async def discover_automations(self):
            return []

    async with load(("p", registering(WithGPTs))).create("toy", {"token": "x"}) as conn:
        assert await conn.discover_automations() == []


async def test_hook_read_directory(connector):
    with pytest.raises(
        NotSupportedError, match="toy connector does not support read_directory"
    ):
        await connector.read_directory()

    member = DirectoryMember(user_id="u1", email="u1@example.test")

    class WithMembers(toy.ToyConnector):
        @hookimpl
        async def read_directory(self):
            return DirectoryListing(members=(member,))

    class Wrong(toy.ToyConnector):
        @hookimpl
        async def read_directory(self):
            return [member]

    async with load(("p", registering(WithMembers))).create(
        "toy", {"token": "x"}
    ) as conn:
        assert conn.implements("read_directory")
        assert (await conn.read_directory()).members == (member,)
        analytics = await conn.get_usage_analytics(
            AIDateRange(start=toy.START, end=toy.START + timedelta(days=30))
        )
        # The live analytics count the directory too, never below the active.
        assert analytics.total_users == analytics.active_users + 1
    async with load(("p", registering(Wrong))).create("toy", {"token": "x"}) as conn:
        with pytest.raises(PluginError, match="expected DirectoryListing"):
            await conn.read_directory()


async def test_hook_get_audit_logs(connector):
    since = toy.START + timedelta(days=2)
    entries = await connector.get_audit_logs(since)
    expected = [log for log in connector.instance.logs if log.timestamp >= since]
    assert [e.id for e in entries] == [log.id for log in expected]
    assert all(isinstance(e, AuditLogEntry) for e in entries)
    assert entries[0].outcome == "success"
    assert entries[0].details["native_type"] == expected[0].native_type
    assert await connector.get_audit_logs(datetime.now(UTC) + timedelta(days=1)) == []


async def test_hook_aclose(registry):
    conn = registry.create("toy", {"token": "good"})
    await conn.aclose()
    await conn.aclose()
    assert conn.instance.closed == 1


async def test_wrong_return_type_is_a_plugin_error():
    class Liar(toy.ToyConnector):
        @hookimpl
        async def validate_ai_credentials(self):
            return {"is_valid": True}

    async with load(("liar", registering(Liar))).create("toy", {"token": "x"}) as conn:
        with pytest.raises(PluginError, match="validate_ai_credentials returned dict"):
            await conn.validate_ai_credentials()


async def test_stream_of_wrong_items_is_a_plugin_error():
    class Junk(toy.ToyConnector):
        @hookimpl
        async def stream_ai_audit_logs(self, query):
            yield {"id": "not a log"}

    async with load(("junk", registering(Junk))).create("toy", {"token": "x"}) as conn:
        with pytest.raises(PluginError, match="yielded dict"):
            [log async for log in conn.stream_ai_audit_logs(QUERY)]


# ---------------------------------------------------------------------------
# Fan-out
# ---------------------------------------------------------------------------


async def test_fan_out_isolates_failures(registry):
    good = registry.create("toy", {"token": "good"}, name="good")
    bad = registry.create("toy", {"token": "bad"}, name="bad")

    async def call(conn):
        result = await conn.authenticate()
        if not result.success:
            raise ConnectorError("refused")
        return result.platform_user_id

    results = await registry.fan_out([good, bad], call)
    assert [(r.name, r.ok, r.value) for r in results] == [
        ("good", True, "org-toy"),
        ("bad", False, None),
    ]
    assert str(results[1].error) == "refused"


async def test_fan_out_propagates_cancellation(registry):
    conns = [registry.create("toy", {"token": "good"}, name=str(i)) for i in range(3)]
    started = asyncio.Event()

    async def slow(conn):
        started.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(registry.fan_out(conns, slow))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_fan_out_bounds_concurrency(registry):
    conns = [registry.create("toy", {"token": "good"}, name=str(i)) for i in range(6)]
    running = peak = 0

    async def call(conn):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return conn.name

    results = await registry.fan_out(conns, call, concurrency=2)
    assert [r.value for r in results] == [str(i) for i in range(6)]
    assert peak == 2


# ---------------------------------------------------------------------------
# Every hook has a test here
# ---------------------------------------------------------------------------


def _all_hooks() -> list[str]:
    plugin_hooks = [n for n in dir(hookspecs) if n.startswith("aiaudit_")]
    connector_hooks = [
        n for n, _ in inspect.getmembers(AIPlatformConnector, inspect.isfunction)
    ]
    return sorted(plugin_hooks + connector_hooks)


@pytest.mark.parametrize("hook", _all_hooks())
def test_every_hook_has_a_test(hook):
    source = Path(__file__).read_text()
    assert f"def test_hook_{hook}(" in source


def test_tracing_logs_hook_calls():
    from structlog.testing import capture_logs  # noqa: PLC0415

    with capture_logs() as events:
        Registry.load(
            entry_points=False,
            plugins=[("toy", toy)],
            environ={"AIAUDIT_TRACE_PLUGINS": "1"},
        ).sandbox("toy")
    calls = [e for e in events if e["event"] == "hook.call"]
    assert calls == [
        {
            "event": "hook.call",
            "log_level": "debug",
            "hook": "aiaudit_register_connectors",
            "arguments": ["register"],
            "plugins": ["toy"],
        },
        {
            "event": "hook.call",
            "log_level": "debug",
            "hook": "aiaudit_sandbox",
            "arguments": ["platform"],
            "plugins": [],
        },
    ]
    assert sys.modules["toy"] is toy
