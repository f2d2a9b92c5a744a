"""The connector's read path alone, in a process of its own.

Reads one stream of the ChatGPT connector over a time range, normalizing
every event and keeping none, and prints one JSON line: events, requests,
seconds, and this process's resident memory before reading and at its peak.
``bench/run.py`` runs it once per size so that peaks never mix;
``bench/profiling.py`` runs it under a sampling profiler.

    python bench/connector_child.py SPEC_JSON

SPEC_JSON holds ``config`` (the connector configuration), ``start`` and
``end`` (ISO times) and optionally ``stream`` (``admin_audit_logs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from datetime import datetime
from typing import Any

import orjson
from _harness import proc_status_mib

from connector_core.cli import configure_logging
from connector_core.models import AIAuditLogQuery
from connector_core.registry import Registry


async def read(spec: dict[str, Any]) -> dict[str, Any]:
    """Drain the stream; count events and requests; keep nothing."""
    registry = Registry.load()
    connector = registry.create("chatgpt", spec["config"])
    query = AIAuditLogQuery(
        start_date=datetime.fromisoformat(spec["start"]),
        end_date=datetime.fromisoformat(spec["end"]),
    )
    stream = spec.get("stream", "admin_audit_logs")
    events = batches = 0
    before = proc_status_mib("VmRSS")
    async with connector:
        started = time.perf_counter()
        batches_of = connector.read_stream(stream, None, query)
        async with contextlib.aclosing(batches_of) as reading:
            async for batch in reading:
                events += len(batch.logs)
                batches += 1
        seconds = time.perf_counter() - started
        admin = connector.instance.admin
        requests = admin.requests_made if admin is not None else 0
    return {
        "stream": stream,
        "events": events,
        "batches": batches,
        "requests": requests,
        "seconds": seconds,
        "rss_before_mib": before,
        "peak_rss_mib": proc_status_mib("VmHWM"),
    }


def main() -> None:
    configure_logging(debug=False)
    spec = orjson.loads(sys.argv[1])
    print(orjson.dumps(asyncio.run(read(spec))).decode())


if __name__ == "__main__":
    main()
