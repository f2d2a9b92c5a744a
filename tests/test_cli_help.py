"""Every ``--help`` reads as plain text.

click prints a command's docstring as it is written, so reStructuredText
meant for the API docs (double backticks, roles such as :func:, a literal
block's ``::``) would reach the terminal as noise. This walks every command
the installed plugins give, groups and subcommands alike.
"""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from connector_core.cli import build_cli
from connector_core.registry import Registry


MARKUP = re.compile(
    r"`"  # a literal, a role's argument, a link
    r"|:[a-z][a-z:-]*:(?=\S)"  # a role (:func:, :py:class:) or field (:param x:)
    r"|::\s*$"  # a literal block follows
    r"|^\s*\.\. "  # a directive or comment
    r"|(?<!\w)\|[A-Za-z][\w-]*\|(?!\w)",  # a substitution, not a|choice
    re.MULTILINE,
)


def _commands(command: click.Command, path: tuple[str, ...] = ()):
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _commands(sub, (*path, name))


CLI = build_cli(Registry.load())
COMMANDS = list(_commands(CLI))


def test_the_walk_sees_every_command():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "logs", "sync", "connections add", "checkpoints reset"} <= names


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(p) or "aiaudit" for p, _ in COMMANDS]
)
def test_help_has_no_restructuredtext(path, command):
    result = CliRunner().invoke(CLI, [*path, "--help"], prog_name="aiaudit")
    assert result.exit_code == 0, result.output
    found = [line.strip() for line in result.output.splitlines() if MARKUP.search(line)]
    assert not found, f"aiaudit {' '.join(path)} --help shows markup: {found}"


@pytest.mark.parametrize(
    "text",
    ["``--format html``", ":func:`open_store`", "For example::", ".. note::", "|br|"],
)
def test_the_check_sees_markup(text):
    assert MARKUP.search(text)


@pytest.mark.parametrize(
    "text",
    [
        "--format [table|json|html]",
        "sqlite:///path or postgresql://...",
        "2025-01-31T12:00:00Z",
        "--option FIELD=VALUE",
        "Tip: repeat it.",
    ],
)
def test_plain_text_passes_the_check(text):
    assert not MARKUP.search(text)
