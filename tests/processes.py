"""Running ``aiaudit`` as a process from a test: a clean environment, and a
sandbox server that is always stopped.

The CLI tests run the installed console script, as a user would; these are
the pieces they share.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest


if TYPE_CHECKING:
    from collections.abc import Iterator


AIAUDIT = Path(sys.executable).parent / "aiaudit"
"""The console script of the environment running the tests."""

_STOP_TIMEOUT_S = 20


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any platform key or store setting, plus
    *extra*: a command must use only what the test gives it."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIAUDIT_", "OPENAI_", "CHATGPT_", "EXAMPLE_"))
        and key != "DATABASE_URL"
    }
    return env | extra


def start_sandbox(platform: str, *args: str) -> tuple[subprocess.Popen[str], Any]:
    """Start ``aiaudit sandbox PLATFORM --json ARGS``; the process and the
    JSON line it describes itself with.

    A sandbox that does not describe itself is stopped, and the test fails
    with what it printed on stderr.
    """
    process = subprocess.Popen(
        [str(AIAUDIT), "sandbox", platform, "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    assert process.stdout is not None
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
