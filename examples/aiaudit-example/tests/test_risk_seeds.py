"""The security risks the example API can show are in the sandbox's
history, whatever the seed: a burst of failed sign-ins and sensitive
uploads (``plan_risks`` in ``aiaudit_example.sandbox``). The history is read
through the connector, as a demo syncs it, and scored by the risk engine
with the built-in rules; each planned risk is looked for among the engine's
findings.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from connector_core import Registry
from connector_core.models import (
    AIActivityType,
    AIAuditLog,
    AIAuditLogQuery,
    AIDateRange,
)
from connector_core.sandbox import SandboxOptions
from connector_core.testing.risk import Assessed, assessed

from aiaudit_example.sandbox import ExampleSandboxProvider


END = datetime(2026, 12, 7, tzinfo=UTC)  # a Monday, as a demo's "today"
DAYS = 30  # the demo's default history
PERIOD = AIDateRange(start=END - timedelta(days=DAYS), end=END)
UPLOADERS = 3  # people who upload sensitive files


async def history(seed: int, events: int) -> Assessed:
    options = SandboxOptions(seed=seed, events=events, days=DAYS, end=END)
    registry = Registry.load(environ={"AIAUDIT_PLUGINS": "example"})
    config = registry.spec("example").make_config
    query = AIAuditLogQuery(start_date=PERIOD.start, end_date=PERIOD.end)
    logs: list[AIAuditLog] = []
    async with (
        ExampleSandboxProvider().start(options) as running,
        registry.create("example", config(dict(running.config))) as connector,
    ):
        cursor = None
        while True:
            page = await connector.get_ai_audit_logs(
                attrs.evolve(query, limit=1000, cursor=cursor)
            )
            logs.extend(page.logs)
            if not page.has_more:
                break
            cursor = page.next_cursor
    return assessed(logs, PERIOD)


@pytest.fixture(scope="module", params=[(7, 2_000), (2024, 500)], ids=str)
def seeded(request: pytest.FixtureRequest) -> Assessed:
    """The demo's seed and another, each read and scored once a module."""
    seed, events = request.param
    return asyncio.run(history(seed, events))


def test_a_burst_of_failed_signins(seeded: Assessed) -> None:
    assert seeded.found("failed_sign_in_burst")


def test_sensitive_uploads_by_several_people(seeded: Assessed) -> None:
    found = seeded.found("sensitive_upload")
    names = {name for f in found for event in f.events for name in event.files}
    assert {"soc2-report.pdf", "payroll-2026-11.xlsx", "prod.env"} <= names
    assert {"customers-export.csv", "backup-2026.sql"} <= names
    assert len({f.user_id for f in found}) >= UPLOADERS
    flagged = {event.id for f in found for event in f.events}
    uploads = [
        log for log in seeded.logs if log.activity_type == AIActivityType.FILE_UPLOAD
    ]
    assert any(log.id not in flagged for log in uploads)
