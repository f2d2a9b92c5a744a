"""The conformance tests, as a base class a plugin author subclasses.

::

    from connector_core.testing import ConnectorConformance

    class TestMyConnector(ConnectorConformance):
        platform = "myplatform"

Every test runs against the plugin's own sandbox (the ``aiaudit_sandbox``
hook), offline. ``pytest --aiaudit-platform NAME`` runs the same class
without a file of your own. Each test's docstring says why the property
matters to a host; each failure message says what was seen.

Fixtures an author may override in the subclass: ``aiaudit_platform`` (the
platform name), ``aiaudit_registry`` (how plugins are loaded; the installed
entry points by default) and ``aiaudit_sandbox_options`` (the sandbox's size
and seed; also set by ``--aiaudit-events``, ``--aiaudit-days`` and
``--aiaudit-seed``).
"""

from __future__ import annotations

import importlib.metadata
import traceback
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

import attrs
import pytest

from connector_core.connector import REQUIRED_OPERATIONS
from connector_core.exceptions import (
    AuthenticationError,
    RateLimitedError,
    SchemaError,
    ServerError,
)
from connector_core.hookspecs import PROJECT
from connector_core.models import AIAuditLogQuery, ConnectionResult
from connector_core.registry import Registry
from connector_core.sandbox import SandboxOptions
from connector_core.secrets import Secret
from connector_core.streams import StreamKind
from connector_core.testing._faults import (
    STUCK_MAX_REQUESTS,
    STUCK_MAX_SECONDS,
    Cancellation,
    FaultOutcome,
    SandboxRefusedError,
    accounted,
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
from connector_core.testing._resources import capture_logs


if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from connector_core.connector import Connector
    from connector_core.models import AIAuditLog, AIAuditLogResult, UsageAnalytics
    from connector_core.registry import PluginInfo
    from connector_core.streams import QuarantinedRecord
    from connector_core.testing._faults import PoisonOutcome


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


def _exception_texts(error: BaseException) -> list[str]:
    """Everything a person might see of *error*: message, repr, attributes,
    the formatted traceback, and the same for its causes."""
    texts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.extend([str(current), repr(current), repr(vars(current))])
        current = current.__cause__ or current.__context__
    return texts


def _leaks(texts: list[tuple[str, str]], secrets: list[tuple[str, str]]) -> list[str]:
    """Where each secret shows up in *texts*, named, never quoted."""
    found = []
    for where, text in texts:
        for label, secret in secrets:
            if secret in text:
                found.append(f"{where} shows {label}")
                break
    return found


_REQUIRED_TEXT: Final = ("id", "user_id", "organization_id", "action", "native_type")


def _log_problems(
    entry: AIAuditLog, platform: str, window: AIAuditLogQuery
) -> list[str]:
    """What is wrong with one normalized log, if anything."""
    problems = []
    empty = [n for n in _REQUIRED_TEXT if not str(getattr(entry, n) or "").strip()]
    if empty:
        problems.append(f"{entry.id!r}: empty {', '.join(empty)}")
    if entry.platform != platform:
        problems.append(f"{entry.id}: platform {entry.platform!r}")
    if not window.start_date <= entry.timestamp <= window.end_date:
        problems.append(
            f"{entry.id}: {entry.timestamp.isoformat()} is outside the query"
        )
    if entry.user_email is not None and "@" not in entry.user_email:
        problems.append(f"{entry.id}: user_email {entry.user_email!r}")
    return problems


def _page_problems(
    pages: list[AIAuditLogResult], limit: int, full: set[str]
) -> list[str]:
    """How *pages* fail to split the logs *full* names exactly once each."""
    problems: list[str] = []
    where: dict[str, int] = {}
    repeated: list[str] = []
    for number, page in enumerate(pages, 1):
        if len(page.logs) > limit:
            problems.append(f"page {number} holds {len(page.logs)} > {limit} logs")
        for entry in page.logs:
            first = where.setdefault(entry.id, number)
            if first != number:
                repeated.append(f"{entry.id} on page {first} and page {number}")
        ids = [entry.id for entry in page.logs]
        repeated.extend(
            f"{i} twice on page {number}" for i in sorted(set(ids)) if ids.count(i) > 1
        )
    if repeated:
        problems.append(f"{len(repeated)} log(s) returned twice: {listed(repeated)}")
    missing = sorted(full - set(where))
    extra = sorted(set(where) - full)
    if missing:
        problems.append(f"{len(missing)} log(s) on no page: {listed(missing)}")
    if extra:
        problems.append(f"{len(extra)} log(s) not in a full read: {listed(extra)}")
    return problems


async def _pages(
    harness: Harness, query: AIAuditLogQuery, total: int
) -> tuple[list[AIAuditLogResult], str | None]:
    """Every page of *query*, or the pages so far and why paging broke off."""
    assert query.limit is not None  # noqa: S101 - the caller sets it
    most = total // query.limit + 5
    pages: list[AIAuditLogResult] = []
    cursor: str | None = None
    async with harness.create() as connector:
        while True:
            page = await connector.get_ai_audit_logs(attrs.evolve(query, cursor=cursor))
            pages.append(page)
            if not page.has_more:
                return pages, None
            if not page.next_cursor:
                return pages, f"page {len(pages)} has has_more but no next_cursor"
            if len(pages) > most:
                return pages, f"paging did not end after {len(pages)} pages"
            cursor = page.next_cursor


async def _stream(harness: Harness, query: AIAuditLogQuery) -> list[AIAuditLog]:
    async with harness.create() as connector:
        return [entry async for entry in connector.stream_ai_audit_logs(query)]


async def _read_stream(
    harness: Harness, stream: str, query: AIAuditLogQuery
) -> list[AIAuditLog]:
    async with harness.create() as connector:
        return [
            entry
            async for batch in connector.read_stream(stream, None, query)
            for entry in batch.logs
        ]


async def _refused_answers(connector: Connector) -> list[str]:
    """What is wrong with the connector's answers to refused credentials."""
    problems: list[str] = []
    try:
        result = await connector.authenticate()
    except Exception as exc:  # noqa: BLE001 - the finding
        problems.append(
            f"authenticate raised {type(exc).__name__} instead of returning "
            "ConnectionResult(success=False)"
        )
    else:
        if result.success:
            problems.append("authenticate reported success")
        elif not (result.error and result.error_code):
            problems.append("authenticate failed without both error and error_code")
    for name, call in (
        ("validate_ai_credentials", connector.validate_ai_credentials),
        ("validate_permissions", connector.validate_permissions),
    ):
        try:
            answer = await call()
        except Exception as exc:  # noqa: BLE001 - likewise
            problems.append(
                f"{name} raised {type(exc).__name__} instead of answering "
                "is_valid=False"
            )
        else:
            if answer.is_valid:
                problems.append(f"{name} answered is_valid=True")
    return problems


async def _refused_read(connector: Connector, window: AIAuditLogQuery) -> list[str]:
    """A read with refused credentials must raise AuthenticationError."""
    try:
        page = await connector.get_ai_audit_logs(attrs.evolve(window, limit=25))
    except AuthenticationError:
        return []
    except Exception as exc:  # noqa: BLE001 - the finding
        return [
            f"reading raised {type(exc).__name__} instead of AuthenticationError: {exc}"
        ]
    return [
        f"reading returned {len(page.logs)} logs instead of raising AuthenticationError"
    ]


def _id_problems(ids: list[str], expected: frozenset[str], measure: str) -> list[str]:
    """How *ids* fail to be *expected*, each exactly once."""
    problems = []
    counts = Counter(ids)
    missing = sorted(expected - set(counts))
    extra = sorted(set(counts) - expected)
    twice = sorted(i for i, n in counts.items() if n > 1)
    if missing:
        problems.append(
            f"{len(missing)} of the {len(expected)} logs of {measure} were not "
            f"returned: {listed(missing)}"
        )
    if extra:
        problems.append(f"{len(extra)} log(s) not in {measure}: {listed(extra)}")
    if twice:
        problems.append(f"{len(twice)} log(s) returned twice: {listed(twice)}")
    return problems


def _unaccounted(
    poisoned: Mapping[str, str], ids: list[str], quarantined: list[QuarantinedRecord]
) -> list[str]:
    """The poisoned records neither in *ids* nor in *quarantined*."""
    seen = set(ids)
    return sorted(
        log_id
        for log_id, native_id in poisoned.items()
        if not accounted(log_id, native_id, seen, quarantined)
    )


def _poisoned_read_problems(outcome: PoisonOutcome) -> list[str]:
    """What the full read of a poisoned history lost or raised."""
    if outcome.error is not None:
        return [f"the full read failed: {outcome.error}"]
    problems = []
    good = outcome.good()
    if good is None:
        problems.append(str(outcome.baseline_error))
    else:
        missing = sorted(good - set(outcome.ids))
        if missing:
            problems.append(
                f"the full read lost {len(missing)} good record(s): {listed(missing)}"
            )
    lost = _unaccounted(outcome.poisoned, outcome.ids, outcome.quarantined)
    if lost:
        problems.append(
            f"the full read neither returned nor quarantined {len(lost)} of the "
            f"{len(outcome.poisoned)} poisoned record(s): {listed(lost)}"
        )
    return problems


def _poisoned_sync_problems(outcome: PoisonOutcome) -> list[str]:
    """What the two syncs of a poisoned history lost, raised or changed."""
    if outcome.sync_error is not None:
        return [outcome.sync_error]
    problems = []
    good = outcome.good()
    if good is not None:
        unstored = sorted(good - set(outcome.stored))
        if unstored:
            problems.append(
                f"the sync did not store {len(unstored)} good record(s): "
                + listed(unstored)
            )
    lost = _unaccounted(outcome.poisoned, outcome.stored, outcome.stored_quarantined)
    if lost:
        problems.append(
            f"the sync neither stored nor quarantined {len(lost)} poisoned "
            f"record(s): {listed(lost)}"
        )
    second = outcome.second or {}
    changed = [
        f"{what} {second[before]} -> {second[after]}"
        for what, before, after in (
            ("events", "events_before", "events_after"),
            ("quarantined records", "quarantined_before", "quarantined_after"),
        )
        if second and second[before] != second[after]
    ]
    if changed:
        problems.append(
            "a second sync with nothing new changed the store: " + ", ".join(changed)
        )
    return problems


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
        info = self._plugin(harness)
        [listing] = [c for c in info.connectors if c.platform == harness.platform]
        problems = []
        if not listing.display_name.strip():
            problems.append("the display name is empty")
        missing = sorted(REQUIRED_OPERATIONS - set(listing.operations))
        if missing:
            problems.append(f"required operations not listed: {', '.join(missing)}")
        if listing.secret_fields != harness.spec.secret_fields:
            problems.append(
                f"secret fields listed {listing.secret_fields}, "
                f"declared {harness.spec.secret_fields}"
            )
        if harness.platform not in harness.registry.platforms:
            problems.append("the registry does not offer the platform")
        if problems:
            fail(f"platform {harness.platform!r}: " + "; ".join(problems))

    def test_plugin_declares_its_platform(self, aiaudit_harness: Harness) -> None:
        """Hosts key configurations, stored logs, checkpoints and sandboxes by
        platform and stream name, so the class, its sandbox and its streams
        must agree on one platform and name their streams uniquely."""
        harness = aiaudit_harness

        async def streams() -> tuple[str, list[Any]]:
            async with harness.create() as connector:
                return connector.platform, await connector.list_streams()

        platform, infos = harness.run(streams())
        problems = []
        declared = getattr(harness.spec.connector_class, "platform", None)
        if declared != harness.platform or platform != harness.platform:
            problems.append(f"the connector class declares {declared!r}")
        if not infos:
            problems.append("list_streams returned no stream")
        names = [info.name for info in infos]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            problems.append(f"stream names repeat: {', '.join(repeated)}")
        odd = [i.name for i in infos if not isinstance(i.kind, StreamKind)]
        if odd:
            problems.append(f"streams without a StreamKind: {', '.join(odd)}")
        if problems:
            fail(f"platform {harness.platform!r}: " + "; ".join(problems))

    def test_config_marks_secrets(self, aiaudit_harness: Harness) -> None:
        """Keys reach reprs, log lines and tracebacks by accident. Typing a
        key field :class:`Secret` masks it in all of them, and is how the
        registry knows which settings to keep out of files and listings."""
        harness = aiaudit_harness
        spec = harness.spec
        if not spec.secret_fields:
            fail(
                f"no field of {spec.config_class.__name__} is typed Secret: "
                "type the key fields connector_core.Secret so they are masked"
            )
        config = spec.make_config(dict(harness.sandbox.config))
        unwrapped = [
            field
            for field in spec.secret_fields
            if getattr(config, field) is not None
            and not isinstance(getattr(config, field), Secret)
        ]
        if unwrapped:
            fail(f"secret field(s) {', '.join(unwrapped)} hold plain values")

        async def shown() -> list[tuple[str, str]]:
            async with harness.create() as connector:
                instance = connector.instance
                texts = [
                    ("repr(config)", repr(connector.config)),
                    ("str(config)", str(connector.config)),
                    ("repr(connector)", repr(connector)),
                    ("repr(connector instance)", repr(instance)),
                ]
                if hasattr(instance, "__dict__"):
                    texts.append(("the connector's attributes", repr(vars(instance))))
                return texts

        leaks = _leaks(harness.run(shown()), harness.secrets())
        if leaks:
            fail("a key is shown in plain text: " + listed(leaks))

    def test_secrets_never_appear_in_logs(self, aiaudit_harness: Harness) -> None:
        """Logs are shipped to log services and read by many people; a key in
        a debug line is a key handed out. Checked at debug level, with good,
        refused and restricted credentials, where such leaks hide."""
        harness = aiaudit_harness
        secrets = harness.secrets()
        if not secrets:
            pytest.skip("the sandbox configuration holds no secret to look for")
        configs = [
            harness.sandbox.config,
            harness.bad_config(),
            harness.details.restricted_config,
        ]

        async def exercise() -> None:
            for config in configs:
                if config is None:
                    continue
                async with harness.create(config) as connector:
                    for call in (
                        connector.authenticate,
                        connector.validate_ai_credentials,
                        connector.validate_permissions,
                        connector.list_streams,
                    ):
                        try:
                            await call()
                        except Exception:  # noqa: BLE001, S112 - logs are the point
                            continue
                    try:
                        query = attrs.evolve(harness.window, limit=25)
                        await connector.get_ai_audit_logs(query)
                    except Exception:  # noqa: BLE001, S110 - likewise
                        pass

        with capture_logs() as captured:
            harness.run(exercise())
        leaks = _leaks(list(captured.texts()), secrets)
        if leaks:
            fail("a key was logged: " + listed(leaks))

    def test_secrets_never_appear_in_errors(self, aiaudit_harness: Harness) -> None:
        """Error texts are shown to people, written to logs and pasted into
        tickets: a refused key must be named, never quoted, whether the error
        is returned (``ConnectionResult.error``) or raised."""
        harness = aiaudit_harness
        secrets = harness.secrets()
        if not secrets:
            pytest.skip("the sandbox configuration holds no secret to look for")

        async def errors(config: dict[str, Any]) -> list[tuple[str, str]]:
            texts: list[tuple[str, str]] = []
            async with harness.create(config) as connector:
                for name, call in (
                    ("authenticate", connector.authenticate),
                    ("validate_ai_credentials", connector.validate_ai_credentials),
                    ("validate_permissions", connector.validate_permissions),
                ):
                    try:
                        result = await call()
                    except Exception as exc:  # noqa: BLE001 - its text is checked
                        texts.extend(
                            (f"{name} raised", t) for t in _exception_texts(exc)
                        )
                        continue
                    texts.append((f"{name} result", repr(result)))
                try:
                    await connector.get_ai_audit_logs(
                        attrs.evolve(harness.window, limit=25)
                    )
                except Exception as exc:  # noqa: BLE001 - likewise
                    texts.extend(("reading raised", t) for t in _exception_texts(exc))
            return texts

        found: list[tuple[str, str]] = []
        for config in (harness.bad_config(), harness.details.restricted_config):
            if config is not None:
                found.extend(harness.run(errors(dict(config))))
        leaks = _leaks(found, secrets)
        if leaks:
            fail("a key appears in an error: " + listed(leaks))

    # -- connection -------------------------------------------------------------

    def test_good_credentials_authenticate_and_validate(
        self, aiaudit_harness: Harness
    ) -> None:
        """The sandbox's own keys can read everything: a connector that
        reports them refused or short of a permission would send an
        administrator hunting for a problem that does not exist."""
        harness = aiaudit_harness

        async def check() -> list[str]:
            problems = []
            async with harness.create() as connector:
                result = await connector.authenticate()
                if not result.success:
                    problems.append(f"authenticate failed: {result.error}")
                validation = await connector.validate_ai_credentials()
                if validation.platform != harness.platform:
                    problems.append(
                        f"validate_ai_credentials names platform "
                        f"{validation.platform!r}"
                    )
                if not (validation.is_valid and validation.has_required_permissions):
                    problems.append(
                        f"validate_ai_credentials says is_valid="
                        f"{validation.is_valid}, has_required_permissions="
                        f"{validation.has_required_permissions}, missing "
                        f"{validation.missing_permissions}: {validation.errors}"
                    )
                check = await connector.validate_permissions()
                if not check.is_valid or check.missing_permissions:
                    problems.append(
                        f"validate_permissions says is_valid={check.is_valid}, "
                        f"missing {check.missing_permissions}: {check.errors}"
                    )
            return problems

        problems = harness.run(check())
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

        async def check() -> list[str]:
            async with harness.create(dict(bad)) as connector:
                return [
                    *await _refused_answers(connector),
                    *await _refused_read(connector, harness.window),
                ]

        problems = harness.run(check())
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
        expected = set(harness.details.restricted_missing)

        async def check() -> list[str]:
            problems: list[str] = []
            async with harness.create(dict(restricted)) as connector:
                result = await connector.authenticate()
                if not result.success:
                    problems.append(
                        f"authenticate refused a valid key that lacks a "
                        f"permission: {result.error}"
                    )
                validation = await connector.validate_ai_credentials()
                if not validation.is_valid:
                    problems.append("validate_ai_credentials says the key is invalid")
                if validation.has_required_permissions:
                    problems.append("validate_ai_credentials says nothing is missing")
                for name, missing in (
                    ("validate_ai_credentials", validation.missing_permissions),
                    (
                        "validate_permissions",
                        (await connector.validate_permissions()).missing_permissions,
                    ),
                ):
                    if not missing:
                        problems.append(f"{name} names no missing permission")
                    elif not expected <= set(missing):
                        problems.append(
                            f"{name} names {sorted(missing)}, not "
                            f"{sorted(expected - set(missing))}"
                        )
            return problems

        problems = harness.run(check())
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
            for problem in _log_problems(entry, harness.platform, harness.window)
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
        naive = [
            record.reason
            for read in reading.streams
            for batch in read.batches
            for record in batch.quarantined
            if "naive datetime" in record.reason
        ]
        if naive:
            fail(
                f"{len(naive)} record(s) were quarantined for naive timestamps: "
                + listed(naive)
            )
        wrong = [
            f"{e.id}: {e.timestamp!r}"
            for e in reading.logs
            if e.timestamp.tzinfo is None or e.timestamp.utcoffset() != timedelta(0)
        ]
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
        ranked = sorted(counts, key=lambda action: (counts[action], action))
        filters = [(ranked[0],), (ranked[-1], ranked[1])]
        problems: list[str] = []
        incomplete: list[str] = []
        for actions in filters:
            query = attrs.evolve(harness.window, event_types=actions)
            got = harness.run(_stream(harness, query))
            others = sorted({e.action for e in got if e.action not in actions})
            if others:
                problems.append(f"asked for {list(actions)}, also got {listed(others)}")
            for read in reading.streams:
                declared = set(read.info.actions)
                if not declared or declared & set(actions):
                    continue
                produced = harness.run(_read_stream(harness, read.info.name, query))
                if produced:
                    problems.append(
                        f"stream {read.info.name!r} cannot produce {list(actions)} "
                        f"(its actions are {sorted(declared)[:5]}...) yet yielded "
                        f"{len(produced)} log(s) for them: push event_types down, "
                        "or return before any request"
                    )
            wanted = {e.id for e in reading.logs if e.action in actions}
            missing = sorted(wanted - {e.id for e in got})
            if missing:
                incomplete.append(
                    f"asked for {list(actions)}, {len(missing)} of {len(wanted)} "
                    f"such logs of the full read are missing: {listed(missing)}"
                )
        if problems:
            fail("; ".join(problems))
        harness.require(
            harness.ground_truth_problems(), GROUND_TRUTH_TEST, "a complete full read"
        )
        if incomplete:
            fail("; ".join(incomplete))

    def test_two_full_reads_are_identical(self, aiaudit_harness: Harness) -> None:
        """Reading the same stretch twice must give the same logs and
        checkpoints: the core's page cursors count logs from a checkpoint,
        and a sync that re-reads after a crash de-duplicates by what it saw."""
        problems = aiaudit_harness.determinism_problems()
        if problems:
            fail(listed(problems))

    def test_resumed_read_returns_nothing_older(self, aiaudit_harness: Harness) -> None:
        """A sync commits a checkpoint with its batch and, next time, resumes
        from the saved (JSON) copy. The resumed read must start right after
        it: anything older is stored twice, anything skipped is lost."""
        problems = aiaudit_harness.resume_problems()
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
        query = attrs.evolve(harness.window, limit=limit)
        pages, broken = harness.run(_pages(harness, query, total))
        problems = [broken] if broken else []
        problems.extend(
            _page_problems(pages, limit, {entry.id for entry in reading.logs})
        )
        last = pages[-1]
        returned = sum(len(page.logs) for page in pages)
        if not broken and last.total_count != returned:
            problems.append(
                f"the last page's total_count is {last.total_count}, the pages "
                f"hold {returned}"
            )
        if problems:
            fail(f"paging {total} logs by {limit}: " + "; ".join(problems))

    def test_future_window_returns_nothing(self, aiaudit_harness: Harness) -> None:
        """Hosts poll "since the last run" and clocks differ: a window that
        has not happened yet must come back empty and end, not return old
        events or fail."""
        harness = aiaudit_harness
        now = datetime.now(UTC)
        query = AIAuditLogQuery(
            start_date=now + timedelta(days=1), end_date=now + timedelta(days=2)
        )

        async def read() -> tuple[list[AIAuditLog], AIAuditLogResult]:
            async with harness.create() as connector:
                streamed = [e async for e in connector.stream_ai_audit_logs(query)]
                page = await connector.get_ai_audit_logs(attrs.evolve(query, limit=50))
                return streamed, page

        streamed, page = harness.run(read())
        problems = []
        if streamed:
            problems.append(
                f"stream_ai_audit_logs returned {len(streamed)} logs, e.g. "
                f"{streamed[0].id} at {streamed[0].timestamp.isoformat()}"
            )
        if page.logs or page.has_more:
            problems.append(
                f"get_ai_audit_logs returned {len(page.logs)} logs "
                f"(has_more={page.has_more})"
            )
        if problems:
            fail("for a window in the future: " + "; ".join(problems))

    # -- analytics --------------------------------------------------------------

    def _analytics(self, harness: Harness, *, report: bool = False) -> UsageAnalytics:
        """The analytics of the whole history (computed once); a failure is
        reported by the totals test and skips the others."""
        if "analytics" not in harness.cache:

            async def compute() -> UsageAnalytics | BaseException:
                async with harness.create() as connector:
                    try:
                        return await connector.get_usage_analytics(harness.period)
                    except Exception as exc:  # noqa: BLE001 - reported below
                        return exc

            harness.cache["analytics"] = harness.run(compute())
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
        problems = []
        if analytics.platform != harness.platform:
            problems.append(f"platform {analytics.platform!r}")
        if analytics.total_events != len(logs):
            problems.append(
                f"total_events is {analytics.total_events}, the logs number {len(logs)}"
            )
        actions = Counter(entry.action for entry in logs)
        if dict(analytics.events_by_type) != dict(actions):
            diff = sorted(
                f"{a}: {analytics.events_by_type.get(a, 0)} vs {actions.get(a, 0)}"
                for a in set(actions) | set(analytics.events_by_type)
                if analytics.events_by_type.get(a, 0) != actions.get(a, 0)
            )
            problems.append(
                f"events_by_type differs (analytics vs logs): {listed(diff)}"
            )
        users = Counter(entry.user_id for entry in logs)
        if analytics.active_users != len(users):
            problems.append(
                f"active_users is {analytics.active_users}, the logs name {len(users)}"
            )
        wrong = [
            f"{u.user_id}: {u.event_count} vs {users.get(u.user_id, 0)}"
            for u in analytics.top_users
            if u.event_count != users.get(u.user_id, 0)
        ]
        if wrong:
            problems.append(f"top users' counts differ from the logs: {listed(wrong)}")
        if problems:
            fail("usage analytics of the whole history: " + "; ".join(problems))

    def test_top_users_are_sorted(self, aiaudit_harness: Harness) -> None:
        """ "Top users" is read from the top: the heaviest user must come
        first, and nobody left off the list may outweigh someone on it."""
        harness = aiaudit_harness
        logs = harness.require_reading().logs
        analytics = self._analytics(harness)
        top = analytics.top_users
        counts = [user.event_count for user in top]
        problems = []
        if logs and not top:
            problems.append("no top users, though the logs name users")
        if counts != sorted(counts, reverse=True):
            problems.append(f"event counts in the order given: {counts}")
        listed_ids = {user.user_id for user in top}
        others = Counter(e.user_id for e in logs if e.user_id not in listed_ids)
        if top and others and max(others.values()) > min(counts):
            heavier = others.most_common(1)[0]
            problems.append(
                f"{heavier[0]} ({heavier[1]} events) is left off while "
                f"{top[-1].user_id} ({top[-1].event_count}) is listed"
            )
        if problems:
            fail("top users are not the heaviest first: " + "; ".join(problems))

    def test_daily_breakdown_sums_to_total(self, aiaudit_harness: Harness) -> None:
        """Trend charts are drawn from the daily breakdown and totals from
        ``total_events``; if the days do not add up, the two disagree on one
        screen. Each UTC day must count that day's logs."""
        harness = aiaudit_harness
        logs = harness.require_reading().logs
        analytics = self._analytics(harness)
        problems = []
        summed = sum(day.total_events for day in analytics.daily_breakdown)
        if summed != analytics.total_events:
            problems.append(
                f"the days sum to {summed}, total_events is {analytics.total_events}"
            )
        per_day: dict[date, int] = defaultdict(int)
        for entry in logs:
            per_day[entry.timestamp.date()] += 1
        given = {day.date: day.total_events for day in analytics.daily_breakdown}
        if len(given) != len(analytics.daily_breakdown):
            problems.append("a day is listed twice")
        wrong = [
            f"{day.isoformat()}: {given.get(day, 0)} vs {per_day.get(day, 0)}"
            for day in sorted(set(given) | set(per_day))
            if given.get(day, 0) != per_day.get(day, 0)
        ]
        if wrong:
            problems.append(
                f"days differ from the logs (analytics vs logs): {listed(wrong)}"
            )
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

    def _surfaces(
        self, outcome: FaultOutcome, expected: type[Exception], what: str
    ) -> list[str]:
        if outcome.error is None:
            return [
                (
                    f"reading every stream while the sandbox answered every "
                    f"request with {what} raised nothing ({outcome.logs} logs "
                    "returned): the connector swallowed the error"
                )
            ]
        if not isinstance(outcome.error, expected):
            return [
                (
                    f"reading raised {type(outcome.error).__name__} instead of "
                    f"{expected.__name__}: {outcome.error}"
                )
            ]
        return []

    def test_rate_limit_surfaces_as_rate_limited_error(
        self, aiaudit_harness: Harness
    ) -> None:
        """When throttling outlasts the retries, a host must know to come back
        later, and it knows that from the error's class alone: a 429 must
        surface as ``RateLimitedError``, not as an empty read or a crash."""
        outcome = self._fault(aiaudit_harness, "rate_limit")
        problems = self._surfaces(outcome, RateLimitedError, "429")
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
        problems = self._surfaces(outcome, ServerError, "a 5xx")
        answer = outcome.authenticate
        if isinstance(answer, ConnectionResult) and not answer.success:
            problems.append(
                f"authenticate reported a server error as refused credentials: "
                f"{answer.error}"
            )
        elif isinstance(answer, BaseException) and not isinstance(answer, ServerError):
            problems.append(
                f"authenticate raised {type(answer).__name__} instead of ServerError"
            )
        if problems:
            fail(f"fault profile {outcome.profile!r}: " + "; ".join(problems))

    def test_malformed_page_is_schema_error_or_quarantined(
        self, aiaudit_harness: Harness
    ) -> None:
        """A page of the wrong shape is not an empty page: reading on as if
        it were loses its events without a trace. It must raise
        ``SchemaError`` or keep the bad records as quarantined evidence."""
        outcome = self._fault(aiaudit_harness, "malformed")
        error = outcome.error
        if error is None and outcome.quarantined:
            return
        if isinstance(error, SchemaError):
            return
        if error is None:
            fail(
                f"fault profile {outcome.profile!r}: every page was malformed, yet "
                f"reading raised nothing and quarantined nothing "
                f"({outcome.logs} logs returned)"
            )
        fail(
            f"fault profile {outcome.profile!r}: reading raised "
            f"{type(error).__name__} instead of SchemaError: {error}"
        )

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
        where = f"fault profile {outcome.profile!r} (every API request redirected)"
        problems = []
        observed = outcome.observed or {}
        if observed.get("redirect_hops") == 0 and outcome.error is None:
            problems.append(
                "the sandbox counted no redirected request (observed "
                "redirect_hops is 0): its redirect profile redirected nothing, "
                "so nothing was checked"
            )
        credentialed = observed.get("credentialed_hops")
        if isinstance(credentialed, int) and credentialed:
            problems.append(
                f"{credentialed} of the {observed.get('redirect_hops', '?')} "
                "redirected request(s) the sandbox received carried a credential "
                "(the Authorization header, an API-key or organization header): "
                "send none on a redirect hop"
            )
        if outcome.error is not None:
            problems.append(outcome.error)
        elif outcome.expected is None:
            problems.append(str(outcome.baseline_error))
        else:
            problems.extend(
                _id_problems(outcome.ids, outcome.expected, "a read without redirects")
            )
        if problems:
            fail(f"{where}: " + "; ".join(problems))

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
        problems = []
        for stream in outcome.streams:
            where = f"stream {stream.name!r}"
            if stream.stopped is not None:
                problems.append(
                    f"{where} was still reading after {stream.stopped} "
                    f"({stream.requests} requests, {stream.seconds:.1f} s, "
                    f"{stream.records} records returned): the connector loops "
                    "on a cursor that does not advance; raise SchemaError when "
                    "a cursor repeats"
                )
            elif stream.error is None:
                problems.append(
                    f"{where} ended without an error after {stream.requests} "
                    f"requests ({stream.records} records returned), though "
                    "every page said there was more"
                )
            elif not isinstance(stream.error, SchemaError):
                problems.append(
                    f"{where} raised {type(stream.error).__name__} instead of "
                    f"SchemaError: {stream.error}"
                )
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
            *_poisoned_read_problems(outcome),
            *_poisoned_sync_problems(outcome),
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
        counts = outcome.counts()
        problems = []
        unchecked = [r.info.name for r in outcome.first if r.checkpoint is None]
        if unchecked:
            problems.append(
                f"stream(s) {', '.join(unchecked)} yielded no checkpoint to resume from"
            )
        missing = sorted(outcome.expected - set(counts))
        if missing:
            lags = ", ".join(
                f"{name} {timedelta(seconds=lag)}"
                for name, lag in sorted(outcome.lags.items())
            )
            problems.append(
                f"{len(missing)} event(s) published after the first read were "
                f"never read (publication_lag: {lags}): {listed(missing)}"
            )
        twice = sorted(i for i, n in counts.items() if n > 1)
        if twice:
            problems.append(
                f"{len(twice)} event(s) were returned by both reads: " + listed(twice)
            )
        extra = sorted(set(counts) - outcome.expected)
        if extra:
            problems.append(
                f"{len(extra)} returned id(s) are not in the history: {listed(extra)}"
            )
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
