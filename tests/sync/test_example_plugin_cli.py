"""The third-party example plugin, used as a person would: listed by
``aiaudit plugins``, synced by ``aiaudit sync`` from its environment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path


AIAUDIT = Path(sys.executable).parent / "aiaudit"


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIAUDIT_", "EXAMPLE_")) and k != "DATABASE_URL"
    }
    return env | extra


def test_the_example_plugin_is_listed_and_syncs(tmp_path):
    listed = subprocess.run(
        [str(AIAUDIT), "plugins", "--json"],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
    )
    plugins = {p["name"]: p for p in json.loads(listed.stdout)}
    assert plugins["example"]["status"] == "loaded"
    assert plugins["example"]["distribution"] == "aiaudit-example"
    sandbox = subprocess.Popen(
        [str(AIAUDIT), "sandbox", "example", "--json", "--events", "1500"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        config = json.loads(sandbox.stdout.readline())["config"]
        env = _env(
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
        sandbox.send_signal(signal.SIGINT)
        sandbox.communicate(timeout=20)
    assert json.loads(first.stdout)[0]["inserted"] > 0
    assert json.loads(second.stdout)[0]["inserted"] == 0
    saved = subprocess.run(
        [str(AIAUDIT), "--store", store, "connections", "list", "--json"],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
    )
    [connection] = json.loads(saved.stdout)
    assert connection["config"]["api_key"] == "$EXAMPLE_API_KEY"
