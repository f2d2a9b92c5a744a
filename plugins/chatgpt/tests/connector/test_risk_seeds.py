"""Every kind of security risk is in the sandbox's history, whatever the seed.

The sandbox plans them (``aiaudit_chatgpt.sandbox.risk_seeds`` and the
Compliance API's planned uploads; ``docs/sandbox.md``). Here the history a
demo would sync is read through the connector and scored by the risk engine
with the built-in rules, and each planned risk is looked for among the
engine's findings.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from reading import every_page

from aiaudit_chatgpt.sandbox.server import ChatGPTSandbox
from connector_core import Registry
from connector_core.models import (
    AIActivityType,
    AIAuditLogQuery,
    AIDateRange,
)
from connector_core.sandbox import SandboxOptions
from connector_core.testing.risk import Assessed, assessed


END = datetime(2026, 12, 7, tzinfo=UTC)  # a Monday, as a demo's "today"
DAYS = 30  # the demo's default history
PERIOD = AIDateRange(start=END - timedelta(days=DAYS), end=END - timedelta(seconds=1))


async def history(seed: int, events: int) -> Assessed:
    options = SandboxOptions(seed=seed, events=events, days=DAYS, end=END)
    registry = Registry.load(environ={"AIAUDIT_PLUGINS": "chatgpt"})
    query = AIAuditLogQuery(start_date=PERIOD.start, end_date=PERIOD.end)
    async with (
        ChatGPTSandbox.run(options) as running,
        registry.create("chatgpt", running.connector_config()) as connector,
    ):
        pages = await every_page(connector, query, limit=1000)
    return assessed((log for page in pages for log in page.logs), PERIOD)


@pytest.fixture(scope="module", params=[(7, 10_000), (2024, 2_000)], ids=str)
def seeded(request) -> Assessed:
    """The demo's seed and size, and another of each: read and scored once
    a module."""
    seed, events = request.param
    return asyncio.run(history(seed, events))


def test_a_burst_of_failed_signins(seeded):
    assert seeded.found("failed_sign_in_burst")


def test_sensitive_uploads_by_several_people(seeded):
    found = seeded.found("sensitive_upload")
    names = {name for f in found for event in f.events for name in event.files}
    assert {"soc2-report.pdf", "payroll-2026-11.xlsx", "prod.env"} <= names
    assert "customers-export.csv" in names
    assert len({f.user_id for f in found}) >= 3
    # Every upload names its file in the neutral key, and ordinary ones remain.
    uploads = [
        log for log in seeded.logs if log.activity_type == AIActivityType.FILE_UPLOAD
    ]
    assert all(log.metadata.get("file_name") for log in uploads)
    flagged = {event.id for f in found for event in f.events}
    assert any(log.id not in flagged for log in uploads)


def test_keys_created_at_night_and_on_a_weekend(seeded):
    found = seeded.found("api_key_off_hours")
    assert any(f.first.weekday() < 5 and f.first.hour < 7 for f in found)
    weekend = [f for f in found if f.first.weekday() >= 5]
    assert any(
        seeded.log(f).metadata.get("resource_type") == "admin_api_key" for f in weekend
    )
    # The keys made by the hour are made in office hours.
    flagged = {event.id for f in found for event in f.events}
    created = [
        log
        for log in seeded.logs
        if log.activity_type == AIActivityType.API_KEY_CREATED
    ]
    assert any(log.id not in flagged for log in created)


def test_role_changes(seeded):
    assignments = [
        f
        for f in seeded.found("role_change")
        if f.events[0].action == "role.assignment.created"
    ]
    assert len(assignments) >= 2


def test_a_signin_from_a_new_country(seeded):
    found = seeded.found("new_country_sign_in")
    assert any(event.country == "BR" for f in found for event in f.events)


def test_sso_scim_and_ip_allowlist_changes(seeded):
    changed = seeded.actions("access_control_change")
    assert "scim.enabled" in changed
    assert "tenant.sso_connection.created" in changed
    assert {"ip_allowlist.created", "ip_allowlist.activated"} <= changed
