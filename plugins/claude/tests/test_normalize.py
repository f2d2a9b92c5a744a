"""One activity becomes one log: every actor kind has a user id, records the
feed ties to no organization take the parent's, a type nobody mapped passes
through under its own name, and a record of another shape is refused with
the field at fault, to be quarantined."""

from __future__ import annotations

import pytest

from aiaudit_claude.normalize import UNSCOPED, normalize_activity
from connector_core import AIActivityType, RecordRefusedError, normalize_or_quarantine


BASE = {
    "id": "activity_01",
    "created_at": "2026-11-20T09:10:10Z",
    "organization_id": "org_01",
    "organization_uuid": "abcdef01-2345-6789-abcd-ef0123456789",
    "type": "claude_chat_created",
    "claude_chat_id": "claude_chat_01",
    "claude_project_id": None,
}


def activity(**changes):
    return {**BASE, "actor": {"type": "user_actor"}, **changes}


@pytest.mark.parametrize(
    ("actor", "user_id", "email"),
    [
        (
            {"type": "user_actor", "user_id": "user_01", "email_address": "a@x.test"},
            "user_01",
            "a@x.test",
        ),
        ({"type": "api_actor", "api_key_id": "apikey_01"}, "apikey_01", None),
        (
            {"type": "admin_api_key_actor", "admin_api_key_id": "adminkey_01"},
            "adminkey_01",
            None,
        ),
        (
            {
                "type": "unauthenticated_user_actor",
                "unauthenticated_email_address": "m@x.test",
            },
            "m@x.test",
            "m@x.test",
        ),
        ({"type": "unauthenticated_user_actor"}, "unauthenticated", None),
        ({"type": "anthropic_actor", "email_address": None}, "anthropic", None),
        (
            {
                "type": "scim_directory_sync_actor",
                "directory_id": "directory_01",
                "workos_event_id": "event_01",
            },
            "directory_01",
            None,
        ),
        ({"type": "service_account_actor", "service_account_id": "sa_1"}, "sa_1", None),
        ({"type": "future_actor"}, "future_actor", None),
    ],
)
def test_every_actor_kind_has_a_user(actor, user_id, email):
    (log,) = normalize_activity(activity(actor=actor))
    assert (log.user_id, log.user_email) == (user_id, email)
    assert log.metadata["actor_type"] == actor["type"]


def test_a_typed_address_of_a_member_is_that_member():
    # Someone not yet signed in is known by the address they typed: when it
    # is a member's (in any case), the activity is that member's; another
    # address stays the actor's id, and a signed-in actor is never changed.
    members = {"m@x.test": "user_m", "a@x.test": "user_other"}
    typed = {
        "type": "unauthenticated_user_actor",
        "unauthenticated_email_address": "M@X.test",
    }
    (log,) = normalize_activity(activity(actor=typed), members=members)
    assert (log.user_id, log.user_email) == ("user_m", "M@X.test")
    stranger = {**typed, "unauthenticated_email_address": "who@else.test"}
    (log,) = normalize_activity(activity(actor=stranger), members=members)
    assert log.user_id == "who@else.test"
    user = {"type": "user_actor", "user_id": "user_01", "email_address": "a@x.test"}
    (log,) = normalize_activity(activity(actor=user), members=members)
    assert log.user_id == "user_01"


def test_mapped_type_fields_and_metadata():
    (log,) = normalize_activity(
        activity(
            actor={"type": "user_actor", "user_id": "u", "ip_address": "192.0.2.1"}
        )
    )
    assert log.action == "conversation.created"
    assert log.activity_type is AIActivityType.CONVERSATION
    assert log.native_type == "claude_chat_created"
    assert log.ip_address == "192.0.2.1"
    assert log.metadata["claude_chat_id"] == "claude_chat_01"
    assert log.metadata["resource_type"] == "chat"
    assert "actor" not in log.metadata
    assert log.timestamp.tzinfo is not None
    assert log.raw["id"] == "activity_01"


def test_an_unmapped_type_passes_through():
    (log,) = normalize_activity(activity(type="hologram_created", hologram_id="h1"))
    assert log.action == "hologram_created"
    assert log.activity_type is AIActivityType.SETTINGS_CHANGE
    assert log.metadata["hologram_id"] == "h1"


def test_a_record_tied_to_no_organization_takes_the_parents():
    record = activity(organization_id=None, organization_uuid=None)
    (log,) = normalize_activity(record, organization="org_parent")
    assert log.organization_id == "org_parent"
    (unnamed,) = normalize_activity(record)
    assert unnamed.organization_id == UNSCOPED


@pytest.mark.parametrize(
    ("record", "fragment"),
    [
        (activity(created_at="2026-11-20T09:10:10"), "no UTC offset"),
        (activity(created_at="yesterday"), "created_at"),
        ({**BASE}, "actor"),
        (activity(id=7), "id"),
        (activity(actor="user"), "actor"),
        ([1, 2], "malformed"),
    ],
)
def test_a_record_of_another_shape_is_refused_and_quarantined(record, fragment):
    with pytest.raises(RecordRefusedError) as info:
        normalize_activity(record)
    assert fragment in info.value.reason
    kept = normalize_or_quarantine("activities", record, normalize_activity)
    assert fragment in kept.reason
