"""Where synced events live: open a store from its URL.

Two kinds, one schema (see :mod:`connector_core.store._schema`):

``sqlite:///PATH``
    A file, the default (:func:`default_store_url`). What follows the third
    slash is the path, so ``sqlite:///aiaudit.db`` is relative to the
    working directory and ``sqlite:////var/lib/aiaudit.db`` is absolute;
    ``sqlite:///:memory:`` is a private, throw-away store.
``postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=NAME]``
    A PostgreSQL database (``postgres://`` works too), for many workers;
    needs ``pip install 'aiaudit[postgres]'``. Any libpq parameter may be
    given in the query string; ``schema`` keeps the tables in that schema,
    created if missing.

Opening a store brings its schema up to date; opening it read-only
(``open_store(url, read_only=True)``) changes nothing. A URL's password is
never shown: :attr:`Store.url` and every message mask it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import platformdirs

from connector_core.exceptions import ConfigurationError
from connector_core.store._urls import mask_url
from connector_core.store.base import (
    DirectoryWrite,
    LogFilter,
    SavedConnection,
    SharedOrganization,
    Store,
    StoredMember,
    StoredQuarantine,
    WriteResult,
)


__all__ = [
    "DirectoryWrite",
    "LogFilter",
    "SavedConnection",
    "SharedOrganization",
    "Store",
    "StoredMember",
    "StoredQuarantine",
    "WriteResult",
    "default_store_url",
    "mask_url",
    "open_store",
]

_APP: Final = "aiaudit"
_FILE: Final = "aiaudit.db"
_INSTALL_POSTGRES: Final = (
    "PostgreSQL stores need the psycopg driver: pip install 'aiaudit[postgres]'"
)


def default_store_url(filename: str = _FILE, *, create: bool = True) -> str:
    """``sqlite:///`` + the user's data folder + *filename* (``aiaudit.db``).

    The folder is created (unless *create* is false), so the store can be
    opened right away: each folder made is its owner's alone (0700),
    whatever the umask, since the store in it holds every user's email and
    IP address. A folder that exists is left as it is: it is the user's.
    """
    folder = Path(platformdirs.user_data_dir(_APP, appauthor=False))
    if create:
        _make_private_folders(folder)
    return f"sqlite:///{folder / filename}"


def _make_private_folders(folder: Path) -> None:
    """Create *folder* and its missing parents, owner-only.

    ``mkdir(parents=True)`` gives the parents the umask's permissions, and
    the umask (022) could only narrow a mode anyway; each is made here.
    """
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.is_dir():
            break
        missing.append(candidate)
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue  # made meanwhile by someone else: theirs, left alone
        path.chmod(0o700)


def open_store(url: str | None = None, *, read_only: bool = False) -> Store:
    """Open (creating and migrating as needed) the store at *url*.

    Args:
        url: ``sqlite:///...`` or ``postgresql://...``; the default store
            when ``None``.
        read_only: Open for reading only, which commands that only read
            use: nothing is created or migrated (the store must exist with
            a current schema), every write fails, and a store the user may
            read but not write can be read: SQLite opens the file with
            ``mode=ro``, PostgreSQL sessions are read-only.

    Raises:
        ConfigurationError: *url* is not a store URL, or names PostgreSQL
            without psycopg installed.
        StoreError: The store cannot be opened or migrated (or, read-only,
            does not exist or has an older schema).
    """
    if url is None:
        url = default_store_url(create=not read_only)
    scheme = url.partition(":")[0].lower()
    if scheme == "sqlite":
        from connector_core.store.sqlite import SQLiteStore  # noqa: PLC0415 -- load one driver only

        return SQLiteStore.from_url(url, read_only=read_only)
    if scheme in {"postgresql", "postgres"}:
        try:
            from connector_core.store.postgres import PostgresStore  # noqa: PLC0415 -- psycopg is optional
        except ImportError as exc:
            if (exc.name or "").partition(".")[0] != "psycopg":
                raise
            raise ConfigurationError(_INSTALL_POSTGRES) from None
        return PostgresStore(url, read_only=read_only)
    raise ConfigurationError(
        f"unsupported store URL {mask_url(url)!r}: use sqlite:///PATH "
        "or postgresql://USER@HOST/DATABASE"
    )
