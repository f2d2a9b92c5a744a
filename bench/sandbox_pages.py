"""Does serving an audit-log page cost the same at the end of the stream?

Starts the ChatGPT sandbox with N events (1,000,000 by default), times
fetching a page of 100 at the newest end, in the middle and at the oldest
end over loopback HTTP, and reports the process's peak memory. Run it with
``nox -s bench -- sandbox`` or ``python bench/sandbox_pages.py --events N``.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from datetime import UTC, datetime

import aiohttp

from aiaudit_chatgpt.sandbox.server import ChatGPTSandbox
from connector_core.sandbox import SandboxOptions


REPEATS = 30


async def _time_page(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], after: str | None
) -> float:
    params = {"limit": "100"} | ({"after": after} if after else {})
    samples = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        async with session.get(url, params=params, headers=headers) as response:
            body = await response.read()
            if response.status != 200:  # noqa: PLR2004
                raise SystemExit(f"HTTP {response.status}: {body[:200]!r}")
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


async def main(events: int) -> None:
    options = SandboxOptions(
        seed=1, events=events, days=60, end=datetime(2025, 6, 1, tzinfo=UTC)
    )
    started = time.perf_counter()
    async with ChatGPTSandbox.run(options) as sandbox:
        build = time.perf_counter() - started
        audit = sandbox.state.audit
        url = f"{sandbox.admin_base_url}/organization/audit_logs"
        headers = {"Authorization": f"Bearer {sandbox.keys.admin}"}
        positions = {
            "first page (newest)": None,
            "middle page": audit.event_id(len(audit) // 2),
            "last page (oldest)": audit.event_id(100),
        }
        async with aiohttp.ClientSession() as session:
            rows = [
                (name, await _time_page(session, url, headers, after))
                for name, after in positions.items()
            ]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"sandbox with {events:,} audit events: generated and started in {build:.1f} s"
    )
    print(f"{'position':<22}{'median ms / page of 100':>26}")
    for name, ms in rows:
        print(f"{name:<22}{ms:>26.2f}")
    ratio = rows[-1][1] / rows[0][1]
    print(f"last/first page time ratio: {ratio:.2f}")
    print(f"peak RSS of this process (sandbox + client): {peak:.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args(sys.argv[1:])
    asyncio.run(main(args.events))
