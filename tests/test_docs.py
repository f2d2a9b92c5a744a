"""The hook reference in docs/ keeps up with the specification."""

from __future__ import annotations

import re
from pathlib import Path

import pluggy
import pytest

from connector_core import hookspecs


DOCS = Path(__file__).parent.parent / "docs"
HOOKS_DOC = (DOCS / "plugin-hooks.md").read_text()


def _spec_callers() -> dict[str, tuple[str, ...]]:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.add_hookspecs(hookspecs.AIPlatformConnector)
    return {
        name: getattr(pm.hook, name).spec.argnames
        for name in dir(pm.hook)
        if not name.startswith("_")
    }


@pytest.mark.parametrize(("hook", "argnames"), sorted(_spec_callers().items()))
def test_every_hook_is_documented_with_its_arguments(hook, argnames):
    heading = f"### {hook}({', '.join(argnames)})"
    assert heading in HOOKS_DOC, f"missing from docs/plugin-hooks.md: {heading}"


def test_no_documented_hook_is_gone():
    documented = set(re.findall(r"^### (\w+)\(", HOOKS_DOC, flags=re.MULTILINE))
    assert documented == set(_spec_callers())


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_relative_links_resolve(page):
    text = (DOCS / page).read_text()
    for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", text):
        assert (DOCS / target).exists(), f"{page} links to missing {target}"
