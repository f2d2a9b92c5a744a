"""The exports know no platform: a plugin the core never heard of exports fully.

"Lumen" exists only in this file: its records have a shape of their own, its
normalizer fills the neutral metadata keys (``connector_core.metadata_keys``)
and its connector class names it. The OCSF events of its logs carry the
entity, group, target user, file and original time, and name the platform as
the connector class does, so nothing in the core can be reading a known
platform's record shapes. The CLI gets the names from the registry: an
installed plugin's ``display_name`` reaches ``aiaudit logs --format ocsf``.

The example plugin (``examples/aiaudit-example``), installed as any third
party's is, goes the whole way: loaded by ``Registry.load()``, read from its
own sandbox, exported, and every event validated against the OCSF schema.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
from contract_data import OCSF_CLASSES, contract
from toy import ToyConnector

from connector_core import Registry, hookimpl
from connector_core import metadata_keys as keys
from connector_core.export import to_ocsf, validate_ocsf
from connector_core.export.formats import write_logs
from connector_core.models import AIActivityType, AIAuditLog, AIAuditLogQuery
from connector_core.paging import iter_logs
from connector_core.sandbox import SandboxOptions
from connector_core.serialization import camel_key, snake_key, unstructure
from connector_core.store import open_store
from connector_core.store.base import SavedConnection
from connector_core.testing.ocsf import assert_valid_ocsf, bundled_schema
from connector_core.testing.processes import AIAUDIT, clean_env


# -- a plugin of a platform the core cannot know --------------------------

LUMEN_RECORDS: list[dict[str, Any]] = [
    {
        "uuid": "l-1",
        "stamp": "2025-03-04T10:00:00.250+01:00",
        "verb": "space.renamed",
        "who": {"handle": "u-7", "mail": "mo@example.org"},
        "object": {"kind": "space", "key": "sp-9", "label": "Research"},
    },
    {
        "uuid": "l-2",
        "stamp": "2025-03-04T10:05:00+01:00",
        "verb": "team.member.added",
        "who": {"handle": "u-7", "mail": "mo@example.org"},
        "object": {"kind": "team", "key": "t-3", "label": "Analysts"},
        "subject": {"handle": "u-8", "mail": "kim@example.org"},
    },
    {
        "uuid": "l-3",
        "stamp": "2025-03-04T10:06:00+01:00",
        "verb": "user.invited",
        "who": {"handle": "u-7", "mail": "mo@example.org"},
        "subject": {"mail": "new@example.org"},
    },
    {
        "uuid": "l-4",
        "stamp": "2025-03-04T10:07:00+01:00",
        "verb": "file.uploaded",
        "who": {"handle": "u-8", "mail": "kim@example.org"},
        "attachment": {"ref": "f-1", "title": "plan.pdf", "bytes": 2048},
    },
    {
        "uuid": "l-5",
        "stamp": "2025-03-04T10:08:00+01:00",
        "verb": "login.failed",
        "who": {"handle": "u-8", "mail": "kim@example.org"},
        "outcome": {"code": "E42", "why": "expired password"},
    },
    {
        "uuid": "l-6",
        "stamp": "2025-03-04T10:09:00+01:00",
        "verb": "chat.sent",
        "who": {"handle": "u-8", "mail": "kim@example.org"},
        "thread": {"id": "th-1", "topic": "Budget"},
        "helper": {"id": "h-2", "name": "Analyst", "kind": "persona"},
    },
]

_ACTIONS = {
    "space.renamed": ("project.updated", AIActivityType.SETTINGS_CHANGE),
    "team.member.added": ("group.member.added", AIActivityType.SETTINGS_CHANGE),
    "user.invited": ("user.invited", AIActivityType.SETTINGS_CHANGE),
    "file.uploaded": ("file.uploaded", AIActivityType.FILE_UPLOAD),
    "login.failed": ("user.login.failed", AIActivityType.LOGIN),
    "chat.sent": ("conversation.message", AIActivityType.CONVERSATION),
}


def lumen_log(record: dict[str, Any]) -> AIAuditLog:
    """Lumen's normalizer: its own shapes in, neutral keys out."""
    action, activity = _ACTIONS[record["verb"]]
    metadata: dict[str, Any] = {
        keys.ACTOR_TYPE: "user",
        keys.ORIGINAL_TIME: record["stamp"],
        keys.DETAILS: {k: v for k, v in record.items() if k not in {"uuid", "who"}},
    }
    thing = record.get("object")
    if thing is not None and thing["kind"] == "team":
        metadata[keys.GROUP_ID] = thing["key"]
        metadata[keys.GROUP_NAME] = thing["label"]
    elif thing is not None:
        metadata[keys.RESOURCE_TYPE] = "project"
        metadata[keys.RESOURCE_ID] = thing["key"]
        metadata[keys.RESOURCE_NAME] = thing["label"]
    if (subject := record.get("subject")) is not None:
        if "handle" in subject:
            metadata[keys.TARGET_USER_ID] = subject["handle"]
        metadata[keys.TARGET_USER_EMAIL] = subject["mail"]
    if (attachment := record.get("attachment")) is not None:
        metadata[keys.FILE_ID] = attachment["ref"]
        metadata[keys.FILE_NAME] = attachment["title"]
    if (outcome := record.get("outcome")) is not None:
        metadata[keys.ERROR_CODE] = outcome["code"]
        metadata[keys.ERROR_MESSAGE] = outcome["why"]
    if (thread := record.get("thread")) is not None:
        metadata[keys.CONVERSATION_ID] = thread["id"]
        metadata[keys.CONVERSATION_TITLE] = thread["topic"]
    if (helper := record.get("helper")) is not None:
        metadata[keys.ASSISTANT_ID] = helper["id"]
        metadata[keys.ASSISTANT_NAME] = helper["name"]
        metadata[keys.ASSISTANT_TYPE] = helper["kind"]
    return AIAuditLog(
        id=record["uuid"],
        platform="lumen",
        timestamp=dt.datetime.fromisoformat(record["stamp"]),
        user_id=record["who"]["handle"],
        user_email=record["who"]["mail"],
        organization_id="lumen-org",
        activity_type=activity,
        action=action,
        metadata=metadata,
        native_type=record["verb"],
        raw=record,
    )


class LumenConnector(ToyConnector):
    """A working connector (the toy's operations) of a platform of its own."""

    platform: ClassVar[str] = "lumen"
    display_name: ClassVar[str] = "Lumen Workspace"


class LumenPlugin:
    @hookimpl
    def aiaudit_register_connectors(self, register: Any) -> None:
        register(LumenConnector)


@pytest.fixture(scope="module")
def events() -> dict[str, dict[str, Any]]:
    registry = Registry.load(
        entry_points=False, plugins=[("lumen", LumenPlugin())], environ={}
    )
    names = registry.display_names
    assert names == {"lumen": "Lumen Workspace"}
    return {
        record["uuid"]: to_ocsf(lumen_log(record), display_names=names)
        for record in LUMEN_RECORDS
    }


def test_every_event_is_valid_ocsf(events):
    reference = contract(OCSF_CLASSES)
    for event in events.values():
        assert_valid_ocsf(event)
        assert validate_ocsf(event, reference) == []
        assert event["metadata"]["log_name"] == "lumen"


def test_original_time_is_the_platforms_own_text(events):
    event = events["l-1"]
    assert event["metadata"]["original_time"] == "2025-03-04T10:00:00.250+01:00"
    assert event["time_dt"] == "2025-03-04T09:00:00.250000Z"


def test_entity_group_and_target_user_come_from_neutral_keys(events):
    assert events["l-1"]["entity"] == {
        "uid": "sp-9",
        "name": "Research",
        "type": "project",
    }
    assert events["l-2"]["group"] == {"uid": "t-3", "name": "Analysts"}
    assert events["l-2"]["users"] == [{"uid": "u-8", "email_addr": "kim@example.org"}]
    assert events["l-3"]["user"] == {
        "email_addr": "new@example.org",
        "name": "new@example.org",
    }


def test_file_failure_and_resources_come_from_neutral_keys(events):
    assert events["l-4"]["file"] == {
        "name": "plan.pdf",
        "type_id": 1,
        "type": "Regular File",
        "uid": "f-1",
    }
    failed = events["l-5"]
    assert (failed["status"], failed["status_code"], failed["status_detail"]) == (
        "Failure",
        "E42",
        "expired password",
    )
    assert events["l-6"]["resources"] == [
        {"uid": "th-1", "type": "conversation", "name": "Budget"},
        {"uid": "h-2", "type": "persona", "name": "Analyst"},
    ]


def test_the_platform_is_named_as_its_connector_class_names_it(events):
    assert events["l-5"]["service"] == {"name": "Lumen Workspace"}
    assert events["l-6"]["api"]["service"] == {"name": "Lumen Workspace"}
    assert events["l-6"]["message"] == (
        "conversation.message by kim@example.org on Lumen Workspace"
    )


def test_a_log_stored_before_the_neutral_keys_exports_with_fewer_fields():
    """An earlier version kept the names only in the platform's payload."""
    old = lumen_log(LUMEN_RECORDS[0])
    bare = {
        key: value
        for key, value in old.metadata.items()
        if key in {keys.DETAILS, keys.ACTOR_TYPE}
    }
    event = to_ocsf(attrs.evolve(old, metadata=bare))
    assert_valid_ocsf(event)
    assert validate_ocsf(event, contract(OCSF_CLASSES)) == []
    assert event["entity"] == {"name": "project", "type": "project"}
    assert "original_time" not in event["metadata"]
    assert event["unmapped"]["metadata"]["details"] == bare[keys.DETAILS]


def test_write_logs_passes_the_names_to_ocsf():
    out = io.StringIO()
    write_logs(
        [lumen_log(LUMEN_RECORDS[4])],
        out,
        format="ocsf",
        display_names={"lumen": "Lumen Workspace"},
    )
    assert json.loads(out.getvalue())["service"] == {"name": "Lumen Workspace"}


def test_the_cli_names_an_installed_plugin_as_its_connector_class(tmp_path):
    """The example plugin (installed with the dev group) calls itself
    "Example Reports"; the core has no table that could say so."""
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(store_url)
    try:
        store.add_connection(
            SavedConnection(
                name="ex",
                platform="example",
                config={},
                created_at=dt.datetime(2025, 3, 1, tzinfo=dt.UTC),
            )
        )
        log = attrs.evolve(lumen_log(LUMEN_RECORDS[4]), platform="example")
        store.write_batch("ex", "audit", [log])
    finally:
        store.close()
    result = subprocess.run(
        [str(AIAUDIT), "--store", store_url, "logs", "--format", "ocsf"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    event = json.loads(result.stdout)
    assert event["service"] == {"name": "Example Reports"}


# -- an installed third-party plugin, read from its own sandbox -----------

EXAMPLE_END = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
EXAMPLE_DAYS = 7


async def _sandbox_logs(registry: Registry, platform: str) -> list[AIAuditLog]:
    provider = registry.sandbox(platform)
    assert provider is not None, f"the {platform} plugin ships no sandbox"
    options = SandboxOptions(seed=7, events=300, days=EXAMPLE_DAYS, end=EXAMPLE_END)
    query = AIAuditLogQuery(
        start_date=EXAMPLE_END - dt.timedelta(days=EXAMPLE_DAYS),
        end_date=EXAMPLE_END - dt.timedelta(microseconds=1),
    )
    async with (
        provider.start(options) as running,
        registry.create(platform, running.config) as connector,
    ):
        return [log async for log in iter_logs(connector, query)]


@pytest.fixture(scope="module")
def example() -> tuple[str, str, list[tuple[AIAuditLog, dict[str, Any]]]]:
    """The example plugin's logs and their OCSF events, as a host gets them:
    the registry loads the installed plugin by its entry point, and nothing
    here reads its record shapes."""
    registry = Registry.load(environ={"AIAUDIT_PLUGINS": "example"})
    [platform] = list(registry.display_names)
    logs = asyncio.run(_sandbox_logs(registry, platform))
    names = registry.display_names
    exported = [(log, to_ocsf(log, display_names=names)) for log in logs]
    return platform, names[platform], exported


def test_an_installed_plugins_events_are_full_ocsf(example):
    """Every event the example's sandbox leads to is valid by the OCSF schema
    and carries every attribute its class requires."""
    platform, display_name, exported = example
    assert len(exported) > 100
    required = {
        spec["uid"]: {
            name
            for name, attribute in spec["attributes"].items()
            if attribute.get("requirement") == "required" and "profile" not in attribute
        }
        for spec in bundled_schema()["classes"].values()
    }
    classes = set()
    for log, event in exported:
        assert_valid_ocsf(event)
        assert required[event["class_uid"]] <= set(event), log.action
        assert event["metadata"]["log_name"] == platform
        assert event["unmapped"]["raw"] == unstructure(dict(log.raw))
        classes.add(event["class_uid"])
        if "service" in event:
            assert event["service"] == {"name": display_name}
        if "api" in event:
            assert event["api"]["service"] == {"name": display_name}
    # Its sign-ins, prompts and file uploads each land in their own class.
    assert classes == {3002, 6003, 6006}


def test_the_docs_list_every_neutral_key_and_no_other():
    doc = (Path(__file__).parents[2] / "docs" / "models.md").read_text()
    section = doc.split("## Metadata conventions", 1)[1].split("\n## ", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("| `")]
    listed = {
        key for line in table for key in re.findall(r"`([a-z_]+)`", line.split("|")[1])
    }
    assert listed == keys.NEUTRAL_KEYS
    for key in keys.NEUTRAL_KEYS:  # each takes the camel shape and comes back
        assert snake_key(camel_key(key)) == key
