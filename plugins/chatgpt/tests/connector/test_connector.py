"""The ChatGPT connector against the sandbox: the original plan's test list,
and the ground truth."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest
from chatgpt_history import END, WHOLE
from reading import assert_one_full_read, every_page

from aiaudit_chatgpt.normalize import Normalizer
from connector_core.models import AIAuditLogQuery, AIDateRange, OAuthCredentials
from connector_core.paging import matches


def ground_truth(sandbox, query=WHOLE):
    """What a complete read must return: every served record, normalized."""
    return sandbox.expected_logs(query)


async def read_all(connector, query=WHOLE, limit=100):
    return await every_page(connector, query, limit)


# -- the plan's tests ----------------------------------------------------------


async def test_authenticate_with_a_valid_key(connector, sandbox):
    result = await connector.authenticate(
        OAuthCredentials(access_token=sandbox.keys.admin, scope=("audit_logs.read",))
    )
    assert result.success
    assert result.platform_user_id == sandbox.state.org.org_id


async def test_authenticate_with_an_invalid_key(registry, sandbox, session):
    config = sandbox.connector_config() | {"api_key": "sk-admin-invalid-0000000000"}
    async with registry.create("chatgpt", config, session=session) as invalid:
        result = await invalid.authenticate(
            OAuthCredentials(access_token="sk-admin-invalid-0000000000")
        )
        configured = await invalid.authenticate()
    assert result.success is False
    assert result.error
    assert "invalid-0000000000" not in result.error
    assert configured.success is False


async def test_audit_logs_for_a_date_range(connector):
    result = await connector.get_ai_audit_logs(
        AIAuditLogQuery(
            start_date=END - timedelta(days=10), end_date=END - timedelta(days=9)
        )
    )
    assert isinstance(result.logs, tuple)
    assert result.logs
    assert result.metadata.platform == "chatgpt"


async def test_event_type_filter(connector):
    query = attrs.evolve(WHOLE, event_types=("user.login", "file.uploaded"))
    logs = [log for page in await read_all(connector, query) for log in page.logs]
    assert {log.action for log in logs} == {"user.login", "file.uploaded"}


async def test_normalized_logs(connector):
    result = await connector.get_ai_audit_logs(attrs.evolve(WHOLE, limit=50))
    for log in result.logs:
        assert log.platform == "chatgpt"
        assert log.timestamp.tzinfo is not None
        assert log.timestamp.utcoffset() == timedelta(0)
        assert log.user_email is None or "@" in log.user_email
    assert any(log.user_email for log in result.logs)


async def test_pagination(connector, sandbox):
    first = await connector.get_ai_audit_logs(attrs.evolve(WHOLE, limit=10))
    assert first.has_more
    second = await connector.get_ai_audit_logs(
        attrs.evolve(WHOLE, limit=10, cursor=first.next_cursor)
    )
    assert first.logs[0].id != second.logs[0].id
    truth = ground_truth(sandbox)
    logs = [
        log for page in await read_all(connector, WHOLE, limit=250) for log in page.logs
    ]
    ids = [log.id for log in logs]
    assert len(ids) == len(set(ids)), "no duplicates"
    assert set(ids) == set(truth)
    assert {log.id: log for log in logs} == truth


async def test_usage_analytics(connector, sandbox):
    period = AIDateRange(start=WHOLE.start_date, end=WHOLE.end_date)
    analytics = await connector.get_usage_analytics(period)
    truth = list(ground_truth(sandbox).values())
    assert analytics.platform == "chatgpt"
    assert analytics.total_events == len(truth)
    assert analytics.active_users == len({log.user_id for log in truth})
    # Everyone with a seat and everyone who acted (an actor the directory
    # does not list, such as an API key, too), each once: never fewer than
    # the active users.
    seated = {user.id for user in sandbox.state.org.users}
    assert analytics.total_users == len(seated | {log.user_id for log in truth})
    assert analytics.total_users >= analytics.active_users
    assert analytics.events_by_type == dict(
        sorted(Counter(log.action for log in truth).items())
    )
    assert sum(day.total_events for day in analytics.daily_breakdown) == len(truth)
    counts = [user.event_count for user in analytics.top_users]
    assert counts == sorted(counts, reverse=True)
    assert len(counts) > 1


async def test_model_usage_comes_from_the_usage_api(connector, sandbox):
    period = AIDateRange(start=WHOLE.start_date, end=WHOLE.end_date)
    analytics = await connector.get_usage_analytics(period)
    start = int(period.start.timestamp())
    end = int(period.end.timestamp()) + 1
    totals = sandbox.state.usage.totals(start, end)
    by_model = {m.model: m for m in analytics.model_usage}
    assert by_model
    for model, metric in by_model.items():
        assert metric.usage_count == totals[f"{model}:num_model_requests"]
        assert (
            metric.total_tokens
            == totals[f"{model}:input_tokens"] + totals[f"{model}:output_tokens"]
        )
        assert metric.cost_estimate is not None


async def test_validate_ai_credentials(connector):
    validation = await connector.validate_ai_credentials()
    assert validation.is_valid
    assert validation.platform == "chatgpt"
    assert validation.has_required_permissions
    assert validation.missing_permissions == ()


# -- beyond the plan -------------------------------------------------------


async def test_a_filtered_read_pushes_native_types_down(connector, requests):
    """No page is fetched only to be thrown away."""
    query = attrs.evolve(WHOLE, event_types=("user.login",))
    await read_all(connector, query)
    audit = requests.paths("/organization/audit_logs")
    assert audit
    for url in audit:
        assert parse_qs(urlsplit(url).query)["event_types[]"] == ["login.succeeded"]
    listings = [url for url in requests.paths("/logs") if "/logs/" not in url]
    assert listings
    for url in listings:
        assert parse_qs(urlsplit(url).query)["event_type"] == ["AUTH_LOG"]
    assert not requests.paths("/gpts")
    assert not requests.paths("CONVERSATION_MESSAGE")


async def test_a_gpt_only_read_touches_only_the_gpts(connector, requests, sandbox):
    logs = [
        log
        for page in await read_all(
            connector, attrs.evolve(WHOLE, event_types=("gpt.created",))
        )
        for log in page.logs
    ]
    assert len(logs) == len(
        [g for g in sandbox.state.org.gpts if matches(WHOLE, _gpt_created(sandbox, g))]
    )
    assert requests.paths("/gpts")
    assert not requests.paths("/organization/audit_logs")
    assert not requests.paths("/logs")


def _gpt_created(sandbox, gpt):
    org = sandbox.state.org
    normalizer = Normalizer(organization_id=org.org_id, workspace_id=org.workspace_id)
    return next(
        log
        for log in normalizer.custom_gpt(sandbox.state.compliance.gpt(gpt))
        if log.action == "gpt.created"
    )


async def test_the_stream_equals_the_pages(connector):
    streamed = [log.id async for log in connector.stream_ai_audit_logs(WHOLE)]
    paged = [log.id for page in await read_all(connector) for log in page.logs]
    assert_one_full_read(paged, streamed)


@pytest.mark.parametrize("concurrency", [1, 16])
async def test_a_stream_resumed_from_a_checkpoint_returns_nothing_older(
    registry, sandbox, session, concurrency
):
    """One window or file at a time, the read resumed at a checkpoint is
    exactly the rest of the read; several at once, logs read ahead of the
    checkpoint come again, and nothing is lost."""
    config = {**sandbox.connector_config(), "concurrency": concurrency}
    async with registry.create("chatgpt", config, session=session) as connector:
        for info in await connector.list_streams():
            batches = [b async for b in connector.read_stream(info.name, None, WHOLE)]
            checkpoints = [b.checkpoint for b in batches if b.checkpoint is not None]
            assert checkpoints, info.name
            middle = checkpoints[len(checkpoints) // 2]
            before = []
            for batch in batches:
                before.extend(log.id for log in batch.logs)
                if batch.checkpoint == middle:
                    break
            after = [
                log.id
                async for b in connector.read_stream(info.name, middle, WHOLE)
                for log in b.logs
            ]
            everything = [log.id for b in batches for log in b.logs]
            if concurrency == 1:
                assert before + after == everything, info.name
            else:
                assert len(after) == len(set(after)), info.name
                assert set(before) | set(after) == set(everything), info.name


async def test_a_future_window_returns_nothing(connector, requests):
    future = AIAuditLogQuery(
        start_date=datetime.now(UTC) + timedelta(days=1),
        end_date=datetime.now(UTC) + timedelta(days=2),
    )
    assert (await connector.get_ai_audit_logs(future)).logs == ()


async def test_either_api_alone(registry, sandbox, session):
    config = sandbox.connector_config()
    admin_only = {
        k: v
        for k, v in config.items()
        if not k.startswith("compliance") and k != "workspace_id"
    }
    async with registry.create("chatgpt", admin_only, session=session) as conn:
        assert [s.name for s in await conn.list_streams()] == [
            "admin_audit_logs",
            "admin_tenant_audit_logs",
            "usage",
        ]
        check = await conn.validate_permissions()
        assert (
            "the Compliance API is not configured"
            in check.metadata["surfaces"]["compliance"]
        )
        with pytest.raises(Exception, match="not support"):
            await conn.discover_automations()
    compliance_only = {
        k: v for k, v in config.items() if k not in {"api_key", "base_url"}
    }
    async with registry.create("chatgpt", compliance_only, session=session) as conn:
        assert [s.name for s in await conn.list_streams()] == [
            "compliance_logs",
            "custom_gpts",
        ]
        result = await conn.authenticate()
        assert result.success
        logs = (await conn.get_ai_audit_logs(attrs.evolve(WHOLE, limit=20))).logs
        assert logs


async def test_a_key_without_audit_permission_is_named(registry, sandbox, session):
    config = sandbox.connector_config() | {"api_key": sandbox.keys.admin_no_audit}
    async with registry.create("chatgpt", config, session=session) as conn:
        check = await conn.validate_permissions()
        validation = await conn.validate_ai_credentials()
    assert set(check.missing_permissions) == {"api.audit_logs.read", "api.usage.read"}
    assert "audit logging is not enabled" in check.metadata["surfaces"]["audit_logs"]
    assert validation.is_valid
    assert not validation.has_required_permissions


async def test_discover_automations_lists_the_gpts(connector, sandbox):
    automations = await connector.discover_automations()
    assert {a.id for a in automations} == {g.id for g in sandbox.state.org.gpts}
    assert all(a.owner is not None and a.owner.email for a in automations)


async def test_get_audit_logs_since(connector, sandbox):
    since = END - timedelta(days=2)
    entries = await connector.get_audit_logs(since)
    assert entries
    assert all(e.timestamp >= since for e in entries)


async def test_secrets_stay_out_of_reprs(connector, sandbox):
    for text in (
        repr(connector.config),
        repr(connector.instance.admin),
        str(connector.config),
    ):
        assert sandbox.keys.admin not in text
        assert sandbox.keys.compliance not in text
