"""The judgments of the suite's failure and hostile-server runs.

:mod:`connector_core.testing._faults` makes a sandbox fail and records what
the connector did; these functions say what is wrong with what it did, as
sentences, and the tests in :mod:`connector_core.testing.suite` fail with
them. Kept apart so that running a fault and judging it can each be read
(and changed) alone.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING

from connector_core.exceptions import SchemaError, ServerError
from connector_core.models import ConnectionResult
from connector_core.testing._faults import accounted
from connector_core.testing._harness import listed


if TYPE_CHECKING:
    from collections.abc import Mapping

    from connector_core.streams import QuarantinedRecord
    from connector_core.testing._faults import (
        FaultOutcome,
        LateOutcome,
        PoisonOutcome,
        RedirectOutcome,
        StuckOutcome,
    )


__all__ = [
    "authenticate_problems",
    "id_problems",
    "late_problems",
    "malformed_problem",
    "poisoned_read_problems",
    "poisoned_sync_problems",
    "redirect_problems",
    "stuck_problems",
    "surfaces",
]


def surfaces(outcome: FaultOutcome, expected: type[Exception], what: str) -> list[str]:
    """How a read failing with *what* on every request failed to raise
    *expected*."""
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


def authenticate_problems(outcome: FaultOutcome) -> list[str]:
    """How ``authenticate`` misreported a server error, if it did."""
    answer = outcome.authenticate
    if isinstance(answer, ConnectionResult) and not answer.success:
        return [
            "authenticate reported a server error as refused credentials: "
            + str(answer.error)
        ]
    if isinstance(answer, BaseException) and not isinstance(answer, ServerError):
        return [f"authenticate raised {type(answer).__name__} instead of ServerError"]
    return []


def malformed_problem(outcome: FaultOutcome) -> str | None:
    """What is wrong with a read of malformed pages: neither ``SchemaError``
    nor quarantined records."""
    error = outcome.error
    if error is None and outcome.quarantined:
        return None
    if isinstance(error, SchemaError):
        return None
    if error is None:
        return (
            f"every page was malformed, yet reading raised nothing and "
            f"quarantined nothing ({outcome.logs} logs returned)"
        )
    return f"reading raised {type(error).__name__} instead of SchemaError: {error}"


def id_problems(ids: list[str], expected: frozenset[str], measure: str) -> list[str]:
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


def redirect_problems(outcome: RedirectOutcome) -> list[str]:
    """What a read with every request redirected leaked, lost or failed to
    check."""
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
            id_problems(outcome.ids, outcome.expected, "a read without redirects")
        )
    return problems


def stuck_problems(outcome: StuckOutcome) -> list[str]:
    """Each stream that looped on a cursor that never advances, or ended
    without the ``SchemaError`` it owed."""
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


def poisoned_read_problems(outcome: PoisonOutcome) -> list[str]:
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


def poisoned_sync_problems(outcome: PoisonOutcome) -> list[str]:
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


def late_problems(outcome: LateOutcome, expected: frozenset[str]) -> list[str]:
    """Over the first read and the one resumed from its checkpoints: the
    streams without a checkpoint, the late events never read, the events
    read twice and the ids not in *expected* (the whole history)."""
    counts = outcome.counts()
    problems = []
    unchecked = [r.info.name for r in outcome.first if r.checkpoint is None]
    if unchecked:
        problems.append(
            f"stream(s) {', '.join(unchecked)} yielded no checkpoint to resume from"
        )
    missing = sorted(expected - set(counts))
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
    extra = sorted(set(counts) - expected)
    if extra:
        problems.append(
            f"{len(extra)} returned id(s) are not in the history: {listed(extra)}"
        )
    return problems
