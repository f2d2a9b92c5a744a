"""``aiaudit sandbox chatgpt`` as a person runs it: a real process, then
Ctrl-C. The command itself is the core's (tested there on the example
plugin); these check what the ChatGPT sandbox serves and prints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from pathlib import Path

from connector_core.testing.processes import AIAUDIT, clean_env


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(AIAUDIT), "sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )


def test_sandbox_prints_urls_and_keys_then_stops_on_ctrl_c(tmp_path):
    process = start(
        "chatgpt",
        "--json",
        "--events",
        "500",
        "--seed",
        "3",
        "--ground-truth",
        str(tmp_path),
    )
    try:
        line = process.stdout.readline()
        described = json.loads(line)
        assert described["platform"] == "chatgpt"
        config = described["config"]
        request = urllib.request.Request(  # noqa: S310 - loopback URL we just started
            f"{config['base_url']}/organization/audit_logs?limit=5",
            headers={"Authorization": f"Bearer {config['api_key']}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            body = json.load(response)
        assert len(body["data"]) == 5
        truth = (tmp_path / "audit_logs.jsonl").read_text().splitlines()
        assert len(truth) == described["details"]["audit_events"] == 500
        newest = json.loads(truth[-1])
        assert body["data"][0]["id"] == newest["id"] or newest["type"].startswith(
            ("tenant.", "role.")
        )
        assert (tmp_path / "compliance_logs.jsonl").stat().st_size > 0
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


REPO = Path(__file__).resolve().parents[4]
"""The repository: its README tells a user which variables to export."""


def _readme_variables() -> set[str]:
    """The variables the README's "Using it" exports."""
    text = (REPO / "README.md").read_text()
    using = text.partition("## Using it")[2].partition("\n## ")[0]
    return {
        line.split()[1].partition("=")[0]
        for line in using.splitlines()
        if line.startswith("export ")
    }


EXPECTED = {
    "OPENAI_ADMIN_KEY",
    "OPENAI_BASE_URL",
    "CHATGPT_COMPLIANCE_API_KEY",
    "CHATGPT_WORKSPACE_ID",
    "CHATGPT_COMPLIANCE_BASE_URL",
}


def test_the_text_output_has_export_lines_to_paste(tmp_path):
    """What the sandbox prints is pasted into another shell as it is; then
    ``aiaudit sync PLATFORM`` reads the sandbox."""
    process = start("chatgpt", "--events", "200", "--seed", "5")
    try:
        lines = []
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C"):
                break
        exports = [line for line in lines if line.startswith("export ")]
        assert exports, lines
        script = "\n".join([*exports, "env -0"])
        shell = subprocess.run(
            ["/bin/sh", "-c", script],
            capture_output=True,
            text=True,
            env={"PATH": os.environ["PATH"]},
            check=True,
        )
        pasted = dict(
            entry.partition("=")[::2] for entry in shell.stdout.split("\0") if entry
        )
        names = {line.split()[1].partition("=")[0] for line in exports}
        assert names >= EXPECTED
        assert _readme_variables() <= names
        synced = subprocess.run(
            [
                str(AIAUDIT),
                "sync",
                "chatgpt",
                "--json",
                "--store",
                f"sqlite:///{tmp_path / 's.db'}",
            ],
            capture_output=True,
            text=True,
            env=clean_env(**{name: pasted[name] for name in names}),
            timeout=300,
            check=False,
        )
        assert synced.returncode == 0, synced.stderr
        assert json.loads(synced.stdout)[0]["inserted"] > 0
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
