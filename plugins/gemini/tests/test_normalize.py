"""From activities to logs: every row of the table, the ids of events that
share an activity, ties on time, the neutral metadata keys, grants to AI
apps flagged, and records that cannot be read quarantined with their id.

The records are restated here in the shape of the Reports API's
``admin#reports#activity`` (discovery document revision 20260929, the
appendix pages of each application); names and values are invented.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from aiaudit_gemini.identity import log_id
from aiaudit_gemini.normalize import (
    PLACEHOLDER_PROFILE_ID,
    flatten,
    format_time,
    read_activity,
)
from connector_core import AIAuditLog, QuarantinedRecord
from connector_core import metadata_keys as keys
from connector_core.models import AIActivityType, AIRiskType, RiskSeverity


CUSTOMER = "C03az79cb"
ALICE = {
    "callerType": "USER",
    "email": "alice@acme.example",
    "profileId": "114522876431798234501",
}


def activity(
    application: str,
    events: list[dict[str, Any]],
    *,
    time: str = "2026-11-20T09:41:07.512Z",
    qualifier: str = "-3857165183452716234",
    actor: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    return {
        "kind": "admin#reports#activity",
        "id": {
            "time": time,
            "uniqueQualifier": qualifier,
            "applicationName": application,
            "customerId": CUSTOMER,
        },
        "etag": '"etag/1"',
        "actor": ALICE if actor is None else actor,
        "ipAddress": "192.0.2.34",
        "events": events,
        **fields,
    }


def event(kind: str | None, name: str, **parameters: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "parameters": []}
    if kind is not None:
        found["type"] = kind
    for pname, value in parameters.items():
        if isinstance(value, bool):
            found["parameters"].append({"name": pname, "boolValue": value})
        elif isinstance(value, int):
            found["parameters"].append({"name": pname, "intValue": str(value)})
        elif isinstance(value, list):
            found["parameters"].append({"name": pname, "multiValue": value})
        else:
            found["parameters"].append({"name": pname, "value": value})
    return found


def logs_of(raw: Any, stream: str = "any") -> list[AIAuditLog]:
    found = read_activity(stream, raw)
    assert all(isinstance(r, AIAuditLog) for r in found), found
    return found  # type: ignore[return-value]


def one(raw: Any) -> AIAuditLog:
    [entry] = logs_of(raw)
    return entry


# -- identity -------------------------------------------------------------------


def test_the_log_id_is_customer_application_milliseconds_qualifier_and_index():
    entry = one(
        activity(
            "gemini_in_workspace_apps", [event("ai_usage_event", "feature_utilization")]
        )
    )
    moment = datetime(2026, 11, 20, 9, 41, 7, 512000, tzinfo=UTC)
    assert entry.id == (
        f"{CUSTOMER}:gemini_in_workspace_apps:{int(moment.timestamp() * 1000)}"
        ":-3857165183452716234:0"
    )
    assert entry.id == log_id(
        CUSTOMER, "gemini_in_workspace_apps", moment, "-3857165183452716234", 0
    )
    assert entry.timestamp == moment
    assert entry.organization_id == CUSTOMER
    assert entry.metadata[keys.ORIGINAL_TIME] == "2026-11-20T09:41:07.512Z"


def test_the_events_of_one_activity_are_told_apart_by_their_place():
    raw = activity(
        "login",
        [
            event(
                "login", "login_verification", login_challenge_method=["security_key"]
            ),
            event("login", "login_success", is_suspicious=False),
        ],
    )
    first, second = logs_of(raw)
    assert first.id.endswith(":0")
    assert second.id.endswith(":1")
    assert first.id.rsplit(":", 1)[0] == second.id.rsplit(":", 1)[0]
    assert (first.action, second.action) == ("user.login.verified", "user.login")
    assert second.metadata["event_index"] == 1


def test_activities_at_the_same_time_are_told_apart_by_their_qualifier():
    a = one(activity("login", [event("login", "logout")], qualifier="1"))
    b = one(activity("login", [event("login", "logout")], qualifier="-1"))
    assert a.timestamp == b.timestamp
    assert a.id != b.id


def test_the_placeholder_profile_id_is_no_one():
    actor = {
        "callerType": "USER",
        "email": "guest@partner.example",
        "profileId": PLACEHOLDER_PROFILE_ID,
    }
    entry = one(activity("login", [event("login", "login_success")], actor=actor))
    assert entry.user_id == "guest@partner.example"
    assert "profile_id" not in entry.metadata


def test_a_key_caller_is_a_service_account():
    actor = {"callerType": "KEY", "key": "SYSTEM"}
    entry = one(
        activity("token", [event("auth", "activity", app_name="x")], actor=actor)
    )
    assert entry.user_id == "SYSTEM"
    assert entry.user_email is None
    assert entry.metadata[keys.ACTOR_TYPE] == "service_account"


def test_an_account_warning_without_an_ip_has_none():
    raw = activity("login", [event("account_warning", "suspicious_login")])
    del raw["ipAddress"]
    assert one(raw).ip_address is None


# -- the table, row by row ----------------------------------------------------------


ROWS = [
    (
        "gemini_in_workspace_apps",
        "ai_usage_event",
        "feature_utilization",
        {"action": "summarize", "app_name": "gmail"},
        "ai.feature.used",
        AIActivityType.MODEL_USAGE,
        {"feature_app": "gmail", "feature": "summarize"},
    ),
    (
        "gemini_notebook",
        "notebook_activity",
        "chat",
        {"ai_plan_tier": "pro"},
        "ai.feature.used",
        AIActivityType.MODEL_USAGE,
        {"feature_app": "notebooklm", "feature": "chat"},
    ),
    (
        "gemini_notebook",
        "notebook_activity",
        "create_notebook",
        {"visibility": "private"},
        "project.created",
        AIActivityType.SETTINGS_CHANGE,
        {"feature_app": "notebooklm"},
    ),
    (
        "gemini_notebook",
        "notebook_activity",
        "copy_notebook",
        {},
        "project.created",
        AIActivityType.SETTINGS_CHANGE,
        {"feature_app": "notebooklm"},
    ),
    (
        "gemini_notebook",
        "notebook_activity",
        "add_source",
        {},
        "ai.feature.used",
        AIActivityType.MODEL_USAGE,
        {"feature_app": "notebooklm", "feature": "add_source"},
    ),
    (
        "token",
        "auth",
        "authorize",
        {"app_name": "Zoom"},
        "app.authorized",
        AIActivityType.INTEGRATION_CREATED,
        {"app_access": "granted"},
    ),
    (
        "token",
        "auth",
        "revoke",
        {"app_name": "Zoom"},
        "app.revoked",
        AIActivityType.SETTINGS_CHANGE,
        {"app_access": "revoked"},
    ),
    (
        "token",
        "auth",
        "activity",
        {"app_name": "Zoom"},
        "app.data_accessed",
        AIActivityType.DATA_EXPORT,
        {},
    ),
    (
        "token",
        "auth",
        "request",
        {"app_name": "Zoom"},
        "app.access_requested",
        AIActivityType.SETTINGS_CHANGE,
        {},
    ),
    (
        "login",
        "login",
        "login_success",
        {},
        "user.login",
        AIActivityType.LOGIN,
        {"outcome": "success"},
    ),
    (
        "login",
        "login",
        "login_failure",
        {"login_failure_type": "login_failure_invalid_password"},
        "user.login.failed",
        AIActivityType.LOGIN,
        {"outcome": "failure", "error_message": "login_failure_invalid_password"},
    ),
    ("login", "login", "logout", {}, "user.logout", AIActivityType.LOGOUT, {}),
    (
        "login",
        "login",
        "login_challenge",
        {},
        "user.login.challenge",
        AIActivityType.LOGIN,
        {},
    ),
    (
        "login",
        "login",
        "login_verification",
        {},
        "user.login.verified",
        AIActivityType.LOGIN,
        {},
    ),
    (
        "login",
        "account_warning",
        "suspicious_login",
        {},
        "account.warning.suspicious_login",
        AIActivityType.SETTINGS_CHANGE,
        {},
    ),
    (
        "login",
        "account_warning",
        "account_disabled_password_leak",
        {},
        "account.warning.account_disabled_password_leak",
        AIActivityType.SETTINGS_CHANGE,
        {},
    ),
    (
        "login",
        "2sv_change",
        "2sv_enroll",
        {},
        "user.2sv.enrolled",
        AIActivityType.SETTINGS_CHANGE,
        {},
    ),
    (
        "login",
        "2sv_change",
        "2sv_disable",
        {},
        "user.2sv.disabled",
        AIActivityType.SETTINGS_CHANGE,
        {},
    ),
    (
        "login",
        "password_change",
        "password_edit",
        {},
        "user.password.changed",
        AIActivityType.SETTINGS_CHANGE,
        {},
    ),
    (
        "login",
        "login",
        "risky_sensitive_action_allowed",
        {},
        "login/risky_sensitive_action_allowed",
        AIActivityType.SETTINGS_CHANGE,
        {},
    ),
]


@pytest.mark.parametrize("case", ROWS, ids=[f"{r[0]}:{r[1]}/{r[2]}" for r in ROWS])
def test_each_row(case):
    application, kind, name, parameters, action, activity_type, metadata = case
    entry = one(activity(application, [event(kind, name, **parameters)]))
    assert entry.action == action
    assert entry.activity_type is activity_type
    assert entry.native_type == f"{kind}/{name}"
    for key, value in metadata.items():
        assert entry.metadata[key] == value, key
    assert entry.platform == "gemini"


def test_an_event_without_a_type_passes_through_under_its_name():
    entry = one(activity("login", [event(None, "something_new")]))
    assert entry.native_type == entry.action == "something_new"
    assert entry.activity_type is AIActivityType.SETTINGS_CHANGE


def test_a_failed_status_is_a_failure_with_its_reason():
    raw = activity(
        "gemini_in_workspace_apps", [event("ai_usage_event", "feature_utilization")]
    )
    raw["events"][0]["status"] = {
        "eventStatus": "FAILED",
        "errorCode": "QUOTA",
        "errorMessage": "Daily limit reached",
        "httpStatusCode": 429,
    }
    entry = one(raw)
    assert entry.metadata["outcome"] == "failure"
    assert entry.metadata[keys.ERROR_MESSAGE] == "Daily limit reached"
    assert entry.metadata[keys.ERROR_CODE] == "QUOTA"


# -- parameters -------------------------------------------------------------------


def test_parameters_are_flattened_by_their_value_field():
    flat = flatten(
        [
            {"name": "s", "value": "text"},
            {"name": "i", "intValue": "-9223372036854775808"},
            {"name": "b", "boolValue": True},
            {"name": "m", "multiValue": ["a", "b"]},
            {"name": "mi", "multiIntValue": ["1", "2"]},
            {"name": "mb", "multiBoolValue": [True, False]},
            {
                "name": "msg",
                "messageValue": {"parameter": [{"name": "x", "value": "y"}]},
            },
            {
                "name": "mm",
                "multiMessageValue": [
                    {"parameter": [{"name": "scope_name", "value": "openid"}]},
                    {
                        "parameter": [
                            {"name": "product_bucket", "multiValue": ["GMAIL"]}
                        ]
                    },
                ],
            },
            {"name": "none"},
        ]
    )
    assert flat == {
        "s": "text",
        "i": -9223372036854775808,
        "b": True,
        "m": ["a", "b"],
        "mi": [1, 2],
        "mb": [True, False],
        "msg": {"x": "y"},
        "mm": [{"scope_name": "openid"}, {"product_bucket": ["GMAIL"]}],
        "none": None,
    }


def test_the_details_are_the_flattened_parameters():
    entry = one(
        activity(
            "gemini_in_workspace_apps",
            [
                event(
                    "ai_usage_event",
                    "feature_utilization",
                    action="generate_text",
                    app_name="docs",
                    feature_source="help_me_write",
                    event_category="active_generate",
                )
            ],
            userDeviceInfo={
                "deviceType": "DESKTOP_CHROME",
                "deviceOsVersion": "macOS 14.5",
            },
            networkInfo={"ipAsn": [64496], "regionCode": "US"},
        )
    )
    assert entry.metadata[keys.DETAILS] == {
        "action": "generate_text",
        "app_name": "docs",
        "feature_source": "help_me_write",
        "event_category": "active_generate",
    }
    assert entry.metadata[keys.FEATURE_APP] == "docs"
    assert entry.metadata[keys.FEATURE] == "generate_text"
    assert entry.metadata["user_device_info"]["deviceType"] == "DESKTOP_CHROME"
    assert entry.metadata["network_info"]["regionCode"] == "US"
    assert entry.location is not None
    assert entry.location.country == "US"


# -- grants -----------------------------------------------------------------------


def grant(app_name: str, scopes: list[str], name: str = "authorize", **more: Any):
    return one(
        activity(
            "token",
            [
                event(
                    "auth",
                    name,
                    app_name=app_name,
                    client_id="123-abc.apps.googleusercontent.com",
                    client_type="WEB",
                    scope=scopes,
                    **more,
                )
            ],
        )
    )


def test_an_ai_app_reaching_mail_is_a_high_risk():
    entry = grant(
        "ChatGPT",
        ["https://www.googleapis.com/auth/gmail.readonly", "openid"],
    )
    metadata = entry.metadata
    assert metadata[keys.APP_NAME] == "ChatGPT"
    assert metadata[keys.APP_ID] == "123-abc.apps.googleusercontent.com"
    assert metadata[keys.APP_SCOPES] == [
        "https://www.googleapis.com/auth/gmail.readonly",
        "openid",
    ]
    assert metadata[keys.APP_ACCESS] == "granted"
    assert metadata[keys.APP_IS_AI] is True
    assert metadata[keys.APP_REACHES] == ["mail"]
    [indicator] = entry.risk_indicators
    assert indicator.severity is RiskSeverity.HIGH
    assert "ChatGPT" in indicator.evidence


def test_an_ai_app_reaching_only_the_calendar_is_a_medium_risk():
    [indicator] = grant(
        "Otter.ai", ["https://www.googleapis.com/auth/calendar.readonly"]
    ).risk_indicators
    assert indicator.severity is RiskSeverity.MEDIUM


def test_an_ordinary_app_reaching_files_is_a_low_risk():
    entry = grant("Zoom", ["https://www.googleapis.com/auth/drive.file"])
    assert entry.metadata[keys.APP_IS_AI] is False
    [indicator] = entry.risk_indicators
    assert indicator.severity is RiskSeverity.LOW
    assert indicator.type is AIRiskType.SENSITIVE_DATA


def test_an_ordinary_app_signing_in_only_is_no_risk():
    entry = grant(
        "Calendly", ["openid", "https://www.googleapis.com/auth/userinfo.email"]
    )
    assert entry.metadata[keys.APP_REACHES] == []
    assert entry.risk_indicators == ()


def test_a_revocation_carries_no_risk():
    entry = grant("ChatGPT", ["https://mail.google.com/"], name="revoke")
    assert entry.metadata[keys.APP_ACCESS] == "revoked"
    assert entry.risk_indicators == ()


def test_scopes_from_scope_data_when_scope_is_absent():
    raw = activity(
        "token",
        [
            {
                "type": "auth",
                "name": "authorize",
                "parameters": [
                    {"name": "app_name", "value": "Fireflies.ai Notetaker"},
                    {
                        "name": "scope_data",
                        "multiMessageValue": [
                            {
                                "parameter": [
                                    {
                                        "name": "scope_name",
                                        "value": "https://www.googleapis.com/auth/drive.readonly",
                                    }
                                ]
                            },
                        ],
                    },
                ],
            }
        ],
    )
    entry = one(raw)
    assert entry.metadata[keys.APP_SCOPES] == [
        "https://www.googleapis.com/auth/drive.readonly"
    ]
    assert entry.metadata[keys.APP_REACHES] == ["files"]


def test_an_api_call_reaches_its_product_bucket():
    entry = one(
        activity(
            "token",
            [
                event(
                    "auth",
                    "activity",
                    app_name="Perplexity",
                    product_bucket="GMAIL",
                    num_response_bytes=18342,
                )
            ],
        )
    )
    assert entry.metadata[keys.APP_REACHES] == ["mail"]
    assert entry.metadata[keys.APP_IS_AI] is True
    assert keys.APP_ACCESS not in entry.metadata
    assert entry.metadata[keys.DETAILS]["num_response_bytes"] == 18342


@pytest.mark.parametrize(
    ("name", "is_ai"),
    [
        ("Claude", True),
        ("Acme AI Notetaker", True),
        ("MailGPT", True),
        ("Potter's Calendar", False),
        ("Slack", False),
        ("Fireflies.ai", True),
    ],
)
def test_ai_apps_are_known_by_whole_words(name, is_ai):
    assert grant(name, ["openid"]).metadata[keys.APP_IS_AI] is is_ai


# -- risks of sign-ins ---------------------------------------------------------------


def test_a_suspicious_sign_in_is_flagged():
    entry = one(
        activity("login", [event("login", "login_success", is_suspicious=True)])
    )
    [indicator] = entry.risk_indicators
    assert indicator.type is AIRiskType.SECURITY_EVENT


def test_an_account_warning_is_a_security_event():
    entry = one(
        activity("login", [event("account_warning", "account_disabled_hijacked")])
    )
    [indicator] = entry.risk_indicators
    assert indicator.type is AIRiskType.SECURITY_EVENT


# -- what cannot be read ------------------------------------------------------------


def quarantined(raw: Any) -> list[QuarantinedRecord]:
    return [r for r in read_activity("login", raw) if isinstance(r, QuarantinedRecord)]


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (lambda r: r.update(id="x"), "id is not an object"),
        (lambda r: r["id"].pop("time"), "id.time"),
        (lambda r: r["id"].update(time="2026-11-20T09:41:07"), "no UTC offset"),
        (lambda r: r["id"].update(time="yesterday"), "id.time"),
        (lambda r: r["id"].update(uniqueQualifier="12abc"), "not an int64"),
        (lambda r: r.update(events=[]), "events"),
        (lambda r: r.update(events="login"), "events"),
    ],
)
def test_an_activity_whose_id_or_events_cannot_be_read_is_quarantined_whole(
    spoil, reason
):
    raw = activity("login", [event("login", "logout"), event("login", "login_success")])
    spoil(raw)
    [record] = quarantined(raw)
    assert reason in record.reason


def test_not_an_object_is_quarantined():
    [record] = quarantined(["not", "an", "activity"])
    assert "not an object" in record.reason


@pytest.mark.parametrize(
    ("where", "value", "reason"),
    [
        ("email", "alice\x00@acme.example", "control character"),
        ("email", "alice\ud800@acme.example", "lone surrogate"),
        ("profileId", "1" * 6000, "6000 characters"),
        ("ip", "192.0.2.1\x00", "control character"),
    ],
)
def test_a_poisoned_event_is_quarantined_with_its_log_id(where, value, reason):
    raw = activity("login", [event("login", "logout")])
    if where == "ip":
        raw["ipAddress"] = value
    else:
        raw["actor"] = {**ALICE, where: value}
    [record] = quarantined(raw)
    assert reason in record.reason
    assert record.native_id == log_id(
        CUSTOMER,
        "login",
        datetime(2026, 11, 20, 9, 41, 7, 512000, tzinfo=UTC),
        "-3857165183452716234",
        0,
    )


def test_one_bad_event_leaves_its_siblings():
    raw = activity(
        "login",
        [
            event("login", "login_verification"),
            {
                "type": "login",
                "name": "login_success",
                "parameters": [{"name": "n", "intValue": "twelve"}],
            },
        ],
    )
    first, second = read_activity("login", raw)
    assert isinstance(first, AIAuditLog)
    assert isinstance(second, QuarantinedRecord)
    assert second.native_id == first.id[:-1] + "1"
    assert "not an int64" in second.reason


def test_the_raw_record_is_kept_unchanged():
    raw = activity("login", [event("login", "logout")])
    before = copy.deepcopy(raw)
    assert one(raw).raw == before


def test_format_time_is_rfc3339_utc_with_z():
    moment = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert format_time(moment) == "2026-11-20T09:00:00.000000Z"
