"""Every record the ChatGPT sandbox serves is stored as the converter writes it.

The store writes an event's document without walking ``metadata`` and
``raw`` through the converter; ChatGPT's records are the most varied the
project reads (dozens of audit, compliance and usage kinds), so each of
them is checked to come out byte for byte as ``serialization.dumps`` does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiaudit_chatgpt.sandbox.server import ChatGPTSandbox
from connector_core import Registry
from connector_core.models import AIAuditLogQuery
from connector_core.sandbox import SandboxOptions
from connector_core.serialization import dumps
from connector_core.store._document import EVENT_COLUMNS, event_row


DOCUMENT = [name for name, _ in EVENT_COLUMNS].index("document")


async def test_every_sandbox_event_is_stored_as_the_converter_writes_it() -> None:
    end = datetime(2025, 3, 1, tzinfo=UTC)
    options = SandboxOptions(seed=11, events=3_000, days=10, end=end)
    registry = Registry.load(environ={"AIAUDIT_PLUGINS": "chatgpt"})
    query = AIAuditLogQuery(start_date=end - timedelta(days=10), end_date=end)
    async with (
        ChatGPTSandbox.run(options) as sandbox,
        registry.create("chatgpt", sandbox.connector_config()) as connector,
    ):
        logs = [log async for log in connector.stream_ai_audit_logs(query)]
    assert len(logs) > 3_000
    # Several kinds of records, not only the audit log's.
    assert len({log.native_type for log in logs}) > 20
    for log in logs:
        assert event_row("c", "s", log, "now")[DOCUMENT] == dumps(log).decode()
