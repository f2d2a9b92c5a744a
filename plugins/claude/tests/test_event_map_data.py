"""The mapping table, ``event_map.toml``, checked as data: against the
Activity Feed's list of types, the core's closed vocabularies, the ChatGPT
table's spellings and the mapping document.

The table is read with :mod:`tomllib` alone, not through the connector's
loader, so these checks hold the table to its contract whatever the code
around it does, and a broken row is reported by its native name.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from connector_core.models import AIActivityType, AIRiskType, RiskSeverity
from connector_core.testing.contracts import load_contract


HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
TABLE_PATH = HERE.parent / "aiaudit_claude" / "event_map.toml"
CHATGPT_TABLE_PATH = ROOT / "plugins" / "chatgpt" / "aiaudit_chatgpt" / "event_map.toml"
DOC_PATH = ROOT / "docs" / "claude-mapping.md"
CONTRACT_PATH = HERE / "contracts" / "activity-types.json"

ACTION = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)+")
NAME = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")
ROW_KEYS = frozenset({"action", "activity", "resource"})


def read_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        return tomllib.load(file)


TABLE = read_toml(TABLE_PATH)
TYPES: dict[str, dict[str, str]] = TABLE["activities"]["types"]
DOC = DOC_PATH.read_text(encoding="utf-8")


def contract_types() -> list[str]:
    contract = load_contract(CONTRACT_PATH, remake="its README's instructions")
    return [entry["type"] for entry in contract["types"]]


def mapped_actions() -> set[str]:
    return {row["action"] for row in TYPES.values()}


def chatgpt_actions() -> set[str]:
    """Every unified action the ChatGPT table names, reserved ones included."""
    table = read_toml(CHATGPT_TABLE_PATH)
    found: set[str] = set(table["vocabulary"]["reserved"])

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                if key in {"action", "widened", "narrowed"} and isinstance(child, str):
                    found.add(child)
                else:
                    walk(child)

    walk(table)
    return found


# --------------------------------------------------------------------------
# The table against the contract and the core's vocabularies
# --------------------------------------------------------------------------


def test_every_activity_type_of_the_contract_has_a_row():
    types = contract_types()
    assert len(types) == len(set(types)) == 402
    missing = sorted(set(types) - set(TYPES))
    assert not missing, f"types without a row: {missing}"


def test_every_row_is_a_type_of_the_contract():
    # A misspelt native name would never match a record: it must fail here.
    unknown = sorted(set(TYPES) - set(contract_types()))
    assert not unknown, f"rows for types the API does not list: {unknown}"


def test_rows_have_an_action_an_activity_and_a_resource():
    for native, row in TYPES.items():
        assert set(row) == ROW_KEYS, native
        assert all(isinstance(value, str) for value in row.values()), native
        assert NAME.fullmatch(row["resource"]), native


@pytest.mark.parametrize("native", sorted(TYPES))
def test_activity_is_an_activity_type(native):
    AIActivityType(TYPES[native]["activity"])


def test_pass_through_activity_is_an_activity_type():
    assert TABLE["version"] == 1
    AIActivityType(TABLE["defaults"]["pass_through_activity"])


def test_actions_are_dotted_lowercase():
    for native, row in TYPES.items():
        assert ACTION.fullmatch(row["action"]), (native, row["action"])
    for action in TABLE["vocabulary"]["reserved"]:
        assert ACTION.fullmatch(action), action


def test_reserved_actions_are_never_reported():
    assert not set(TABLE["vocabulary"]["reserved"]) & mapped_actions()


def test_outcome_in_the_native_name_is_kept():
    # The feed has no status field; the outcome is the name's suffix.
    for native, row in TYPES.items():
        failed = native.endswith("_failed")
        assert row["action"].endswith(".failed") == failed, native


def test_risks_are_well_formed_and_reachable():
    actions = mapped_actions()
    for action, risk in TABLE["risks"].items():
        assert action in actions, f"risk on {action}, which no row produces"
        AIRiskType(risk["type"])
        RiskSeverity(risk["severity"])
        assert 0 < risk["confidence"] <= 100, action
        assert risk["description"], action
        # Evidence is the text of one top-level field of the record, if any.
        assert NAME.fullmatch(risk.get("evidence", "none")), action


# --------------------------------------------------------------------------
# The vocabulary shared with the ChatGPT table
# --------------------------------------------------------------------------

# The correspondences of the platforms' comparison: the same meaning, so the
# same unified action on both platforms.
SHARED = {
    "sso_login_succeeded": "user.login",
    "magic_link_login_succeeded": "user.login",
    "social_login_succeeded": "user.login",
    "sso_login_failed": "user.login.failed",
    "magic_link_login_failed": "user.login.failed",
    "step_up_authentication_failed": "user.login.failed",
    "user_logged_out": "user.logout",
    "claude_file_uploaded": "file.uploaded",
    "claude_project_file_uploaded": "file.uploaded",
    "claude_project_document_uploaded": "file.uploaded",
    "platform_file_uploaded": "file.uploaded",
    "platform_file_content_downloaded": "file.downloaded",
    "claude_file_deleted": "file.deleted",
    "claude_chat_created": "conversation.created",
    "claude_chat_deleted": "conversation.deleted",
    "claude_project_created": "project.created",
    "claude_project_archived": "project.archived",
    "claude_project_deleted": "project.deleted",
    "api_key_created": "api_key.created",
    "admin_api_key_created": "api_key.created",
    "platform_api_key_created": "api_key.created",
    "service_key_created": "api_key.created",
    "scoped_api_key_deleted": "api_key.deleted",
    "admin_api_key_deleted": "api_key.deleted",
    "service_key_revoked": "api_key.deleted",
    "org_user_invite_sent": "user.invited",
    "org_user_invite_accepted": "invite.accepted",
    "org_user_invite_deleted": "invite.revoked",
    "claude_user_role_updated": "user.role.updated",
    "role_assignment_granted": "role.assignment.created",
    "role_assignment_revoked": "role.assignment.deleted",
    "rbac_role_assigned": "role.assignment.created",
    "org_user_deleted": "user.removed",
    "org_user_left": "user.removed",
    "claude_organization_settings_updated": "settings.updated",
    "mcp_server_created": "integration.enabled",
    "group_created": "group.created",
    "scim_user_created": "user.added",
}


@pytest.mark.parametrize(("native", "action"), sorted(SHARED.items()))
def test_shared_meanings_get_the_chatgpt_action(native, action):
    assert action in chatgpt_actions(), f"{action} is not a ChatGPT action"
    assert TYPES[native]["action"] == action


def spelling(action: str) -> str:
    """An action with separators and a plural ``s`` ignored."""
    return re.sub(r"s\b", "", action.replace("_", "").replace(".", " "))


def test_no_action_respells_a_chatgpt_action():
    # `certificates.activated` against `certificate.activated`, or
    # `ip_allowlist.created` against `ipallowlist.created`: one meaning must
    # have one spelling, or a filter written for both platforms misses rows.
    theirs = {spelling(action): action for action in chatgpt_actions()}
    for action in mapped_actions():
        twin = theirs.get(spelling(action))
        assert twin in {None, action}, f"{action} respells ChatGPT's {twin}"


# --------------------------------------------------------------------------
# The table against docs/claude-mapping.md
# --------------------------------------------------------------------------


def doc_cells() -> list[list[str]]:
    """The cells of every table row of the document, outer bars removed."""
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in DOC.splitlines()
        if line.startswith("|")
    ]


def documented_types() -> dict[str, list[str]]:
    """Native type -> its documented (action, activity, resource) cells."""
    found: dict[str, list[str]] = {}
    for cells in doc_cells():
        if len(cells) != 4:
            continue
        first = cells[0].strip("`")
        if cells[0] == f"`{first}`" and NAME.fullmatch(first):
            assert first not in found, f"{first} is documented twice"
            found[first] = [cell.strip("`") for cell in cells[1:]]
    return found


def test_doc_has_a_row_for_every_row_of_the_table():
    documented = documented_types()
    for native, row in TYPES.items():
        assert native in documented, f"{native} missing from docs/claude-mapping.md"
        expected = [row["action"], row["activity"], row["resource"]]
        assert documented[native] == expected, native


def test_doc_documents_no_row_the_table_lacks():
    extra = sorted(set(documented_types()) - set(TYPES))
    assert not extra, f"docs/claude-mapping.md maps types the table lacks: {extra}"


def test_doc_lists_the_risks_and_the_reserved_actions():
    for action, risk in TABLE["risks"].items():
        assert any(
            cells[0] == f"`{action}`"
            and f"`{risk['type']}`" in cells
            and f"`{risk['severity']}`" in cells
            and str(risk["confidence"]) in cells
            for cells in doc_cells()
        ), action
    for action in TABLE["vocabulary"]["reserved"]:
        assert f"`{action}`" in DOC, action
    pass_through = TABLE["defaults"]["pass_through_activity"]
    assert f"`{pass_through}`" in DOC


def test_docs_are_in_the_site_navigation():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "claude.md" in nav
    assert "claude-mapping.md" in nav
    overview = (ROOT / "docs" / "claude.md").read_text(encoding="utf-8")
    assert "(claude-mapping.md)" in overview


# --------------------------------------------------------------------------
# The example records
# --------------------------------------------------------------------------


def test_example_records_cover_every_actor_kind_and_map():
    fixture = load_contract(HERE / "contracts" / "activity-records.json")
    records = fixture["records"]
    kinds = {entry["record"]["actor"]["type"] for entry in records}
    assert set(fixture["actor_kinds"]) <= kinds
    assert len(fixture["actor_kinds"]) == 9
    unmapped = set()
    for entry in records:
        record = entry["record"]
        assert entry["actor_kind"] == record["actor"]["type"]
        assert {"id", "created_at", "type", "actor"} <= set(record), record["id"]
        if record["type"] not in TYPES:
            unmapped.add(record["type"])
    # The one unknown type is there on purpose, to be passed through.
    assert unmapped == {"claude_future_feature_enabled"}
