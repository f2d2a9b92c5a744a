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
from aiaudit_chatgpt.fields import UNKNOWN_ORG
from connector_core.streams import UNEXPECTED_FAILURE, QuarantinedRecord


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

UNEXPECTED: Final = UNEXPECTED_FAILURE
"""Prefix of a reason that means a bug here, not a bad record."""


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

    # Each method is connector_core.streams.normalize_or_quarantine written
    # out: a sync normalizes every event, and the helper's frame (and a
    # partial to bind the arguments) cost a measurable share of one.

    # -- Admin API ----------------------------------------------------------

    def admin_audit_log(self, raw: object) -> AIAuditLog | QuarantinedRecord:
        """One ``/v1/organization/audit_logs`` item as a log, or quarantined."""
        try:
            return admin_log(raw, self._organization_id)
        except Exception as exc:  # noqa: BLE001 - a read must outlive a bug
            return QuarantinedRecord.of_failure(STREAM_ADMIN, raw, exc)

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
        except Exception as exc:  # noqa: BLE001 - a read must outlive a bug
            return QuarantinedRecord.of_failure(
                STREAM_COMPLIANCE, raw, exc, where=f"log file {log_id}"
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
            return gpt_logs(raw, workspace_id=self._workspace_id)
        except Exception as exc:  # noqa: BLE001 - a read must outlive a bug
            return QuarantinedRecord.of_failure(
                STREAM_GPTS, raw, exc, native_type=GPT_NATIVE_TYPE
            )

    def automation(self, raw: object) -> AutomationEvent | QuarantinedRecord:
        """A ``/gpts`` object as an automation of type GPT, for inventory."""
        try:
            return gpt_automation(raw, workspace_id=self._workspace_id)
        except Exception as exc:  # noqa: BLE001 - a read must outlive a bug
            return QuarantinedRecord.of_failure(
                STREAM_GPTS, raw, exc, native_type=GPT_NATIVE_TYPE
            )
