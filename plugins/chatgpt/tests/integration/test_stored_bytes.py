"""A sync of the ChatGPT sandbox stores the same bytes as it always did.

The sync's hot path (normalizing, writing the stored document, the row
beside it, the partial sums) is tuned for speed; what it stores and what is
read back from the store must not change with it. These digests were taken
before that tuning: the rows of ``events`` (all but ``ingested_at``, the
moment of writing), the partial sums, the documents as read back, and the
``json``, ``csv`` and ``ocsf`` exports of the stored events, on SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from aiaudit_chatgpt.sandbox.server import ChatGPTSandbox
from connector_core import Registry
from connector_core.export.formats import write_documents, write_logs
from connector_core.models import AIDateRange
from connector_core.sandbox import SandboxOptions
from connector_core.store import open_store
from connector_core.store._document import EVENT_COLUMNS
from connector_core.store.base import LogFilter
from connector_core.sync import sync_connection


END = datetime(2025, 3, 1, tzinfo=UTC)
START = END - timedelta(days=10)

EXPECTED = {
    "events": "9d821b3d234ed0e39292a13284f0b7865eacefe62da6f1f1faf3e9ab9a454831",
    "usage": "cc97b128775eb187a786f6c2483461f379d341e5b115f1fd14e6188eb15e6c12",
    "documents": "3a974749e133ea0d6a1c20c36340a8fc4e203b4907c6884d8af88342db28a871",
    "json": "255dcba8f2f998a27f2988f844b6d2aaef6e846aa39b1dc4cc785b28f5c97bec",
    "csv": "8ab473a4004f97812e29eeedd5ceeea6ec84ac5e5ed924529feedbfb6724742e",
    "ocsf": "4c1e1fbbca3a1189eb12d197cd32d3eb3b99a1cef6b3d55b8bf923515e3d01a2",
}
"""The sha256 of each part, as the store wrote and read them before."""

_COLUMNS = ", ".join(name for name, _ in EVENT_COLUMNS if name != "ingested_at")
_USAGE_TABLES = ("usage_days", "usage_hours", "usage_actions", "usage_models")


@pytest.fixture
def store(store_url):
    opened = open_store(store_url)
    yield opened
    opened.close()


def _digest(data: Any) -> str:
    return hashlib.sha256(orjson.dumps(data, default=str)).hexdigest()


def _text_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def test_a_sync_stores_and_exports_the_same_bytes(store) -> None:
    options = SandboxOptions(seed=7, events=2_000, days=10, end=END)
    registry = Registry.load(environ={"AIAUDIT_PLUGINS": "chatgpt"})
    async with (
        ChatGPTSandbox.run(options) as sandbox,
        registry.create("chatgpt", sandbox.connector_config()) as connector,
    ):
        report = await sync_connection(
            connector,
            store,
            connection="acme",
            since=START,
            until=END - timedelta(seconds=1),
        )
    assert report.ok, [s.error for s in report.streams]
    assert report.inserted > 2_000
    events = store._query(
        f"SELECT {_COLUMNS} FROM events ORDER BY connection, id"  # noqa: S608 -- constants
    )
    usage = {
        table: store._query(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4")  # noqa: S608 -- constants
        for table in _USAGE_TABLES
    }
    every = LogFilter(connection="acme")
    documents = list(store.iter_documents(every))
    found = {
        "events": _digest([list(row) for row in events]),
        "usage": _digest({k: [list(r) for r in v] for k, v in usage.items()}),
        "documents": _digest(documents),
    }
    out = io.StringIO()
    write_documents(iter(documents), out, format="json")
    found["json"] = _text_digest(out.getvalue())
    for name in ("csv", "ocsf"):
        out = io.StringIO()
        write_logs(store.iter_logs(every), out, format=name)
        found[name] = _text_digest(out.getvalue())
    period = AIDateRange(start=START, end=END)
    analytics = store.usage_analytics(period, platform="chatgpt", connection="acme")
    assert analytics.total_events == len(events)
    assert found == EXPECTED
