"""Real stores for tests: a fresh SQLite file and a fresh PostgreSQL schema.

Import the fixtures into a ``conftest.py``
(``from connector_core.testing.stores import store_url``). A plugin's tests
then sync into the same two stores the core's tests use.

When PostgreSQL cannot be reached the PostgreSQL variants are skipped with
the reason, unless ``AIAUDIT_REQUIRE_POSTGRES=1`` (CI sets it): then they
fail, so a CI machine without the database can never pass silently.
``AIAUDIT_TEST_POSTGRES_URL`` names the server.
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Final, NoReturn

import pytest

from connector_core.store import mask_url


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


__all__ = ["POSTGRES", "postgres_or_skip", "store_url"]

POSTGRES: Final = os.environ.get(
    "AIAUDIT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
"""The test server's URL (trust authentication, no password by default)."""


def postgres_or_skip() -> None:
    """Skip the calling test when PostgreSQL is unreachable; fail instead
    when ``AIAUDIT_REQUIRE_POSTGRES=1``."""
    try:
        import psycopg  # noqa: PLC0415 (an optional dependency)
    except ImportError:
        _unavailable("psycopg is not installed")
    problem = None
    try:
        psycopg.connect(POSTGRES, connect_timeout=3).close()
    except psycopg.Error as exc:
        problem = str(exc).strip().partition("\n")[0] or type(exc).__name__
    if problem is not None:  # outside the except: one message, no traceback
        _unavailable(f"PostgreSQL at {mask_url(POSTGRES)} is unreachable: {problem}")


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("AIAUDIT_REQUIRE_POSTGRES") == "1":
        pytest.fail(
            f"{reason}, and AIAUDIT_REQUIRE_POSTGRES=1 requires the PostgreSQL "
            "tests to run (set AIAUDIT_TEST_POSTGRES_URL to a server)",
            pytrace=False,
        )
    pytest.skip(reason)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL of each kind, empty; a PostgreSQL schema is dropped after."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sync.db'}"
        return
    postgres_or_skip()
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    schema = f"aiaudit_sync_{uuid.uuid4().hex[:12]}"
    yield f"{POSTGRES}?schema={schema}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )
