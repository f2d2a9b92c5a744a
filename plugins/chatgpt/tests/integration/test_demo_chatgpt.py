"""``aiaudit demo chatgpt``: the ChatGPT plugin's sandbox demoed as the core
demos every installed sandbox, under its display names, and every hint it
prints works as printed."""

from __future__ import annotations

import json
import shlex
import subprocess

from connector_core.store import LogFilter, open_store
from connector_core.testing.processes import AIAUDIT, clean_env


def aiaudit(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AIAUDIT), *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
        check=False,
        cwd=tmp_path,
    )


def test_the_demo_of_chatgpt(tmp_path):
    store = f"sqlite:///{tmp_path / 'demo store.db'}"
    result = aiaudit(
        tmp_path, "demo", "chatgpt", "--events", "300", "--days", "3", "--store", store
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "synced demo-chatgpt [chatgpt]" in out
    assert "AI usage: ChatGPT Enterprise" in out  # its display_name
    # The usage report's buckets were synced with the events: every model
    # shows its tokens and an estimated cost, read from the store.
    models = out.split("Model usage", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    assert models, out
    for row in models:
        _model, _uses, tokens, cost = row.split()
        assert tokens != "-", row
        assert cost.startswith("$"), row
    # The report over the one platform, under its display name.
    page = (tmp_path / "aiaudit-report.html").read_text()
    assert '<p class="sub">ChatGPT Enterprise</p>' in page

    # The workspace's directory was synced too, and the usage counts it.
    assert "  directory: " in out
    opened = open_store(store, read_only=True)
    try:
        saved = {c.name: c.platform for c in opened.list_connections()}
        seated = {s.member.user_id for s in opened.directory("demo-chatgpt")}
        acted = {log.user_id for log in opened.iter_logs(LogFilter())}
    finally:
        opened.close()
    assert saved == {"demo-chatgpt": "chatgpt"}
    assert seated
    usage = aiaudit(tmp_path, "--store", store, "usage", "--json")
    assert usage.returncode == 0, usage.stderr
    figures = json.loads(usage.stdout)
    assert figures["total_users"] >= figures["active_users"] > 0
    assert figures["active_users"] == len(acted)
    assert figures["total_users"] == len(seated | acted)

    hints = [line.removeprefix("try: ") for line in out.splitlines()]
    hints = [line for line in hints if line.startswith("aiaudit ")]
    # The latest events, the risk findings, the usage.
    assert [shlex.split(h)[1] for h in hints] == ["logs", "risks", "usage"], out
    for hint in hints:
        argv = shlex.split(hint)
        run = aiaudit(tmp_path, *argv[1:])
        assert run.returncode == 0, (hint, run.stderr)
        if argv[1] == "logs":
            # The 20 newest events, newest first.
            rows = run.stdout.splitlines()[1:]
            assert len(rows) == 20
            times = [row.split()[0] for row in rows]
            assert times == sorted(times, reverse=True)
        elif argv[1] == "risks":
            # The seeded risks: the burst of failed sign-ins leads.
            assert " findings, " in run.stdout.splitlines()[0], hint
            assert "Failed sign-ins in a burst" in run.stdout, hint
        else:
            # The security section first, then the usage.
            assert run.stdout.startswith("Security: "), hint
            assert "\nAI usage: ChatGPT" in run.stdout, hint
            assert "Events" in run.stdout
