"""Keys never leak, anywhere; Ctrl-C stops a sync at once and loses nothing.

Everything runs as a person would run it: a sandbox process, ``aiaudit``
processes with ``--debug``, a real store. The scan covers every log line at
debug level, every row of every table (SQLite and PostgreSQL), the HTML
report and every export format.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import subprocess
import time
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from connector_core import Registry
from connector_core.models import AIAuditLogQuery
from connector_core.store import open_store
from connector_core.store.base import LogFilter
from connector_core.testing.processes import AIAUDIT, clean_env, start_sandbox, stop


def _rows(store_url: str) -> str:
    """Every row of every table of the store, as text."""
    if store_url.startswith("sqlite"):
        path = store_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as db:
            tables = [
                r[0]
                for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            select = "SELECT * FROM {}"  # names come from the catalogue
            return "\n".join(
                repr(db.execute(select.format(t)).fetchall()) for t in tables
            )
    import psycopg  # noqa: PLC0415

    url = urlsplit(store_url)
    schema = parse_qs(url.query)["schema"][0]
    with psycopg.connect(url._replace(query="").geturl()) as db:
        catalogue = (
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
        )
        tables = [r[0] for r in db.execute(catalogue, (schema,))]
        select = 'SELECT * FROM "{}"."{}"'  # names come from the catalogue
        return "\n".join(
            repr(db.execute(select.format(schema, t)).fetchall()) for t in tables
        )


def test_keys_appear_in_no_output_row_or_report(tmp_path, store_url):
    sandbox, described = start_sandbox(
        "chatgpt", "--seed", "12", "--events", "1200", "--days", "5"
    )
    try:
        env = clean_env(**described["details"]["environment"])
        keys = [
            described["config"]["api_key"],
            described["config"]["compliance_api_key"],
        ]
        since, until = described["details"]["history"]
        outputs = []

        def run(*args: str) -> None:
            result = subprocess.run(
                [str(AIAUDIT), "--debug", "--store", store_url, *args],
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
                check=False,
                cwd=tmp_path,
            )
            assert result.returncode == 0, result.stderr[-2000:]
            outputs.extend([result.stdout, result.stderr])

        run("connections", "add", "acme", "--platform", "chatgpt", "--from-env")
        run("check", "acme", "--json")
        run("sync", "acme", "--since", since, "--until", until, "--json")
        for fmt in ("table", "json", "jsonl", "csv", "ocsf"):
            run("logs", "--format", fmt)
        run("logs", "--format", "json", "--camel")
        for fmt in ("table", "json"):
            run("usage", "--connection", "acme", "--since", since, "--format", fmt)
        run(
            "usage",
            "--connection",
            "acme",
            "--since",
            since,
            "--format",
            "html",
            "--output",
            "r.html",
        )
        run("connections", "list", "--json")
        outputs.append((tmp_path / "r.html").read_text())
        outputs.append(_rows(store_url))
    finally:
        stop(sandbox)
    everything = "\n".join(outputs)
    assert "http.request" in everything, "debug logging was captured"
    assert len(everything) > 100_000
    for key in keys:
        assert key not in everything
        assert key[-12:] not in everything


def test_ctrl_c_stops_a_sync_within_a_second_and_the_next_run_resumes(tmp_path):
    sandbox, described = start_sandbox(
        "chatgpt",
        "--seed",
        "12",
        "--events",
        "8000",
        "--days",
        "10",
        "--rate-limit",
        "25",
    )
    store_url = f"sqlite:///{tmp_path / 'interrupt.db'}"
    try:
        env = clean_env(**described["details"]["environment"])
        since, until = described["details"]["history"]
        args = [
            str(AIAUDIT),
            "--store",
            store_url,
            "sync",
            "chatgpt",
            "--since",
            since,
            "--until",
            until,
        ]
        process = subprocess.Popen(
            args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        db = tmp_path / "interrupt.db"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if db.exists():
                with (
                    sqlite3.connect(db) as conn,
                    contextlib.suppress(sqlite3.Error),
                ):
                    if conn.execute("SELECT count(*) FROM events").fetchone()[0] >= 300:
                        break
            time.sleep(0.05)
        assert process.poll() is None, (
            "the sync finished before it could be interrupted"
        )
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
        stopped = time.monotonic() - sent
        assert stopped < 1.0, f"took {stopped:.2f}s to stop"
        assert process.returncode == 130
        assert "interrupted" in stderr
        assert "Traceback" not in stderr
        store = open_store(store_url)
        partial = store.count_logs(LogFilter(connection="chatgpt"))
        store.close()
        final = subprocess.run(
            args, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert final.returncode == 0, final.stderr
        store = open_store(store_url)
        stored = [log.id for log in store.iter_logs(LogFilter(connection="chatgpt"))]
        store.close()

        async def truth() -> set[str]:
            registry = Registry.load(environ={"AIAUDIT_PLUGINS": "chatgpt"})
            query = AIAuditLogQuery(
                start_date=datetime.fromisoformat(since),
                end_date=datetime.fromisoformat(until),
            )
            async with registry.create("chatgpt", described["config"]) as connector:
                return {log.id async for log in connector.stream_ai_audit_logs(query)}

        expected = asyncio.run(truth())
    finally:
        stop(sandbox)
    print(f"interrupted after {partial} events in {stopped:.2f}s; then {len(stored)}")
    assert 0 < partial < len(expected)
    assert len(stored) == len(set(stored))
    assert set(stored) == expected
