"""The history the ChatGPT connector tests' sandbox holds.

A module of its own, not the conftest: ``from conftest import`` finds
whichever test folder's conftest comes first on the path.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector_core.models import AIAuditLogQuery


END = datetime(2025, 3, 1, tzinfo=UTC)
DAYS = 21
WHOLE = AIAuditLogQuery(
    start_date=END - timedelta(days=DAYS), end_date=END - timedelta(seconds=1)
)
"""Exactly the sandbox's history."""
