"""The connector against Google's real Reports API, when real credentials
are in the environment.

Set ``GOOGLE_APPLICATION_CREDENTIALS`` (the path of a service account's
JSON key, the account granted domain-wide delegation for
``admin.reports.audit.readonly``) and ``AIAUDIT_GEMINI_SUBJECT`` (an
administrator with the Reports privilege) to run it. It only reads: every
request is a GET of ``activities.list`` (and one token request), and
nothing is stored.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime, timedelta

import pytest

from aiaudit_gemini.event_map import APPLICATIONS
from connector_core import Registry
from connector_core.models import AIAuditLogQuery


LIVE = bool(
    os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    and os.environ.get("AIAUDIT_GEMINI_SUBJECT")
)

pytestmark = pytest.mark.skipif(
    not LIVE,
    reason="no real credentials: set GOOGLE_APPLICATION_CREDENTIALS (a "
    "service-account key file with domain-wide delegation) and "
    "AIAUDIT_GEMINI_SUBJECT (a Reports administrator) to test against "
    "Google's Reports API",
)


@pytest.fixture
async def live():
    registry = Registry.load(environ={"AIAUDIT_PLUGINS": "gemini"})
    async with registry.create_from_env("gemini") as connector:
        yield connector


def a_day() -> AIAuditLogQuery:
    """The day before the publication lag: what it reads has settled."""
    end = datetime.now(UTC) - timedelta(hours=72)
    return AIAuditLogQuery(start_date=end - timedelta(days=1), end_date=end)


async def test_live_credentials(live):
    validation = await live.validate_ai_credentials()
    assert validation.is_valid, validation.errors
    assert validation.has_required_permissions, validation.missing_permissions


@pytest.mark.parametrize("application", APPLICATIONS)
async def test_live_a_day_of_each_application(live, application):
    query = a_day()
    seen: set[str] = set()
    batches = live.read_stream(application, None, query)
    async with contextlib.aclosing(batches) as reading:
        async for batch in reading:
            for log in batch.logs:
                assert log.platform == "gemini"
                assert query.start_date <= log.timestamp <= query.end_date
                assert log.id not in seen, "each event read once"
                seen.add(log.id)
                assert log.metadata["application"] == application
