"""The mapping table, ``event_map.toml``, and the questions it answers.

What is mapped to what is data, in ``event_map.toml`` beside this module, so a
reviewer reads a table rather than code and the documentation is checked
against the same table. This module checks and indexes the table once, at
import, and answers from it both ways: what a native type becomes (for the
normalizers) and which native types to ask each API for when a caller
filters by unified action (for the readers, so a filter is pushed down).
"""

from __future__ import annotations

import re
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
    "CONVERSATION_MESSAGE",
    "PLATFORM",
    "STREAM_ADMIN",
    "STREAM_COMPLIANCE",
    "STREAM_GPTS",
    "TABLE",
    "UNIFIED_ACTIONS",
    "NativeFilter",
    "Row",
    "actions_of",
    "is_tenant_scoped",
    "native_filter",
    "risk_indicators",
]

PLATFORM: Final = "chatgpt"
STREAM_ADMIN: Final = "admin_audit_logs"
STREAM_COMPLIANCE: Final = "compliance_logs"
STREAM_GPTS: Final = "custom_gpts"

CONVERSATION_MESSAGE: Final = "CONVERSATION_MESSAGE"

# The shape of an Admin API event type (``tenant.user.added``).
_ADMIN_TYPE_SHAPE: Final = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)+")


# --------------------------------------------------------------------------
# The mapping table
# --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Row:
    """One row of the table: what a native type becomes."""

    action: str
    activity: AIActivityType
    resource: str | None = None
    tenant: bool = False
    widened: str | None = None
    narrowed: str | None = None


@attrs.frozen(kw_only=True)
class _Risk:
    type: AIRiskType
    severity: RiskSeverity
    confidence: float
    description: str


@attrs.frozen(kw_only=True)
class _Table:
    """``event_map.toml``, checked and indexed once at import."""

    pass_through_activity: AIActivityType
    reserved: frozenset[str]
    admin: Mapping[str, Row]
    admin_prefixes: Mapping[str, bool]  # prefix -> tenant-scoped
    messages: Mapping[str, Row]
    events: Mapping[str, Mapping[str, Row]]
    other_types: Mapping[str, AIActivityType]
    visibility: Mapping[str, int]
    gpts: Mapping[str, Row]
    risks: Mapping[str, _Risk]


def _row(entry: Mapping[str, Any]) -> Row:
    return Row(
        action=entry["action"],
        activity=AIActivityType(entry["activity"]),
        resource=entry.get("resource"),
        tenant=entry.get("tenant", False),
        widened=entry.get("widened"),
        narrowed=entry.get("narrowed"),
    )


def _load_table() -> _Table:
    """Read the shipped table; a broken table is a packaging bug, so it raises."""
    text = resources.files(__package__).joinpath("event_map.toml").read_text("utf-8")
    data = tomllib.loads(text)
    admin = data["admin"]
    compliance = data["compliance"]
    return _Table(
        pass_through_activity=AIActivityType(data["defaults"]["pass_through_activity"]),
        reserved=frozenset(data["vocabulary"]["reserved"]),
        admin={native: _row(entry) for native, entry in admin["types"].items()},
        admin_prefixes={
            prefix: rule.get("tenant", False)
            for prefix, rule in admin["prefixes"].items()
            if rule["rule"] == "pass_through"
        },
        messages={key: _row(entry) for key, entry in compliance["messages"].items()},
        events={
            record_type: {name: _row(entry) for name, entry in table.items()}
            for record_type, table in compliance["events"].items()
        },
        other_types={
            record_type: AIActivityType(activity)
            for record_type, activity in compliance["other_types"].items()
        },
        visibility={
            name: rank for rank, name in enumerate(data["visibility"]["order"])
        },
        gpts={key: _row(entry) for key, entry in data["gpts"].items()},
        risks={
            action: _Risk(
                type=AIRiskType(risk["type"]),
                severity=RiskSeverity(risk["severity"]),
                confidence=float(risk["confidence"]),
                description=risk["description"],
            )
            for action, risk in data["risks"].items()
        },
    )


TABLE: Final = _load_table()


def _actions(rows: Iterable[Row]) -> frozenset[str]:
    found: set[str] = set()
    for row in rows:
        found.update(a for a in (row.action, row.widened, row.narrowed) if a)
    return frozenset(found)


_ADMIN_ACTIONS: Final = _actions(TABLE.admin.values())
_COMPLIANCE_TYPE_ACTIONS: Final[Mapping[str, frozenset[str]]] = {
    CONVERSATION_MESSAGE: _actions(TABLE.messages.values()),
    **{t: _actions(rows.values()) for t, rows in TABLE.events.items()},
}
_COMPLIANCE_ACTIONS: Final = frozenset().union(*_COMPLIANCE_TYPE_ACTIONS.values())
_GPT_ACTIONS: Final = _actions(TABLE.gpts.values())
_KNOWN_COMPLIANCE_TYPES: Final = frozenset(
    {*_COMPLIANCE_TYPE_ACTIONS, *TABLE.other_types}
)

UNIFIED_ACTIONS: Final[frozenset[str]] = frozenset(
    {*_ADMIN_ACTIONS, *_COMPLIANCE_ACTIONS, *_GPT_ACTIONS, *TABLE.reserved}
)
"""Every action of our vocabulary: what the table maps to, plus the reserved
actions of the plan that no API reports yet. Pass-through actions are not in
it: they are native names, open-ended by nature."""

_STREAM_ACTIONS: Final[Mapping[str, tuple[str, ...]]] = {
    STREAM_ADMIN: tuple(sorted(_ADMIN_ACTIONS)),
    STREAM_COMPLIANCE: tuple(sorted(_COMPLIANCE_ACTIONS)),
    STREAM_GPTS: tuple(sorted(_GPT_ACTIONS)),
}


def actions_of(stream: str) -> tuple[str, ...]:
    """The mapped actions *stream* can produce, sorted, for ``StreamInfo``.

    Pass-through actions (native types nobody mapped) are open-ended and so
    not listed; :func:`native_filter` still routes them.

    Raises:
        ValueError: *stream* is not one of this connector's streams.
    """
    try:
        return _STREAM_ACTIONS[stream]
    except KeyError:
        raise ValueError(
            f"unknown stream {stream!r}; expected one of {sorted(_STREAM_ACTIONS)}"
        ) from None


def is_tenant_scoped(native_type: str) -> bool:
    """Whether the Admin API returns *native_type* only with ``tenant_only``.

    The API refuses a request mixing tenant-scoped and organization event
    types, so a reader splits :attr:`NativeFilter.admin_event_types` by this.
    """
    row = TABLE.admin.get(native_type)
    if row is not None:
        return row.tenant
    return any(
        tenant and native_type.startswith(prefix)
        for prefix, tenant in TABLE.admin_prefixes.items()
    )


def risk_indicators(
    action: str, evidence: tuple[str, ...]
) -> tuple[AIRiskIndicator, ...]:
    rule = TABLE.risks.get(action)
    if rule is None:
        return ()
    return (
        AIRiskIndicator(
            type=rule.type,
            severity=rule.severity,
            description=rule.description,
            confidence=rule.confidence,
            evidence=evidence,
        ),
    )


# --------------------------------------------------------------------------
# Filter pushdown
# --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class NativeFilter:
    """What to ask each API for so that only the wanted actions come back.

    Attributes:
        admin_event_types: Admin API ``event_types[]``; ``None`` asks for all,
            an empty set means the admin API need not be read at all.
        compliance_event_types: Logs Platform ``event_type`` values
            (``CONVERSATION_MESSAGE``, ``AUTH_LOG``...); ``None`` for all,
            empty to skip the Logs Platform.
        gpts: Whether the ``/gpts`` listing is needed.
    """

    admin_event_types: frozenset[str] | None
    compliance_event_types: frozenset[str] | None
    gpts: bool


_ADMIN_BY_ACTION: Final[Mapping[str, frozenset[str]]] = {
    action: frozenset(n for n, row in TABLE.admin.items() if row.action == action)
    for action in _ADMIN_ACTIONS
}


def _compliance_pass_through_type(action: str) -> str | None:
    # Pass-through compliance actions are ``<type>.<event_type>`` lowercased.
    record_type = action.partition(".")[0].upper()
    return record_type if record_type in _KNOWN_COMPLIANCE_TYPES else None


def native_filter(actions: Iterable[str] | None) -> NativeFilter:
    """Translate unified *actions* into what each API should be asked for.

    An action that is not ours but looks like an Admin API event type is
    taken for a pass-through type (one not in the table) and asked for by
    its own name, since that is the action such records get. An action no
    source can produce leaves every source with an empty set, so nothing is
    read for it.
    """
    if actions is None:
        return NativeFilter(
            admin_event_types=None, compliance_event_types=None, gpts=True
        )
    wanted = frozenset((actions,) if isinstance(actions, str) else actions)
    admin: set[str] = set()
    compliance = {
        record_type
        for record_type, produced in _COMPLIANCE_TYPE_ACTIONS.items()
        if produced & wanted
    }
    for action in wanted:
        admin |= _ADMIN_BY_ACTION.get(action, frozenset())
        if action in UNIFIED_ACTIONS or action in TABLE.admin:
            continue
        record_type = _compliance_pass_through_type(action)
        if record_type is not None:
            compliance.add(record_type)
        elif _ADMIN_TYPE_SHAPE.fullmatch(action):
            admin.add(action)
    return NativeFilter(
        admin_event_types=frozenset(admin),
        compliance_event_types=frozenset(compliance),
        gpts=not wanted.isdisjoint(_GPT_ACTIONS),
    )
