"""The ChatGPT connector passes down to its APIs only what they can express
(exact event types, actor ids), so a query with a glob of actions or a user
given by email returns exactly what the core's filter matches in a full
read, as a store would."""

from __future__ import annotations

import attrs
from chatgpt_history import WHOLE

from connector_core import LogFilter


async def test_globs_and_emails_return_what_the_filter_matches(connector):
    history = [log async for log in connector.stream_ai_audit_logs(WHOLE)]
    admin = next(log for log in history if log.user_email and log.raw.get("actor"))
    compliance_action = next(
        log.action for log in history if log.action.startswith("file.")
    )
    queries = [
        {"event_types": ("user.*",)},
        {"event_types": ("file.*", "conversation.?essage")},
        {"user_ids": (admin.user_email.upper(),)},
        {"event_types": ("*",), "user_ids": (admin.user_email.title(),)},
        {
            "event_types": (admin.action, compliance_action),
            "user_ids": (admin.user_id,),
        },
    ]
    for fields in queries:
        query = attrs.evolve(WHOLE, **fields)
        where = LogFilter.from_query(query)
        expected = sorted(log.id for log in history if where.matches(log))
        read = sorted([log.id async for log in connector.stream_ai_audit_logs(query)])
        assert expected, fields
        assert read == expected, fields
