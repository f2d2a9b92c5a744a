"""Shared fixtures: logging isolation, and stores on SQLite and PostgreSQL
(:mod:`connector_core.testing.stores`, which plugins' tests use too)."""

from __future__ import annotations

import pytest
import structlog

from connector_core.testing.stores import store_url


__all__ = ["store_url"]


@pytest.fixture(autouse=True)
def _reset_structlog():
    """Undo any logging configuration a CLI test applied.

    The CLI configures structlog globally (it is the application); without
    this, a debug-level capture in a later test would see nothing.
    """
    yield
    structlog.reset_defaults()
