"""Risk: stored events scored by rules kept as data.

The rules (``rules.toml`` here, one ``[[rule]]`` each; ``docs/risk.md``
lists them) are written in our normalized vocabulary, so one set scores
every platform. :func:`assess` reads a store's events of a period and
returns a :class:`RiskAssessment`: the findings (one event, or a burst of
them, that a rule picked, with its score), each scored event's risk score,
and the per-person views of the security section (failed sign-ins, uploads).

A host adds rules of its own by passing them (:func:`load_rules`,
:func:`read_rules_file`, :func:`merge_rules`), by a file named in
``AIAUDIT_RISK_RULES``, or from a plugin's ``aiaudit_risk_rules`` hook: see
:func:`configured_rules`.
"""

from __future__ import annotations

import functools
import os
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from connector_core.risk._engine import (
    FailedSignIns,
    RiskAssessment,
    RiskEvent,
    RiskFinding,
    Uploads,
    assess,
    assess_logs,
)
from connector_core.risk._rules import (
    SECTIONS,
    RiskRule,
    RuleKind,
    default_rules,
    load_rules,
    merge_rules,
    read_rules_file,
)


if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


__all__ = [
    "RULES_ENVIRONMENT",
    "SECTIONS",
    "FailedSignIns",
    "RiskAssessment",
    "RiskEvent",
    "RiskFinding",
    "RiskRule",
    "RuleKind",
    "Uploads",
    "assess",
    "assess_logs",
    "configured_rules",
    "default_rules",
    "load_rules",
    "merge_rules",
    "read_rules_file",
    "security_relevant",
]

RULES_ENVIRONMENT = "AIAUDIT_RISK_RULES"
"""Rule files a host adds, separated as ``PATH`` is (``:`` on Unix)."""


def configured_rules(
    *,
    plugin_rules: Iterable[Sequence[RiskRule]] = (),
    files: Sequence[str] = (),
    environ: dict[str, str] | None = None,
) -> tuple[RiskRule, ...]:
    """The rules in force: the built-in ones, then the plugins' (from their
    ``aiaudit_risk_rules`` hook), then the files of ``AIAUDIT_RISK_RULES``,
    then *files* (``--rules``); each later rule replaces an earlier one with
    its id."""
    env = os.environ if environ is None else environ
    named = [p for p in env.get(RULES_ENVIRONMENT, "").split(os.pathsep) if p]
    return merge_rules(
        default_rules(),
        *plugin_rules,
        *(read_rules_file(path) for path in [*named, *files]),
    )


@functools.cache
def _security_patterns() -> tuple[str, ...]:
    return tuple(
        pattern
        for rule in default_rules()
        if rule.enabled
        for pattern in rule.actions
        if pattern != "*"
    )


def security_relevant(action: str) -> bool:
    """Whether a built-in rule names *action* (a rule reading every event
    aside): such a type is listed on its own in the reports, never folded
    into "other types", however rare."""
    return any(
        pattern == action or fnmatchcase(action, pattern)
        for pattern in _security_patterns()
    )
