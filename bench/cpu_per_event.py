"""CPU time per stored event of a whole ``aiaudit sync`` process.

The figure is the sync process's user + system time (every thread) divided
by the audit events it stored, for the Admin API only sync of the ChatGPT
sandbox. The sandbox starts once; each round syncs into a fresh store, so
no round pays for or profits from an earlier one. The best round says what
the code costs on a quiet machine, the median how steady that is.

    python bench/cpu_per_event.py --events 100000 --store both --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from _harness import sandbox_process
from run import SyncRun, postgres_schema, sync


if TYPE_CHECKING:
    from _harness import Sandbox


_MICRO = 1_000_000
_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def _line(run: SyncRun) -> str:
    per_event = run.cpu_seconds / run.admin_events * _MICRO
    return (
        f"events {run.admin_events} wall {run.seconds:.2f}s "
        f"cpu {run.cpu_seconds:.2f}s -> {per_event:.1f} us/event"
    )


def _one(
    sandbox: Sandbox, store: str, folder: Path, number: int, postgres: str
) -> SyncRun:
    if store == "sqlite":
        url = f"sqlite:///{folder / f'cpu-{number}.db'}"
        return sync(sandbox, url, "sqlite", admin_only=True)
    with postgres_schema(postgres) as url:
        if url is None:
            raise SystemExit(f"PostgreSQL at {postgres} is unreachable")
        return sync(sandbox, url, "postgres", admin_only=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument(
        "--store", choices=("sqlite", "postgres", "both"), default="both"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", default=_POSTGRES)
    args = parser.parse_args()
    stores = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    with (
        tempfile.TemporaryDirectory(prefix="aiaudit-cpu-") as temporary,
        sandbox_process(args.events, days=args.days, seed=args.seed) as sandbox,
    ):
        folder = Path(temporary)
        for store in stores:
            runs = []
            for number in range(args.rounds):
                run = _one(sandbox, store, folder, number, args.postgres)
                runs.append(run)
                print(f"{store} round {number + 1}: {_line(run)}", file=sys.stderr)
            best = min(runs, key=lambda r: r.cpu_seconds / r.admin_events)
            ordered = sorted(runs, key=lambda r: r.cpu_seconds / r.admin_events)
            median = ordered[len(ordered) // 2]
            per_event = [r.cpu_seconds / r.admin_events * _MICRO for r in runs]
            print(f"{store} best:   {_line(best)}")
            print(f"{store} median: {_line(median)}")
            print(
                f"{store} rounds: "
                + ", ".join(f"{value:.1f}" for value in per_event)
                + f" us/event (median {statistics.median(per_event):.1f})"
            )


if __name__ == "__main__":
    main()
