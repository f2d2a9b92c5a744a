"""The connector's three streams, each read from its own checkpoint.

* ``admin_audit_logs`` and ``admin_tenant_audit_logs``: the organization's
  audit log, read in ascending time windows sized by density, each
  re-reading the publication lag before the previous end
  (:mod:`aiaudit_chatgpt.admin_reader`).
* ``compliance_logs``: the Compliance API's Logs Platform, its files listed
  by end time and read line by line, each file a checkpoint
  (:mod:`aiaudit_chatgpt.files_reader`).
* ``custom_gpts``: the workspace's custom GPTs, a listing with no time
  filter, read whole every time (:mod:`aiaudit_chatgpt.gpts_reader`).

What they share is in :mod:`aiaudit_chatgpt.checkpoints` (each reader's
checkpoint class, read back one way) and :mod:`aiaudit_chatgpt.listings`
(the checks of a listing page).

Every listing loop is guarded (:mod:`connector_core.cursors`): a cursor
that repeats or a time cursor that goes back stops the stream with a
``SchemaError`` instead of spinning.

Memory stays bounded by a page (or a file chunk); only the GPT listing is
held whole, and a workspace has thousands of GPTs at most.

This module keeps the readers' public names importable from one place, as
they were before each reader had a module of its own.
"""

from __future__ import annotations

from aiaudit_chatgpt.admin_reader import (
    ADMIN_PUBLICATION_LAG,
    MAX_WINDOW,
    MIN_WINDOW,
    PAGE_SIZE,
    TARGET_WINDOW_EVENTS,
    WINDOW,
    next_window,
    read_admin_audit_logs,
)
from aiaudit_chatgpt.checkpoints import unreadable_checkpoint
from aiaudit_chatgpt.files_reader import (
    FILE_CHUNK,
    FILES_PUBLICATION_LAG,
    TIE_MARGIN,
    read_compliance_logs,
)
from aiaudit_chatgpt.gpts_reader import list_gpts, read_custom_gpts
from aiaudit_chatgpt.listings import list_all


__all__ = [
    "ADMIN_PUBLICATION_LAG",
    "FILES_PUBLICATION_LAG",
    "FILE_CHUNK",
    "MAX_WINDOW",
    "MIN_WINDOW",
    "PAGE_SIZE",
    "TARGET_WINDOW_EVENTS",
    "TIE_MARGIN",
    "WINDOW",
    "list_all",
    "list_gpts",
    "next_window",
    "read_admin_audit_logs",
    "read_compliance_logs",
    "read_custom_gpts",
    "unreadable_checkpoint",
]
