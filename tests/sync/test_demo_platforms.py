"""``aiaudit demo`` with two plugins that ship a sandbox installed: the
third-party example plugin (installed with the dev dependencies, as a user
installs a plugin) and a second one made here from it, installed for the
demo's process only. It demos both, or the one named, and every hint it
prints works as printed."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import textwrap

from connector_core.store import open_store
from connector_core.testing.processes import AIAUDIT, clean_env


SECOND = textwrap.dedent(
    '''
    """A second platform with a sandbox: the example plugin's, renamed."""

    import contextlib

    import attrs
    from aiaudit_example import ExampleConnector
    from aiaudit_example.sandbox import ExampleSandboxProvider

    from connector_core import hookimpl


    class SecondConnector(ExampleConnector):
        platform = "second"
        display_name = "Second Reports"


    class SecondSandboxProvider:
        @contextlib.asynccontextmanager
        async def start(self, options):
            async with ExampleSandboxProvider().start(options) as running:
                yield attrs.evolve(running, platform="second")


    @hookimpl
    def aiaudit_register_connectors(register):
        register(SecondConnector, sandbox=SecondSandboxProvider)
    '''
)


def _installed(tmp_path) -> dict[str, str]:
    """The environment of a process in which the second plugin is installed
    (a distribution on its path, with its entry point) and only the two
    plugins load, whatever else this environment holds."""
    site = tmp_path / "site"
    info = site / "aiaudit_second-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: aiaudit-second\nVersion: 0.1.0\n"
    )
    (info / "entry_points.txt").write_text("[aiaudit]\nsecond = aiaudit_second\n")
    (site / "aiaudit_second.py").write_text(SECOND)
    return clean_env(PYTHONPATH=str(site), AIAUDIT_PLUGINS="example,second")


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
    env = _installed(tmp_path)
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
