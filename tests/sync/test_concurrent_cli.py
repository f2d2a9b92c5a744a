"""``aiaudit sync`` of a connection saved with ``--option concurrency=N``, as
a person runs it: the example plugin's sandbox as a process, the CLI as a
process, SQLite and PostgreSQL.

One window at a time or eight, the store ends holding the sandbox's ground
truth (the ids it says it serves), each once; a concurrency the connector
cannot use is refused with a sentence naming the option, never a
traceback.
"""

from __future__ import annotations

import subprocess

import pytest

from connector_core.store import open_store
from connector_core.store.base import LogFilter
from connector_core.testing.processes import AIAUDIT, clean_env, running_sandbox


@pytest.fixture(scope="module")
def sandbox():
    with running_sandbox(
        "example", "--events", "4000", "--days", "15", "--seed", "12"
    ) as described:
        yield described


def _aiaudit(store_url: str, *args: str, env: dict[str, str]):
    return subprocess.run(
        [str(AIAUDIT), "--store", store_url, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _add(store_url: str, described: dict, name: str, concurrency: str):
    """``aiaudit connections add`` for the sandbox, the key by its variable."""
    config = described["config"]
    options = {
        "base_url": config["base_url"],
        "customer_id": config["customer_id"],
        "page_size": config["page_size"],
        "concurrency": concurrency,
    }
    return _aiaudit(
        store_url,
        *("connections", "add", name, "--platform", "example"),
        *(
            arg
            for field, value in options.items()
            for arg in ("--option", f"{field}={value}")
        ),
        *("--secret", "api_key=EXAMPLE_API_KEY"),
        env=_env(described),
    )


def _env(described: dict, **extra: str) -> dict[str, str]:
    return clean_env(EXAMPLE_API_KEY=described["config"]["api_key"], **extra)


def _stored(store_url: str, connection: str) -> list[str]:
    store = open_store(store_url, read_only=True)
    try:
        return [log.id for log in store.iter_logs(LogFilter(connection=connection))]
    finally:
        store.close()


def test_one_window_at_a_time_or_eight_store_the_same_ground_truth(store_url, sandbox):
    start, end = sandbox["details"]["history"]
    stored = {}
    for concurrency in ("1", "8"):
        name = f"reports-{concurrency}"
        added = _add(store_url, sandbox, name, concurrency)
        assert added.returncode == 0, added.stderr
        synced = _aiaudit(
            store_url,
            *("sync", name, "--since", start, "--until", end),
            env=_env(sandbox),
        )
        assert synced.returncode == 0, synced.stderr
        stored[concurrency] = _stored(store_url, name)
        # Gone before the next reads the same organization, which would
        # otherwise find every event already stored.
        removed = _aiaudit(
            store_url, "connections", "remove", name, "--purge", env=_env(sandbox)
        )
        assert removed.returncode == 0, removed.stderr
    truth = sorted(sandbox["details"]["conformance"]["expected_ids"])
    for ids in stored.values():
        assert len(ids) == len(set(ids)), "no event stored twice"
        assert sorted(ids) == truth


@pytest.mark.parametrize("value", ["0", "x", "1000"])
def test_a_concurrency_it_cannot_use_is_a_clear_error(tmp_path, sandbox, value):
    store_url = f"sqlite:///{tmp_path / 'refused.db'}"
    added = _add(store_url, sandbox, "reports", value)
    assert added.returncode != 0
    assert "Traceback" not in added.stderr
    assert f"concurrency must be a whole number from 1 to 64, got {value!r}" in (
        added.stderr
    )
    # The same value from the platform's environment names its variable.
    env = clean_env(**sandbox["environment"], EXAMPLE_CONCURRENCY=value)
    synced = _aiaudit(store_url, "sync", "example", env=env)
    assert synced.returncode != 0
    assert "Traceback" not in synced.stderr
    assert f"EXAMPLE_CONCURRENCY={value!r}: concurrency must be" in synced.stderr
