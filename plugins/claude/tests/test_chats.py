"""The chats stream against the sandbox: a full read is the ground truth
(and holds no message's text), checkpoints resume exactly, actions are
pushed down, and a key without ``read:compliance_user_data`` is named."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import OPTIONS, connector, whole_history

from aiaudit_claude.content import (
    CHATS_PATH,
    CONTENT_SCOPE,
    file_log_id,
    normalize_chat,
    normalize_upload,
    parse_chat,
    uploads_of,
)
from aiaudit_claude.sandbox.chats import PROMPT_MARK
from aiaudit_claude.sandbox.server import ClaudeSandbox
from connector_core import (
    AIAuditLog,
    PermissionDeniedError,
    SandboxOptions,
    SchemaError,
    Secret,
)
from connector_core.testing.contracts import load_contract


async def read_chats(
    target: Any,
    query: Any,
    checkpoint: dict[str, Any] | None = None,
    *,
    stop_after: int | None = None,
) -> tuple[list[AIAuditLog], list[Any], list[dict[str, Any]]]:
    logs: list[AIAuditLog] = []
    quarantined: list[Any] = []
    checkpoints: list[dict[str, Any]] = []
    batches = target.read_stream("chats", checkpoint, query)
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


def expected(sandbox: ClaudeSandbox) -> tuple[set[str], set[str]]:
    """The ids of every chat's log and every upload's log."""
    chats = {chat.id for chat in sandbox.chats}
    uploads = {
        file_log_id(chat.id, file["id"])
        for chat in sandbox.chats
        for _, file in chat.uploads()
    }
    return chats, uploads


def ids(logs: list[AIAuditLog], action: str) -> set[str]:
    return {log.id for log in logs if log.action == action}


async def test_a_full_read_is_the_ground_truth(sandbox):
    logs, quarantined, checkpoints = await read_chats(
        connector(sandbox, content=True), whole_history()
    )
    chats, uploads = expected(sandbox)
    assert quarantined == []
    assert checkpoints
    assert len(logs) == len({log.id for log in logs})
    assert ids(logs, "conversation.created") == chats
    assert ids(logs, "file.uploaded") == uploads
    assert uploads, "the seeded chats carry files"
    activity_ids = set(sandbox.expected_ids())
    assert not {log.id for log in logs} & activity_ids


async def test_chats_and_uploads_keep_their_metadata(sandbox):
    logs, _, _ = await read_chats(connector(sandbox, content=True), whole_history())
    by_id = {log.id: log for log in logs}
    for chat in sandbox.chats:
        record = chat.record
        log = by_id[chat.id]
        assert log.user_id == record["user"]["id"]
        assert log.user_email == record["user"]["email_address"]
        assert log.timestamp == chat.created_at
        assert log.metadata["conversation_title"] == record["name"]
        assert log.metadata.get("project_id") == record["project_id"]
        assert log.metadata.get("model") == record["model"]
        assert log.metadata.get("deleted_at") == record["deleted_at"]
        assert log.organization_id == record["organization_id"]
        assert log.raw == record
        for message, file in chat.uploads():
            upload = by_id[file_log_id(chat.id, file["id"])]
            assert upload.metadata["file_name"] == file["filename"]
            assert upload.metadata["mime_type"] == file["mime_type"]
            assert upload.metadata["conversation_id"] == chat.id
            assert upload.metadata.get("project_id") == record["project_id"]
            assert upload.metadata["message_id"] == message["id"]
            assert upload.metadata["files"][0]["file_id"] == file["id"]
            assert upload.user_id == record["user"]["id"]
            assert upload.risk_indicators
    assert any(chat.record["deleted_at"] for chat in sandbox.chats)


async def test_no_message_text_is_kept(sandbox):
    logs, _, _ = await read_chats(connector(sandbox, content=True), whole_history())
    assert logs
    for log in logs:
        assert PROMPT_MARK not in json.dumps(
            [log.raw, log.metadata], default=str, ensure_ascii=False
        )


async def test_a_read_resumed_from_a_checkpoint_completes_the_history(sandbox):
    target = connector(sandbox, content=True, concurrency=1)
    first, _, checkpoints = await read_chats(target, whole_history(), stop_after=30)
    chats, uploads = expected(sandbox)
    assert 30 <= len(first) < len(chats) + len(uploads)
    rest, _, _ = await read_chats(target, whole_history(), checkpoints[-1])
    both = [log.id for log in first + rest]
    assert len(both) == len(set(both)), "a resumed read yields nothing twice"
    assert set(both) == chats | uploads


async def test_a_paged_read_resumes_exactly(sandbox):
    target = connector(sandbox, content=True)
    query = whole_history(limit=40)
    first, _, checkpoints = await read_chats(target, query, stop_after=100)
    rest, _, _ = await read_chats(target, query, checkpoints[-1])
    both = [log.id for log in first + rest]
    assert len(both) == len(set(both))
    chats, uploads = expected(sandbox)
    assert set(both) == chats | uploads


async def test_a_changed_chat_is_read_again_under_the_same_ids(sandbox):
    target = connector(sandbox, content=True)
    _, _, checkpoints = await read_chats(target, whole_history())
    chat = sandbox.chats[0]
    assert OPTIONS.end is not None
    chat.updated_at = OPTIONS.end - timedelta(minutes=1)
    chat.record["updated_at"] = chat.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    rest, _, _ = await read_chats(target, whole_history(), checkpoints[-1])
    uploads = {file_log_id(chat.id, file["id"]) for _, file in chat.uploads()}
    assert {log.id for log in rest} == {chat.id} | uploads


async def test_only_chats_asked_for_reads_no_messages(sandbox):
    logs, _, _ = await read_chats(
        connector(sandbox, content=True),
        whole_history(event_types=("conversation.created",)),
    )
    assert {log.action for log in logs} == {"conversation.created"}
    assert not any("/messages" in str(a.record["url"]) for a in sandbox.api.accessed)


async def test_actions_the_stream_cannot_have_cost_no_request(sandbox):
    logs, _, _ = await read_chats(
        connector(sandbox, content=True), whole_history(event_types=("user.login",))
    )
    assert logs == []
    assert sandbox.api.accessed == []


async def test_each_window_is_its_own_updated_at_chain(sandbox):
    await read_chats(connector(sandbox, content=True, concurrency=1), whole_history())
    windows: dict[tuple[str, str], list[str | None]] = {}
    for query in sandbox.chats_api.queries:
        fields = dict(query)
        assert fields["order_by"] == "updated_at"
        bounds = (fields["updated_at.gte"], fields["updated_at.lt"])
        windows.setdefault(bounds, []).append(fields.get("after_id"))
    assert len(windows) > 1
    for cursors in windows.values():
        assert cursors[0] is None
        assert len(set(cursors)) == len(cursors)
    assert any(len(cursors) > 1 for cursors in windows.values())


async def test_the_stream_is_listed_only_when_asked_for(sandbox):
    listed = await connector(sandbox).list_streams()
    assert [s.name for s in listed] == ["activities", "usage"]
    listed = await connector(sandbox, content=True).list_streams()
    assert [s.name for s in listed] == ["activities", "usage", "chats"]


@pytest.mark.parametrize("kind", ["compliance", "admin"])
async def test_a_key_without_the_scope_is_named(sandbox, kind):
    key = (
        sandbox.key("admin") if kind == "admin" else sandbox.key(without=CONTENT_SCOPE)
    )
    target = connector(sandbox, content=True, api_key=key)
    with pytest.raises(PermissionDeniedError) as caught:
        await read_chats(target, whole_history())
    assert CONTENT_SCOPE in str(caught.value)
    assert key not in str(caught.value)
    verdict = await target.validate_ai_credentials()
    assert verdict.is_valid
    assert CONTENT_SCOPE in verdict.missing_permissions
    assert not verdict.has_required_permissions


async def test_the_scope_is_checked_only_when_the_chats_are_read(sandbox):
    key = sandbox.key(without=CONTENT_SCOPE)
    verdict = await connector(sandbox, api_key=key).validate_ai_credentials()
    assert verdict.has_required_permissions
    full = await connector(sandbox, content=True).validate_ai_credentials()
    assert full.has_required_permissions, full.errors


async def test_unreadable_chats_are_quarantined_not_lost():
    options = SandboxOptions(
        seed=7, events=300, days=3, end=OPTIONS.end, faults="bad_records", fault_rate=1
    )
    async with ClaudeSandbox.run(options, ingestion_delay=0.0) as sandbox:
        query = whole_history(start_date=sandbox.data.start)
        logs, quarantined, _ = await read_chats(connector(sandbox, content=True), query)
    assert logs == []
    assert {q.native_id for q in quarantined} == {c.id for c in sandbox.chats}
    assert all("created_at" in q.reason for q in quarantined)


async def test_chat_requests_spend_the_organizations_budget(sandbox):
    await read_chats(connector(sandbox, content=True), whole_history())
    chat_calls = [a for a in sandbox.api.accessed if CHATS_PATH in str(a.record["url"])]
    assert chat_calls
    assert sandbox.api.budget.used == len(sandbox.api.accessed)


async def test_secrets_stay_out_of_the_config_repr(sandbox):
    config = connector(sandbox, content=True).config
    assert config.content is True
    assert isinstance(config.api_key, Secret)
    assert sandbox.key() not in repr(config)


def test_the_documented_chats_and_files_normalize():
    """The restated contract's chats and messages, through the normalizers."""
    here = Path(__file__).resolve().parent / "contracts"
    page = load_contract(here / "chats-page.json", remake="its README")
    body = load_contract(here / "chat-messages.json", remake="its README")
    for item in page["response"]["body"]["data"]:
        chat, created, _ = parse_chat(item)
        log = normalize_chat(item, chat, created, organization="org_parent")
        assert log.id == item["id"]
        assert log.metadata["conversation_title"] == item["name"]
        assert log.metadata.get("deleted_at") == item["deleted_at"]
    messages = body["response"]["body"]
    chat, _, _ = parse_chat(messages)
    uploads = uploads_of(messages, chat.id)
    assert [u["id"] for u in uploads] == ["claude_file_01UaT9wBcDfGhJkLmNpQrSv7"]
    (upload,) = uploads
    log = normalize_upload(upload, chat, organization="org_parent")
    assert log.action == "file.uploaded"
    assert log.metadata["file_name"] == "quarterly_report.pdf"
    assert log.metadata["mime_type"] == "application/pdf"
    assert log.metadata["project_id"] == messages["project_id"]
    text = json.dumps([log.raw, log.metadata])
    assert "Summarise" not in text
    assert "summary.csv" not in text  # generated by the model, not uploaded


async def test_the_ground_truth_holds_chats_without_their_text(tmp_path):
    options = SandboxOptions(
        seed=3, events=200, days=2, end=OPTIONS.end, ground_truth_dir=str(tmp_path)
    )
    async with ClaudeSandbox.run(options) as sandbox:
        lines = (tmp_path / "chats.jsonl").read_text().splitlines()
    assert len(lines) == len(sandbox.chats)
    assert PROMPT_MARK not in "".join(lines)
    uploads = sum(len(json.loads(line)["uploads"]) for line in lines)
    assert uploads == sum(len(c.uploads()) for c in sandbox.chats)


async def test_a_chat_changed_after_the_range_is_still_found(sandbox):
    chat = next(c for c in sandbox.chats if c.uploads())
    assert OPTIONS.end is not None
    chat.updated_at = OPTIONS.end + timedelta(days=2)
    chat.record["updated_at"] = chat.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    logs, _, checkpoints = await read_chats(
        connector(sandbox, content=True), whole_history()
    )
    chats, uploads = expected(sandbox)
    assert {log.id for log in logs} == chats | uploads
    assert max(c["since"] for c in checkpoints) <= "2026-03-01T00:00:00.000001Z"


@pytest.mark.parametrize("faults", ["rate_limit", "server_error", "redirect"])
async def test_throttling_outages_and_redirects_lose_nothing(faults):
    options = SandboxOptions(
        seed=7, events=240, days=3, end=OPTIONS.end, faults=faults, fault_rate=0.2
    )
    async with ClaudeSandbox.run(options, ingestion_delay=0.0) as sandbox:
        query = whole_history(start_date=sandbox.data.start)
        logs, quarantined, _ = await read_chats(connector(sandbox, content=True), query)
        assert sandbox.api.observed["credentialed_hops"] == 0
    chats, uploads = expected(sandbox)
    assert quarantined == []
    assert {log.id for log in logs} == chats | uploads


async def test_a_cursor_handed_out_twice_is_a_schema_error():
    options = SandboxOptions(
        seed=7, events=600, days=3, end=OPTIONS.end, faults="stuck_cursor", fault_rate=1
    )
    async with ClaudeSandbox.run(options, ingestion_delay=0.0) as sandbox:
        query = whole_history(start_date=sandbox.data.start)
        with pytest.raises(SchemaError):
            await read_chats(connector(sandbox, content=True), query)
