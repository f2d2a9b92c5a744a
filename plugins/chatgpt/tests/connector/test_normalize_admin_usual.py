"""The usual admin record is read without the wire classes; what it becomes
must be what the wire path makes of it, and anything unusual must be left to
that path (which alone refuses, with its own words).

Compared on every record of a sandbox's audit log and on each of them
altered one envelope field at a time (removed, emptied, of another type).
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import cattrs
import pytest

from aiaudit_chatgpt.admin_audit_log import (
    _admin_log_from,
    _usual_admin_log,
    admin_log,
)
from aiaudit_chatgpt.sandbox.audit import AuditLogData
from aiaudit_chatgpt.sandbox.org import Organization
from aiaudit_chatgpt.wire import STRUCTURE_ADMIN, AdminRecord
from connector_core.exceptions import RecordRefusedError
from connector_core.serialization import dumps


ORG = "org-test"
_GONE = object()

PATHS = (
    ("id",),
    ("type",),
    ("effective_at",),
    ("actor",),
    ("actor", "type"),
    ("actor", "session"),
    ("actor", "session", "user"),
    ("actor", "session", "user", "id"),
    ("actor", "session", "user", "email"),
    ("actor", "session", "ip_address"),
    ("actor", "session", "user_agent"),
    ("actor", "session", "ip_address_details"),
    ("actor", "api_key"),
    ("actor", "api_key", "type"),
    ("actor", "api_key", "id"),
    ("actor", "api_key", "user"),
    ("actor", "api_key", "user", "id"),
    ("actor", "api_key", "user", "email"),
    ("actor", "api_key", "service_account"),
    ("actor", "api_key", "service_account", "id"),
    ("project",),
    ("project", "id"),
    ("project", "name"),
)
VALUES: tuple[Any, ...] = (
    _GONE,
    None,
    "",
    "x",
    0,
    -1,
    7,
    10**12,
    True,
    1.5,
    [],
    {},
    {"id": "u"},
    "session",
    "api_key",
    "user",
    "service_account",
)


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    org = Organization.generate(
        seed=3,
        events=1500,
        start=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        end=dt.datetime(2025, 1, 15, tzinfo=dt.UTC),
    )
    return list(AuditLogData.generate(org, events=1500).iter_records())


def _wire_path(record: dict[str, Any]) -> tuple[str, Any]:
    """What the wire path (the strict converter, then the mapping) makes of
    *record*: the log's document, or the refusal."""
    try:
        wire = STRUCTURE_ADMIN(record, AdminRecord)
        return ("log", dumps(_admin_log_from(record, wire, ORG)))
    except cattrs.BaseValidationError:
        return ("malformed", None)
    except RecordRefusedError as refused:
        return ("refused", str(refused))


def _outcome(record: dict[str, Any]) -> tuple[str, Any]:
    try:
        return ("log", dumps(admin_log(record, ORG)))
    except RecordRefusedError as refused:
        if str(refused).startswith("malformed admin audit log record"):
            return ("malformed", None)
        return ("refused", str(refused))


def _altered(record: dict[str, Any], path: tuple[str, ...], value: Any) -> Any:
    changed = copy.deepcopy(record)
    parent = changed
    for key in path[:-1]:
        parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            return None
    if value is _GONE:
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = value
    return changed


def test_every_sandbox_record_is_read_as_the_wire_path_reads_it(records):
    usual = 0
    for record in records:
        log = _usual_admin_log(record, ORG)
        if log is not None:
            usual += 1
            expected = _admin_log_from(
                record, STRUCTURE_ADMIN(record, AdminRecord), ORG
            )
            assert log == expected
            assert dumps(log) == dumps(expected)
    # Every kind of actor the sandbox makes is usual.
    assert usual == len(records)


def test_altered_records_are_read_or_refused_as_the_wire_path_does(records):
    shapes: dict[tuple[str, ...], dict[str, Any]] = {}
    for record in records:
        actor = record.get("actor") or {}
        key = (str(actor.get("type")), str((actor.get("api_key") or {}).get("type")))
        shapes.setdefault(key, record)
    assert len(shapes) >= 3
    compared = 0
    for record in shapes.values():
        for path in PATHS:
            for value in VALUES:
                changed = _altered(record, path, value)
                if changed is None:
                    continue
                assert _outcome(changed) == _wire_path(changed), (path, value)
                compared += 1
    assert compared > 500
