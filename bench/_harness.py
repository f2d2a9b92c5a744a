"""What the benchmark scripts share: the sandbox in its own process, child
processes measured for wall time and peak memory, and the machine's
description.

The sandbox runs as ``aiaudit sandbox chatgpt --json`` in a subprocess, so a
blocking client (the official SDK) can run in the benchmark process without
starving the server's event loop, and so the server's CPU time is never
charged to the client being measured.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson


if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence


BENCH = Path(__file__).resolve().parent
COMPLIANCE_VARIABLES = (
    "CHATGPT_COMPLIANCE_API_KEY",
    "CHATGPT_WORKSPACE_ID",
    "CHATGPT_COMPLIANCE_BASE_URL",
)
"""Left out of a sync's environment to restrict it to the Admin API."""

_KIB = 1024
_STOP_GRACE_S = 15.0


def aiaudit_command() -> list[str]:
    """How to run the ``aiaudit`` console script of this interpreter."""
    script = Path(sys.executable).with_name("aiaudit")
    if script.exists():
        return [str(script)]
    found = shutil.which("aiaudit")
    if found:
        return [found]
    return [sys.executable, "-c", "from connector_core.cli import main; main()"]


@dataclass(frozen=True)
class Sandbox:
    """A running sandbox process and what its ``--json`` line told us."""

    process: subprocess.Popen[bytes]
    events: int
    startup_s: float
    admin_base_url: str
    admin_key: str
    config: Mapping[str, Any]
    environment: Mapping[str, str]
    start: datetime
    end: datetime

    def admin_config(self) -> dict[str, Any]:
        """The connector configuration without the Compliance API."""
        return {
            key: value
            for key, value in self.config.items()
            if not key.startswith(("compliance_", "workspace_"))
        }

    def admin_environment(self) -> dict[str, str]:
        """The sandbox's environment variables without the Compliance API."""
        return {
            key: value
            for key, value in self.environment.items()
            if key not in COMPLIANCE_VARIABLES
        }


@contextlib.contextmanager
def sandbox_process(
    events: int, *, days: int, seed: int, extra: Sequence[str] = ()
) -> Iterator[Sandbox]:
    """Start ``aiaudit sandbox chatgpt`` with *events* (and *extra*
    options, such as ``--latency 50``) and stop it on exit."""
    command = [
        *aiaudit_command(),
        "sandbox",
        "chatgpt",
        "--json",
        f"--events={events}",
        f"--days={days}",
        f"--seed={seed}",
        *extra,
    ]
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors)  # noqa: S603 -- our own console script
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line:
                process.wait()
                errors.seek(0)
                message = errors.read().decode(errors="replace").strip()
                raise SystemExit(f"the sandbox did not start: {message}")
            startup = time.perf_counter() - started
            described = orjson.loads(line)
            details = described["details"]
            start, end = (datetime.fromisoformat(t) for t in details["history"])
            yield Sandbox(
                process=process,
                events=int(details["audit_events"]),
                startup_s=startup,
                admin_base_url=described["urls"]["admin_api"],
                admin_key=described["config"]["api_key"],
                config=described["config"],
                environment=details["environment"],
                start=start,
                end=end,
            )
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


@dataclass(frozen=True)
class ChildRun:
    """A finished child process: exit code, output, wall time, peak RSS."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mib: float
    cpu_seconds: float

    def check(self, what: str) -> ChildRun:
        if self.returncode != 0:
            raise SystemExit(
                f"{what} failed with exit code {self.returncode}:\n"
                f"{self.stderr.strip()[-2000:]}"
            )
        return self


def run_child(
    command: Sequence[str], *, env: Mapping[str, str] | None = None
) -> ChildRun:
    """Run *command* to completion, timing it from spawn to exit.

    The peak RSS is the child's own (``wait4``), not the maximum over every
    child this process ever had, so consecutive runs do not mix.
    """
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 -- commands are built here
            list(command),
            stdout=subprocess.PIPE,
            stderr=errors,
            env=None if env is None else dict(env),
        )
        assert process.stdout is not None
        with process.stdout:
            output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    return ChildRun(
        returncode=process.returncode,
        stdout=output.decode(errors="replace"),
        stderr=stderr,
        seconds=seconds,
        peak_rss_mib=usage.ru_maxrss / _KIB,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
    )


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) process *pid* has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # After the command name: state is field 3, utime and stime 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_mib(field_name: str) -> float:
    """A memory figure of this process from ``/proc/self/status``, in MiB.

    ``VmHWM`` is the peak resident set size, ``VmRSS`` the current one.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1]) / _KIB
    raise LookupError(field_name)


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    versions = {
        name: _version(name)
        for name in ("aiohttp", "orjson", "cattrs", "attrs", "openai", "psycopg")
    }
    return {
        "revision": revision(),
        "cpus": str(os.cpu_count()),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "sqlite": __import__("sqlite3").sqlite_version,
        "packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }


def revision() -> str:
    """The source tree's commit, ``-dirty`` when it has local changes."""
    git = shutil.which("git")
    if git is None:
        return "unknown"
    done = subprocess.run(  # noqa: S603 -- a fixed git command
        [git, "describe", "--always", "--dirty", "--abbrev=10"],
        cwd=BENCH,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


@dataclass
class Table:
    """A plain text table, numbers right-aligned."""

    headings: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(cell) for cell in cells])

    def render(self) -> str:
        every = [list(self.headings), *self.rows]
        widths = [max(len(row[i]) for row in every) for i in range(len(self.headings))]
        lines = []
        for number, row in enumerate(every):
            cells = [row[0].ljust(widths[0])]
            cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]  # noqa: B905 -- rows are built with the headings' width
            lines.append("  ".join(cells).rstrip())
            if number == 0:
                lines.append("  ".join("-" * width for width in widths))
        return "\n".join(lines)


def rate(events: float, seconds: float) -> str:
    return f"{events / seconds:,.0f}" if seconds > 0 else "-"
