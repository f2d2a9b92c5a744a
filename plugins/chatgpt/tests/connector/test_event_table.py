"""The shipped event table against the Admin API's spec and the mapping
document, and the filters it pushes down to each API."""

from __future__ import annotations

import importlib.resources
import re

import pytest
from contract_data import OPENAI_ADMIN, contract
from normalize_records import (
    DOC,
    NORMALIZER,
    TABLE,
    admin_record,
)

from aiaudit_chatgpt.event_map import (
    NativeFilter,
    is_tenant_scoped,
    native_filter,
)
from connector_core.models import (
    AIActivityType,
    AIAuditLog,
)


# --------------------------------------------------------------------------
# The table against the spec and the documentation
# --------------------------------------------------------------------------


def spec_event_types() -> list[str]:
    return contract(OPENAI_ADMIN)["components"]["schemas"]["AuditLogEventType"]["enum"]


def expected_mapping(native_type: str) -> tuple[str, str]:
    """The (action, activity) the table documents for *native_type*."""
    row = TABLE["admin"]["types"].get(native_type)
    if row is not None:
        return row["action"], row["activity"]
    prefixes = [p for p in TABLE["admin"]["prefixes"] if native_type.startswith(p)]
    assert prefixes, f"{native_type} is neither listed nor under a prefix rule"
    assert TABLE["admin"]["prefixes"][prefixes[0]]["rule"] == "pass_through"
    return native_type, TABLE["defaults"]["pass_through_activity"]


def test_table_covers_the_spec_event_enum():
    enum = spec_event_types()
    assert len(enum) == 145
    # Every listed type is a real one: a typo would silently never match.
    assert set(TABLE["admin"]["types"]) <= set(enum)
    for native_type in enum:
        action, activity = expected_mapping(native_type)
        log = NORMALIZER.admin_audit_log(admin_record(native_type))
        assert isinstance(log, AIAuditLog), log
        assert (log.action, log.activity_type.value) == (action, activity)
        if native_type in TABLE["admin"]["types"]:
            assert f"`{native_type}`" in DOC
        else:
            assert any(f"`{prefix}*`" in DOC for prefix in TABLE["admin"]["prefixes"])


def test_an_unknown_admin_type_passes_through_as_a_settings_change():
    log = NORMALIZER.admin_audit_log(admin_record("sso.enforced"))
    assert isinstance(log, AIAuditLog)
    assert log.action == "sso.enforced"
    assert log.activity_type is AIActivityType.SETTINGS_CHANGE
    assert log.native_type == "sso.enforced"
    assert log.metadata["resource_type"] == "sso"


def doc_rows() -> list[str]:
    return [line for line in DOC.splitlines() if line.startswith("|")]


def has_row(*cells: object) -> bool:
    spans = [f"`{cell}`" for cell in cells]
    return any(all(span in row for span in spans) for row in doc_rows())


def values(value: object) -> list[str]:
    """Every scalar value in the table, as text."""
    if isinstance(value, dict):
        return [text for child in value.values() for text in values(child)]
    if isinstance(value, list):
        return [text for item in value for text in values(item)]
    return [] if isinstance(value, bool) else [str(value)]


def entry_names() -> list[str]:
    """The names of the table's entries (not of its sections or fields)."""
    tables = [
        TABLE["admin"]["types"],
        TABLE["admin"]["prefixes"],
        TABLE["compliance"]["messages"],
        TABLE["compliance"]["events"],
        *TABLE["compliance"]["events"].values(),
        TABLE["compliance"]["other_types"],
        TABLE["gpts"],
        TABLE["risks"],
    ]
    return [name for table in tables for name in table]


def test_doc_lists_every_entry_of_the_table():
    expected = set(entry_names()) | (set(values(TABLE)) - {"1", "pass_through"})
    missing = sorted(text for text in expected if text not in DOC)
    assert not missing, f"missing from docs/chatgpt-mapping.md: {missing}"


def test_doc_admin_tables_match_the_table_row_by_row():
    for native, row in TABLE["admin"]["types"].items():
        assert has_row(native, row["action"], row["activity"], row["resource"]), native
        if row.get("tenant"):
            assert any(f"`{native}`" in r and "yes" in r for r in doc_rows()), native
    for prefix in TABLE["admin"]["prefixes"]:
        assert has_row(f"{prefix}*"), prefix


def test_doc_tables_match_the_rest_of_the_table_row_by_row():
    for row in TABLE["compliance"]["messages"].values():
        assert has_row(row["action"], row["activity"]), row
    for record_type, events in TABLE["compliance"]["events"].items():
        for event_type, row in events.items():
            actions = [row["action"], row.get("widened"), row.get("narrowed")]
            assert has_row(
                f"{record_type}:{event_type}",
                *[a for a in actions if a],
                row["activity"],
            ), event_type
    for record_type, activity in TABLE["compliance"]["other_types"].items():
        assert has_row(record_type, activity), record_type
    for row in TABLE["gpts"].values():
        assert has_row(row["action"], row["activity"]), row
    for action, risk in TABLE["risks"].items():
        assert has_row(action, risk["type"], risk["severity"]), action
        assert any(
            f"`{action}`" in r and f"| {risk['confidence']} |" in r for r in doc_rows()
        )
    for action in TABLE["vocabulary"]["reserved"]:
        assert f"`{action}`" in DOC


def test_table_ships_inside_the_package():
    resource = importlib.resources.files("aiaudit_chatgpt").joinpath("event_map.toml")
    assert resource.is_file()


def test_table_activities_are_all_activity_types():
    rows = [
        *TABLE["admin"]["types"].values(),
        *TABLE["compliance"]["messages"].values(),
        *(
            r
            for events in TABLE["compliance"]["events"].values()
            for r in events.values()
        ),
        *TABLE["gpts"].values(),
    ]
    for row in rows:
        AIActivityType(row["activity"])
        assert re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", row["action"]), row
    for activity in TABLE["compliance"]["other_types"].values():
        AIActivityType(activity)


# --------------------------------------------------------------------------
# Filter pushdown
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        (
            {"user.login", "file.uploaded"},
            NativeFilter(
                admin_event_types=frozenset({"login.succeeded"}),
                compliance_event_types=frozenset({"AUTH_LOG", "CONVERSATION_MESSAGE"}),
                gpts=False,
            ),
        ),
        (
            {"gpt.created"},
            NativeFilter(
                admin_event_types=frozenset(),
                compliance_event_types=frozenset(),
                gpts=True,
            ),
        ),
        (
            None,
            NativeFilter(
                admin_event_types=None, compliance_event_types=None, gpts=True
            ),
        ),
        (
            {"tenant.user.added"},
            NativeFilter(
                admin_event_types=frozenset({"tenant.user.added"}),
                compliance_event_types=frozenset(),
                gpts=False,
            ),
        ),
        (
            {"user.invited", "share.revoked"},
            NativeFilter(
                admin_event_types=frozenset({"invite.sent"}),
                compliance_event_types=frozenset({"AUDIT_LOG"}),
                gpts=False,
            ),
        ),
        (
            {"codex_log.prompt_sent"},
            NativeFilter(
                admin_event_types=frozenset(),
                compliance_event_types=frozenset({"CODEX_LOG"}),
                gpts=False,
            ),
        ),
        # Reserved: ours, but no API reports it.
        (
            {"file.downloaded"},
            NativeFilter(
                admin_event_types=frozenset(),
                compliance_event_types=frozenset(),
                gpts=False,
            ),
        ),
        # A native name that is mapped to something else is never produced.
        (
            {"login.succeeded", "not an action"},
            NativeFilter(
                admin_event_types=frozenset(),
                compliance_event_types=frozenset(),
                gpts=False,
            ),
        ),
        (
            [],
            NativeFilter(
                admin_event_types=frozenset(),
                compliance_event_types=frozenset(),
                gpts=False,
            ),
        ),
    ],
)
def test_native_filter(actions, expected):
    assert native_filter(actions) == expected


def test_native_filter_takes_a_lone_string_as_one_action():
    assert native_filter("user.logout").admin_event_types == frozenset(
        {"logout.succeeded"}
    )


def test_every_mapped_admin_type_is_reachable_by_its_action():
    for native, row in TABLE["admin"]["types"].items():
        found = native_filter([row["action"]]).admin_event_types
        assert found is not None
        assert native in found


def test_tenant_scope():
    assert is_tenant_scoped("tenant.user.added")
    assert is_tenant_scoped("tenant.admin_api_key.created")
    assert is_tenant_scoped("role.bound_to_resource")
    assert not is_tenant_scoped("api_key.created")
    assert not is_tenant_scoped("brand.new")
