"""Every kind of security risk the feed can show is in the sandbox's
history, whatever the seed.

The sandbox plans them (``aiaudit_claude.sandbox.risk_seeds``;
``docs/claude.md``). Here the history a demo would sync is read through the
connector, and each risk is looked for in the normalized logs with a
predicate that restates its rule. The feed has no country on a sign-in, so
there is no sign-in from a new country to find: the test checks that none is
made up either.
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from conftest import connector, read

from aiaudit_claude.sandbox.server import ClaudeSandbox
from connector_core.models import AIActivityType, AIAuditLog, AIAuditLogQuery
from connector_core.sandbox import SandboxOptions


if TYPE_CHECKING:
    from collections.abc import Iterable


END = datetime(2026, 12, 7, tzinfo=UTC)  # a Monday, as a demo's "today"
DAYS = 30  # the demo's default history

_SENSITIVE_WORDS = re.compile(
    r"soc2|confidential|payroll|salary|passport|ssn|credentials|password|secret"
    r"|nda|contract|customers?-export|financial"
)
_SENSITIVE_EXTENSIONS = (
    ".pem",
    ".key",
    ".p12",
    ".pfx",
    ".env",
    ".kdbx",
    ".sql",
    ".bak",
)


# -- the rules, restated -----------------------------------------------------


def failed_signin_bursts(logs: Iterable[AIAuditLog]) -> set[str]:
    """Users with 5 or more failed sign-ins within 10 minutes."""
    failures: dict[str, list[datetime]] = defaultdict(list)
    for log in logs:
        if log.action == "user.login.failed":
            failures[log.user_id].append(log.timestamp)
    found = set()
    for user, times in failures.items():
        times.sort()
        for n in range(len(times) - 4):
            if times[n + 4] - times[n] <= timedelta(minutes=10):
                found.add(user)
    return found


def uploaded_names(log: AIAuditLog) -> list[str]:
    names = [log.metadata.get("file_name")]
    names += [f.get("file_name") for f in log.metadata.get("files") or ()]
    return [name for name in names if isinstance(name, str)]


def is_sensitive_name(name: str) -> bool:
    lowered = name.lower()
    return bool(_SENSITIVE_WORDS.search(lowered)) or lowered.endswith(
        _SENSITIVE_EXTENSIONS
    )


def sensitive_uploads(logs: Iterable[AIAuditLog]) -> list[AIAuditLog]:
    return [
        log
        for log in logs
        if log.activity_type == AIActivityType.FILE_UPLOAD
        and any(is_sensitive_name(name) for name in uploaded_names(log))
    ]


def is_off_hours(moment: datetime) -> bool:
    moment = moment.astimezone(UTC)
    return moment.hour < 7 or moment.hour >= 20 or moment.weekday() >= 5


def off_hours_keys(logs: Iterable[AIAuditLog]) -> list[AIAuditLog]:
    return [
        log
        for log in logs
        if log.activity_type == AIActivityType.API_KEY_CREATED
        and is_off_hours(log.timestamp)
    ]


def role_changes(logs: Iterable[AIAuditLog]) -> list[AIAuditLog]:
    return [
        log
        for log in logs
        if log.action in {"user.role.updated", "role.assignment.created"}
        or log.action == "role.assignment.deleted"
        or log.action.startswith("role.")
    ]


def new_country_signins(logs: Iterable[AIAuditLog]) -> list[AIAuditLog]:
    """Sign-ins from a country none of the user's 3 or more earlier
    sign-ins with a country came from."""
    seen: dict[str, list[str]] = defaultdict(list)
    found = []
    for log in sorted(logs, key=lambda log: log.timestamp):
        if log.action != "user.login":
            continue
        country = log.location.country if log.location is not None else None
        if country is None:
            continue
        earlier = seen[log.user_id]
        if len(earlier) >= 3 and country not in earlier:
            found.append(log)
        earlier.append(country)
    return found


# -- the history a demo syncs ------------------------------------------------


async def history(seed: int, events: int) -> list[AIAuditLog]:
    options = SandboxOptions(seed=seed, events=events, days=DAYS, end=END)
    query = AIAuditLogQuery(start_date=END - timedelta(days=DAYS), end_date=END)
    async with ClaudeSandbox.run(options, ingestion_delay=0.0) as running:
        logs, quarantined, _ = await read(connector(running), query)
    assert quarantined == []
    return logs


@pytest.fixture(scope="module", params=[(7, 4_000), (2024, 1_200)], ids=str)
def logs(request) -> list[AIAuditLog]:
    """The demo's seed and another, each read once a module."""
    seed, events = request.param
    return asyncio.run(history(seed, events))


def test_a_burst_of_failed_signins(logs):
    assert failed_signin_bursts(logs)


def test_sensitive_uploads_by_several_people(logs):
    found = sensitive_uploads(logs)
    names = {name for log in found for name in uploaded_names(log)}
    assert {"soc2-report.pdf", "payroll-2026-11.xlsx", "prod.env"} <= names
    assert {"customers-export.csv", "vpn-gateway.pem"} <= names
    assert len({log.user_id for log in found}) >= 3
    # Every chat upload names its file in the neutral key; ordinary ones remain.
    uploads = [log for log in logs if log.native_type == "claude_file_uploaded"]
    assert all(log.metadata.get("file_name") for log in uploads)
    assert any(not is_sensitive_name(log.metadata["file_name"]) for log in uploads)


def test_keys_created_at_night_and_on_a_weekend(logs):
    found = off_hours_keys(logs)
    night = [log for log in found if log.timestamp.weekday() < 5]
    assert any(log.metadata.get("resource_type") == "admin_api_key" for log in night)
    assert any(log.timestamp.weekday() >= 5 for log in found)
    # The keys made by the hour are made in office hours.
    created = [
        log for log in logs if log.activity_type == AIActivityType.API_KEY_CREATED
    ]
    assert len(created) > len(found) == 2


def test_role_changes(logs):
    promotions = [
        log
        for log in role_changes(logs)
        if log.action == "user.role.updated" and log.metadata["current_role"] == "owner"
    ]
    assert len(promotions) >= 2


def test_no_country_is_made_up(logs):
    assert all(log.location is None for log in logs)
    assert new_country_signins(logs) == []


def test_sso_scim_and_ip_allowlist_changes(logs):
    actions = {log.action for log in logs}
    assert {
        "scim.enabled",
        "sso.connection.activated",
        "ip_allowlist.created",
    } <= actions
