"""OCSF export: every mapping branch gives an event the schema accepts.

Events are judged by the OCSF schema itself, through the validator the core
offers plugins (:mod:`connector_core.testing.ocsf`: ocsf-json-schema's JSON
Schema of the class, validated by jsonschema), over the compiled schema of
the version the export declares. So a test here fails when the export
drifts from the schema rather than from our own idea of it. The logs are
platform-neutral: model fields and the neutral metadata keys, as any
plugin's normalizer fills them; the ChatGPT plugin's real output is checked
in the ChatGPT plugin's ``tests/integration/test_ocsf_export.py``.

``validate_ocsf``, the light check of requirements given as data, is tested
here too, against ``tests/contracts/ocsf-classes.json`` (restated from the
same compiled schema).
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import orjson
import pytest
from contract_data import OCSF_CLASSES, contract
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector_core.export import OCSF_VERSION, ocsf_class_for, to_ocsf, validate_ocsf
from connector_core.export.ocsf import UNKNOWN_ENDPOINT
from connector_core.models import (
    AIActivityType,
    AIAuditLog,
    AIRiskIndicator,
    AIRiskType,
    Coordinates,
    FileReference,
    GeoLocation,
    RiskSeverity,
)
from connector_core.serialization import unstructure
from connector_core.testing.ocsf import (
    SCHEMA_FILE,
    OCSFSchemaValidator,
    OCSFValidatorUnavailable,
    assert_valid_ocsf,
    bundled_schema,
    ocsf_problems,
)


def _load_reference() -> dict[str, Any]:
    return contract(OCSF_CLASSES)


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return _load_reference()


T0 = dt.datetime(2025, 1, 1, 9, 30, 0, 123456, tzinfo=dt.UTC)
T0_MS = 1_735_723_800_123


def log_of(action: str, activity: AIActivityType, **changes: Any) -> AIAuditLog:
    fields: dict[str, Any] = {
        "id": f"evt-{action}",
        "platform": "toy",
        "timestamp": T0,
        "user_id": "user-ada",
        "user_email": "ada@example.com",
        "organization_id": "org-1",
        "activity_type": activity,
        "action": action,
        "native_type": action,
        "metadata": {"actor_type": "user"},
        "raw": {"id": f"evt-{action}", "type": action, "effective_at": 1_735_723_800},
    }
    fields.update(changes)
    return AIAuditLog(**fields)


SESSION = {
    "ip_address": "203.0.113.7",
    "user_agent": "Mozilla/5.0",
    "location": GeoLocation(
        country="US",
        region="California",
        city="San Francisco",
        coordinates=Coordinates(latitude=37.7749, longitude=-122.4194),
        timezone="America/Los_Angeles",
    ),
}
FAILED_SIGN_IN = AIRiskIndicator(
    type=AIRiskType.SECURITY_EVENT,
    severity=RiskSeverity.LOW,
    description="Failed sign-in",
    confidence=60,
    evidence=("invalid_password",),
)
UPLOAD_RISK = AIRiskIndicator(
    type=AIRiskType.SENSITIVE_DATA,
    severity=RiskSeverity.MEDIUM,
    description="File uploaded",
    confidence=80,
    evidence=("q3-forecast.xlsx",),
)
A = AIActivityType

# (log, class name, class_uid, activity_id, status_id)
CASES: dict[str, tuple[AIAuditLog, str, int, int, int]] = {
    "login": (
        log_of(
            "user.login",
            A.LOGIN,
            native_type="login.succeeded",
            metadata={
                "actor_type": "user",
                "resource_type": "session",
                "original_time": "1735723800",
            },
            **SESSION,
        ),
        "Authentication",
        3002,
        1,
        1,
    ),
    "login failed": (
        log_of(
            "user.login.failed",
            A.LOGIN,
            native_type="AUTH_LOG:LOGIN_FAILED",
            metadata={
                "actor_type": "user",
                "error_message": "invalid_password",
                "details": {"failure_reason": "invalid_password"},
            },
            risk_indicators=(FAILED_SIGN_IN,),
            ip_address="198.51.100.23",
        ),
        "Authentication",
        3002,
        1,
        2,
    ),
    "logout": (log_of("user.logout", A.LOGOUT), "Authentication", 3002, 2, 1),
    "logout failed": (
        log_of("user.logout.failed", A.LOGOUT),
        "Authentication",
        3002,
        2,
        2,
    ),
    "api key created": (
        log_of(
            "api_key.created",
            A.API_KEY_CREATED,
            metadata={
                "actor_type": "user",
                "resource_type": "api_key",
                "resource_id": "key_abc",
                "details": {"id": "key_abc", "data": {"scopes": ["api.model.request"]}},
            },
            **SESSION,
        ),
        "Entity Management",
        3004,
        1,
        1,
    ),
    "api key deleted by a service account": (
        log_of(
            "api_key.deleted",
            A.API_KEY_DELETED,
            user_id="svc_acct_1",
            user_email=None,
            metadata={
                "actor_type": "service_account",
                "api_key_id": "key_track",
                "resource_type": "api_key",
                "resource_id": "key_abc",
            },
        ),
        "Entity Management",
        3004,
        4,
        1,
    ),
    "project created": (
        log_of(
            "project.created",
            A.SETTINGS_CHANGE,
            metadata={
                "actor_type": "user",
                "resource_type": "project",
                "resource_id": "proj_1",
                "resource_name": "Forecasting",
                "details": {"id": "proj_1", "data": {"name": "Forecasting"}},
            },
        ),
        "Entity Management",
        3004,
        1,
        1,
    ),
    "project archived": (
        log_of(
            "project.archived",
            A.SETTINGS_CHANGE,
            metadata={"resource_type": "project", "resource_id": "proj_1"},
        ),
        "Entity Management",
        3004,
        11,
        1,
    ),
    "workspace setting updated": (
        log_of(
            "settings.updated",
            A.SETTINGS_CHANGE,
            native_type="AUDIT_LOG:WORKSPACE_SETTING_UPDATED",
        ),
        "Entity Management",
        3004,
        3,
        1,
    ),
    "connector enabled": (
        log_of("integration.enabled", A.INTEGRATION_CREATED),
        "Entity Management",
        3004,
        8,
        1,
    ),
    "tenant admin key": (
        log_of(
            "tenant.admin_api_key.created",
            A.API_KEY_CREATED,
            metadata={"resource_type": "admin_api_key", "resource_id": "key_t"},
        ),
        "Entity Management",
        3004,
        1,
        1,
    ),
    "user added": (
        log_of(
            "user.added",
            A.SETTINGS_CHANGE,
            metadata={
                "actor_type": "user",
                "resource_type": "user",
                "resource_id": "user-new",
                "details": {"id": "user-new", "data": {"role": "member"}},
            },
        ),
        "User Management",
        3007,
        1,
        1,
    ),
    "user removed": (
        log_of(
            "user.removed",
            A.SETTINGS_CHANGE,
            metadata={"resource_type": "user", "resource_id": "user-gone"},
        ),
        "User Management",
        3007,
        3,
        1,
    ),
    "user invited": (
        log_of(
            "user.invited",
            A.SETTINGS_CHANGE,
            metadata={
                "resource_type": "invite",
                "resource_id": "invite-1",
                "target_user_email": "new@example.com",
                "details": {
                    "id": "invite-1",
                    "data": {"email": "new@example.com", "role": "member"},
                },
            },
        ),
        "User Management",
        3007,
        1,
        1,
    ),
    "invite accepted": (
        log_of(
            "invite.accepted",
            A.SETTINGS_CHANGE,
            metadata={"resource_type": "invite", "resource_id": "invite-1"},
        ),
        "User Management",
        3007,
        4,
        1,
    ),
    "role changed": (
        log_of("user.role.updated", A.SETTINGS_CHANGE),
        "User Management",
        3007,
        16,
        1,
    ),
    "group created": (
        log_of(
            "group.created",
            A.SETTINGS_CHANGE,
            metadata={
                "resource_type": "group",
                "resource_id": "group-1",
                "group_name": "Finance",
                "details": {"id": "group-1", "data": {"group_name": "Finance"}},
            },
        ),
        "Group Management",
        3006,
        6,
        1,
    ),
    "group member added": (
        log_of(
            "tenant.group.member.added",
            A.SETTINGS_CHANGE,
            metadata={
                "resource_type": "group",
                "resource_id": "group-1",
                "target_user_id": "user-bob",
                "details": {"user_id": "user-bob"},
            },
        ),
        "Group Management",
        3006,
        3,
        1,
    ),
    "file uploaded": (
        log_of(
            "file.uploaded",
            A.FILE_UPLOAD,
            id="evt-9:file:file-a",
            native_type="CONVERSATION_MESSAGE",
            metadata={
                "actor_type": "user",
                "conversation_id": "conv-1",
                "file_id": "file-a",
                "file_name": "q3-forecast.xlsx",
                "files": [
                    {
                        "file_id": "file-a",
                        "file_name": "q3-forecast.xlsx",
                        "file_type": "xlsx",
                        "file_size": 48213,
                        "uploaded_at": "2025-01-01T09:29:58Z",
                        "is_sensitive": None,
                    }
                ],
            },
            risk_indicators=(UPLOAD_RISK,),
        ),
        "File Hosting Activity",
        6006,
        1,
        1,
    ),
    "conversation message": (
        log_of(
            "conversation.message",
            A.CONVERSATION,
            native_type="CONVERSATION_MESSAGE",
            metadata={
                "actor_type": "user",
                "conversation_id": "conv-1",
                "conversation_title": "Q3 planning",
                "message_id": "msg-1",
                "client_type": "web",
            },
            raw={"event_id": "evt-9", "type": "CONVERSATION_MESSAGE", "text": "hi"},
        ),
        "API Activity",
        6003,
        1,
        1,
    ),
    "model response": (
        log_of(
            "conversation.response",
            A.MODEL_USAGE,
            metadata={"author_role": "assistant", "model": "gpt-4o"},
        ),
        "API Activity",
        6003,
        1,
        1,
    ),
    "gpt created": (
        log_of(
            "gpt.created",
            A.INTEGRATION_CREATED,
            id="gpt.created:g-1",
            native_type="compliance.workspace.gpt",
            metadata={
                "actor_type": "user",
                "assistant_id": "g-1",
                "assistant_name": "Helper",
                "assistant_type": "gpt",
            },
        ),
        "API Activity",
        6003,
        1,
        1,
    ),
    "gpt sharing narrowed": (
        log_of("share.revoked", A.SETTINGS_CHANGE, metadata={"assistant_id": "g-1"}),
        "API Activity",
        6003,
        4,
        1,
    ),
    "pass-through compliance type": (
        log_of(
            "codex_log.prompt_sent",
            A.MODEL_USAGE,
            native_type="CODEX_LOG:PROMPT_SENT",
        ),
        "API Activity",
        6003,
        99,
        1,
    ),
    "pass-through admin type": (
        log_of("widget.frobnicated", A.SETTINGS_CHANGE, metadata={}),
        "API Activity",
        6003,
        99,
        1,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_branch_is_valid_ocsf(case, reference):
    log, class_name, class_uid, activity_id, status_id = CASES[case]
    event = to_ocsf(log)
    assert ocsf_problems(event) == []
    assert validate_ocsf(event, reference) == []  # the light check agrees
    assert (event["class_name"], event["class_uid"]) == (class_name, class_uid)
    assert ocsf_class_for(log) == (class_name, class_uid)
    assert event["activity_id"] == activity_id
    assert event["status_id"] == status_id
    assert event["type_uid"] == class_uid * 100 + activity_id
    assert event["time"] == T0_MS
    assert event["time_dt"] == "2025-01-01T09:30:00.123456Z"
    assert event["metadata"]["uid"] == log.id
    assert event["metadata"]["version"] == OCSF_VERSION
    assert event["metadata"]["log_name"] == "toy"
    assert event["metadata"]["event_code"] == log.native_type
    assert event["metadata"]["product"]["vendor_name"] == "aiaudit"
    assert event["actor"]["user"]["uid"] == log.user_id
    assert event["unmapped"]["raw"] == log.raw
    assert event["unmapped"]["action"] == log.action
    assert event["unmapped"]["activity_type"] == log.activity_type.value
    assert orjson.loads(orjson.dumps(event)) == event


def test_activity_names_are_the_schemas():
    classes = {c["uid"]: c for c in bundled_schema()["classes"].values()}
    for log, *_ in CASES.values():
        event = to_ocsf(log)
        attributes = classes[event["class_uid"]]["attributes"]
        captions = attributes["activity_id"]["enum"]
        if event["activity_id"] == 99:
            # "Other": the source's own name, as OCSF asks.
            assert event["activity_name"] == log.action
        else:
            caption = captions[str(event["activity_id"])]["caption"]
            assert event["activity_name"] == caption


def test_every_class_used_is_current():
    """No deprecated class (Account Change) is ever produced."""
    used = {ocsf_class_for(log)[1] for log, *_ in CASES.values()}
    assert used == {3002, 3004, 3006, 3007, 6003, 6006}
    classes = bundled_schema()["classes"].values()
    assert {c["uid"] for c in classes} >= used
    for spec in classes:
        if spec["uid"] in used:
            assert "@deprecated" not in spec, spec["caption"]
    assert "@deprecated" in bundled_schema()["classes"]["account_change"]


def test_version_is_the_schema_release(reference):
    for source in (bundled_schema()["source"], reference["source"]):
        assert source["version"].removesuffix("-dev") == OCSF_VERSION
    assert bundled_schema()["version"] == bundled_schema()["source"]["version"]


NAMES = {"toy": "Toy Platform", "claude": "Claude"}
"""The display names a CLI takes from the registry's connector classes."""


def test_sign_in_names_the_user_service_and_source():
    event = to_ocsf(CASES["login"][0], display_names=NAMES)
    assert event["user"] == {
        "uid": "user-ada",
        "email_addr": "ada@example.com",
        "type_id": 1,
        "type": "User",
    }
    assert event["service"] == {"name": "Toy Platform"}
    assert event["src_endpoint"] == {
        "ip": "203.0.113.7",
        "location": {
            "city": "San Francisco",
            "country": "US",
            "region": "California",
            "lat": 37.7749,
            "long": -122.4194,
        },
    }
    assert event["http_request"] == {"user_agent": "Mozilla/5.0"}
    assert event["unmapped"]["location_timezone"] == "America/Los_Angeles"
    assert event["metadata"]["original_time"] == "1735723800"
    assert "is_mfa" not in event  # unknown, so not claimed either way


def test_failed_sign_in_carries_the_reason_and_severity():
    event = to_ocsf(CASES["login failed"][0])
    assert event["status"] == "Failure"
    assert event["status_detail"] == "invalid_password"
    assert event["severity_id"] == 2
    assert event["severity"] == "Low"
    assert event["unmapped"]["risk_indicators"][0]["evidence"] == ["invalid_password"]


def test_mfa_is_reported_only_when_known():
    log = log_of("user.login", A.LOGIN, metadata={"is_mfa": True}, ip_address="::1")
    assert to_ocsf(log)["is_mfa"] is True


def test_sign_in_without_source_has_no_endpoint():
    event = to_ocsf(CASES["logout"][0])
    assert "src_endpoint" not in event
    assert "http_request" not in event


def test_user_management_names_the_target_not_the_admin():
    added = to_ocsf(CASES["user added"][0])
    assert added["user"] == {"uid": "user-new"}
    assert added["actor"]["user"]["uid"] == "user-ada"
    invited = to_ocsf(CASES["user invited"][0])
    assert invited["user"] == {
        "email_addr": "new@example.com",
        "name": "new@example.com",
    }
    # The target is unknown: the actor is the best the log can say.
    role = to_ocsf(CASES["role changed"][0])
    assert role["user"]["uid"] == "user-ada"


def test_entity_management_describes_the_entity():
    created = to_ocsf(CASES["api key created"][0])
    assert created["entity"] == {"uid": "key_abc", "type": "api_key"}
    project = to_ocsf(CASES["project created"][0])
    assert project["entity"] == {
        "uid": "proj_1",
        "name": "Forecasting",
        "type": "project",
    }
    setting = to_ocsf(CASES["workspace setting updated"][0])
    assert setting["entity"] == {"uid": "org-1", "type": "settings"}
    deleted = to_ocsf(CASES["api key deleted by a service account"][0])
    assert deleted["actor"]["user"] == {
        "uid": "svc_acct_1",
        "type_id": 4,
        "type": "Service",
        # user.credential_uid is deprecated since OCSF 1.6.0.
        "programmatic_credentials": [{"uid": "key_track", "type": "API Key"}],
    }


def test_group_management_names_group_and_member():
    created = to_ocsf(CASES["group created"][0])
    assert created["group"] == {"uid": "group-1", "name": "Finance"}
    added = to_ocsf(CASES["group member added"][0])
    # Group Management's user is deprecated in 1.9.0 for users.
    assert added["users"] == [{"uid": "user-bob"}]
    assert "user" not in added


def test_file_upload_describes_the_file():
    event = to_ocsf(CASES["file uploaded"][0])
    assert event["file"] == {
        "name": "q3-forecast.xlsx",
        "type_id": 1,
        "type": "Regular File",
        "uid": "file-a",
        "size": 48213,
        "ext": "xlsx",
    }
    assert event["severity_id"] == 3
    assert event["src_endpoint"] == UNKNOWN_ENDPOINT
    assert event["unmapped"]["metadata"]["files"][0]["file_name"] == "q3-forecast.xlsx"


def test_file_reference_objects_in_metadata_are_read_too():
    reference_obj = FileReference(
        file_id="file-z", file_name="notes.txt", file_type="txt", uploaded_at=T0
    )
    log = log_of("file.uploaded", A.FILE_UPLOAD, metadata={"files": [reference_obj]})
    event = to_ocsf(log)
    assert event["file"]["name"] == "notes.txt"
    assert event["unmapped"]["metadata"]["files"][0]["uploaded_at"] == (
        "2025-01-01T09:30:00.123456Z"
    )


def test_api_activity_names_the_operation_and_resources():
    event = to_ocsf(CASES["conversation message"][0], display_names=NAMES)
    assert event["api"] == {
        "operation": "conversation.message",
        "service": {"name": "Toy Platform"},
    }
    assert event["resources"] == [
        {"uid": "conv-1", "type": "conversation", "name": "Q3 planning"}
    ]
    assert event["src_endpoint"] == UNKNOWN_ENDPOINT
    assert event["unmapped"]["raw"]["text"] == "hi"
    response = to_ocsf(CASES["model response"][0])
    assert response["unmapped"]["metadata"]["model"] == "gpt-4o"
    gpt = to_ocsf(CASES["gpt created"][0])
    assert gpt["resources"] == [{"uid": "g-1", "type": "gpt", "name": "Helper"}]
    narrowed = to_ocsf(CASES["gpt sharing narrowed"][0])
    assert narrowed["resources"] == [{"uid": "g-1", "type": "assistant"}]


def test_pass_through_keeps_its_own_name_as_activity():
    event = to_ocsf(CASES["pass-through compliance type"][0])
    assert event["activity_id"] == 99
    assert event["activity_name"] == "codex_log.prompt_sent"
    assert event["type_uid"] == 600399


@pytest.mark.parametrize(
    ("severities", "expected"),
    [
        ((), 1),
        ((RiskSeverity.LOW,), 2),
        ((RiskSeverity.MEDIUM, RiskSeverity.LOW), 3),
        ((RiskSeverity.LOW, RiskSeverity.HIGH, RiskSeverity.MEDIUM), 4),
        ((RiskSeverity.CRITICAL,), 5),
    ],
)
def test_severity_is_the_highest_risk(severities, expected):
    risks = tuple(
        AIRiskIndicator(
            type=AIRiskType.POLICY_VIOLATION,
            severity=severity,
            description="x",
            confidence=50,
        )
        for severity in severities
    )
    event = to_ocsf(
        log_of("conversation.message", A.CONVERSATION, risk_indicators=risks)
    )
    assert event["severity_id"] == expected


def test_time_is_epoch_milliseconds_even_before_1970():
    early = log_of(
        "user.login",
        A.LOGIN,
        timestamp=dt.datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=dt.UTC),
    )
    assert to_ocsf(early)["time"] == -1
    zoned = log_of(
        "user.login",
        A.LOGIN,
        timestamp=dt.datetime(
            2025, 1, 1, 10, 30, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1))
        ),
    )
    assert to_ocsf(zoned)["time"] == T0_MS


def test_product_can_name_the_host():
    event = to_ocsf(
        CASES["logout"][0], product_name="SecOps Hub", product_version="4.2"
    )
    assert event["metadata"]["product"] == {
        "name": "SecOps Hub",
        "vendor_name": "aiaudit",
        "version": "4.2",
    }


def test_other_platforms_sign_ins_are_authentication(reference):
    log = log_of("session.start", A.LOGIN, platform="claude", ip_address="192.0.2.1")
    event = to_ocsf(log, display_names=NAMES)
    assert (event["class_uid"], event["activity_id"]) == (3002, 1)
    assert event["service"] == {"name": "Claude"}
    # Without the registry's names, the platform's id stands in.
    assert to_ocsf(log)["service"] == {"name": "Claude"}
    other = log_of("session.start", A.LOGIN, platform="my_ai", ip_address="::1")
    assert to_ocsf(other, display_names=NAMES)["service"] == {"name": "My Ai"}
    assert ocsf_problems(event) == []
    assert validate_ocsf(event, reference) == []


# --------------------------------------------------------------------------
# The light validator (requirements as data) finds what is wrong
# --------------------------------------------------------------------------


def _valid_api_event() -> dict[str, Any]:
    return to_ocsf(CASES["conversation message"][0])


def test_validator_reports_missing_class_attributes(reference):
    event = _valid_api_event()
    del event["api"]
    del event["severity_id"]
    problems = validate_ocsf(event, reference)
    assert "API Activity (6003): missing required attribute 'api'" in problems
    assert "API Activity (6003): missing required attribute 'severity_id'" in problems


def test_validator_reports_missing_object_attributes(reference):
    event = _valid_api_event()
    event["api"] = {"service": {"name": "Toy Platform"}}
    del event["metadata"]["product"]
    problems = validate_ocsf(event, reference)
    assert "api: missing required attribute 'operation'" in problems
    assert "metadata: missing required attribute 'product'" in problems


def test_validator_checks_file_and_user_objects(reference):
    event = to_ocsf(CASES["file uploaded"][0])
    event["file"] = {"uid": "file-a"}
    event["actor"] = {"user": {"email_addr": "ada@example.com"}}
    problems = validate_ocsf(event, reference)
    assert "file: missing required attribute 'name'" in problems
    assert "file: missing required attribute 'type_id'" in problems
    assert "actor.user: needs at least one of ['account', 'name', 'uid']" in problems


def test_validator_checks_class_constraints(reference):
    event = to_ocsf(CASES["login"][0])
    del event["service"]
    assert validate_ocsf(event, reference) == [
        "Authentication (3002): needs at least one of ['dst_endpoint', 'service']"
    ]


def test_validator_rejects_an_empty_endpoint(reference):
    event = _valid_api_event()
    event["src_endpoint"] = {}
    problems = validate_ocsf(event, reference)
    assert len(problems) == 1
    assert problems[0].startswith("src_endpoint: needs at least one of")


def test_validator_checks_uid_arithmetic_and_names(reference):
    event = _valid_api_event()
    event["type_uid"] = 600300
    event["activity_name"] = "Read"
    event["category_uid"] = 3
    event["class_name"] = "API"
    problems = validate_ocsf(event, reference)
    assert (
        "type_uid 600300 should be 600301 (class_uid * 100 + activity_id)" in problems
    )
    assert (
        "API Activity (6003): activity_name 'Read' should be 'Create' for activity_id 1"
        in problems
    )
    assert "API Activity (6003): category_uid 3 should be 6" in problems
    assert "API Activity (6003): class_name 'API' should be 'API Activity'" in problems


def test_validator_rejects_unknown_activity_and_class(reference):
    event = _valid_api_event()
    event["activity_id"] = 7
    event["type_uid"] = 600307
    event["activity_name"] = "Launch"
    assert validate_ocsf(event, reference) == [
        "API Activity (6003): activity_id 7 is not defined"
    ]
    event["class_uid"] = 1234
    event["type_uid"] = 123407
    assert "class_uid 1234 is not a known class" in validate_ocsf(event, reference)


def test_validator_rejects_deprecated_classes(reference):
    event = to_ocsf(CASES["user added"][0])
    event.update(class_uid=3001, class_name="Account Change", type_uid=300101)
    deprecation = (
        "Account Change (3001): class is deprecated. "
        "Use the User Management class instead."
    )
    assert validate_ocsf(event, reference) == [deprecation]


def test_validator_wants_integer_milliseconds(reference):
    event = _valid_api_event()
    event["time"] = 1_735_723_800.123
    assert validate_ocsf(event, reference) == [
        "time must be integer epoch milliseconds, got 1735723800.123"
    ]


def test_validator_leaves_unmapped_alone(reference):
    event = _valid_api_event()
    event["unmapped"]["raw"] = {"user": {}, "file": {}, "src_endpoint": {}}
    assert validate_ocsf(event, reference) == []


def test_validator_without_ids(reference):
    problems = validate_ocsf({}, reference)
    assert "class_uid must be an integer, got None" in problems
    assert "activity_id must be an integer, got None" in problems


# --------------------------------------------------------------------------
# Whatever the connector produces, and whatever a log may hold
# --------------------------------------------------------------------------


_IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
_TEXT = st.text(max_size=16)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(_TEXT, children, max_size=3)
    ),
    max_leaves=8,
)
_KNOWN_ACTIONS = sorted(
    {log.action for log, *_ in CASES.values()}
    | {"tenant.user.looked_up", "tenant.ads_account.onboarding.redemption"}
)
_ACTIONS = st.one_of(
    st.sampled_from(_KNOWN_ACTIONS),
    st.lists(_IDENT, min_size=1, max_size=4).map(".".join),
    st.lists(_IDENT, min_size=1, max_size=3).map(lambda p: "tenant." + ".".join(p)),
)
_FILE = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "file_id": _TEXT,
            "file_name": _TEXT,
            "file_type": _TEXT,
            "file_size": st.none() | st.integers(0, 10**12),
        },
    ),
    st.builds(
        FileReference,
        file_id=_TEXT,
        file_name=_TEXT,
        file_type=_TEXT,
        file_size=st.none() | st.integers(0, 10**9),
        uploaded_at=st.datetimes(timezones=st.just(dt.UTC)),
    ),
    _JSON,
)
_DETAILS = st.dictionaries(
    st.sampled_from(
        [
            "id",
            "name",
            "email",
            "user_id",
            "group_name",
            "error_code",
            "error_message",
            "failure_reason",
            "is_mfa",
            "data",
            "changes_requested",
        ]
    ),
    _JSON | st.fixed_dictionaries({}, optional={"email": _TEXT, "name": _TEXT}),
    max_size=5,
)
_METADATA = st.fixed_dictionaries(
    {},
    optional={
        "actor_type": st.sampled_from(["user", "system", "service_account", "bot"]),
        "resource_type": _IDENT | _JSON,
        "resource_id": _TEXT | _JSON,
        "api_key_id": _TEXT,
        "target_user_email": _TEXT,
        "files": st.lists(_FILE, max_size=2),
        "file_name": _TEXT | _JSON,
        "file_id": _TEXT,
        "details": _DETAILS | _JSON,
        "conversation_id": _TEXT,
        "gpt_id": _TEXT,
        "project_name": _TEXT,
        "model": _TEXT,
        "is_mfa": _JSON,
        "original_time": _TEXT | _JSON,
        "resource_name": _TEXT | _JSON,
        "group_id": _TEXT | _JSON,
        "group_name": _TEXT | _JSON,
        "target_user_id": _TEXT | _JSON,
        "error_code": _TEXT | _JSON,
        "error_message": _TEXT | _JSON,
        "assistant_id": _TEXT,
        "assistant_name": _TEXT | _JSON,
        "assistant_type": _TEXT | _JSON,
        "conversation_title": _TEXT | _JSON,
    },
)
_LOGS = st.builds(
    AIAuditLog,
    id=_TEXT,
    platform=_IDENT,
    timestamp=st.datetimes(
        # hypothesis takes naive bounds and attaches the zones itself
        min_value=dt.datetime(1990, 1, 1),  # noqa: DTZ001
        max_value=dt.datetime(2100, 1, 1),  # noqa: DTZ001
        timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-7))]),
    ),
    user_id=_TEXT,
    user_email=st.none() | _TEXT,
    organization_id=_TEXT,
    activity_type=st.sampled_from(AIActivityType),
    action=_ACTIONS,
    metadata=_METADATA,
    # Platforms send what they like: "unknown", proxy chains, garbage.
    ip_address=st.none() | st.ip_addresses().map(str) | _TEXT,
    user_agent=st.none() | _TEXT,
    location=st.none()
    | st.builds(
        GeoLocation,
        country=st.none() | _TEXT,
        region=st.none() | _TEXT,
        city=st.none() | _TEXT,
        coordinates=st.none()
        | st.builds(
            Coordinates,
            latitude=st.floats(-90, 90),
            longitude=st.floats(-180, 180),
        ),
        timezone=st.none() | _TEXT,
    ),
    risk_indicators=st.lists(
        st.builds(
            AIRiskIndicator,
            type=st.sampled_from(AIRiskType),
            severity=st.sampled_from(RiskSeverity),
            description=_TEXT,
            confidence=st.floats(0, 100),
        ),
        max_size=3,
    ).map(tuple),
    native_type=_TEXT,
    raw=st.dictionaries(_TEXT, _JSON, max_size=4),
)


_VALIDATOR = OCSFSchemaValidator(bundled_schema())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=_LOGS)
def test_any_log_exports_to_valid_ocsf(log):
    event = to_ocsf(log)
    assert _VALIDATOR.problems(event) == []
    assert validate_ocsf(event, _load_reference()) == []
    assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]
    assert ocsf_class_for(log) == (event["class_name"], event["class_uid"])
    assert event["time"] == (
        (log.timestamp - dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
        // dt.timedelta(milliseconds=1)
    )
    assert event["unmapped"]["raw"] == unstructure(dict(log.raw))
    orjson.dumps(event)  # JSON-ready, whatever the metadata held


# --------------------------------------------------------------------------
# What the schema's types refuse stays in unmapped
# --------------------------------------------------------------------------


def test_an_address_that_is_not_an_email_is_kept_in_unmapped():
    log = log_of("user.logout", A.LOGOUT, user_email="ada at example")
    event = to_ocsf(log)
    assert ocsf_problems(event) == []
    assert "email_addr" not in event["actor"]["user"]
    assert event["unmapped"]["user_email"] == "ada at example"
    # A target named by such an address keeps it as the user's name.
    invited = to_ocsf(
        log_of("user.invited", A.SETTINGS_CHANGE, metadata={"target_user_email": "x"})
    )
    assert invited["user"] == {"name": "x"}
    assert ocsf_problems(invited) == []


@pytest.mark.parametrize("ip", ["unknown", "203.0.113.7, 10.0.0.1", "300.1.1.1"])
def test_an_ip_that_is_not_one_is_kept_in_unmapped(ip):
    event = to_ocsf(log_of("conversation.message", A.CONVERSATION, ip_address=ip))
    assert ocsf_problems(event) == []
    assert event["src_endpoint"] == UNKNOWN_ENDPOINT
    assert event["unmapped"]["ip_address"] == ip
    sign_in = to_ocsf(log_of("user.login", A.LOGIN, ip_address=ip))
    assert "src_endpoint" not in sign_in
    assert ocsf_problems(sign_in) == []


def test_a_location_ocsf_cannot_take_is_kept_in_unmapped():
    """OCSF wants a city, country or region; coordinates alone are not one."""
    only_coordinates = GeoLocation(
        coordinates=Coordinates(latitude=1.5, longitude=2.5), timezone="UTC"
    )
    event = to_ocsf(
        log_of("user.login", A.LOGIN, ip_address="192.0.2.1", location=only_coordinates)
    )
    assert ocsf_problems(event) == []
    assert event["src_endpoint"] == {"ip": "192.0.2.1"}
    assert event["unmapped"]["location"] == {
        "country": None,
        "region": None,
        "city": None,
        "coordinates": {"latitude": 1.5, "longitude": 2.5},
        "timezone": "UTC",
    }
    assert event["unmapped"]["location_timezone"] == "UTC"
    # Without an IP there is no endpoint to carry it either.
    unplaced = to_ocsf(log_of("user.login", A.LOGIN, **{**SESSION, "ip_address": None}))
    assert "src_endpoint" not in unplaced
    assert unplaced["unmapped"]["location"]["city"] == "San Francisco"
    # Carried, it is not repeated.
    assert "location" not in to_ocsf(CASES["login"][0])["unmapped"]


def test_a_group_named_by_nothing_is_unknown():
    """Group Management requires a group, and a group must name id or name."""
    event = to_ocsf(log_of("group.created", A.SETTINGS_CHANGE, metadata={}))
    assert event["group"] == {"name": "unknown"}
    assert ocsf_problems(event) == []


# --------------------------------------------------------------------------
# The schema validator offered to plugins finds what is wrong
# --------------------------------------------------------------------------


def test_schema_validator_reports_missing_class_and_object_attributes():
    event = _valid_api_event()
    del event["api"]
    del event["severity_id"]
    del event["metadata"]["product"]
    assert ocsf_problems(event) == [
        "API Activity (6003): missing required attribute 'api'",
        "API Activity (6003): missing required attribute 'severity_id'",
        "metadata: missing required attribute 'product'",
    ]


def test_schema_validator_checks_types_patterns_and_unknown_attributes():
    event = _valid_api_event()
    event["time"] = 1_735_723_800.123
    event["src_endpoint"] = {"ip": "not an address"}
    event["actor"]["user"]["email_addr"] = "ada"
    event["actor"]["user"]["emial"] = "typo"
    event["verdict"] = "fine"
    assert ocsf_problems(event) == [
        (
            "API Activity (6003): Additional properties are not allowed "
            "('verdict' was unexpected)"
        ),
        "actor.user: Additional properties are not allowed ('emial' was unexpected)",
        "actor.user.email_addr: 'ada' is not of the form its OCSF type requires",
        "src_endpoint.ip: 'not an address' is not of the form its OCSF type requires",
        "time: 1735723800.123 is not of type 'integer'",
    ]


def test_schema_validator_checks_ids_and_their_captions():
    event = _valid_api_event()
    event["type_uid"] = 600300
    event["activity_name"] = "Read"
    event["category_uid"] = 3
    event["class_name"] = "API"
    assert ocsf_problems(event) == [
        "category_uid: 6 was expected",
        (
            "API Activity (6003): type_uid 600300 should be 600301 "
            "(class_uid * 100 + activity_id)"
        ),
        (
            "API Activity (6003): activity_name 'Read' should be 'Create' "
            "for activity_id 1"
        ),
        (
            "API Activity (6003): class_name 'API' should be 'API Activity' "
            "for class_uid 6003"
        ),
        (
            "API Activity (6003): type_name 'API Activity: Create' should be "
            "'API Activity: Unknown' for type_uid 600300"
        ),
    ]
    event = _valid_api_event()
    event.update(activity_id=7, type_uid=600307, activity_name="Launch")
    assert ocsf_problems(event) == [
        "activity_id: 7 is not one of [1, 2, 3, 4, 0, 99]",
        (
            "type_uid: 600307 is not one of "
            "[600301, 600302, 600303, 600304, 600300, 600399]"
        ),
    ]
    event = _valid_api_event()
    event["severity"] = "Low"
    assert ocsf_problems(event) == [
        (
            "API Activity (6003): severity 'Low' should be 'Informational' "
            "for severity_id 1"
        )
    ]


def test_schema_validator_checks_constraints():
    event = to_ocsf(CASES["login"][0])
    del event["service"]
    assert ocsf_problems(event) == [
        "Authentication (3002): needs at least one of ['dst_endpoint', 'service']"
    ]
    event = _valid_api_event()
    event["src_endpoint"] = {}
    [problem] = ocsf_problems(event)
    assert problem.startswith("src_endpoint: needs at least one of ['domain',")


def test_schema_validator_rejects_what_is_deprecated():
    event = to_ocsf(CASES["user added"][0])
    event.update(
        class_uid=3001,
        class_name="Account Change",
        type_uid=300101,
        type_name="Account Change: Create",
    )
    assert ocsf_problems(event) == [
        (
            "Account Change (3001): the class is deprecated since 1.9.0. "
            "Use the User Management class instead."
        )
    ]
    event = to_ocsf(CASES["group member added"][0])
    event["user"] = event.pop("users")[0]
    assert ocsf_problems(event) == [
        "user: is deprecated since 1.9.0. Use users instead."
    ]


def test_schema_validator_reads_the_declared_profiles():
    """time_dt belongs to the datetime profile: undeclared, it is unknown."""
    event = _valid_api_event()
    event["metadata"]["profiles"] = []
    assert ocsf_problems(event) == [
        (
            "API Activity (6003): Additional properties are not allowed "
            "('time_dt' was unexpected)"
        )
    ]


def test_schema_validator_leaves_unmapped_alone():
    event = _valid_api_event()
    event["unmapped"]["raw"] = {"user": {}, "file": {}, "src_endpoint": {}}
    assert ocsf_problems(event) == []


def test_schema_validator_without_a_class():
    assert ocsf_problems({}) == ["class_uid must be an integer, got None"]
    assert ocsf_problems({"class_uid": 1234}) == [
        "class_uid 1234 is not a class of this OCSF 1.9.0-dev schema"
    ]
    assert ocsf_problems([]) == ["an OCSF event is a JSON object, got list"]


def test_assert_valid_ocsf_lists_every_problem():
    assert_valid_ocsf(_valid_api_event())
    event = _valid_api_event()
    del event["api"]
    event["metadata"]["product"] = {}
    with pytest.raises(AssertionError) as info:
        assert_valid_ocsf(event)
    assert str(info.value) == (
        "not a valid OCSF event (metadata.uid 'evt-conversation.message'):\n"
        "  API Activity (6003): missing required attribute 'api'\n"
        "  metadata.product: needs at least one of ['name', 'uid']"
    )


def test_schema_validator_takes_another_compiled_schema():
    """A host holding another compiled schema passes it; here, without the
    class the event is in."""
    schema = dict(bundled_schema())
    schema["classes"] = {
        name: spec for name, spec in schema["classes"].items() if spec["uid"] != 6003
    }
    assert ocsf_problems(_valid_api_event(), schema=schema) == [
        "class_uid 6003 is not a class of this OCSF 1.9.0-dev schema"
    ]
    assert OCSFSchemaValidator(schema).version == "1.9.0-dev"


def test_without_the_tools_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ocsf_json_schema", None)
    with pytest.raises(OCSFValidatorUnavailable, match="aiaudit\\[testing\\]"):
        OCSFSchemaValidator(bundled_schema())


# --------------------------------------------------------------------------
# The compiled schema and the requirements are one restatement
# --------------------------------------------------------------------------


def test_the_compiled_schema_names_its_public_source():
    source = bundled_schema()["source"]
    assert set(source) == {"document", "version", "url", "kept"}
    assert source["url"].startswith("https://github.com/ocsf/ocsf-schema/")
    assert "ocsf-lib" in source["kept"]
    assert SCHEMA_FILE.parent.name == "testing"  # shipped with the package


def test_the_requirements_are_the_compiled_schemas(reference):
    """validate_ocsf's data says what the compiled schema says."""
    schema = bundled_schema()
    for group in ("classes", "objects"):
        for name, spec in reference[group].items():
            attributes = schema[group][name]["attributes"]
            required = sorted(
                attribute
                for attribute, value in attributes.items()
                if value.get("requirement") == "required" and "profile" not in value
            )
            assert spec["required"] == required, name
            assert spec["constraints"] == schema[group][name].get("constraints")
