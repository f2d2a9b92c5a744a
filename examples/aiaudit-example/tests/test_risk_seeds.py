"""The security risks the example API can show are in the sandbox's
history, whatever the seed: a burst of failed sign-ins and sensitive
uploads (``plan_risks`` in ``aiaudit_example.sandbox``). The history is read through the
connector, as a demo syncs it, and each risk is looked for in the
normalized logs with a predicate that restates its rule.
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import attrs
import pytest
from connector_core import Registry
from connector_core.models import AIActivityType, AIAuditLog, AIAuditLogQuery
from connector_core.sandbox import SandboxOptions

from aiaudit_example.sandbox import ExampleSandboxProvider


if TYPE_CHECKING:
    from collections.abc import Iterable


END = datetime(2026, 12, 7, tzinfo=UTC)  # a Monday, as a demo's "today"
DAYS = 30  # the demo's default history
UPLOADERS = 3  # people who upload sensitive files

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
        and is_sensitive_name(str(log.metadata.get("file_name", "")))
    ]


async def history(seed: int, events: int) -> list[AIAuditLog]:
    options = SandboxOptions(seed=seed, events=events, days=DAYS, end=END)
    registry = Registry.load(environ={"AIAUDIT_PLUGINS": "example"})
    config = registry.spec("example").make_config
    query = AIAuditLogQuery(start_date=END - timedelta(days=DAYS), end_date=END)
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
                return logs
            cursor = page.next_cursor


@pytest.fixture(scope="module", params=[(7, 2_000), (2024, 500)], ids=str)
def logs(request: pytest.FixtureRequest) -> list[AIAuditLog]:
    """The demo's seed and another, each read once a module."""
    seed, events = request.param
    return asyncio.run(history(seed, events))


def test_a_burst_of_failed_signins(logs: list[AIAuditLog]) -> None:
    assert failed_signin_bursts(logs)


def test_sensitive_uploads_by_several_people(logs: list[AIAuditLog]) -> None:
    found = sensitive_uploads(logs)
    names = {log.metadata["file_name"] for log in found}
    assert {"soc2-report.pdf", "payroll-2026-11.xlsx", "prod.env"} <= names
    assert {"customers-export.csv", "backup-2026.sql"} <= names
    assert len({log.user_id for log in found}) >= UPLOADERS
    uploads = [log for log in logs if log.activity_type == AIActivityType.FILE_UPLOAD]
    assert any(not is_sensitive_name(log.metadata["file_name"]) for log in uploads)
