"""The ChatGPT logs in the host's camelCase shape: camel all the way down.

Every log the normalizer makes from the sandbox's records is written in the
camel style and read back: no snake_case key may remain outside the parts
kept as received (``raw`` and the platform payload ``metadata.details``), and
the log read back must equal the one written.
"""

from __future__ import annotations

import datetime as dt

import pytest

from aiaudit_chatgpt.normalize import Normalizer
from aiaudit_chatgpt.sandbox.audit import AuditLogData
from aiaudit_chatgpt.sandbox.compliance_data import ComplianceData
from aiaudit_chatgpt.sandbox.org import Organization
from connector_core.models import AIAuditLog, AutomationEvent, FileReference
from connector_core.serialization import camel_key, snake_key, structure, unstructure
from connector_core.streams import QuarantinedRecord


@pytest.fixture(scope="module")
def logs() -> list[AIAuditLog]:
    org = Organization.generate(
        seed=7,
        events=800,
        start=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        end=dt.datetime(2025, 1, 8, tzinfo=dt.UTC),
    )
    normalizer = Normalizer(organization_id=org.org_id, workspace_id=org.workspace_id)
    produced: list[AIAuditLog] = []
    for record in AuditLogData.generate(org, events=800).iter_records():
        log = normalizer.admin_audit_log(record)
        assert not isinstance(log, QuarantinedRecord), log
        produced.append(log)
    compliance = ComplianceData.generate(org, messages=400)
    for log_file in compliance.iter_log_files():
        for record in compliance.iter_file_records(log_file.id):
            logs = normalizer.compliance_record(record, log_id=log_file.id)
            assert not isinstance(logs, QuarantinedRecord), logs
            produced.extend(logs)
    gpts, _ = compliance.gpts_page(None, 1000)
    for gpt in gpts:
        logs = normalizer.custom_gpt(gpt)
        assert not isinstance(logs, QuarantinedRecord), logs
        produced.extend(logs)
    return produced


def keys_with_underscores(value: object, path: str) -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if "_" in key:
                found.append(f"{path}.{key}")
            found.extend(keys_with_underscores(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(keys_with_underscores(item, f"{path}[{index}]"))
    return found


def metadata_keys(value: object) -> set[str]:
    """Every key in a metadata tree, outside the verbatim ``details``."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found.add(key)
            if key != "details":
                found |= metadata_keys(item)
    elif isinstance(value, list):
        for item in value:
            found |= metadata_keys(item)
    return found


def test_every_log_is_camel_case_all_the_way_down_and_round_trips(logs):
    actions = set()
    for log in logs:
        data = unstructure(log, style="camel")
        assert data["raw"] == log.raw  # evidence, as received
        details = data["metadata"].pop("details", None)
        assert details == log.metadata.get("details")
        outside = {k: v for k, v in data.items() if k != "raw"}
        assert keys_with_underscores(outside, "$") == [], log.action
        if details is not None:
            data["metadata"]["details"] = details
        assert structure(data, AIAuditLog, style="camel") == log
        actions.add(log.action)
    # The sample covers every stream and the file uploads.
    assert {"user.login", "file.uploaded", "gpt.created", "api_key.created"} <= actions


def test_every_metadata_key_the_normalizer_writes_maps_both_ways(logs):
    keys = set().union(*(metadata_keys(dict(log.metadata)) for log in logs))
    assert {"conversation_id", "file_id", "uploaded_at", "log_id"} <= keys
    for key in keys:
        camel = camel_key(key)
        assert "_" not in camel, key
        assert snake_key(camel) == key


def test_files_are_file_references_in_the_camel_shape(logs):
    uploads = [log for log in logs if log.action == "file.uploaded"]
    assert uploads
    for log in uploads:
        metadata = unstructure(log, style="camel")["metadata"]
        assert {"conversationId", "fileId", "fileName"} <= set(metadata)
        for entry in metadata["files"]:
            assert {"fileId", "fileName", "fileType", "uploadedAt"} <= set(entry)
            # The same JSON a host's `FileReference` is.
            reference = structure(entry, FileReference, style="camel")
            assert reference.file_id == entry["fileId"]
            assert unstructure(reference, style="camel").items() <= entry.items()


def test_custom_gpt_automations_round_trip():
    org = Organization.generate(
        seed=3,
        events=50,
        start=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        end=dt.datetime(2025, 1, 3, tzinfo=dt.UTC),
    )
    normalizer = Normalizer(organization_id=org.org_id, workspace_id=org.workspace_id)
    gpts, _ = ComplianceData.generate(org, messages=20).gpts_page(None, 1000)
    assert gpts
    for gpt in gpts:
        automation = normalizer.automation(gpt)
        assert isinstance(automation, AutomationEvent)
        data = unstructure(automation, style="camel")
        assert structure(data, AutomationEvent, style="camel") == automation
