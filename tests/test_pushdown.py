"""A connector narrows its platform's reads only by what the platform can
express, so a query's filter returns the same events from a connector as
from a store.

A query's users match by id or by email (any case of A to Z), and its event
types may be globs (``LogFilter``). A platform filters by exact names and
user ids: a connector that passed a glob or an email down would get nothing
back for them. ``LogFilter.askable_actions`` and ``askable_user_ids`` say
what may be passed down; the example plugin (a real push-down connector:
one event name, one user key) is held to the full history filtered in
Python.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiaudit_example.normalize import normalize_activity
from aiaudit_example.sandbox import ExampleSandbox

from connector_core import LogFilter, Registry
from connector_core.models import AIAuditLogQuery
from connector_core.sandbox import SandboxOptions


END = datetime(2025, 3, 1, tzinfo=UTC)
START = END - timedelta(days=7)


@pytest.mark.parametrize(
    ("fields", "actions", "users"),
    [
        ({}, None, None),
        ({"actions": ("user.login",), "user_ids": ("u-1",)}, {"user.login"}, {"u-1"}),
        ({"actions": ("user.login", "file.*")}, None, None),
        ({"actions": ("user.?ogin",)}, None, None),
        ({"user_ids": ("u-1", "Ada@Example.com")}, None, None),
    ],
)
def test_what_may_be_asked_of_a_platform(fields, actions, users):
    where = LogFilter(**fields)
    assert where.askable_actions == (None if actions is None else frozenset(actions))
    assert where.askable_user_ids == (None if users is None else frozenset(users))


@pytest.fixture
async def sandbox():
    options = SandboxOptions(seed=9, events=1_500, days=7, end=END)
    async with ExampleSandbox.run(options) as running:
        yield running


def _history(sandbox):
    data = sandbox.data
    return [
        log
        for activities in data.by_app.values()
        for activity in activities
        for log in normalize_activity(activity.to_json(data.customer_id))
        if START <= log.timestamp <= END
    ]


async def test_globs_and_emails_return_what_the_filter_matches(sandbox):
    history = _history(sandbox)
    someone = next(log for log in history if log.user_email)
    queries = [
        # A glob of actions, and a user by email in another case: neither
        # can be passed down.
        {"event_types": ("user.*",)},
        {"user_ids": (someone.user_email.upper(),)},
        {"event_types": ("*",), "user_ids": (someone.user_email.title(),)},
        # Exact names and an id: both passed down.
        {"event_types": (someone.action,), "user_ids": (someone.user_id,)},
    ]
    registry = Registry.load(environ={"AIAUDIT_PLUGINS": "example"})
    async with registry.create("example", sandbox.config()) as connector:
        for fields in queries:
            query = AIAuditLogQuery(start_date=START, end_date=END, **fields)
            where = LogFilter.from_query(query)
            expected = sorted(log.id for log in history if where.matches(log))
            read = sorted(
                [log.id async for log in connector.stream_ai_audit_logs(query)]
            )
            assert expected, fields
            assert read == expected, fields
