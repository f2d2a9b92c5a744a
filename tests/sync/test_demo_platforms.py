"""``aiaudit demo`` with two plugins that ship a sandbox installed: the
third-party example plugin (installed with the dev dependencies, as a user
installs a plugin) and a second one made from it (``second_platform``),
installed for the demo's process only. It demos both, or the one named,
and every hint it prints works as printed."""

from __future__ import annotations

import json
import re
import shlex
import subprocess

from second_platform import second_installed

from connector_core.store import open_store
from connector_core.testing.processes import AIAUDIT, clean_env


def aiaudit(tmp_path, *args: str, env=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AIAUDIT), *args],
        capture_output=True,
        text=True,
        env=clean_env() if env is None else env,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )


def demo(tmp_path, *args: str, env=None) -> subprocess.CompletedProcess[str]:
    return aiaudit(tmp_path, "demo", "--events", "300", "--days", "3", *args, env=env)


def test_the_demo_covers_every_installed_sandbox(tmp_path):
    env = second_installed(tmp_path)
    plugins = aiaudit(tmp_path, "plugins", "--json", env=env)
    assert plugins.returncode == 0, plugins.stderr
    loaded = {p["name"] for p in json.loads(plugins.stdout) if p["status"] == "loaded"}
    assert loaded == {"example", "second"}
    store = f"sqlite:///{tmp_path / 'demo store.db'}"
    result = demo(tmp_path, "--store", store, env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "synced demo-example [example]" in out
    assert "synced demo-second [second]" in out
    assert "AI usage: Example Reports" in out  # its display_name
    # The security section over both first, then both side by side, then
    # each alone.
    assert out.index("Security: ") < out.index("AI usage: all platforms")
    assert out.index("AI usage: all platforms") < out.index("AI usage: Example Reports")
    assert "AI usage: Second Reports" in out
    # One HTML report over both, a section each.
    page = (tmp_path / "aiaudit-report.html").read_text()
    assert re.search(r"Example Reports: [\d,]+ events", page)
    assert re.search(r"Second Reports: [\d,]+ events", page)

    opened = open_store(store, read_only=True)
    try:
        saved = {c.name: c.platform for c in opened.list_connections()}
    finally:
        opened.close()
    assert saved == {"demo-example": "example", "demo-second": "second"}

    hints = [line.removeprefix("try: ") for line in out.splitlines()]
    hints = [line for line in hints if line.startswith("aiaudit ")]
    # The latest events, the risk findings, both platforms side by side,
    # then each alone.
    assert len(hints) == 5, out
    assert [shlex.split(h)[1] for h in hints] == [
        "logs",
        "risks",
        "usage",
        "usage",
        "usage",
    ]
    assert "--connection" not in hints[2]
    for hint in hints:
        argv = shlex.split(hint)
        run = aiaudit(tmp_path, *argv[1:], env=env)
        assert run.returncode == 0, (hint, run.stderr)
        if argv[1] == "logs":
            # The 20 newest events, newest first: of both platforms.
            rows = run.stdout.splitlines()[1:]
            assert len(rows) == 20
            times = [row.split()[0] for row in rows]
            assert times == sorted(times, reverse=True)
        elif argv[1] == "risks":
            assert re.match(r"[\d,]+ of [\d,]+ findings", run.stdout), hint
        else:
            # The security section, then the usage.
            assert run.stdout.startswith("Security: "), hint
            usage = run.stdout[run.stdout.index("AI usage: ") :]
            assert "Events" in usage
            together = usage.startswith("AI usage: all platforms")
            assert together == ("--connection" not in argv), hint


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
