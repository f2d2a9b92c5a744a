"""Throughput, request efficiency, memory and analytics, against the sandbox.

Starts the ChatGPT sandbox with N audit events in its own process and, in
one run, measures:

* peer: the official ``openai`` SDK paging ``admin.organization.audit_logs``;
* floor: raw aiohttp GETs of the same pages (one ``after`` cursor chain,
  orjson decoding, nothing else);
* connector: ``read_stream("admin_audit_logs")`` over the whole history,
  fetch and normalize, nothing stored;
* sync: ``aiaudit sync`` as a whole process into SQLite and PostgreSQL;
* memory: the connector's read path in a child process per size;
* analytics: ``Store.usage_analytics`` over 1,000,000 stored events.

Clients alternate in rounds and each keeps its best round: the machine may
be shared, interference only ever slows a round down, and the ratios are
taken within one run. Run it with ``nox -s bench`` or
``python bench/run.py --events 100000`` (``--help`` lists the options).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import attrs
import latency
import orjson
from _harness import (
    BENCH,
    Sandbox,
    Table,
    aiaudit_command,
    machine,
    process_cpu,
    rate,
    run_child,
    sandbox_process,
)

from aiaudit_chatgpt.admin_reader import PAGE_SIZE
from connector_core import DEFAULT_CONCURRENCY
from connector_core.cli import configure_logging
from connector_core.models import AIAuditLogQuery, AIDateRange
from connector_core.registry import Registry
from connector_core.store import LogFilter, open_store


if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from connector_core.models import AIAuditLog


PATH = "/organization/audit_logs"
CONNECTION = "chatgpt"
"""The name ``aiaudit sync chatgpt`` stores a connection from the environment under."""
ADMIN_SQLITE = "SQLite, Admin API"
WHOLE_SQLITE = "SQLite, Admin + Compliance"
ADMIN_POSTGRES = "PostgreSQL, Admin API"
EMPTY_SQLITE = "SQLite, Admin API, empty range"
WRITE_BATCH = 5_000
ANALYTICS_REPEATS = 3
TEMPLATE_LIMIT = 250_000
"""Events kept in memory as templates for the synthetic analytics store."""

TARGETS = {
    "connector_vs_floor": 0.7,
    "connector_vs_peer": 5.0,
    "sync_sqlite_vs_peer": 3.0,
    "sync_sqlite_cpu_us": 27.0,
    "sync_postgres_cpu_us": 25.0,
    "requests_vs_ideal": 1.02,
    "rss_large_vs_small": 1.3,
    "analytics_seconds": 1.0,
}
PLAN_SYNC_VS_PEER = 6.0
"""The original plan's bar for the whole-process sync on loopback, reported
beside the current one (docs/benchmarks.md, "The missed target")."""


# --------------------------------------------------------------------------
# The clients
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Read:
    """One client's pass over the audit log.

    ``client_cpu`` is the CPU time the client's process spent (every thread),
    ``server_cpu`` the sandbox process's over the same interval: with two
    cores and the server on the same machine, their sum per event bounds
    what any client can reach.
    """

    events: int
    requests: int
    seconds: float
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    windows: int = 0


@contextlib.contextmanager
def cpu_meter(sandbox: Sandbox) -> Iterator[list[float]]:
    """Measure this process's and the sandbox's CPU seconds over a block."""
    spent = [0.0, 0.0]
    client, server = time.process_time(), process_cpu(sandbox.process.pid)
    try:
        yield spent
    finally:
        spent[0] = time.process_time() - client
        spent[1] = process_cpu(sandbox.process.pid) - server


async def floor(sandbox: Sandbox) -> Read:
    """The cheapest client there is: GET, orjson, follow ``last_id``."""
    url = f"{sandbox.admin_base_url}{PATH}"
    headers = {"Authorization": f"Bearer {sandbox.admin_key}"}
    events = requests = 0
    after: str | None = None
    async with aiohttp.ClientSession() as session:
        with cpu_meter(sandbox) as cpu:
            started = time.perf_counter()
            while True:
                params = {"limit": str(PAGE_SIZE)} | ({"after": after} if after else {})
                async with session.get(url, params=params, headers=headers) as got:
                    body = await got.read()
                    if got.status != 200:  # noqa: PLR2004
                        raise SystemExit(f"floor: HTTP {got.status}: {body[:200]!r}")
                page = orjson.loads(body)
                requests += 1
                events += len(page["data"])
                if not page["has_more"]:
                    break
                after = page["last_id"]
            seconds = time.perf_counter() - started
    return Read(events, requests, seconds, *cpu)


async def connector(sandbox: Sandbox, concurrency: int = 1) -> Read:
    """Our reader: ``read_stream("admin_audit_logs")``, normalized, kept nowhere,
    with the transport's own session, as a sync uses it. At *concurrency* 1
    it is one cursor chain, like the floor and the peer; a sync reads at the
    connection's default (several windows at once)."""
    config = sandbox.admin_config() | {"concurrency": concurrency}
    handle = Registry.load().create("chatgpt", config)
    query = AIAuditLogQuery(start_date=sandbox.start, end_date=sandbox.end)
    events = windows = 0
    async with handle:
        with cpu_meter(sandbox) as cpu:
            started = time.perf_counter()
            batches = handle.read_stream("admin_audit_logs", None, query)
            async with contextlib.aclosing(batches) as reading:
                async for batch in reading:
                    events += len(batch.logs)
                    windows += batch.checkpoint is not None
            seconds = time.perf_counter() - started
        requests = handle.instance.admin.requests_made
    return Read(events, requests, seconds, *cpu, windows=windows)


def peer(sandbox: Sandbox) -> Read:
    """The official SDK, as its documentation pages the audit log."""
    import openai  # noqa: PLC0415 -- only this client needs it

    client = openai.OpenAI(
        admin_api_key=sandbox.admin_key,
        base_url=sandbox.admin_base_url,
        api_key="unused",
    )
    events = requests = 0
    with client, cpu_meter(sandbox) as cpu:
        started = time.perf_counter()
        first = client.admin.organization.audit_logs.list(limit=PAGE_SIZE)
        for page in first.iter_pages():
            requests += 1
            events += len(page.data)
        seconds = time.perf_counter() - started
    return Read(events, requests, seconds, *cpu)


@dataclass
class Contender:
    """A client measured over several rounds; its best round counts."""

    name: str
    label: str
    run: Callable[[Sandbox], Read]
    reads: list[Read] = field(default_factory=list)

    @property
    def best(self) -> Read:
        return min(self.reads, key=lambda read: read.seconds)

    @property
    def rate(self) -> float:
        return self.best.events / self.best.seconds


def contenders(skip: set[str]) -> list[Contender]:
    every = [
        Contender(
            "floor", "floor: aiohttp GET + orjson", lambda s: asyncio.run(floor(s))
        ),
        Contender(
            "connector",
            "connector: read_stream, normalized",
            lambda s: asyncio.run(connector(s)),
        ),
        Contender(
            "connector-concurrent",
            f"connector, {DEFAULT_CONCURRENCY} windows at once",
            lambda s: asyncio.run(connector(s, DEFAULT_CONCURRENCY)),
        ),
        Contender("peer", "peer: openai SDK audit_logs.list", peer),
    ]
    return [c for c in every if c.name not in skip]


# --------------------------------------------------------------------------
# aiaudit sync, as a process
# --------------------------------------------------------------------------


@dataclass
class SyncRun:
    label: str
    store: str
    seconds: float
    peak_rss_mib: float
    cpu_seconds: float
    server_cpu_seconds: float
    admin_events: int
    events: int
    streams: dict[str, dict[str, Any]]


def _clean_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any platform keys or store URL,
    plus *extra*: a sync must read the sandbox and nothing else."""
    keep = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OPENAI_", "CHATGPT_", "AIAUDIT_"))
        and key != "DATABASE_URL"
    }
    return keep | dict(extra)


def sync(
    sandbox: Sandbox,
    store_url: str,
    label: str,
    *,
    admin_only: bool,
    empty: bool = False,
) -> SyncRun:
    """Run ``aiaudit sync`` over the sandbox's history (with *empty*, over
    its last instant only: what any sync costs before the first event)."""
    env = sandbox.admin_environment() if admin_only else sandbox.environment
    command = [
        *aiaudit_command(),
        "--store",
        store_url,
        "sync",
        CONNECTION,
        "--since",
        (sandbox.end if empty else sandbox.start).isoformat(),
        "--until",
        sandbox.end.isoformat(),
        "--json",
    ]
    server = process_cpu(sandbox.process.pid)
    done = run_child(command, env=_clean_environment(env)).check(
        f"aiaudit sync ({label})"
    )
    server = process_cpu(sandbox.process.pid) - server
    (report,) = orjson.loads(done.stdout)
    if not report["ok"]:
        raise SystemExit(f"aiaudit sync ({label}) stopped early: {report['streams']}")
    streams = {s["stream"]: s for s in report["streams"]}
    return SyncRun(
        label=label,
        store=store_url.partition("?")[0],
        seconds=done.seconds,
        peak_rss_mib=done.peak_rss_mib,
        cpu_seconds=done.cpu_seconds,
        server_cpu_seconds=server,
        admin_events=streams["admin_audit_logs"]["read"],
        events=report["read"],
        streams={
            name: {"read": s["read"], "seconds": round(s["seconds"], 3)}
            for name, s in streams.items()
        },
    )


@contextlib.contextmanager
def postgres_schema(base_url: str) -> Iterator[str | None]:
    """A fresh schema's store URL, dropped afterwards; ``None`` without a server."""
    try:
        import psycopg  # noqa: PLC0415 -- optional
    except ImportError:
        yield None
        return
    try:
        psycopg.connect(base_url, connect_timeout=3).close()
    except psycopg.Error:
        yield None
        return
    schema = f"bench_{secrets.token_hex(4)}"
    joiner = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{joiner}schema={schema}"
    finally:
        with psycopg.connect(base_url, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# --------------------------------------------------------------------------
# Analytics
# --------------------------------------------------------------------------


@dataclass
class AnalyticsRun:
    label: str
    events: int
    how: str
    build_seconds: float
    first_s: float
    best_s: float
    total_events: int


def time_analytics(
    url: str, period: AIDateRange, label: str, *, how: str, build_seconds: float = 0.0
) -> AnalyticsRun:
    """The first query on a freshly opened store, then the best of a few."""
    store = open_store(url)
    try:
        events = store.count_logs(LogFilter(connection=CONNECTION))
        timings = []
        result = None
        for _ in range(1 + ANALYTICS_REPEATS):
            started = time.perf_counter()
            result = store.usage_analytics(
                period, platform="chatgpt", connection=CONNECTION
            )
            timings.append(time.perf_counter() - started)
    finally:
        store.close()
    assert result is not None
    return AnalyticsRun(
        label=label,
        events=events,
        how=how,
        build_seconds=build_seconds,
        first_s=timings[0],
        best_s=min(timings[1:]),
        total_events=result.total_events,
    )


def _replicas(templates: list[AIAuditLog], target: int) -> Iterator[AIAuditLog]:
    """*target* events: the templates, then copies of them.

    Each copy is another set of people doing the same things at the same
    times: new event ids, and user ids and emails of its own. A bigger
    organization has more people, and the analytics' cost grows with the
    people and days they sum over, not only with the events.
    """
    copy = 0
    produced = 0
    while produced < target:
        for log in templates:
            if produced == target:
                return
            if copy:
                email = log.user_email
                log = attrs.evolve(  # noqa: PLW2901 -- the copy replaces the template
                    log,
                    id=f"{log.id}#{copy}",
                    user_id=f"{log.user_id}#{copy}",
                    user_email=f"copy{copy}.{email}" if email else None,
                )
            yield log
            produced += 1
        copy += 1


def build_store(template_url: str, url: str, target: int) -> tuple[float, str]:
    """Fill a fresh store with *target* events through ``write_batch``.

    The events are those of a synced store, copied (see :func:`_replicas`)
    until there are *target* of them.
    """
    source = open_store(template_url)
    try:
        templates = list(
            source.iter_logs(
                LogFilter(connection=CONNECTION, limit=min(target, TEMPLATE_LIMIT))
            )
        )
    finally:
        source.close()
    store = open_store(url)
    started = time.perf_counter()
    try:
        batch: list[AIAuditLog] = []
        for log in _replicas(templates, target):
            batch.append(log)
            if len(batch) == WRITE_BATCH:
                store.write_batch(CONNECTION, "synthetic", batch)
                batch = []
        if batch:
            store.write_batch(CONNECTION, "synthetic", batch)
    finally:
        store.close()
    copies = math.ceil(target / len(templates))
    how = (
        f"{len(templates):,} synced events"
        + (f" x{copies}, each copy its own users" if copies > 1 else "")
        + f", write_batch of {WRITE_BATCH:,}"
    )
    return time.perf_counter() - started, how


# --------------------------------------------------------------------------
# Memory of the read path
# --------------------------------------------------------------------------


def connector_child(sandbox: Sandbox) -> dict[str, Any]:
    spec = {
        "config": sandbox.admin_config(),
        "start": sandbox.start.isoformat(),
        "end": sandbox.end.isoformat(),
    }
    command = [
        sys.executable,
        str(BENCH / "connector_child.py"),
        orjson.dumps(spec).decode(),
    ]
    done = run_child(command).check("the connector child")
    return orjson.loads(done.stdout)


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------


@dataclass
class Results:
    options: dict[str, Any]
    machine: dict[str, str]
    sandbox_events: int = 0
    sandbox_startup_s: float = 0.0
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    syncs: list[SyncRun] = field(default_factory=list)
    analytics: list[AnalyticsRun] = field(default_factory=list)
    memory: dict[str, dict[str, Any]] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)


def say(message: str) -> None:
    """Progress on stderr, one write per line: two phases may talk at once."""
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()


def measure_clients(sandbox: Sandbox, rounds: int, skip: set[str]) -> list[Contender]:
    measured = contenders(skip)
    for number in range(1, rounds + 1):
        for contender in measured:
            read = contender.run(sandbox)
            contender.reads.append(read)
            say(
                f"  round {number}: {contender.name:<17} {read.events:>9,} events "
                f"{read.seconds:7.2f} s  {rate(read.events, read.seconds):>8}/s "
                f"{read.requests:>7,} requests"
            )
    counts = {c.name: c.best.events for c in measured}
    if len(set(counts.values())) > 1:
        raise SystemExit(f"the clients read different numbers of events: {counts}")
    return measured


DEFAULT_ROUNDS_UP_TO = 200_000
"""Up to this many events each client runs twice; above, once."""


def run(args: argparse.Namespace) -> Results:
    skip = set(filter(None, args.skip.split(",")))
    results = Results(options=vars(args).copy(), machine=machine())
    rounds = args.rounds or (2 if args.events <= DEFAULT_ROUNDS_UP_TO else 1)
    results.options["rounds"] = rounds
    workdir = Path(args.workdir) if args.workdir else None
    with contextlib.ExitStack() as stack:
        folder = Path(
            stack.enter_context(
                tempfile.TemporaryDirectory(prefix="aiaudit-bench-", dir=workdir)
            )
        )
        say(f"starting the sandbox with {args.events:,} events ...")
        sandbox = stack.enter_context(
            sandbox_process(args.events, days=args.days, seed=args.seed)
        )
        results.sandbox_events = sandbox.events
        results.sandbox_startup_s = sandbox.startup_s
        say(f"  ready in {sandbox.startup_s:.1f} s")
        clients_phase(results, sandbox, rounds, skip)
        if "sync" not in skip:
            sync_phase(
                results,
                sandbox,
                folder,
                rounds=rounds,
                skip=skip,
                postgres=args.postgres,
            )
        # Neither the memory test nor filling the analytics store is timed
        # against anything, so they run side by side; the analytics queries
        # are timed once both are done.
        sizes = sorted({int(s) for s in args.rss_sizes.split(",") if s})
        with ThreadPoolExecutor(max_workers=1) as pool:
            memory = pool.submit(
                memory_phase,
                results,
                sandbox,
                [] if "rss" in skip else sizes,
                days=args.days,
                seed=args.seed,
            )
            if not {"sync", "analytics"} & skip:
                analytics_phase(
                    results,
                    sandbox,
                    folder,
                    args.analytics_events,
                    quiet=memory.result,
                )
            memory.result()
    results.ratios = ratios(results)
    return results


def clients_phase(
    results: Results, sandbox: Sandbox, rounds: int, skip: set[str]
) -> None:
    say(f"clients, {rounds} round(s) ...")
    for contender in measure_clients(sandbox, rounds, skip):
        results.clients[contender.name] = {
            "label": contender.label,
            "events": contender.best.events,
            "requests": contender.best.requests,
            "seconds": contender.best.seconds,
            "rate": contender.rate,
            "client_cpu": contender.best.client_cpu,
            "server_cpu": contender.best.server_cpu,
            "windows": contender.best.windows,
            "rounds": [round(r.seconds, 3) for r in contender.reads],
        }


def sync_phase(
    results: Results,
    sandbox: Sandbox,
    folder: Path,
    *,
    rounds: int,
    skip: set[str],
    postgres: str,
) -> None:
    say("aiaudit sync ...")
    url = f"sqlite:///{folder / 'empty.db'}"
    done = sync(sandbox, url, EMPTY_SQLITE, admin_only=True, empty=True)
    say(f"  {EMPTY_SQLITE}: {done.seconds:.1f} s")
    results.syncs.append(done)
    for number in range(1, rounds + 1):
        url = f"sqlite:///{folder / f'admin-{number}.db'}"
        done = sync(sandbox, url, ADMIN_SQLITE, admin_only=True)
        say(f"  {ADMIN_SQLITE} (round {number}): {done.seconds:.1f} s")
        results.syncs.append(done)
    url = f"sqlite:///{folder / 'whole.db'}"
    done = sync(sandbox, url, WHOLE_SQLITE, admin_only=False)
    say(f"  {WHOLE_SQLITE}: {done.seconds:.1f} s")
    results.syncs.append(done)
    if "postgres" in skip or not postgres:
        return
    with postgres_schema(postgres) as url:
        if url is None:
            say(f"  PostgreSQL at {postgres} unreachable: skipped")
            return
        done = sync(sandbox, url, ADMIN_POSTGRES, admin_only=True)
        say(f"  {ADMIN_POSTGRES}: {done.seconds:.1f} s")
        results.syncs.append(done)


def analytics_phase(
    results: Results,
    sandbox: Sandbox,
    folder: Path,
    target: int,
    *,
    quiet: Callable[[], object],
) -> None:
    """Fill a store with *target* events unless a synced one holds as many,
    wait for *quiet*, then time the analytics over every store."""
    say("analytics ...")
    period = AIDateRange(start=sandbox.start, end=sandbox.end)
    synced = [s for s in results.syncs if s.label in {ADMIN_SQLITE, WHOLE_SQLITE}]
    synced = list({s.label: s for s in synced}.values())
    largest = max(synced, key=lambda s: s.events)
    built: tuple[str, float, str] | None = None
    if largest.events < target:
        url = f"sqlite:///{folder / 'analytics.db'}"
        build_s, how = build_store(largest.store, url, target)
        say(f"  stored {target:,} events in {build_s:.1f} s")
        built = (url, build_s, how)
    quiet()
    for run_ in synced:
        timed = time_analytics(
            run_.store, period, f"synced store ({run_.label})", how="aiaudit sync"
        )
        results.analytics.append(timed)
    if built is None:
        first = next(a for a in results.analytics if a.events >= target)
        results.analytics.append(_the_synced_store(first))
        return
    url, build_s, how = built
    results.analytics.append(
        time_analytics(
            url, period, f"{target:,} stored events", how=how, build_seconds=build_s
        )
    )


def memory_phase(
    results: Results, sandbox: Sandbox, sizes: list[int], *, days: int, seed: int
) -> None:
    if not sizes:
        return
    say("memory of the read path ...")
    for size in sizes:
        if size == sandbox.events:
            child = connector_child(sandbox)
        else:
            with sandbox_process(size, days=days, seed=seed) as other:
                child = connector_child(other)
        say(
            f"  {size:,} events: peak {child['peak_rss_mib']:.0f} MiB "
            f"({child['events']:,} events in {child['seconds']:.1f} s)"
        )
        results.memory[str(size)] = child


def _the_synced_store(run_: AnalyticsRun) -> AnalyticsRun:
    """The synced store already holds as many events as asked for."""
    return AnalyticsRun(
        label=f"{run_.events:,} stored events (the synced store itself)",
        events=run_.events,
        how="aiaudit sync",
        build_seconds=0.0,
        first_s=run_.first_s,
        best_s=run_.best_s,
        total_events=run_.total_events,
    )


def _cpu_per_event(syncs: list[SyncRun]) -> dict[str, float]:
    """CPU µs per event of the whole sync process (every thread), the least
    of the runs: the machine's other load only ever adds to it."""
    found: dict[str, float] = {}
    for key, label in (
        ("sync_sqlite_cpu_us", ADMIN_SQLITE),
        ("sync_postgres_cpu_us", ADMIN_POSTGRES),
    ):
        spent = [
            s.cpu_seconds / s.admin_events * 1e6
            for s in syncs
            if s.label == label and s.admin_events
        ]
        if spent:
            found[key] = min(spent)
    return found


def ratios(results: Results) -> dict[str, float]:
    clients = results.clients
    found: dict[str, float] = {}

    def ratio(name: str, top: float | None, bottom: float | None) -> None:
        if top and bottom:
            found[name] = top / bottom

    rate_of = {name: c["rate"] for name, c in clients.items()}
    ratio("connector_vs_floor", rate_of.get("connector"), rate_of.get("floor"))
    ratio("connector_vs_peer", rate_of.get("connector"), rate_of.get("peer"))
    ratio(
        "connector_concurrent_vs_floor",
        rate_of.get("connector-concurrent"),
        rate_of.get("floor"),
    )
    admin_syncs = [s for s in results.syncs if s.label == ADMIN_SQLITE]
    if admin_syncs:
        best = min(admin_syncs, key=lambda s: s.seconds)
        ratio(
            "sync_sqlite_vs_peer", best.admin_events / best.seconds, rate_of.get("peer")
        )
        ratio(
            "sync_sqlite_vs_floor",
            best.admin_events / best.seconds,
            rate_of.get("floor"),
        )
        fixed = [s.seconds for s in results.syncs if s.label == EMPTY_SQLITE]
        if fixed and best.seconds > fixed[0]:
            ratio(
                "sync_sqlite_vs_peer_without_fixed_cost",
                best.admin_events / (best.seconds - fixed[0]),
                rate_of.get("peer"),
            )
    for s in results.syncs:
        if s.label == ADMIN_POSTGRES:
            ratio(
                "sync_postgres_vs_peer", s.admin_events / s.seconds, rate_of.get("peer")
            )
    found |= _cpu_per_event(results.syncs)
    if "connector" in clients:
        ideal = math.ceil(clients["connector"]["events"] / PAGE_SIZE)
        found["requests_ideal"] = ideal
        ratio("requests_vs_ideal", clients["connector"]["requests"], ideal)
    sizes = sorted(results.memory, key=int)
    if len(sizes) >= 2:  # noqa: PLR2004
        ratio(
            "rss_large_vs_small",
            results.memory[sizes[-1]]["peak_rss_mib"],
            results.memory[sizes[0]]["peak_rss_mib"],
        )
    big = [a for a in results.analytics if "stored events" in a.label]
    if big:
        found["analytics_seconds"] = max(big[-1].first_s, big[-1].best_s)
    return found


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------


def report(results: Results) -> str:
    """The figures as text tables, then the targets."""
    lines = [
        "",
        "machine: " + ", ".join(f"{k} {v}" for k, v in results.machine.items()),
        (
            f"sandbox: {results.sandbox_events:,} audit events over "
            f"{results.options['days']} days (seed {results.options['seed']}), "
            f"generated and serving in {results.sandbox_startup_s:.1f} s; "
            f"{results.options['rounds']} round(s), best round shown"
        ),
    ]
    for section in (_clients_table, _sync_table, _analytics_table, _memory_table):
        text = section(results)
        if text:
            lines += ["", text]
    lines += ["", verdicts(results)]
    return "\n".join(lines)


def _clients_table(results: Results) -> str:
    ideal = results.ratios.get("requests_ideal")
    table = Table(
        [
            "read path",
            "events",
            "seconds",
            "events/s",
            "requests",
            "x ideal",
            "client CPU us/event",
            "sandbox CPU us/event",
        ]
    )
    for client in results.clients.values():
        events = client["events"] or 1
        table.add(
            client["label"],
            f"{client['events']:,}",
            f"{client['seconds']:.2f}",
            rate(client["events"], client["seconds"]),
            f"{client['requests']:,}",
            f"{client['requests'] / ideal:.3f}" if ideal else "-",
            f"{client['client_cpu'] / events * 1e6:.1f}",
            f"{client['server_cpu'] / events * 1e6:.1f}",
        )
    lines = [table.render(), f"  ideal: ceil(events / 100) = {ideal or 0:,.0f}"]
    for name in ("connector", "connector-concurrent"):
        windows = results.clients.get(name, {}).get("windows")
        if windows:
            lines.append(
                f"  {results.clients[name]['label']}: {windows} windows"
                " (one partial page each)"
            )
    return "\n".join(lines)


def _sync_table(results: Results) -> str:
    if not results.syncs:
        return ""
    table = Table(
        [
            "aiaudit sync (whole process)",
            "events",
            "seconds",
            "events/s",
            "peak RSS MiB",
            "sync CPU us/event",
            "sandbox CPU us/event",
        ]
    )
    for s in results.syncs:
        events = s.events if s.label == WHOLE_SQLITE else s.admin_events
        table.add(
            s.label,
            f"{events:,}",
            f"{s.seconds:.2f}",
            rate(events, s.seconds),
            f"{s.peak_rss_mib:.0f}",
            f"{s.cpu_seconds / events * 1e6:.1f}" if events else "-",
            f"{s.server_cpu_seconds / events * 1e6:.1f}" if events else "-",
        )
    lines = [
        table.render(),
        (
            "  Admin API syncs: events/s counts the admin_audit_logs events over the"
            " whole process (startup and the small tenant stream included)."
        ),
    ]
    lines.extend(
        f"  {s.label}: "
        + ", ".join(
            f"{name} {v['read']:,} in {v['seconds']:.1f} s"
            for name, v in s.streams.items()
        )
        for s in results.syncs
        if s.label == WHOLE_SQLITE
    )
    return "\n".join(lines)


def _analytics_table(results: Results) -> str:
    if not results.analytics:
        return ""
    table = Table(
        ["usage analytics (SQLite)", "events", "first s", "best s", "built by"]
    )
    for a in results.analytics:
        table.add(
            a.label, f"{a.events:,}", f"{a.first_s:.3f}", f"{a.best_s:.3f}", a.how
        )
    lines = [table.render()]
    lines.extend(
        f"  stored in {a.build_seconds:.1f} s through write_batch, alongside the"
        " memory test (so not a measure of write speed)"
        for a in results.analytics
        if a.build_seconds
    )
    return "\n".join(lines)


def _memory_table(results: Results) -> str:
    if not results.memory:
        return ""
    table = Table(
        [
            "connector read path (child process)",
            "events",
            "RSS before MiB",
            "peak MiB",
        ]
    )
    for size, m in sorted(results.memory.items(), key=lambda kv: int(kv[0])):
        table.add(
            f"sandbox of {int(size):,}",
            f"{m['events']:,}",
            f"{m['rss_before_mib']:.0f}",
            f"{m['peak_rss_mib']:.0f}",
        )
    return table.render()


def verdicts(results: Results) -> str:
    found = results.ratios
    sizes = sorted(int(size) for size in results.memory)
    memory = f"peak RSS, {sizes[-1]:,} / {sizes[0]:,} events" if sizes else ""
    stored = f"{results.options['analytics_events']:,}"
    table = Table(["target", "measured", "target", "verdict"])
    rows = [
        ("connector / floor", "connector_vs_floor", "x", ">="),
        ("connector / peer", "connector_vs_peer", "x", ">="),
        ("sync into SQLite / peer", "sync_sqlite_vs_peer", "x", ">="),
        ("sync CPU per event, SQLite", "sync_sqlite_cpu_us", " us", "<="),
        ("sync CPU per event, PostgreSQL", "sync_postgres_cpu_us", " us", "<="),
        ("requests / ideal", "requests_vs_ideal", "x", "<="),
        (memory, "rss_large_vs_small", "x", "<="),
        (f"analytics over {stored} events, SQLite", "analytics_seconds", " s", "<"),
    ]
    for label, key, unit, sense in rows:
        if key not in found:
            continue
        value, target = found[key], TARGETS[key]
        ok = (
            value >= target
            if sense == ">="
            else value <= target
            if sense == "<="
            else value < target
        )
        gap = abs(value / target - 1)
        short = "short" if sense == ">=" else "over"
        verdict = "met" if ok else f"MISSED: {gap:.1%} {short}"
        table.add(label, f"{value:.3f}{unit}", f"{sense} {target:g}{unit}", verdict)
    extra = []
    for key, text in (
        (
            "connector_concurrent_vs_floor",
            f"connector, {DEFAULT_CONCURRENCY} windows at once / floor (one chain)",
        ),
        ("sync_sqlite_vs_floor", "sync into SQLite / floor"),
        (
            "sync_sqlite_vs_peer_without_fixed_cost",
            "sync into SQLite / peer, the empty-range sync's time taken off",
        ),
        ("sync_postgres_vs_peer", "sync into PostgreSQL / peer"),
    ):
        if key in found:
            extra.append(f"  {text}: {found[key]:.3f}x")
    if "sync_sqlite_vs_peer" in found:
        plan = found["sync_sqlite_vs_peer"] >= PLAN_SYNC_VS_PEER
        extra.append(
            f"  the original plan's bar, sync into SQLite >= {PLAN_SYNC_VS_PEER:g}x"
            f" the peer: {'met' if plan else 'missed'}"
        )
    return table.render() + ("\n" + "\n".join(extra) if extra else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="audit events")
    parser.add_argument("--days", type=int, default=60, help="days of history")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--rounds", type=int, default=0, help="rounds per client (2 up to 200k, else 1)"
    )
    parser.add_argument(
        "--rss-sizes",
        default="100000,1000000",
        help="sandbox sizes for the memory test, comma-separated",
    )
    parser.add_argument("--analytics-events", type=int, default=1_000_000)
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="a PostgreSQL database for the sync ('' to skip)",
    )
    parser.add_argument(
        "--skip",
        default="",
        help=(
            "comma-separated: floor, connector, connector-concurrent, peer, sync,"
            " postgres, analytics, rss, and of the latency rows latency,"
            " rate-limit, files"
        ),
    )
    latency.add_arguments(parser)
    parser.add_argument("--workdir", help="where the stores are written (a temp dir)")
    parser.add_argument("--json", dest="json_path", help="also write the figures here")
    args = parser.parse_args()
    configure_logging(debug=False)
    started = time.perf_counter()
    results = run(args)
    print(report(results))
    skipped = set(args.skip.split(","))
    if not {"latency", "rate-limit", "files"} <= skipped:
        print("\n" + latency.report(latency.run(args)))
    print(f"\n(benchmark run took {time.perf_counter() - started:.0f} s)")
    if args.json_path:
        Path(args.json_path).write_bytes(
            orjson.dumps(asdict(results), option=orjson.OPT_INDENT_2)
        )


if __name__ == "__main__":
    main()
