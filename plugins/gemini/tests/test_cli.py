"""The command line against the sandbox process: ``aiaudit check gemini``
says what is wrong with refused credentials, ``aiaudit sync gemini`` stores
the history once, and the stored logs export as valid OCSF."""

from __future__ import annotations

import json
import subprocess

import pytest

from connector_core.testing.ocsf import assert_valid_ocsf
from connector_core.testing.processes import AIAUDIT, clean_env, running_sandbox


@pytest.fixture(scope="module")
def sandbox_process():
    with running_sandbox(
        "gemini", "--events", "600", "--days", "7", "--seed", "5"
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


def test_check_passes_with_the_sandbox_key(run):
    check = run("check", "gemini", "--json")
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)[0]["ok"] is True


def test_check_names_the_scope_an_administrator_lacks(run, sandbox_process):
    restricted = sandbox_process["details"]["restricted_subject"]
    check = run("check", "gemini", "--json", AIAUDIT_GEMINI_SUBJECT=restricted)
    [verdict] = json.loads(check.stdout)
    assert verdict["ok"] is False
    assert "admin.reports.audit.readonly" in json.dumps(verdict)


def test_check_tells_an_undelegated_account_what_to_grant(run, sandbox_process):
    key = sandbox_process["details"]["key_files"]["undelegated"]
    check = run("check", "gemini", "--json", GOOGLE_APPLICATION_CREDENTIALS=key)
    [verdict] = json.loads(check.stdout)
    assert verdict["ok"] is False
    assert "Domain Wide Delegation" in json.dumps(verdict)
    with open(key, encoding="utf-8") as handle:  # noqa: PTH123
        private = json.load(handle)["private_key"].splitlines()[1]
    assert private not in check.stdout + check.stderr


def test_a_sync_stores_the_history_once(run, sandbox_process):
    start, end = sandbox_process["details"]["history"]
    first = run("sync", "gemini", "--since", start, "--until", end, "--json")
    assert first.returncode == 0, first.stderr
    [report] = json.loads(first.stdout)
    assert report["ok"], report
    assert report["inserted"] == sandbox_process["details"]["events"]
    again = run("sync", "gemini", "--since", start, "--until", end, "--json")
    [second] = json.loads(again.stdout)
    assert second["inserted"] == 0


def test_the_synced_history_exports_as_valid_ocsf(run, sandbox_process):
    start, end = sandbox_process["details"]["history"]
    sync = run("sync", "gemini", "--since", start, "--until", end)
    assert sync.returncode == 0, sync.stderr
    out = run("logs", "--format", "ocsf", "--since", start, "--until", end)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(events) == sandbox_process["details"]["events"]
    for event in events:
        assert_valid_ocsf(event)


def test_the_demo_lists_the_ai_apps_people_granted_access(tmp_path):
    # The main job on this platform alone: the text and the HTML report both
    # show the apps granted access, AI apps first, and who granted them.
    report = tmp_path / "report.html"
    demo = subprocess.run(
        [
            str(AIAUDIT),
            "--store",
            f"sqlite:///{tmp_path / 'demo.db'}",
            "demo",
            "gemini",
            "--events",
            "1500",
            "--days",
            "10",
            "--report",
            str(report),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert demo.returncode == 0, demo.stderr
    page = report.read_text()
    assert "Apps granted access" in page
    text = subprocess.run(
        [str(AIAUDIT), "--store", f"sqlite:///{tmp_path / 'demo.db'}", "usage"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
        check=True,
        cwd=tmp_path,
    ).stdout
    section = text.split("Apps granted access", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in section.splitlines()[2:] if not line.startswith("      ")]
    assert rows, text
    # AI apps come first, and each names the people it is granted to.
    assert " AI " in rows[0]
    assert "granted to: " in section
    assert "@" in section.split("granted to: ", 1)[1].split("\n", 1)[0]
    first_app = rows[0].split("Gemini (Google Workspace)", 1)[1].split(" AI ", 1)[0]
    assert first_app.strip() in page
