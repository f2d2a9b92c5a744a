"""What the conformance suite checks of a usage-report stream, when a
connector has one (a stream whose batches carry
:class:`~connector_core.models.ModelUsageRecord` values).

A bucket's id is what the store replaces it by, so a batch naming one id
twice says the connector cannot tell its buckets apart; a bucket of
another platform or with a time that is not UTC would be summed with the
wrong figures. Resuming must lose nothing: a bucket may come again (an
open day is read again on purpose), never go missing.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Final

from connector_core.testing._harness import listed


if TYPE_CHECKING:
    from connector_core.models import ModelUsageRecord
    from connector_core.testing._harness import Harness, Reading, StreamRead


__all__ = ["usage_problems", "usage_resume_problems", "usage_streams"]

_RESUME_POINTS: Final = 3


def usage_streams(reading: Reading) -> list[StreamRead]:
    """The streams of *reading* that yielded usage buckets."""
    return [read for read in reading.streams if any(b.usage for b in read.batches)]


def usage_problems(reading: Reading, platform: str) -> list[str]:
    """What is wrong with the buckets of a full read: an id twice in a
    batch, another platform, a time not in UTC, a range that ends before it
    starts, a negative figure."""
    problems: list[str] = []
    for read in usage_streams(reading):
        name = read.info.name
        for index, batch in enumerate(read.batches):
            twice = sorted(
                key for key, n in Counter(r.id for r in batch.usage).items() if n > 1
            )
            if twice:
                problems.append(
                    f"stream {name!r}: batch #{index} holds {len(twice)} bucket "
                    f"id(s) twice, so one would replace the other: {listed(twice)}"
                )
            problems.extend(
                f"stream {name!r}: bucket {record.id!r}: {problem}"
                for record in batch.usage
                for problem in _bucket_problems(record, platform)
            )
    return problems


def _bucket_problems(record: ModelUsageRecord, platform: str) -> list[str]:
    problems = []
    if record.platform != platform:
        problems.append(f"platform {record.platform!r}, not {platform!r}")
    problems.extend(
        f"time {moment.isoformat()} is not UTC"
        for moment in (record.start, record.end)
        if moment.tzinfo is not UTC and moment.utcoffset() != timedelta(0)
    )
    if record.start > record.end:
        problems.append("it ends before it starts")
    counts = (record.requests, record.input_tokens, record.output_tokens, record.cost)
    if any(count is not None and count < 0 for count in counts):
        problems.append("a negative figure")
    return problems


async def usage_resume_problems(harness: Harness) -> list[str]:
    """Which buckets a read resumed from a checkpoint of a usage stream lost
    (buckets the uninterrupted read yielded after that checkpoint, and
    before it none with their id)."""
    problems: list[str] = []
    reading = harness.require_reading()
    async with harness.create() as connector:
        for read in usage_streams(reading):
            name = read.info.name
            marks: list[tuple[int, dict[str, object]]] = []
            ids: list[str] = []
            for batch in read.batches:
                ids.extend(record.id for record in batch.usage)
                if batch.checkpoint is not None:
                    marks.append((len(ids), dict(batch.checkpoint)))
            if not marks:
                problems.append(f"stream {name!r} yielded no checkpoint")
                continue
            chosen = sorted({0, len(marks) // 2, len(marks) - 1})[:_RESUME_POINTS]
            for index in chosen:
                count, checkpoint = marks[index]
                saved = json.loads(json.dumps(checkpoint))
                resumed = {
                    record.id
                    async for batch in connector.read_stream(
                        name, saved, harness.window
                    )
                    for record in batch.usage
                }
                before = set(ids[:count])
                lost = sorted(
                    {key for key in ids[count:] if key not in before} - resumed
                )
                if lost:
                    problems.append(
                        f"stream {name!r} resumed from checkpoint {saved!r} lost "
                        f"{len(lost)} bucket(s) the uninterrupted read returned "
                        f"after it: {listed(lost)}"
                    )
    return problems
