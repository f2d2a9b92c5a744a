"""The conformance tests, as a base class a plugin author subclasses.

::

    from connector_core.testing import ConnectorConformance

    class TestMyConnector(ConnectorConformance):
        platform = "myplatform"

Every test runs against the plugin's own sandbox (the ``aiaudit_sandbox``
hook), offline. ``pytest --aiaudit-platform NAME`` runs the same class
without a file of your own. Each test's docstring says why the property
matters to a host; each failure message says what was seen. What is seen
is found by the checks of :mod:`connector_core.testing._access_checks`,
:mod:`connector_core.testing._reading_checks` and
:mod:`connector_core.testing._fault_checks`; a test here decides, from
them and from its premises, whether it passes, fails or skips.

Fixtures an author may override in the subclass: ``aiaudit_platform`` (the
platform name), ``aiaudit_registry`` (how plugins are loaded; the installed
entry points by default) and ``aiaudit_sandbox_options`` (the sandbox's size
and seed; also set by ``--aiaudit-events``, ``--aiaudit-days`` and
``--aiaudit-seed``).
"""

from __future__ import annotations

import importlib.metadata
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

import attrs
import pytest

from connector_core.exceptions import RateLimitedError, ServerError
from connector_core.hookspecs import PROJECT
from connector_core.registry import Registry
from connector_core.sandbox import SandboxOptions
from connector_core.testing._access_checks import (
    declaration_problems,
    good_credential_problems,
    held_in_config,
    leaks,
    listing_problems,
    refused_credential_problems,
    restricted_problems,
    secrets_in_errors,
    secrets_in_logs,
    shown_texts,
    unwrapped_secrets,
)
from connector_core.testing._fault_checks import (
    authenticate_problems,
    late_problems,
    malformed_problem,
    poisoned_read_problems,
    poisoned_sync_problems,
    redirect_problems,
    stuck_problems,
    surfaces,
)
from connector_core.testing._faults import (
    STUCK_MAX_REQUESTS,
    STUCK_MAX_SECONDS,
    Cancellation,
    FaultOutcome,
    SandboxRefusedError,
    cancel_a_read,
    first_error,
    read_late,
    read_poisoned,
    read_stuck,
    read_under_redirects,
    read_with_fault,
)
from connector_core.testing._harness import (
    DETERMINISM_TEST,
    GROUND_TRUTH_TEST,
    PAGES_TEST,
    RESUME_TEST,
    Harness,
    fail,
    is_naive_timestamp_error,
    listed,
    page_limit,
)
from connector_core.testing._reading_checks import (
    analytics_problems,
    daily_problems,
    event_filter_problems,
    future_window_problems,
    log_problems,
    naive_quarantined,
    not_utc,
    paging_problems,
    top_user_problems,
    usage_analytics,
)
from connector_core.testing._usage_checks import (
    usage_problems,
    usage_resume_problems,
    usage_streams,
)


if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from connector_core.models import UsageAnalytics
    from connector_core.registry import PluginInfo


__all__ = ["DEFAULT_SANDBOX_OPTIONS", "ConnectorConformance", "sandbox_options"]

T = TypeVar("T")

DEFAULT_SANDBOX_OPTIONS: Final = SandboxOptions(
    seed=20250301, events=1500, days=14, end=datetime(2025, 3, 1, tzinfo=UTC)
)
"""A small, pinned history: big enough for many pages and checkpoints,
small enough that the whole suite runs in seconds; pinned so that every run
reads the same data."""

_ANALYTICS_TEST: Final = "test_analytics_totals_match_the_logs"
_CANCEL_TEST: Final = "test_cancelled_read_leaves_no_task_behind"


def sandbox_options(config: pytest.Config) -> SandboxOptions:
    """The default options, changed by ``--aiaudit-seed/-events/-days``."""
    changes: dict[str, Any] = {}
    for name in ("seed", "events", "days"):
        value = config.getoption(f"aiaudit_{name}", default=None)
        if value is not None:
            changes[name] = value
    return attrs.evolve(DEFAULT_SANDBOX_OPTIONS, **changes)


class ConnectorConformance:
    """The conformance suite: subclass it and set :attr:`platform`."""

    platform: ClassVar[str | None] = None
    """The platform under test, as its connector class declares it."""

    # -- fixtures (override any of them in a subclass) -------------------------

    # Class-scoped fixtures are classmethods: they run once per class (and
    # platform), not per test instance.

    @pytest.fixture(scope="class")
    @classmethod
    def aiaudit_platform(cls) -> str:
        """The platform under test: the class's ``platform`` attribute."""
        if not cls.platform:
            fail(
                f'set platform = "..." on {cls.__name__}, or run '
                "pytest --aiaudit-platform NAME"
            )
        return cls.platform

    @pytest.fixture(scope="class")
    @classmethod
    def aiaudit_registry(cls) -> Registry:
        """The plugins, loaded from their entry points as a host loads them."""
        return Registry.load()

    @pytest.fixture(scope="class")
    @classmethod
    def aiaudit_sandbox_options(cls, request: pytest.FixtureRequest) -> SandboxOptions:
        """How the sandbox is started: see :data:`DEFAULT_SANDBOX_OPTIONS`."""
        return sandbox_options(request.config)

    @pytest.fixture(scope="class")
    @classmethod
    def aiaudit_harness(
        cls,
        aiaudit_platform: str,
        aiaudit_registry: Registry,
        aiaudit_sandbox_options: SandboxOptions,
    ) -> Iterator[Harness]:
        """The running sandbox and the shared reads of it, per platform."""
        with Harness.start(
            aiaudit_registry, aiaudit_platform, aiaudit_sandbox_options
        ) as harness:
            yield harness

    # -- discovery --------------------------------------------------------------

    def _plugin(self, harness: Harness) -> PluginInfo:
        found = next(
            (
                info
                for info in harness.registry.plugins
                if any(c.platform == harness.platform for c in info.connectors)
            ),
            None,
        )
        if found is None:
            fail(f"no plugin lists platform {harness.platform!r}")
        return found

    def test_plugin_loads_by_entry_point(self, aiaudit_harness: Harness) -> None:
        """Hosts find plugins only through the ``aiaudit`` entry-point group: a
        connector that works when imported by hand but is not declared there
        is invisible to every host, the CLI included."""
        info = self._plugin(aiaudit_harness)
        if info.status != "loaded":
            fail(f"plugin {info.name!r} is {info.status}: {info.error}")
        if info.distribution is None:
            fail(
                f"plugin {info.name!r} was registered by hand, not loaded from an "
                f"entry point: declare it under [project.entry-points.{PROJECT}] "
                "in pyproject.toml"
            )
        declared = [
            ep
            for ep in importlib.metadata.entry_points(group=PROJECT)
            if ep.name == info.name
        ]
        if not declared:
            fail(f"no entry point named {info.name!r} in group {PROJECT!r}")

    def test_platform_is_listed(self, aiaudit_harness: Harness) -> None:
        """``aiaudit plugins`` is how an administrator sees what is installed
        and which settings are secret; it shows what the registry records, so
        the platform must be there with a name, its operations and secrets."""
        harness = aiaudit_harness
        problems = listing_problems(harness, self._plugin(harness))
        if problems:
            fail(f"platform {harness.platform!r}: " + "; ".join(problems))

    def test_plugin_declares_its_platform(self, aiaudit_harness: Harness) -> None:
        """Hosts key configurations, stored logs, checkpoints and sandboxes by
        platform and stream name, so the class, its sandbox and its streams
        must agree on one platform and name their streams uniquely."""
        harness = aiaudit_harness
        problems = harness.run(declaration_problems(harness))
        if problems:
            fail(f"platform {harness.platform!r}: " + "; ".join(problems))

    def test_config_marks_secrets(self, aiaudit_harness: Harness) -> None:
        """Keys reach reprs, log lines and tracebacks by accident. Typing a
        key field :class:`Secret` masks it in all of them, and is how the
        registry knows which settings to keep out of files and listings."""
        harness = aiaudit_harness
        spec = harness.spec
        if not spec.secret_fields and not harness.details.held_secrets:
            fail(
                f"no field of {spec.config_class.__name__} is typed Secret: "
                "type the key fields connector_core.Secret so they are masked "
                "(or, for a configuration that only refers to its secrets, a "
                "key file's path, list them in the sandbox's held_secrets)"
            )
        held = held_in_config(harness)
        if held:
            fail(
                "the configuration holds a secret it should only refer to, in "
                + listed(held)
            )
        unwrapped = unwrapped_secrets(harness)
        if unwrapped:
            fail(f"secret field(s) {', '.join(unwrapped)} hold plain values")
        found = leaks(harness.run(shown_texts(harness)), harness.secrets())
        if found:
            fail("a key is shown in plain text: " + listed(found))

    def test_secrets_never_appear_in_logs(self, aiaudit_harness: Harness) -> None:
        """Logs are shipped to log services and read by many people; a key in
        a debug line is a key handed out. Checked at debug level, with good,
        refused and restricted credentials, where such leaks hide."""
        harness = aiaudit_harness
        secrets = harness.secrets()
        if not secrets:
            pytest.skip("the sandbox configuration holds no secret to look for")
        found = secrets_in_logs(harness, secrets)
        if found:
            fail("a key was logged: " + listed(found))

    def test_secrets_never_appear_in_errors(self, aiaudit_harness: Harness) -> None:
        """Error texts are shown to people, written to logs and pasted into
        tickets: a refused key must be named, never quoted, whether the error
        is returned (``ConnectionResult.error``) or raised."""
        harness = aiaudit_harness
        secrets = harness.secrets()
        if not secrets:
            pytest.skip("the sandbox configuration holds no secret to look for")
        found = secrets_in_errors(harness, secrets)
        if found:
            fail("a key appears in an error: " + listed(found))

    # -- connection -------------------------------------------------------------

    def test_good_credentials_authenticate_and_validate(
        self, aiaudit_harness: Harness
    ) -> None:
        """The sandbox's own keys can read everything: a connector that
        reports them refused or short of a permission would send an
        administrator hunting for a problem that does not exist."""
        harness = aiaudit_harness
        problems = harness.run(good_credential_problems(harness))
        if problems:
            fail("with the sandbox's own credentials: " + "; ".join(problems))

    def test_bad_credentials_fail_cleanly(self, aiaudit_harness: Harness) -> None:
        """A wrong key is the most common setup mistake. A host shows the
        answer to the person configuring the connector, so a refused key must
        come back as data (``success=False`` with ``error`` and ``error_code``,
        ``is_valid=False``), never as an exception; a read with it raises the
        one typed error hosts catch to ask for new credentials."""
        harness = aiaudit_harness
        bad = harness.bad_config()
        if bad is None:
            pytest.skip(
                "no bad_config in details['conformance'] and no secret field to spoil"
            )
        problems = harness.run(refused_credential_problems(harness, bad))
        if problems:
            fail("with refused credentials: " + "; ".join(problems))

    def test_permission_probe_names_what_is_missing(
        self, aiaudit_harness: Harness
    ) -> None:
        """Valid keys without enough permission are the second most common
        mistake, and "permission denied" does not say what to grant. The
        probe must accept the key and name each missing permission."""
        harness = aiaudit_harness
        restricted = harness.details.restricted_config
        if restricted is None:
            pytest.skip(
                "the sandbox offers no restricted_config in details['conformance']"
            )
        problems = harness.run(restricted_problems(harness, restricted))
        if problems:
            fail("with a restricted key: " + "; ".join(problems))

    # -- reading ----------------------------------------------------------------

    def test_logs_have_every_required_field(self, aiaudit_harness: Harness) -> None:
        """Hosts store, compare and chart logs from every platform side by
        side: a log without a user, an action or an organization, or with the
        wrong platform or a time outside the query, is a hole in the audit
        trail. And a connector that reads nothing from a full history is not
        reading at all."""
        harness = aiaudit_harness
        reading = harness.reading()
        if reading.error is not None:
            if is_naive_timestamp_error(reading.error):
                pytest.skip(
                    "reading failed on a naive timestamp, which "
                    "test_timestamps_are_timezone_aware_utc reports"
                )
            fail(
                f"reading the sandbox's history raised "
                f"{type(reading.error).__name__}: {reading.error}"
            )
        if not reading.logs:
            fail("a read of the sandbox's whole history returned no logs")
        problems = [
            problem
            for entry in reading.logs
            for problem in log_problems(entry, harness.platform, harness.window)
        ]
        if problems:
            fail(
                f"{len(problems)} problem(s) in {len(reading.logs)} logs: "
                + listed(problems)
            )

    def test_timestamps_are_timezone_aware_utc(self, aiaudit_harness: Harness) -> None:
        """A timestamp without a zone is a guess, and a guessed zone silently
        shifts an audit trail by hours. The models refuse naive datetimes, so
        a connector that parses times without their offset fails its reads."""
        harness = aiaudit_harness
        reading = harness.reading()
        if reading.error is not None:
            if not is_naive_timestamp_error(reading.error):
                pytest.skip(
                    "reading failed, which test_logs_have_every_required_field reports"
                )
            fail(
                f"reading raised ValueError: {reading.error}. The connector "
                "builds logs from timezone-naive datetimes: parse the "
                "platform's times with their offset, or attach UTC explicitly"
            )
        naive = naive_quarantined(reading)
        if naive:
            fail(
                f"{len(naive)} record(s) were quarantined for naive timestamps: "
                + listed(naive)
            )
        wrong = not_utc(reading)
        if wrong:
            fail("timestamps not in UTC: " + listed(wrong))

    def test_full_read_returns_everything_the_sandbox_serves(
        self, aiaudit_harness: Harness
    ) -> None:
        """The one thing an audit connector must not do is lose events
        quietly, and a read that stops a page early looks perfectly healthy.
        Only the sandbox knows what it served, so its list is the measure."""
        harness = aiaudit_harness
        if harness.details.expected_ids is None:
            pytest.skip(
                "the sandbox lists no expected_ids in details['conformance'], so "
                "completeness cannot be checked"
            )
        problems = harness.ground_truth_problems()
        if problems:
            fail("; ".join(problems))

    def test_event_type_filter_returns_only_those_actions(
        self, aiaudit_harness: Harness
    ) -> None:
        """Hosts ask for one kind of activity at a time (sign-ins, uploads).
        The answer must hold exactly those actions, all of them; and a
        stream that cannot produce any asked-for action must not be read, or
        a narrow question costs as much as reading everything."""
        harness = aiaudit_harness
        reading = harness.require_reading()
        counts = Counter(entry.action for entry in reading.logs)
        if len(counts) < 2:  # noqa: PLR2004 - a filter needs something to leave out
            pytest.skip("the history holds fewer than two actions")
        problems, incomplete = event_filter_problems(harness, reading, counts)
        if problems:
            fail("; ".join(problems))
        harness.require(
            harness.ground_truth_problems(), GROUND_TRUTH_TEST, "a complete full read"
        )
        if incomplete:
            fail("; ".join(incomplete))

    def test_two_full_reads_are_identical(self, aiaudit_harness: Harness) -> None:
        """Reading the same stretch twice must give the same logs; with a
        page hint, in the same order with the same checkpoints, since the
        core's page cursors count logs from a checkpoint. (Without a hint a
        reader of concurrent windows yields them as its windows finish.)"""
        problems = aiaudit_harness.determinism_problems()
        if problems:
            fail(listed(problems))

    def test_resumed_read_returns_nothing_older(self, aiaudit_harness: Harness) -> None:
        """A sync commits a checkpoint with its batch and, next time, resumes
        from the saved (JSON) copy. The resumed read must lose nothing the
        uninterrupted read returned after it; with a page hint it must also
        start right after it (anything older would be a page's log twice).
        Without one, logs yielded ahead of the checkpoint may come again."""
        problems = aiaudit_harness.resume_problems()
        if problems:
            fail(listed(problems))

    def test_usage_buckets_are_well_formed_and_resume_whole(
        self, aiaudit_harness: Harness
    ) -> None:
        """A usage report (requests, tokens and cost per model and bucket)
        is where a host's token and cost figures come from. Its buckets are
        stored by id, a revised one replacing the stored one: ids must be
        unique within a batch, times UTC, figures not negative, and a read
        resumed from any checkpoint must lose no bucket (reading one again
        is allowed: an open bucket is read again on purpose). A connector
        without a usage stream has nothing to get wrong here, and passes."""
        reading = aiaudit_harness.require_reading()
        if not usage_streams(reading):
            return
        problems = usage_problems(reading, aiaudit_harness.platform)
        problems += aiaudit_harness.run(usage_resume_problems(aiaudit_harness))
        if problems:
            fail(listed(problems))

    def test_pages_are_disjoint_and_their_union_is_one_full_read(
        self, aiaudit_harness: Harness
    ) -> None:
        """A host pages through results with cursors; a log on two pages is
        counted twice, a log on none is never seen. The pages must split one
        full read exactly, each log once."""
        harness = aiaudit_harness
        reading = harness.require_reading()
        harness.require(
            harness.determinism_problems(),
            DETERMINISM_TEST,
            "reads that repeat exactly",
        )
        harness.require(
            harness.resume_problems(), RESUME_TEST, "exact resumption from checkpoints"
        )
        total = len(reading.logs)
        if not total:
            pytest.skip("the full read is empty")
        limit = page_limit(total)
        problems = harness.run(paging_problems(harness, reading.logs, limit))
        if problems:
            fail(f"paging {total} logs by {limit}: " + "; ".join(problems))

    def test_future_window_returns_nothing(self, aiaudit_harness: Harness) -> None:
        """Hosts poll "since the last run" and clocks differ: a window that
        has not happened yet must come back empty and end, not return old
        events or fail."""
        problems = aiaudit_harness.run(future_window_problems(aiaudit_harness))
        if problems:
            fail("for a window in the future: " + "; ".join(problems))

    # -- analytics --------------------------------------------------------------

    def _analytics(self, harness: Harness, *, report: bool = False) -> UsageAnalytics:
        """The analytics of the whole history (computed once); a failure is
        reported by the totals test and skips the others."""
        if "analytics" not in harness.cache:
            harness.cache["analytics"] = harness.run(usage_analytics(harness))
        result: UsageAnalytics | BaseException = harness.cache["analytics"]
        if isinstance(result, BaseException):
            if not report:
                pytest.skip(
                    f"get_usage_analytics failed, which {_ANALYTICS_TEST} reports"
                )
            fail(f"get_usage_analytics raised {type(result).__name__}: {result}")
        return result

    def test_analytics_totals_match_the_logs(self, aiaudit_harness: Harness) -> None:
        """Usage figures are read next to the logs they summarize; a total
        that disagrees with the logs makes both untrustworthy."""
        harness = aiaudit_harness
        logs = harness.require_reading().logs
        analytics = self._analytics(harness, report=True)
        problems = analytics_problems(harness.platform, logs, analytics)
        if problems:
            fail("usage analytics of the whole history: " + "; ".join(problems))

    def test_top_users_are_sorted(self, aiaudit_harness: Harness) -> None:
        """ "Top users" is read from the top: the heaviest user must come
        first, and nobody left off the list may outweigh someone on it."""
        harness = aiaudit_harness
        logs = harness.require_reading().logs
        analytics = self._analytics(harness)
        problems = top_user_problems(logs, analytics)
        if problems:
            fail("top users are not the heaviest first: " + "; ".join(problems))

    def test_daily_breakdown_sums_to_total(self, aiaudit_harness: Harness) -> None:
        """Trend charts are drawn from the daily breakdown and totals from
        ``total_events``; if the days do not add up, the two disagree on one
        screen. Each UTC day must count that day's logs."""
        harness = aiaudit_harness
        logs = harness.require_reading().logs
        analytics = self._analytics(harness)
        problems = daily_problems(logs, analytics)
        if problems:
            fail("daily breakdown: " + "; ".join(problems))

    # -- failure ----------------------------------------------------------------

    def _run_fault(
        self, harness: Harness, kind: str, run: Callable[[Harness, str], T]
    ) -> T:
        """*run* with the sandbox's profile for *kind*; skip when it opts out."""
        profile = harness.details.faults.get(kind)
        if profile is None:
            pytest.skip(f"the sandbox opts out of the {kind} fault")
        try:
            return run(harness, profile)
        except SandboxRefusedError as exc:
            fail(
                f"the sandbox would not start with faults={profile!r} ({exc}): "
                f"name its profile for {kind!r} in details['conformance']['faults'], "
                "or map the kind to None to opt out"
            )

    def _require_clean_reads(self, harness: Harness, *, resume: bool = False) -> None:
        """Skip unless a plain read of the history is right: complete, each
        log once (and, with *resume*, exact from checkpoints). A fault run
        compared with reads that are already wrong would report the same
        bug a second time, under a hostile server's name."""
        reading = harness.require_reading()
        harness.require(
            harness.ground_truth_problems(), GROUND_TRUTH_TEST, "a complete full read"
        )
        counts = Counter(entry.id for entry in reading.logs)
        harness.require(
            [i for i, n in counts.items() if n > 1],
            PAGES_TEST,
            "a full read that returns each log once",
        )
        if resume:
            harness.require(
                harness.resume_problems(),
                RESUME_TEST,
                "exact resumption from checkpoints",
            )

    def _fault(self, harness: Harness, kind: str) -> FaultOutcome:
        return self._run_fault(harness, kind, read_with_fault)

    def test_rate_limit_surfaces_as_rate_limited_error(
        self, aiaudit_harness: Harness
    ) -> None:
        """When throttling outlasts the retries, a host must know to come back
        later, and it knows that from the error's class alone: a 429 must
        surface as ``RateLimitedError``, not as an empty read or a crash."""
        outcome = self._fault(aiaudit_harness, "rate_limit")
        problems = surfaces(outcome, RateLimitedError, "429")
        if problems:
            fail(f"fault profile {outcome.profile!r}: " + "; ".join(problems))

    def test_server_error_surfaces_as_server_error(
        self, aiaudit_harness: Harness
    ) -> None:
        """An outage must read as an outage: ``ServerError``, so a host
        retries later, never an empty result (events lost) and never "bad
        credentials" from ``authenticate`` (an administrator rotates a key
        that was fine)."""
        outcome = self._fault(aiaudit_harness, "server_error")
        problems = [
            *surfaces(outcome, ServerError, "a 5xx"),
            *authenticate_problems(outcome),
        ]
        if problems:
            fail(f"fault profile {outcome.profile!r}: " + "; ".join(problems))

    def test_malformed_page_is_schema_error_or_quarantined(
        self, aiaudit_harness: Harness
    ) -> None:
        """A page of the wrong shape is not an empty page: reading on as if
        it were loses its events without a trace. It must raise
        ``SchemaError`` or keep the bad records as quarantined evidence."""
        outcome = self._fault(aiaudit_harness, "malformed")
        problem = malformed_problem(outcome)
        if problem is not None:
            fail(f"fault profile {outcome.profile!r}: {problem}")

    def test_redirect_hops_carry_no_credentials(self, aiaudit_harness: Harness) -> None:
        """APIs answer with redirects (to a pre-signed storage URL, a moved
        endpoint, a hostile proxy), and whoever a redirect names must never
        get the key: a signed URL's host refuses a request with a second
        credential, and a hostile one keeps it. With every API request
        redirected to a signed URL on the same origin, every stream must
        read exactly what it reads without redirects, and no hop may carry
        a credential."""
        self._require_clean_reads(aiaudit_harness)
        outcome = self._run_fault(aiaudit_harness, "redirect", read_under_redirects)
        problems = redirect_problems(outcome)
        if problems:
            fail(
                f"fault profile {outcome.profile!r} (every API request redirected): "
                + "; ".join(problems)
            )

    def test_stuck_cursor_stops_with_schema_error(
        self, aiaudit_harness: Harness
    ) -> None:
        """A platform bug that hands back the same cursor forever must not
        become a connector that requests the same page forever: a sync that
        never ends holds its lock, burns the API quota and stores the same
        events again and again. The read must stop with ``SchemaError``
        within a bounded number of requests and seconds."""
        aiaudit_harness.require_reading()
        outcome = self._run_fault(aiaudit_harness, "stuck_cursor", read_stuck)
        problems = stuck_problems(outcome)
        if problems:
            fail(
                f"fault profile {outcome.profile!r} (the same page and cursor "
                f"forever; at most {STUCK_MAX_REQUESTS} requests and "
                f"{STUCK_MAX_SECONDS:g} s per stream): " + "; ".join(problems)
            )

    def test_poisoned_records_are_kept_or_quarantined(
        self, aiaudit_harness: Harness
    ) -> None:
        """One record no database accepts (a NUL, a lone surrogate, a user
        id of thousands of characters) must cost that record, not the sync:
        a read that fails on it stops the audit trail there for good, and a
        connector that drops it loses evidence of exactly the kind an
        attacker plants. Every good record must be read and stored, every
        poisoned one returned or quarantined, and a second sync must change
        nothing."""
        self._require_clean_reads(aiaudit_harness)
        outcome = self._run_fault(aiaudit_harness, "poisoned", read_poisoned)
        where = f"fault profile {outcome.profile!r} (poisoned records)"
        if not outcome.poisoned:
            fail(
                f"{where}: the sandbox lists no poisoned_ids in "
                "details['conformance'] under this profile, so nothing can be "
                "checked: list each poisoned record's log id and native id"
            )
        problems = [
            *poisoned_read_problems(outcome),
            *poisoned_sync_problems(outcome),
        ]
        if problems:
            fail(f"{where}: " + "; ".join(problems))

    def test_late_events_are_read_exactly_once(self, aiaudit_harness: Harness) -> None:
        """Platforms publish some events minutes after they happened. A
        connector that checkpoints past them never reads them (lost for
        good, and nothing looks wrong); one that re-reads blindly stores
        the others twice. Read to the end of the history, then again from
        each stream's last checkpoint once the late events are out: every
        event must come back exactly once over the two reads."""
        self._require_clean_reads(aiaudit_harness, resume=True)
        outcome = self._run_fault(aiaudit_harness, "late", read_late)
        where = f"fault profile {outcome.profile!r} (events published late)"
        error = first_error(outcome.first)
        if error is not None:
            fail(f"{where}: the first read failed: {error}")
        error = first_error(outcome.second)
        if error is not None:
            fail(f"{where}: the read resumed from the checkpoints failed: {error}")
        if outcome.expected is None:
            fail(f"{where}: {outcome.baseline_error}")
        first = {i for read in outcome.first for i in read.ids}
        if outcome.expected <= first:
            pytest.skip(
                f"{where}: the first read ({outcome.first_seconds:.1f} s) already "
                f"returned every event, so the sandbox hid none for "
                f"publish_delay={outcome.delay:g} s: nothing was published late"
            )
        problems = late_problems(outcome, outcome.expected)
        if problems:
            fail(f"{where}: " + "; ".join(problems))

    def _cancellation(self, harness: Harness, *, report: bool = False) -> Cancellation:
        """One cancelled read (done once) that both cancellation tests judge."""
        harness.require_reading()
        if "cancellation" not in harness.cache:
            harness.cache["cancellation"] = harness.run(cancel_a_read(harness))
        outcome: Cancellation = harness.cache["cancellation"]
        if outcome.error is not None:
            if not report:
                pytest.skip(f"the read to cancel failed, which {_CANCEL_TEST} reports")
            fail(
                f"the read raised {type(outcome.error).__name__} before it could "
                f"be cancelled: {outcome.error}"
            )
        if outcome.finished:
            pytest.skip("the read ended before it could be cancelled")
        return outcome

    def test_cancelled_read_leaves_no_task_behind(
        self, aiaudit_harness: Harness
    ) -> None:
        """Hosts cancel reads all the time (timeouts, Ctrl-C, a closed page).
        A task a connector started and did not stop keeps running, and keeps
        requests and memory with it, once per cancelled read."""
        outcome = self._cancellation(aiaudit_harness, report=True)
        if outcome.tasks:
            fail(
                f"{len(outcome.tasks)} task(s) still running a second after the "
                "read was cancelled and the connector closed: "
                + listed(outcome.tasks)
                + ". Cancel them in a finally block"
            )

    def test_cancelled_read_leaves_no_session_open(
        self, aiaudit_harness: Harness
    ) -> None:
        """Each open aiohttp session holds sockets; leaking one per cancelled
        read exhausts them in a long-running host. After a cancelled read and
        ``aclose``, every session the connector opened must be closed."""
        outcome = self._cancellation(aiaudit_harness)
        if outcome.sessions_open:
            fail(
                f"{outcome.sessions_open} of the {outcome.sessions_opened} aiohttp "
                "session(s) the connector opened are still open after the read "
                "was cancelled and the connector closed: close them in a "
                "finally block or in aclose"
            )
