"""The core names no platform: a platform's name or vendor appears in
``connector_core`` only as an example in a docstring.

Everything the core does for a platform it learns from the plugin (its
connector class, its registered sandbox, the neutral metadata keys its
normalizer fills), so a new platform needs no change here. A name in code,
a comment or a message would be the start of a special case.
"""

from __future__ import annotations

import ast
import json
import re
import tomllib
from pathlib import Path

import connector_core


CORE = Path(connector_core.__file__).parent
NAMES = re.compile(r"chatgpt|openai|claude|anthropic|gemini|google", re.IGNORECASE)


def _docstring_lines(tree: ast.Module) -> set[int]:
    """Lines of every bare string statement (module, class, function and
    attribute docstrings)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            end = node.end_lineno or node.lineno
            lines.update(range(node.lineno, end + 1))
    return lines


def test_platform_names_appear_only_in_docstrings():
    found = []
    for path in sorted(CORE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        allowed = _docstring_lines(ast.parse(text))
        for number, line in enumerate(text.splitlines(), start=1):
            if NAMES.search(line) and number not in allowed:
                found.append(
                    f"{path.relative_to(CORE.parent)}:{number}: {line.strip()}"
                )
    assert found == []


def _restated_specification(path: Path) -> bool:
    """A public specification restated as data (it carries a ``source``
    header), such as the OCSF schema: the standard's own enumerations may
    name vendors; that is the standard speaking, not the core."""
    if path.suffix != ".json":
        return False
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return False
    return isinstance(loaded, dict) and isinstance(loaded.get("source"), dict)


def test_no_data_file_in_the_core_names_a_platform():
    found = [
        str(path.relative_to(CORE.parent))
        for path in sorted(CORE.rglob("*"))
        if path.is_file()
        and path.suffix not in {".py", ".pyc"}
        and not _restated_specification(path)
        and NAMES.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert found == []


def test_the_core_distribution_ships_no_plugin():
    """The core's wheel is ``connector_core`` alone and registers no
    platform: every plugin is a distribution of its own."""
    project = tomllib.loads((CORE.parent / "pyproject.toml").read_text("utf-8"))
    assert project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [
        "connector_core"
    ]
    assert "aiaudit" not in project["project"].get("entry-points", {})
