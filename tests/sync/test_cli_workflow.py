"""The command line a person uses, end to end, against a sandbox process."""

from __future__ import annotations

import csv
import io
import json
import subprocess

import pytest
from contract_data import OCSF_CLASSES, contract
from processes import AIAUDIT, clean_env, running_sandbox

from connector_core.export.ocsf import validate_ocsf


@pytest.fixture(scope="module")
def sandbox_process():
    with running_sandbox(
        "chatgpt", "--events", "1500", "--days", "7", "--seed", "4"
    ) as described:
        yield described


@pytest.fixture
def run(tmp_path, sandbox_process, store_url):
    environment = sandbox_process["details"]["environment"]

    def invoke(
        *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(AIAUDIT), "--store", store_url, *args],
            capture_output=True,
            text=True,
            env=clean_env(**(environment if env is None else env)),
            timeout=300,
            check=False,
            cwd=tmp_path,
        )

    return invoke


def _since_until(sandbox_process):
    start, end = sandbox_process["details"]["history"]
    return ["--since", start, "--until", end]


def test_connections_sync_logs_usage(run, sandbox_process, tmp_path):
    added = run(
        "connections", "add", "acme", "--platform", "chatgpt", "--from-env", "--json"
    )
    assert added.returncode == 0, added.stderr
    saved = json.loads(added.stdout)
    assert saved["config"]["api_key"] == "$OPENAI_ADMIN_KEY"
    listed = json.loads(run("connections", "list", "--json").stdout)
    assert [c["name"] for c in listed] == ["acme"]
    assert sandbox_process["config"]["api_key"] not in run("connections", "list").stdout

    check = run("check", "acme", "--json")
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)[0]["ok"] is True

    sync = run("sync", "acme", *_since_until(sandbox_process), "--json")
    assert sync.returncode == 0, sync.stderr
    [report] = json.loads(sync.stdout)
    assert report["inserted"] > 0
    again = json.loads(
        run("sync", "acme", *_since_until(sandbox_process), "--json").stdout
    )
    assert again[0]["inserted"] == 0

    jsonl = run("logs", "--connection", "acme", "--format", "jsonl")
    lines = jsonl.stdout.splitlines()
    assert len(lines) == report["inserted"]
    table = run(
        "logs", "--connection", "acme", "--action", "user.login", "--limit", "5"
    )
    assert table.returncode == 0
    assert len(table.stdout.splitlines()) >= 6
    rows = list(
        csv.DictReader(
            io.StringIO(run("logs", "--format", "csv", "--limit", "10").stdout)
        )
    )
    assert len(rows) == 10
    assert {"id", "timestamp", "action", "user_email"} <= set(rows[0])

    usage = json.loads(
        run(
            "usage", "--connection", "acme", *_since_until(sandbox_process), "--json"
        ).stdout
    )
    assert usage["total_events"] == report["inserted"]
    html = run(
        "usage", "--connection", "acme", "--format", "html", "--output", "r.html"
    )
    assert html.returncode == 0, html.stderr
    page = (tmp_path / "r.html").read_text()
    assert page.count("<svg") >= 3

    removed = run("connections", "remove", "acme", "--purge", "--json")
    assert json.loads(removed.stdout) == {"removed": "acme", "purged": True}


def test_ocsf_export_validates_against_its_classes(run, sandbox_process):
    sync = run("sync", "chatgpt", *_since_until(sandbox_process))
    assert sync.returncode == 0, sync.stderr
    out = run("logs", "--format", "ocsf")
    assert out.returncode == 0, out.stderr
    reference = contract(OCSF_CLASSES)
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert events
    classes = {event["class_uid"] for event in events}
    assert {3002, 3004, 3007, 6003, 6006} <= classes
    for event in events:
        assert validate_ocsf(event, reference) == [], event["metadata"]["uid"]
        assert "raw" in event["unmapped"]


@pytest.mark.parametrize(
    ("args", "env", "fragment", "code"),
    [
        (("sync", "chatgpt", "--since", "yesterday-ish"), None, "is not a date", 2),
        (("logs", "--since", "2025-13-45"), None, "is not a date", 2),
        (("sync", "nobody"), None, "no connection named 'nobody'", 1),
        (("sync", "chatgpt"), {}, "no ChatGPT credentials in the environment", 1),
        (
            ("check", "chatgpt"),
            {
                "OPENAI_ADMIN_KEY": "sk-admin-wrongwrongwrong",
                "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
            },
            "Cannot connect to host 127.0.0.1:9",
            1,
        ),
        (
            ("check", "chatgpt"),
            {
                "OPENAI_ADMIN_KEY": "sk-admin-wrongwrongwrong",
                "OPENAI_BASE_URL": "not a url",
            },
            "base_url must be an http(s) URL",
            1,
        ),
        (
            (
                "usage",
                "--platform",
                "chatgpt",
                "--format",
                "html",
                "--output",
                "/no/such/dir/r.html",
            ),
            None,
            "No such file or directory",
            1,
        ),
        (
            (
                "connections",
                "add",
                "x",
                "--platform",
                "chatgpt",
                "--option",
                "api_key=sk-admin-wrongwrongwrong",
            ),
            None,
            "is a secret",
            1,
        ),
        (
            (
                "connections",
                "add",
                "x",
                "--platform",
                "chatgpt",
                "--secret",
                "api_key=sk-admin-wrongwrongwrong",
            ),
            None,
            "not an environment variable name",
            1,
        ),
        (
            ("connections", "add", "x", "--platform", "chatgpt", "--secret"),
            None,
            None,
            2,
        ),
        (
            ("usage", "--platform", "nope", "--format", "pdf"),
            None,
            "Invalid value for '--format'",
            2,
        ),
    ],
)
def test_bad_input_is_one_clear_line(run, args, env, fragment, code):
    if fragment is None:  # a key pasted where FIELD=VARIABLE belongs
        args, fragment = (*args, "sk-admin-wrongwrongwrong"), "expected FIELD=VALUE"
    result = run(*args, env=env)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert fragment in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert "sk-admin-wrongwrongwrong" not in result.stderr + result.stdout


def test_an_unreachable_store_is_one_clear_line(tmp_path):
    # In the variable: --store refuses a URL holding a password.
    result = subprocess.run(
        [str(AIAUDIT), "connections", "list"],
        capture_output=True,
        text=True,
        env=clean_env(AIAUDIT_STORE="postgresql://u:s3cretpw@127.0.0.1:9/db"),
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert "s3cretpw" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    bad = subprocess.run(
        [str(AIAUDIT), "--store", "mysql://x", "connections", "list"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1
    assert "unsupported store URL" in bad.stderr
