"""Who may read a store, who may open it, and opening it many times at once.

* The store holds every user's email and IP address: its files are the
  owner's alone (0600), and a data folder the store creates is too (0700),
  whatever the umask; a folder the user chose is left as it is.
* A store the user may only read (a file 0400 in a folder 0500) can still be
  read, with ``read_only=True``: nothing is created, nothing migrated.
* Many processes opening a new store, or adding the same connection, at the
  same moment all succeed, and leave one schema and one connection.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest

from connector_core.exceptions import StoreError
from connector_core.models import AIActivityType, AIAuditLog
from connector_core.store import (
    LogFilter,
    SavedConnection,
    default_store_url,
    open_store,
)
from connector_core.store._schema import MIGRATIONS


if TYPE_CHECKING:
    from pathlib import Path


UTC = dt.UTC
T0 = dt.datetime(2024, 3, 1, tzinfo=UTC)
SETPRIV = shutil.which("setpriv")


def event(number: int) -> AIAuditLog:
    return AIAuditLog(
        id=f"evt-{number:05d}",
        platform="chatgpt",
        timestamp=T0 + dt.timedelta(minutes=number),
        user_id="u1",
        user_email="u1@example.com",
        organization_id="org-1",
        activity_type=AIActivityType.CONVERSATION,
        action="conversation.created",
        native_type="conversation.created",
        ip_address="192.0.2.1",
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


# --------------------------------------------------------------------------
# Owner-only files
# --------------------------------------------------------------------------


def test_the_store_and_its_side_files_are_the_owners_alone(tmp_path, umask_022):
    folder = tmp_path / "chosen"
    folder.mkdir(mode=0o755)
    path = folder / "aiaudit.db"
    store = open_store(f"sqlite:///{path}")
    try:
        store.write_batch("c1", "audit", [event(1)])
        with store.lock("c1"):
            side_files = sorted(folder.iterdir())
            # The WAL and its index exist while the store is open.
            assert {p.name for p in side_files} >= {
                "aiaudit.db",
                "aiaudit.db-wal",
                "aiaudit.db-shm",
            }
            assert {p.name: mode(p) for p in side_files} == {
                p.name: 0o600 for p in side_files
            }
    finally:
        store.close()
    assert mode(path) == 0o600
    # A folder the user chose is theirs to set: left as it was.
    assert mode(folder) == 0o755


def test_a_rollback_journal_is_the_owners_alone_too(tmp_path, umask_022):
    path = tmp_path / "aiaudit.db"
    open_store(f"sqlite:///{path}").close()
    # A store switched to a rollback journal (by hand, or by a tool)
    # writes a -journal file during each transaction.
    import sqlite3  # noqa: PLC0415

    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = DELETE")
    connection.execute("PRAGMA locking_mode = EXCLUSIVE")
    connection.execute("BEGIN IMMEDIATE")
    connection.execute("DELETE FROM schema_version WHERE version < 0")
    connection.execute(
        "INSERT INTO connections VALUES ('x', 'chatgpt', '{}', '2024-01-01')"
    )
    journal = tmp_path / "aiaudit.db-journal"
    assert journal.exists()
    assert mode(journal) == 0o600
    connection.execute("ROLLBACK")
    connection.close()


def test_the_data_folder_the_store_creates_is_the_owners_alone(
    tmp_path, monkeypatch, umask_022
):
    folder = tmp_path / "home" / ".local" / "share" / "aiaudit"
    monkeypatch.setattr("platformdirs.user_data_dir", lambda *_a, **_k: str(folder))
    url = default_store_url()
    store = open_store(url)
    store.close()
    # Every folder it had to create, not only the last one.
    for created in (folder, folder.parent, folder.parent.parent):
        assert mode(created) == 0o700, created
    assert mode(folder / "aiaudit.db") == 0o600
    # An existing folder is never changed.
    before = mode(tmp_path / "home")
    default_store_url()
    assert mode(tmp_path / "home") == before


def test_an_existing_data_folder_is_left_as_it_is(tmp_path, monkeypatch, umask_022):
    folder = tmp_path / "aiaudit"
    folder.mkdir(mode=0o755)
    monkeypatch.setattr("platformdirs.user_data_dir", lambda *_a, **_k: str(folder))
    default_store_url()
    assert mode(folder) == 0o755


# --------------------------------------------------------------------------
# Reading a store one may not write
# --------------------------------------------------------------------------

READER = textwrap.dedent(
    """
    import sys
    from connector_core.store import LogFilter, open_store

    store = open_store(sys.argv[1], read_only=True)
    print(store.count_logs(LogFilter()), [log.id for log in
          store.iter_logs(LogFilter())][:2], len(store.list_connections()))
    try:
        store.write_batch("c1", "audit", [], checkpoint={"after": 1})
    except Exception as exc:
        print(type(exc).__name__)
    """
)


def run_without_privileges(*args: str) -> subprocess.CompletedProcess[str]:
    """Run Python with *args* as this user but without the capabilities
    that let root read and write any file: permissions then apply."""
    if SETPRIV is None:
        pytest.skip("setpriv (util-linux) is needed to drop root's privileges")
    command = [sys.executable, *args]
    if os.geteuid() == 0:
        command = [SETPRIV, "--bounding-set=-all", "--inh-caps=-all", "--", *command]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def read_only_store(tmp_path):
    """A store with two events, its file 0400 in a folder 0500."""
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "aiaudit.db"
    store = open_store(f"sqlite:///{path}")
    store.add_connection(
        SavedConnection(name="c1", platform="chatgpt", config={}, created_at=T0)
    )
    store.write_batch("c1", "audit", [event(1), event(2)])
    store.close()
    path.chmod(0o400)
    folder.chmod(0o500)
    yield path
    folder.chmod(0o700)
    path.chmod(0o600)


def test_a_store_one_may_only_read_can_be_read(read_only_store):
    url = f"sqlite:///{read_only_store}"
    # The check is meaningful: this process may not write there.
    probe = run_without_privileges("-c", f"open({str(read_only_store)!r}, 'r+b')")
    assert probe.returncode != 0
    assert "Permission denied" in probe.stderr

    result = run_without_privileges("-c", READER, url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == [
        "2 ['evt-00001', 'evt-00002'] 1",
        "StoreError",
    ]
    # Nothing was created beside it.
    assert sorted(p.name for p in read_only_store.parent.iterdir()) == ["aiaudit.db"]


def test_reading_a_store_one_may_only_read_through_the_cli_context(read_only_store):
    """What the reading commands open: the CLI context's store, read-only."""
    script = textwrap.dedent(
        """
        import sys
        from connector_core.cli._common import Context
        from connector_core.registry import Registry
        from connector_core.store import LogFilter

        context = Context(Registry.load(), debug=False, store_url=sys.argv[1])
        store = context.open_store(read_only=True)
        print(store.count_logs(LogFilter()))
        assert context.open_store(read_only=True) is store
        context.close()
        """
    )
    result = run_without_privileges("-c", script, f"sqlite:///{read_only_store}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"


def test_a_store_in_use_can_be_read_read_only(tmp_path):
    """Read-only reading sees what a writer commits, while it writes."""
    url = f"sqlite:///{tmp_path / 'aiaudit.db'}"
    writer = open_store(url)
    reader = open_store(url, read_only=True)
    try:
        writer.write_batch("c1", "audit", [event(1)])
        assert reader.count_logs(LogFilter()) == 1
        writer.write_batch("c1", "audit", [event(2)])
        assert reader.count_logs(LogFilter()) == 2
        with pytest.raises(StoreError, match=r"readonly|read-only"):
            reader.write_batch("c1", "audit", [event(3)])
    finally:
        reader.close()
        writer.close()


def test_a_missing_store_is_not_created_read_only(tmp_path):
    path = tmp_path / "none.db"
    with pytest.raises(StoreError, match="no SQLite store"):
        open_store(f"sqlite:///{path}", read_only=True)
    assert not path.exists()


def test_an_old_schema_is_not_migrated_read_only(store, store_url):
    with store._session("write") as session:
        session.execute("DELETE FROM schema_version")
    with pytest.raises(StoreError, match="no aiaudit schema"):
        open_store(store_url, read_only=True)
    with store._session("read") as session:
        assert session.query("SELECT COUNT(*) FROM schema_version")[0][0] == 0


def test_a_read_only_store_reads_and_never_writes(store, store_url):
    store.write_batch("c1", "audit", [event(1)], checkpoint={"after": 1})
    reader = open_store(store_url, read_only=True)
    try:
        assert [log.id for log in reader.iter_logs(LogFilter())] == ["evt-00001"]
        assert reader.checkpoints("c1") == {"audit": {"after": 1}}
        with pytest.raises(StoreError):
            reader.write_batch("c1", "audit", [event(2)])
        with pytest.raises(StoreError):
            reader.add_connection(
                SavedConnection(name="x", platform="chatgpt", config={}, created_at=T0)
            )
    finally:
        reader.close()
    assert store.count_logs(LogFilter()) == 1


def test_a_fresh_postgres_schema_is_not_created_read_only(
    postgres_server, postgres_schema
):
    import psycopg  # noqa: PLC0415

    url = f"{postgres_server}?schema={postgres_schema}"
    with pytest.raises(StoreError, match="no aiaudit schema"):
        open_store(url, read_only=True)
    with psycopg.connect(postgres_server) as connection:
        found = connection.execute(
            "SELECT COUNT(*) FROM pg_namespace WHERE nspname = %s", (postgres_schema,)
        ).fetchone()
    assert found == (0,)


# --------------------------------------------------------------------------
# Many at once
# --------------------------------------------------------------------------

RACERS = 20


def _race(function, count=RACERS):
    """Run *function* in *count* threads released at the same moment."""
    barrier = threading.Barrier(count)

    def run(index):
        barrier.wait()
        return function(index)

    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(run, index) for index in range(count)]
        return [future.result() for future in futures]


def test_concurrent_first_adds_of_a_connection_all_succeed(store_url):
    stores = _race(lambda _: open_store(store_url))
    try:
        wanted = SavedConnection(
            name="chatgpt", platform="chatgpt", config={"a": 1}, created_at=T0
        )
        results = _race(lambda index: stores[index].ensure_connection(wanted))
        assert results == [wanted] * RACERS
        assert stores[0].list_connections() == [wanted]
        # The first one saved wins; a later, different one reads it back.
        other = SavedConnection(
            name="chatgpt", platform="chatgpt", config={"a": 2}, created_at=T0
        )
        assert stores[1].ensure_connection(other) == wanted
    finally:
        for one in stores:
            one.close()


RACER = textwrap.dedent(
    """
    import datetime as dt, sys, time
    from connector_core.store import SavedConnection, open_store

    start = float(sys.argv[2])
    time.sleep(max(0.0, start - time.time()))
    store = open_store(sys.argv[1])
    wanted = SavedConnection(name="chatgpt", platform="chatgpt", config={},
                             created_at=dt.datetime(2024, 3, 1, tzinfo=dt.UTC))
    store.ensure_connection(wanted)
    store.close()
    print("ok")
    """
)


def test_concurrent_first_opens_in_processes(store_url):
    """Processes opening a store that does not exist yet (a new file, a new
    PostgreSQL schema) at one moment: each migrates or waits, none fails."""
    import time  # noqa: PLC0415

    start = time.time() + 3
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, store_url, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(RACERS)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    failures = [err for (out, err) in outputs if out.strip() != "ok"]
    assert failures == []
    store = open_store(store_url)
    try:
        assert [c.name for c in store.list_connections()] == ["chatgpt"]
        with store._session("read") as session:
            count = session.query("SELECT COUNT(*) FROM schema_version")[0][0]
            assert count == len(MIGRATIONS)
    finally:
        store.close()


def test_logs_and_usage_read_a_store_one_may_only_read(read_only_store):
    """The reading commands, as a person types them, on a 0400 store."""
    from connector_core.testing.processes import AIAUDIT, clean_env  # noqa: PLC0415

    url = f"sqlite:///{read_only_store}"
    for command in (
        ["logs", "--format", "jsonl"],
        ["usage", "--platform", "chatgpt", "--json"],
    ):
        if SETPRIV is None:
            pytest.skip("setpriv (util-linux) is needed to drop root's privileges")
        result = subprocess.run(
            [
                SETPRIV,
                "--bounding-set=-all",
                "--inh-caps=-all",
                "--",
                str(AIAUDIT),
                *command,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=clean_env(AIAUDIT_STORE=url),
            check=False,
        )
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in read_only_store.parent.iterdir()) == ["aiaudit.db"]


def test_first_uses_of_a_platform_at_once_all_get_its_connection(
    store_url, monkeypatch
):
    """``aiaudit sync example`` started many times at once on a new store
    saves the environment's connection once, and none of them fails."""
    from connector_core.cli._common import Context  # noqa: PLC0415
    from connector_core.registry import Registry  # noqa: PLC0415

    monkeypatch.setenv("EXAMPLE_API_KEY", "exk_live_test")
    open_store(store_url).close()
    registry = Registry.load()
    contexts = [
        Context(registry, debug=False, store_url=store_url) for _ in range(RACERS)
    ]
    for context in contexts:
        assert context.store.list_connections() == []
    try:
        saved = _race(lambda index: contexts[index].saved_or_environment("example"))
    finally:
        for context in contexts:
            context.close()
    assert {connection.name for connection in saved} == {"example"}
    assert len({connection.created_at for connection in saved}) == 1
