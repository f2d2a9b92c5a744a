"""The ``aiaudit`` command as a person (or a host) runs it: a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest


AIAUDIT = Path(sys.executable).parent / "aiaudit"


def run(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AIAUDIT_")}
    environ.update(env or {})
    return subprocess.run(
        [str(AIAUDIT), *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


def install(site: Path, dist: str, version: str, module: str, source: str) -> None:
    """Install a one-module plugin distribution into *site*.

    A wheel install is exactly this: the module, and a dist-info folder
    whose entry_points.txt puts it in the ``aiaudit`` group.
    """
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    # The folder name carries the normalized name (dashes become
    # underscores); importlib splits it at the first dash.
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
    )
    (info / "entry_points.txt").write_text(f"[aiaudit]\n{module} = {module}\n")


GOOD_PLUGIN = """
    import attrs
    import connector_core as cc

    @attrs.frozen
    class Config:
        token: cc.Secret

    class GoodConnector:
        platform = "good"
        display_name = "Good Platform"
        config_class = Config

        def __init__(self, config, *, session=None):
            self.config = config

        @cc.hookimpl
        async def authenticate(self):
            raise NotImplementedError

        @cc.hookimpl
        async def list_streams(self):
            return []

        @cc.hookimpl
        async def read_stream(self, stream, checkpoint, query):
            return
            yield

        @cc.hookimpl
        async def validate_ai_credentials(self):
            raise NotImplementedError

    @cc.hookimpl
    def aiaudit_register_connectors(register):
        register(GoodConnector)
"""

BROKEN_PLUGIN = """
    import connector_core
    import a_module_that_is_not_installed
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    install(site, "aiaudit-good", "2.0.1", "aiaudit_good", GOOD_PLUGIN)
    install(site, "aiaudit-broken", "0.3", "aiaudit_broken", BROKEN_PLUGIN)
    return site


def by_name(output: str) -> dict[str, dict]:
    return {plugin["name"]: plugin for plugin in json.loads(output)}


def test_plugins_json_lists_an_installed_plugin():
    """A plugin installed as its own distribution, as any third party's is."""
    result = run("plugins", "--json")
    assert result.returncode == 0, result.stderr
    example = by_name(result.stdout)["example"]
    assert example["status"] == "loaded"
    assert example["module"] == "aiaudit_example"
    assert example["distribution"] == "aiaudit-example"
    assert example["version"] == metadata.version("aiaudit-example")
    assert example["hooks"] == ["aiaudit_register_connectors"]
    assert example["error"] is None
    [connector] = example["connectors"]
    assert connector["platform"] == "example"
    assert connector["display_name"] == "Example Reports"
    assert connector["class"] == "aiaudit_example.connector.ExampleConnector"
    assert {"validate_ai_credentials", "list_streams", "read_stream"} <= set(
        connector["hooks"]
    )
    assert connector["secret_fields"] == ["api_key"]
    assert connector["sandbox"] == "aiaudit_example.sandbox.ExampleSandboxProvider"


def test_broken_plugin_beside_a_good_one(site: Path):
    """The good plugin loads, the broken one is listed with its error, exit 0."""
    result = run("plugins", "--json", env={"PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr
    plugins = by_name(result.stdout)
    assert plugins["aiaudit_good"]["status"] == "loaded"
    assert plugins["aiaudit_good"]["version"] == "2.0.1"
    assert plugins["aiaudit_good"]["connectors"][0]["platform"] == "good"
    assert plugins["aiaudit_broken"]["status"] == "failed"
    assert plugins["aiaudit_broken"]["error"] == (
        "ModuleNotFoundError: No module named 'a_module_that_is_not_installed'"
    )
    assert plugins["aiaudit_broken"]["distribution"] == "aiaudit-broken"
    assert plugins["example"]["status"] == "loaded"


def test_plugins_table_shows_the_error(site: Path):
    result = run("plugins", env={"PYTHONPATH": str(site)})
    assert result.returncode == 0
    assert "aiaudit_broken 0.3  [failed]" in result.stdout
    assert "error: ModuleNotFoundError" in result.stdout
    assert "aiaudit_good 2.0.1  [loaded]  platforms: good" in result.stdout


def test_allow_list_from_the_environment(site: Path):
    result = run(
        "plugins",
        "--json",
        env={"PYTHONPATH": str(site), "AIAUDIT_PLUGINS": "aiaudit-good"},
    )
    statuses = {name: p["status"] for name, p in by_name(result.stdout).items()}
    assert {
        name: statuses[name] for name in ("aiaudit_broken", "aiaudit_good", "example")
    } == {
        "aiaudit_broken": "disabled",
        "aiaudit_good": "loaded",
        "example": "disabled",
    }
    assert set(statuses.values()) == {"disabled", "loaded"}


def test_unknown_option_is_one_clear_line():
    result = run("plugins", "--jsn")
    assert result.returncode == 2
    assert "Error: No such option '--jsn'" in result.stderr
    assert "Traceback" not in result.stderr


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("aiaudit, version ")
