"""The third-party example plugin, used as a person would: listed by
``aiaudit plugins``, synced by ``aiaudit sync`` from its environment."""

from __future__ import annotations

import json
import subprocess

from connector_core.testing.processes import AIAUDIT, clean_env, start_sandbox, stop


def test_the_example_plugin_is_listed_and_syncs(tmp_path):
    listed = subprocess.run(
        [str(AIAUDIT), "plugins", "--json"],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=True,
    )
    plugins = {p["name"]: p for p in json.loads(listed.stdout)}
    assert plugins["example"]["status"] == "loaded"
    assert plugins["example"]["distribution"] == "aiaudit-example"
    sandbox, described = start_sandbox("example", "--events", "1500")
    try:
        config = described["config"]
        env = clean_env(
            EXAMPLE_API_KEY=config["api_key"],
            EXAMPLE_CUSTOMER_ID=config["customer_id"],
            EXAMPLE_BASE_URL=config["base_url"],
        )
        store = f"sqlite:///{tmp_path / 'example.db'}"
        args = [str(AIAUDIT), "--store", store, "sync", "example", "--json"]
        first = subprocess.run(
            args, capture_output=True, text=True, env=env, check=False
        )
        assert first.returncode == 0, first.stderr
        second = subprocess.run(
            args, capture_output=True, text=True, env=env, check=False
        )
    finally:
        stop(sandbox)
    assert json.loads(first.stdout)[0]["inserted"] > 0
    assert json.loads(second.stdout)[0]["inserted"] == 0
    saved = subprocess.run(
        [str(AIAUDIT), "--store", store, "connections", "list", "--json"],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=True,
    )
    [connection] = json.loads(saved.stdout)
    assert connection["config"]["api_key"] == "$EXAMPLE_API_KEY"
