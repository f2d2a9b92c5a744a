"""The original plan's test list, written as a host would write it.

The plan (a TypeScript jest file, "Step 2: Write Tests FIRST") tested a
``ChatGPTEnterpriseConnector`` class directly. A Python host has no such
class to import: it loads the registry, creates the ``chatgpt`` connector
from a configuration and calls the same operations under their Python names
(``getAIAuditLogs`` is ``get_ai_audit_logs``, ``startDate`` is
``start_date``...). So this file uses the public API only: the
``connector_core`` façade, ``connector_core.models`` and
``connector_core.serialization``, against the plugin's sandbox on loopback,
started the way a host starts it.

The plan queried January 2025; the sandbox holds ``days`` of history ending
at ``end``, so the dates here are chosen from the options it was started
with. Where the plan only checks something ``if`` there is data, this file
asserts that there is data, so no check passes vacuously.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs
import pytest

from connector_core import Registry, SandboxOptions
from connector_core.models import (
    AIAuditLog,
    AIAuditLogQuery,
    AIAuditLogResult,
    AIDateRange,
    OAuthCredentials,
)
from connector_core.serialization import dumps, loads, structure, unstructure


if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from connector_core import Connector, RunningSandbox


DAYS = 7
END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
"""The end of the sandbox's history (exclusive), pinned in its options so
the query range cannot drift from the data across a midnight."""
OPTIONS = SandboxOptions(seed=2025, events=1_500, days=DAYS, end=END)
START = END - timedelta(days=DAYS)
LAST = END - timedelta(microseconds=1)
"""The range's inclusive end: the models' ranges are closed."""
RANGE = AIAuditLogQuery(start_date=START, end_date=LAST)


@pytest.fixture
def registry() -> Registry:
    return Registry.load()


@pytest.fixture
async def sandbox(registry: Registry) -> AsyncIterator[RunningSandbox]:
    provider = registry.sandbox("chatgpt")
    assert provider is not None, "the chatgpt plugin ships a sandbox"
    async with provider.start(OPTIONS) as running:
        yield running


@pytest.fixture
def config(sandbox: RunningSandbox) -> dict[str, Any]:
    return dict(sandbox.config)


@pytest.fixture
async def connector(
    registry: Registry, config: dict[str, Any]
) -> AsyncIterator[Connector]:
    async with registry.create("chatgpt", config) as created:
        yield created


async def every_page(
    connector: Connector, query: AIAuditLogQuery, limit: int
) -> list[AIAuditLogResult]:
    pages, cursor = [], None
    while True:
        page = await connector.get_ai_audit_logs(
            attrs.evolve(query, limit=limit, cursor=cursor)
        )
        pages.append(page)
        if not page.has_more:
            return pages
        assert page.next_cursor, "has_more without a cursor"
        cursor = page.next_cursor


# -- authenticate --------------------------------------------------------------


async def test_authenticate_validates_api_key_and_organization_access(
    connector: Connector, config: dict[str, Any]
) -> None:
    result = await connector.authenticate(
        OAuthCredentials(
            access_token=config["api_key"],
            token_type="bearer",
            scope=("audit_logs.read",),
        )
    )
    assert result.success is True
    assert result.platform_user_id == config["organization_id"]


async def test_authenticate_fails_with_an_invalid_api_key(
    registry: Registry, config: dict[str, Any]
) -> None:
    invalid_config = {
        "api_key": "invalid-key",
        "organization_id": "org-test",
        "base_url": config["base_url"],
    }
    async with registry.create("chatgpt", invalid_config) as invalid:
        result = await invalid.authenticate(
            OAuthCredentials(access_token="invalid-key", token_type="bearer")
        )
    assert result.success is False
    assert result.error


# -- get_ai_audit_logs ---------------------------------------------------------


async def test_fetches_audit_logs_for_a_date_range(connector: Connector) -> None:
    result = await connector.get_ai_audit_logs(RANGE)
    assert isinstance(result.logs, tuple)
    assert result.logs
    assert result.metadata.platform == "chatgpt"


async def test_filters_by_event_types(connector: Connector) -> None:
    wanted = ("user.login", "file.uploaded")
    result = await connector.get_ai_audit_logs(attrs.evolve(RANGE, event_types=wanted))
    assert result.logs
    for log in result.logs:
        assert log.action in wanted


async def test_normalizes_chatgpt_events_to_unified_logs(
    connector: Connector,
) -> None:
    day = START + timedelta(days=1)
    whole_day = await connector.get_ai_audit_logs(
        AIAuditLogQuery(
            start_date=day, end_date=day + timedelta(days=1, microseconds=-1)
        )
    )
    assert whole_day.logs
    for log in whole_day.logs:
        assert log.platform == "chatgpt"
        assert isinstance(log.timestamp, datetime)
        assert log.timestamp.utcoffset() == timedelta(0)
        # `userEmail` is defined in the plan's sense (not undefined): an
        # email, or None for an actor without a mailbox (a service account).
        assert log.user_email is None or "@" in log.user_email
    assert any(log.user_email for log in whole_day.logs)

    # The plan's `startDate == endDate` (one date) is one instant, both ends
    # inclusive, like every range here: the logs stamped exactly then.
    instant = whole_day.logs[0].timestamp
    at_instant = await connector.get_ai_audit_logs(
        AIAuditLogQuery(start_date=instant, end_date=instant)
    )
    assert whole_day.logs[0].id in {log.id for log in at_instant.logs}
    assert {log.timestamp for log in at_instant.logs} == {instant}
    midnight = await connector.get_ai_audit_logs(
        AIAuditLogQuery(start_date=day, end_date=day)
    )
    assert all(log.timestamp == day for log in midnight.logs)


async def test_handles_pagination(connector: Connector) -> None:
    first_page = await connector.get_ai_audit_logs(attrs.evolve(RANGE, limit=10))
    assert len(first_page.logs) == 10
    assert first_page.has_more
    assert first_page.next_cursor
    second_page = await connector.get_ai_audit_logs(
        attrs.evolve(RANGE, cursor=first_page.next_cursor)
    )
    assert isinstance(second_page.logs, tuple)
    assert second_page.logs
    assert first_page.logs[0].id != second_page.logs[0].id

    # Paging through every page returns every log exactly once: the same
    # logs as one uninterrupted stream of the range.
    paged = [
        log for page in await every_page(connector, RANGE, 10) for log in page.logs
    ]
    streamed = [log async for log in connector.stream_ai_audit_logs(RANGE)]
    ids = [log.id for log in paged]
    duplicates = [key for key, count in Counter(ids).items() if count > 1]
    assert duplicates == []
    assert len(paged) == len(streamed)
    assert {log.id: log for log in paged} == {log.id: log for log in streamed}


# -- get_usage_analytics -------------------------------------------------------


async def test_aggregates_usage_metrics(connector: Connector) -> None:
    analytics = await connector.get_usage_analytics(AIDateRange(start=START, end=LAST))
    assert analytics.platform == "chatgpt"
    assert analytics.total_users >= 0
    assert analytics.total_events >= 0
    assert analytics.total_events > 0


async def test_identifies_top_users_by_activity(connector: Connector) -> None:
    analytics = await connector.get_usage_analytics(AIDateRange(start=START, end=LAST))
    assert isinstance(analytics.top_users, tuple)
    assert len(analytics.top_users) > 1
    counts = [user.event_count for user in analytics.top_users]
    assert counts == sorted(counts, reverse=True)


# -- validate_ai_credentials ---------------------------------------------------


async def test_validates_api_key_permissions(connector: Connector) -> None:
    validation = await connector.validate_ai_credentials()
    assert validation.is_valid is True
    assert validation.platform == "chatgpt"


# -- the host's JSON shape -----------------------------------------------------


def snake_keys(value: object, path: str = "$") -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if "_" in key:
                found.append(f"{path}.{key}")
            found.extend(snake_keys(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(snake_keys(item, f"{path}[{index}]"))
    return found


async def test_the_camel_case_form_is_camel_case_all_the_way_down(
    connector: Connector,
) -> None:
    result = await connector.get_ai_audit_logs(
        attrs.evolve(RANGE, event_types=("file.uploaded",), limit=20)
    )
    assert result.logs
    log = result.logs[0]
    data = unstructure(log, style="camel")
    metadata = data["metadata"]
    assert metadata["conversationId"] == log.metadata["conversation_id"]
    assert metadata["files"][0]["fileId"] == log.metadata["files"][0]["file_id"]
    assert metadata["files"][0]["uploadedAt"] == log.metadata["files"][0]["uploaded_at"]
    # Only the platform's own record (and payload) keeps its own names.
    assert data["raw"] == log.raw
    metadata.pop("details", None)
    assert snake_keys({k: v for k, v in data.items() if k != "raw"}) == []

    assert structure(unstructure(log, style="camel"), AIAuditLog, style="camel") == log
    assert loads(dumps(result, style="camel"), AIAuditLogResult, style="camel") == (
        result
    )
