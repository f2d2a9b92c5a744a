"""The ChatGPT Enterprise Compliance API of the sandbox, in one import.

Two generations of the API are served, because connectors in the wild use
both: the **Logs Platform** (``GET .../logs`` lists export files per event
type; ``GET .../logs/{id}`` answers 307 to a signed URL on a separate
object-storage origin that serves the JSONL body) and the **legacy
listings** of the v1.1.1 spec (``/users``, ``/gpts``, ``/projects``).

The implementation lives in modules named for what they hold, and this one
keeps the names a test or a benchmark imports in one place:

* :mod:`.compliance_records`: the event types, the export files and how
  each record is rendered (the record shapes are described there);
* :mod:`.compliance_content`: the canned texts records are written from;
* :mod:`.compliance_data`: :class:`ComplianceData`, the generated data of
  one organization and the ground truth a test compares against (the
  listing semantics are described there);
* :mod:`.compliance_api`: the API host's routes;
* :mod:`.compliance_storage`: the storage origin's routes and the signing
  of its URLs.
"""

from __future__ import annotations

from aiaudit_chatgpt.sandbox.compliance_api import compliance_routes
from aiaudit_chatgpt.sandbox.compliance_data import ComplianceData
from aiaudit_chatgpt.sandbox.compliance_records import (
    AUDIT_EVENT_TYPES,
    AUDIT_LOG,
    AUTH_LOG,
    CONVERSATION_MESSAGE,
    GENERATED_EVENT_TYPES,
    KNOWN_EVENT_TYPES,
    LogFile,
)
from aiaudit_chatgpt.sandbox.compliance_storage import UrlSigner, storage_routes


__all__ = [
    "AUDIT_EVENT_TYPES",
    "AUDIT_LOG",
    "AUTH_LOG",
    "CONVERSATION_MESSAGE",
    "GENERATED_EVENT_TYPES",
    "KNOWN_EVENT_TYPES",
    "ComplianceData",
    "LogFile",
    "UrlSigner",
    "compliance_routes",
    "storage_routes",
]
