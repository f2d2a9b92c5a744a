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

Opening a store brings its schema up to date. A URL's password is never
shown: :attr:`Store.url` and every message mask it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import platformdirs

from connector_core.exceptions import ConfigurationError
from connector_core.store._schema import mask_url
from connector_core.store.base import (
    LogFilter,
    SavedConnection,
    Store,
    StoredQuarantine,
    WriteResult,
)


__all__ = [
    "LogFilter",
    "SavedConnection",
    "Store",
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


def default_store_url(filename: str = _FILE) -> str:
    """``sqlite:///`` + the user's data folder + *filename* (``aiaudit.db``).

    The folder is created, so the store can be opened right away.
    """
    folder = Path(platformdirs.user_data_dir(_APP, appauthor=False))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / filename}"


def open_store(url: str | None = None) -> Store:
    """Open (creating and migrating as needed) the store at *url*.

    Args:
        url: ``sqlite:///...`` or ``postgresql://...``; the default store
            when ``None``.

    Raises:
        ConfigurationError: *url* is not a store URL, or names PostgreSQL
            without psycopg installed.
        StoreError: The store cannot be opened or migrated.
    """
    if url is None:
        url = default_store_url()
    scheme = url.partition(":")[0].lower()
    if scheme == "sqlite":
        from connector_core.store.sqlite import SQLiteStore  # noqa: PLC0415 -- load one driver only

        return SQLiteStore.from_url(url)
    if scheme in {"postgresql", "postgres"}:
        try:
            from connector_core.store.postgres import PostgresStore  # noqa: PLC0415 -- psycopg is optional
        except ImportError as exc:
            if (exc.name or "").partition(".")[0] != "psycopg":
                raise
            raise ConfigurationError(_INSTALL_POSTGRES) from None
        return PostgresStore(url)
    raise ConfigurationError(
        f"unsupported store URL {mask_url(url)!r}: use sqlite:///PATH "
        "or postgresql://USER@HOST/DATABASE"
    )
