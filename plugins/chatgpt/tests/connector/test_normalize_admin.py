"""Admin API audit-log records: actors, their fields, locations and risks."""

from __future__ import annotations

import datetime as dt

import pytest
from normalize_records import (
    NORMALIZER,
    ORG_ID,
    admin_record,
    api_key_actor,
)

from aiaudit_chatgpt.normalize import Normalizer
from connector_core.models import (
    AIActivityType,
    AIAuditLog,
    AIRiskType,
    Coordinates,
    GeoLocation,
    RiskSeverity,
)


# --------------------------------------------------------------------------
# Admin actors and fields
# --------------------------------------------------------------------------


def test_session_actor_gives_user_ip_agent_and_location():
    log = NORMALIZER.admin_audit_log(admin_record())
    assert isinstance(log, AIAuditLog)
    assert (log.user_id, log.user_email) == ("user-1", "ada@example.com")
    assert log.metadata["actor_type"] == "user"
    assert log.ip_address == "203.0.113.7"
    assert log.user_agent == "Mozilla/5.0"
    assert log.location == GeoLocation(
        country="US",
        region="California",
        city="San Francisco",
        coordinates=Coordinates(latitude=37.7749, longitude=-122.4194),
    )
    assert log.organization_id == ORG_ID
    assert log.timestamp == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    assert log.action == "api_key.created"
    assert log.activity_type is AIActivityType.API_KEY_CREATED
    assert log.metadata["resource_type"] == "api_key"
    assert log.metadata["resource_id"] == "key_abc"
    assert log.metadata["details"] == {
        "id": "key_abc",
        "data": {"scopes": ["api.model.request"]},
    }
    assert log.risk_indicators == ()


def test_user_api_key_actor():
    log = NORMALIZER.admin_audit_log(admin_record(actor=api_key_actor("user")))
    assert isinstance(log, AIAuditLog)
    assert (log.user_id, log.user_email) == ("user-2", "bob@example.com")
    assert log.metadata["actor_type"] == "user"
    assert log.metadata["api_key_id"] == "key_track"
    assert log.ip_address is None
    assert log.location is None


def test_service_account_actor_has_no_email():
    log = NORMALIZER.admin_audit_log(
        admin_record(actor=api_key_actor("service_account"))
    )
    assert isinstance(log, AIAuditLog)
    assert (log.user_id, log.user_email) == ("svc_acct_1", None)
    assert log.metadata["actor_type"] == "service_account"
    assert log.metadata["api_key_id"] == "key_track"


def test_null_actor_is_the_system():
    log = NORMALIZER.admin_audit_log(admin_record("scim.enabled", actor=None))
    assert isinstance(log, AIAuditLog)
    assert (log.user_id, log.user_email) == ("system", None)
    assert log.metadata["actor_type"] == "system"


def test_missing_actor_key_is_the_system_too():
    record = admin_record()
    del record["actor"]
    log = NORMALIZER.admin_audit_log(record)
    assert isinstance(log, AIAuditLog)
    assert log.user_id == "system"


def test_project_goes_to_metadata():
    record = admin_record(project={"id": "proj_1", "name": "Default project"})
    log = NORMALIZER.admin_audit_log(record)
    assert isinstance(log, AIAuditLog)
    assert log.metadata["project_id"] == "proj_1"
    assert log.metadata["project_name"] == "Default project"


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        (
            {"country": "IN", "latitude": "19.07283", "longitude": "72.88261"},
            GeoLocation(
                country="IN",
                coordinates=Coordinates(latitude=19.07283, longitude=72.88261),
            ),
        ),
        (
            {"country": "DE", "city": "Berlin", "latitude": "north"},
            GeoLocation(country="DE", city="Berlin"),
        ),
        (
            {"city": "Nowhere", "latitude": "91", "longitude": "0"},
            GeoLocation(city="Nowhere"),
        ),
        (
            {"country": "FR", "latitude": "NaN", "longitude": "inf"},
            GeoLocation(country="FR"),
        ),
        (
            {"latitude": 48.85, "longitude": 2.35},
            GeoLocation(coordinates=Coordinates(latitude=48.85, longitude=2.35)),
        ),
        ({"country": ["US"], "latitude": True, "longitude": {}}, None),
        ({}, None),
        ("somewhere", None),
        (None, None),
    ],
)
def test_ip_address_details_become_a_location(details, expected):
    record = admin_record()
    record["actor"]["session"]["ip_address_details"] = details
    log = NORMALIZER.admin_audit_log(record)
    assert isinstance(log, AIAuditLog)
    assert log.location == expected


def test_failed_login_is_a_low_security_event():
    record = admin_record(
        "login.failed",
        **{"login.failed": {"error_code": "mfa_failed", "error_message": "Bad code."}},
    )
    log = NORMALIZER.admin_audit_log(record)
    assert isinstance(log, AIAuditLog)
    assert log.action == "user.login.failed"
    assert log.activity_type is AIActivityType.LOGIN
    (risk,) = log.risk_indicators
    assert risk.type is AIRiskType.SECURITY_EVENT
    assert risk.severity is RiskSeverity.LOW
    assert risk.confidence == 60
    assert risk.evidence == ("error_code: mfa_failed", "error_message: Bad code.")


def test_unconfigured_organization_is_unknown():
    log = Normalizer(organization_id=None, workspace_id=None).admin_audit_log(
        admin_record()
    )
    assert isinstance(log, AIAuditLog)
    assert log.organization_id == "unknown"
