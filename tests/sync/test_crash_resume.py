"""``aiaudit sync`` killed at random points, resumed, ends equal to the truth.

A real sandbox process, a real sync process, SIGKILL: nothing is mocked. The
store after the last (uninterrupted) run must hold exactly the events an
uninterrupted read returns, and one more sync must add nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import time
from datetime import datetime

import pytest
from processes import AIAUDIT, clean_env, running_sandbox

from connector_core import Registry
from connector_core.models import AIAuditLogQuery
from connector_core.store import open_store
from connector_core.store.base import LogFilter


KILLS = int(os.environ.get("AIAUDIT_CRASH_KILLS", "4"))
# Enough data that every kill lands while the sync is still working.
EVENTS = "20000" if KILLS <= 5 else "40000"


@pytest.fixture
def sandbox_process():
    with running_sandbox(
        "chatgpt", "--events", EVENTS, "--days", "20", "--seed", "9"
    ) as described:
        yield described


def _sync_env(described: dict) -> dict[str, str]:
    return clean_env(**described["details"]["environment"])


def _sync_args(store_url: str, described: dict) -> list[str]:
    start, end = described["details"]["history"]
    return [
        str(AIAUDIT),
        "--store",
        store_url,
        "sync",
        "chatgpt",
        "--since",
        start,
        "--until",
        end,
    ]


async def _truth(described: dict) -> set[str]:
    registry = Registry.load(environ={"AIAUDIT_PLUGINS": "chatgpt"})
    start, end = (datetime.fromisoformat(t) for t in described["details"]["history"])
    query = AIAuditLogQuery(start_date=start, end_date=end)
    async with registry.create("chatgpt", described["config"]) as connector:
        return {log.id async for log in connector.stream_ai_audit_logs(query)}


def test_sigkill_at_random_points_then_resume(tmp_path, sandbox_process):
    store_url = f"sqlite:///{tmp_path / 'crash.db'}"
    args = _sync_args(store_url, sandbox_process)
    env = _sync_env(sandbox_process)
    rng = random.Random(int(os.environ.get("AIAUDIT_CRASH_SEED", "1")))
    killed = attempts = 0
    while killed < KILLS and attempts < KILLS * 3:
        attempts += 1
        process = subprocess.Popen(
            args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # The interpreter takes ~0.4 s to start; kill somewhere in the work.
        time.sleep(rng.uniform(0.5, 1.6))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        process.wait(timeout=30)
    final = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert final.returncode == 0, final.stderr
    store = open_store(store_url)
    try:
        stored = [log.id for log in store.iter_logs(LogFilter(connection="chatgpt"))]
    finally:
        store.close()
    truth = asyncio.run(_truth(sandbox_process))
    print(
        f"killed {killed} runs in {attempts}; stored {len(stored)}, truth {len(truth)}"
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
