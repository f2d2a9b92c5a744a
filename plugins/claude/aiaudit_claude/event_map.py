"""The mapping table, ``event_map.toml``, and the questions it answers.

What is mapped to what is data, in ``event_map.toml`` beside this module, so
a reviewer reads a table rather than code. This module checks and indexes
the table once, at import, and answers from it both ways: what a native
activity type becomes (for the normalizer) and which native types to ask the
feed for when a caller filters by unified action (for the reader, so a
filter is pushed down as ``activity_types[]``).

A table that cannot be read is a packaging bug, not an outside input, so
loading it raises :class:`EventMapError` naming the entry at fault.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

import attrs

from connector_core.models import (
    AIActivityType,
    AIRiskIndicator,
    AIRiskType,
    RiskSeverity,
)


if TYPE_CHECKING:
    from collections.abc import Iterable


__all__ = [
    "COMPLIANCE_ACCESS",
    "PLATFORM",
    "STREAM_ACTIVITIES",
    "TABLE",
    "UNIFIED_ACTIONS",
    "EventMapError",
    "Row",
    "Table",
    "load_table",
    "native_types",
    "risk_indicators",
    "row_for",
]

PLATFORM: Final = "claude"
STREAM_ACTIVITIES: Final = "activities"

COMPLIANCE_ACCESS: Final = "compliance_api_accessed"
"""The type the feed writes for every Compliance API request, the reader's
own included: excluded at the source unless a caller asks for it."""


class EventMapError(ValueError):
    """``event_map.toml`` is malformed; the message names the entry."""


@attrs.frozen(kw_only=True)
class Row:
    """One row of the table: what a native type becomes."""

    action: str
    activity: AIActivityType
    resource: str | None = None


@attrs.frozen(kw_only=True)
class _Risk:
    type: AIRiskType
    severity: RiskSeverity
    confidence: float
    description: str
    evidence: str | None = None


@attrs.frozen(kw_only=True)
class Table:
    """``event_map.toml``, checked and indexed.

    Attributes:
        pass_through_activity: The activity of a type the table does not list.
        reserved: Unified actions valid in filters that no type produces.
        activities: The feed's native types and their rows.
        risks: Risk rules by unified action.
        by_action: The reverse index: each unified action's native types.
    """

    pass_through_activity: AIActivityType
    reserved: frozenset[str]
    activities: Mapping[str, Row]
    risks: Mapping[str, _Risk]
    by_action: Mapping[str, frozenset[str]]


def _section(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise EventMapError(f"[{name}] must be a table")
    return value


def _row(native: str, entry: object) -> Row:
    where = f"[activities.types] {native!r}"
    if not isinstance(entry, Mapping):
        raise EventMapError(f"{where} must be an inline table")
    unknown = sorted(set(entry) - {"action", "activity", "resource"})
    if unknown:
        raise EventMapError(f"{where} has unknown key(s) {', '.join(unknown)}")
    action, resource = entry.get("action"), entry.get("resource")
    if not isinstance(action, str) or not action:
        raise EventMapError(f"{where}: action must be a non-empty string")
    if resource is not None and not isinstance(resource, str):
        raise EventMapError(f"{where}: resource must be a string")
    try:
        activity = AIActivityType(str(entry.get("activity")))
    except ValueError:
        raise EventMapError(
            f"{where}: activity must be one of {', '.join(AIActivityType)}"
        ) from None
    return Row(action=action, activity=activity, resource=resource)


def _risk(action: str, entry: object) -> _Risk:
    where = f"[risks.{action!r}]"
    if not isinstance(entry, Mapping):
        raise EventMapError(f"{where} must be a table")
    try:
        return _Risk(
            type=AIRiskType(entry["type"]),
            severity=RiskSeverity(entry["severity"]),
            confidence=float(entry["confidence"]),
            description=str(entry["description"]),
            evidence=None if entry.get("evidence") is None else str(entry["evidence"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise EventMapError(f"{where}: {type(exc).__name__}: {exc}") from None


def load_table(text: str) -> Table:
    """Check and index a table given as TOML text.

    Raises:
        EventMapError: The text is not TOML or not a table of this shape.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EventMapError(f"not TOML: {exc}") from None
    if data.get("version") != 1:
        raise EventMapError("version must be 1")
    defaults = _section(data, "defaults")
    try:
        pass_through = AIActivityType(str(defaults.get("pass_through_activity")))
    except ValueError:
        raise EventMapError(
            "[defaults] pass_through_activity must be an activity type"
        ) from None
    reserved = _section(data, "vocabulary").get("reserved", [])
    if not isinstance(reserved, list) or not all(isinstance(a, str) for a in reserved):
        raise EventMapError("[vocabulary] reserved must be a list of strings")
    types = _section(_section(data, "activities"), "types")
    activities = {native: _row(native, entry) for native, entry in types.items()}
    risks = {
        action: _risk(action, entry)
        for action, entry in _section(data, "risks").items()
    }
    by_action: dict[str, set[str]] = {}
    for native, row in activities.items():
        by_action.setdefault(row.action, set()).add(native)
    return Table(
        pass_through_activity=pass_through,
        reserved=frozenset(reserved),
        activities=activities,
        risks=risks,
        by_action={action: frozenset(n) for action, n in by_action.items()},
    )


TABLE: Final = load_table(
    resources.files(__package__).joinpath("event_map.toml").read_text("utf-8")
)

UNIFIED_ACTIONS: Final[frozenset[str]] = frozenset({*TABLE.by_action, *TABLE.reserved})
"""Every action of our vocabulary this table maps to, plus the reserved
ones. Pass-through actions are not in it: they are native names."""


def row_for(native_type: str) -> Row:
    """What *native_type* becomes: its row, or a pass-through row that keeps
    the native name as the action."""
    row = TABLE.activities.get(native_type)
    if row is not None:
        return row
    return Row(action=native_type, activity=TABLE.pass_through_activity)


def native_types(actions: Iterable[str] | None) -> frozenset[str] | None:
    """The native types to ask the feed for so that *actions* come back.

    ``None`` asks for every type: no filter, or a wanted action that is not
    ours and so may be a native type passed through (sending a name the API
    does not know is a 400, so it is never sent; the core's filter keeps
    what matches). An empty set means nothing asked for can be in the feed.
    """
    if actions is None:
        return None
    found: set[str] = set()
    for action in actions:
        if action in TABLE.by_action:
            found |= TABLE.by_action[action]
        elif action in TABLE.activities:
            # A mapped native name never comes back as an action.
            continue
        elif action not in TABLE.reserved:
            return None
    return frozenset(found)


def risk_indicators(
    action: str, record: Mapping[str, Any]
) -> tuple[AIRiskIndicator, ...]:
    """The table's risk finding for *action*, if it has one, with the
    record's field the rule names as evidence (when it is text)."""
    rule = TABLE.risks.get(action)
    if rule is None:
        return ()
    value = record.get(rule.evidence) if rule.evidence else None
    evidence = (value,) if isinstance(value, str) and value else ()
    return (
        AIRiskIndicator(
            type=rule.type,
            severity=rule.severity,
            description=rule.description,
            confidence=rule.confidence,
            evidence=evidence,
        ),
    )
