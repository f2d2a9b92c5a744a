"""``aiaudit risks``, and the risk options ``usage`` and ``demo`` share.

The rules in force are the built-in ones, then each plugin's, then the
files of ``AIAUDIT_RISK_RULES``, then ``--rules`` (docs/risk.md); a broken
rule file is an error naming the file, the rule and the key, before any
event is read.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import TYPE_CHECKING, Any

import click
import orjson

from connector_core.cli._common import (
    DATETIME,
    DEFAULT_SINCE,
    UNTIL,
    ZONE,
    Context,
    check_range,
    pass_context,
    store_option,
)
from connector_core.models import AIDateRange, RiskSeverity
from connector_core.risk import SECTIONS, assess, configured_rules
from connector_core.sync import DEFAULT_HISTORY


if TYPE_CHECKING:
    from collections.abc import Sequence

    from connector_core.risk import RiskAssessment, RiskFinding, RiskRule
    from connector_core.serialization import Style


__all__ = [
    "ZONE",
    "risk_assessment",
    "risks_command",
    "rules_in_force",
    "rules_option",
    "tz_option",
]


def tz_option(function: Any) -> Any:
    """``--tz``: the time zone times are shown in."""
    return click.option(
        "--tz",
        "zone",
        type=ZONE,
        default=None,
        help="Show times in this time zone: UTC, local, or an IANA name "
        "(Europe/Berlin). Default: UTC in text; in the HTML report, the "
        "viewer's own.",
    )(function)


def rules_option(function: Any) -> Any:
    """``--rules``: risk rule files added to the built-in ones."""
    return click.option(
        "--rules",
        "rule_files",
        multiple=True,
        type=click.Path(dir_okay=False),
        metavar="FILE",
        help="A TOML file of risk rules added to the built-in ones (a rule "
        "with a built-in id replaces it); repeat for several. "
        "AIAUDIT_RISK_RULES names files too. See docs/risk.md.",
    )(function)


def rules_in_force(ctx: Context, files: Sequence[str] = ()) -> tuple[RiskRule, ...]:
    """The built-in rules, the plugins', the environment's files, then
    *files*."""
    return configured_rules(plugin_rules=ctx.registry.risk_rules(), files=files)


def risk_assessment(
    ctx: Context,
    period: AIDateRange,
    *,
    rules: Sequence[RiskRule],
    connection: str | None = None,
    platform: str | None = None,
) -> RiskAssessment:
    """The stored events of *period* scored by *rules* (those in force:
    :func:`rules_in_force`, read once by the caller)."""
    store = ctx.open_store(read_only=True)
    return assess(
        store,
        period,
        rules,
        connections=() if connection is None else (connection,),
        platform=platform,
    )


def _chosen(
    assessment: RiskAssessment,
    *,
    rules: Sequence[str],
    sections: Sequence[str],
    min_score: float | None,
    severity: str | None,
    users: Sequence[str],
) -> list[RiskFinding]:
    floor = (
        list(RiskSeverity).index(RiskSeverity(severity)) if severity is not None else 0
    )
    wanted_users = {u.lower() for u in users}
    chosen = []
    for finding in assessment.findings:
        if rules and finding.rule not in rules:
            continue
        if sections and finding.section not in sections:
            continue
        if min_score is not None and finding.score < min_score:
            continue
        if list(RiskSeverity).index(finding.severity) < floor:
            continue
        if (
            wanted_users
            and not {
                finding.user_id.lower(),
                (finding.user_email or "").lower(),
            }
            & wanted_users
        ):
            continue
        chosen.append(finding)
    return chosen


@click.command("risks")
@click.option("--connection", help="Only this connection's events.")
@click.option("--platform", help="Only this platform's events.")
@click.option(
    "--since", type=DATETIME, help=f"From this moment (default: {DEFAULT_SINCE})."
)
@click.option(
    "--until",
    type=UNTIL,
    help="Up to this moment, included (default: now); a date alone means the "
    "end of that day (UTC).",
)
@click.option(
    "--rule",
    "rule_ids",
    multiple=True,
    metavar="ID",
    help="Only this rule's findings (failed_sign_in_burst, ...); repeat for "
    "several. --list-rules names them.",
)
@click.option(
    "--section",
    "sections",
    multiple=True,
    type=click.Choice(list(SECTIONS)),
    help="Only this kind of finding; repeat for several.",
)
@click.option(
    "--min-score",
    type=click.FloatRange(0, 100),
    help="Only findings scored at least this (0-100).",
)
@click.option(
    "--severity",
    type=click.Choice([s.value for s in RiskSeverity]),
    help="Only findings at least this severe.",
)
@click.option(
    "--user",
    "users",
    multiple=True,
    help="Only this person's findings (user id, or email in any case); "
    "repeat for several.",
)
@click.option("--limit", type=click.IntRange(min=1), help="At most this many.")
@click.option("--list-rules", is_flag=True, help="List the rules in force and stop.")
@click.option("--camel", is_flag=True, help="JSON in the host's camelCase shape.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@rules_option
@tz_option
@store_option
@pass_context
def risks_command(
    ctx: Context,
    *,
    connection: str | None,
    platform: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    rule_ids: tuple[str, ...],
    sections: tuple[str, ...],
    min_score: float | None,
    severity: str | None,
    users: tuple[str, ...],
    limit: int | None,
    list_rules: bool,
    camel: bool,
    as_json: bool,
    rule_files: tuple[str, ...],
    zone: dt.tzinfo | None,
) -> None:
    """Risk findings in the store, highest score first.

    Every stored event is scored by rules kept as data (docs/risk.md): bursts
    of failed sign-ins, sensitive-looking uploads, keys created off-hours,
    role and access-control changes, sign-ins from a new country, wide
    sharing, and the platforms' own flags. Each finding names its rule,
    score, person, time, what the rule saw, and the events behind it.
    """
    from connector_core.export.security import (  # noqa: PLC0415 - lazy
        rules_data,
        security_data,
    )

    style: Style = "camel" if camel else "snake"
    if list_rules:
        rules = rules_in_force(ctx, rule_files)
        if as_json:
            click.echo(orjson.dumps(rules_data(rules), option=orjson.OPT_INDENT_2))
            return
        for rule in rules:
            state = "" if rule.enabled else "  (off)"
            click.echo(
                f"{rule.id:<26} {rule.score:>5.0f}  {rule.severity.value:<8}"
                f" {rule.section:<10} {rule.title}{state}"
            )
        return
    in_force = rules_in_force(ctx, rule_files)
    known = {rule.id for rule in in_force}
    unknown = sorted(set(rule_ids) - known)
    if unknown:
        raise click.BadParameter(
            f"no rule {', '.join(unknown)}; the rules are: {', '.join(sorted(known))}",
            param_hint="--rule",
        )
    end = until or dt.datetime.now(dt.UTC)
    check_range(since, end, until_is_now=until is None)
    period = AIDateRange(start=since or end - DEFAULT_HISTORY, end=end)
    if connection is not None:
        from connector_core.cli._reading import _check_connection  # noqa: PLC0415

        _check_connection(ctx, connection)
    assessment = risk_assessment(
        ctx, period, rules=in_force, connection=connection, platform=platform
    )
    chosen = _chosen(
        assessment,
        rules=rule_ids,
        sections=sections,
        min_score=min_score,
        severity=severity,
        users=users,
    )
    if limit is not None:
        chosen = chosen[:limit]
    if as_json:
        data = security_data(assessment, style, findings=chosen)
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    _print_findings(assessment, chosen, ctx.registry.display_names, zone or dt.UTC)


def _print_findings(
    assessment: RiskAssessment,
    findings: Sequence[RiskFinding],
    names: Any,
    zone: dt.tzinfo,
) -> None:
    from connector_core.export.security import (  # noqa: PLC0415 - lazy
        findings_lines,
        zone_name,
    )

    period = assessment.period
    click.echo(
        f"{len(findings):,} of {len(assessment.findings):,} findings,"
        f" {period.start.astimezone(zone):%Y-%m-%d %H:%M} to"
        f" {period.end.astimezone(zone):%Y-%m-%d %H:%M} ({zone_name(zone)})"
    )
    if not findings:
        return
    for line in findings_lines(findings, names, zone):
        click.echo(line)
