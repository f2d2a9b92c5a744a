"""The command line a person uses, end to end, against a sandbox process:
the example plugin's, as any installed plugin's."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import stat
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from contract_data import OCSF_CLASSES, contract

from connector_core.export.ocsf import validate_ocsf
from connector_core.store import open_store
from connector_core.store.base import SavedConnection
from connector_core.testing.processes import AIAUDIT, clean_env, running_sandbox


@pytest.fixture(scope="module")
def sandbox_process():
    with running_sandbox(
        "example", "--events", "1500", "--days", "7", "--seed", "4"
    ) as described:
        yield described


@pytest.fixture
def run(tmp_path, sandbox_process, store_url):
    environment = sandbox_process["environment"]

    def invoke(
        *args: str, env: dict[str, str] | None = None, preexec_fn=None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(AIAUDIT), "--store", store_url, *args],
            capture_output=True,
            text=True,
            env=clean_env(**(environment if env is None else env)),
            timeout=300,
            check=False,
            cwd=tmp_path,
            preexec_fn=preexec_fn,
        )

    return invoke


def test_check_leaves_the_store_as_it_found_it(run, tmp_path, store_url):
    # Nothing there yet: a check of the platform's environment creates no
    # store and saves no connection.
    checked = run("check", "example", "--json")
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)[0]["connection"] == "example"
    listed = run("connections", "list", "--json")
    assert json.loads(listed.stdout or "[]") == [], listed.stderr
    # With a saved connection under another name: checking the platform
    # does not add a second one (a later plain sync would store the same
    # organization twice), and checking everything checks only the saved.
    added = run("connections", "add", "acme", "--platform", "example", "--from-env")
    assert added.returncode == 0, added.stderr
    assert run("check", "example").returncode == 0
    assert [
        c["name"] for c in json.loads(run("connections", "list", "--json").stdout)
    ] == ["acme"]
    every = json.loads(run("check", "--json").stdout)
    assert [c["connection"] for c in every] == ["acme"]


def _since_until(sandbox_process):
    start, end = sandbox_process["details"]["history"]
    return ["--since", start, "--until", end]


def test_connections_sync_logs_usage(run, sandbox_process, tmp_path):
    added = run(
        "connections", "add", "acme", "--platform", "example", "--from-env", "--json"
    )
    assert added.returncode == 0, added.stderr
    saved = json.loads(added.stdout)
    assert saved["config"]["api_key"] == "$EXAMPLE_API_KEY"
    listed = json.loads(run("connections", "list", "--json").stdout)
    assert [c["name"] for c in listed] == ["acme"]
    assert sandbox_process["config"]["api_key"] not in run("connections", "list").stdout

    check = run("check", "acme", "--json")
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)[0]["ok"] is True

    sync = run("sync", "acme", *_since_until(sandbox_process), "--json")
    assert sync.returncode == 0, sync.stderr
    [report] = json.loads(sync.stdout)
    assert report["inserted"] > 0
    again = json.loads(
        run("sync", "acme", *_since_until(sandbox_process), "--json").stdout
    )
    assert again[0]["inserted"] == 0

    jsonl = run("logs", "--connection", "acme", "--format", "jsonl")
    lines = jsonl.stdout.splitlines()
    assert len(lines) == report["inserted"]
    table = run(
        "logs", "--connection", "acme", "--action", "user.login", "--limit", "5"
    )
    assert table.returncode == 0
    assert len(table.stdout.splitlines()) >= 6
    rows = list(
        csv.DictReader(
            io.StringIO(run("logs", "--format", "csv", "--limit", "10").stdout)
        )
    )
    assert len(rows) == 10
    assert {"id", "timestamp", "action", "user_email"} <= set(rows[0])

    usage = json.loads(
        run(
            "usage", "--connection", "acme", *_since_until(sandbox_process), "--json"
        ).stdout
    )
    assert usage["total_events"] == report["inserted"]
    html = run(
        "usage", "--connection", "acme", "--format", "html", "--output", "r.html"
    )
    assert html.returncode == 0, html.stderr
    page = (tmp_path / "r.html").read_text()
    assert page.count("<svg") >= 3

    removed = run("connections", "remove", "acme", "--purge", "--json")
    assert json.loads(removed.stdout) == {
        "removed": "acme",
        "purged": True,
        "read_again": [],
    }


def test_two_connections_to_one_organization_never_double_count(run, sandbox_process):
    # One organization saved twice (a second key, a second name): the
    # second sync stores nothing the first holds, says so, and every count
    # is the one of a single connection.
    window = _since_until(sandbox_process)
    for name in ("acme", "acme-again"):
        added = run("connections", "add", name, "--platform", "example", "--from-env")
        assert added.returncode == 0, added.stderr
    [first] = json.loads(run("sync", "acme", *window, "--json").stdout)
    alone = json.loads(run("usage", *window, "--json").stdout)
    assert first["inserted"] > 0
    assert first["held_elsewhere"] == 0

    [second] = json.loads(run("sync", "acme-again", *window, "--json").stdout)
    assert second["inserted"] == 0
    assert second["held_elsewhere"] == first["inserted"]
    assert second["held_by"] == {"acme": first["inserted"]}
    # A third name for it: the summary warns, naming who holds them.
    assert run("connections", "add", "third", "--platform", "example", "--from-env")
    text = run("sync", "third", *window)
    assert text.returncode == 0, text.stderr
    warned = f"{first['inserted']:,} events were stored already through 'acme'"
    assert warned in " ".join(text.stdout.split())

    both = json.loads(run("usage", *window, "--json").stdout)
    for figure in ("total_events", "active_users", "total_users"):
        assert both[figure] == alone[figure], figure
    assert both["model_usage"] == alone["model_usage"]
    listed = run("logs", "--format", "jsonl")
    assert len(listed.stdout.splitlines()) == first["inserted"]

    listed = json.loads(run("connections", "list", "--json").stdout)
    assert {c["name"]: c["shares_organization_with"] for c in listed} == {
        "acme": ["acme-again", "third"],
        "acme-again": ["acme"],
        "third": ["acme"],
    }
    assert "(same organization as acme-again, third)" in (
        run("connections", "list").stdout
    )

    # Purging the connection that holds the events names the one that
    # skipped them, and how it stores them itself.
    removed = run("connections", "remove", "acme", "--purge", "--json")
    assert json.loads(removed.stdout)["read_again"] == ["acme-again", "third"]


def test_ocsf_export_validates_against_its_classes(run, sandbox_process):
    sync = run("sync", "example", *_since_until(sandbox_process))
    assert sync.returncode == 0, sync.stderr
    out = run("logs", "--format", "ocsf")
    assert out.returncode == 0, out.stderr
    reference = contract(OCSF_CLASSES)
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert events
    # The example's actions: logins and logouts (Authentication), messages
    # and exports (API Activity), uploads (File Hosting Activity).
    classes = {event["class_uid"] for event in events}
    assert classes == {3002, 6003, 6006}
    for event in events:
        assert validate_ocsf(event, reference) == [], event["metadata"]["uid"]
        assert "raw" in event["unmapped"]


PASTED = "exk-live-wrongwrongwrong"
"""A key where it does not belong: never echoed. (Not an identifier, as
keys with a dash are not, so it cannot pass for a variable's name.)"""


@pytest.mark.parametrize(
    ("args", "env", "fragment", "code"),
    [
        (("sync", "example", "--since", "yesterday-ish"), None, "is not a date", 2),
        (("logs", "--since", "2025-13-45"), None, "is not a date", 2),
        (("sync", "nobody"), None, "no connection named 'nobody'", 1),
        (
            ("sync", "example"),
            {},
            "the example connector needs api_key: set EXAMPLE_API_KEY",
            1,
        ),
        (
            ("check", "example"),
            {"EXAMPLE_API_KEY": PASTED, "EXAMPLE_BASE_URL": "http://127.0.0.1:9"},
            "Cannot connect to host 127.0.0.1:9",
            1,
        ),
        (
            ("check", "example"),
            {"EXAMPLE_API_KEY": PASTED, "EXAMPLE_BASE_URL": "not a url"},
            "base_url must be an http(s) URL",
            1,
        ),
        (
            (
                "usage",
                "--platform",
                "example",
                "--format",
                "html",
                "--output",
                "/no/such/dir/r.html",
            ),
            None,
            "No such file or directory",
            1,
        ),
        (
            (
                "connections",
                "add",
                "x",
                "--platform",
                "example",
                "--option",
                f"api_key={PASTED}",
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
                "example",
                "--secret",
                f"api_key={PASTED}",
            ),
            None,
            "not an environment variable name",
            1,
        ),
        (
            ("connections", "add", "x", "--platform", "example", "--secret"),
            None,
            None,
            2,
        ),
        (
            ("usage", "--platform", "nope", "--format", "pdf"),
            None,
            "Invalid value for '--format'",
            2,
        ),
        # Dates outside the calendar, or arithmetic that leaves it.
        (("sync", "example", "--since", "999999d"), None, "is out of range", 2),
        (
            ("logs", "--until", "9999-12-31T23:59:59-05:00"),
            None,
            "is out of range",
            2,
        ),
        (("sync", "example", "--until", "0001-01-01"), None, "is out of range", 2),
        (("usage", "--since", "99999999999999999999w"), None, "is out of range", 2),
        # A password in a URL: refused wherever it comes from, never echoed.
        (
            (
                "connections",
                "add",
                "x",
                "--platform",
                "example",
                "--secret",
                "api_key=EXAMPLE_API_KEY",
                "--option",
                f"base_url=http://admin:{PASTED}@127.0.0.1:9",
            ),
            None,
            "base_url holds a URL with a user name or password",
            1,
        ),
        (
            ("connections", "add", "x", "--platform", "example", "--from-env"),
            {
                "EXAMPLE_API_KEY": "exk_live_0123456789abcdef",
                "EXAMPLE_BASE_URL": f"http://admin:{PASTED}@h:9",
            },
            "EXAMPLE_BASE_URL holds a URL with a user name or password",
            1,
        ),
        (
            ("sync", "example"),
            {
                "EXAMPLE_API_KEY": "exk_live_0123456789abcdef",
                "EXAMPLE_BASE_URL": f"https://{PASTED}@h:9",
            },
            "EXAMPLE_BASE_URL holds a URL with a user name or password",
            1,
        ),
    ],
)
def test_bad_input_is_one_clear_line(run, args, env, fragment, code):
    if fragment is None:  # a key pasted where FIELD=VARIABLE belongs
        args, fragment = (*args, PASTED), "expected FIELD=VALUE"
    result = run(*args, env=env)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert fragment in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert PASTED not in result.stderr + result.stdout
    errors = [
        line for line in result.stderr.splitlines() if line.lower().startswith("error")
    ]
    assert len(errors) == 1, result.stderr


def test_a_password_an_older_store_holds_is_never_shown(run, store_url):
    """Connections saved before URLs with credentials were refused may hold
    one: listing them masks it, and using them refuses it in one line."""
    store = open_store(store_url)
    try:
        store.add_connection(
            SavedConnection(
                name="old",
                platform="example",
                config={
                    "api_key": {"env": "EXAMPLE_API_KEY"},
                    "base_url": "http://admin:hunter2hunter2@127.0.0.1:9/v1",
                },
                created_at=datetime.now(UTC),
            )
        )
    finally:
        store.close()
    for args in (("connections", "list"), ("connections", "list", "--json")):
        listed = run(*args)
        assert listed.returncode == 0, listed.stderr
        assert "hunter2" not in listed.stdout + listed.stderr
        assert "http://***@127.0.0.1:9/v1" in listed.stdout
    used = run("check", "old")
    assert used.returncode == 1
    assert "base_url holds a URL with a user name or password" in used.stderr
    assert "hunter2" not in used.stdout + used.stderr
    assert len(used.stderr.strip().splitlines()) == 1


def _corrupt_checkpoint(store_url: str, stream: str, text: str) -> None:
    """Overwrite a stored checkpoint, as a bad disk or a hand edit would."""
    if store_url.startswith("sqlite"):
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as db:
            db.execute(
                "UPDATE checkpoints SET checkpoint = ? WHERE stream = ?", (text, stream)
            )
        return
    import psycopg  # noqa: PLC0415

    base, _, schema = store_url.partition("?schema=")
    with psycopg.connect(base, autocommit=True) as db:
        db.execute(
            psycopg.sql.SQL(
                "UPDATE {}.checkpoints SET checkpoint = %s WHERE stream = %s"
            ).format(psycopg.sql.Identifier(schema)),
            (text, stream),
        )


def test_a_corrupt_checkpoint_fails_its_stream_alone_and_is_recoverable(
    run, sandbox_process, store_url
):
    first = run("sync", "example", *_since_until(sandbox_process), "--json")
    assert first.returncode == 0, first.stderr
    [report] = json.loads(first.stdout)
    streams = [s["stream"] for s in report["streams"]]
    broken = streams[0]
    _corrupt_checkpoint(store_url, broken, '{"until": 17')

    again = run("sync", "example", *_since_until(sandbox_process))
    assert again.returncode == 1
    assert "Traceback" not in again.stderr
    [line] = [ln for ln in again.stdout.splitlines() if "stopped:" in ln]
    assert f"checkpoint of stream {broken!r} is unreadable" in line
    assert f"aiaudit checkpoints reset example {broken}" in line
    as_json = json.loads(
        run("sync", "example", *_since_until(sandbox_process), "--json").stdout
    )
    failed = {s["stream"] for s in as_json[0]["streams"] if s["error"]}
    assert failed == {broken}

    reset = run("checkpoints", "reset", "example", broken)
    assert reset.returncode == 0, reset.stderr
    healed = run("sync", "example", *_since_until(sandbox_process), "--json")
    assert healed.returncode == 0, healed.stderr
    [after] = json.loads(healed.stdout)
    assert after["ok"]
    assert after["inserted"] == 0  # read again, recognised by id

    nothing = run("checkpoints", "reset", "example", "no_such_stream")
    assert nothing.returncode == 1
    assert "no checkpoint for 'example' stream(s) no_such_stream" in nothing.stderr
    usage = run("checkpoints", "reset", "example")
    assert usage.returncode == 2


def test_an_unreachable_store_is_one_clear_line(tmp_path):
    # In the variable: --store refuses a URL holding a password.
    result = subprocess.run(
        [str(AIAUDIT), "connections", "list"],
        capture_output=True,
        text=True,
        env=clean_env(AIAUDIT_STORE="postgresql://u:s3cretpw@127.0.0.1:9/db"),
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert "s3cretpw" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    bad = subprocess.run(
        [str(AIAUDIT), "--store", "mysql://x", "connections", "list"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1
    assert "unsupported store URL" in bad.stderr


@pytest.fixture(scope="module")
def long_sandbox():
    """Ninety days of history, so syncs weeks apart can be played back with
    ``--until`` values inside it."""
    with running_sandbox(
        "example", "--events", "3000", "--days", "90", "--seed", "9"
    ) as described:
        yield described


def _runner(described, store_url, cwd):
    environment = described["environment"]

    def invoke(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(AIAUDIT), "--store", store_url, *args],
            capture_output=True,
            text=True,
            env=clean_env(**environment),
            timeout=timeout,
            check=False,
            cwd=cwd,
        )

    return invoke


def _synced(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    [report] = json.loads(result.stdout)
    assert report["ok"], report["streams"]
    return report


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
    _synced(late("sync", "example", "--since", since, "--until", first_until, "--json"))
    second = _synced(late("sync", "example", "--until", second_until, "--json"))

    # The same range in one go, into a store of its own, is what both
    # syncs together must have stored.
    whole = _runner(long_sandbox, f"sqlite:///{tmp_path / 'whole.db'}", tmp_path)
    _synced(
        whole("sync", "example", "--since", since, "--until", second_until, "--json")
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
    # An explicit --since does not move a resumed stream: --help says so.
    helped = " ".join(late("sync", "--help").stdout.split())
    assert "A stream with a checkpoint resumes from it whatever --since says" in helped


def test_a_future_until_is_clamped_to_now(sandbox_process, store_url, tmp_path):
    """No checkpoint may promise a moment that has not happened: the events
    published between this sync and the next would be skipped. And a
    far-future --until must not walk empty windows up to it."""
    run = _runner(sandbox_process, store_url, tmp_path)
    before = datetime.now(UTC)
    future = (before + timedelta(days=10)).replace(microsecond=0)
    report = _synced(run("sync", "example", "--until", future.isoformat(), "--json"))
    after = datetime.now(UTC)
    store = open_store(store_url)
    try:
        checkpoints = store.checkpoints("example")
    finally:
        store.close()
    # The windowed streams' checkpoints are the end of their last window:
    # the exclusive end just after the query's (inclusive) end, so at most
    # a microsecond after `after`; ten days ahead before the clamp.
    # The usage report's is the start of the day it read last, today: that
    # day's buckets are still open, and the next sync reads them again.
    usage = datetime.fromisoformat(checkpoints.pop("model_usage")["since"])
    assert usage <= after
    assert after - usage < timedelta(days=1)
    windowed = [datetime.fromisoformat(c["since"]) for c in checkpoints.values()]
    assert len(windowed) == 2
    assert before <= min(windowed)
    assert max(windowed) <= after + timedelta(microseconds=1)
    assert report["requested_until"] == future.isoformat()
    assert report["until_clamped"] is True
    assert before <= datetime.fromisoformat(report["until"]) <= after

    far = run("sync", "example", "--until", "9999-12-31", timeout=60)
    assert far.returncode == 0, far.stderr
    # A date alone is the end of that day.
    assert "9999-12-31 23:59 UTC is in the future: synced up to now" in far.stdout


def _umask_022() -> None:
    os.umask(0o022)


def test_files_the_cli_writes_are_owner_only(run, sandbox_process, tmp_path):
    """Reports hold every user's email and IP: created 0600 even under a
    umask of 022, and a symbolic link planted at the path is replaced, never
    followed."""
    sync = run("sync", "example", *_since_until(sandbox_process))
    assert sync.returncode == 0, sync.stderr
    victim = tmp_path / "victim.txt"
    victim.write_text("not yours\n")
    (tmp_path / "planted.html").symlink_to(victim)
    outputs = {
        "r.html": ("--format", "html"),
        "r.json": ("--format", "json"),
        "r.txt": ("--format", "table"),
        "planted.html": ("--format", "html"),
    }
    for name, fmt in outputs.items():
        result = run(
            "usage",
            "--platform",
            "example",
            *_since_until(sandbox_process),
            *fmt,
            "--output",
            name,
            preexec_fn=_umask_022,
        )
        assert result.returncode == 0, result.stderr
        written = tmp_path / name
        assert not written.is_symlink()
        assert stat.S_IMODE(written.stat().st_mode) == 0o600, name
        assert written.stat().st_size > 0
    assert victim.read_text() == "not yours\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_the_demo_report_is_owner_only(tmp_path):
    result = subprocess.run(
        [
            str(AIAUDIT),
            "--store",
            f"sqlite:///{tmp_path / 'demo.db'}",
            "demo",
            "example",
            "--events",
            "300",
            "--days",
            "3",
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
        check=False,
        cwd=tmp_path,
        preexec_fn=_umask_022,
    )
    assert result.returncode == 0, result.stderr
    report = tmp_path / "aiaudit-report.html"
    assert stat.S_IMODE(report.stat().st_mode) == 0o600


def test_a_date_until_syncs_that_whole_day(run, sandbox_process):
    start, _ = sandbox_process["details"]["history"]
    day = (datetime.fromisoformat(start) + timedelta(days=1)).date().isoformat()
    sync = run("sync", "example", "--since", day, "--until", day, "--json")
    assert sync.returncode == 0, sync.stderr
    [report] = json.loads(sync.stdout)
    assert report["since"] == f"{day}T00:00:00+00:00"
    assert report["until"] == f"{day}T23:59:59.999999+00:00"
    assert report["inserted"] > 0
    logs = run("logs", "--since", day, "--until", day, "--json")
    assert logs.returncode == 0, logs.stderr
    times = [json.loads(line)["timestamp"] for line in logs.stdout.splitlines()]
    # The day's events, and only they were synced.
    everything = run("logs", "--json").stdout.splitlines()
    assert times == [
        time
        for time in (json.loads(line)["timestamp"] for line in everything)
        if time.startswith(day)
    ]
    assert len(times) == len(everything) == report["inserted"]
    assert max(times) >= f"{day}T12:00"
