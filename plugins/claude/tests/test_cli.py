"""The command line against the sandbox process: ``aiaudit check claude``
names a missing scope, and ``aiaudit sync claude`` stores the history once."""

from __future__ import annotations

import json
import subprocess

import pytest

from connector_core.testing.processes import AIAUDIT, clean_env, running_sandbox


@pytest.fixture(scope="module")
def sandbox_process():
    with running_sandbox(
        "claude", "--events", "1200", "--days", "7", "--seed", "5"
    ) as described:
        yield described


@pytest.fixture
def run(tmp_path, sandbox_process):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    environment = sandbox_process["environment"]

    def invoke(*args: str, **changes: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(AIAUDIT), "--store", store, *args],
            capture_output=True,
            text=True,
            env=clean_env(**{**environment, **changes}),
            timeout=300,
            check=False,
            cwd=tmp_path,
        )

    return invoke


def test_check_passes_with_the_full_key(run):
    check = run("check", "claude", "--json")
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)[0]["ok"] is True


def test_check_names_the_scope_a_key_lacks(run, sandbox_process):
    restricted = sandbox_process["details"]["keys"]["without_activities_scope"]
    check = run("check", "claude", "--json", ANTHROPIC_COMPLIANCE_KEY=restricted)
    [verdict] = json.loads(check.stdout)
    assert verdict["ok"] is False
    assert "read:compliance_activities" in json.dumps(verdict)
    assert restricted not in check.stdout + check.stderr


def test_a_sync_stores_the_history_once(run, sandbox_process):
    start, end = sandbox_process["details"]["history"]
    first = run("sync", "claude", "--since", start, "--until", end, "--json")
    assert first.returncode == 0, first.stderr
    [report] = json.loads(first.stdout)
    assert report["ok"]
    assert report["inserted"] == sandbox_process["details"]["activities"]
    again = run("sync", "claude", "--since", start, "--until", end, "--json")
    [second] = json.loads(again.stdout)
    assert second["inserted"] == 0
