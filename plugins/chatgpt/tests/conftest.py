"""Fixtures every test of the plugin may use: real stores
(:mod:`connector_core.testing.stores`) and logging isolation."""

from __future__ import annotations

import pytest
import structlog

from connector_core.testing.stores import store_url


__all__ = ["store_url"]


@pytest.fixture(autouse=True)
def _reset_structlog():
    """Undo any logging configuration a CLI run in process applied."""
    yield
    structlog.reset_defaults()
