"""docs/hosting.md runs as written: each host example is a program, run
against the example plugin's sandbox in a fresh interpreter, and prints what
the page says it prints.

An example is a fenced ``python`` block after ``<!-- host-example: NAME -->``;
its output is the ``text`` block after ``<!-- host-output: NAME -->``. Digits
in the documented output stand for any number (dates, counts), everything
else must match line for line.

Also here: a connector used without ``async with``, the way the synchronous
example uses it, leaves nothing open behind it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from connector_core.testing.processes import clean_env, running_sandbox


DOC = Path(__file__).parent.parent / "docs" / "hosting.md"
_BLOCK = r"<!-- host-{kind}: (?P<name>[\w-]+) -->\n```{lang}\n(?P<body>.*?)^```$"
SEED = "7"
PLATFORM = "example"
"""The platform the examples run on (they read it from ``PLATFORM``)."""


def _blocks(kind: str, lang: str) -> dict[str, str]:
    pattern = re.compile(_BLOCK.format(kind=kind, lang=lang), re.DOTALL | re.MULTILINE)
    return {m["name"]: m["body"] for m in pattern.finditer(DOC.read_text())}


EXAMPLES = _blocks("example", "python")
OUTPUTS = _blocks("output", "text")


@pytest.fixture(scope="module")
def sandbox_env():
    """What the page says the examples read: the platform, the sandbox's
    configuration and the platform's own variables; and only the plugin
    they use, so nothing else installed has a say in what they print."""
    with running_sandbox(PLATFORM, "--seed", SEED, "--events", "2000") as described:
        yield {
            "PLATFORM": PLATFORM,
            "PLATFORM_CONFIG": json.dumps(described["config"]),
            "AIAUDIT_PLUGINS": PLATFORM,
            **described["environment"],
        }


def _run(source: str, environ: dict[str, str], tmp_path: Path):
    script = tmp_path / "host.py"
    script.write_text(source)
    return subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        env=clean_env(**environ),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def _matches(documented: str, printed: str) -> bool:
    pattern = re.sub(r"\d+", r"\\d+", re.escape(documented))
    return re.fullmatch(pattern, printed) is not None


def test_the_page_has_examples_each_with_its_output():
    assert set(EXAMPLES) == {"async", "sync", "fan-out"}
    assert set(OUTPUTS) == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_an_example_runs_and_prints_what_the_page_shows(name, sandbox_env, tmp_path):
    done = _run(EXAMPLES[name], sandbox_env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no warning: no session left open, no log line
    printed = done.stdout.splitlines()
    documented = OUTPUTS[name].splitlines()
    assert len(printed) == len(documented), done.stdout
    for doc_line, line in zip(documented, printed, strict=True):
        assert _matches(doc_line, line), f"documented {doc_line!r}, printed {line!r}"


_WITHOUT_CONTEXT = """
import asyncio
import contextlib
import gc
import os
from datetime import UTC, datetime, timedelta

from connector_core import Registry
from connector_core.models import AIAuditLogQuery, AIDateRange

registry = Registry.load()
connector = registry.create_from_env(os.environ["PLATFORM"])
end = datetime.now(UTC)
week = AIAuditLogQuery(start_date=end - timedelta(days=7), end_date=end)


async def calls() -> None:
    assert (await connector.authenticate()).success
    assert (await connector.validate_ai_credentials()).is_valid
    page = await connector.get_ai_audit_logs(
        AIAuditLogQuery(start_date=week.start_date, end_date=end, limit=5)
    )
    assert len(page.logs) == 5 and page.next_cursor
    await connector.get_usage_analytics(AIDateRange(start=week.start_date, end=end))
    async with contextlib.aclosing(connector.stream_ai_audit_logs(week)) as logs:
        async for _ in logs:
            break
    # Two calls at once share one session, closed after the second ends.
    await asyncio.gather(connector.authenticate(), connector.list_streams())


asyncio.run(calls())
asyncio.run(calls())  # the same handle on another event loop
gc.collect()
print("no context: ok")
"""


def test_a_connector_without_async_with_works_and_leaves_nothing_open(
    sandbox_env, tmp_path
):
    done = _run(textwrap.dedent(_WITHOUT_CONTEXT), sandbox_env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Unclosed" not in done.stderr
    assert done.stderr == ""
    assert done.stdout == "no context: ok\n"
