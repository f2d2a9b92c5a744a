"""``aiaudit sandbox`` as a person runs it: a real process, then Ctrl-C.

The command belongs to the core; it is run here on the example plugin's
sandbox, so it is proven for any plugin that registers one. Each plugin's
own tests check its sandbox's answers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request

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
        "example", "--json", "--events", "300", "--seed", "3",
        "--ground-truth", str(tmp_path),
    )  # fmt: skip
    try:
        described = json.loads(process.stdout.readline())
        assert described["platform"] == "example"
        config = described["config"]
        request = urllib.request.Request(  # noqa: S310 - loopback URL we just started
            f"{config['base_url']}/admin/reports/v1/activity/users/all"
            "/applications/login?maxResults=5",
            headers={"Authorization": f"Bearer {config['api_key']}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            body = json.load(response)
        assert 0 < len(body["items"]) <= 5
        truth = (tmp_path / "activities.jsonl").read_text().splitlines()
        assert len(truth) == described["details"]["activities"]
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_unknown_fault_profile_is_one_clear_line():
    process = start("example", "--faults", "gremlins", "--events", "50")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert stderr.startswith("error: ")
    assert "gremlins" in stderr
    assert "Traceback" not in stderr


def test_the_text_output_has_export_lines_to_paste(tmp_path):
    """What the sandbox prints is pasted into another shell as it is; then
    ``aiaudit sync PLATFORM`` reads the sandbox."""
    process = start("example", "--events", "200", "--seed", "5")
    try:
        lines = []
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C"):
                break
        exports = [line for line in lines if line.startswith("export ")]
        assert exports, lines
        shell = subprocess.run(
            ["/bin/sh", "-c", "\n".join([*exports, "env -0"])],
            capture_output=True,
            text=True,
            env={"PATH": os.environ["PATH"]},
            check=True,
        )
        pasted = dict(
            entry.partition("=")[::2] for entry in shell.stdout.split("\0") if entry
        )
        names = {line.split()[1].partition("=")[0] for line in exports}
        assert {"EXAMPLE_API_KEY", "EXAMPLE_CUSTOMER_ID", "EXAMPLE_BASE_URL"} <= names
        synced = subprocess.run(
            [str(AIAUDIT), "sync", "example", "--json",
             "--store", f"sqlite:///{tmp_path / 's.db'}"],
            capture_output=True,
            text=True,
            env=clean_env(**{name: pasted[name] for name in names}),
            timeout=300,
            check=False,
        )  # fmt: skip
        assert synced.returncode == 0, synced.stderr
        assert json.loads(synced.stdout)[0]["inserted"] > 0
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
