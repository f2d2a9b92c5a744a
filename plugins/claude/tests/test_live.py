"""The connector against Anthropic's real API, when real keys are in the
environment.

Set ``ANTHROPIC_COMPLIANCE_KEY`` (a Compliance Access Key with
``read:compliance_activities``) or ``ANTHROPIC_ADMIN_KEY`` to run it, and
``AIAUDIT_CLAUDE_CONTENT=1`` to read the Enterprise chats too (the key then
needs ``read:compliance_user_data``). It only reads: every request is a GET,
and nothing is stored. Each request does add a ``compliance_api_accessed``
row to the organization's own feed, as every Compliance API call does.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime, timedelta

import pytest

from aiaudit_claude.connector import PUBLICATION_LAG
from connector_core import Registry
from connector_core.models import AIAuditLogQuery


KEYS = ("ANTHROPIC_COMPLIANCE_KEY", "ANTHROPIC_ADMIN_KEY")
LIVE = any(os.environ.get(name) for name in KEYS)

pytestmark = pytest.mark.skipif(
    not LIVE,
    reason="no real credentials: set ANTHROPIC_COMPLIANCE_KEY or "
    "ANTHROPIC_ADMIN_KEY to test against Anthropic's Compliance API",
)


@pytest.fixture
async def live():
    registry = Registry.load(environ={"AIAUDIT_PLUGINS": "claude"})
    async with registry.create_from_env("claude") as connector:
        yield connector


def a_day() -> AIAuditLogQuery:
    """The last settled day: it ends a publication lag ago, so what it
    reads no longer changes."""
    end = datetime.now(UTC) - PUBLICATION_LAG
    return AIAuditLogQuery(start_date=end - timedelta(days=1), end_date=end)


async def test_live_credentials(live):
    validation = await live.validate_ai_credentials()
    assert validation.is_valid, validation.errors
    assert validation.has_required_permissions, validation.missing_permissions


async def test_live_a_day_of_the_feed(live):
    query = a_day()
    seen: set[str] = set()
    secrets = [os.environ.get(name) for name in KEYS]
    async with contextlib.aclosing(live.stream_ai_audit_logs(query)) as logs:
        async for log in logs:
            assert log.platform == "claude"
            assert log.timestamp.tzinfo is not None
            assert query.start_date <= log.timestamp <= query.end_date
            assert log.id not in seen, "the feed is read once, ids deduplicated"
            seen.add(log.id)
            text = repr(log)
            assert not any(secret and secret in text for secret in secrets)


async def test_live_a_page_and_the_next(live):
    query = a_day()
    first = await live.get_ai_audit_logs(
        AIAuditLogQuery(start_date=query.start_date, end_date=query.end_date, limit=20)
    )
    assert first.metadata.platform == "claude"
    if first.has_more:
        second = await live.get_ai_audit_logs(
            AIAuditLogQuery(
                start_date=query.start_date,
                end_date=query.end_date,
                limit=20,
                cursor=first.next_cursor,
            )
        )
        assert {log.id for log in first.logs}.isdisjoint(log.id for log in second.logs)
