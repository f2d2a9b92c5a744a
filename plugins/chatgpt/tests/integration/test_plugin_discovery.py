"""How hosts and users find the ChatGPT plugin: its entry point, what
``aiaudit plugins`` says of it, and its configuration from the environment."""

from __future__ import annotations

import json
import subprocess
from importlib.metadata import version

from connector_core import Registry, Secret
from connector_core.testing.processes import AIAUDIT, clean_env


def test_entry_points_find_the_chatgpt_distribution() -> None:
    """The ChatGPT plugin is found the way third-party plugins are: by the
    entry point of its own distribution."""
    registry = Registry.load(environ={})
    [info] = [p for p in registry.plugins if p.name == "chatgpt"]
    assert info.status == "loaded"
    assert info.distribution == "aiaudit-chatgpt"
    assert info.version == version("aiaudit-chatgpt")
    assert "aiaudit_register_connectors" in info.hooks
    assert registry.platforms["chatgpt"].plugin == "chatgpt"


def test_plugins_json_lists_the_chatgpt_plugin() -> None:
    result = subprocess.run(
        [str(AIAUDIT), "plugins", "--json"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    chatgpt = {plugin["name"]: plugin for plugin in json.loads(result.stdout)}[
        "chatgpt"
    ]
    assert chatgpt["status"] == "loaded"
    assert chatgpt["distribution"] == "aiaudit-chatgpt"
    assert chatgpt["version"] == version("aiaudit-chatgpt")
    assert chatgpt["hooks"] == ["aiaudit_register_connectors"]
    [connector] = chatgpt["connectors"]
    assert connector["platform"] == "chatgpt"
    assert {"authenticate", "list_streams", "read_stream"} <= set(connector["hooks"])
    assert connector["secret_fields"] == ["api_key", "compliance_api_key"]
    assert connector["sandbox"] == "aiaudit_chatgpt.sandbox.server.SandboxProvider"


def test_create_from_env_for_chatgpt() -> None:
    registry = Registry.load(environ={})
    conn = registry.create_from_env(
        "chatgpt",
        environ={
            "OPENAI_ADMIN_KEY": "sk-admin-envkey1234",
            "OPENAI_ORGANIZATION_ID": "org-1",
        },
    )
    assert conn.config.api_key == Secret("sk-admin-envkey1234")
    assert conn.config.organization_id == "org-1"
    assert "envkey" not in repr(conn.config)
