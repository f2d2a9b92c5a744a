"""Fixtures: a pinned sandbox on loopback and connectors pointed at it.

Tests talk HTTP to the sandbox, never to mocks; the history is pinned (seed,
size and end), so what a test expects never moves.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import structlog

from aiaudit_claude import ClaudeConfig, ClaudeConnector
from aiaudit_claude.sandbox.server import ClaudeSandbox
from connector_core import AIAuditLog, AIAuditLogQuery, SandboxOptions, Secret
from connector_core.testing.stores import store_url  # noqa: F401 -- a fixture


END = datetime(2026, 3, 1, tzinfo=UTC)
OPTIONS = SandboxOptions(seed=7, events=1200, days=10, end=END)
FEED = "/v1/compliance/activities"


@pytest.fixture(autouse=True)
def _reset_structlog():
    yield
    structlog.reset_defaults()


@pytest.fixture
async def sandbox():
    async with ClaudeSandbox.run(OPTIONS, ingestion_delay=0.0) as running:
        yield running


@pytest.fixture
async def client(sandbox):
    """A plain HTTP session for talking to the sandbox as any client would."""
    async with aiohttp.ClientSession(base_url=sandbox.url) as session:
        yield session


def connector(sandbox: ClaudeSandbox, **changes: Any) -> ClaudeConnector:
    config = {**sandbox.config(), **changes}
    config["api_key"] = Secret(config["api_key"])
    return ClaudeConnector(ClaudeConfig(**config))


def whole_history(**changes: Any) -> AIAuditLogQuery:
    fields: dict[str, Any] = {
        "start_date": END - timedelta(days=OPTIONS.days),
        "end_date": END,
        **changes,
    }
    return AIAuditLogQuery(**fields)


async def read(
    target: ClaudeConnector,
    query: AIAuditLogQuery,
    checkpoint: dict[str, Any] | None = None,
    *,
    stop_after: int | None = None,
) -> tuple[list[AIAuditLog], list[Any], list[dict[str, Any]]]:
    """Logs, quarantined records and checkpoints of one read; with
    *stop_after*, the read stops at its first checkpoint after that many logs."""
    logs: list[AIAuditLog] = []
    quarantined: list[Any] = []
    checkpoints: list[dict[str, Any]] = []
    batches = target.read_stream("activities", checkpoint, query)
    try:
        async for batch in batches:
            logs.extend(batch.logs)
            quarantined.extend(batch.quarantined)
            if batch.checkpoint is not None:
                checkpoints.append(dict(batch.checkpoint))
                if stop_after is not None and len(logs) >= stop_after:
                    break
    finally:
        await batches.aclose()
    return logs, quarantined, checkpoints
