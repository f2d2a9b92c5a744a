"""``aiaudit sync`` of a ChatGPT connection saved with ``--option
concurrency=N``, as a person runs it: the sandbox and the CLI as processes.

One window and file at a time or eight, the store ends holding the
sandbox's ground truth, each event once; a concurrency or rate limit the
connector cannot use is refused with a sentence naming the option, from
``--option`` or from the environment, never a traceback.
"""

from __future__ import annotations

import subprocess
from datetime import datetime

import pytest

from aiaudit_chatgpt.sandbox.server import ChatGPTSandbox, build_state
from connector_core.models import AIAuditLogQuery
from connector_core.sandbox import SandboxOptions
from connector_core.store import open_store
from connector_core.store.base import LogFilter
from connector_core.testing.processes import AIAUDIT, clean_env, running_sandbox


SEED, EVENTS, DAYS = 9, 2_000, 10


@pytest.fixture(scope="module")
def sandbox():
    with running_sandbox(
        "chatgpt", "--events", str(EVENTS), "--days", str(DAYS), "--seed", str(SEED)
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


def _add(store_url: str, described: dict, name: str, **options: str):
    """``aiaudit connections add`` for the sandbox, the keys by their variables."""
    config = described["config"]
    settings = {
        "organization_id": config["organization_id"],
        "base_url": config["base_url"],
        "workspace_id": config["workspace_id"],
        "compliance_base_url": config["compliance_base_url"],
        **options,
    }
    return _aiaudit(
        store_url,
        *("connections", "add", name, "--platform", "chatgpt"),
        *(
            arg
            for field, value in settings.items()
            for arg in ("--option", f"{field}={value}")
        ),
        *("--secret", "api_key=OPENAI_ADMIN_KEY"),
        *("--secret", "compliance_api_key=CHATGPT_COMPLIANCE_API_KEY"),
        env=_env(described),
    )


def _env(described: dict, **extra: str) -> dict[str, str]:
    return clean_env(**described["details"]["environment"], **extra)


def _truth(described: dict) -> list[str]:
    """Every event the sandbox process serves in its history, from the same
    generated data: no connector read involved."""
    start, end = (datetime.fromisoformat(t) for t in described["details"]["history"])
    options = SandboxOptions(seed=SEED, events=EVENTS, days=DAYS, end=end)
    sandbox = ChatGPTSandbox(options, build_state(options))
    return sorted(
        sandbox.expected_logs(AIAuditLogQuery(start_date=start, end_date=end))
    )


def _stored(store_url: str, connection: str) -> list[str]:
    store = open_store(store_url, read_only=True)
    try:
        return [log.id for log in store.iter_logs(LogFilter(connection=connection))]
    finally:
        store.close()


def test_one_at_a_time_or_eight_store_the_same_ground_truth(store_url, sandbox):
    start, end = sandbox["details"]["history"]
    truth = _truth(sandbox)
    for concurrency in ("1", "8"):
        name = f"acme-{concurrency}"
        added = _add(store_url, sandbox, name, concurrency=concurrency)
        assert added.returncode == 0, added.stderr
        synced = _aiaudit(
            store_url, "sync", name, "--since", start, "--until", end, env=_env(sandbox)
        )
        assert synced.returncode == 0, synced.stderr
        ids = _stored(store_url, name)
        assert len(ids) == len(set(ids)), "no event stored twice"
        assert sorted(ids) == truth
        # Gone before the next reads the same organization, which would
        # otherwise find every event already stored.
        removed = _aiaudit(
            store_url, "connections", "remove", name, "--purge", env=_env(sandbox)
        )
        assert removed.returncode == 0, removed.stderr


@pytest.mark.parametrize(
    ("option", "variable", "value", "message"),
    [
        (
            "concurrency",
            "AIAUDIT_CHATGPT_CONCURRENCY",
            "0",
            "concurrency must be a whole number from 1 to 64, got '0'",
        ),
        (
            "concurrency",
            "AIAUDIT_CHATGPT_CONCURRENCY",
            "x",
            "concurrency must be a whole number from 1 to 64, got 'x'",
        ),
        (
            "rate_limit",
            "AIAUDIT_CHATGPT_RATE_LIMIT",
            "-2",
            "rate_limit must be a positive number of requests per second",
        ),
    ],
)
def test_an_option_it_cannot_use_is_a_clear_error(  # noqa: PLR0917 - parameters
    tmp_path, sandbox, option, variable, value, message
):
    store_url = f"sqlite:///{tmp_path / 'refused.db'}"
    added = _add(store_url, sandbox, "acme", **{option: value})
    assert added.returncode != 0
    assert "Traceback" not in added.stderr
    assert message in added.stderr
    # The same value from the platform's environment names its variable.
    env = _env(sandbox, **{variable: value})
    synced = _aiaudit(store_url, "sync", "chatgpt", env=env)
    assert synced.returncode != 0
    assert "Traceback" not in synced.stderr
    assert f"{variable}={value!r}" in synced.stderr
    assert message.split(",")[0] in synced.stderr
