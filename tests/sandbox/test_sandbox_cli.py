"""``aiaudit sandbox`` as a person runs it: a real process, then Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path


AIAUDIT = Path(sys.executable).parent / "aiaudit"


def start(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIAUDIT_")}
    return subprocess.Popen(
        [str(AIAUDIT), "sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
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


def test_unknown_fault_profile_is_one_clear_line():
    process = start("chatgpt", "--faults", "gremlins", "--events", "50")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert stderr.startswith("error: ")
    assert "gremlins" in stderr
    assert "Traceback" not in stderr
