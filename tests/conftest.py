"""Shared fixtures for the core's tests."""

from __future__ import annotations

import pytest
import structlog


@pytest.fixture(autouse=True)
def _reset_structlog():
    """Undo any logging configuration a CLI test applied.

    The CLI configures structlog globally (it is the application); without
    this, a debug-level capture in a later test would see nothing.
    """
    yield
    structlog.reset_defaults()
