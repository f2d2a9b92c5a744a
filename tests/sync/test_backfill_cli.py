"""``aiaudit sync --since`` earlier than what is stored, as a person runs it:
the example plugin's sandbox as a process, the CLI as a process, SIGKILL;
SQLite and PostgreSQL.

The reference for "exact" is one sync of the whole range into a store of
its own or, when the range is the sandbox's whole history, the sandbox's
ground truth itself (the ids it says it serves), as the crash tests use.
"""

from __future__ import annotations

import json
import random
import subprocess
from datetime import datetime, timedelta

import pytest

from connector_core.store import open_store
from connector_core.store.base import LogFilter
from connector_core.testing.processes import (
    AIAUDIT,
    clean_env,
    kill_after_progress,
    running_sandbox,
)


STREAMS = {"login_activity", "assistant_activity"}
USAGE = "model_usage"
"""The usage report's stream: buckets, not events."""


@pytest.fixture(scope="module")
def sandbox_process():
    with running_sandbox(
        "example", "--events", "3000", "--days", "35", "--seed", "6"
    ) as described:
        yield described


def _runner(described, store_url, cwd):
    environment = described["environment"]

    def invoke(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(AIAUDIT), "--store", store_url, *args],
            capture_output=True,
            text=True,
            env=clean_env(**environment),
            timeout=300,
            check=False,
            cwd=cwd,
        )

    return invoke


def _report(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    [report] = json.loads(result.stdout)
    assert report["ok"], report["streams"]
    return report


def _ids(store_url: str) -> list[str]:
    store = open_store(store_url, read_only=True)
    try:
        return [log.id for log in store.iter_logs(LogFilter(connection="example"))]
    finally:
        store.close()


def test_sync_since_10d_then_30d_backfills_and_says_so(
    sandbox_process, store_url, tmp_path
):
    run = _runner(sandbox_process, store_url, tmp_path)
    _report(run("sync", "example", "--since", "10d", "--json"))

    second = _report(run("sync", "example", "--since", "30d", "--json"))

    whole_url = f"sqlite:///{tmp_path / 'whole.db'}"
    whole = _runner(sandbox_process, whole_url, tmp_path)
    _report(
        whole(
            "sync",
            "example",
            "--since",
            second["since"],
            "--until",
            second["until"],
            "--json",
        )
    )
    stored = _ids(store_url)
    assert len(stored) == len(set(stored)), "an event stored twice"
    missing = set(_ids(whole_url)) - set(stored)
    extra = set(stored) - set(_ids(whole_url))
    assert not missing, f"{len(missing)} events of the older range never read"
    assert not extra, f"{len(extra)} events one sync of the range does not read"

    backfills = {s["stream"]: s["backfill"] for s in second["streams"]}
    assert set(backfills) == STREAMS | {USAGE}
    assert all(backfills.values()), backfills
    for name, backfill in backfills.items():
        assert backfill["start"] == second["since"], name
        assert backfill["complete"] is True, name
        assert backfill["error"] is None, name
        assert backfill["inserted"] <= backfill["read"], name
        assert backfill["whole"] is False, name
        new = "usage_inserted" if name == USAGE else "inserted"
        assert backfill[new] > 0, name
    covered = {s["stream"]: s["covered_from"] for s in second["streams"]}
    assert set(covered.values()) == {second["since"]}

    third = run("sync", "example", "--since", "30d")
    assert third.returncode == 0, third.stderr
    assert "backfilled" not in third.stdout
    third_json = _report(run("sync", "example", "--since", "30d", "--json"))
    assert third_json["inserted"] == 0
    assert all(s["backfill"] is None for s in third_json["streams"])
    assert set(_ids(store_url)) == set(stored)

    # The text summary of a backfill: one line per stream.
    text_url = f"sqlite:///{tmp_path / 'text.db'}"
    text = _runner(sandbox_process, text_url, tmp_path)
    assert text("sync", "example", "--since", "10d").returncode == 0
    shown = text("sync", "example", "--since", "30d")
    assert shown.returncode == 0, shown.stderr
    lines = [line.strip() for line in shown.stdout.splitlines()]
    for name in STREAMS:
        assert any(
            line.startswith(f"backfilled {name}: ") and " new" in line for line in lines
        ), shown.stdout


KILLS = 3
EVENTS, DAYS, SEED = 20_000, 20, 9


@pytest.fixture
def busy_sandbox():
    # Each request answered 20 ms late: a backfill is a few seconds of
    # round trips, as against a real API, never over before a kill lands.
    with running_sandbox(
        "example",
        *("--events", str(EVENTS), "--days", str(DAYS), "--seed", str(SEED)),
        *("--latency", "20"),
    ) as described:
        yield described


def _progress(store_url: str) -> tuple[object, ...]:
    """Where each stream's backfill stands, to see a run move it."""
    store = open_store(store_url, read_only=True)
    try:
        return tuple(store.coverage("example", name) for name in sorted(STREAMS))
    finally:
        store.close()


def _truth(described: dict) -> set[str]:
    """Every event of the sandbox's whole history, as it describes its data
    (generated, normalized ids): no connector read involved."""
    return set(described["details"]["conformance"]["expected_ids"])


def _unfinished(store_url: str, since: str) -> bool:
    """Whether some stream's backfill to *since* is still to do."""
    store = open_store(store_url, read_only=True)
    try:
        return any(
            store.coverage("example", name).start != datetime.fromisoformat(since)
            for name in store.checkpoints("example")
        )
    finally:
        store.close()


def test_a_backfill_killed_midway_then_run_again_is_exact(busy_sandbox, store_url):
    start, end = busy_sandbox["details"]["history"]
    recent = (datetime.fromisoformat(end) - timedelta(days=2)).isoformat()
    env = clean_env(**busy_sandbox["environment"])
    base = [str(AIAUDIT), "--store", store_url, "sync", "example", "--until", end]
    first = subprocess.run(
        [*base, "--since", recent],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    store = open_store(store_url, read_only=True)
    try:
        checkpoints = store.checkpoints("example")
    finally:
        store.close()
    assert set(checkpoints) == STREAMS | {USAGE}

    backfill = [*base, "--since", start]
    rng = random.Random(3)
    killed = attempts = interrupted = 0
    while killed < KILLS and attempts < KILLS * 3:
        attempts += 1
        killed += kill_after_progress(
            backfill, env=env, progress=lambda: _progress(store_url), rng=rng
        )
        interrupted += _unfinished(store_url, start)
    final = subprocess.run(
        [*backfill, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    [report] = json.loads(final.stdout)
    assert final.returncode == 0, final.stderr
    assert killed >= 2, "the sync finished before it could be killed"
    assert interrupted, "no kill landed before the backfill was done"

    stored = _ids(store_url)
    truth = _truth(busy_sandbox)
    assert len(stored) == len(set(stored)), "an event stored twice"
    assert set(stored) == truth, (
        f"lost {len(truth - set(stored))}, extra {len(set(stored) - truth)}"
    )
    store = open_store(store_url, read_only=True)
    try:
        after = store.checkpoints("example")
        coverage = {name: store.coverage("example", name) for name in checkpoints}
    finally:
        store.close()
    # The incremental checkpoints neither moved back nor skipped ahead.
    for name in STREAMS:
        assert after[name]["since"] == checkpoints[name]["since"], name
    for name, covered in coverage.items():
        assert covered.start == datetime.fromisoformat(start), name
        assert covered.backfill is None, name

    again = subprocess.run(
        [*backfill, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    [report] = json.loads(again.stdout)
    assert report["inserted"] == 0
    assert all(s["backfill"] is None for s in report["streams"])
