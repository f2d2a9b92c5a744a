"""Shared fixtures: logging isolation, and stores on SQLite and PostgreSQL.

When PostgreSQL cannot be reached the PostgreSQL variants are skipped with
the reason, unless ``AIAUDIT_REQUIRE_POSTGRES=1`` (CI sets it): then they
fail, so a CI machine without the database can never pass silently.
"""

from __future__ import annotations

import os
import uuid

import pytest
import structlog

from connector_core.store import mask_url


@pytest.fixture(autouse=True)
def _reset_structlog():
    """Undo any logging configuration a CLI test applied.

    The CLI configures structlog globally (it is the application); without
    this, a debug-level capture in a later test would see nothing.
    """
    yield
    structlog.reset_defaults()


POSTGRES = os.environ.get(
    "AIAUDIT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _postgres_or_skip() -> None:
    import psycopg  # noqa: PLC0415

    try:
        psycopg.connect(POSTGRES, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        where = mask_url(POSTGRES)
        message = f"PostgreSQL at {where} is unreachable: {type(exc).__name__}"
        if os.environ.get("AIAUDIT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{message} (AIAUDIT_REQUIRE_POSTGRES=1)")
        pytest.skip(message)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sync.db'}"
        return
    _postgres_or_skip()
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    schema = f"aiaudit_sync_{uuid.uuid4().hex[:12]}"
    yield f"{POSTGRES}?schema={schema}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )
