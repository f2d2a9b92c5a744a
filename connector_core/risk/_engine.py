"""Scoring stored events with the risk rules.

The rules run when a store is read, not when events are written: a rule a
host adds or tunes then applies to the whole history at once, without
syncing anything again, and the rules that compare an event with what came
before it (bursts, new countries) see every earlier event, wherever the
sync that wrote it started. One pass reads the period's events in time
order (and, before the period, the history the rules look back on), and
every rule looks at each event it names.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections import Counter, defaultdict, deque
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Final

import attrs
import orjson

from connector_core.metadata_keys import (
    FILE_NAME,
    FILES,
    RESOURCE_NAME,
    TARGET_USER_EMAIL,
)
from connector_core.models import (
    AIAuditLog,
    AIDateRange,
    AIRiskIndicator,
    AIRiskType,
    RiskSeverity,
)
from connector_core.risk._rules import SECTIONS, RiskRule, RuleKind
from connector_core.store._filters import LogFilter


if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from connector_core.store.base import Store


__all__ = [
    "FailedSignIns",
    "RiskAssessment",
    "RiskEvent",
    "RiskFinding",
    "Uploads",
    "assess",
    "assess_logs",
]

FAILED_SIGN_IN: Final = "user.login.failed"
"""The normalized action of a failed sign-in, counted per person."""

UPLOAD: Final = "file.uploaded"
"""The normalized action of an upload, listed per person."""

_FILES_SHOWN: Final = 50
"""How many file names a person's uploads keep (the most sensitive first);
the count is exact."""


@attrs.frozen(kw_only=True)
class RiskEvent:
    """An event behind a finding, as much of it as a reviewer reads first.

    ``risk_score`` is the highest score of every rule the event met.
    """

    id: str
    platform: str
    timestamp: dt.datetime
    user_id: str
    user_email: str | None
    action: str
    ip_address: str | None = None
    country: str | None = None
    files: tuple[str, ...] = ()
    risk_score: float = 0.0


@attrs.frozen(kw_only=True)
class RiskFinding:
    """One rule's finding: an event, or a burst of them, by one person.

    Attributes:
        rule: The rule's id; *title*, *section*, *severity* and *type* are
            the rule's.
        score: The finding's score: the rule's, or for a platform's own
            flag the score of the indicator's severity.
        detail: What the rule saw, in a few words (the files, the count
            and minutes of a burst, the new country and the usual ones).
        events: The events behind it, oldest first.
    """

    rule: str
    title: str
    section: str
    score: float
    severity: RiskSeverity
    type: AIRiskType
    platform: str
    user_id: str
    user_email: str | None
    first: dt.datetime
    last: dt.datetime
    detail: str
    events: tuple[RiskEvent, ...]

    @property
    def who(self) -> str:
        """The person, by email where there is one."""
        return self.user_email or self.user_id

    def indicator(self) -> AIRiskIndicator:
        """The finding as the model's risk indicator (for exports)."""
        return AIRiskIndicator(
            type=self.type,
            severity=self.severity,
            description=f"{self.title}: {self.detail}" if self.detail else self.title,
            confidence=100.0,
            evidence=tuple(e.id for e in self.events),
        )


@attrs.frozen(kw_only=True)
class FailedSignIns:
    """One person's failed sign-ins in the period, on one platform."""

    platform: str
    user_id: str
    user_email: str | None
    failures: int
    bursts: int
    last: dt.datetime
    events: tuple[RiskEvent, ...]


@attrs.frozen(kw_only=True)
class Uploads:
    """One person's uploads in the period, on one platform: the file names
    that looked sensitive first, then the others, newest first."""

    platform: str
    user_id: str
    user_email: str | None
    uploads: int
    sensitive: int
    files: tuple[str, ...]
    sensitive_files: tuple[str, ...]
    last: dt.datetime
    events: tuple[RiskEvent, ...]


@attrs.frozen(kw_only=True)
class RiskAssessment:
    """The rules' findings over a period, and the per-person views the
    security section shows beside them.

    ``findings`` are the highest score first, then the most recent.
    """

    period: AIDateRange
    rules: tuple[RiskRule, ...]
    findings: tuple[RiskFinding, ...] = ()
    failed_sign_ins: tuple[FailedSignIns, ...] = ()
    uploads: tuple[Uploads, ...] = ()
    events_read: int = 0

    def of_platform(self, platform: str) -> RiskAssessment:
        """The part of this assessment about *platform* (the rules look at
        each platform's people apart, so it is what assessing that platform
        alone gives)."""
        return attrs.evolve(
            self,
            findings=tuple(f for f in self.findings if f.platform == platform),
            failed_sign_ins=tuple(
                r for r in self.failed_sign_ins if r.platform == platform
            ),
            uploads=tuple(r for r in self.uploads if r.platform == platform),
        )

    def by_section(self) -> dict[str, list[RiskFinding]]:
        """Findings per section, in the view's order, each newest first."""
        grouped: dict[str, list[RiskFinding]] = {name: [] for name in SECTIONS}
        for finding in self.findings:
            grouped.setdefault(finding.section, []).append(finding)
        for findings in grouped.values():
            findings.sort(key=lambda f: (f.last, f.score), reverse=True)
        return grouped

    def scores(self) -> dict[tuple[str, str], float]:
        """Each scored event's risk score, by (platform, id); an event not
        listed met no rule and scores 0. The assessment stamped each event
        with its score (the highest of the rules it met) already."""
        return {
            (event.platform, event.id): event.risk_score
            for finding in self.findings
            for event in finding.events
        }


# --------------------------------------------------------------------------
# Reading an event
# --------------------------------------------------------------------------


@attrs.frozen(slots=True)
class _Seen:
    """What the rules read of an event.

    Built from a stored document with no more than its JSON parsed: the
    rules read a few fields of every event of a period, and rebuilding each
    whole :class:`~connector_core.models.AIAuditLog` (every nested object
    validated) cost four fifths of an assessment.
    """

    id: str
    platform: str
    timestamp: dt.datetime
    user_id: str
    user_email: str | None
    action: str
    metadata: dict[str, Any]
    ip_address: str | None
    country: str | None
    flags: tuple[tuple[RiskSeverity, str], ...]

    @classmethod
    def of_log(cls, log: AIAuditLog) -> _Seen:
        country = log.location.country if log.location is not None else None
        return cls(
            id=log.id,
            platform=log.platform,
            timestamp=log.timestamp,
            user_id=log.user_id,
            user_email=log.user_email,
            action=log.action,
            metadata=dict(log.metadata),
            ip_address=log.ip_address,
            country=country.upper() if country else None,
            flags=tuple((i.severity, i.description) for i in log.risk_indicators),
        )

    @classmethod
    def of_document(cls, text: str) -> _Seen:
        """A stored event's document (the store wrote it from a valid
        event, so its fields have their types)."""
        data = orjson.loads(text)
        location = data.get("location") or {}
        country = location.get("country")
        metadata = data.get("metadata")
        return cls(
            id=data["id"],
            platform=data["platform"],
            timestamp=dt.datetime.fromisoformat(data["timestamp"]),
            user_id=data["user_id"],
            user_email=data.get("user_email"),
            action=data["action"],
            metadata=metadata if isinstance(metadata, dict) else {},
            ip_address=data.get("ip_address"),
            country=country.upper() if isinstance(country, str) and country else None,
            flags=tuple(
                (RiskSeverity(i["severity"]), str(i.get("description") or ""))
                for i in data.get("risk_indicators") or ()
            ),
        )


def _file_names(log: _Seen) -> tuple[str, ...]:
    names: list[str] = []
    name = log.metadata.get(FILE_NAME)
    if isinstance(name, str) and name:
        names.append(name)
    files = log.metadata.get(FILES)
    if isinstance(files, list | tuple):
        for item in files:
            value = item.get(FILE_NAME) if isinstance(item, dict) else None
            if isinstance(value, str) and value and value not in names:
                names.append(value)
    return tuple(names)


def _country(log: _Seen) -> str | None:
    return log.country


def _ip_range(log: _Seen) -> str | None:
    if not log.ip_address:
        return None
    try:
        address = ipaddress.ip_address(log.ip_address.strip())
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48  # noqa: PLR2004
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _event(log: _Seen) -> RiskEvent:
    return RiskEvent(
        id=log.id,
        platform=log.platform,
        timestamp=log.timestamp,
        user_id=log.user_id,
        user_email=log.user_email,
        action=log.action,
        ip_address=log.ip_address,
        country=_country(log),
        files=_file_names(log),
    )


def _matches(rule: RiskRule, action: str) -> bool:
    return _named(rule.actions, action) and not _named(rule.skip_actions, action)


def _named(patterns: Sequence[str], action: str) -> bool:
    return any(
        pattern == action or fnmatchcase(action, pattern) for pattern in patterns
    )


def _sensitive_files(rule: RiskRule, names: Iterable[str]) -> list[str]:
    found: list[str] = []
    for name in names:
        extension = name.rsplit(".", 1)[1].lower() if "." in name else ""
        if (rule.file_pattern is not None and rule.file_pattern.search(name)) or (
            extension and extension in rule.file_types
        ):
            found.append(name)
    return found


def _metadata_hit(rule: RiskRule, log: _Seen) -> str | None:
    for key, values in rule.any_metadata.items():
        value = log.metadata.get(key)
        if value is not None and str(value).lower() in {v.lower() for v in values}:
            return f"{key} {value}"
    return None


def _about(log: _Seen) -> str:
    """What an event was about, for a finding's detail."""
    parts = [log.action]
    for key in (TARGET_USER_EMAIL, RESOURCE_NAME):
        value = log.metadata.get(key)
        if isinstance(value, str) and value:
            parts.append(value)
            break
    return " ".join(parts)


# --------------------------------------------------------------------------
# The rules' evaluators: each sees the events its rule names, in time order
# --------------------------------------------------------------------------


@attrs.define
class _Evaluator:
    rule: RiskRule
    period: AIDateRange
    findings: list[RiskFinding] = attrs.Factory(list)

    def in_period(self, moment: dt.datetime) -> bool:
        return self.period.start <= moment <= self.period.end

    def found(
        self,
        logs: Sequence[_Seen],
        detail: str,
        score: float | None = None,
    ) -> None:
        first, last = logs[0], logs[-1]
        self.findings.append(
            RiskFinding(
                rule=self.rule.id,
                title=self.rule.title,
                section=self.rule.section,
                score=self.rule.score if score is None else score,
                severity=self.rule.severity,
                type=self.rule.type,
                platform=first.platform,
                user_id=first.user_id,
                user_email=first.user_email,
                first=first.timestamp,
                last=last.timestamp,
                detail=detail,
                events=tuple(_event(log) for log in logs),
            )
        )

    def see(self, log: _Seen) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Called after the last event (a burst may still be open)."""


@attrs.define
class _EventRule(_Evaluator):
    def see(self, log: _Seen) -> None:
        if not self.in_period(log.timestamp):
            return
        rule = self.rule
        if rule.file_pattern is not None or rule.file_types:
            sensitive = _sensitive_files(rule, _file_names(log))
            if not sensitive:
                return
            self.found([log], ", ".join(sensitive))
            return
        if rule.any_metadata:
            hit = _metadata_hit(rule, log)
            if hit is None:
                return
            self.found([log], f"{_about(log)} ({hit})")
            return
        self.found([log], _about(log))


@attrs.define
class _BurstRule(_Evaluator):
    """A person's run of events, each within ``within`` of the one before;
    a run is a burst when some ``within`` of it holds ``count`` events."""

    runs: dict[tuple[str, str], list[_Seen]] = attrs.Factory(dict)

    def see(self, log: _Seen) -> None:
        key = (log.platform, log.user_id)
        run = self.runs.get(key)
        if run and log.timestamp - run[-1].timestamp > self.rule.within:
            self._close(run)
            run = None
        if run is None:
            self.runs[key] = [log]
        else:
            run.append(log)

    def _close(self, run: list[_Seen]) -> None:
        count, within = self.rule.count, self.rule.within
        if len(run) < count or not self.in_period(run[-1].timestamp):
            return
        if not any(
            run[i + count - 1].timestamp - run[i].timestamp <= within
            for i in range(len(run) - count + 1)
        ):
            return
        seconds = (run[-1].timestamp - run[0].timestamp).total_seconds()
        self.found(run, f"{len(run)} in {max(1, round(seconds / 60))} min")

    def finish(self) -> None:
        for run in self.runs.values():
            self._close(run)
        self.runs.clear()


_WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@attrs.define
class _OffHoursRule(_Evaluator):
    def see(self, log: _Seen) -> None:
        if not self.in_period(log.timestamp):
            return
        rule = self.rule
        local = log.timestamp.astimezone(rule.zone)
        if (
            local.isoweekday() in rule.office_days
            and rule.office_start <= local.hour < rule.office_end
        ):
            return
        self.found(
            [log],
            f"{_about(log)} at {local:%H:%M} {_WEEKDAYS[local.weekday()]}"
            f" ({rule.timezone})",
        )


@attrs.define
class _NewValueRule(_Evaluator):
    """Per person, the values of their recent events (within ``history``),
    oldest first."""

    seen: dict[tuple[str, str], deque[tuple[dt.datetime, str]]] = attrs.Factory(dict)

    def see(self, log: _Seen) -> None:
        rule = self.rule
        value = _country(log) if rule.field == "country" else _ip_range(log)
        if value is None:
            return
        key = (log.platform, log.user_id)
        history = self.seen.setdefault(key, deque())
        horizon = log.timestamp - rule.history
        while history and history[0][0] < horizon:
            history.popleft()
        if (
            self.in_period(log.timestamp)
            and len(history) >= rule.min_history
            and all(seen != value for _, seen in history)
        ):
            usual = Counter(seen for _, seen in history).most_common(3)
            before = ", ".join(f"{v} ({n})" for v, n in usual)
            self.found([log], f"from {value}; before: {before}")
        history.append((log.timestamp, value))


@attrs.define
class _FlaggedRule(_Evaluator):
    def see(self, log: _Seen) -> None:
        if not log.flags or not self.in_period(log.timestamp):
            return
        scores = self.rule.severity_scores
        score = max(scores.get(severity, self.rule.score) for severity, _ in log.flags)
        detail = "; ".join(dict.fromkeys(text for _, text in log.flags if text))
        self.found([log], detail or _about(log), score=score)


_EVALUATORS: Final[dict[RuleKind, type[_Evaluator]]] = {
    RuleKind.EVENT: _EventRule,
    RuleKind.BURST: _BurstRule,
    RuleKind.OFF_HOURS: _OffHoursRule,
    RuleKind.NEW_VALUE: _NewValueRule,
    RuleKind.FLAGGED: _FlaggedRule,
}


# --------------------------------------------------------------------------
# The per-person views
# --------------------------------------------------------------------------


@attrs.define
class _People:
    """Failed sign-ins and uploads per person, in the period."""

    period: AIDateRange
    upload_rules: tuple[RiskRule, ...]
    failures: dict[tuple[str, str], list[_Seen]] = attrs.Factory(
        lambda: defaultdict(list)
    )
    uploads: dict[tuple[str, str], list[_Seen]] = attrs.Factory(
        lambda: defaultdict(list)
    )

    def see(self, log: _Seen) -> None:
        if not self.period.start <= log.timestamp <= self.period.end:
            return
        if log.action == FAILED_SIGN_IN:
            self.failures[(log.platform, log.user_id)].append(log)
        elif log.action == UPLOAD:
            self.uploads[(log.platform, log.user_id)].append(log)

    def failed(self, findings: Sequence[RiskFinding]) -> tuple[FailedSignIns, ...]:
        bursts = Counter(
            (f.platform, f.user_id) for f in findings if f.section == "sign_ins"
        )
        rows = [
            FailedSignIns(
                platform=platform,
                user_id=user,
                user_email=logs[-1].user_email,
                failures=len(logs),
                bursts=bursts[(platform, user)],
                last=logs[-1].timestamp,
                events=tuple(_event(log) for log in logs),
            )
            for (platform, user), logs in self.failures.items()
        ]
        rows.sort(
            key=lambda r: (-r.bursts, -r.failures, -r.last.timestamp(), r.user_id)
        )
        return tuple(rows)

    def uploaded(self) -> tuple[Uploads, ...]:
        rows: list[Uploads] = []
        for (platform, user), logs in self.uploads.items():
            names: list[str] = []
            sensitive: list[str] = []
            flagged_logs = 0
            for log in reversed(logs):
                files = _file_names(log)
                hits = {
                    name
                    for rule in self.upload_rules
                    for name in _sensitive_files(rule, files)
                }
                flagged_logs += bool(hits)
                for name in files:
                    target = sensitive if name in hits else names
                    if name not in target:
                        target.append(name)
            rows.append(
                Uploads(
                    platform=platform,
                    user_id=user,
                    user_email=logs[-1].user_email,
                    uploads=len(logs),
                    sensitive=flagged_logs,
                    files=tuple(n for n in names if n not in sensitive)[:_FILES_SHOWN],
                    sensitive_files=tuple(sensitive[:_FILES_SHOWN]),
                    last=logs[-1].timestamp,
                    events=tuple(_event(log) for log in logs),
                )
            )
        rows.sort(
            key=lambda r: (-r.sensitive, -r.uploads, -r.last.timestamp(), r.user_id)
        )
        return tuple(rows)


# --------------------------------------------------------------------------
# The assessment
# --------------------------------------------------------------------------


def _lookback(rules: Sequence[RiskRule]) -> dt.timedelta:
    """How long before the period the rules need to see."""
    back = dt.timedelta(0)
    for rule in rules:
        if rule.kind is RuleKind.NEW_VALUE:
            back = max(back, rule.history)
        elif rule.kind is RuleKind.BURST:
            back = max(back, rule.within)
    return back


def _read_actions(rules: Sequence[RiskRule]) -> tuple[str, ...]:
    """The actions one read must return: every rule's, and the views'; none
    (every event) when a rule reads all."""
    patterns = {FAILED_SIGN_IN, UPLOAD}
    for rule in rules:
        if "*" in rule.actions:
            return ()
        patterns.update(rule.actions)
    return tuple(sorted(patterns))


def assess_logs(
    logs: Iterable[AIAuditLog],
    period: AIDateRange,
    rules: Sequence[RiskRule],
) -> RiskAssessment:
    """Score *logs* (in time order, with the history before *period* the
    rules look back on) with the enabled *rules*.

    Findings are only of events in *period*; earlier ones are history.
    """
    return _assess((_Seen.of_log(log) for log in logs), period, rules)


def _assess(
    logs: Iterable[_Seen],
    period: AIDateRange,
    rules: Sequence[RiskRule],
) -> RiskAssessment:
    enabled = tuple(rule for rule in rules if rule.enabled)
    evaluators = [_EVALUATORS[rule.kind](rule, period) for rule in enabled]
    # Which evaluators read an action: decided once per distinct action.
    readers: dict[str, list[_Evaluator]] = {}
    people = _People(
        period,
        tuple(
            r for r in enabled if r.kind is RuleKind.EVENT and r.section == "uploads"
        ),
    )
    count = 0
    for log in logs:
        count += 1
        action = log.action
        chosen = readers.get(action)
        if chosen is None:
            chosen = readers[action] = [
                e for e in evaluators if _matches(e.rule, action)
            ]
        for evaluator in chosen:
            evaluator.see(log)
        people.see(log)
    findings: list[RiskFinding] = []
    for evaluator in evaluators:
        evaluator.finish()
        findings.extend(evaluator.findings)
    scores: dict[tuple[str, str], float] = {}
    for finding in findings:
        for event in finding.events:
            key = (event.platform, event.id)
            scores[key] = max(scores.get(key, 0.0), finding.score)
    findings = [
        attrs.evolve(
            finding,
            events=tuple(
                attrs.evolve(e, risk_score=scores[(e.platform, e.id)])
                for e in finding.events
            ),
        )
        for finding in findings
    ]
    findings.sort(key=lambda f: (-f.score, -f.last.timestamp(), f.rule, f.user_id))
    return RiskAssessment(
        period=period,
        rules=enabled,
        findings=tuple(findings),
        failed_sign_ins=people.failed(findings),
        uploads=people.uploaded(),
        events_read=count,
    )


def _stored_logs(
    store: Store,
    period: AIDateRange,
    rules: Sequence[RiskRule],
    *,
    connections: Sequence[str],
    platform: str | None,
) -> Iterator[_Seen]:
    start = period.start - _lookback(rules)
    actions = _read_actions([r for r in rules if r.enabled])
    if len(connections) <= 1:
        for document in store.iter_documents(
            LogFilter(
                connection=connections[0] if connections else None,
                platform=platform,
                start=start,
                end=period.end,
                actions=actions,
            )
        ):
            yield _Seen.of_document(document)
        return
    # Several connections: merged in time order, as the rules need.
    logs = [
        _Seen.of_document(document)
        for connection in connections
        for document in store.iter_documents(
            LogFilter(
                connection=connection,
                platform=platform,
                start=start,
                end=period.end,
                actions=actions,
            )
        )
    ]
    logs.sort(key=lambda log: (log.timestamp, log.id))
    yield from logs


def assess(
    store: Store,
    period: AIDateRange,
    rules: Sequence[RiskRule],
    *,
    connections: Sequence[str] = (),
    platform: str | None = None,
) -> RiskAssessment:
    """Score the stored events of *period* (of the *connections* alone, of
    the *platform* alone, when given) with the enabled *rules*, reading the
    history before the period that the rules look back on."""
    return _assess(
        _stored_logs(store, period, rules, connections=connections, platform=platform),
        period,
        rules,
    )
