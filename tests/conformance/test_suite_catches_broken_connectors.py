"""The conformance suite is itself tested: it must fail every broken connector,
by the test meant for the bug, and by that test alone.

``broken_variants`` is installed the way any third-party plugin is: a
distribution on the path (a dist-info folder with an entry point in group
``aiaudit``), allowed alone by ``AIAUDIT_PLUGINS``. One ``pytest
--aiaudit-platform all`` run in a subprocess then checks every variant, each
under its own platform name, and its JUnit report says which conformance
test failed for which variant. A subprocess keeps the run's plugins,
environment and warnings apart from this test session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import broken_variants
import pytest

from connector_core.testing import ConnectorConformance


HERE = Path(__file__).parent

CAUGHT_BY = {
    broken_variants.DropsLastPage: (
        "test_full_read_returns_everything_the_sandbox_serves"
    ),
    broken_variants.RepeatsRecordAcrossPages: (
        "test_pages_are_disjoint_and_their_union_is_one_full_read"
    ),
    broken_variants.IgnoresTheFilter: (
        "test_event_type_filter_returns_only_those_actions"
    ),
    broken_variants.NaiveTimestamps: "test_timestamps_are_timezone_aware_utc",
    broken_variants.ReportsAnotherPlatform: "test_logs_have_every_required_field",
    broken_variants.ShufflesEachPage: "test_two_full_reads_are_identical",
    broken_variants.ResumesWithOlderEvents: "test_resumed_read_returns_nothing_older",
    broken_variants.IgnoresTimeRange: "test_future_window_returns_nothing",
    broken_variants.LeaksKeyInError: "test_secrets_never_appear_in_errors",
    broken_variants.LogsTheKey: "test_secrets_never_appear_in_logs",
    broken_variants.SecretNotMarked: "test_config_marks_secrets",
    broken_variants.RaisesOnBadCredentials: "test_bad_credentials_fail_cleanly",
    broken_variants.TopUsersWrongWay: "test_top_users_are_sorted",
    broken_variants.SwallowsServerErrors: "test_server_error_surfaces_as_server_error",
    broken_variants.StopsOnRateLimit: "test_rate_limit_surfaces_as_rate_limited_error",
    broken_variants.EmptyOnMalformedPage: (
        "test_malformed_page_is_schema_error_or_quarantined"
    ),
    broken_variants.LeavesTaskRunning: "test_cancelled_read_leaves_no_task_behind",
    broken_variants.LeaksSession: "test_cancelled_read_leaves_no_session_open",
    broken_variants.SendsKeyOnEveryHop: "test_redirect_hops_carry_no_credentials",
    broken_variants.LoopsOnStuckCursor: "test_stuck_cursor_stops_with_schema_error",
    broken_variants.DropsPoisonedRecords: (
        "test_poisoned_records_are_kept_or_quarantined"
    ),
    broken_variants.IgnoresLateEvents: "test_late_events_are_read_exactly_once",
}

CONFORMANCE_TESTS = sum(name.startswith("test_") for name in dir(ConnectorConformance))
"""How many tests the suite holds, counted, so a new one is never missed."""

# A small history keeps the run quick; it still spans several days, several
# pages per window and a few dozen users.
SMALL = ("--aiaudit-events", "300", "--aiaudit-days", "4")


class Outcomes:
    """Each platform's conformance tests by outcome, from JUnit reports."""

    def __init__(self) -> None:
        self.output = ""
        self.by_platform: dict[str, dict[str, list[str]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self.messages: dict[tuple[str, str], str] = {}

    def read(self, report: Path, output: str) -> None:
        self.output += output
        # The report is our own pytest run's, not untrusted input.
        for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314
            test, _, platform = case.get("name", "").partition("[")
            platform = platform.rstrip("]")
            outcome = "passed"
            for child in case:
                if child.tag in {"failure", "error", "skipped"}:
                    outcome = child.tag
                    self.messages[platform, test] = (
                        f"{child.get('message', '')}\n{child.text or ''}"
                    )
            self.by_platform[platform][outcome].append(test)

    def failed(self, platform: str) -> list[str]:
        found = self.by_platform[platform]
        return sorted(found["failure"] + found["error"])


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> Outcomes:
    """Install the variants as a plugin and run the suite on every one.

    The platforms are split over two processes run side by side, which
    halves the wait on a machine with two cores and costs nothing on one.
    """
    root = tmp_path_factory.mktemp("broken-plugin")
    dist = root / "aiaudit_broken-0.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: aiaudit-broken\nVersion: 0.0.0\n"
    )
    (dist / "entry_points.txt").write_text("[aiaudit]\nbroken = broken_variants\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(root), str(HERE), os.environ.get("PYTHONPATH", "")]
        ),
        "AIAUDIT_PLUGINS": "broken",
        # Only the conformance plugin, named below: whatever else is
        # installed stays out of the run.
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    platforms = sorted(broken_variants.PLATFORMS)
    runs = []
    for half, names in enumerate((platforms[::2], platforms[1::2])):
        report = root / f"report-{half}.xml"
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "connector_core.testing.plugin",
            "-p",
            "no:cacheprovider",
            *(f"--aiaudit-platform={name}" for name in names),
            *SMALL,
            f"--junitxml={report}",
            "-q",
        ]
        process = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        runs.append((report, process))
    result = Outcomes()
    for report, process in runs:
        output, _ = process.communicate(timeout=300)
        assert report.exists(), output
        result.read(report, output)
    return result


def test_every_variant_is_expected_to_fail_a_test():
    """A variant without an expected test would prove nothing."""
    assert set(CAUGHT_BY) == set(broken_variants.VARIANTS.values())
    for test in CAUGHT_BY.values():
        assert callable(getattr(ConnectorConformance, test, None)), test


def test_the_unbroken_example_passes(outcomes):
    """The control: the same plugin with nothing broken passes every test,
    so every failure below is the variant's doing."""
    found = outcomes.by_platform["unbroken"]
    assert outcomes.failed("unbroken") == [], outcomes.output
    assert found["skipped"] == []
    assert len(found["passed"]) == CONFORMANCE_TESTS


@pytest.mark.parametrize(
    ("variant", "test"),
    [(cls.platform, test) for cls, test in CAUGHT_BY.items()],
)
def test_the_suite_fails_the_variant_by_the_right_test(outcomes, variant, test):
    """Exactly one conformance test fails, and it is the one for the bug; its
    message is the diagnosis, without a traceback through the suite."""
    assert outcomes.failed(variant) == [test], outcomes.messages
    message = outcomes.messages[variant, test]
    assert "connector_core/testing" not in message, message
