"""The JSON exports of stored events write the stored documents, byte for
byte what they wrote when they rebuilt each event first.

The same stored events are exported both ways, on SQLite and PostgreSQL:
the old path (``iter_logs``, then each log unstructured and serialized, as
the JSON writers did) and the new one (``iter_documents`` through
``write_documents``), in both formats and both key styles, over filters
that limit and reverse the order; by the library and by ``aiaudit logs``.
"""

from __future__ import annotations

import io
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from connector_core import Registry
from connector_core.exceptions import StoreError
from connector_core.export.formats import DOCUMENT_FORMATS, write_documents, write_logs
from connector_core.models import (
    AIActivityType,
    AIAuditLog,
    AIAuditLogQuery,
    AIRiskIndicator,
    AIRiskType,
    ComplianceFramework,
    Coordinates,
    GeoLocation,
    RiskSeverity,
)
from connector_core.sandbox import SandboxOptions
from connector_core.serialization import dumps, loads, unstructure
from connector_core.store import open_store
from connector_core.store.base import LogFilter, SavedConnection
from connector_core.testing.processes import AIAUDIT, clean_env


STYLES = ("snake", "camel")
T0 = datetime(2025, 1, 31, 8, tzinfo=UTC)

FILTERS = [
    LogFilter(),
    LogFilter(newest_first=True),
    LogFilter(limit=3),
    LogFilter(limit=2, newest_first=True),
    LogFilter(connection="acme", actions=("conversation.*",)),
    LogFilter(user_ids=("PRIYA@EXAMPLE.COM",)),
    LogFilter(start=T0 + timedelta(minutes=3), end=T0 + timedelta(minutes=6)),
]


def old_export(logs: Any, fmt: str, style: Any) -> str:
    """The JSON exports as they were written before they read stored
    documents: each log rebuilt, unstructured and serialized."""
    texts = [orjson.dumps(unstructure(log, style=style)).decode() for log in logs]
    if fmt == "jsonl":
        return "".join(text + "\n" for text in texts)
    return "[" + ",".join("\n" + text for text in texts) + "\n]\n" if texts else "[]\n"


def _risk(confidence: float) -> AIRiskIndicator:
    return AIRiskIndicator(
        type=AIRiskType.SENSITIVE_DATA,
        severity=RiskSeverity.HIGH,
        description="a card number",
        confidence=confidence,
        evidence=("4111…",),
        compliance_impact=(ComplianceFramework.PCI, ComplianceFramework.GDPR),
    )


def _log(number: int, **fields: Any) -> AIAuditLog:
    values: dict[str, Any] = {
        "id": f"evt-{number:02d}",
        "platform": "example",
        "timestamp": T0 + timedelta(minutes=number),
        "user_id": "priya" if number % 2 else "sam",
        "user_email": "priya@example.com" if number % 2 else None,
        "organization_id": "org-1",
        "activity_type": AIActivityType.CONVERSATION,
        "action": "conversation.created" if number % 3 else "file.uploaded",
        "native_type": "conversation.created",
    }
    values.update(fields)
    return AIAuditLog(**values)


TRICKY = [
    _log(0),
    _log(
        1,
        metadata={
            # Keys that look like either style, and keys of neither.
            "conversation_id": "c-1",
            "conversationId": "c-2",
            "gpt4o_model": "x",
            "aBC": 1,
            "file_2": None,
            "_id": "u",
            "a__b": True,
            "user.login": {"ip_address": "203.0.113.9"},
            "HTTPStatus": 200,
            # Nested lists of objects, renamed at every depth.
            "files": [
                {"file_id": "f1", "file_name": "a.pdf", "file_size": 12},
                [[{"deep_key": [{"deeper_key": []}]}]],
            ],
            # The platform's payload: kept as it is in both styles.
            "details": {"snake_key": {"camelKey": [{"x_y": 1}]}},
            "model": "gpt-4o",
            "tokens_used": 2**63 - 1,
        },
        raw={"conversation_id": [1, [2, {"nested_key": -0.0}]], "f": 1e16},
    ),
    _log(
        2,
        # Unicode in keys and values, and characters JSON escapes.
        metadata={
            "名前_key": "Ünïcödé ✓ 🙂",
            "clé_été": '\u2028\u2029\x00\x1f"\\',
            "naïveKey": ["ß", {"ñ_ñ": "ø"}],
        },
        raw={"texte": "l'été 🌞", "nul": "a\x00b"},
        user_agent="Mozilla/5.0 (X11; Linux x86_64) \U0001f600",
    ),
    _log(
        3,
        ip_address="2001:db8::1",
        location=GeoLocation(
            country="FR",
            city="Lyon",
            # Integers where floats are read: the rebuilt log holds floats.
            coordinates=Coordinates(latitude=45, longitude=4),
        ),
        risk_indicators=(_risk(80), _risk(12.5)),
    ),
    _log(
        4,
        location=GeoLocation(),
        risk_indicators=(_risk(99.9),),
        # Keys named like the float fields, holding integers, in the
        # free-form mappings: kept as they are.
        metadata={"confidence": 5, "latitude": 1, "longitude": [2]},
        raw={"coordinates": {"latitude": 3, "longitude": -4}},
    ),
    _log(5, metadata={"float": 0.1 + 0.2, "tiny": 5e-324, "nan": float("nan")}),
    _log(6, activity_type=AIActivityType.FILE_UPLOAD, action="file.uploaded"),
    _log(7, metadata={"empty": {}, "list": [], "deep": [[[[[[{"a_b": 1}]]]]]]}),
]


@pytest.fixture
def filled(store_url):
    store = open_store(store_url)
    try:
        store.add_connection(
            SavedConnection(name="acme", platform="example", config={}, created_at=T0)
        )
        result = store.write_batch("acme", "audit", TRICKY[:5])
        store.write_batch("other", "audit", TRICKY[5:])
        assert result.inserted == 5
    finally:
        store.close()
    return store_url


def test_documents_are_read_as_the_events_are(filled):
    store = open_store(filled, read_only=True)
    try:
        for where in FILTERS:
            documents = list(store.iter_documents(where))
            logs = list(store.iter_logs(where))
            assert documents, where
            assert [loads(document, AIAuditLog) for document in documents] == logs
    finally:
        store.close()


def test_a_document_is_the_log_as_dumps_wrote_it(filled):
    store = open_store(filled, read_only=True)
    try:
        stored = sorted(store.iter_documents(LogFilter()))
    finally:
        store.close()
    assert stored == sorted(dumps(log).decode() for log in TRICKY)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("fmt", DOCUMENT_FORMATS)
def test_an_export_is_byte_for_byte_what_it_was(filled, fmt, style):
    store = open_store(filled, read_only=True)
    try:
        for where in FILTERS:
            expected = old_export(store.iter_logs(where), fmt, style)
            from_logs, from_documents = io.StringIO(), io.StringIO()
            write_logs(store.iter_logs(where), from_logs, format=fmt, style=style)
            write_documents(
                store.iter_documents(where), from_documents, format=fmt, style=style
            )
            assert from_documents.getvalue() == expected, where
            assert from_logs.getvalue() == expected, where
    finally:
        store.close()


async def test_the_sandbox_events_export_as_they_did(store_url):
    """Every kind of event a plugin serves, stored by a sync's own write."""
    end = datetime(2025, 3, 1, tzinfo=UTC)
    registry = Registry.load(environ={"AIAUDIT_PLUGINS": "example"})
    provider = registry.sandbox("example")
    assert provider is not None
    query = AIAuditLogQuery(start_date=end - timedelta(days=5), end_date=end)
    async with (
        provider.start(SandboxOptions(seed=5, events=600, days=5, end=end)) as sandbox,
        registry.create("example", sandbox.config) as connector,
    ):
        logs = [log async for log in connector.stream_ai_audit_logs(query)]
    store = open_store(store_url)
    try:
        store.write_batch("example", "audit", logs)
        for style in STYLES:
            for fmt in DOCUMENT_FORMATS:
                out = io.StringIO()
                count = write_documents(
                    store.iter_documents(LogFilter()), out, format=fmt, style=style
                )
                assert count == len(logs)
                expected = old_export(store.iter_logs(LogFilter()), fmt, style)
                assert out.getvalue() == expected
    finally:
        store.close()


def aiaudit(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(AIAUDIT), *args],
        capture_output=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("--format", "jsonl"),
        ("--json",),
        ("--format", "json"),
        ("--format", "jsonl", "--camel"),
        ("--format", "json", "--camel", "--newest-first", "--limit", "3"),
        ("--json", "--camel", "--connection", "acme", "--action", "file.*"),
    ],
)
def test_aiaudit_logs_prints_what_it_printed(filled, args):
    result = aiaudit("--store", filled, "logs", *args)
    assert result.returncode == 0, result.stderr.decode()
    fmt = "json" if "json" in args else "jsonl"
    style = "camel" if "--camel" in args else "snake"
    where = LogFilter(
        connection="acme" if "acme" in args else None,
        actions=("file.*",) if "file.*" in args else (),
        limit=3 if "--limit" in args else None,
        newest_first="--newest-first" in args,
    )
    store = open_store(filled, read_only=True)
    try:
        expected = old_export(store.iter_logs(where), fmt, style)
    finally:
        store.close()
    assert result.stdout == expected.encode()


def test_a_document_sqlite_keeps_as_a_blob_is_read_as_text(tmp_path):
    """SQLite binds no column to its declared type: a document written as
    bytes by another program comes back as bytes. UTF-8 is read as text;
    anything else is an error that names the event, not a crash."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(url)
    try:
        store.write_batch("acme", "audit", TRICKY[:2])
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "store.db") as connection:
        connection.execute(
            "UPDATE events SET document = CAST(document AS BLOB) WHERE id = 'evt-00'"
        )
        connection.execute("UPDATE events SET document = x'ff' WHERE id = 'evt-01'")
    connection.close()
    store = open_store(url, read_only=True)
    try:
        first = next(store.iter_documents(LogFilter(limit=1)))
        assert first == dumps(TRICKY[0]).decode()
        with pytest.raises(StoreError, match=r"'evt-01' of 'acme'.*not text"):
            list(store.iter_documents(LogFilter()))
    finally:
        store.close()
