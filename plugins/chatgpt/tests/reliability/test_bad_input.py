"""Malformed records: quarantined with a reason, never a crash, never a loss.

The corpus in ``corpus/`` holds one case per file: where the record comes
from (an Admin API page, a Compliance record, a raw JSONL line) and the
reason its quarantine must give. Each case is checked alone, and all of them
together are served by a real HTTP server between good records and synced:
the good ones must all be stored and the bad ones all quarantined.
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from aiaudit_chatgpt.files_reader import _parse_line
from aiaudit_chatgpt.normalize import Normalizer
from connector_core import MemberStatus, Registry
from connector_core.store import open_store
from connector_core.store.base import LogFilter
from connector_core.streams import QuarantinedRecord
from connector_core.sync import sync_connection


CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.json"))
WORKSPACE = "ws-corpus"


def load(path: Path) -> dict:
    case = json.loads(path.read_text())
    pad = case.get("pad_metadata_bytes")
    if pad:
        case["record"]["padding"] = "x" * pad
    return case


def raw_line(case: dict) -> bytes:
    if case["source"] == "compliance_line":
        return bytes.fromhex(case["line_hex"])
    return orjson.dumps(case["record"])


def outcome(case: dict):
    normalizer = Normalizer(organization_id="org-corpus", workspace_id=WORKSPACE)
    if case["source"] == "admin":
        return normalizer.admin_audit_log(case["record"])
    return _parse_line(normalizer, raw_line(case), "log_corpus", 1)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_each_case_gets_its_reason(path):
    case = load(path)
    result = outcome(case)
    if isinstance(result, list):
        bad = [r for r in result if isinstance(r, QuarantinedRecord)]
        result = bad[0] if bad else result
    if not case["reason"]:
        assert not isinstance(result, QuarantinedRecord), result.reason
        return
    assert isinstance(result, QuarantinedRecord), f"{path.stem} was not quarantined"
    assert case["reason"] in result.reason
    if len(raw_line(case)) > 64 * 1024:
        assert result.truncated
        assert len(result.raw) == 64 * 1024


GOOD_ADMIN = [
    {
        "id": f"audit_log-good{i:03d}",
        "type": "login.succeeded",
        "effective_at": 1735689600 + i,
        "actor": {
            "type": "session",
            "session": {"user": {"id": f"user-{i}", "email": f"u{i}@example.com"}},
        },
    }
    for i in range(20)
]
GOOD_LINES = [
    orjson.dumps(
        {
            "event_id": f"evt_good{i:03d}",
            "type": "AUTH_LOG",
            "event_type": "LOGIN_SUCCEEDED",
            "principal": {"id": WORKSPACE, "type": "CHATGPT_WORKSPACE"},
            "actor": {
                "type": "ACCOUNT_USER",
                "user_id": f"user-{i}",
                "user_email": f"u{i}@example.com",
            },
            "timestamp": f"2025-01-01T10:{i:02d}:00.000000Z",
            "event_details": {"detail_type": "LOGIN_SUCCEEDED"},
        }
    )
    for i in range(20)
]


USAGE_DAY = 1_735_689_600  # 2025-01-01
GOOD_USAGE = {
    "object": "organization.usage.completions.result",
    "input_tokens": 1200,
    "output_tokens": 300,
    "num_model_requests": 4,
    "model": "gpt-4o",
    "project_id": "proj_corpus",
    "api_key_id": None,
}
BAD_USAGE = [
    GOOD_USAGE | {"model": None},
    GOOD_USAGE | {"model": "o3", "input_tokens": -3},
    GOOD_USAGE | {"model": "gpt-5", "num_model_requests": 2.5},
    ["gpt-4o", 1200, 300],
    None,
]
GOOD_COST = {
    "object": "organization.costs.result",
    "amount": {"value": 0.25, "currency": "usd"},
    "line_item": "gpt-4o, input",
    "project_id": "proj_corpus",
    "api_key_id": None,
}
BAD_COSTS = [
    GOOD_COST | {"amount": {"value": "0.25", "currency": "usd"}},
    GOOD_COST | {"amount": {"value": 0.25, "currency": "eur"}},
    GOOD_COST | {"project_id": 7},
]


GOOD_USERS = [
    {
        "object": "compliance.workspace.user",
        "id": f"user-corpus{i}",
        "email": f"member{i}@corpus.example",
        "name": f"Member {i}",
        "created_at": 1_700_000_000.0 + i,
        "role": "standard-user",
        "status": "inactive" if i == 2 else "active",
    }
    for i in range(3)
]
BAD_USERS = [
    None,
    ["user-corpus9", "x@corpus.example"],
    {"object": "compliance.workspace.user", "email": "noid@corpus.example"},
    GOOD_USERS[0] | {"id": "user-corpus7", "created_at": "yesterday"},
    GOOD_USERS[0] | {"id": "user-corpus8", "email": 7},
    GOOD_USERS[0] | {"id": "user-corpus6", "created_at": 1e300},
]


def _usage_page(results):
    """A usage or costs page of one daily bucket holding *results*."""
    bucket = {"start_time": USAGE_DAY, "end_time": USAGE_DAY + 86_400}
    data = [{"object": "bucket", **bucket, "results": results}]
    return {"object": "page", "data": data, "has_more": False, "next_page": None}


async def _completions(request):
    return web.json_response(_usage_page([GOOD_USAGE, *BAD_USAGE]))


async def _costs(request):
    return web.json_response(_usage_page([GOOD_COST, *BAD_COSTS]))


@pytest.fixture
async def corrupt_api():
    """An Admin API page and a Logs Platform file with the corpus mixed in."""
    cases = [load(p) for p in CORPUS]
    admin_bad = [c["record"] for c in cases if c["source"] == "admin"]
    lines_bad = [raw_line(c) for c in cases if c["source"] != "admin"]
    page = []
    for i, good in enumerate(GOOD_ADMIN):
        page.append(good)
        if i < len(admin_bad):
            page.append(admin_bad[i])
    page.reverse()  # newest first, as the real API
    body = b""
    for i, good in enumerate(GOOD_LINES):
        body += good + b"\n"
        if i < len(lines_bad):
            body += lines_bad[i] + b"\n"

    async def audit_logs(request):
        return web.Response(
            body=orjson.dumps({"object": "list", "data": page, "has_more": False}),
            content_type="application/json",
        )

    async def listing(request):
        data = [
            {
                "id": "log_corpus",
                "event_type": "AUTH_LOG",
                "end_time": "2025-01-01T11:00:00Z",
            }
        ]
        return web.json_response(
            {"data": data, "has_more": False, "last_end_time": data[0]["end_time"]}
        )

    async def download(request):
        return web.Response(body=body, content_type="application/jsonl")

    async def empty(request):
        return web.json_response({"object": "list", "data": [], "has_more": False})

    async def users(request):
        data = [*GOOD_USERS, *BAD_USERS]
        return web.json_response({"object": "list", "data": data, "has_more": False})

    app = web.Application()
    app.router.add_get("/v1/organization/audit_logs", audit_logs)
    app.router.add_get(f"/v1/compliance/workspaces/{WORKSPACE}/logs", listing)
    app.router.add_get(
        f"/v1/compliance/workspaces/{WORKSPACE}/logs/log_corpus", download
    )
    app.router.add_get(f"/v1/compliance/workspaces/{WORKSPACE}/gpts", empty)
    app.router.add_get(f"/v1/compliance/workspaces/{WORKSPACE}/users", users)
    app.router.add_get("/v1/organization/usage/completions", _completions)
    app.router.add_get("/v1/organization/costs", _costs)
    async with TestServer(app, host="127.0.0.1") as server:
        # A case without a reason is valid (a huge record, stored whole).
        bad = sum(1 for case in cases if case["reason"])
        yield (
            str(server.make_url("/v1")),
            bad + len(BAD_USAGE) + len(BAD_COSTS) + len(BAD_USERS),
        )


async def test_a_sync_through_the_corpus_keeps_every_good_record(
    corrupt_api, store_url
):
    base, bad_count = corrupt_api
    from datetime import UTC, datetime  # noqa: PLC0415

    config = {
        "api_key": "sk-admin-corpus-000000",
        "organization_id": "org-corpus",
        "base_url": base,
        "compliance_api_key": "sk-comp-corpus-000000",
        "workspace_id": WORKSPACE,
        "compliance_base_url": base,
    }
    registry = Registry.load(environ={"AIAUDIT_PLUGINS": "chatgpt"})
    store = open_store(store_url)
    try:
        async with registry.create("chatgpt", config) as connector:
            report = await sync_connection(
                connector,
                store,
                connection="corpus",
                since=datetime(2024, 12, 31, tzinfo=UTC),
                until=datetime(2025, 1, 2, tzinfo=UTC),
            )
        stored = {log.id for log in store.iter_logs(LogFilter(connection="corpus"))}
        quarantined = store.quarantined("corpus")
        buckets = store.usage_records(connection="corpus")
        members = store.directory("corpus")
    finally:
        store.close()
    assert report.ok, ([s.error for s in report.streams], report.directory)
    # The good members stored (an inactive one suspended), the rest aside.
    assert [m.member.user_id for m in members] == [u["id"] for u in GOOD_USERS]
    assert [m.member.status for m in members] == [
        MemberStatus.ACTIVE,
        MemberStatus.ACTIVE,
        MemberStatus.SUSPENDED,
    ]
    assert report.directory is not None
    assert report.directory.quarantined == len(BAD_USERS)
    # The one good usage bucket, with the one good cost line of its model.
    assert [(b.model, b.requests, b.cost) for b in buckets] == [("gpt-4o", 4, 0.25)]
    assert {g["id"] for g in GOOD_ADMIN} <= stored
    assert {f"evt_good{i:03d}" for i in range(20)} <= stored
    # The huge valid record is stored whole, everything else malformed is aside.
    assert "audit_log-corpus-huge" in stored
    assert len(quarantined) == bad_count
    assert all(q.record.reason for q in quarantined)


def _overwrite_checkpoint(store_url: str, stream: str, text: str) -> None:
    """Put *text* where a stream's checkpoint is stored, as a damaged file,
    a hand edit or an older version's shape would."""
    if store_url.startswith("sqlite"):
        import sqlite3  # noqa: PLC0415

        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as db:
            db.execute(
                "UPDATE checkpoints SET checkpoint = ? WHERE stream = ?", (text, stream)
            )
        return
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    base, _, schema = store_url.partition("?schema=")
    with psycopg.connect(base, autocommit=True) as db:
        db.execute(
            sql.SQL(
                "UPDATE {}.checkpoints SET checkpoint = %s WHERE stream = %s"
            ).format(sql.Identifier(schema)),
            (text, stream),
        )


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        ('{"until": 17', "not JSON"),
        ("\xff garbage \u2603", "not JSON"),
        ('["until", 17]', "a JSON array, not an object"),
        ("null", "a JSON null, not an object"),
        ('"2025-01-01"', "a JSON string, not an object"),
    ],
)
async def test_an_unreadable_checkpoint_fails_its_stream_alone(
    corrupt_api, store_url, stored, reason
):
    """A checkpoint that is not a JSON object is that stream's one-line
    error, naming the command that clears it; the other streams sync, and
    after the reset the stream is read again without doubling an event."""
    base, _ = corrupt_api
    from datetime import UTC, datetime  # noqa: PLC0415

    from connector_core.store.base import LogFilter as Where  # noqa: PLC0415

    config = {
        "api_key": "sk-admin-corpus-000000",
        "organization_id": "org-corpus",
        "base_url": base,
        "compliance_api_key": "sk-comp-corpus-000000",
        "workspace_id": WORKSPACE,
        "compliance_base_url": base,
    }
    registry = Registry.load(environ={"AIAUDIT_PLUGINS": "chatgpt"})
    window = {
        "since": datetime(2024, 12, 31, tzinfo=UTC),
        "until": datetime(2025, 1, 2, tzinfo=UTC),
    }
    store = open_store(store_url)
    try:
        async with registry.create("chatgpt", config) as connector:
            first = await sync_connection(
                connector, store, connection="corpus", **window
            )
            assert first.ok, [s.error for s in first.streams]
            count = store.count_logs(Where(connection="corpus"))
            broken = first.streams[0].stream
            _overwrite_checkpoint(store_url, broken, stored)
            again = await sync_connection(
                connector, store, connection="corpus", **window
            )
            failed = {s.stream: s.error for s in again.streams if s.error}
            assert set(failed) == {broken}
            assert reason in failed[broken]
            assert f"aiaudit checkpoints reset corpus {broken}" in failed[broken]
            assert "\n" not in failed[broken]
            assert store.reset_checkpoints("corpus", [broken]) == [broken]
            healed = await sync_connection(
                connector, store, connection="corpus", **window
            )
        assert healed.ok, [s.error for s in healed.streams]
        assert healed.inserted == 0
        assert store.count_logs(Where(connection="corpus")) == count
    finally:
        store.close()
