"""One default window, ``DEFAULT_HISTORY``: what a sync and a usage report
cover without a start, and what the help and the docs say they cover."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector_core.cli import build_cli
from connector_core.registry import Registry
from connector_core.sync import DEFAULT_HISTORY, _window


DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_a_sync_without_since_starts_the_window_before_its_end():
    now = datetime(2025, 3, 1, tzinfo=UTC)
    assert _window(None, None, now) == (now - DEFAULT_HISTORY, now)


@pytest.mark.parametrize("command", [("sync",), ("usage",), ("checkpoints", "reset")])
def test_the_help_quotes_the_window(command):
    result = CliRunner().invoke(
        build_cli(Registry.load(environ={})), [*command, "--help"], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert f"{DEFAULT_HISTORY.days} days before --until" in result.output


def test_the_docs_quote_the_window():
    text = " ".join((DOCS / "sync.md").read_text().split())
    assert f"`connector_core.sync.DEFAULT_HISTORY`, {DEFAULT_HISTORY.days} days" in text
