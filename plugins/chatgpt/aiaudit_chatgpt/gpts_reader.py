"""The workspace's custom GPTs, read whole from the Compliance API's listing.

``custom_gpts``: the listing has no time filter. It is a snapshot with
stable ids, read whole every time; every event within the query is emitted
and the store deduplicates by id. Its checkpoint is only the floor of the
first read's range, so nothing a later listing shows can hide behind it.
The listing is held whole: a workspace has thousands of GPTs at most.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiaudit_chatgpt.admin_reader import PAGE_SIZE
from aiaudit_chatgpt.checkpoints import GptsCheckpoint
from aiaudit_chatgpt.listings import list_all
from connector_core.cursors import SeenIds
from connector_core.streams import StreamBatch


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Mapping

    from aiaudit_chatgpt.event_map import NativeFilter
    from aiaudit_chatgpt.normalize import Normalizer
    from connector_core.http import HTTPTransport
    from connector_core.models import AIAuditLogQuery


__all__ = ["list_gpts", "read_custom_gpts"]


def list_gpts(http: HTTPTransport, workspace_id: str) -> AsyncIterator[Any]:
    """Every GPT object of the workspace."""
    return list_all(http, f"/compliance/workspaces/{workspace_id}/gpts", "gpts")


async def read_custom_gpts(
    http: HTTPTransport,
    normalizer: Normalizer,
    *,
    native: NativeFilter,
    workspace_id: str,
    checkpoint: Mapping[str, Any] | None,
    query: AIAuditLogQuery,
    stream: str = "custom_gpts",
) -> AsyncGenerator[StreamBatch, None]:
    """Every GPT event within the query not yet delivered, in time order,
    from a full listing.

    The listing is a snapshot with stable ids, read whole every time. The
    checkpoint is the floor of the first read's range and the ids of the
    events delivered (those the listing still shows): not a newest time, so
    a GPT listed late, or one dated in the future, hides nothing; a resumed
    read yields only what was not delivered, so nothing comes twice. With a
    checkpoint the query's start is ignored. Only the last batch carries
    it: page cursors count from the start of the snapshot.
    """
    if not native.gpts:
        return
    # A checkpoint of the reader that checkpointed the newest time seen,
    # which can hide GPTs, is read as none (GptsCheckpoint's migration).
    stored = GptsCheckpoint.from_dict(stream, checkpoint)
    floor, delivered = query.start_date, SeenIds()
    if stored is not None:
        floor, delivered = stored.floor, stored.seen
    everything = StreamBatch.from_results(
        [normalizer.custom_gpt(gpt) async for gpt in list_gpts(http, workspace_id)]
    )
    logs, bad = everything.logs, everything.quarantined
    listed = sorted(
        (e for e in logs if floor <= e.timestamp <= query.end_date),
        key=lambda entry: (entry.timestamp, entry.id),
    )
    fresh = [entry for entry in listed if entry.id not in delivered]
    if bad:
        yield StreamBatch(quarantined=bad)
    for start in range(0, len(fresh), PAGE_SIZE):
        yield StreamBatch(logs=tuple(fresh[start : start + PAGE_SIZE]))
    # Delivered ids the listing no longer shows are dropped, so the
    # checkpoint stays the size of the listing.
    in_range = {entry.id for entry in listed}
    seen = SeenIds(e.id for e in logs if e.id in in_range or e.id in delivered)
    yield StreamBatch(checkpoint=GptsCheckpoint(floor=floor, seen=seen).to_dict())
