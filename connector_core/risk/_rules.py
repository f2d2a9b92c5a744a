"""Risk rules as data: their shape, and reading them from TOML.

Rules are data rather than code so a security team can read, tune and add
them without a release: the defaults ship as ``rules.toml`` beside this
module, a host adds its own from a file (``--rules``,
``AIAUDIT_RISK_RULES``) or from a plugin's ``aiaudit_risk_rules`` hook, and a
rule with the id of a default replaces it. Every key is checked when read,
an unknown one included, so a typo fails loudly instead of silently turning
a rule into one that never fires.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Final, TypeVar

import attrs

from connector_core.exceptions import ConfigurationError
from connector_core.models import AIRiskType, RiskSeverity


__all__ = [
    "SECTIONS",
    "RiskRule",
    "RuleKind",
    "default_rules",
    "load_rules",
    "merge_rules",
    "read_rules_file",
]


class RuleKind(StrEnum):
    """How a rule picks events among those its actions name."""

    EVENT = "event"
    """Every event that matches (its files, its metadata)."""
    BURST = "burst"
    """At least ``count`` by one person within ``within_minutes``."""
    OFF_HOURS = "off_hours"
    """Outside the office hours of the rule's time zone."""
    NEW_VALUE = "new_value"
    """A country or address range the person never used in the history."""
    FLAGGED = "flagged"
    """The platform's own risk indicators, scored by their severity."""


SECTIONS: Final = {
    "sign_ins": "Failed sign-ins",
    "uploads": "Uploads and exports",
    "changes": "Key, admin, role and settings changes",
    "locations": "New locations",
    "sharing": "Custom assistants created and shared",
    "flagged": "Flagged by the platform",
}
"""The security view's groups, in the order it shows them, and their
headings; a rule names one."""

FIELDS: Final = ("country", "ip_range")
"""What a ``new_value`` rule compares."""

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_E = TypeVar("_E", bound=StrEnum)


_TOP_SCORE: Final = 100
"""Scores are on the host's 0-100 scale."""


def _is_score(value: object) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and 0 <= value <= _TOP_SCORE
    )


def _score(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not _is_score(value):
        raise ValueError(f"{attribute.name} must be 0 to 100, got {value}")


@attrs.frozen(kw_only=True)
class RiskRule:
    """One reason an event deserves attention (see ``docs/risk.md``).

    Attributes:
        id: Unique; a later rule with the same id replaces an earlier one.
        title: What a finding of it is called, for people.
        section: The security view's group (:data:`SECTIONS`).
        kind: How it picks events (:class:`RuleKind`).
        actions: The normalized actions it reads, exact or globs
            (``role.*``, ``*`` for every event).
        skip_actions: Actions it never reads, though *actions* names them:
            events another rule judges better (the platform's flag on every
            upload, left to the upload rules).
        score: The risk score (0-100) of an event it finds.
        severity, type: The finding's, as the model's indicators have them.
        description: Why it matters, for people.
        enabled: ``False`` keeps the rule listed but unused.
        file_words, file_types: ``event``: an upload whose file name has
            one of these words (regular expressions matched between
            separators, ignoring case) or whose extension is one of these.
        any_metadata: ``event``: the event's metadata has one of these
            values under one of these keys.
        count, within: ``burst``: this many within this time.
        office_start, office_end, office_days, timezone: ``off_hours``:
            office hours (end excluded) on these ISO weekdays (1 is Monday),
            in this IANA time zone.
        field, min_history, history: ``new_value``: the value compared, and
            how many earlier events with a value, within how long before,
            make a usual pattern to compare with.
        severity_scores: ``flagged``: the score of an indicator's severity.
    """

    id: str
    title: str
    section: str
    kind: RuleKind
    actions: tuple[str, ...]
    score: float = attrs.field(validator=_score)
    skip_actions: tuple[str, ...] = ()
    severity: RiskSeverity
    type: AIRiskType
    description: str = ""
    enabled: bool = True
    file_words: tuple[str, ...] = ()
    file_types: tuple[str, ...] = ()
    any_metadata: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    count: int = 0
    within: dt.timedelta = dt.timedelta(0)
    office_start: int = 0
    office_end: int = 24
    office_days: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    timezone: str = "UTC"
    field: str = "country"
    min_history: int = 1
    history: dt.timedelta = dt.timedelta(days=30)
    severity_scores: Mapping[RiskSeverity, float] = attrs.field(factory=dict)
    file_pattern: re.Pattern[str] | None = attrs.field(
        default=None, eq=False, repr=False
    )

    @property
    def zone(self) -> dt.tzinfo:
        """The office hours' time zone."""
        return dt.UTC if self.timezone == "UTC" else zoneinfo.ZoneInfo(self.timezone)


# What each kind of rule must and may say, beyond the common keys.
_COMMON: Final = {
    "id",
    "title",
    "section",
    "kind",
    "actions",
    "score",
    "severity",
    "type",
}
_OPTIONAL: Final = {"description", "enabled", "skip_actions"}
_BY_KIND: Final[dict[RuleKind, tuple[set[str], set[str]]]] = {
    RuleKind.EVENT: (set(), {"file_words", "file_types", "any_metadata"}),
    RuleKind.BURST: ({"count", "within_minutes"}, set()),
    RuleKind.OFF_HOURS: (
        set(),
        {"office_start", "office_end", "office_days", "timezone"},
    ),
    RuleKind.NEW_VALUE: ({"field"}, {"min_history", "history_days"}),
    RuleKind.FLAGGED: (set(), {"severity_scores"}),
}


class _RuleError(Exception):
    """One rule's mistake, named by the caller with its source and place."""


def _text(table: Mapping[str, Any], key: str) -> str:
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise _RuleError(f"{key} must be a non-empty string, got {value!r}")
    return value


def _strings(table: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(
        isinstance(item, str) and item for item in value
    ):
        raise _RuleError(f"{key} must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def _integer(table: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = table[key]
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not low <= value <= high
    ):
        raise _RuleError(
            f"{key} must be a whole number from {low} to {high}, got {value!r}"
        )
    return value


def _choice(table: Mapping[str, Any], key: str, kind: type[_E]) -> _E:
    value = table[key]
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(item.value for item in kind)
        raise _RuleError(f"{key} must be one of {allowed}, got {value!r}") from None


def _file_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    if not words:
        return None
    for word in words:
        try:
            re.compile(word)
        except re.error as exc:
            raise _RuleError(
                f"file_words: {word!r} is not a regular expression: {exc}"
            ) from None
    # Between separators (start, end, or any non-alphanumeric character), so
    # "tax" finds tax-2026.pdf but not syntax.md.
    joined = "|".join(f"(?:{word})" for word in words)
    return re.compile(rf"(?:^|[^a-z0-9])(?:{joined})(?=$|[^a-z0-9])", re.IGNORECASE)


def _any_metadata(table: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    value = table.get("any_metadata", {})
    if not isinstance(value, dict):
        raise _RuleError(
            f"any_metadata must be a table of key = [values], got {value!r}"
        )
    found: dict[str, tuple[str, ...]] = {}
    for key in value:
        found[key] = _strings(value, key)
    return found


def _severity_scores(table: Mapping[str, Any]) -> dict[RiskSeverity, float]:
    value = table.get("severity_scores", {})
    if not isinstance(value, dict):
        raise _RuleError(f"severity_scores must be a table, got {value!r}")
    scores: dict[RiskSeverity, float] = {}
    for key, score in value.items():
        severity = _choice(
            {"severity_scores key": key}, "severity_scores key", RiskSeverity
        )
        if not _is_score(score):
            raise _RuleError(f"severity_scores.{key} must be 0 to 100, got {score!r}")
        scores[severity] = float(score)
    return scores


def _event_options(table: Mapping[str, Any]) -> dict[str, Any]:
    words = _strings(table, "file_words")
    return {
        "file_words": words,
        "file_types": tuple(
            t.lower().lstrip(".") for t in _strings(table, "file_types")
        ),
        "any_metadata": _any_metadata(table),
        "file_pattern": _file_pattern(words),
    }


def _burst_options(table: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "count": _integer(table, "count", 2, 10_000),
        "within": dt.timedelta(minutes=_integer(table, "within_minutes", 1, 10_080)),
    }


def _off_hours_options(table: Mapping[str, Any]) -> dict[str, Any]:
    start = _integer(table, "office_start", 0, 23) if "office_start" in table else 7
    end = _integer(table, "office_end", 1, 24) if "office_end" in table else 20
    if end <= start:
        raise _RuleError(f"office_end ({end}) must be after office_start ({start})")
    days = table.get("office_days", [1, 2, 3, 4, 5])
    if not isinstance(days, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= _SUNDAY
        for d in days
    ):
        raise _RuleError(f"office_days must be a list of 1 (Monday) to 7, got {days!r}")
    zone = table.get("timezone", "UTC")
    if not isinstance(zone, str) or not _known_zone(zone):
        raise _RuleError(f"timezone must be an IANA time zone name, got {zone!r}")
    return {
        "office_start": start,
        "office_end": end,
        "office_days": tuple(days),
        "timezone": zone,
    }


def _new_value_options(table: Mapping[str, Any]) -> dict[str, Any]:
    field = _text(table, "field")
    if field not in FIELDS:
        raise _RuleError(f"field must be one of {', '.join(FIELDS)}, got {field!r}")
    history = (
        _integer(table, "history_days", 1, 3_650) if "history_days" in table else 30
    )
    return {
        "field": field,
        "min_history": (
            _integer(table, "min_history", 1, 10_000) if "min_history" in table else 3
        ),
        "history": dt.timedelta(days=history),
    }


def _flagged_options(table: Mapping[str, Any]) -> dict[str, Any]:
    return {"severity_scores": _severity_scores(table)}


_OPTIONS: Final[dict[RuleKind, Callable[[Mapping[str, Any]], dict[str, Any]]]] = {
    RuleKind.EVENT: _event_options,
    RuleKind.BURST: _burst_options,
    RuleKind.OFF_HOURS: _off_hours_options,
    RuleKind.NEW_VALUE: _new_value_options,
    RuleKind.FLAGGED: _flagged_options,
}
"""Each kind's own keys, read and checked."""

_SUNDAY: Final = 7


def _check_keys(table: Mapping[str, Any]) -> RuleKind:
    """The rule's kind, once every key it must have is there and every key
    it has is one it may have."""
    missing = sorted(k for k in _COMMON if k not in table)
    if missing:
        raise _RuleError(f"missing {', '.join(missing)}")
    kind = _choice(table, "kind", RuleKind)
    required, optional = _BY_KIND[kind]
    missing = sorted(k for k in required if k not in table)
    if missing:
        raise _RuleError(f"a {kind.value} rule needs {', '.join(missing)}")
    unknown = sorted(set(table) - _COMMON - _OPTIONAL - required - optional)
    if unknown:
        raise _RuleError(f"unknown key {', '.join(unknown)} for a {kind.value} rule")
    return kind


def _rule(table: Mapping[str, Any]) -> RiskRule:
    """One rule from its TOML table; :class:`_RuleError` names what is wrong."""
    if not isinstance(table, dict):
        raise _RuleError(f"a rule must be a table, got {table!r}")
    kind = _check_keys(table)
    rule_id = _text(table, "id")
    if not _ID.match(rule_id):
        raise _RuleError(f"id must be a lowercase identifier, got {rule_id!r}")
    section = _text(table, "section")
    if section not in SECTIONS:
        raise _RuleError(
            f"section must be one of {', '.join(SECTIONS)}, got {section!r}"
        )
    actions = _strings(table, "actions")
    if not actions:
        raise _RuleError("actions must name at least one action")
    score = table["score"]
    if not _is_score(score):
        raise _RuleError(f"score must be 0 to 100, got {score!r}")
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _RuleError(f"enabled must be true or false, got {enabled!r}")
    options = _OPTIONS[kind](table)
    return RiskRule(
        id=rule_id,
        title=_text(table, "title"),
        section=section,
        kind=kind,
        actions=actions,
        skip_actions=_strings(table, "skip_actions"),
        score=float(score),
        severity=_choice(table, "severity", RiskSeverity),
        type=_choice(table, "type", AIRiskType),
        description=" ".join(str(table.get("description", "")).split()),
        enabled=enabled,
        **options,
    )


def _known_zone(name: str) -> bool:
    if name == "UTC":
        return True
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def load_rules(text: str, *, source: str) -> tuple[RiskRule, ...]:
    """The rules of a TOML document (``[[rule]]`` tables).

    :raises ConfigurationError: naming *source*, the rule (by number and
        id) and what is wrong with it; nothing is half-read.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(
            f"risk rules {source}: not valid TOML: {exc}"
        ) from None
    extra = sorted(set(document) - {"rule"})
    if extra:
        raise ConfigurationError(
            f"risk rules {source}: unknown table {', '.join(extra)}"
            " (rules are [[rule]] tables)"
        )
    tables = document.get("rule", [])
    if not isinstance(tables, list):
        raise ConfigurationError(f"risk rules {source}: rule must be [[rule]] tables")
    rules: list[RiskRule] = []
    seen: set[str] = set()
    for number, table in enumerate(tables, 1):
        name = table.get("id") if isinstance(table, dict) else None
        where = f"rule {number}" + (f" ({name})" if isinstance(name, str) else "")
        try:
            rule = _rule(table)
        except _RuleError as exc:
            raise ConfigurationError(f"risk rules {source}, {where}: {exc}") from None
        if rule.id in seen:
            raise ConfigurationError(
                f"risk rules {source}, {where}: id {rule.id} is used twice"
            )
        seen.add(rule.id)
        rules.append(rule)
    return tuple(rules)


def read_rules_file(path: str | Path) -> tuple[RiskRule, ...]:
    """The rules of a TOML file, which must exist and be readable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ConfigurationError(f"cannot read risk rules {path}: {reason}") from None
    return load_rules(text, source=str(path))


def default_rules() -> tuple[RiskRule, ...]:
    """The rules that ship with the core (``connector_core/risk/rules.toml``)."""
    text = resources.files(__package__).joinpath("rules.toml").read_text("utf-8")
    return load_rules(text, source="(built in)")


def merge_rules(*sets: Iterable[RiskRule]) -> tuple[RiskRule, ...]:
    """Rules of several sets, in order: a rule replaces an earlier one with
    its id, in the earlier one's place; a new id is added at the end."""
    merged: dict[str, RiskRule] = {}
    for rules in sets:
        for rule in rules:
            merged[rule.id] = rule
    return tuple(merged.values())
