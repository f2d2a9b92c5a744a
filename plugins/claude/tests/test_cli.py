"""The command line against the sandbox process: ``aiaudit check claude``
names a missing scope, and ``aiaudit sync claude`` stores the history once."""

from __future__ import annotations

import json
import subprocess

import pytest

from connector_core.testing.ocsf import assert_valid_ocsf
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


def test_check_asks_nothing_of_the_chats_unless_they_are_read(run, sandbox_process):
    restricted = sandbox_process["details"]["keys"]["without_user_data_scope"]
    plain = run("check", "claude", "--json", ANTHROPIC_COMPLIANCE_KEY=restricted)
    assert json.loads(plain.stdout)[0]["ok"] is True


def test_check_names_the_chats_scope_when_the_chats_are_read(run, sandbox_process):
    restricted = sandbox_process["details"]["keys"]["without_user_data_scope"]
    check = run(
        "check",
        "claude",
        "--json",
        ANTHROPIC_COMPLIANCE_KEY=restricted,
        AIAUDIT_CLAUDE_CONTENT="1",
    )
    [verdict] = json.loads(check.stdout)
    assert verdict["ok"] is False
    assert "read:compliance_user_data" in json.dumps(verdict)
    assert restricted not in check.stdout + check.stderr


def test_a_sync_with_the_chats_stores_them_once(run, sandbox_process):
    details = sandbox_process["details"]
    start, end = details["history"]
    args = ("sync", "claude", "--since", start, "--until", end, "--json")
    first = run(*args, AIAUDIT_CLAUDE_CONTENT="1")
    assert first.returncode == 0, first.stderr
    [report] = json.loads(first.stdout)
    assert report["ok"]
    expected = details["activities"] + details["chats"] + details["chat_uploads"]
    assert report["inserted"] == expected
    again = run(*args, AIAUDIT_CLAUDE_CONTENT="1")
    [second] = json.loads(again.stdout)
    assert second["inserted"] == 0


def test_a_sync_without_the_scope_keeps_the_feed_and_says_why(run, sandbox_process):
    details = sandbox_process["details"]
    start, end = details["history"]
    restricted = details["keys"]["without_user_data_scope"]
    result = run(
        "sync",
        "claude",
        "--since",
        start,
        "--until",
        end,
        "--json",
        ANTHROPIC_COMPLIANCE_KEY=restricted,
        AIAUDIT_CLAUDE_CONTENT="1",
    )
    [report] = json.loads(result.stdout)
    assert report["inserted"] == details["activities"]
    assert "read:compliance_user_data" in json.dumps(report)
    assert restricted not in result.stdout + result.stderr


def test_the_synced_history_exports_as_valid_ocsf(run, sandbox_process):
    """Every event a sync stores (the feed's, every actor kind and family,
    and the chats stream's) leaves ``aiaudit logs --format ocsf`` as a
    valid OCSF event."""
    details = sandbox_process["details"]
    start, end = details["history"]
    sync = run(
        "sync", "claude", "--since", start, "--until", end, AIAUDIT_CLAUDE_CONTENT="1"
    )
    assert sync.returncode == 0, sync.stderr
    out = run("logs", "--format", "ocsf", "--since", start, "--until", end)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(events) == (
        details["activities"] + details["chats"] + details["chat_uploads"]
    )
    for event in events:
        assert_valid_ocsf(event)
        assert "raw" in event["unmapped"]
    classes = {event["class_uid"] for event in events}
    assert {3002, 3004, 6003, 6006} <= classes


def test_a_sync_stores_the_usage_report_and_usage_shows_it(run, sandbox_process):
    """``aiaudit sync`` stores the usage stream's buckets, and ``aiaudit
    usage --platform claude`` shows tokens and cost per model from them."""
    details = sandbox_process["details"]
    start, end = details["history"]
    sync = run("sync", "claude", "--since", start, "--until", end, "--json")
    assert sync.returncode == 0, sync.stderr
    [report] = json.loads(sync.stdout)
    [usage] = [s for s in report["streams"] if s["stream"] == "usage"]
    assert usage["usage_inserted"] == details["usage_buckets"]

    args = ("usage", "--platform", "claude", "--since", start, "--until", end)
    shown = run(*args, "--json")
    assert shown.returncode == 0, shown.stderr
    models = {m["model"]: m for m in json.loads(shown.stdout)["model_usage"]}
    assert {"claude-opus-4-7", "claude-sonnet-4-5", "claude-haiku-4-5"} <= set(models)
    for name in ("claude-opus-4-7", "claude-sonnet-4-5", "claude-haiku-4-5"):
        assert models[name]["total_tokens"] > 0
        assert models[name]["cost_estimate"] > 0
    table = run(*args)
    assert table.returncode == 0, table.stderr
    [line] = [x for x in table.stdout.splitlines() if "claude-opus-4-7" in x]
    assert "$" in line, table.stdout


def test_a_sync_without_an_admin_key_keeps_the_feed(run, sandbox_process):
    details = sandbox_process["details"]
    start, end = details["history"]
    result = run(
        "sync",
        "claude",
        "--since",
        start,
        "--until",
        end,
        "--json",
        ANTHROPIC_ADMIN_KEY="",
        ANTHROPIC_COMPLIANCE_KEY=details["keys"]["compliance"],
    )
    assert result.returncode == 0, result.stderr
    [report] = json.loads(result.stdout)
    assert report["inserted"] == details["activities"]
    assert "usage" not in [s["stream"] for s in report["streams"]]
    check = run("check", "claude", "--json", ANTHROPIC_ADMIN_KEY="")
    [verdict] = json.loads(check.stdout)
    assert "ANTHROPIC_ADMIN_KEY" in json.dumps(verdict["errors"])
