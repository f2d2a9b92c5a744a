"""The models and their two serialized shapes."""

import datetime as dt
import inspect
import re
from zoneinfo import ZoneInfo

import attrs
import cattrs
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector_core import models as m
from connector_core.exceptions import REDACTED, ConnectorError, SchemaError
from connector_core.secrets import Secret
from connector_core.serialization import (
    Style,
    camel_key,
    converter_for,
    dumps,
    loads,
    snake_key,
    structure,
    to_camel,
    unstructure,
)


STYLES: tuple[Style, ...] = ("snake", "camel")
UTC = dt.UTC
T0 = dt.datetime(2025, 1, 31, 23, 59, 59, tzinfo=UTC)
T1 = dt.datetime(2025, 2, 1, 8, 30, 0, 123456, tzinfo=UTC)
ACCESS_KEY = "sk-admin-0123456789abcdefSECRET"
REFRESH_KEY = "rt-9876543210zyxwvuREFRESH"


# --------------------------------------------------------------------------
# Realistic instances
# --------------------------------------------------------------------------

COORDINATES = m.Coordinates(latitude=37.7749, longitude=-122.4194)
LOCATION = m.GeoLocation(
    country="US",
    region="California",
    city="San Francisco",
    coordinates=COORDINATES,
    timezone="America/Los_Angeles",
)
FILE_REFERENCE = m.FileReference(
    file_id="file-abc123",
    file_name="q4-forecast.xlsx",
    file_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    file_size=48213,
    uploaded_at=T0,
    is_sensitive=True,
)
RISK = m.AIRiskIndicator(
    type=m.AIRiskType.SENSITIVE_DATA,
    severity=m.RiskSeverity.HIGH,
    description="Spreadsheet with customer PII uploaded",
    confidence=87.5,
    evidence=("file_name matches *forecast*", "column 'ssn' present"),
    compliance_impact=(m.ComplianceFramework.GDPR, m.ComplianceFramework.SOC2),
)
AUDIT_LOG = m.AIAuditLog(
    id="audit_log-7f3a",
    platform="chatgpt",
    timestamp=T0,
    user_id="user-42",
    user_email="ada@example.com",
    organization_id="org-acme",
    activity_type=m.AIActivityType.LOGIN,
    action="user.login",
    metadata={
        "project_id": "proj_1",
        "tokens_used": 1200,
        "scopes": ["a", "b"],
        "files": [
            {
                "file_id": "file-abc123",
                "file_name": "q4-forecast.xlsx",
                "uploaded_at": "2025-01-31T23:59:59Z",
                "is_sensitive": None,
            }
        ],
        "details": {"error_code": None, "changes_requested": {"role_name": "owner"}},
    },
    ip_address="203.0.113.7",
    user_agent="Mozilla/5.0",
    location=LOCATION,
    risk_indicators=(RISK,),
    native_type="login.succeeded",
    raw={
        "id": "audit_log-7f3a",
        "type": "login.succeeded",
        "effective_at": 1738367999,
        "actor": {"type": "session", "session": {"ip_address": "203.0.113.7"}},
    },
)
SERVICE_ACCOUNT_LOG = m.AIAuditLog(
    id="audit_log-0001",
    platform="chatgpt",
    timestamp=T1,
    user_id="svc-1",
    user_email=None,
    organization_id="org-acme",
    activity_type=m.AIActivityType.API_KEY_CREATED,
    action="api_key.created",
    native_type="api_key.created",
)
QUERY = m.AIAuditLogQuery(
    start_date=T0,
    end_date=T1,
    user_ids=("user-42", "user-43"),
    event_types=("login.succeeded", "api_key.created"),
    platforms=("chatgpt", "claude"),
    limit=100,
    cursor="audit_log-7f3a",
    platform_filters={"project_ids": ["proj_1"]},
)
DETECTED = m.DetectedPlatform(platform="chatgpt", display_name="ChatGPT Enterprise")
RESULT_METADATA = m.AIAuditLogResultMetadata(
    query_time_ms=153.2,
    platform="chatgpt",
    warnings=("page truncated at 100 entries",),
    detected_platforms=(DETECTED,),
    extra={"request_id": "req_123", "api_version": "2025-01"},
)
RESULT = m.AIAuditLogResult(
    logs=(AUDIT_LOG, SERVICE_ACCOUNT_LOG),
    total_count=2,
    has_more=True,
    next_cursor="audit_log-0001",
    metadata=RESULT_METADATA,
)
DATE_RANGE = m.AIDateRange(start=T0, end=T1)
TOP_USER = m.TopUserMetric(
    user_id="user-42",
    email="ada@example.com",
    event_count=311,
    last_activity=T1,
    risk_score=42.0,
)
DAILY = m.DailyActivityMetric(
    date=dt.date(2025, 1, 2), active_users=17, total_events=402, peak_hour=14
)
MODEL_USAGE = m.ModelUsageMetric(
    model="gpt-4o", usage_count=250, total_tokens=1_250_000, cost_estimate=18.75
)
USAGE_BUCKET = m.ModelUsageRecord(
    id="2025-01-02/gpt-4o/proj_1",
    platform="chatgpt",
    start=T1,
    end=T1 + dt.timedelta(days=1),
    model="gpt-4o",
    requests=250,
    input_tokens=1_000_000,
    output_tokens=250_000,
    cost=18.75,
    currency="USD",
    dimensions={"project_id": "proj_1"},
    raw={"results": [{"num_model_requests": 250}]},
)
ANALYTICS = m.UsageAnalytics(
    platform="chatgpt",
    period=DATE_RANGE,
    total_users=120,
    active_users=17,
    total_events=402,
    top_users=(TOP_USER,),
    events_by_type={"login": 40, "conversation": 362},
    daily_breakdown=(DAILY,),
    model_usage=(MODEL_USAGE,),
)
CONNECTION = m.ConnectionResult(
    success=True,
    platform_user_id="org-acme",
    platform_workspace_id="org-acme",
    display_name="ChatGPT Enterprise - Acme",
    permissions=("audit_logs.read",),
    metadata={"plan": "enterprise"},
    error=None,
    error_code=None,
)
FAILED_CONNECTION = m.ConnectionResult(
    success=False, error="invalid API key", error_code="CHATGPT_AUTH_ERROR"
)
CREDENTIALS = m.OAuthCredentials(
    access_token=ACCESS_KEY,
    refresh_token=REFRESH_KEY,
    token_type="Bearer",
    expires_at=T1,
    scope=("audit_logs.read", "organization.read"),
    issued_at=T0,
)
RATE_LIMITS = m.RateLimitInfo(remaining=58, limit=60, reset_at=T1)
VALIDATION = m.AICredentialValidation(
    is_valid=True,
    platform="chatgpt",
    has_required_permissions=False,
    missing_permissions=("audit_logs.read",),
    expires_at=T1,
    last_checked=T0,
    errors=("key lacks audit_logs.read",),
    rate_limits=RATE_LIMITS,
)
PERMISSIONS = m.PermissionCheck(
    is_valid=True,
    permissions=("audit_logs.read",),
    missing_permissions=(),
    errors=(),
    last_checked=T0,
    metadata={"checkedVia": "GET /organization/audit_logs"},
)
OWNER = m.AutomationOwner(id="user-42", name="Ada Lovelace", email="ada@example.com")
AUTOMATION = m.AutomationEvent(
    id="g-abc",
    name="Contract Reviewer",
    type=m.AutomationType.GPT,
    platform="chatgpt",
    status=m.AutomationStatus.ACTIVE,
    trigger="manual",
    actions=("read_files", "browse"),
    metadata={"visibility": "workspace"},
    created_at=T0,
    last_triggered=T1,
    last_modified=T1,
    owner=OWNER,
    description="Reviews uploaded contracts",
    risk_level=m.RiskSeverity.MEDIUM,
    permissions=("files.read",),
)
ENTRY = m.AuditLogEntry(
    id="evt-1",
    timestamp=T0,
    actor_id="user-42",
    actor_type=m.ActorType.USER,
    action_type="api_key.created",
    resource_type="api_key",
    resource_id="key_abc",
    details={"name": "ci"},
    ip_address="203.0.113.7",
    user_agent="curl/8.5",
    location="US",
    outcome=m.AuditOutcome.SUCCESS,
)

FULL_INSTANCES = [
    COORDINATES,
    LOCATION,
    FILE_REFERENCE,
    RISK,
    AUDIT_LOG,
    QUERY,
    DETECTED,
    RESULT_METADATA,
    RESULT,
    DATE_RANGE,
    TOP_USER,
    DAILY,
    MODEL_USAGE,
    USAGE_BUCKET,
    ANALYTICS,
    CONNECTION,
    CREDENTIALS,
    RATE_LIMITS,
    VALIDATION,
    PERMISSIONS,
    OWNER,
    AUTOMATION,
    ENTRY,
]

# The same classes with every optional field left at its default.
MINIMAL_INSTANCES = [
    m.GeoLocation(),
    m.FileReference(
        file_id="f", file_name="a.txt", file_type="text/plain", uploaded_at=T0
    ),
    m.AIRiskIndicator(
        type=m.AIRiskType.UNUSUAL_ACTIVITY,
        severity=m.RiskSeverity.LOW,
        description="login at 03:00",
        confidence=0,
    ),
    SERVICE_ACCOUNT_LOG,
    m.AIAuditLogQuery(start_date=T0, end_date=T0),
    m.AIAuditLogResultMetadata(query_time_ms=0, platform="claude"),
    m.AIAuditLogResult(
        logs=(),
        total_count=0,
        has_more=False,
        metadata=m.AIAuditLogResultMetadata(query_time_ms=1.5, platform="chatgpt"),
    ),
    m.TopUserMetric(user_id="u", email="u@example.com", event_count=0),
    m.DailyActivityMetric(date=dt.date(2024, 2, 29), active_users=0, total_events=0),
    m.ModelUsageMetric(model="o1", usage_count=1),
    m.UsageAnalytics(
        platform="gemini",
        period=DATE_RANGE,
        total_users=0,
        active_users=0,
        total_events=0,
    ),
    FAILED_CONNECTION,
    m.OAuthCredentials(access_token=ACCESS_KEY),
    m.AICredentialValidation(
        is_valid=False,
        platform="chatgpt",
        has_required_permissions=False,
        last_checked=T0,
    ),
    m.PermissionCheck(is_valid=False, last_checked=T0),
    m.AutomationOwner(id="u", name="U"),
    m.AutomationEvent(
        id="wf-1",
        name="Nightly export",
        type=m.AutomationType.SCHEDULED_TASK,
        platform="google",
        status=m.AutomationStatus.PAUSED,
        trigger="cron",
        created_at=T0,
        last_triggered=None,
    ),
    m.AuditLogEntry(
        id="evt-2",
        timestamp=T0,
        actor_id="system",
        actor_type=m.ActorType.SYSTEM,
        action_type="settings.updated",
        resource_type="organization",
        resource_id="org-acme",
    ),
]


def _redacted(obj):
    """What a round trip yields: secrets come back as the mask, by design."""
    if isinstance(obj, m.OAuthCredentials):
        return attrs.evolve(
            obj,
            access_token=Secret(REDACTED),
            refresh_token=None if obj.refresh_token is None else Secret(REDACTED),
        )
    return obj


def _model_classes():
    return {
        obj
        for _, obj in inspect.getmembers(m, inspect.isclass)
        if attrs.has(obj) and obj.__module__ == m.__name__
    }


def _id(value):
    return type(value).__name__ if attrs.has(type(value)) else str(value)


# --------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------


def test_every_model_class_has_a_full_instance():
    assert {type(x) for x in FULL_INSTANCES} == _model_classes()


def test_every_model_is_exported():
    assert {cls.__name__ for cls in _model_classes()} <= set(m.__all__)
    assert all(hasattr(m, name) for name in m.__all__)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("instance", FULL_INSTANCES + MINIMAL_INSTANCES, ids=_id)
def test_round_trip(instance, style):
    data = unstructure(instance, style=style)
    assert structure(data, type(instance), style=style) == _redacted(instance)
    # And through actual JSON bytes.
    assert loads(
        dumps(instance, style=style), type(instance), style=style
    ) == _redacted(instance)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("instance", FULL_INSTANCES + MINIMAL_INSTANCES, ids=_id)
def test_unstructured_data_is_plain_json(instance, style):
    data = unstructure(instance, style=style)
    # orjson passes dicts, lists, str, int, float, bool and None through
    # unchanged; anything richer (enums, datetimes) must already be gone.
    assert orjson.loads(orjson.dumps(data)) == data
    assert _only_json_types(data)


def _only_json_types(value):
    if isinstance(value, dict):
        return all(type(k) is str and _only_json_types(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_only_json_types(v) for v in value)
    return value is None or type(value) in {str, int, float, bool}


def test_snake_style_uses_field_names():
    data = unstructure(AUDIT_LOG)
    assert list(data) == [f.name for f in attrs.fields(m.AIAuditLog)]
    assert unstructure(RESULT_METADATA)["extra"] == {
        "request_id": "req_123",
        "api_version": "2025-01",
    }


# --------------------------------------------------------------------------
# Golden camelCase shapes
# --------------------------------------------------------------------------


def test_audit_log_camel_shape():
    data = unstructure(AUDIT_LOG, style="camel")
    assert data == {
        "id": "audit_log-7f3a",
        "platform": "chatgpt",
        "timestamp": "2025-01-31T23:59:59Z",
        "userId": "user-42",
        "userEmail": "ada@example.com",
        "organizationId": "org-acme",
        "activityType": "login",
        "action": "user.login",
        "metadata": {
            "projectId": "proj_1",
            "tokensUsed": 1200,
            "scopes": ["a", "b"],
            "files": [
                {
                    "fileId": "file-abc123",
                    "fileName": "q4-forecast.xlsx",
                    "uploadedAt": "2025-01-31T23:59:59Z",
                    "isSensitive": None,
                }
            ],
            # The platform's own payload, as received (like `raw`).
            "details": {
                "error_code": None,
                "changes_requested": {"role_name": "owner"},
            },
        },
        "ipAddress": "203.0.113.7",
        "userAgent": "Mozilla/5.0",
        "location": {
            "country": "US",
            "region": "California",
            "city": "San Francisco",
            "coordinates": {"latitude": 37.7749, "longitude": -122.4194},
            "timezone": "America/Los_Angeles",
        },
        "riskIndicators": [
            {
                "type": "sensitive_data",
                "severity": "high",
                "description": "Spreadsheet with customer PII uploaded",
                "confidence": 87.5,
                "evidence": ["file_name matches *forecast*", "column 'ssn' present"],
                "complianceImpact": ["GDPR", "SOC2"],
            }
        ],
        "nativeType": "login.succeeded",
        "raw": AUDIT_LOG.raw,
    }
    assert data["timestamp"].endswith("Z")


def test_camel_leaves_out_absent_optionals_but_keeps_required_nulls():
    data = unstructure(SERVICE_ACCOUNT_LOG, style="camel")
    # `userEmail: string` is required in the shared types: null, not absent.
    assert data["userEmail"] is None
    # `ipAddress?: string` and friends are optional: absent, not null.
    assert not {"ipAddress", "userAgent", "location"} & set(data)
    assert data["riskIndicators"] == []
    assert data["timestamp"] == "2025-02-01T08:30:00.123456Z"

    automation = unstructure(MINIMAL_INSTANCES[-2], style="camel")
    assert automation["lastTriggered"] is None
    assert "lastModified" not in automation
    assert "owner" not in automation


def test_result_camel_shape():
    data = unstructure(RESULT, style="camel")
    assert data["totalCount"] == 2
    assert data["hasMore"] is True
    assert data["nextCursor"] == "audit_log-0001"
    assert data["metadata"] == {
        "queryTime": 153.2,
        "platform": "chatgpt",
        "warnings": ["page truncated at 100 entries"],
        "detectedPlatforms": [
            {"platform": "chatgpt", "displayName": "ChatGPT Enterprise"}
        ],
        "requestId": "req_123",
        "apiVersion": "2025-01",
    }
    assert [log["userEmail"] for log in data["logs"]] == ["ada@example.com", None]


def test_camel_metadata_unknown_keys_become_extra():
    data = {
        "queryTime": 12,
        "platform": "chatgpt",
        "warnings": [],
        "newHostField": {"isNested": True},
    }
    metadata = structure(data, m.AIAuditLogResultMetadata, style="camel")
    assert metadata.query_time_ms == 12.0
    assert metadata.extra == {"new_host_field": {"is_nested": True}}
    assert metadata.detected_platforms == ()
    assert unstructure(metadata, style="camel") == {**data, "detectedPlatforms": []}


@pytest.mark.parametrize(
    "key", ["query_time", "detected_platforms", "platform", "warnings"]
)
def test_metadata_extra_may_not_shadow_named_keys(key):
    # In the camel form extras sit beside the named keys, under their camel
    # spelling: `query_time` would land on `queryTime`.
    with pytest.raises(ValueError, match=key):
        m.AIAuditLogResultMetadata(query_time_ms=1, platform="chatgpt", extra={key: 5})


def test_metadata_extra_in_the_other_style_does_not_shadow():
    # `queryTime` is written `query_time` (the key map swaps the styles), so it
    # sits beside `queryTime` without clashing, and comes back as it was.
    metadata = m.AIAuditLogResultMetadata(
        query_time_ms=1, platform="chatgpt", extra={"queryTime": 5}
    )
    data = unstructure(metadata, style="camel")
    assert data["queryTime"] == 1
    assert data["query_time"] == 5
    assert structure(data, m.AIAuditLogResultMetadata, style="camel") == metadata


def test_reserved_extra_keys_are_the_camel_field_names():
    names = {
        "queryTime" if f.name == "query_time_ms" else to_camel(f.name)
        for f in attrs.fields(m.AIAuditLogResultMetadata)
        if f.name != "extra"
    }
    assert names == m.AIAuditLogResultMetadata.RESERVED_EXTRA_KEYS


def test_usage_analytics_camel_shape():
    data = unstructure(ANALYTICS, style="camel")
    assert data["period"] == {
        "start": "2025-01-31T23:59:59Z",
        "end": "2025-02-01T08:30:00.123456Z",
    }
    assert data["totalUsers"] == 120
    assert data["activeUsers"] == 17
    assert data["totalEvents"] == 402
    assert data["topUsers"][0] == {
        "userId": "user-42",
        "email": "ada@example.com",
        "eventCount": 311,
        "lastActivity": "2025-02-01T08:30:00.123456Z",
        "riskScore": 42.0,
    }
    assert data["eventsByType"] == {"login": 40, "conversation": 362}
    assert data["dailyBreakdown"][0] == {
        "date": "2025-01-02",
        "activeUsers": 17,
        "totalEvents": 402,
        "peakHour": 14,
    }
    assert data["modelUsage"][0] == {
        "model": "gpt-4o",
        "usageCount": 250,
        "totalTokens": 1_250_000,
        "costEstimate": 18.75,
    }


def test_geolocation_camel_shape():
    assert unstructure(LOCATION, style="camel")["coordinates"] == {
        "latitude": 37.7749,
        "longitude": -122.4194,
    }
    assert unstructure(m.GeoLocation(country="DE"), style="camel") == {"country": "DE"}


def test_other_camel_shapes():
    validation = unstructure(VALIDATION, style="camel")
    assert validation["isValid"] is True
    assert validation["hasRequiredPermissions"] is False
    assert validation["missingPermissions"] == ["audit_logs.read"]
    assert validation["lastChecked"] == "2025-01-31T23:59:59Z"
    assert validation["rateLimits"] == {
        "remaining": 58,
        "limit": 60,
        "resetAt": "2025-02-01T08:30:00.123456Z",
    }
    assert unstructure(QUERY, style="camel").keys() >= {
        "startDate",
        "endDate",
        "userIds",
        "eventTypes",
        "platformFilters",
    }
    connection = unstructure(FAILED_CONNECTION, style="camel")
    assert connection == {
        "success": False,
        "permissions": [],
        "metadata": {},
        "error": "invalid API key",
        "errorCode": "CHATGPT_AUTH_ERROR",
    }
    entry = unstructure(ENTRY, style="camel")
    assert entry["actorType"] == "user"
    assert entry["outcome"] == "success"
    assert (
        unstructure(FILE_REFERENCE, style="camel")["uploadedAt"]
        == "2025-01-31T23:59:59Z"
    )


@pytest.mark.parametrize(
    ("name", "camel"),
    [
        ("user_email", "userEmail"),
        ("id", "id"),
        ("is_valid", "isValid"),
        ("query_time_ms", "queryTimeMs"),
        ("_private_value", "privateValue"),
    ],
)
def test_to_camel(name, camel):
    assert to_camel(name) == camel


# --------------------------------------------------------------------------
# camelCase all the way down: free-form keys
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("snake", "camel"),
    [
        ("conversation_id", "conversationId"),
        ("file_id", "fileId"),
        ("uploaded_at", "uploadedAt"),
        ("is_sensitive", "isSensitive"),
        ("a_b_c", "aBC"),
        ("gpt4o_model", "gpt4oModel"),
        ("x_y2", "xY2"),
    ],
)
def test_free_form_keys_map_both_ways(snake, camel):
    assert camel_key(snake) == camel
    assert snake_key(camel) == snake


@pytest.mark.parametrize(
    "key",
    [
        "model",
        "files",
        "id",
        "_private",
        "__dunder__",
        "a__b",
        "trailing_",
        "user.login",
        "file_2",
        "max_requests_per_1_minute",
        "Upper_case",
        "UpperCamel",
        "ALL_CAPS",
        "kebab-case",
        "with space",
        "é_t",
        "",
    ],
)
def test_keys_that_would_not_survive_are_left_alone(key):
    assert camel_key(key) == key
    assert snake_key(key) == key


def test_a_key_already_in_the_target_style_is_swapped_not_merged():
    # Two keys that differ only in style stay two keys in either shape.
    assert camel_key("projectId") == "project_id"
    assert snake_key("project_id") == "projectId"
    log = attrs.evolve(AUDIT_LOG, metadata={"project_id": 1, "projectId": 2})
    data = unstructure(log, style="camel")
    assert data["metadata"] == {"projectId": 1, "project_id": 2}
    assert structure(data, m.AIAuditLog, style="camel") == log


_SNAKE_KEYS = st.from_regex(
    r"[a-z][a-z0-9]{0,4}(_[a-z][a-z0-9]{0,4}){1,3}", fullmatch=True
)
_CAMEL_KEYS = st.from_regex(
    r"[a-z][a-z0-9]{0,4}([A-Z][a-z0-9]{0,4}){1,3}", fullmatch=True
)
_ANY_KEYS = _SNAKE_KEYS | _CAMEL_KEYS | st.text(max_size=12)


@given(key=_ANY_KEYS)
def test_the_key_map_is_exact_both_ways(key):
    assert snake_key(camel_key(key)) == key
    assert camel_key(snake_key(key)) == key
    if re.fullmatch(r"[a-z][a-z0-9]*(_[a-z][a-z0-9]*)+", key):
        assert "_" not in camel_key(key)


def test_metadata_models_inside_metadata_keep_their_camel_keys():
    # A model object inside free-form metadata is already in the camel shape;
    # its keys must not be mapped a second time.
    log = attrs.evolve(AUDIT_LOG, metadata={"files": [FILE_REFERENCE]})
    data = unstructure(log, style="camel")
    assert data["metadata"]["files"][0]["fileId"] == "file-abc123"
    assert data["metadata"]["files"][0]["uploadedAt"] == "2025-01-31T23:59:59Z"


def test_data_maps_stay_verbatim_in_the_camel_form():
    """Maps whose keys are values (or evidence) are never renamed."""
    analytics = attrs.evolve(
        ANALYTICS, events_by_type={"user.login": 3, "file_upload": 1}
    )
    assert unstructure(analytics, style="camel")["eventsByType"] == {
        "user.login": 3,
        "file_upload": 1,
    }
    assert unstructure(AUDIT_LOG, style="camel")["raw"] == AUDIT_LOG.raw
    assert unstructure(QUERY, style="camel")["platformFilters"] == {
        "project_ids": ["proj_1"]
    }
    surfaces = {"surfaces": {"audit_logs": "ok", "usage_costs": "ok"}}
    for instance in (
        attrs.evolve(CONNECTION, metadata=surfaces),
        attrs.evolve(PERMISSIONS, metadata=surfaces),
        attrs.evolve(AUTOMATION, metadata=surfaces),
    ):
        assert unstructure(instance, style="camel")["metadata"] == surfaces
    entry = attrs.evolve(ENTRY, details={"old_value": 1})
    assert unstructure(entry, style="camel")["details"] == {"old_value": 1}


_nested = st.recursive(
    st.none() | st.booleans() | st.text(max_size=8) | st.integers(-(10**6), 10**6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(_ANY_KEYS, inner, max_size=3)
    ),
    max_leaves=10,
)
_metadata = st.dictionaries(_ANY_KEYS | st.just("details"), _nested, max_size=5)


@settings(max_examples=200, deadline=None)
@given(metadata=_metadata, extra=st.dictionaries(_ANY_KEYS, _nested, max_size=4))
def test_nested_metadata_round_trips_in_the_camel_form(metadata, extra):
    log = attrs.evolve(AUDIT_LOG, metadata=metadata)
    data = unstructure(log, style="camel")
    assert structure(data, m.AIAuditLog, style="camel") == log
    assert loads(dumps(log, style="camel"), m.AIAuditLog, style="camel") == log

    reserved = {"query_time", "detected_platforms", "platform", "warnings"}
    extra = {k: v for k, v in extra.items() if k not in reserved}
    result_metadata = attrs.evolve(RESULT_METADATA, extra=extra)
    data = unstructure(result_metadata, style="camel")
    assert structure(data, m.AIAuditLogResultMetadata, style="camel") == result_metadata


def test_camel_structures_shared_types_json():
    # A record as the host application would write it.
    payload = b"""{
        "id": "x1", "platform": "claude", "timestamp": "2025-03-01T10:00:00+02:00",
        "userId": "u1", "userEmail": "u1@example.com", "organizationId": "o1",
        "activityType": "conversation", "action": "conversation.started",
        "metadata": {}, "riskIndicators": [], "nativeType": "conversation.started",
        "someFutureField": 1
    }"""
    log = loads(payload, m.AIAuditLog, style="camel")
    assert log.timestamp == dt.datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    assert log.timestamp.tzinfo is UTC
    assert log.activity_type is m.AIActivityType.CONVERSATION
    assert log.raw == {}


# --------------------------------------------------------------------------
# Datetimes
# --------------------------------------------------------------------------


def test_naive_datetime_is_rejected_on_construction():
    with pytest.raises(ValueError, match="naive"):
        m.AIDateRange(start=dt.datetime(2025, 1, 1), end=T1)  # noqa: DTZ001
    with pytest.raises(ValueError, match="naive"):
        attrs.evolve(AUDIT_LOG, timestamp=dt.datetime(2025, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="naive"):
        attrs.evolve(TOP_USER, last_activity=dt.datetime(2025, 1, 1))  # noqa: DTZ001


@pytest.mark.parametrize("style", STYLES)
def test_naive_timestamp_is_rejected_on_structuring(style):
    data = unstructure(AUDIT_LOG, style=style)
    data["timestamp"] = "2025-01-31T23:59:59"
    with pytest.raises(SchemaError, match="no UTC offset"):
        structure(data, m.AIAuditLog, style=style)


def test_aware_datetimes_are_normalized_to_utc():
    paris = dt.datetime(2025, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/Paris"))
    log = attrs.evolve(AUDIT_LOG, timestamp=paris)
    assert log.timestamp.tzinfo is UTC
    assert log.timestamp == dt.datetime(2025, 7, 1, 10, 0, tzinfo=UTC)
    assert unstructure(log)["timestamp"] == "2025-07-01T10:00:00Z"

    offset = m.AIDateRange(
        start=dt.datetime(2025, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        end=dt.datetime(2025, 1, 2, tzinfo=UTC),
    )
    assert offset.start == dt.datetime(2025, 1, 1, 5, 0, tzinfo=UTC)
    assert offset.start.tzinfo is UTC


def test_structuring_offsets_converts_to_utc():
    data = {"start": "2025-01-01T00:00:00-05:00", "end": "2025-01-02T00:00:00Z"}
    period = structure(data, m.AIDateRange)
    assert period.start == dt.datetime(2025, 1, 1, 5, tzinfo=UTC)
    assert period.start.tzinfo is UTC


def test_naive_datetime_in_free_form_mapping_is_refused():
    log = attrs.evolve(AUDIT_LOG, metadata={"at": dt.datetime(2025, 1, 1)})  # noqa: DTZ001
    with pytest.raises(ValueError, match="naive"):
        unstructure(log)


def test_daily_date_must_be_a_date_not_datetime():
    with pytest.raises(TypeError):
        m.DailyActivityMetric(date=T0, active_users=1, total_events=1)
    with pytest.raises(SchemaError):
        structure(
            {"date": "2025-01-02T00:00:00Z", "active_users": 1, "total_events": 1},
            m.DailyActivityMetric,
        )


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


@pytest.mark.parametrize("confidence", [-0.1, 100.5, 1000])
def test_confidence_outside_percent_range(confidence):
    with pytest.raises(ValueError, match="confidence"):
        attrs.evolve(RISK, confidence=confidence)


@pytest.mark.parametrize("confidence", [0, 100, 55.5])
def test_confidence_bounds_are_inclusive(confidence):
    assert attrs.evolve(RISK, confidence=confidence).confidence == confidence


@pytest.mark.parametrize("hour", [-1, 24])
def test_peak_hour_range(hour):
    with pytest.raises(ValueError, match="peak_hour"):
        attrs.evolve(DAILY, peak_hour=hour)


def test_start_after_end():
    with pytest.raises(ValueError, match="after end"):
        m.AIDateRange(start=T1, end=T0)
    with pytest.raises(ValueError, match="after end"):
        m.AIAuditLogQuery(start_date=T1, end_date=T0)
    with pytest.raises(SchemaError, match="after end"):
        structure(
            {"start": "2025-02-01T00:00:00Z", "end": "2025-01-01T00:00:00Z"},
            m.AIDateRange,
        )


@pytest.mark.parametrize(
    "name", ["Chat GPT", "ChatGPT", "", "1password", "chat-gpt", "gpt "]
)
def test_bad_platform_names(name):
    with pytest.raises(ValueError, match="lowercase identifier"):
        attrs.evolve(AUDIT_LOG, platform=name)
    with pytest.raises(ValueError, match="lowercase identifier"):
        attrs.evolve(QUERY, platforms=("chatgpt", name))
    with pytest.raises(ValueError, match="lowercase identifier"):
        attrs.evolve(AUTOMATION, platform=name)


def test_a_valid_name_seen_before_does_not_let_a_look_alike_through():
    # Valid names are remembered to skip the pattern per event; only exact
    # str values that passed it are.
    attrs.evolve(AUDIT_LOG, platform="chatgpt")

    class Name(str):
        __slots__ = ()

    assert attrs.evolve(AUDIT_LOG, platform=Name("chatgpt")).platform == "chatgpt"
    for name in ("ChatGPT", "chatgpt ", "chatgpt\n"):
        with pytest.raises(ValueError, match="lowercase identifier"):
            attrs.evolve(AUDIT_LOG, platform=name)
    with pytest.raises(ValueError, match="lowercase identifier"):
        attrs.evolve(AUDIT_LOG, platform=Name("Chat GPT"))


def test_unknown_but_well_formed_platforms_are_accepted():
    """The core keeps no list of platforms: any well-formed name is one."""
    assert not hasattr(m, "KNOWN_AI_PLATFORMS")
    log = attrs.evolve(AUDIT_LOG, platform="mistral_le_chat")
    assert structure(unstructure(log), m.AIAuditLog) == log


@pytest.mark.parametrize(
    ("cls", "changes"),
    [
        (m.AIAuditLogQuery, {"limit": 0}),
        (m.AIAuditLogResult, {"total_count": -1}),
        (m.TopUserMetric, {"risk_score": 101}),
        (m.Coordinates, {"latitude": 91}),
        (m.Coordinates, {"longitude": -181}),
        (m.FileReference, {"file_size": -1}),
    ],
)
def test_other_ranges(cls, changes):
    instance = next(x for x in FULL_INSTANCES if type(x) is cls)
    with pytest.raises(ValueError):  # noqa: PT011 -- attrs words these itself
        attrs.evolve(instance, **changes)


def test_models_are_frozen():
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        AUDIT_LOG.user_id = "someone-else"  # type: ignore[misc]


def test_mappings_are_copied_on_construction():
    source = {"k": "v"}
    log = attrs.evolve(AUDIT_LOG, metadata=source)
    source["k"] = "changed"
    assert log.metadata == {"k": "v"}


def test_enums_are_str_enums_with_shared_type_values():
    assert [a.value for a in m.AIActivityType] == [
        "login",
        "logout",
        "conversation",
        "file_upload",
        "file_download",
        "model_usage",
        "prompt_injection",
        "data_export",
        "settings_change",
        "integration_created",
        "api_key_created",
        "api_key_deleted",
    ]
    assert m.RiskSeverity.CRITICAL == "critical"
    assert m.ComplianceFramework.ISO27001 == "ISO27001"
    assert m.AutomationType("gpt") is m.AutomationType.GPT


# --------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------


def test_credentials_wrap_plain_strings_in_secret():
    assert isinstance(CREDENTIALS.access_token, Secret)
    assert CREDENTIALS.access_token.reveal() == ACCESS_KEY
    assert isinstance(CREDENTIALS.refresh_token, Secret)
    assert m.OAuthCredentials(access_token=Secret("abc")).access_token == Secret("abc")


@pytest.mark.parametrize("style", STYLES)
def test_secrets_never_leak(style):
    for text in (
        repr(CREDENTIALS),
        str(CREDENTIALS),
        repr(unstructure(CREDENTIALS, style=style)),
        dumps(CREDENTIALS, style=style).decode(),
        dumps(VALIDATION, style=style).decode(),
    ):
        assert ACCESS_KEY not in text
        assert REFRESH_KEY not in text
    data = unstructure(CREDENTIALS, style=style)
    token_key = "access_token" if style == "snake" else "accessToken"
    assert data[token_key] == REDACTED


@pytest.mark.parametrize("style", STYLES)
def test_structuring_a_plain_string_gives_a_secret(style):
    data = unstructure(CREDENTIALS, style=style)
    token_key, refresh_key = (
        ("access_token", "refresh_token")
        if style == "snake"
        else ("accessToken", "refreshToken")
    )
    data[token_key] = "sk-from-storage-123456"
    data[refresh_key] = "rt-from-storage-123456"
    credentials = structure(data, m.OAuthCredentials, style=style)
    assert isinstance(credentials.access_token, Secret)
    assert credentials.access_token.reveal() == "sk-from-storage-123456"
    assert isinstance(credentials.refresh_token, Secret)
    assert credentials.refresh_token.reveal() == "rt-from-storage-123456"
    assert "sk-from-storage" not in repr(credentials)


# --------------------------------------------------------------------------
# Malformed input
# --------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_missing_required_field(style):
    data = unstructure(AUDIT_LOG, style=style)
    key = "user_id" if style == "snake" else "userId"
    del data[key]
    with pytest.raises(SchemaError) as info:
        structure(data, m.AIAuditLog, style=style)
    assert isinstance(info.value, ConnectorError)
    assert isinstance(info.value.__cause__, cattrs.ClassValidationError)
    assert f"required field missing @ $.{key}" in str(info.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("totalCount", "2"),
        ("totalCount", True),
        ("totalCount", 2.5),
        ("hasMore", "false"),
        ("nextCursor", 17),
        ("logs", "not a list"),
        ("logs", {"id": "x"}),
        ("metadata", "fast"),
    ],
)
def test_wrong_types_are_not_coerced(key, value):
    data = unstructure(RESULT, style="camel")
    data[key] = value
    with pytest.raises(SchemaError, match=rf"\$\.{key}") as info:
        structure(data, m.AIAuditLogResult, style="camel")
    assert isinstance(info.value, ConnectorError)
    assert isinstance(info.value.__cause__, cattrs.ClassValidationError)


def test_nested_errors_name_their_path():
    data = unstructure(RESULT, style="camel")
    data["logs"][1]["activityType"] = "teleport"
    data["logs"][0]["riskIndicators"][0]["confidence"] = 250
    with pytest.raises(SchemaError) as info:
        structure(data, m.AIAuditLogResult, style="camel")
    message = str(info.value)
    assert "$.logs[1].activityType" in message
    assert "teleport" in message
    assert "$.logs[0].riskIndicators[0]" in message
    assert "confidence" in message


@pytest.mark.parametrize("data", [None, "x", [], 3])
def test_non_object_input(data):
    with pytest.raises(SchemaError, match="expected an object"):
        structure(data, m.AIAuditLog)


def test_invalid_json():
    with pytest.raises(SchemaError, match="invalid JSON"):
        loads(b"{not json", m.AIAuditLog)


def test_unknown_keys_are_ignored():
    data = unstructure(AUDIT_LOG)
    data["added_in_a_later_version"] = 1
    assert structure(data, m.AIAuditLog) == AUDIT_LOG


def test_converter_for_returns_the_shared_singletons():
    assert converter_for("snake") is converter_for("snake")
    assert converter_for("camel") is not converter_for("snake")
    assert isinstance(converter_for("camel"), cattrs.Converter)
    with pytest.raises(ValueError, match="unknown style"):
        converter_for("kebab")  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# Property: arbitrary audit logs survive both styles
# --------------------------------------------------------------------------

_text = st.text(max_size=20)
_json_scalar = st.none() | st.booleans() | _text | st.integers(-(2**53), 2**53)
_json_scalar |= st.floats(allow_nan=False, allow_infinity=False)
_json = st.recursive(
    _json_scalar,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3)
    ),
    max_leaves=8,
)
_json_object = st.dictionaries(_text, _json, max_size=4)
_utc_datetimes = st.datetimes(timezones=st.just(UTC))
_optional_text = st.none() | _text

_risk_indicators = st.builds(
    m.AIRiskIndicator,
    type=st.sampled_from(m.AIRiskType),
    severity=st.sampled_from(m.RiskSeverity),
    description=_text,
    confidence=st.floats(min_value=0, max_value=100) | st.integers(0, 100),
    evidence=st.lists(_text, max_size=3).map(tuple),
    compliance_impact=st.lists(st.sampled_from(m.ComplianceFramework), max_size=3).map(
        tuple
    ),
)
_locations = st.builds(
    m.GeoLocation,
    country=_optional_text,
    region=_optional_text,
    city=_optional_text,
    coordinates=st.none()
    | st.builds(
        m.Coordinates,
        latitude=st.floats(min_value=-90, max_value=90),
        longitude=st.floats(min_value=-180, max_value=180),
    ),
    timezone=_optional_text,
)
_audit_logs = st.builds(
    m.AIAuditLog,
    id=_text,
    platform=st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True),
    timestamp=_utc_datetimes,
    user_id=_text,
    user_email=_optional_text,
    organization_id=_text,
    activity_type=st.sampled_from(m.AIActivityType),
    action=_text,
    metadata=_json_object,
    ip_address=_optional_text,
    user_agent=_optional_text,
    location=st.none() | _locations,
    risk_indicators=st.lists(_risk_indicators, max_size=3).map(tuple),
    native_type=_text,
    raw=_json_object,
)


@settings(max_examples=200, deadline=None)
@given(log=_audit_logs)
def test_audit_log_round_trip_property(log):
    for style in STYLES:
        assert (
            structure(unstructure(log, style=style), m.AIAuditLog, style=style) == log
        )
        assert loads(dumps(log, style=style), m.AIAuditLog, style=style) == log
