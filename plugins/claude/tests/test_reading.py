"""The connector against the sandbox: a full read is the ground truth,
checkpoints resume exactly, filters are pushed down to the feed, and the
API's throttling and its own verdicts on errors are respected."""

from __future__ import annotations

import attrs
import pytest
from conftest import OPTIONS, connector, read, whole_history

from aiaudit_claude.connector import organization_pace
from aiaudit_claude.event_map import TABLE
from aiaudit_claude.sandbox.data import UNLISTED_TYPE
from aiaudit_claude.sandbox.server import ClaudeSandbox
from connector_core import ServerError


async def test_a_full_read_is_the_ground_truth(sandbox):
    logs, quarantined, checkpoints = await read(connector(sandbox), whole_history())
    assert quarantined == []
    assert sorted(log.id for log in logs) == sorted(sandbox.expected_ids())
    assert checkpoints
    by_id = {a.id: a.record for a in sandbox.data.activities}
    for log in logs:
        assert log.raw == by_id[log.id]
        assert log.native_type == by_id[log.id]["type"]
        assert log.organization_id


async def test_the_readers_own_calls_are_excluded_at_the_source(sandbox):
    await read(connector(sandbox), whole_history())
    assert sandbox.api.queries
    for query in sandbox.api.queries:
        assert ("exclude_activity_types[]", "compliance_api_accessed") in query
        assert not any(name == "activity_types[]" for name, _ in query)


async def test_each_window_is_its_own_after_id_chain(sandbox):
    await read(connector(sandbox, concurrency=1), whole_history())
    windows = {}
    for query in sandbox.api.queries:
        fields = dict(query)
        bounds = (fields["created_at.gte"], fields["created_at.lt"])
        windows.setdefault(bounds, []).append(fields.get("after_id"))
    assert len(windows) > 1
    for cursors in windows.values():
        assert cursors[0] is None
        assert len(set(cursors)) == len(cursors)
    assert any(len(cursors) > 1 for cursors in windows.values())


async def test_a_read_resumed_from_a_checkpoint_completes_the_history(sandbox):
    target = connector(sandbox)
    first, _, checkpoints = await read(target, whole_history(), stop_after=300)
    assert 300 <= len(first) < len(sandbox.expected_ids())
    rest, _, _ = await read(target, whole_history(), checkpoints[-1])
    assert {log.id for log in first} | {log.id for log in rest} == set(
        sandbox.expected_ids()
    )


async def test_a_paged_read_resumes_exactly(sandbox):
    target = connector(sandbox)
    query = whole_history(limit=50)
    first, _, checkpoints = await read(target, query, stop_after=200)
    rest, _, _ = await read(target, query, checkpoints[-1])
    ids = [log.id for log in first + rest]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(sandbox.expected_ids())


async def test_actions_are_pushed_down_as_activity_types(sandbox):
    logs, _, _ = await read(
        connector(sandbox), whole_history(event_types=("user.login",))
    )
    login_types = sorted(TABLE.by_action["user.login"])
    assert logs
    assert {log.action for log in logs} == {"user.login"}
    expected = {a.id for a in sandbox.data.activities if a.type in login_types}
    assert {log.id for log in logs} == expected
    for query in sandbox.api.queries:
        assert sorted(v for k, v in query if k == "activity_types[]") == login_types
        assert not any(k == "exclude_activity_types[]" for k, _ in query)


async def test_a_pass_through_action_reads_everything_and_keeps_it(sandbox):
    action = UNLISTED_TYPE  # not in the table: its own name
    logs, _, _ = await read(connector(sandbox), whole_history(event_types=(action,)))
    expected = {a.id for a in sandbox.data.activities if a.type == action}
    assert expected
    assert {log.id for log in logs} == expected
    assert all(("exclude_activity_types[]", "compliance_api_accessed") in q
               for q in sandbox.api.queries)  # fmt: skip


async def test_an_action_no_type_produces_asks_for_nothing(sandbox):
    reserved = min(TABLE.reserved)
    logs, _, _ = await read(connector(sandbox), whole_history(event_types=(reserved,)))
    assert logs == []
    assert sandbox.api.queries == []


async def test_the_feeds_own_rows_are_read_when_asked_for(sandbox):
    target = connector(sandbox)
    await target.validate_ai_credentials()
    query = whole_history(
        start_date=sandbox.api.accessed[0].created_at,
        end_date=sandbox.api.accessed[0].created_at,
        event_types=("compliance_api.accessed",),
    )
    logs, _, _ = await read(target, query)
    assert [log.id for log in logs] == [sandbox.api.accessed[0].id]
    assert logs[0].user_id == sandbox.data.keys[sandbox.key()].key_id
    assert ("activity_types[]", "compliance_api_accessed") in sandbox.api.queries[-1]


async def test_user_ids_are_pushed_down_as_actor_ids(sandbox):
    user = sandbox.data.users[1]["user_id"]
    logs, _, _ = await read(connector(sandbox), whole_history(user_ids=(user,)))
    assert logs
    assert {log.user_id for log in logs} == {user}
    for query in sandbox.api.queries:
        assert ("actor_ids[]", user) in query


async def test_a_user_id_the_feed_cannot_filter_is_read_loosely(sandbox):
    """The feed takes only ``user_…`` ids: for a key's id everything is
    read, and the core's filter keeps that key's activity."""
    admin = sandbox.data.key_named("admin").key_id
    logs, _, _ = await read(connector(sandbox), whole_history(user_ids=(admin,)))
    mine = {log.id for log in logs if log.user_id == admin}
    assert mine
    assert mine == {
        a.id
        for a in sandbox.data.activities
        if a.record["actor"].get("admin_api_key_id") == admin
    }
    assert not any(k == "actor_ids[]" for q in sandbox.api.queries for k, _ in q)


async def test_throttling_is_waited_out_and_nothing_is_lost():
    options = attrs.evolve(OPTIONS, rate_limit=4.0)
    async with ClaudeSandbox.run(options, budget_window=1.0) as sandbox:
        # The connection does not pace itself: only the 429s steer it.
        target = connector(sandbox, rate_limit=None, concurrency=4)
        logs, _, _ = await read(target, whole_history())
        assert sandbox.api.budget.refused > 0
    assert sorted(log.id for log in logs) == sorted(sandbox.expected_ids())


async def test_a_server_error_the_api_says_not_to_retry_is_final():
    options = attrs.evolve(OPTIONS, faults="server_error_final", fault_rate=1.0)
    async with ClaudeSandbox.run(options) as sandbox:
        with pytest.raises(ServerError) as info:
            await read(connector(sandbox, concurrency=1), whole_history())
        # One try each, never retried: the members' listing (read first, to
        # know whose typed address a sign-in is; its failure is a warning)
        # and the feed's first page.
        assert sandbox.api.requests == 2
    assert info.value.request_id is not None
    assert info.value.code == "api_error"


async def test_an_overloaded_api_is_waited_out_and_nothing_is_lost():
    # 529 overloaded_error is transient: retried like a 502 to 504.
    options = attrs.evolve(OPTIONS, faults="server_error", fault_rate=0.2)
    async with ClaudeSandbox.run(options) as sandbox:
        logs, _, _ = await read(connector(sandbox), whole_history())
        assert sandbox.api.faults is not None
        assert sandbox.api.faults.injected > 0
    assert sorted(log.id for log in logs) == sorted(sandbox.expected_ids())


async def test_unreadable_records_are_quarantined_not_lost():
    options = attrs.evolve(OPTIONS, faults="bad_records", fault_rate=1.0)
    async with ClaudeSandbox.run(options) as sandbox:
        logs, quarantined, _ = await read(connector(sandbox), whole_history())
    assert logs == []
    assert sorted(q.native_id for q in quarantined) == sorted(sandbox.expected_ids())
    assert all("created_at" in q.reason for q in quarantined)


async def test_keys_are_checked_and_missing_scopes_named(sandbox):
    result = await connector(sandbox).validate_ai_credentials()
    assert (result.is_valid, result.has_required_permissions) == (True, True)
    admin = await connector(
        sandbox, api_key=sandbox.key("admin")
    ).validate_ai_credentials()
    assert admin.has_required_permissions
    restricted = sandbox.key(without="read:compliance_activities")
    lacking = await connector(sandbox, api_key=restricted).validate_ai_credentials()
    assert lacking.is_valid
    assert lacking.missing_permissions == ("read:compliance_activities",)
    refused = await connector(
        sandbox, api_key="sk-ant-api01-revoked"
    ).validate_ai_credentials()
    assert not refused.is_valid
    assert "sk-ant-api01-revoked" not in str(refused)


async def test_every_request_sends_the_documented_headers(sandbox):
    await connector(sandbox).validate_ai_credentials()
    record = sandbox.api.accessed[-1].record
    assert record["actor"]["api_key_id"] == sandbox.data.keys[sandbox.key()].key_id


def test_connections_to_one_organization_share_one_budget(sandbox):
    one = connector(sandbox)
    other_key = connector(sandbox, api_key=sandbox.key("admin"))
    elsewhere = connector(sandbox, organization_id="org_another")
    assert one.pace is other_key.pace
    assert one.pace is not elsewhere.pace
    assert organization_pace(one.config) is one.pace
    # Across processes too, when a shared budget is configured.
    assert one.budget_scope() == other_key.budget_scope()
    assert one.budget_scope() != elsewhere.budget_scope()


async def test_a_member_signing_in_is_one_user():
    # The feed names someone not yet signed in by the address they typed;
    # with the Admin API's members at hand, a member's address is that
    # member, so their sign-ins count with the rest of what they do.
    async with ClaudeSandbox.run(OPTIONS) as sandbox:
        target = connector(sandbox)
        logs, _, _ = await read(target, whole_history())
        members = (await target.read_directory()).members
    addresses = {m.email.lower() for m in members if m.email is not None}
    typed = [
        log
        for log in logs
        if log.metadata["actor_type"] == "unauthenticated_user_actor"
    ]
    assert typed
    assert not [log for log in typed if log.user_id.lower() in addresses]
    ids = {m.user_id for m in members}
    assert {log.user_id for log in typed} & ids
    people = {log.user_id for log in logs if log.user_id.startswith("user_")}
    assert people <= ids
