"""No module of the core or a plugin grows past 800 lines without saying why.

A long file is usually two files whose seam was not found. When one is
long for a reason (a sandbox imitating a whole API, a table kept as code),
its docstring opens with that reason, so a reader knows before scrolling
and a reviewer sees the choice was made on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parent.parent
LIMIT = 800
REASON = "Over 800 lines:"
TREES = ("connector_core", "plugins", "examples")


def _modules() -> list[Path]:
    found: list[Path] = []
    for tree in TREES:
        found.extend(
            path
            for path in sorted((ROOT / tree).rglob("*.py"))
            if not any(part.startswith(".") or part == "build" for part in path.parts)
        )
    return found


def test_the_trees_are_found() -> None:
    assert len(_modules()) > 50


@pytest.mark.parametrize(
    "path",
    [p for p in _modules() if len(p.read_text(encoding="utf-8").splitlines()) > LIMIT],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_a_long_module_opens_with_its_reason(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    docstring = ast.get_docstring(ast.parse(source)) or ""
    first = docstring.splitlines()[0] if docstring else ""
    assert first.startswith(REASON), (
        f"{path.relative_to(ROOT)} has {len(source.splitlines())} lines; split it "
        f"along a seam, or open its docstring with '{REASON} <why>'"
    )
