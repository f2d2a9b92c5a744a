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
    "events": "99be427265e1ec67763cd26d81a4e8552d57cddab04a235dddc6236eed51c15d",
    "usage": "be67e72ca1b483364196f7e703c7faae82fe29bcc705c9e2263f7e93f45b0cb6",
    "documents": "2975598b67a0a91cc4648b5f985778ddfd66985fb6942f622a99d95e9c4880dc",
    "json": "de115b847a03254f110ca288eef18de4ebfa2ae2a7a8377d22f00faedef906ae",
    "csv": "2a44400e38b688eed5c39a705abdeccb672337b5e531cc72344a48016908938c",
    "ocsf": "e5c4c0745d601eae5cca50e0ba3f3c41f04786424ebb20151b4f75477e29edb2",
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
