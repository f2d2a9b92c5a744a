"""The library's errors name its parameters, never the CLI's flags.

A host calling ``sync_connection(since=...)`` has no ``--since``; the CLI,
which has, words the same errors with its flags (``error_message``). Each
error and report text below is triggered for real and scanned for ``--``;
the commands keep their wording.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import toy
from test_backfill_edges import CONNECTION, STREAM, Timeline, _days, _sync

from connector_core import Registry
from connector_core.cli._common import error_message
from connector_core.connections import connection_from_options
from connector_core.exceptions import (
    ConnectionBusyError,
    ConnectorError,
    ParameterError,
)
from connector_core.sync import sync_connection
from connector_core.testing.processes import clean_env


AIAUDIT = Path(sys.executable).parent / "aiaudit"
REPO = Path(__file__).resolve().parents[2]
REGISTRY = Registry.load(entry_points=False, plugins=[("toy", toy)], environ={})
SPEC = REGISTRY.spec("toy")


def _no_flag(text: str | None) -> None:
    assert text, "nothing was said"
    assert "--" not in text, text


def _worded(exc: ConnectorError, *flags: str) -> None:
    """*exc* names no flag, and the CLI's wording of it names *flags*."""
    _no_flag(str(exc))
    cli = error_message(exc)
    for flag in flags:
        assert flag in cli, cli


@pytest.mark.parametrize(
    ("since", "until", "named", "flags"),
    [
        (datetime(2025, 1, 1), None, ("since",), ("--since",)),  # noqa: DTZ001
        (None, datetime(2025, 1, 1), ("until",), ("--until",)),  # noqa: DTZ001
        (None, datetime(1, 1, 2, tzinfo=UTC), ("since", "until"), ("--since/--until",)),
        (datetime(9999, 12, 31, tzinfo=UTC), None, ("since",), ("--since (",)),
    ],
)
async def test_a_bad_sync_range_names_its_parameters(store, since, until, named, flags):
    connector = REGISTRY.create("toy", {"token": "good"})
    with pytest.raises(ParameterError) as caught:
        await sync_connection(connector, store, since=since, until=until)
    assert caught.value.parameters == named
    _worded(caught.value, *flags)


@pytest.mark.parametrize(
    ("options", "secrets", "said", "flags"),
    [
        ({"token": "good"}, {}, "token is a secret", ("(in --secret, token=",)),
        (
            {"events": "http://user:pw@127.0.0.1/v1"},
            {},
            "events holds a URL with a user name or password",
            ("--option: events",),
        ),
        (
            {},
            {"token": "not a name"},
            "given for token is not an environment variable name",
            ("--secret:",),
        ),
        ({}, {"events": "VARIABLE"}, "events is not a secret field of toy", ()),
    ],
)
def test_a_bad_connection_option_names_its_parameter(options, secrets, said, flags):
    with pytest.raises(ParameterError) as caught:
        connection_from_options(SPEC, "c", options=options, secrets=secrets, environ={})
    assert said in str(caught.value)
    assert caught.value.details["field"] == next(iter({**options, **secrets}))
    _worded(caught.value, *flags)


def test_a_busy_connection_names_the_parameter_that_waits(store):
    with (
        store.lock("c"),
        pytest.raises(ConnectionBusyError) as caught,
        store.lock("c"),
    ):
        pass
    assert "pass wait=True" in str(caught.value)
    _worded(caught.value, "pass --wait")


async def test_the_sync_report_names_no_flag(store):
    feed = Timeline(store)
    await _sync(feed, store, since=_days(10))
    # A backfill ending before the coverage: a warning.
    early = await _sync(feed, store, since=_days(30), until=_days(20))
    _no_flag(early.streams[0].backfill.warning)
    # A backfill the platform refuses: its error.
    feed.refuse_before = _days(40)
    refused = await _sync(feed, store, since=_days(50))
    _no_flag(refused.streams[0].backfill.error)
    # A checkpoint the reader cannot read: the stream's error.
    feed.refuse_before = None
    store.write_batch(CONNECTION, STREAM, [], checkpoint={"broken": True})
    broken = await _sync(feed, store)
    _no_flag(broken.streams[0].error)


# -- the command line keeps its flags -----------------------------------------


def _aiaudit(store_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AIAUDIT), "--store", store_url, *args],
        capture_output=True,
        text=True,
        env=clean_env(
            EXAMPLE_API_KEY="exk_live_Q2hhdEdQVGtleTEyMzQ1Njc4OTA",
            EXAMPLE_CUSTOMER_ID="C01",
        ),
        timeout=120,
        check=False,
    )


def test_the_cli_words_a_range_error_with_its_flag(store_url):
    result = _aiaudit(store_url, "sync", "example", "--since", "2999-01-01")
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: --since (2999-01-01T00:00:00+00:00) is after"), line
    assert line.endswith(", now)"), line


HOLDER = textwrap.dedent(
    """
    import sys, time
    from connector_core.store import open_store

    store = open_store(sys.argv[1])
    with store.lock(sys.argv[2]):
        print("locked", flush=True)
        time.sleep(120)
    """
)


def test_the_cli_words_a_busy_connection_with_its_flag(store_url):
    # The store and the connection exist before another process locks it.
    first = _aiaudit(store_url, "connections", "list")
    assert first.returncode == 0, first.stderr
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, store_url, "example"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
    )
    try:
        assert holder.stdout.readline() == "locked\n", holder.communicate()[1]
        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        result = _aiaudit(store_url, "sync", "example", "--since", since)
    finally:
        holder.kill()
        holder.communicate()
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "is being synced by another process" in line, line
    assert line.endswith("or pass --wait"), line
