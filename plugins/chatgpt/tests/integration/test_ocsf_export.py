"""The ChatGPT connector's logs export to valid OCSF.

The core's own export tests use platform-neutral logs; this file takes the
ChatGPT plugin's real output (its normalizer over its sandbox's generated
admin audit log, compliance export and GPT listing) through the export and
validates every event against the OCSF schema with the validator the core
offers every plugin (:mod:`connector_core.testing.ocsf`). It uses nothing
but the plugin, the core and pytest, so it can live with the plugin.
"""

from __future__ import annotations

import datetime as dt

from aiaudit_chatgpt.normalize import Normalizer
from aiaudit_chatgpt.sandbox.audit import AuditLogData
from aiaudit_chatgpt.sandbox.compliance_data import ComplianceData
from aiaudit_chatgpt.sandbox.org import Organization
from connector_core.export import to_ocsf
from connector_core.serialization import unstructure
from connector_core.streams import QuarantinedRecord
from connector_core.testing.ocsf import OCSFSchemaValidator, bundled_schema


def test_every_sandbox_log_is_valid_ocsf():
    """The ChatGPT connector's real output, through the export, end to end."""
    org = Organization.generate(
        seed=3,
        events=600,
        start=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        end=dt.datetime(2025, 1, 8, tzinfo=dt.UTC),
    )
    normalizer = Normalizer(organization_id=org.org_id, workspace_id=org.workspace_id)
    logs = []
    for record in AuditLogData.generate(org, events=600).iter_records():
        log = normalizer.admin_audit_log(record)
        assert not isinstance(log, QuarantinedRecord)
        logs.append(log)
    compliance = ComplianceData.generate(org, messages=200)
    for log_file in compliance.iter_log_files():
        for record in compliance.iter_file_records(log_file.id):
            produced = normalizer.compliance_record(record, log_id=log_file.id)
            assert not isinstance(produced, QuarantinedRecord)
            logs.extend(produced)
    gpts, _ = compliance.gpts_page(None, 1000)
    for gpt in gpts:
        produced = normalizer.custom_gpt(gpt)
        assert not isinstance(produced, QuarantinedRecord)
        logs.extend(produced)

    validator = OCSFSchemaValidator(bundled_schema())
    classes = set()
    for log in logs:
        event = to_ocsf(log)
        assert validator.problems(event) == [], log.action
        assert event["unmapped"]["raw"] == unstructure(dict(log.raw))
        classes.add(event["class_uid"])
    assert {3002, 3004, 3007, 6003, 6006} <= classes
