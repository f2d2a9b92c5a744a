"""The library as a host embeds it: silent until the host turns logging on.

Each host here is a fresh interpreter (a subprocess), so nothing another
test configured leaks in: what it prints is what a host would see.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

import pytest
import structlog

from connector_core import get_logger
from connector_core.testing.processes import clean_env


_HOST = """
import asyncio
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from connector_core import Registry, SandboxOptions
from connector_core.models import AIAuditLogQuery

{setup}


async def main() -> None:
    # The host names the plugins it uses, so another installed plugin (one
    # that fails to load warns, as it should) is no part of what it prints.
    registry = Registry.load(environ={{"AIAUDIT_PLUGINS": "example"}})
    sandbox = registry.sandbox("example")
    async with sandbox.start(SandboxOptions(seed=7, events=300)) as running:
        config = dict(running.config)
        Path(sys.argv[1]).write_text(config["api_key"])
        connector = registry.create("example", config)
        {late}
        async with connector:
            for _ in range(5):
                assert (await connector.authenticate()).success
            end = datetime.now(UTC)
            start = end - timedelta(days=30)
            query = AIAuditLogQuery(start_date=start, end_date=end, limit=20)
            page = await connector.get_ai_audit_logs(query)
            assert page.logs


asyncio.run(main())
"""


def _run_host(tmp_path, setup: str = "", late: str = "pass"):
    """Run a host program; its stdout, stderr, and the sandbox's key."""
    script = tmp_path / "host.py"
    script.write_text(
        _HOST.format(
            setup=textwrap.dedent(setup), late=late.replace("\n", "\n        ")
        )
    )
    key_file = tmp_path / "key"
    env = {k: v for k, v in clean_env().items() if k != "PYTHONWARNINGS"}
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script), str(key_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr, key_file.read_text()


def test_a_host_that_configures_nothing_sees_nothing(tmp_path):
    stdout, stderr, _ = _run_host(tmp_path)
    assert stdout == ""
    assert stderr == ""


def test_with_nothing_configured_a_warning_still_reaches_stderr():
    """Python's last-resort handler shows a library's warnings, and only
    those, when the host configured nothing; the library adds no handler."""
    code = (
        "from connector_core import get_logger\n"
        "log = get_logger('connector_core.example').bind(connection='c')\n"
        "log.info('not.shown', n=1)\n"
        "log.warning('plugin.load_failed', plugin='p', error='boom')\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr == "plugin.load_failed connection='c' plugin='p' error='boom'\n"


def test_a_host_with_stdlib_logging_gets_the_events_under_module_names(tmp_path):
    stdout, stderr, key = _run_host(
        tmp_path,
        """
        logging.basicConfig(
            level=logging.DEBUG,
            stream=sys.stdout,
            format="%(name)s|%(levelname)s|%(funcName)s|%(message)s",
        )
        """,
    )
    lines = stdout.splitlines()
    http = [line for line in lines if line.startswith("connector_core.http|")]
    assert any(
        "|DEBUG|" in ln and "|http.request method='GET' url=" in ln for ln in http
    )
    assert not any("|_log|" in ln or "|debug|" in ln for ln in lines)  # caller named
    assert any("|DEBUG|" in ln and "http.response " in ln for ln in http)
    calls = [ln for ln in lines if ln.startswith("connector_core.connector|DEBUG|")]
    assert len([ln for ln in calls if "operation='authenticate'" in ln]) == 5
    assert all("platform='example'" in ln for ln in calls)
    assert key not in stdout
    assert key not in stderr


def test_a_host_with_stdlib_logging_at_warning_sees_no_debug(tmp_path):
    stdout, stderr, _ = _run_host(
        tmp_path,
        "logging.basicConfig(level=logging.WARNING, stream=sys.stdout)",
    )
    assert stdout == ""
    assert stderr == ""


def test_a_host_with_structlog_gets_the_events_through_its_pipeline(tmp_path):
    stdout, _, key = _run_host(
        tmp_path,
        """
        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.JSONRenderer(),
            ],
            logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        )
        """,
    )
    events = [json.loads(line) for line in stdout.splitlines()]
    calls = [e for e in events if e["event"] == "connector.call"]
    assert [e["operation"] for e in calls].count("authenticate") == 5
    assert "get_ai_audit_logs" in [e["operation"] for e in calls]
    assert calls[0]["platform"] == "example"
    assert calls[0]["level"] == "debug"
    assert any(e["event"] == "http.request" for e in events)
    assert key not in stdout


def test_structlog_configured_after_the_connector_was_created_still_applies(
    tmp_path,
):
    """A bound logger must not freeze the configuration of the moment it
    was bound: a host may configure logging after it built its connectors."""
    stdout, _, _ = _run_host(
        tmp_path,
        late="""structlog.configure(
    processors=[structlog.processors.JSONRenderer()],
    logger_factory=structlog.PrintLoggerFactory(sys.stdout),
)""",
    )
    events = [json.loads(line) for line in stdout.splitlines()]
    calls = [e for e in events if e["event"] == "connector.call"]
    assert [e["operation"] for e in calls].count("authenticate") == 5
    assert {e["platform"] for e in calls} == {"example"}


# ---------------------------------------------------------------------------
# The helper itself, in process (conftest resets structlog after each test)
# ---------------------------------------------------------------------------


def test_the_helper_renders_fields_into_a_stdlib_record(caplog):
    assert not structlog.is_configured()
    caplog.set_level(logging.DEBUG, logger="plugin_x")
    log = get_logger("plugin_x").bind(platform="x")

    def plugin_code() -> None:
        log.info("thing.happened", count=3, note="two\nlines")

    plugin_code()
    (record,) = caplog.records
    assert record.name == "plugin_x"
    assert record.levelno == logging.INFO
    assert (
        record.getMessage() == "thing.happened platform='x' count=3 note='two\\nlines'"
    )
    assert record.funcName == "plugin_code"
    assert record.event == "thing.happened"
    assert record.count == 3
    assert record.platform == "x"


def test_a_field_named_like_a_record_attribute_stays_in_the_message(caplog):
    caplog.set_level(logging.DEBUG, logger="plugin_x")
    get_logger("plugin_x").warning("odd", name="n", message="m", args=(1,))
    (record,) = caplog.records
    assert record.name == "plugin_x"
    assert record.getMessage() == "odd name='n' message='m' args=(1,)"


def test_a_disabled_level_renders_nothing(caplog):
    caplog.set_level(logging.INFO, logger="plugin_x")

    class Loud:
        def __repr__(self) -> str:
            pytest.fail("a disabled debug call rendered its fields")

    get_logger("plugin_x").debug("quiet", value=Loud())
    assert caplog.records == []


def test_a_structlog_host_gets_bound_fields_and_the_level():
    with structlog.testing.capture_logs() as events:
        get_logger("plugin_x").bind(platform="x").debug("e", n=1)
    assert events == [{"event": "e", "platform": "x", "n": 1, "log_level": "debug"}]
