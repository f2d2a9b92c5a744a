"""The ChatGPT connector used as a synchronous host uses it, without
``async with``: it works, on two event loops, and leaves nothing open.

The ChatGPT plugin holds more than one session's worth of state (the Admin
and Compliance APIs, parked reads, an ``aclose`` hook of its own), so the
core's check of this on the example plugin is repeated here on it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, Any

import pytest

from connector_core.testing.processes import clean_env, running_sandbox


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


_WITHOUT_CONTEXT = """
import asyncio
import contextlib
import gc
from datetime import UTC, datetime, timedelta

from connector_core import Registry
from connector_core.models import AIAuditLogQuery, AIDateRange

registry = Registry.load()
connector = registry.create_from_env("chatgpt")
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


@pytest.fixture(scope="module")
def sandbox_env() -> Iterator[dict[str, Any]]:
    with running_sandbox("chatgpt", "--seed", "7", "--events", "2000") as described:
        yield described["details"]["environment"]


def test_a_connector_without_async_with_works_and_leaves_nothing_open(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    script = tmp_path / "host.py"
    script.write_text(textwrap.dedent(_WITHOUT_CONTEXT))
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        env=clean_env(**sandbox_env),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Unclosed" not in done.stderr
    assert done.stderr == ""
    assert done.stdout == "no context: ok\n"
