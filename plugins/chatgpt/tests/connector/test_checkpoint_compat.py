"""The readers' typed checkpoints read what earlier releases stored.

Checkpoints in users' stores were written before they carried a version:
untagged dicts, read as version 1 of each reader's class. The dicts below
are exactly what those releases wrote (taken from their reads of the
sandbox), down to the encoded id sets; the reads resumed from them must be
the reads resumed from what the readers write now.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from datetime import UTC, datetime

import attrs
import pytest
from chatgpt_history import WHOLE

from aiaudit_chatgpt.checkpoints import (
    AdminInWindow,
    AdminWindowEnd,
    FilesCheckpoint,
    GptsCheckpoint,
    read_admin_checkpoint,
)
from connector_core.cursors import SeenIds
from connector_core.exceptions import CheckpointError
from connector_core.store import open_store
from connector_core.store.base import LogFilter
from connector_core.sync import sync_connection


ADMIN, TENANT = "admin_audit_logs", "admin_tenant_audit_logs"
FILES, GPTS = "compliance_logs", "custom_gpts"
USAGE = "usage"

# -- what earlier releases stored ----------------------------------------------

ADMIN_END = {"until": 1740787200, "seen": "bHyitqvm7hU=", "width": 2678400}
"""Between windows, as the last release wrote it."""
ADMIN_END_WITHOUT_WIDTH = {"until": 1740614400, "seen": ""}
"""Before windows were sized by density."""
ADMIN_END_WITH_ID_LIST = {"until": 1740614400, "seen": ["audit_log-1g43k0e_20250226"]}
"""The first release: the ids themselves, not their digests."""
ADMIN_INSIDE = {
    "window": [1740528000, 1740614400],
    "after": "audit_log-1g43k0e_20250226",
    "seen": "",
    "stretch": "",
    "page": "Dtz3B9QTEfM2nPyl8HYWkEewzTr6f8ajo3CTUxoX5E2oqwz4tHxGbq61nYQMJlWNxp+FF"
    "tsjkbnLLhl6CnHUf/js5Sol0Bpt+1adcRaTiIM=",
    "served": 20,
}
"""Inside a window, in a page cursor."""
FILES_END = {"end": "2025-02-08T16:00:00Z", "seen": "c4KsQiM3LGA="}
FILES_AFTER = {"after": "2025-02-08T16:00:00Z", "seen": ["log-0001", "log-0002"]}
"""Before the trailing stretch: the newest end time was called ``after``."""
GPTS_FLOOR = {
    "floor": "2025-02-08T00:00:00Z",
    "seen": "HD2FUYWAaz8kRAUsySS/LX9qSUm13r/3gx7OM2o9WWo=",
}
GPTS_SINCE = {"since": 1739000000.0, "seen": ["g-0001"]}
"""Before the snapshot: the newest time seen, which could hide GPTs."""


def test_an_admin_window_end_reads_as_it_was_written():
    point = read_admin_checkpoint(ADMIN, ADMIN_END)
    assert point == AdminWindowEnd(
        until=1740787200, seen=SeenIds.decode("bHyitqvm7hU="), width=2678400
    )
    # What is written now is what was written then, tagged.
    assert point.to_dict() == {"v": 1, **ADMIN_END}


def test_an_admin_window_end_without_a_width_or_with_plain_ids_still_reads():
    point = read_admin_checkpoint(ADMIN, ADMIN_END_WITHOUT_WIDTH)
    assert point == AdminWindowEnd(until=1740614400, seen=SeenIds(), width=None)
    point = read_admin_checkpoint(TENANT, ADMIN_END_WITH_ID_LIST)
    assert isinstance(point, AdminWindowEnd)
    assert "audit_log-1g43k0e_20250226" in point.seen
    assert len(point.seen) == 1


def test_a_position_inside_an_admin_window_reads_as_it_was_written():
    point = read_admin_checkpoint(ADMIN, ADMIN_INSIDE)
    assert isinstance(point, AdminInWindow)
    assert point.window == (1740528000, 1740614400)
    assert point.after == "audit_log-1g43k0e_20250226"
    assert point.served == 20
    assert len(point.page) == 10
    assert point.to_dict() == {"v": 1, **ADMIN_INSIDE}


def test_a_files_checkpoint_reads_as_it_was_written_and_under_its_old_name():
    point = FilesCheckpoint.from_dict(FILES, FILES_END)
    end = datetime(2025, 2, 8, 16, tzinfo=UTC)
    assert point == FilesCheckpoint(end=end, seen=SeenIds.decode("c4KsQiM3LGA="))
    assert point.to_dict() == {"v": 2, **FILES_END}
    older = FilesCheckpoint.from_dict(FILES, FILES_AFTER)
    assert older == FilesCheckpoint(end=end, seen=SeenIds(["log-0001", "log-0002"]))


def test_a_gpt_checkpoint_reads_as_it_was_written_and_an_older_one_as_none():
    point = GptsCheckpoint.from_dict(GPTS, GPTS_FLOOR)
    assert point.floor == datetime(2025, 2, 8, tzinfo=UTC)
    assert len(point.seen) == 4
    assert point.to_dict() == {"v": 2, **GPTS_FLOOR}
    assert GptsCheckpoint.from_dict(GPTS, GPTS_SINCE) is None


@pytest.mark.parametrize(
    ("read", "stored"),
    [
        (lambda s: read_admin_checkpoint(ADMIN, s), {"v": 2, **ADMIN_END}),
        (lambda s: read_admin_checkpoint(ADMIN, s), {"v": 2, **ADMIN_INSIDE}),
        (lambda s: FilesCheckpoint.from_dict(FILES, s), {"v": 3, **FILES_END}),
        (lambda s: GptsCheckpoint.from_dict(GPTS, s), {"v": 3, **GPTS_FLOOR}),
    ],
)
def test_a_checkpoint_from_a_newer_release_is_refused(read, stored):
    with pytest.raises(CheckpointError, match="newer release"):
        read(stored)


def test_a_tagged_checkpoint_of_the_old_gpt_shape_is_refused():
    """Only untagged dicts may be of the old shape: a tagged one is strict."""
    with pytest.raises(CheckpointError, match="floor: required but missing"):
        GptsCheckpoint.from_dict(GPTS, {"v": 2, **GPTS_SINCE})


# -- reads resumed from untagged checkpoints ----------------------------------------


async def read(connector, stream, checkpoint=None, query=WHOLE):
    """The ids and checkpoints of one read."""
    ids: list[str] = []
    checkpoints: list[dict] = []
    async with contextlib.aclosing(
        connector.read_stream(stream, checkpoint, query)
    ) as batches:
        async for batch in batches:
            ids.extend(log.id for log in batch.logs)
            if batch.checkpoint is not None:
                checkpoints.append(json.loads(json.dumps(dict(batch.checkpoint))))
    return ids, checkpoints


def untagged(checkpoint: dict) -> dict:
    """The checkpoint as the release before versions wrote it."""
    return {key: value for key, value in checkpoint.items() if key != "v"}


KEYS = {
    ADMIN: {"until", "seen", "width"},
    TENANT: {"until", "seen", "width"},
    FILES: {"end", "seen"},
    GPTS: {"floor", "seen"},
    USAGE: {"since"},
}


@pytest.mark.parametrize("stream", [ADMIN, TENANT, FILES, GPTS])
async def test_a_read_resumed_from_an_untagged_checkpoint_is_the_same(
    connector, stream
):
    _, checkpoints = await read(connector, stream)
    assert checkpoints
    for checkpoint in sorted({0, len(checkpoints) // 2}):
        tagged = checkpoints[checkpoint]
        assert set(untagged(tagged)) == KEYS[stream]
        assert await read(connector, stream, untagged(tagged)) == await read(
            connector, stream, tagged
        )


async def test_an_old_gpt_checkpoint_reads_the_listing_afresh(connector):
    assert await read(connector, GPTS, GPTS_SINCE) == await read(connector, GPTS)


async def test_a_page_resumed_inside_a_window_from_an_untagged_position(connector):
    hinted = attrs.evolve(WHOLE, limit=10)
    _, checkpoints = await read(connector, ADMIN, query=hinted)
    inside = [c for c in checkpoints if "window" in c]
    assert len(inside) > 3
    for position in (inside[1], inside[len(inside) // 2]):
        assert set(untagged(position)) == {
            "window",
            "after",
            "seen",
            "stretch",
            "page",
            "served",
        }
        assert await read(connector, ADMIN, untagged(position), hinted) == await read(
            connector, ADMIN, position, hinted
        )


async def test_a_sync_resumes_from_the_checkpoints_stored_before_versions(
    connector, tmp_path
):
    """Every stream's stored checkpoint put back as the last release stored
    it: the next sync reads on from there and stores nothing twice."""
    path = tmp_path / "sync.db"
    store = open_store(f"sqlite:///{path}")
    try:
        first = await sync_connection(
            connector,
            store,
            connection="c",
            since=WHOLE.start_date,
            until=WHOLE.end_date,
        )
        assert first.ok, [s.error for s in first.streams]
        stored = store.checkpoints("c")
        assert set(stored) == set(KEYS)
        with sqlite3.connect(path) as db:
            for stream, checkpoint in stored.items():
                db.execute(
                    "UPDATE checkpoints SET checkpoint = ? WHERE stream = ?",
                    (json.dumps(untagged(dict(checkpoint))), stream),
                )
        assert all("v" not in c for c in store.checkpoints("c").values())
        count = store.count_logs(LogFilter(connection="c"))
        second = await sync_connection(
            connector,
            store,
            connection="c",
            since=WHOLE.start_date,
            until=WHOLE.end_date,
        )
        assert second.ok, [s.error for s in second.streams]
        assert all(s.resumed for s in second.streams)
        assert second.inserted == 0
        assert store.count_logs(LogFilter(connection="c")) == count
        # The streams that checkpoint every read now store tagged ones; the
        # files stream checkpoints only after a file it had not read.
        again = store.checkpoints("c")
        assert all("v" in again[stream] for stream in (ADMIN, TENANT, GPTS, USAGE))
    finally:
        store.close()
