"""The history the ChatGPT connector tests' sandbox holds.

A module of its own, not the conftest: ``from conftest import`` finds
whichever test folder's conftest comes first on the path.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiaudit_chatgpt.normalize import Normalizer
from connector_core.models import AIAuditLogQuery
from connector_core.paging import matches
from connector_core.streams import QuarantinedRecord


END = datetime(2025, 3, 1, tzinfo=UTC)
DAYS = 21
WHOLE = AIAuditLogQuery(
    start_date=END - timedelta(days=DAYS), end_date=END - timedelta(seconds=1)
)
"""Exactly the sandbox's history."""

ADMIN, TENANT = "admin_audit_logs", "admin_tenant_audit_logs"
FILES, GPTS = "compliance_logs", "custom_gpts"


def stream_truth(sandbox, stream, query=WHOLE):
    """The ids of every event of *stream* the sandbox holds within *query*."""
    org, state = sandbox.state.org, sandbox.state
    normalizer = Normalizer(organization_id=org.org_id, workspace_id=org.workspace_id)
    if stream in {ADMIN, TENANT}:
        records = state.audit.iter_records(tenant_only=stream == TENANT)
        produced = [normalizer.admin_audit_log(r) for r in records]
    elif stream == FILES:
        compliance = state.compliance
        produced = [
            normalizer.compliance_record(record, log_id=log_file.id)
            for log_file in compliance.iter_log_files()
            for record in compliance.iter_file_records(log_file.id)
        ]
    else:
        produced = [normalizer.custom_gpt(state.compliance.gpt(g)) for g in org.gpts]
    flat = [
        log
        for result in produced
        for log in (result if isinstance(result, list) else [result])
    ]
    return {
        log.id
        for log in flat
        if not isinstance(log, QuarantinedRecord) and matches(query, log)
    }
