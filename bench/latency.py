"""Reading at the API's speed: round trips, a rate limit, Logs Platform files.

On loopback a page costs the server's work and nothing more; against a real
API every page also costs a round trip. The sandbox adds one
(``--latency``), and three rows measure what concurrent windows buy:

* latency: ``aiaudit sync`` as a whole process against the official SDK
  paging the same audit log, both 50 ms a request; and the connector's
  requests against the ideal ``ceil(N / 100)``, since more windows cost
  more partial pages;
* rate limit: the same with the sandbox allowing 20 requests a second per
  key, the connection told so (``rate_limit``): the share of the allowed
  rate sustained, and the share of requests answered 429; and, for
  information, the same without telling it, where only the 429s steer;
* Logs Platform: the ``compliance_logs`` stream at 50 ms a request, several
  files downloading at once against one at a time.

Run by ``bench/run.py`` (``nox -s bench``) after its own rows, or alone:
``python bench/latency.py --events 100000``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from _harness import Sandbox, Table, rate, sandbox_process

from aiaudit_chatgpt.admin_reader import PAGE_SIZE
from connector_core.cli import configure_logging
from connector_core.models import AIAuditLogQuery
from connector_core.registry import Registry


if TYPE_CHECKING:
    from collections.abc import Mapping


TARGETS = {
    "latency_sync_vs_peer": 10.0,
    "latency_requests_vs_ideal": 1.03,
    "rate_limit_share_of_allowed": 0.90,
    "rate_limit_share_429": 0.02,
    "files_concurrent_vs_one": 5.0,
}
LATENCY_MS = 50
RATE_LIMIT = 20.0


@dataclass
class Reading:
    """One in-process read of a stream."""

    label: str
    events: int
    seconds: float
    requests: int
    throttled: int


@dataclass
class LatencyResults:
    rows: list[tuple[str, int, float, str]] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)


async def read_stream(
    sandbox: Sandbox,
    stream: str,
    label: str,
    *,
    options: Mapping[str, Any],
    admin_only: bool = True,
) -> Reading:
    """Read *stream* whole in this process, normalized, kept nowhere."""
    config = dict(sandbox.admin_config() if admin_only else sandbox.config)
    config |= options
    handle = Registry.load().create("chatgpt", config)
    query = AIAuditLogQuery(start_date=sandbox.start, end_date=sandbox.end)
    events = 0
    async with handle:
        started = time.perf_counter()
        batches = handle.read_stream(stream, None, query)
        async with contextlib.aclosing(batches) as reading:
            async for batch in reading:
                events += len(batch.logs)
        seconds = time.perf_counter() - started
        transport = (
            handle.instance.compliance
            if stream.startswith("compliance")
            else handle.instance.admin
        )
        requests, throttled = transport.requests_made, transport.throttled
    return Reading(label, events, seconds, requests, throttled)


def latency_rows(args: argparse.Namespace, results: LatencyResults) -> None:
    """The audit log at ``--latency``: whole sync against the SDK."""
    from run import peer, sync  # noqa: PLC0415 -- the main bench's clients

    extra = ("--latency", str(LATENCY_MS))
    with sandbox_process(
        args.events, days=args.days, seed=args.seed, extra=extra
    ) as sb:
        sdk = peer(sb)
        results.rows.append(
            ("peer: openai SDK, one page at a time", sdk.events, sdk.seconds, "-")
        )
        with tempfile.TemporaryDirectory() as folder:
            whole = sync(sb, f"sqlite:///{folder}/latency.db", "sync", admin_only=True)
        results.rows.append(
            (
                "aiaudit sync, SQLite (whole process)",
                whole.admin_events,
                whole.seconds,
                "-",
            )
        )
        reading = asyncio.run(
            read_stream(sb, "admin_audit_logs", "connector: read_stream", options={})
        )
        results.readings.append(reading)
    ideal = math.ceil(reading.events / PAGE_SIZE)
    results.ratios["latency_sync_vs_peer"] = (whole.admin_events / whole.seconds) / (
        sdk.events / sdk.seconds
    )
    results.ratios["latency_requests_vs_ideal"] = reading.requests / ideal


def rate_limit_rows(args: argparse.Namespace, results: LatencyResults) -> None:
    """The audit log at ``--latency`` and ``--rate-limit``."""
    extra = ("--latency", str(LATENCY_MS), "--rate-limit", f"{RATE_LIMIT:g}")
    events = args.rate_limit_events
    with sandbox_process(events, days=args.days, seed=args.seed, extra=extra) as sb:
        told = asyncio.run(
            read_stream(
                sb,
                "admin_audit_logs",
                f"rate limit told ({RATE_LIMIT:g}/s)",
                options={"rate_limit": RATE_LIMIT},
            )
        )
        # The sandbox's bucket refills while the next read starts.
        time.sleep(2)
        steered = asyncio.run(
            read_stream(
                sb, "admin_audit_logs", "rate limit not told: 429s steer", options={}
            )
        )
    results.readings += [told, steered]
    succeeded = told.requests - told.throttled
    results.ratios["rate_limit_share_of_allowed"] = (
        succeeded / told.seconds
    ) / RATE_LIMIT
    results.ratios["rate_limit_share_429"] = told.throttled / told.requests


def files_rows(args: argparse.Namespace, results: LatencyResults) -> None:
    """Logs Platform files at ``--latency``: several at once against one."""
    extra = ("--latency", str(LATENCY_MS))
    with sandbox_process(
        args.files_events, days=args.days, seed=args.seed, extra=extra
    ) as sb:
        one = asyncio.run(
            read_stream(
                sb,
                "compliance_logs",
                "Logs Platform, one file at a time",
                options={"concurrency": 1},
                admin_only=False,
            )
        )
        many = asyncio.run(
            read_stream(
                sb,
                "compliance_logs",
                "Logs Platform, files at once (default)",
                options={},
                admin_only=False,
            )
        )
    if one.events != many.events:
        raise SystemExit(
            f"Logs Platform reads differ: {one.events} events one at a time,"
            f" {many.events} at once"
        )
    results.readings += [one, many]
    results.ratios["files_concurrent_vs_one"] = one.seconds / many.seconds


def run(args: argparse.Namespace) -> LatencyResults:
    results = LatencyResults()
    skip = set(filter(None, args.skip.split(",")))
    if "latency" not in skip:
        latency_rows(args, results)
    if "rate-limit" not in skip:
        rate_limit_rows(args, results)
    if "files" not in skip:
        files_rows(args, results)
    return results


def report(results: LatencyResults) -> str:
    lines = [f"with {LATENCY_MS} ms added to every request by the sandbox:"]
    if results.rows:
        table = Table(["audit log, whole history", "events", "seconds", "events/s"])
        for label, events, seconds, _ in results.rows:
            table.add(label, f"{events:,}", f"{seconds:.2f}", rate(events, seconds))
        lines += ["", table.render()]
    if results.readings:
        table = Table(
            ["read in process", "events", "seconds", "requests", "429s", "requests/s"]
        )
        for r in results.readings:
            table.add(
                r.label,
                f"{r.events:,}",
                f"{r.seconds:.2f}",
                f"{r.requests:,}",
                f"{r.throttled:,}",
                f"{r.requests / r.seconds:.1f}" if r.seconds else "-",
            )
        lines += ["", table.render()]
    lines += ["", verdicts(results.ratios)]
    return "\n".join(lines)


def verdicts(found: Mapping[str, float]) -> str:
    table = Table(["target", "measured", "target", "verdict"])
    rows = [
        ("latency: sync / SDK", "latency_sync_vs_peer", ">="),
        ("latency: requests / ideal", "latency_requests_vs_ideal", "<="),
        ("rate limit: share of the allowed rate", "rate_limit_share_of_allowed", ">="),
        ("rate limit: share of requests answered 429", "rate_limit_share_429", "<="),
        (
            "Logs Platform: files at once / one at a time",
            "files_concurrent_vs_one",
            ">=",
        ),
    ]
    for label, key, sense in rows:
        if key not in found:
            continue
        value, target = found[key], TARGETS[key]
        ok = value >= target if sense == ">=" else value <= target
        verdict = "met" if ok else "MISSED"
        table.add(label, f"{value:.3f}", f"{sense} {target:g}", verdict)
    return table.render()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rate-limit-events",
        type=int,
        default=20_000,
        help="audit events for the rate-limit rows (200 requests: 10 s at 20/s)",
    )
    parser.add_argument(
        "--files-events",
        type=int,
        default=20_000,
        help="events of the sandbox for the Logs Platform rows",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="audit events")
    parser.add_argument("--days", type=int, default=60, help="days of history")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--skip", default="", help="comma-separated: latency, rate-limit, files"
    )
    add_arguments(parser)
    args = parser.parse_args()
    configure_logging(debug=False)
    started = time.perf_counter()
    print(report(run(args)))
    print(f"\n(latency rows took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
