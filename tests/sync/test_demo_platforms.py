"""``aiaudit demo`` with two plugins that ship a sandbox installed: the
ChatGPT plugin and the third-party example plugin (installed with the dev
dependencies, as a user installs a plugin). It demos both, or the one named,
and every hint it prints works as printed."""

from __future__ import annotations

import json
import re
import shlex
import subprocess

from connector_core.store import open_store
from connector_core.testing.processes import AIAUDIT, clean_env


def demo(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AIAUDIT), "demo", "--events", "300", "--days", "3", *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
        check=False,
        cwd=tmp_path,
    )


def test_the_demo_covers_every_installed_sandbox(tmp_path):
    plugins = subprocess.run(
        [str(AIAUDIT), "plugins", "--json"],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=True,
    )
    loaded = {p["name"] for p in json.loads(plugins.stdout) if p["status"] == "loaded"}
    assert {"chatgpt", "example"} <= loaded
    store = f"sqlite:///{tmp_path / 'demo store.db'}"
    result = demo(tmp_path, "--store", store)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "synced demo-chatgpt [chatgpt]" in out
    assert "synced demo-example [example]" in out
    assert "AI usage: ChatGPT" in out
    assert "AI usage: Example Reports" in out  # its display_name
    # One HTML report over both, a section each.
    page = (tmp_path / "aiaudit-report.html").read_text()
    assert re.search(r"ChatGPT Enterprise: [\d,]+ events", page)
    assert re.search(r"Example Reports: [\d,]+ events", page)

    opened = open_store(store, read_only=True)
    try:
        saved = {c.name: c.platform for c in opened.list_connections()}
    finally:
        opened.close()
    assert saved == {"demo-chatgpt": "chatgpt", "demo-example": "example"}

    hints = [line.removeprefix("try: ") for line in out.splitlines()]
    hints = [line for line in hints if line.startswith("aiaudit ")]
    assert len(hints) == 3, out
    for hint in hints:
        argv = shlex.split(hint)
        run = subprocess.run(
            [str(AIAUDIT), *argv[1:]],
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=120,
            check=False,
            cwd=tmp_path,
        )
        assert run.returncode == 0, (hint, run.stderr)
        if argv[1] == "logs":
            # The 20 newest events, newest first: of both platforms.
            rows = run.stdout.splitlines()[1:]
            assert len(rows) == 20
            times = [row.split()[0] for row in rows]
            assert times == sorted(times, reverse=True)
        else:
            assert run.stdout.startswith("AI usage: "), hint
            assert "Events" in run.stdout


def test_the_demo_of_the_platform_named(tmp_path):
    store = f"sqlite:///{tmp_path / 'demo.db'}"
    result = demo(tmp_path, "example", "--store", store, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [p["platform"] for p in report["platforms"]] == ["example"]
    [example] = report["platforms"]
    assert example["connection"] == "demo-example"
    assert example["sync"]["inserted"] > 0
    assert example["usage"]["total_events"] == example["sync"]["inserted"]
    assert report["store"] == store


def test_a_platform_without_a_sandbox_is_one_clear_line(tmp_path):
    result = demo(tmp_path, "nosuchplatform")
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: no connector for platform 'nosuchplatform'")
