"""The mapping table, ``event_map.toml``, and the questions it answers.

What is mapped to what is data, in ``event_map.toml`` beside this module:
one table per Reports API application read (each a stream), each row keyed
by the event's native type, ``<type>/<name>``, or ``<type>/*`` for the names
of a type that have no row of their own. This module checks and indexes the
table once, at import, and answers from it both ways: what an event becomes
(for the normalizer) and which event names to ask the API for when a caller
filters by unified action (for the reader, as ``eventName``).

A table that cannot be read is a packaging bug, not an outside input, so
loading it raises :class:`EventMapError` naming the entry at fault.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any, Final

import attrs

from connector_core.models import (
    AIActivityType,
    AIRiskIndicator,
    AIRiskType,
    RiskSeverity,
)


__all__ = [
    "APPLICATIONS",
    "PLATFORM",
    "TABLE",
    "EventMapError",
    "Row",
    "Table",
    "event_names",
    "load_table",
    "native_type",
    "risk",
    "row_for",
]

PLATFORM: Final = "gemini"

_ROW_KEYS: Final = frozenset(
    {
        "action",
        "activity",
        "resource",
        "feature_app",
        "feature_app_param",
        "feature",
        "feature_param",
        "feature_event",
        "app_access",
        "error_param",
        "failure",
        "risk",
    }
)
_ACCESS: Final = frozenset({"granted", "revoked"})


class EventMapError(ValueError):
    """``event_map.toml`` is malformed; the message names the entry."""


@attrs.frozen(kw_only=True)
class Row:
    """One row of the table: what an event becomes. ``action`` may hold
    ``{name}``, the event's name (see :meth:`action_for`)."""

    action: str
    activity: AIActivityType
    resource: str | None = None
    feature_app: str | None = None
    feature_app_param: str | None = None
    feature: str | None = None
    feature_param: str | None = None
    feature_event: bool = False
    app_access: str | None = None
    error_param: str | None = None
    failure: bool = False
    risk: str | None = None

    def action_for(self, name: str) -> str:
        return self.action.replace("{name}", name)


@attrs.frozen(kw_only=True)
class _Risk:
    type: AIRiskType
    severity: RiskSeverity
    confidence: float
    description: str


@attrs.frozen(kw_only=True)
class Table:
    """``event_map.toml``, checked and indexed.

    Attributes:
        pass_through_activity: The activity of an event the table does not
            list.
        reserved: Unified actions valid in filters that no event produces.
        applications: Each application's rows, by native type.
        risks: Risk rules by name.
        by_action: Each application's reverse index: a fixed action (one
            without ``{name}``) to the event names that produce it (``*``
            when a type's unlisted names do too).
    """

    pass_through_activity: AIActivityType
    reserved: frozenset[str]
    applications: Mapping[str, Mapping[str, Row]]
    risks: Mapping[str, _Risk]
    by_action: Mapping[str, Mapping[str, frozenset[str]]]

    def actions(self, application: str) -> tuple[str, ...]:
        """The fixed actions an application's events map to."""
        return tuple(sorted(self.by_action.get(application, {})))


def _section(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise EventMapError(f"[{name}] must be a table")
    return value


def _optional_text(entry: Mapping[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise EventMapError(f"{where}: {key} must be a non-empty string")
    return value


def _row(application: str, native: str, entry: object) -> Row:
    where = f"[applications.{application}] {native!r}"
    if "/" not in native:
        raise EventMapError(f"{where}: keys are <type>/<name> or <type>/*")
    if not isinstance(entry, Mapping):
        raise EventMapError(f"{where} must be an inline table")
    unknown = sorted(set(entry) - _ROW_KEYS)
    if unknown:
        raise EventMapError(f"{where} has unknown key(s) {', '.join(unknown)}")
    action = entry.get("action")
    if not isinstance(action, str) or not action:
        raise EventMapError(f"{where}: action must be a non-empty string")
    try:
        activity = AIActivityType(str(entry.get("activity")))
    except ValueError:
        raise EventMapError(
            f"{where}: activity must be one of {', '.join(AIActivityType)}"
        ) from None
    access = _optional_text(entry, "app_access", where)
    if access is not None and access not in _ACCESS:
        raise EventMapError(f"{where}: app_access must be granted or revoked")
    flags = {k: entry.get(k, False) for k in ("feature_event", "failure")}
    if not all(isinstance(v, bool) for v in flags.values()):
        raise EventMapError(f"{where}: feature_event and failure must be booleans")
    return Row(
        action=action,
        activity=activity,
        app_access=access,
        feature_event=flags["feature_event"],
        failure=flags["failure"],
        **{
            key: _optional_text(entry, key, where)
            for key in (
                "resource",
                "feature_app",
                "feature_app_param",
                "feature",
                "feature_param",
                "error_param",
                "risk",
            )
        },
    )


def _risk(name: str, entry: object) -> _Risk:
    where = f"[risks.{name}]"
    if not isinstance(entry, Mapping):
        raise EventMapError(f"{where} must be a table")
    try:
        return _Risk(
            type=AIRiskType(entry["type"]),
            severity=RiskSeverity(entry["severity"]),
            confidence=float(entry["confidence"]),
            description=str(entry["description"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise EventMapError(f"{where}: {type(exc).__name__}: {exc}") from None


def _application(
    application: str, rows: object, risks: Mapping[str, _Risk]
) -> dict[str, Row]:
    if not isinstance(rows, Mapping):
        raise EventMapError(f"[applications.{application}] must be a table")
    checked = {native: _row(application, native, e) for native, e in rows.items()}
    for native, row in checked.items():
        if row.risk is not None and row.risk not in risks:
            raise EventMapError(
                f"[applications.{application}] {native!r}: no [risks.{row.risk}]"
            )
    return checked


def _index(rows: Mapping[str, Row]) -> dict[str, frozenset[str]]:
    """Each fixed action of an application's rows and the event names that
    produce it. A ``*`` row's action comes from names the table does not
    know: "*" among its names says the application cannot be narrowed."""
    index: dict[str, set[str]] = {}
    for native, row in rows.items():
        if "{name}" not in row.action:
            index.setdefault(row.action, set()).add(native.partition("/")[2])
    return {action: frozenset(names) for action, names in index.items()}


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
    try:
        pass_through = AIActivityType(
            str(_section(data, "defaults").get("pass_through_activity"))
        )
    except ValueError:
        raise EventMapError(
            "[defaults] pass_through_activity must be an activity type"
        ) from None
    reserved = _section(data, "vocabulary").get("reserved", [])
    if not isinstance(reserved, list) or not all(isinstance(a, str) for a in reserved):
        raise EventMapError("[vocabulary] reserved must be a list of strings")
    risks = {name: _risk(name, e) for name, e in _section(data, "risks").items()}
    applications: dict[str, dict[str, Row]] = {}
    by_action: dict[str, dict[str, frozenset[str]]] = {}
    for application, rows in _section(data, "applications").items():
        applications[application] = _application(application, rows, risks)
        by_action[application] = _index(applications[application])
    return Table(
        pass_through_activity=pass_through,
        reserved=frozenset(reserved),
        applications=applications,
        risks=risks,
        by_action=by_action,
    )


TABLE: Final = load_table(
    resources.files(__package__).joinpath("event_map.toml").read_text("utf-8")
)

APPLICATIONS: Final = tuple(TABLE.applications)
"""The Reports API applications read, one stream each, in the table's
order."""


def native_type(event_type: str | None, name: str) -> str:
    """The native type of an event: ``<type>/<name>``, or its name alone
    when it has no type."""
    return f"{event_type}/{name}" if event_type else name


def row_for(application: str, event_type: str | None, name: str) -> Row:
    """What an event of *application* becomes: its row, its type's ``*``
    row, or a pass-through row that keeps the native type as the action."""
    rows = TABLE.applications.get(application, {})
    if event_type:
        row = rows.get(f"{event_type}/{name}") or rows.get(f"{event_type}/*")
        if row is not None:
            return row
    return Row(
        action=native_type(event_type, name), activity=TABLE.pass_through_activity
    )


def event_names(
    application: str, actions: Iterable[str] | None
) -> frozenset[str] | None:
    """The event names of *application* to ask for so that *actions* come
    back.

    ``None`` asks for every event: no filter, or a wanted action that is not
    a fixed action of the table (it may be a templated one, or a native type
    passed through; the reader's own filter keeps what matches). An empty
    set means nothing asked for can be in this application.
    """
    if actions is None:
        return None
    index = TABLE.by_action.get(application, {})
    every = {a for rows in TABLE.by_action.values() for a in rows}
    found: set[str] = set()
    for action in actions:
        if action in index:
            found |= index[action]
        elif action in every or action in TABLE.reserved:
            continue  # another application's, or none's
        else:
            return None
    return None if "*" in found else frozenset(found)


def risk(name: str, evidence: Iterable[str] = ()) -> AIRiskIndicator:
    """The indicator of the rule *name* of ``[risks]``."""
    rule = TABLE.risks[name]
    return AIRiskIndicator(
        type=rule.type,
        severity=rule.severity,
        description=rule.description,
        confidence=rule.confidence,
        evidence=tuple(e for e in evidence if e),
    )
