"""The conformance suite passes on the third-party example plugin, offline,
in both of its forms, and behaves as an author expects. (Each platform's
plugin runs the suite on itself in its own tests.)

The suite runs in process with ``pytester``, in a directory of its own, as
an author would run it: ``pytest --aiaudit-platform NAME``, or a subclass of
``ConnectorConformance`` in their tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connector_core.testing import ConnectorConformance


pytest_plugins = ["pytester"]

ROOT = Path(__file__).parents[2]
EXAMPLE_TESTS = ROOT / "examples" / "aiaudit-example" / "tests"
CONFORMANCE_TESTS = sum(name.startswith("test_") for name in dir(ConnectorConformance))
"""How many tests the suite holds, counted, so a new one is never missed."""
PLUGIN = ("-p", "connector_core.testing.plugin", "-p", "no:cacheprovider")


@pytest.fixture(autouse=True)
def _only_the_conformance_plugin(monkeypatch):
    """The inner runs load the conformance plugin, named in ``PLUGIN``, and no
    other installed pytest plugin: what else the environment holds is not
    under test, and would only slow each run down."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


KNOWN_SKIPS: dict[str, set[str]] = {"example": set()}


def names(reports) -> set[str]:
    return {report.nodeid.rpartition("::")[2].partition("[")[0] for report in reports}


@pytest.mark.parametrize("platform", sorted(KNOWN_SKIPS))
def test_the_suite_passes(pytester, platform):
    """Every conformance test passes; a skip is only one the sandbox's
    missing details explain (a sandbox that adds them skips fewer)."""
    result = pytester.inline_run(*PLUGIN, "--aiaudit-platform", platform)
    passed, skipped, failed = result.listoutcomes()
    assert failed == [], [report.longreprtext for report in failed]
    assert names(skipped) <= KNOWN_SKIPS[platform]
    assert len(passed) + len(skipped) == CONFORMANCE_TESTS


def test_the_subclass_form_passes(pytester):
    """The example plugin's own test file (a ``ConnectorConformance``
    subclass) runs the same suite from an author's test directory."""
    source = (EXAMPLE_TESTS / "test_conformance.py").read_text()
    pytester.makepyfile(test_conformance=source)
    result = pytester.inline_run(*PLUGIN)
    passed, skipped, failed = result.listoutcomes()
    assert (len(passed), skipped, failed) == (CONFORMANCE_TESTS, [], [])


def test_a_subclass_must_name_its_platform(pytester):
    """Forgetting ``platform`` is explained, not a confusing fixture error."""
    pytester.makepyfile(
        """
        from connector_core.testing import ConnectorConformance

        class TestMine(ConnectorConformance):
            pass
        """
    )
    result = pytester.runpytest_inprocess(*PLUGIN, "-k", "entry_point")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(['*set platform = "..." on TestMine*'])


def test_all_names_every_installed_plugin_with_a_sandbox(pytester):
    """``all`` is what CI runs: every installed plugin, one class each."""
    result = pytester.runpytest_inprocess(
        *PLUGIN, "--aiaudit-platform", "all", "--collect-only", "-q"
    )
    collected = [line for line in result.outlines if "::" in line]
    ours = [line for line in collected if line.endswith("[example]")]
    assert len(ours) == CONFORMANCE_TESTS, result.outlines


def test_an_unknown_platform_is_a_usage_error(pytester):
    """A misspelled platform stops the run with the installed ones named,
    instead of a page of errors."""
    result = pytester.runpytest_inprocess(*PLUGIN, "--aiaudit-platform", "exampel")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--aiaudit-platform exampel: no installed plugin provides it*example*"]
    )


def test_the_suite_runs_alone_or_beside_given_paths(pytester):
    """Without paths only the suite runs, not the project's own tests; with
    paths, both."""
    pytester.makepyfile(test_mine="def test_mine(): pass")
    alone = pytester.runpytest_inprocess(
        *PLUGIN, "--aiaudit-platform", "example", "--collect-only", "-q"
    )
    beside = pytester.runpytest_inprocess(
        *PLUGIN, "--aiaudit-platform", "example", "test_mine.py", "--collect-only", "-q"
    )
    assert not any("test_mine" in line for line in alone.outlines)
    assert any("test_mine.py::test_mine" in line for line in beside.outlines)
    assert sum("[example]" in line for line in beside.outlines) == CONFORMANCE_TESTS


def test_without_the_option_the_plugin_does_nothing(pytester):
    """The plugin is installed into every pytest run of the environment; a
    project's own run must not notice it."""
    pytester.makepyfile(test_mine="def test_mine(): pass")
    result = pytester.runpytest_inprocess(*PLUGIN)
    result.assert_outcomes(passed=1)
