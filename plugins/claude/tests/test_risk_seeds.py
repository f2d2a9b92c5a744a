"""Every kind of security risk the feed can show is in the sandbox's
history, whatever the seed.

The sandbox plans them (``aiaudit_claude.sandbox.risk_seeds``;
``docs/claude.md``). Here the history a demo would sync is read through the
connector and scored by the risk engine with the built-in rules, and each
planned risk is looked for among the engine's findings. The feed has no
country on a sign-in, so there is no sign-in from a new country to find:
the test checks that the engine makes none up either.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from conftest import connector, read

from aiaudit_claude.sandbox.server import ClaudeSandbox
from connector_core.models import (
    AIActivityType,
    AIAuditLogQuery,
    AIDateRange,
)
from connector_core.sandbox import SandboxOptions
from connector_core.testing.risk import Assessed, assessed


END = datetime(2026, 12, 7, tzinfo=UTC)  # a Monday, as a demo's "today"
DAYS = 30  # the demo's default history
PERIOD = AIDateRange(start=END - timedelta(days=DAYS), end=END)


async def history(seed: int, events: int) -> Assessed:
    options = SandboxOptions(seed=seed, events=events, days=DAYS, end=END)
    query = AIAuditLogQuery(start_date=PERIOD.start, end_date=PERIOD.end)
    async with ClaudeSandbox.run(options, ingestion_delay=0.0) as running:
        logs, quarantined, _ = await read(connector(running), query)
    assert quarantined == []
    return assessed(logs, PERIOD)


@pytest.fixture(scope="module", params=[(7, 4_000), (2024, 1_200)], ids=str)
def seeded(request) -> Assessed:
    """The demo's seed and another, each read and scored once a module."""
    seed, events = request.param
    return asyncio.run(history(seed, events))


def test_a_burst_of_failed_signins(seeded):
    assert seeded.found("failed_sign_in_burst")


def test_sensitive_uploads_by_several_people(seeded):
    found = seeded.found("sensitive_upload")
    names = {name for f in found for event in f.events for name in event.files}
    assert {"soc2-report.pdf", "payroll-2026-11.xlsx", "prod.env"} <= names
    assert {"customers-export.csv", "vpn-gateway.pem"} <= names
    assert len({f.user_id for f in found}) >= 3
    # Every chat upload names its file in the neutral key; ordinary ones remain.
    uploads = [log for log in seeded.logs if log.native_type == "claude_file_uploaded"]
    assert all(log.metadata.get("file_name") for log in uploads)
    flagged = {event.id for f in found for event in f.events}
    assert any(log.id not in flagged for log in uploads)


def test_keys_created_at_night_and_on_a_weekend(seeded):
    found = seeded.found("api_key_off_hours")
    night = [f for f in found if f.first.weekday() < 5]
    assert any(
        seeded.log(f).metadata.get("resource_type") == "admin_api_key" for f in night
    )
    assert any(f.first.weekday() >= 5 for f in found)
    # The keys made by the hour are made in office hours.
    created = [
        log
        for log in seeded.logs
        if log.activity_type == AIActivityType.API_KEY_CREATED
    ]
    assert len(created) > len(found) == 2


def test_role_changes(seeded):
    promotions = [
        log
        for log in map(seeded.log, seeded.found("role_change"))
        if log.action == "user.role.updated" and log.metadata["current_role"] == "owner"
    ]
    assert len(promotions) >= 2


def test_no_country_is_made_up(seeded):
    assert all(log.location is None for log in seeded.logs)
    assert seeded.found("new_country_sign_in") == []


def test_sso_scim_and_ip_allowlist_changes(seeded):
    changed = {
        event.action
        for f in seeded.found("access_control_change")
        for event in f.events
    }
    assert {
        "scim.enabled",
        "sso.connection.activated",
        "ip_allowlist.created",
    } <= changed
