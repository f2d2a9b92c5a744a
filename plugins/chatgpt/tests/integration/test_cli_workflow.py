"""The command line a person uses with the ChatGPT plugin, against its
sandbox process: what is the plugin's own in a workflow the core tests on
the example plugin. Its environment variables, the OCSF classes of its
events, its configuration's checks, and its four streams (windowed, files,
snapshot) resumed, clamped and bounded as the core promises."""

from __future__ import annotations

import json
import math
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from connector_core.store import open_store
from connector_core.testing.processes import AIAUDIT, clean_env, running_sandbox


@pytest.fixture(scope="module")
def sandbox_process():
    with running_sandbox(
        "chatgpt", "--events", "1500", "--days", "7", "--seed", "4"
    ) as described:
        yield described


def _runner(described, store_url, cwd):
    environment = described["details"]["environment"]

    def invoke(
        *args: str, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(AIAUDIT), "--store", store_url, *args],
            capture_output=True,
            text=True,
            env=clean_env(**(environment if env is None else env)),
            timeout=timeout,
            check=False,
            cwd=cwd,
        )

    return invoke


@pytest.fixture
def run(tmp_path, sandbox_process, store_url):
    return _runner(sandbox_process, store_url, tmp_path)


def _since_until(sandbox_process):
    start, end = sandbox_process["details"]["history"]
    return ["--since", start, "--until", end]


def _synced(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    [report] = json.loads(result.stdout)
    assert report["ok"], report["streams"]
    return report


def test_a_connection_from_the_environment_syncs(run, sandbox_process):
    added = run(
        "connections", "add", "acme", "--platform", "chatgpt", "--from-env", "--json"
    )
    assert added.returncode == 0, added.stderr
    saved = json.loads(added.stdout)
    assert saved["config"]["api_key"] == "$OPENAI_ADMIN_KEY"
    assert sandbox_process["config"]["api_key"] not in run("connections", "list").stdout

    check = run("check", "acme", "--json")
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)[0]["ok"] is True

    report = _synced(run("sync", "acme", *_since_until(sandbox_process), "--json"))
    assert report["inserted"] > 0
    again = _synced(run("sync", "acme", *_since_until(sandbox_process), "--json"))
    assert again["inserted"] == 0
    table = run(
        "logs", "--connection", "acme", "--action", "user.login", "--limit", "5"
    )
    assert table.returncode == 0
    assert len(table.stdout.splitlines()) >= 6


def test_ocsf_export_covers_its_classes(run, sandbox_process):
    """Its events reach the OCSF classes of authentication, entity and user
    management, API and file hosting activity. (Every event's validity
    against the OCSF schema is tested on the connector's output directly;
    the command's own, on the example plugin.)"""
    sync = run("sync", "chatgpt", *_since_until(sandbox_process))
    assert sync.returncode == 0, sync.stderr
    out = run("logs", "--format", "ocsf")
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert events
    classes = {event["class_uid"] for event in events}
    assert {3002, 3004, 3007, 6003, 6006} <= classes
    for event in events:
        assert "raw" in event["unmapped"]


@pytest.mark.parametrize(
    ("args", "env", "fragment", "code"),
    [
        (("sync", "chatgpt"), {}, "no chatgpt configuration in the environment", 1),
        (
            ("check", "chatgpt"),
            {
                "OPENAI_ADMIN_KEY": "sk-admin-wrongwrongwrong",
                "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
            },
            "Cannot connect to host 127.0.0.1:9",
            1,
        ),
        (
            ("check", "chatgpt"),
            {
                "OPENAI_ADMIN_KEY": "sk-admin-wrongwrongwrong",
                "OPENAI_BASE_URL": "not a url",
            },
            "base_url must be an http(s) URL",
            1,
        ),
        (
            (
                "connections",
                "add",
                "x",
                "--platform",
                "chatgpt",
                "--option",
                "api_key=sk-admin-wrongwrongwrong",
            ),
            None,
            "is a secret",
            1,
        ),
        (
            (
                "connections",
                "add",
                "x",
                "--platform",
                "chatgpt",
                "--secret",
                "api_key=sk-admin-wrongwrongwrong",
            ),
            None,
            "not an environment variable name",
            1,
        ),
        (
            ("connections", "add", "x", "--platform", "chatgpt", "--secret"),
            None,
            None,
            2,
        ),
        (
            (
                "connections",
                "add",
                "x",
                "--platform",
                "chatgpt",
                "--secret",
                "api_key=OPENAI_ADMIN_KEY",
                "--option",
                "base_url=http://admin:sk-admin-wrongwrongwrong@127.0.0.1:9/v1",
            ),
            None,
            "base_url holds a URL with a user name or password",
            1,
        ),
        (
            ("connections", "add", "x", "--platform", "chatgpt", "--from-env"),
            {
                "OPENAI_ADMIN_KEY": "sk-admin-0123456789abcdef",
                "OPENAI_BASE_URL": "http://admin:sk-admin-wrongwrongwrong@h:9/v1",
            },
            "OPENAI_BASE_URL holds a URL with a user name or password",
            1,
        ),
        (
            ("sync", "chatgpt"),
            {
                "OPENAI_ADMIN_KEY": "sk-admin-0123456789abcdef",
                "OPENAI_BASE_URL": "https://sk-admin-wrongwrongwrong@h:9/v1",
            },
            "OPENAI_BASE_URL holds a URL with a user name or password",
            1,
        ),
    ],
)
def test_bad_input_is_one_clear_line(run, args, env, fragment, code):
    if fragment is None:  # a key pasted where FIELD=VARIABLE belongs
        args, fragment = (*args, "sk-admin-wrongwrongwrong"), "expected FIELD=VALUE"
    result = run(*args, env=env)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert fragment in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert "sk-admin-wrongwrongwrong" not in result.stderr + result.stdout
    errors = [
        line for line in result.stderr.splitlines() if line.lower().startswith("error")
    ]
    assert len(errors) == 1, result.stderr


@pytest.fixture(scope="module")
def long_sandbox():
    """Ninety days of history, so syncs weeks apart can be played back with
    ``--until`` values inside it."""
    with running_sandbox(
        "chatgpt", "--events", "3000", "--days", "90", "--seed", "9"
    ) as described:
        yield described


def test_a_sync_45_days_after_the_last_reads_the_whole_gap(
    long_sandbox, store_url, tmp_path
):
    """The second sync's default --since (its --until minus 30 days) is
    later than the first sync's checkpoints: every stream must resume from
    its checkpoint, not from --since, or the events between are never read."""
    end = datetime.fromisoformat(long_sandbox["details"]["history"][1])
    first_until = (end - timedelta(days=60)).isoformat()
    second_until = (end - timedelta(days=15)).isoformat()
    since = (end - timedelta(days=90)).isoformat()

    late = _runner(long_sandbox, store_url, tmp_path)
    _synced(late("sync", "chatgpt", "--since", since, "--until", first_until, "--json"))
    second = _synced(late("sync", "chatgpt", "--until", second_until, "--json"))

    # The same range in one go, into a store of its own, is what both
    # syncs together must have stored.
    whole = _runner(long_sandbox, f"sqlite:///{tmp_path / 'whole.db'}", tmp_path)
    _synced(
        whole("sync", "chatgpt", "--since", since, "--until", second_until, "--json")
    )
    ids = {
        name: {
            line["id"]
            for line in map(
                json.loads,
                runner("logs", "--format", "jsonl").stdout.splitlines(),
            )
        }
        for name, runner in (("late", late), ("whole", whole))
    }
    assert ids["whole"]
    missing = ids["whole"] - ids["late"]
    assert not missing, f"{len(missing)} events of the gap never read"
    assert all(s["resumed"] for s in second["streams"]), second["streams"]


def test_a_future_until_is_clamped_to_now(sandbox_process, store_url, tmp_path):
    """No checkpoint may promise a moment that has not happened: the events
    published between this sync and the next would be skipped. And a
    far-future --until must not walk empty windows up to it."""
    run = _runner(sandbox_process, store_url, tmp_path)
    before = datetime.now(UTC)
    future = (before + timedelta(days=10)).replace(microsecond=0)
    report = _synced(run("sync", "chatgpt", "--until", future.isoformat(), "--json"))
    after = datetime.now(UTC)
    store = open_store(store_url)
    try:
        checkpoints = store.checkpoints("chatgpt")
    finally:
        store.close()
    # The Admin API streams' checkpoints are the end of their last window:
    # the exclusive end of the last whole second read (the query's end
    # second is inclusive), so at most the second that follows `after`;
    # ten days ahead before the clamp.
    windowed = [c["until"] for c in checkpoints.values() if "until" in c]
    assert windowed
    assert max(windowed) <= math.floor(after.timestamp()) + 1
    assert report["requested_until"] == future.isoformat()
    assert report["until_clamped"] is True
    assert before <= datetime.fromisoformat(report["until"]) <= after

    far = run("sync", "chatgpt", "--until", "9999-12-31", timeout=60)
    assert far.returncode == 0, far.stderr
    # A date alone is the end of that day.
    assert "9999-12-31 23:59 UTC is in the future: synced up to now" in far.stdout


def test_a_date_until_syncs_that_whole_day(run, sandbox_process):
    start, _ = sandbox_process["details"]["history"]
    day = (datetime.fromisoformat(start) + timedelta(days=1)).date().isoformat()
    sync = run("sync", "chatgpt", "--since", day, "--until", day, "--json")
    assert sync.returncode == 0, sync.stderr
    [report] = json.loads(sync.stdout)
    assert report["since"] == f"{day}T00:00:00+00:00"
    assert report["until"] == f"{day}T23:59:59.999999+00:00"
    assert report["inserted"] > 0
    logs = run("logs", "--since", day, "--until", day, "--json")
    assert logs.returncode == 0, logs.stderr
    times = [json.loads(line)["timestamp"] for line in logs.stdout.splitlines()]
    # The day's events (a stream may add some of other days: the GPTs).
    everything = run("logs", "--json").stdout.splitlines()
    assert times == [
        time
        for time in (json.loads(line)["timestamp"] for line in everything)
        if time.startswith(day)
    ]
    assert max(times) >= f"{day}T12:00"


def test_usage_from_the_store_shows_tokens_and_cost_per_model(
    run, sandbox_process, store_url
):
    """``aiaudit sync chatgpt`` stores the usage report's buckets, so
    ``aiaudit usage`` reads tokens and cost per model from the store: the
    figures are the stored buckets' sums, not the events' "-"."""
    period = _since_until(sandbox_process)
    _synced(run("sync", "chatgpt", *period, "--json"))
    shown = run("usage", "--platform", "chatgpt", *period, "--json")
    assert shown.returncode == 0, shown.stderr
    analytics = json.loads(shown.stdout)
    by_model = {m["model"]: m for m in analytics["model_usage"]}
    assert by_model

    store = open_store(store_url, read_only=True)
    try:
        buckets = store.usage_records(platform="chatgpt")
    finally:
        store.close()
    assert buckets
    assert set(by_model) == {b.model for b in buckets}
    for model, figures in by_model.items():
        mine = [b for b in buckets if b.model == model]
        assert figures["usage_count"] == sum(b.requests for b in mine)
        assert figures["total_tokens"] == sum(b.tokens for b in mine)
        # Every line item of the sandbox names its model: all cost attributed.
        assert figures["cost_estimate"] == pytest.approx(
            sum(b.cost for b in mine), abs=1e-6
        )
        assert figures["total_tokens"] > 0

    table = run("usage", "--platform", "chatgpt", *period)
    assert table.returncode == 0, table.stderr
    rows = table.stdout.split("Model usage", 1)[1].splitlines()[2:]
    shown_models = {row.split()[0]: row.split() for row in rows if row.strip()}
    assert set(shown_models) >= set(by_model)
    for model in by_model:
        tokens, cost = shown_models[model][2], shown_models[model][3]
        assert tokens != "-"
        assert cost.startswith("$")
