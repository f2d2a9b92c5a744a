"""Proving that a sandbox seeds the risks its platform can show.

A connector's sandbox plans the kinds of risk a demo should find (a burst
of failed sign-ins, a sensitive upload, a key made at night); its tests
read the seeded history through the connector and ask the risk engine,
with the built-in rules, what it finds: the rules are never restated in a
test, so a test proves what a user will see::

    from connector_core.testing.risk import assessed

    history = assessed(logs, period)
    assert history.found("failed_sign_in_burst")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from connector_core.models import AIAuditLog
from connector_core.risk import RiskAssessment, RiskFinding, assess_logs, default_rules


if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from connector_core.models import AIDateRange
    from connector_core.risk import RiskRule


__all__ = ["Assessed", "assessed"]


@attrs.frozen
class Assessed:
    """Logs in time order and what the rules found in them.

    Attributes:
        logs: The logs, oldest first (ties by id).
        assessment: The engine's findings over the period.
    """

    logs: tuple[AIAuditLog, ...]
    assessment: RiskAssessment

    def found(self, rule: str) -> list[RiskFinding]:
        """The findings of the rule *rule* (its id), highest score first."""
        return [f for f in self.assessment.findings if f.rule == rule]

    def actions(self, rule: str) -> set[str]:
        """The actions of the events behind *rule*'s findings."""
        return {event.action for f in self.found(rule) for event in f.events}

    def log(self, finding: RiskFinding) -> AIAuditLog:
        """The log behind a one-event finding, for what a finding leaves
        out (the metadata, the raw record).

        Raises:
            ValueError: The finding has several events.
            LookupError: Its event is not among the logs.
        """
        if len(finding.events) != 1:
            raise ValueError(
                f"finding {finding.rule!r} has {len(finding.events)} events, not one"
            )
        wanted = finding.events[0].id
        for log in self.logs:
            if log.id == wanted:
                return log
        raise LookupError(f"no log {wanted!r} behind finding {finding.rule!r}")


def assessed(
    logs: Iterable[AIAuditLog],
    period: AIDateRange,
    rules: Sequence[RiskRule] | None = None,
) -> Assessed:
    """*logs* put in time order and scored over *period* by *rules* (the
    built-in ones by default), as the store's readers score them."""
    ordered = tuple(sorted(logs, key=lambda log: (log.timestamp, log.id)))
    chosen = default_rules() if rules is None else rules
    return Assessed(ordered, assess_logs(ordered, period, chosen))
