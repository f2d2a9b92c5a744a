"""Where the time goes: each stage of a sync alone, then two clients sampled.

Starts the sandbox (N audit events, 100,000 by default) in its own process,
then:

* times each stage of a sync alone over the pages the sandbox serves:
  decoding, normalizing, serializing the stored document, and
  ``write_batch`` into SQLite at several batch sizes;
* runs two clients under py-spy, a sampling profiler that sees every thread
  without slowing the program down much: the connector's read path
  (``bench/connector_child.py``: fetch and normalize ``admin_audit_logs``,
  store nothing) and ``aiaudit sync`` restricted to the Admin API, into a
  fresh SQLite file.

Each sample's stack is attributed to one component (HTTP, JSON decoding,
normalization, the store...) by its innermost frame that names one, and
the shares are printed, with the hottest functions. ``--out DIR`` keeps the
raw samples (for speedscope or flamegraph.pl).

    pip install py-spy
    python bench/profiling.py --events 100000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from _harness import (
    BENCH,
    Sandbox,
    Table,
    aiaudit_command,
    rate,
    run_child,
    sandbox_process,
)

from aiaudit_chatgpt.normalize import Normalizer
from connector_core.cli import configure_logging
from connector_core.models import AIAuditLog
from connector_core.serialization import dumps
from connector_core.store import open_store


if TYPE_CHECKING:
    from collections.abc import Callable


RATE = 250
"""Samples per second."""
BATCH_SIZES = (100, 1_000, 5_000)
"""Events per ``write_batch``: a page (what a sync writes today), and more."""

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^:()]*)(?::(?P<line>\d+))?\)$")

IDLE_LEAVES = (
    ("select", "selectors.py"),
    ("_worker", "concurrent/futures/thread.py"),
    ("wait", "threading.py"),
)
"""Leaf frames of a thread that waits: the event loop for sockets, the
worker threads for work."""


@dataclass(frozen=True)
class Frame:
    function: str
    file: str

    @classmethod
    def parse(cls, text: str) -> Frame:
        match = _FRAME.match(text)
        if match is None:
            return cls(text, "")
        return cls(match["function"], match["file"])

    def __str__(self) -> str:
        return f"{self.function} ({self.file})"


IDLE = "(idle: waiting for the network, the disk or work)"
TRUST_ENV = "HTTP: proxy and .netrc look-ups"
THREAD_HOPS = frozenset({"BaseEventLoop.run_in_executor", "to_thread"})
VALIDATION = "normalize: wire validation (cattrs structure)"
NORMALIZER_FILES = tuple(
    f"aiaudit_chatgpt/{name}.py"
    for name in (
        "normalize",
        "event_map",
        "fields",
        "wire",
        "admin_audit_log",
        "compliance_log",
        "custom_gpt",
    )
)
READER_FILES = tuple(
    f"aiaudit_chatgpt/{name}.py"
    for name in (
        "admin_reader",
        "files_reader",
        "gpts_reader",
        "listings",
        "checkpoints",
    )
)
HTTP = "HTTP: aiohttp and the transport"
TRANSPORT_FILES = tuple(
    f"connector_core/{name}.py"
    for name in (
        "http",
        "_bodies",
        "_failures",
        "_headers",
        "_lines",
        "_proxies",
        "_rate_budget",
        "_urls",
    )
)
"""The transport's modules: http.py and the private modules it is made of."""
SYNC_ENGINE_FILES = tuple(
    f"connector_core/{name}.py"
    for name in ("sync", "_backfill", "_drain", "_sync_reports")
)
"""The sync engine's modules: sync.py and the private modules it is made of."""

RULES: tuple[tuple[str, Callable[[Frame], bool]], ...] = (
    (
        "start-up: imports, plugin loading",
        lambda f: f.function in {"_find_and_load", "Registry.load"},
    ),
    (
        TRUST_ENV,
        lambda f: (
            f.function
            in {
                "get_env_proxy_for_url",
                "ClientSession._get_netrc_auth",
                "netrc_from_env",
                "proxies_from_env",
                "_environment_proxy",
                "_netrc_credentials",
            }
        ),
    ),
    (
        "HTTP: JSON decoding (orjson)",
        lambda f: f.function == "HTTPTransport._decode_json",
    ),
    ("store: SQLite (execute, commit)", lambda f: f.file.endswith("store/sqlite.py")),
    (
        "store: event rows (document: cattrs unstructure + orjson)",
        lambda f: f.function == "event_row" or "unstructure connector_core" in f.file,
    ),
    ("store: other", lambda f: "connector_core/store/_" in f.file),
    (
        VALIDATION,
        lambda f: (
            f.file.endswith(("aiaudit_chatgpt/wire.py", "connector_core/wire.py"))
            and "structure" in f.function
        ),
    ),
    (VALIDATION, lambda f: "cattrs generated structure aiaudit_chatgpt" in f.file),
    # The fast readers connector_core.wire.fast_reader generates.
    (VALIDATION, lambda f: f.file.startswith("<structure aiaudit_chatgpt.")),
    (VALIDATION, lambda f: f.file.endswith("connector_core/_fast_reader.py")),
    (
        "normalize: AIAuditLog construction (validators, copies)",
        lambda f: "attrs generated methods connector_core.models.AIAuditLog" in f.file,
    ),
    (
        "normalize: mapping to our vocabulary",
        lambda f: f.file.endswith(NORMALIZER_FILES),
    ),
    (
        "connector: windows, de-duplication, batches",
        lambda f: f.file.endswith((*READER_FILES, "connector_core/connector.py")),
    ),
    (HTTP, lambda f: f.file.startswith(("aiohttp/", "yarl/", "multidict/"))),
    (HTTP, lambda f: f.file.endswith(TRANSPORT_FILES)),
    (
        "sync engine: queue, thread hand-off",
        lambda f: f.file.endswith(SYNC_ENGINE_FILES) or f.function in THREAD_HOPS,
    ),
)
"""Components, each with what a frame of it looks like; the innermost frame
of a stack that matches a rule decides."""


def component(stack: list[Frame]) -> str:
    """The component a sample's stack (root first) belongs to."""
    leaf = stack[-1]
    for function, file in IDLE_LEAVES:
        if leaf.function.endswith(function) and leaf.file.endswith(file):
            return IDLE
    # aiohttp hands two look-ups per request to the default thread pool when
    # the session trusts the environment; the hand-off is their cost too.
    in_http_request = any(f.function == "ClientSession._request" for f in stack)
    for frame in reversed(stack):
        if in_http_request and frame.function in THREAD_HOPS:
            return TRUST_ENV
        for name, matches in RULES:
            if matches(frame):
                return name
    return "event loop, asyncio and the rest"


@dataclass
class Profile:
    title: str
    seconds: float
    samples: int = 0
    components: Counter[str] = field(default_factory=Counter)
    leaves: Counter[str] = field(default_factory=Counter)

    @classmethod
    def read(cls, title: str, seconds: float, raw: Path) -> Profile:
        profile = cls(title, seconds)
        for line in raw.read_text().splitlines():
            stack_text, _, count_text = line.rpartition(" ")
            if not stack_text:
                continue
            count = int(count_text)
            stack = [Frame.parse(part) for part in stack_text.split(";")]
            name = component(stack)
            profile.samples += count
            profile.components[name] += count
            if name != IDLE:
                profile.leaves[str(stack[-1])] += count
        return profile

    def render(self, top: int = 12) -> str:
        busy = sum(n for name, n in self.components.items() if name != IDLE)
        table = Table(["component", "CPU s", "% of busy"])
        for name, count in self.components.most_common():
            share = "" if name == IDLE else f"{100 * count / busy:.1f}"
            table.add(name, f"{count / RATE:.2f}", share)
        hottest = Table(["hottest functions (self)", "% of busy"])
        for name, count in self.leaves.most_common(top):
            hottest.add(name, f"{100 * count / busy:.1f}")
        return (
            f"{self.title}: {self.seconds:.1f} s wall, {busy / RATE:.1f} s busy in "
            f"samples across threads ({RATE}/s)\n"
            f"{table.render()}\n\n{hottest.render()}"
        )


def py_spy() -> str | None:
    """The py-spy executable beside this interpreter, or on the PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(command: list[str], raw: Path, env: dict[str, str] | None = None) -> float:
    executable = py_spy()
    assert executable is not None
    done = run_child(
        [
            executable,
            "record",
            f"--rate={RATE}",
            "--format=raw",
            f"--output={raw}",
            "--",
            *command,
        ],
        env=env,
    ).check(f"py-spy record {' '.join(command[:3])}")
    return done.seconds


def profile_connector(sandbox: Sandbox, folder: Path) -> Profile:
    spec = {
        "config": sandbox.admin_config(),
        "start": sandbox.start.isoformat(),
        "end": sandbox.end.isoformat(),
    }
    raw = folder / "connector.txt"
    command = [
        sys.executable,
        str(BENCH / "connector_child.py"),
        orjson.dumps(spec).decode(),
    ]
    seconds = record(command, raw)
    return Profile.read("connector read path (admin_audit_logs)", seconds, raw)


def profile_sync(sandbox: Sandbox, folder: Path, scratch: Path) -> Profile:
    raw = folder / "sync.txt"
    command = [
        *aiaudit_command(),
        "--store",
        f"sqlite:///{scratch / 'sync.db'}",
        "sync",
        "chatgpt",
        "--since",
        sandbox.start.isoformat(),
        "--until",
        sandbox.end.isoformat(),
        "--json",
    ]
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OPENAI_", "CHATGPT_", "AIAUDIT_"))
    } | sandbox.admin_environment()
    seconds = record(command, raw, env)
    return Profile.read("aiaudit sync into SQLite (Admin API)", seconds, raw)


# --------------------------------------------------------------------------
# Each stage alone
# --------------------------------------------------------------------------


async def _pages(sandbox: Sandbox) -> list[bytes]:
    """Every page of the audit log, as the server sent it."""
    url = f"{sandbox.admin_base_url}/organization/audit_logs"
    headers = {"Authorization": f"Bearer {sandbox.admin_key}"}
    bodies: list[bytes] = []
    after: str | None = None
    async with aiohttp.ClientSession() as session:
        while True:
            params = {"limit": "100"} | ({"after": after} if after else {})
            async with session.get(url, params=params, headers=headers) as response:
                response.raise_for_status()
                bodies.append(await response.read())
            page = orjson.loads(bodies[-1])
            if not page["has_more"]:
                return bodies
            after = page["last_id"]


def stage_costs(sandbox: Sandbox, scratch: Path) -> str:
    """Microseconds per event of each stage of a sync, measured alone on the
    pages the sandbox serves: decoding, normalizing, serializing the stored
    document, and ``write_batch`` into SQLite at several batch sizes."""
    bodies = asyncio.run(_pages(sandbox))
    normalizer = Normalizer(
        organization_id=sandbox.config.get("organization_id"), workspace_id=None
    )
    timings: dict[str, float] = {}
    events = 0

    def timed(name: str, work: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = work()
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - started
        return result

    for body in bodies:
        records = timed(
            "decode the page (orjson)", lambda b=body: orjson.loads(b)["data"]
        )
        events += len(records)
        logs = timed(
            "normalize (Normalizer.admin_audit_log)",
            lambda r=records: [normalizer.admin_audit_log(x) for x in r],
        )
        timed(
            "serialize the stored document (dumps)",
            lambda g=logs: [dumps(x) for x in g],
        )
    table = Table(["stage, alone", "us/event", "events/s"])
    for name, seconds in timings.items():
        table.add(name, f"{1e6 * seconds / events:.1f}", rate(events, seconds))
    for size in BATCH_SIZES:
        seconds = _write_batches(bodies, normalizer, scratch / f"batch-{size}.db", size)
        table.add(
            f"write_batch into SQLite, {size:,} events per call",
            f"{1e6 * seconds / events:.1f}",
            rate(events, seconds),
        )
    return f"each stage alone, over {events:,} events\n{table.render()}"


def _write_batches(
    bodies: list[bytes], normalizer: Normalizer, path: Path, size: int
) -> float:
    """Seconds spent in ``write_batch`` storing every page's events."""
    store = open_store(f"sqlite:///{path}")
    spent = 0.0
    pending: list[AIAuditLog] = []
    try:
        for number, body in enumerate(bodies):
            for record in orjson.loads(body)["data"]:
                log = normalizer.admin_audit_log(record)
                if isinstance(log, AIAuditLog):
                    pending.append(log)
            if len(pending) >= size or number == len(bodies) - 1:
                started = time.perf_counter()
                store.write_batch(
                    "bench", "admin_audit_logs", pending, (), {"page": number}
                )
                spent += time.perf_counter() - started
                pending = []
    finally:
        store.close()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", help="keep the raw samples in this folder")
    parser.add_argument(
        "--no-stages", action="store_true", help="skip timing each stage alone"
    )
    args = parser.parse_args()
    configure_logging(debug=False)
    sections: list[str] = []
    with tempfile.TemporaryDirectory(prefix="aiaudit-profile-") as scratch:
        folder = Path(args.out) if args.out else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        with sandbox_process(args.events, days=args.days, seed=args.seed) as sandbox:
            if not args.no_stages:
                sections.append(stage_costs(sandbox, Path(scratch)))
            if py_spy() is None:
                sections.append(
                    "py-spy is not installed (pip install py-spy): no samples"
                )
            else:
                sections.append(profile_connector(sandbox, folder).render())
                sections.append(profile_sync(sandbox, folder, Path(scratch)).render())
    for section in sections:
        print(f"\n{section}")


if __name__ == "__main__":
    main()
