"""The connector against the real APIs, when real keys are in the environment.

Set ``OPENAI_ADMIN_KEY`` (and optionally ``OPENAI_ORGANIZATION_ID``, and for
the Compliance API ``CHATGPT_COMPLIANCE_API_KEY`` with
``CHATGPT_WORKSPACE_ID``) to run it; it only reads.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from connector_core import Registry
from connector_core.models import AIAuditLogQuery


LIVE = bool(
    os.environ.get("OPENAI_ADMIN_KEY") or os.environ.get("OPENAI_ENTERPRISE_API_KEY")
)

pytestmark = pytest.mark.skipif(
    not LIVE,
    reason="no real credentials: set OPENAI_ADMIN_KEY (and CHATGPT_COMPLIANCE_API_KEY "
    "with CHATGPT_WORKSPACE_ID) to test against the real APIs",
)


@pytest.fixture
async def live():
    registry = Registry.load(environ={"AIAUDIT_PLUGINS": "chatgpt"})
    async with registry.create_from_env("chatgpt") as connector:
        yield connector


async def test_live_credentials_and_permissions(live):
    assert (await live.authenticate()).success
    validation = await live.validate_ai_credentials()
    assert validation.is_valid, validation.errors


async def test_live_recent_audit_logs_page_and_resume(live):
    now = datetime.now(UTC)
    query = AIAuditLogQuery(start_date=now - timedelta(days=7), end_date=now, limit=20)
    first = await live.get_ai_audit_logs(query)
    assert first.metadata.platform == "chatgpt"
    for log in first.logs:
        assert log.timestamp.tzinfo is not None
    if first.has_more:
        second = await live.get_ai_audit_logs(
            attrs.evolve(query, cursor=first.next_cursor)
        )
        assert {log.id for log in first.logs}.isdisjoint(log.id for log in second.logs)
