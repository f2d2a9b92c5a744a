"""Running ``aiaudit`` as a process from a test: a clean environment, and a
sandbox server that is always stopped.

CLI tests run the installed console script, as a user would. The core's
tests and every plugin's tests share these pieces, so a plugin author tests
the commands their users type the same way the core does.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest


if TYPE_CHECKING:
    import random
    from collections.abc import Callable, Iterator, Sequence


__all__ = [
    "AIAUDIT",
    "clean_env",
    "declared_variables",
    "kill_after_progress",
    "running_sandbox",
    "start_sandbox",
    "stop",
]

AIAUDIT = Path(sys.executable).parent / "aiaudit"
"""The console script of the environment running the tests."""

_STOP_TIMEOUT_S = 20


@functools.cache
def declared_variables() -> frozenset[str]:
    """Every environment variable an installed connector's config declares.

    Read from the registry, so a new plugin's keys are kept out of test
    commands without anyone listing them here.
    """
    # Imported here: loading plugins is the caller's first use, not import's.
    from connector_core.connections import environment_of  # noqa: PLC0415
    from connector_core.exceptions import ConfigurationError  # noqa: PLC0415
    from connector_core.registry import Registry  # noqa: PLC0415

    names: set[str] = set()
    for spec in Registry.load(environ={}).platforms.values():
        try:
            declaration = environment_of(spec)
        except ConfigurationError:
            continue
        for variables in declaration.values():
            names.update(variables)
    return frozenset(names)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any store setting or variable a connector
    reads, plus *extra*: a command must use only what the test gives it."""
    drop = declared_variables()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AIAUDIT_") and key != "DATABASE_URL" and key not in drop
    }
    return env | extra


def start_sandbox(platform: str, *args: str) -> tuple[subprocess.Popen[str], Any]:
    """Start ``aiaudit sandbox PLATFORM --json ARGS``; the process and the
    JSON line it describes itself with.

    A sandbox that does not describe itself is stopped, and the test fails
    with what it printed on stderr.
    """
    process = subprocess.Popen(  # noqa: S603 (our own console script)
        [str(AIAUDIT), "sandbox", platform, "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    assert process.stdout is not None  # noqa: S101 (PIPE was asked for)
    line = process.stdout.readline()
    try:
        return process, json.loads(line)
    except ValueError:
        _, stderr = stop(process)
        pytest.fail(f"the sandbox did not start: {line!r}\n{stderr}")


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Stop a sandbox (Ctrl-C, then a kill if it lingers); its remaining
    output."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.communicate(timeout=_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()


@contextlib.contextmanager
def running_sandbox(platform: str, *args: str) -> Iterator[Any]:
    """A sandbox for the ``with`` block; yields its JSON description."""
    process, described = start_sandbox(platform, *args)
    try:
        yield described
    finally:
        stop(process)


def kill_after_progress(
    command: Sequence[str],
    *,
    env: dict[str, str],
    progress: Callable[[], object],
    rng: random.Random,
    timeout: float = 60.0,
) -> bool:
    """Run *command*, SIGKILL it soon after *progress* (a snapshot of what
    it has stored, compared with ``==``) first changes, and wait for it;
    whether the kill landed while it was still working.

    A crash test that kills at a fixed time is outrun by a fast machine,
    which finishes first; waiting for stored progress, then a random beat
    more, lands every kill somewhere inside the work.
    """
    before = progress()
    process = subprocess.Popen(  # noqa: S603 - the test's own command
        list(command), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + timeout
        while (
            process.poll() is None
            and time.monotonic() < deadline
            and progress() == before
        ):
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))
        if process.poll() is not None:
            return False
        process.send_signal(signal.SIGKILL)
        return True
    finally:
        process.wait(timeout=_STOP_TIMEOUT_S)
