"""Native ChatGPT and OpenAI records, translated into the unified model.

Three feeds arrive in three shapes: the Admin API's audit log (one JSON object
per event, an actor of one of three shapes, a payload under a key named like
the event), the Compliance Logs Platform's JSONL records (conversation
messages, sign-ins, workspace admin actions) and the Compliance API's custom
GPT objects. The :class:`Normalizer` here is the one entry point for all
three: it turns each into :class:`AIAuditLog` values (and GPTs into
:class:`AutomationEvent` values). The reverse question, which native types to
ask each API for when a caller filters by unified action, is answered by the
mapping table's module and re-exported here.

The work is split along the same seams: the mapping table in
:mod:`aiaudit_chatgpt.event_map` (what is mapped to what is data, in
``event_map.toml``), the wire envelopes and their strict converter in
:mod:`aiaudit_chatgpt.wire`, the shared field readers in
:mod:`aiaudit_chatgpt.fields`, and one module per feed
(:mod:`aiaudit_chatgpt.admin_audit_log`, :mod:`aiaudit_chatgpt.compliance_log`,
:mod:`aiaudit_chatgpt.custom_gpt`). Types nobody mapped yet pass through
under their own name: a new OpenAI event is reported, not lost, and can be
re-normalized from ``raw`` once it is mapped.

A record that cannot be normalized (not an object, no id, a time in
milliseconds, an actor of an unknown shape...) never raises: it comes back as
a :class:`QuarantinedRecord` with a reason a person can act on. The envelope
fields are structured by one shared cattrs converter into small frozen wire
classes, so type errors are found in one place and reported with their path;
payloads are never structured, because they are kept verbatim and their
schemas are open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import orjson

from aiaudit_chatgpt.admin_audit_log import admin_log
from aiaudit_chatgpt.compliance_log import compliance_logs
from aiaudit_chatgpt.custom_gpt import GPT_NATIVE_TYPE, gpt_automation, gpt_logs
from aiaudit_chatgpt.event_map import (
    PLATFORM,
    STREAM_ADMIN,
    STREAM_COMPLIANCE,
    STREAM_GPTS,
    UNIFIED_ACTIONS,
    NativeFilter,
    actions_of,
    is_tenant_scoped,
    native_filter,
)
from aiaudit_chatgpt.fields import UNKNOWN_ORG, RefusedError
from connector_core.streams import QuarantinedRecord


if TYPE_CHECKING:
    from connector_core.models import AIAuditLog, AutomationEvent


__all__ = [
    "PLATFORM",
    "STREAM_ADMIN",
    "STREAM_COMPLIANCE",
    "STREAM_GPTS",
    "UNEXPECTED",
    "UNIFIED_ACTIONS",
    "NativeFilter",
    "Normalizer",
    "actions_of",
    "is_tenant_scoped",
    "native_filter",
]

UNEXPECTED: Final = "unexpected normalizer failure: "
"""Prefix of a reason that means a bug here, not a bad record."""


def _quarantine(
    stream: str,
    reason: str,
    raw: object,
    *,
    native_id: str | None = None,
    native_type: str | None = None,
) -> QuarantinedRecord:
    text: str | bytes
    try:
        text = orjson.dumps(raw, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, ValueError, RecursionError):
        # Not JSON (huge integers, lone surrogates): the repr is evidence too.
        try:
            text = repr(raw)
        except (ValueError, RecursionError):
            text = f"<{type(raw).__name__} that cannot be shown>"
    return QuarantinedRecord.of(
        stream, reason, text, native_id=native_id, native_type=native_type
    )


class Normalizer:
    """Turns native records into unified ones for one organization.

    Args:
        organization_id: The OpenAI organization id, stamped on admin
            records (which do not carry it); ``"unknown"`` when not set.
        workspace_id: The ChatGPT workspace id, used when a compliance
            record names no principal, and for custom GPTs.
    """

    __slots__ = ("_organization_id", "_workspace_id")

    def __init__(
        self, *, organization_id: str | None, workspace_id: str | None
    ) -> None:
        self._organization_id = organization_id or UNKNOWN_ORG
        self._workspace_id = workspace_id or None

    # -- Admin API ----------------------------------------------------------

    def admin_audit_log(self, raw: object) -> AIAuditLog | QuarantinedRecord:
        """One ``/v1/organization/audit_logs`` item as a log, or quarantined."""
        try:
            return admin_log(raw, self._organization_id)
        except RefusedError as refused:
            return _quarantine(
                STREAM_ADMIN,
                refused.reason,
                raw,
                native_id=refused.native_id,
                native_type=refused.native_type,
            )
        except Exception as exc:  # noqa: BLE001 - a sync must outlive a bug here
            return _quarantine(STREAM_ADMIN, f"{UNEXPECTED}{exc!r}", raw)

    # -- Compliance Logs Platform --------------------------------------------

    def compliance_record(
        self, raw: object, *, log_id: str
    ) -> list[AIAuditLog] | QuarantinedRecord:
        """One JSONL record of export file *log_id* as logs, or quarantined.

        A conversation message can yield several logs (the message, the
        conversation's creation, one per attached file); the others one.
        """
        try:
            return compliance_logs(raw, log_id=log_id, workspace_id=self._workspace_id)
        except RefusedError as refused:
            return _quarantine(
                STREAM_COMPLIANCE,
                f"{refused.reason} (log file {log_id})",
                raw,
                native_id=refused.native_id,
                native_type=refused.native_type,
            )
        except Exception as exc:  # noqa: BLE001 - a sync must outlive a bug here
            return _quarantine(
                STREAM_COMPLIANCE, f"{UNEXPECTED}{exc!r} (log file {log_id})", raw
            )

    # -- Custom GPTs ---------------------------------------------------------

    def custom_gpt(self, raw: object) -> list[AIAuditLog] | QuarantinedRecord:
        """A ``/gpts`` object as ``gpt.created`` (and ``gpt.updated``) logs.

        The listing is a snapshot, so events are derived with ids that stay
        the same on every read: ``gpt.created:<gpt id>``, and
        ``gpt.updated:<gpt id>:<config id>`` when the latest configuration is
        newer than the GPT (a new version gets a new event).
        """
        try:
            return gpt_logs(raw, self._workspace_id)
        except RefusedError as refused:
            return _quarantine(
                STREAM_GPTS,
                refused.reason,
                raw,
                native_id=refused.native_id,
                native_type=GPT_NATIVE_TYPE,
            )
        except Exception as exc:  # noqa: BLE001 - a sync must outlive a bug here
            return _quarantine(STREAM_GPTS, f"{UNEXPECTED}{exc!r}", raw)

    def automation(self, raw: object) -> AutomationEvent | QuarantinedRecord:
        """A ``/gpts`` object as an automation of type GPT, for inventory."""
        try:
            return gpt_automation(raw, self._workspace_id)
        except RefusedError as refused:
            return _quarantine(
                STREAM_GPTS,
                refused.reason,
                raw,
                native_id=refused.native_id,
                native_type=GPT_NATIVE_TYPE,
            )
        except Exception as exc:  # noqa: BLE001 - a sync must outlive a bug here
            return _quarantine(STREAM_GPTS, f"{UNEXPECTED}{exc!r}", raw)
