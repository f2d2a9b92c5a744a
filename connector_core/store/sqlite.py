"""The SQLite store: one file, nothing to run, the default.

The database is opened in WAL mode, so readers (an export, the analytics)
never block the sync that writes, and with ``synchronous=NORMAL``: a killed
process loses nothing committed, and a power cut can at worst lose the last
batches *together with* their checkpoint, which the next sync reads again.
Concurrent writers from several processes wait for each other (a busy
timeout) rather than fail.

The sync lock is an OS file lock (``flock``) on a file beside the database,
one per connection: the kernel drops it with the descriptor, so a process
killed even with SIGKILL never leaves a connection locked. The file holds
the holder's pid, for the "busy" message. An in-memory store, which no
other process can see, uses a lock inside the process.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from connector_core.exceptions import (
    ConfigurationError,
    ConnectionBusyError,
    StoreError,
)
from connector_core.store._driver import Dialect
from connector_core.store._sql import SQLStore
from connector_core.store._urls import mask_url


if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from connector_core.store._driver import Session, SessionMode


__all__ = ["SQLiteStore", "parse_sqlite_url"]

MEMORY: Final = ":memory:"
_PREFIX: Final = "sqlite:///"
_FORMS: Final = (
    "use sqlite:///RELATIVE/PATH.db, sqlite:////ABSOLUTE/PATH.db or sqlite:///:memory:"
)
# Upserts need 3.24, window functions 3.25.
_MIN_VERSION: Final = (3, 25, 0)
_BUSY_TIMEOUT_S: Final = 60.0
_NEW_PAGE_SIZE: Final = "PRAGMA page_size = 16384"
"""The page size of a store created here. An event's row is about 1.5 KB,
so a 4 KB page (SQLite's default) holds two; each committed page is one
write to the WAL and one more at the checkpoint, and those system calls
cost a third of storing an event. Four times larger pages take a third
less CPU time per event written, and scans read fewer pages."""

_PRAGMAS: Final = (
    "PRAGMA synchronous = NORMAL",
    # Checkpoint the WAL every ~40 MB rather than every 4 MB: a batch with
    # random event ids dirties a page of the key index per event, and
    # copying those back ten times less often triples the write rate of a
    # large store. The file is cut back to 64 MB after a checkpoint.
    "PRAGMA wal_autocheckpoint = 10000",
    "PRAGMA journal_size_limit = 67108864",
    # Room for the analytics' index scans and sorts of millions of rows.
    "PRAGMA cache_size = -65536",
    "PRAGMA temp_store = MEMORY",
    "PRAGMA mmap_size = 268435456",
)


def parse_sqlite_url(url: str) -> str:
    """The database path of a ``sqlite:///`` *url*, or ``:memory:``.

    As in SQLAlchemy, what follows the third slash is the path, so a fourth
    slash makes it absolute. ``~`` is expanded.

    Raises:
        ConfigurationError: *url* is not of that form.
    """
    if not url.lower().startswith(_PREFIX) or len(url) == len(_PREFIX):
        raise ConfigurationError(
            f"invalid SQLite store URL {mask_url(url)!r}: {_FORMS}"
        )
    path = url[len(_PREFIX) :]
    if "?" in path or "#" in path:
        raise ConfigurationError(
            f"invalid SQLite store URL {mask_url(url)!r}: it takes no parameters; "
            f"{_FORMS}"
        )
    return path if path == MEMORY else os.path.expanduser(path)  # noqa: PTH111 -- a str in, a str out


class _SQLiteSession:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._connection.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        return self._connection.executemany(sql, rows).rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._connection.execute(sql, params).fetchall()


class SQLiteStore(SQLStore):
    """A store in one SQLite file (or in memory, for tests)."""

    dialect = Dialect(
        name="sqlite",
        placeholder="?",
        # SQLite's default BINARY collation compares UTF-8 bytes, which is
        # code point order, as Python's.
        text="TEXT",
        serial_key="INTEGER PRIMARY KEY",
        clustered=" WITHOUT ROWID",
        table_exists=(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
        ),
    )

    def __init__(
        self, path: str | os.PathLike[str], *, read_only: bool = False
    ) -> None:
        """Open (creating if needed) and migrate the database at *path*.

        With *read_only*, the file must exist and hold a current schema;
        nothing is created beside it, nothing migrated, and every write
        fails: what commands that only read use, so a store the user may
        read but not write (a file 0400 in a folder 0500, a backup) can be.

        A new file is created readable and writable by its owner only
        (0600), whatever the umask: it holds every user's email and IP
        address. SQLite gives its side files (``-wal``, ``-shm``,
        ``-journal``) the database file's permissions.

        Raises:
            StoreError: The file cannot be opened or created, or its
                schema cannot be brought up to date (or, read-only, is not
                current).
        """
        target = os.fspath(path)
        self.path: Path | None = None if target == MEMORY else Path(target).absolute()
        super().__init__(f"{_PREFIX}{target}")
        self.read_only = read_only
        self._memory_locks: dict[str, threading.Lock] = {}
        self._connection: sqlite3.Connection | None = self._connect(target)
        try:
            self._prepare()
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_url(cls, url: str, *, read_only: bool = False) -> SQLiteStore:
        """Open the store a ``sqlite:///`` URL names."""
        return cls(parse_sqlite_url(url), read_only=read_only)

    def _connect(self, target: str) -> sqlite3.Connection:
        if sqlite3.sqlite_version_info < _MIN_VERSION:
            raise StoreError(
                f"SQLite {sqlite3.sqlite_version} is too old for the store; "
                f"{'.'.join(map(str, _MIN_VERSION))} or newer is needed"
            )
        if self.path is not None and not self.path.parent.is_dir():
            raise StoreError(
                f"cannot open SQLite store {self.url}: directory "
                f"{self.path.parent} does not exist"
            )
        if self.read_only:
            connection = self._connect_read_only()
        else:
            if self.path is not None:
                self._create_private(self.path)
            connection = self._open(target)
        try:
            self._set_up(connection)
        except sqlite3.Error as exc:
            connection.close()
            raise StoreError(f"cannot open SQLite store {self.url}: {exc}") from None
        return connection

    def _set_up(self, connection: sqlite3.Connection) -> None:
        """Switch to WAL and apply the pragmas, waiting out other openers.

        SQLite answers "database is locked" at once, without its busy
        handler, to a connection that asks for WAL while another process is
        switching the new file to WAL or running the WAL's recovery. Several
        processes opening a store for the first time at one moment (workers
        started together) hit that window; the open waits and tries again
        for as long as a busy writer would be waited for.
        """
        deadline = time.monotonic() + _BUSY_TIMEOUT_S
        pause = 0.005
        while True:
            try:
                if self.path is not None and not self.read_only:
                    # Only a new, empty file takes it (an existing store
                    # keeps its own): before WAL, which fixes it.
                    connection.execute(_NEW_PAGE_SIZE)
                    connection.execute("PRAGMA journal_mode = WAL")
                for pragma in _PRAGMAS:
                    connection.execute(pragma)
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                if not busy or time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.1)
            else:
                return

    def _open(self, target: str, *, uri: bool = False) -> sqlite3.Connection:
        try:
            # Autocommit at the driver level: transactions are opened
            # explicitly, so their kind (IMMEDIATE for writes) is ours to
            # choose. The store's mutex makes cross-thread use safe.
            return sqlite3.connect(
                target,
                timeout=_BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,
                uri=uri,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite store {self.url}: {exc}") from None

    def _create_private(self, path: Path) -> None:
        """Create the database file, owner-only, if it does not exist.

        SQLite would create it with the umask's permissions (0644: any local
        user reads every email), and its side files copy the file's.
        """
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return  # the user's file (or a folder, which opening reports)
        except OSError as exc:
            raise StoreError(
                f"cannot create SQLite store {self.url}: {exc.strerror}"
            ) from None
        os.close(fd)

    def _connect_read_only(self) -> sqlite3.Connection:
        """Open the file for reading only (``mode=ro``).

        A WAL database needs its ``-shm`` index, which a reader creates if
        it is missing; in a folder the user may not write it cannot. Then
        the file is opened as ``immutable``, which needs no index, but only
        when no ``-wal`` file holds commits the file lacks: such a store,
        with nobody writing it (nobody can create its index either), is
        whole in its file.
        """
        if self.path is None:
            raise StoreError("an in-memory store cannot be opened read-only")
        if not self.path.is_file():
            raise StoreError(
                f"no SQLite store at {self.path}: nothing was synced there yet"
            )
        base = f"file:{quote(str(self.path))}?mode=ro"
        connection = self._open(base, uri=True)
        try:
            connection.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            connection.close()
            if self.path.with_name(f"{self.path.name}-wal").exists():
                raise StoreError(
                    f"cannot read SQLite store {self.url}: {exc}"
                ) from None
            connection = self._open(f"{base}&immutable=1", uri=True)
        return connection

    def close(self) -> None:
        """Release the database; later calls fail with StoreError."""
        with self._mutex:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    @contextmanager
    def _session(self, mode: SessionMode) -> Iterator[Session]:
        connection = self._connection
        if connection is None:
            raise StoreError(f"SQLite store {self.url} is closed")
        try:
            session = _SQLiteSession(connection)
            if mode == "read":
                yield session
                return
            # IMMEDIATE takes the write lock up front: a deferred transaction
            # that reads first and writes later can fail with "database is
            # locked" instead of waiting when another writer got in between.
            connection.execute("BEGIN" if mode == "snapshot" else "BEGIN IMMEDIATE")
            try:
                yield session
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            try:
                connection.execute("COMMIT")
            except sqlite3.Error:
                # A COMMIT that fails (a deferred constraint, a busy reader
                # at a checkpoint, an I/O error) can leave the transaction
                # open, and every later BEGIN would then fail with "cannot
                # start a transaction within a transaction": the store would
                # be unusable until reopened. Undo it; the error still says
                # why the write did not happen.
                if connection.in_transaction:
                    with suppress(sqlite3.Error):
                        connection.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.url}: {exc}") from exc

    def _refusal(self, exc: BaseException) -> str | None:
        # sqlite3.DataError: a string or blob beyond the build's size limit.
        if isinstance(exc, sqlite3.DataError):
            return str(exc)
        return super()._refusal(exc)

    @contextmanager
    def lock(self, connection: str, *, wait: bool = False) -> Iterator[None]:
        """Hold the sync lock of *connection* for the ``with`` block.

        Raises:
            ConnectionBusyError: Another process (or another ``lock`` of
                this one) holds it and *wait* is false.
        """
        if self.path is None:
            with self._memory_lock(connection, wait=wait):
                yield
        else:
            with _file_lock(self._lock_path(connection), connection, wait=wait):
                yield

    def _lock_path(self, connection: str) -> Path:
        """``<db>.<hash of the connection name>.lock``, beside the database.

        A hash, not the name: names may hold characters a file name cannot.
        """
        assert self.path is not None  # noqa: S101 -- only file stores get here
        digest = hashlib.sha256(connection.encode()).hexdigest()[:16]
        return self.path.with_name(f"{self.path.name}.{digest}.lock")

    @contextmanager
    def _memory_lock(self, connection: str, *, wait: bool) -> Iterator[None]:
        with self._mutex:
            held = self._memory_locks.setdefault(connection, threading.Lock())
        if not held.acquire(blocking=wait):
            raise ConnectionBusyError(connection, f"pid {os.getpid()}, this process")
        try:
            yield
        finally:
            held.release()


@contextmanager
def _file_lock(path: Path, connection: str, *, wait: bool) -> Iterator[None]:
    # flock locks belong to the open file description: closing the
    # descriptor (or dying) releases them, and a second open of the same file
    # in this process conflicts like another process would. The file itself
    # is never deleted: removing it while another process waits on it would
    # let a third lock a new file of the same name.
    try:
        import fcntl  # noqa: PLC0415 -- POSIX only; imported where it is needed
    except ImportError:
        raise StoreError(
            "SQLite stores lock a connection with flock(), which this system "
            "lacks; use a PostgreSQL store to sync here"
        ) from None

    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(
            f"cannot create the lock file {path}: {exc.strerror}"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConnectionBusyError(connection, _holder(fd)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def _holder(fd: int) -> str | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return f"pid {text}" if text.isdigit() else None
