"""Starting and stopping the sandbox, in-process or from the command line.

:class:`ChatGPTSandbox` starts both applications (the API host and the
storage host) on loopback ports and hands back everything a client needs:
base URLs, keys, and the generated data itself, which tests use as ground
truth. :class:`SandboxProvider` is what the plugin contributes through the
``aiaudit_sandbox`` hook.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
from aiohttp import web

from aiaudit_chatgpt.sandbox._web import SandboxKeys
from aiaudit_chatgpt.sandbox.app import (
    RateLimiter,
    SandboxState,
    build_api_app,
    build_storage_app,
)
from aiaudit_chatgpt.sandbox.audit import AuditLogData
from aiaudit_chatgpt.sandbox.compliance_data import ComplianceData
from aiaudit_chatgpt.sandbox.faults import FaultInjector
from aiaudit_chatgpt.sandbox.org import CustomGPT, Organization, stable_token
from aiaudit_chatgpt.sandbox.poison import GPT_POISONS, POISONS, dumps, spread
from aiaudit_chatgpt.sandbox.usage import UsageData
from connector_core.paging import matches
from connector_core.sandbox import RunningSandbox, SandboxOptions
from connector_core.streams import QuarantinedRecord


if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from connector_core.models import AIAuditLog, AIAuditLogQuery


__all__ = ["ChatGPTSandbox", "SandboxProvider", "build_state", "write_ground_truth"]


def _history_end(options: SandboxOptions) -> datetime:
    if options.end is not None:
        return options.end.astimezone(UTC)
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


FUTURE_GPT_CREATED: Final = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp())
"""When the ``late`` profile's clock-skewed GPT says it was created."""


def _draw(seed: int, salt: str, number: int) -> float:
    digest = hashlib.blake2b(f"{seed}:{salt}:{number}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") / 2.0**64


def _future_gpt(org: Organization) -> CustomGPT:
    """A GPT dated 2100, as a skewed clock or a bad import leaves one."""
    return CustomGPT(
        index=len(org.gpts),
        id=f"g-{stable_token(org.seed, 'gpt-future', length=20)}",
        name="Time Traveller",
        description="Created, it says, in 2100.",
        owner=0,
        created_at=FUTURE_GPT_CREATED,
        updated_at=FUTURE_GPT_CREATED,
        instructions="You are from the future. Be concise.",
        tools=(),
        sharing="workspace",
    )


def _hold_back(state: SandboxState, options: SandboxOptions) -> None:
    """The ``late`` profile: hide a share of the recent events until the
    sandbox has served for ``options.publish_delay`` seconds.

    Recent means within the connector's declared publication lag of the end
    of history: the admin audit log's events by ``effective_at``, the Logs
    Platform's files by end time. A GPT has no lag (the listing is read
    whole), so the newest share of the GPTs is held back instead.
    """
    # The connector's reader declares the lags; importing it here keeps the
    # sandbox's "late" exactly as late as the reader promises to handle.
    from aiaudit_chatgpt.admin_reader import ADMIN_PUBLICATION_LAG  # noqa: PLC0415
    from aiaudit_chatgpt.files_reader import FILES_PUBLICATION_LAG  # noqa: PLC0415

    org, rate, seed = state.org, options.fault_rate, options.seed
    state.publication.delay = options.publish_delay
    audit = state.audit
    cutoff = int((org.end - ADMIN_PUBLICATION_LAG).timestamp())
    first = bisect.bisect_left(audit.times, cutoff)
    audit.hidden = frozenset(
        i for i in range(first, len(audit)) if _draw(seed, "late-audit", i) < rate
    )
    audit.publication = state.publication
    compliance = state.compliance
    recent = org.end - FILES_PUBLICATION_LAG
    compliance.hidden_files = frozenset(
        f.id
        for n, f in enumerate(compliance.iter_log_files())
        if f.end_time > recent and _draw(seed, "late-file", n) < rate
    )
    regular = sorted(
        (g for g in org.gpts if g.created_at != FUTURE_GPT_CREATED),
        key=lambda g: (g.created_at, g.id),
    )
    count = math.ceil(rate * len(regular))
    compliance.hidden_gpts = frozenset(g.id for g in regular[len(regular) - count :])
    compliance.publication = state.publication


def build_state(options: SandboxOptions) -> SandboxState:
    """Generate the organization and every API's data for *options*."""
    end = _history_end(options)
    org = Organization.generate(
        seed=options.seed,
        events=options.events,
        start=end - timedelta(days=options.days),
        end=end,
    )
    if options.faults == "late":
        org = attrs.evolve(org, gpts=(*org.gpts, _future_gpt(org)))
    seed = options.seed
    keys = SandboxKeys(
        admin=f"sk-admin-sandbox-{stable_token(seed, 'key-admin', length=32)}",
        admin_no_audit=(
            f"sk-admin-sandbox-{stable_token(seed, 'key-limited', length=32)}"
        ),
        compliance=f"sk-comp-sandbox-{stable_token(seed, 'key-compliance', length=32)}",
    )
    faults = (
        FaultInjector(options.faults, rate=options.fault_rate, seed=seed)
        if options.faults
        else None
    )
    state = SandboxState(
        org=org,
        keys=keys,
        audit=AuditLogData.generate(org, events=options.events),
        usage=UsageData.generate(org),
        compliance=ComplianceData.generate(org, messages=max(50, options.events // 2)),
        faults=faults,
        limiter=RateLimiter(options.rate_limit) if options.rate_limit else None,
    )
    if faults is not None:
        faults.credentials = frozenset(
            {keys.admin, keys.admin_no_audit, keys.compliance}
        )
    if options.faults == "listing_after_exclusive":
        state.compliance.after_exclusive = True
    if options.faults == "late":
        _hold_back(state, options)
    if options.faults == "poisoned":
        _poison(state)
    if options.faults == "oversized":
        state.compliance.choose_oversized()
    return state


def _poison(state: SandboxState) -> None:
    """The ``poisoned`` profile: spoil a few records of the audit log and
    the Logs Platform in place, and add a few spoiled GPTs (see
    :mod:`aiaudit_chatgpt.sandbox.poison`).

    Each spoiled record keeps its id, so its events keep their log ids: the
    ids are taken from the record as it is served unspoiled, normalized as
    the connector does, and kept with the record's native id in
    ``state.poisoned_ids``, those within the history (a read of it meets
    them).
    """
    from aiaudit_chatgpt.normalize import Normalizer  # noqa: PLC0415

    org, audit, compliance = state.org, state.audit, state.compliance
    normalizer = Normalizer(organization_id=org.org_id, workspace_id=org.workspace_id)
    found: dict[str, str] = {}

    def note(
        result: AIAuditLog | list[AIAuditLog] | QuarantinedRecord, native: str
    ) -> None:
        logs = result if isinstance(result, list) else [result]
        for entry in logs:
            # An event outside the history (a GPT created before it) is
            # not one a read of the history gives.
            if not isinstance(entry, QuarantinedRecord) and (
                org.start <= entry.timestamp < org.end
            ):
                found[entry.id] = native

    chosen = spread(audit.poison_candidates(), len(POISONS))
    for index, poison in zip(chosen, POISONS, strict=False):
        record = audit.record(index)
        note(normalizer.admin_audit_log(record), record["id"])
        audit.poisoned[index] = poison
    files = spread(list(range(len(compliance.sign_in_files()))), len(POISONS))
    names = compliance.sign_in_files()
    for number, poison in zip(files, POISONS, strict=False):
        file_id = names[number]
        record = next(compliance.iter_file_records(file_id))
        note(normalizer.compliance_record(record, log_id=file_id), record["event_id"])
        compliance.poisoned_lines[file_id] = {0: poison}
    # The GPTs are few (two in a small history), so the spoiled ones are
    # added, created within the history, rather than picked.
    step = (org.end - org.start) / (len(GPT_POISONS) + 1)
    for number, poison in enumerate(GPT_POISONS):
        created = int((org.start + step * (number + 1)).timestamp())
        gpt = CustomGPT(
            index=len(org.gpts) + number,
            id=f"g-{stable_token(org.seed, 'gpt-poisoned', number, length=20)}",
            name=f"Poisoned {number}",
            description="Served with a value no store takes as it is.",
            owner=number % len(org.users),
            created_at=created,
            updated_at=created,
            instructions="Be concise.",
            tools=(),
            sharing="workspace",
        )
        compliance.add_gpts([gpt])
        note(normalizer.custom_gpt(compliance.gpt(gpt)), gpt.id)
        compliance.poisoned_gpts[gpt.id] = poison
    state.poisoned_ids = found


def write_ground_truth(state: SandboxState, directory: Path) -> dict[str, int]:
    """Write every record the sandbox serves, as JSON lines, into *directory*.

    ``audit_logs.jsonl`` holds every audit event (tenant-scoped ones too),
    oldest first; ``compliance_logs.jsonl`` holds every Logs Platform record,
    one per line, as ``{"log_id", "event_type", "record"}``, in listing
    order. Returns the number of lines written to each.
    """
    directory.mkdir(parents=True, exist_ok=True)
    audit = state.audit.write_ground_truth(str(directory / "audit_logs.jsonl"))
    compliance = 0
    with (directory / "compliance_logs.jsonl").open("wb") as out:
        for log_file in state.compliance.iter_log_files():
            for record in state.compliance.iter_file_records(log_file.id):
                # A poisoned record holds a lone surrogate: written as the
                # escape the API serves, never stopping the file part-way.
                line = {
                    "log_id": log_file.id,
                    "event_type": log_file.event_type,
                    "record": record,
                }
                out.write(dumps(line, newline=True))
                compliance += 1
    return {"audit_logs": audit, "compliance_logs": compliance}


class ChatGPTSandbox:
    """A running sandbox: two loopback servers over one generated state.

    Use :meth:`run` as an async context manager.
    """

    def __init__(self, options: SandboxOptions, state: SandboxState) -> None:
        self.options = options
        self.state = state
        self.api_url = ""
        self.storage_url = ""
        self._runners: list[web.AppRunner] = []

    @classmethod
    @contextlib.asynccontextmanager
    async def run(cls, options: SandboxOptions) -> AsyncIterator[ChatGPTSandbox]:
        """Generate the data (off the event loop) and serve it until exit."""
        state = await asyncio.to_thread(build_state, options)
        if options.ground_truth_dir is not None:
            await asyncio.to_thread(
                write_ground_truth, state, Path(options.ground_truth_dir)
            )
        sandbox = cls(options, state)
        try:
            await sandbox._start()
            yield sandbox
        finally:
            await sandbox._stop()

    async def _start(self) -> None:
        self.state.publication.start()
        storage = web.AppRunner(
            build_storage_app(self.state, self.options), access_log=None
        )
        await storage.setup()
        self._runners.append(storage)
        storage_site = web.TCPSite(storage, self.options.host, 0)
        await storage_site.start()
        self.storage_url = _site_url(storage, self.options.host)
        self.state.storage_base = self.storage_url
        api = web.AppRunner(build_api_app(self.state, self.options), access_log=None)
        await api.setup()
        self._runners.append(api)
        await web.TCPSite(api, self.options.host, self.options.port).start()
        self.api_url = _site_url(api, self.options.host)
        if self.options.faults == "redirect":
            # Signed downloads on the same host and port: every hop of this
            # profile is a same-origin redirect.
            self.state.storage_base = self.api_url

    async def _stop(self) -> None:
        while self._runners:
            await self._runners.pop().cleanup()

    @property
    def keys(self) -> SandboxKeys:
        return self.state.keys

    @property
    def admin_base_url(self) -> str:
        """What ``OPENAI_BASE_URL`` is set to for this sandbox."""
        return f"{self.api_url}/v1"

    @property
    def compliance_base_url(self) -> str:
        """What ``CHATGPT_COMPLIANCE_BASE_URL`` is set to for this sandbox."""
        return f"{self.api_url}/v1"

    def connector_config(self) -> dict[str, Any]:
        """A connector configuration pointing at this sandbox, both APIs on."""
        return {
            "api_key": self.keys.admin,
            "organization_id": self.state.org.org_id,
            "base_url": self.admin_base_url,
            "compliance_api_key": self.keys.compliance,
            "workspace_id": self.state.org.workspace_id,
            "compliance_base_url": self.compliance_base_url,
        }

    def environment(self) -> dict[str, str]:
        """The environment variables that describe the same configuration."""
        return {
            "OPENAI_ADMIN_KEY": self.keys.admin,
            "OPENAI_ORGANIZATION_ID": self.state.org.org_id,
            "OPENAI_BASE_URL": self.admin_base_url,
            "CHATGPT_COMPLIANCE_API_KEY": self.keys.compliance,
            "CHATGPT_WORKSPACE_ID": self.state.org.workspace_id,
            "CHATGPT_COMPLIANCE_BASE_URL": self.compliance_base_url,
        }

    def expected_logs(self, query: AIAuditLogQuery) -> dict[str, AIAuditLog]:
        """What a complete read of *query* must return: every record this
        sandbox serves, normalized, by id.

        Built from the generated data directly, not through HTTP, so tests
        and the chaos runs compare a client's result with the truth.
        """
        from aiaudit_chatgpt.normalize import Normalizer  # noqa: PLC0415

        org = self.state.org
        normalizer = Normalizer(
            organization_id=org.org_id, workspace_id=org.workspace_id
        )
        produced: list[AIAuditLog | QuarantinedRecord] = [
            normalizer.admin_audit_log(r) for r in self.state.audit.iter_records()
        ]
        compliance = self.state.compliance
        for log_file in compliance.iter_log_files():
            for record in compliance.iter_file_records(log_file.id):
                result = normalizer.compliance_record(record, log_id=log_file.id)
                produced.extend(
                    [result] if isinstance(result, QuarantinedRecord) else result
                )
        for gpt in org.gpts:
            result = normalizer.custom_gpt(compliance.gpt(gpt))
            produced.extend(
                [result] if isinstance(result, QuarantinedRecord) else result
            )
        return {
            log.id: log
            for log in produced
            if not isinstance(log, QuarantinedRecord) and matches(query, log)
        }

    def describe(self) -> RunningSandbox:
        """The host-facing description (``RunningSandbox``)."""
        org = self.state.org
        return RunningSandbox(
            platform="chatgpt",
            urls={
                "admin_api": self.admin_base_url,
                "compliance_api": self.compliance_base_url,
                "storage": self.storage_url,
            },
            config=self.connector_config(),
            details={
                "seed": self.options.seed,
                "audit_events": len(self.state.audit),
                "history": [org.start.isoformat(), org.end.isoformat()],
                "organization_id": org.org_id,
                "workspace_id": org.workspace_id,
                "restricted_admin_key": self.keys.admin_no_audit,
                "faults": self.options.faults,
                "fault_rate": self.options.fault_rate,
                "publish_delay": self.options.publish_delay,
                "latency_ms": self.options.latency_ms,
                "jitter_ms": self.options.jitter_ms,
                "environment": self.environment(),
                # What the conformance suite needs beyond the config: a key
                # that authenticates but lacks permissions, and what it lacks.
                # Its fault profiles carry the suite's default names, so it
                # names none.
                "conformance": {
                    **(
                        {"poisoned_ids": dict(self.state.poisoned_ids)}
                        if self.state.poisoned_ids
                        else {}
                    ),
                    **(
                        {"observed": self.state.faults.observed}
                        if self.state.faults is not None
                        else {}
                    ),
                    "restricted_config": {
                        **self.connector_config(),
                        "api_key": self.keys.admin_no_audit,
                    },
                    "restricted_missing": ["api.audit_logs.read", "api.usage.read"],
                },
            },
        )


def _site_url(runner: web.AppRunner, host: str) -> str:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return f"http://{host}:{address[1]}"
    raise RuntimeError("the sandbox server has no TCP address")


class SandboxProvider:
    """Starts the ChatGPT sandbox; returned by the plugin's sandbox hook."""

    @contextlib.asynccontextmanager
    async def start(self, options: SandboxOptions) -> AsyncIterator[RunningSandbox]:
        async with ChatGPTSandbox.run(options) as sandbox:
            yield sandbox.describe()
