"""What paging a month of ChatGPT logs costs: requests and wall time.

Starts the ChatGPT sandbox (seed 7, 5,000 audit events over 30 days by
default) and pages the month through ``get_ai_audit_logs`` with each page
size asked for, following ``next_cursor`` to the end, then reads it once as
a plain stream for comparison. Requests are counted on the client's session
(an aiohttp trace). ``--admin`` configures the Admin API alone (the audit
log); without it the Compliance API's files and GPTs are paged too. Run it
with ``python bench/paging.py --admin 10 1 100``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import attrs
import structlog

from aiaudit_chatgpt.sandbox.server import ChatGPTSandbox
from connector_core import Registry
from connector_core.models import AIAuditLogQuery
from connector_core.sandbox import SandboxOptions


END = datetime(2025, 3, 1, tzinfo=UTC)


def _config(sandbox: ChatGPTSandbox, *, admin: bool) -> dict[str, Any]:
    config = sandbox.connector_config()
    if admin:
        config = {
            k: v
            for k, v in config.items()
            if not k.startswith("compliance") and k != "workspace_id"
        }
    return config


async def _run(
    sandbox: ChatGPTSandbox, query: AIAuditLogQuery, limit: int | None, *, admin: bool
) -> tuple[int, int, int, float]:
    """Logs, pages, requests and seconds of one paging (``limit=0``: a
    plain stream)."""
    sent: list[str] = []
    trace = aiohttp.TraceConfig()

    async def started(*args: Any) -> None:
        sent.append(str(args[2].url))

    trace.on_request_start.append(started)
    registry = Registry.load(environ={"AIAUDIT_PLUGINS": "chatgpt"})
    async with (
        aiohttp.ClientSession(trace_configs=[trace]) as session,
        registry.create(
            "chatgpt", _config(sandbox, admin=admin), session=session
        ) as connector,
    ):
        began = time.perf_counter()
        if limit == 0:
            logs = len([x async for x in connector.stream_ai_audit_logs(query)])
            pages = 1
        else:
            logs, pages, cursor = 0, 0, None
            while True:
                page = await connector.get_ai_audit_logs(
                    attrs.evolve(query, limit=limit, cursor=cursor)
                )
                pages += 1
                logs += len(page.logs)
                if not page.has_more:
                    break
                cursor = page.next_cursor
        return logs, pages, len(sent), time.perf_counter() - began


async def main(sizes: list[int | None], events: int, *, admin: bool) -> None:
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING)
    )
    options = SandboxOptions(seed=7, events=events, days=30, end=END)
    query = AIAuditLogQuery(
        start_date=END - timedelta(days=30), end_date=END - timedelta(seconds=1)
    )
    async with ChatGPTSandbox.run(options) as sandbox:
        print(f"{'page size':>12}{'logs':>8}{'pages':>8}{'requests':>10}{'seconds':>9}")
        for size in [0, *sizes]:
            logs, pages, requests, seconds = await _run(
                sandbox, query, size, admin=admin
            )
            name = "stream" if size == 0 else str(size or "default")
            print(f"{name:>12}{logs:>8}{pages:>8}{requests:>10}{seconds:>9.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", default=["10", "default"])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--admin", action="store_true")
    args = parser.parse_args(sys.argv[1:])
    chosen = [None if s == "default" else int(s) for s in args.sizes]
    asyncio.run(main(chosen, args.events, admin=args.admin))
