"""Fixtures for the store tests: a fresh store of each kind for every test.

The PostgreSQL store is tested on a real server, in a schema of its own per
test (dropped afterwards), so tests never see each other's rows. The server
is ``AIAUDIT_TEST_POSTGRES_URL``, by default the local one. When it cannot
be reached those tests are skipped, unless ``AIAUDIT_REQUIRE_POSTGRES=1``
(as in CI), where a missing server must not pass silently: they fail.
"""

from __future__ import annotations

import secrets

import pytest

from connector_core.store import open_store
from connector_core.testing.stores import POSTGRES, postgres_or_skip


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The test server's URL, once it is known to answer."""
    postgres_or_skip()
    return POSTGRES


def with_query(url: str, parameter: str) -> str:
    """*url* with one more query *parameter*."""
    return f"{url}{'&' if '?' in url else '?'}{parameter}"


@pytest.fixture
def postgres_schema(postgres_server):
    """A schema name for this test; dropped, with all it holds, afterwards."""
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    schema = f"aiaudit_test_{secrets.token_hex(6)}"
    yield schema
    with psycopg.connect(postgres_server, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )


@pytest.fixture
def postgres_url(postgres_server, postgres_schema):
    """A URL of a PostgreSQL store of its own."""
    return with_query(postgres_server, f"schema={postgres_schema}")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request):
    """Which store kind a test runs on."""
    return request.param


@pytest.fixture
def store_url(backend, request, tmp_path):
    """The URL of a new, empty store of the test's kind."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(store_url):
    """A new, empty, open store of the test's kind."""
    opened = open_store(store_url)
    yield opened
    opened.close()
