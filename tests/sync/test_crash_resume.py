"""``aiaudit sync`` killed at random points, resumed, ends equal to the truth.

A real sandbox process, a real sync process, SIGKILL: nothing is mocked. The
store after the last (uninterrupted) run must hold exactly the events the
sandbox holds (its ground truth, not another read by the connector), and one
more sync must add nothing; on SQLite and PostgreSQL, against the example
plugin's sandbox, whose streams are read in windows drained by page tokens
that are never checkpoints.
"""

from __future__ import annotations

import json
import os
import random
import subprocess

import pytest

from connector_core.exceptions import StoreError
from connector_core.store import open_store
from connector_core.store.base import LogFilter
from connector_core.testing.processes import (
    AIAUDIT,
    clean_env,
    kill_after_progress,
    running_sandbox,
)


KILLS = int(os.environ.get("AIAUDIT_CRASH_KILLS", "4"))
# Enough data that every kill lands while the sync is still working.
EVENTS = "20000" if KILLS <= 5 else "40000"
SEED, DAYS = 9, 20


@pytest.fixture
def sandbox_process():
    with running_sandbox(
        "example", "--events", EVENTS, "--days", str(DAYS), "--seed", str(SEED)
    ) as described:
        yield described


def _sync_env(described: dict) -> dict[str, str]:
    return clean_env(**described["environment"])


def _sync_args(store_url: str, described: dict) -> list[str]:
    start, end = described["details"]["history"]
    return [
        str(AIAUDIT),
        "--store",
        store_url,
        "sync",
        "example",
        "--since",
        start,
        "--until",
        end,
    ]


def _truth(described: dict) -> set[str]:
    """Every event the sandbox process serves within the synced range (its
    whole history), as it describes its generated data: no connector read
    involved."""
    return set(described["details"]["conformance"]["expected_ids"])


def _checkpoints(store_url: str) -> object:
    """What the sync has checkpointed so far, to see a run move it."""
    try:
        store = open_store(store_url, read_only=True)
    except StoreError:
        return None  # nothing synced there yet
    try:
        return store.checkpoints("example")
    finally:
        store.close()


def test_sigkill_at_random_points_then_resume(store_url, sandbox_process):
    args = _sync_args(store_url, sandbox_process)
    env = _sync_env(sandbox_process)
    rng = random.Random(int(os.environ.get("AIAUDIT_CRASH_SEED", "1")))
    killed = attempts = 0
    while killed < KILLS and attempts < KILLS * 3:
        attempts += 1
        killed += kill_after_progress(
            args, env=env, progress=lambda: _checkpoints(store_url), rng=rng
        )
    final = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert final.returncode == 0, final.stderr
    store = open_store(store_url)
    try:
        stored = [log.id for log in store.iter_logs(LogFilter(connection="example"))]
    finally:
        store.close()
    truth = _truth(sandbox_process)
    print(
        f"killed {killed} runs in {attempts}; stored {len(stored)}, "
        f"truth {len(truth)}, lost {len(truth - set(stored))}, "
        f"extra {len(set(stored) - truth)}"
    )
    assert killed >= min(KILLS, 2), "the sync finished before it could be killed"
    assert len(stored) == len(set(stored)), "no event stored twice"
    assert set(stored) == truth, "no event lost"
    again = subprocess.run(
        [*args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    [report] = json.loads(again.stdout)
    assert report["inserted"] == 0
