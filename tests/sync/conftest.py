"""Fixtures shared by the sync tests."""

from __future__ import annotations

import pytest

from connector_core.store import open_store


@pytest.fixture
def store(store_url):
    """A new, empty, open store of the test's kind (SQLite and PostgreSQL)."""
    opened = open_store(store_url)
    yield opened
    opened.close()
