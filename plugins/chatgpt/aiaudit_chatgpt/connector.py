"""The ChatGPT Enterprise connector: an OpenAI organization and its workspace.

It reads two APIs with two keys. The Admin API (``api.openai.com``) has the
organization's audit log (sign-ins, API keys, projects, members, settings)
and its usage and costs. The Compliance API (``api.chatgpt.com``) has what
people do in ChatGPT: conversations, uploaded files, custom GPTs. Either may
be configured alone; the connector then lists only the streams it can read
and says in its permission check what it cannot see.

Normalization (native types to our vocabulary) lives in
:mod:`aiaudit_chatgpt.normalize`, its table ``event_map.toml`` in
:mod:`aiaudit_chatgpt.event_map`; the incremental readers in
:mod:`aiaudit_chatgpt.sources`.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Final

from aiaudit_chatgpt.admin_reader import ADMIN_PUBLICATION_LAG, read_admin_audit_logs
from aiaudit_chatgpt.config import ChatGPTComplianceAPIConfig
from aiaudit_chatgpt.event_map import (
    STREAM_ADMIN,
    STREAM_COMPLIANCE,
    STREAM_GPTS,
    actions_of,
    native_filter,
)
from aiaudit_chatgpt.files_reader import FILES_PUBLICATION_LAG, read_compliance_logs
from aiaudit_chatgpt.gpts_reader import list_gpts, read_custom_gpts
from aiaudit_chatgpt.listings import list_all
from aiaudit_chatgpt.members import (
    ADMIN_USERS,
    compliance_member,
    organization_member,
)
from aiaudit_chatgpt.normalize import Normalizer
from aiaudit_chatgpt.usage_reader import USAGE_STREAM, model_of_line_item, read_usage
from connector_core import (
    DIRECTORY_STREAM,
    ConnectionPace,
    DirectoryListing,
    LogFilter,
    get_logger,
    hookimpl,
    normalize_or_quarantine,
)
from connector_core.analytics import UsageAccumulator
from connector_core.exceptions import (
    AuthenticationError,
    ConnectorError,
    ConnectorHTTPError,
    NotSupportedError,
)
from connector_core.http import HTTPTransport
from connector_core.models import (
    AIAuditLogQuery,
    AICredentialValidation,
    AutomationEvent,
    ConnectionResult,
    ModelUsageMetric,
    PermissionCheck,
)
from connector_core.streams import QuarantinedRecord, StreamInfo, StreamKind


if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    import aiohttp

    from connector_core.connector import Connector
    from connector_core.models import AIDateRange, OAuthCredentials, UsageAnalytics
    from connector_core.streams import StreamBatch


__all__ = ["PERMISSIONS", "STREAM_TENANT", "ChatGPTEnterpriseConnector"]

STREAM_TENANT: Final = "admin_tenant_audit_logs"

log = get_logger(__name__)

PERMISSIONS: Final = {
    "admin": "api.organization.read",
    "audit_logs": "api.audit_logs.read",
    "usage": "api.usage.read",
    "compliance": "compliance.read",
}
"""The permission each surface needs, as the checks name them.

OpenAI publishes no list of admin-key scope names; these name the surfaces
plainly (the audit log, usage, the Compliance API read scope), and
``docs/chatgpt.md`` says which key setting grants each one.
"""

_ERROR_CODE: Final = "CHATGPT_AUTH_ERROR"


class ChatGPTEnterpriseConnector:
    """Reads a ChatGPT Enterprise workspace and its OpenAI organization."""

    platform: ClassVar[str] = "chatgpt"
    display_name: ClassVar[str] = "ChatGPT Enterprise"
    config_class: ClassVar[type[ChatGPTComplianceAPIConfig]] = (
        ChatGPTComplianceAPIConfig
    )

    def __init__(
        self,
        config: ChatGPTComplianceAPIConfig,
        *,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.config = config
        self._session = session
        # One pace for both APIs and every read of this object: a 429 or a
        # rate limit speaks of the connection, not of one stream.
        self.pace = ConnectionPace(config.concurrency, config.rate_limit)
        self._admin: HTTPTransport | None = None
        self._compliance: HTTPTransport | None = None
        self.normalizer = Normalizer(
            organization_id=config.organization_id, workspace_id=config.workspace_id
        )
        self._log = log.bind(
            organization=config.organization_id, workspace=config.workspace_id
        )

    @property
    def admin(self) -> HTTPTransport | None:
        """The Admin API's transport, ``None`` when it is not configured.

        Made at first use rather than with the object: a host may build the
        object outside an event loop, and the pace's rate budget belongs to
        the loop the requests run on.
        """
        config = self.config
        if self._admin is None and config.api_key is not None:
            headers = (
                {"OpenAI-Organization": config.organization_id}
                if config.organization_id
                else None
            )
            self._admin = self._transport(config.base_url, config.api_key, headers)
        return self._admin

    @property
    def compliance(self) -> HTTPTransport | None:
        """The Compliance API's transport, ``None`` when it is not configured
        (made at first use, as :attr:`admin`)."""
        config = self.config
        if self._compliance is None and config.compliance_api_key is not None:
            self._compliance = self._transport(
                config.compliance_base_url, config.compliance_api_key, None
            )
        return self._compliance

    def _transport(
        self, base_url: str, key: Any, headers: Mapping[str, str] | None
    ) -> HTTPTransport:
        return HTTPTransport(
            base_url,
            api_key=key,
            headers=headers,
            timeout=self.config.timeout,
            session=self._session,
            max_line=self.config.max_record_bytes,
            concurrency=self.pace.concurrency,
            budget=self.pace.budget,
        )

    @property
    def workspace_id(self) -> str:
        return self.config.workspace_id or ""

    # -- connection ---------------------------------------------------------

    @hookimpl
    async def authenticate(
        self, credentials: OAuthCredentials | None
    ) -> ConnectionResult:
        """Probe the configured APIs (or the handed-over token) once each.

        A refused key is an answer (``success=False``), not an exception.
        """
        reachable: list[str] = []
        try:
            if credentials is not None:
                async with self._transport(
                    self.config.base_url, credentials.access_token, None
                ) as probe:
                    await probe.get_json("/organization/users", params={"limit": 1})
                reachable.append(PERMISSIONS["admin"])
            else:
                if self.admin is not None:
                    await self.admin.get_json(
                        "/organization/users", params={"limit": 1}
                    )
                    reachable.append(PERMISSIONS["admin"])
                if self.compliance is not None:
                    await self.compliance.get_json(
                        f"/compliance/workspaces/{self.workspace_id}/users",
                        params={"limit": 1},
                    )
                    reachable.append(PERMISSIONS["compliance"])
        except AuthenticationError as exc:
            return ConnectionResult(
                success=False, error=str(exc), error_code=_ERROR_CODE
            )
        name = self.config.organization_id or self.config.workspace_id or "unknown"
        return ConnectionResult(
            success=True,
            platform_user_id=self.config.organization_id or self.config.workspace_id,
            platform_workspace_id=self.config.workspace_id,
            display_name=f"ChatGPT Enterprise - {name}",
            permissions=tuple(reachable),
        )

    async def _surfaces(self) -> dict[str, str | None]:
        """Each surface's verdict: ``None`` when readable, else the reason."""
        verdicts: dict[str, str | None] = {}
        now = int(datetime.now(UTC).timestamp())
        probes: list[tuple[str, HTTPTransport | None, str, dict[str, Any]]] = [
            ("admin", self.admin, "/organization/users", {"limit": 1}),
            ("audit_logs", self.admin, "/organization/audit_logs", {"limit": 1}),
            (
                "usage",
                self.admin,
                "/organization/usage/completions",
                {"start_time": now - 86_400, "limit": 1},
            ),
            (
                "compliance",
                self.compliance,
                f"/compliance/workspaces/{self.workspace_id}/users",
                {"limit": 1},
            ),
        ]
        for surface, http, path, params in probes:
            if http is None:
                which = "Compliance API" if surface == "compliance" else "Admin API"
                verdicts[surface] = f"the {which} is not configured"
                continue
            try:
                await http.get_json(path, params=params)
            except ConnectorHTTPError as exc:
                verdicts[surface] = _explain(surface, exc)
            else:
                verdicts[surface] = None
        return verdicts

    @hookimpl
    async def validate_ai_credentials(self) -> AICredentialValidation:
        verdicts = await self._surfaces()
        keys_work = any(
            verdicts.get(surface) is None for surface in ("admin", "compliance")
        )
        missing = tuple(
            PERMISSIONS[surface]
            for surface, problem in verdicts.items()
            if problem is not None and "not configured" not in problem
        )
        return AICredentialValidation(
            is_valid=keys_work,
            platform=self.platform,
            has_required_permissions=keys_work and not missing,
            missing_permissions=missing,
            last_checked=datetime.now(UTC),
            errors=tuple(p for p in verdicts.values() if p is not None),
        )

    @hookimpl
    async def validate_permissions(self) -> PermissionCheck:
        verdicts = await self._surfaces()
        granted = tuple(
            PERMISSIONS[s] for s, problem in verdicts.items() if problem is None
        )
        missing = tuple(
            PERMISSIONS[s]
            for s, problem in verdicts.items()
            if problem is not None and "not configured" not in problem
        )
        return PermissionCheck(
            is_valid=bool(granted) and not missing,
            permissions=granted,
            missing_permissions=missing,
            errors=tuple(f"{s}: {p}" for s, p in verdicts.items() if p is not None),
            last_checked=datetime.now(UTC),
            metadata={"surfaces": {s: p or "ok" for s, p in verdicts.items()}},
        )

    # -- streams ------------------------------------------------------------

    @hookimpl
    async def list_streams(self) -> list[StreamInfo]:
        streams = []
        if self.admin is not None:
            streams.append(
                StreamInfo(
                    name=STREAM_ADMIN,
                    kind=StreamKind.WINDOWED,
                    description="The OpenAI organization's audit log (Admin API)",
                    actions=actions_of(STREAM_ADMIN),
                    publication_lag=ADMIN_PUBLICATION_LAG,
                )
            )
            streams.append(
                StreamInfo(
                    name=STREAM_TENANT,
                    kind=StreamKind.WINDOWED,
                    description="Tenant-scoped audit events, served only on "
                    "request (Admin API, tenant_only)",
                    publication_lag=ADMIN_PUBLICATION_LAG,
                )
            )
        if self.compliance is not None:
            streams.append(
                StreamInfo(
                    name=STREAM_COMPLIANCE,
                    kind=StreamKind.FILES,
                    description="Conversations, uploads, sign-ins and workspace "
                    "admin actions (Compliance API Logs Platform)",
                    actions=actions_of(STREAM_COMPLIANCE),
                    publication_lag=FILES_PUBLICATION_LAG,
                )
            )
            streams.append(
                StreamInfo(
                    name=STREAM_GPTS,
                    kind=StreamKind.SNAPSHOT,
                    description="Custom GPTs built in the workspace",
                    actions=actions_of(STREAM_GPTS),
                )
            )
        if self.admin is not None:
            streams.append(
                StreamInfo(
                    name=USAGE_STREAM,
                    kind=StreamKind.WINDOWED,
                    description="Requests, tokens and cost per model, project, "
                    "API key and day (Admin API usage and costs)",
                )
            )
        return streams

    @hookimpl
    async def read_stream(
        self,
        stream: str,
        checkpoint: Mapping[str, Any] | None,
        query: AIAuditLogQuery,
    ) -> AsyncIterator[StreamBatch]:
        # Exact actions only: a glob (or no filter) reads every native type,
        # and the core keeps what the glob matches.
        native = native_filter(LogFilter.from_query(query).askable_actions)
        if stream in {STREAM_ADMIN, STREAM_TENANT} and self.admin is not None:
            batches = read_admin_audit_logs(
                self.admin,
                self.normalizer,
                native=native,
                checkpoint=checkpoint,
                query=query,
                tenant=stream == STREAM_TENANT,
                stream=stream,
                concurrency=self.config.concurrency,
            )
        elif stream == STREAM_COMPLIANCE and self.compliance is not None:
            batches = read_compliance_logs(
                self.compliance,
                self.normalizer,
                native=native,
                workspace_id=self.workspace_id,
                checkpoint=checkpoint,
                query=query,
                max_record_bytes=self.config.max_record_bytes,
                concurrency=self.config.concurrency,
            )
        elif stream == STREAM_GPTS and self.compliance is not None:
            batches = read_custom_gpts(
                self.compliance,
                self.normalizer,
                native=native,
                workspace_id=self.workspace_id,
                checkpoint=checkpoint,
                query=query,
            )
        elif stream == USAGE_STREAM and self.admin is not None:
            batches = read_usage(
                self.admin,
                platform=self.platform,
                checkpoint=checkpoint,
                query=query,
            )
        else:
            raise NotSupportedError(self.platform, f"stream {stream!r}")
        async with contextlib.aclosing(batches) as reading:
            async for batch in reading:
                yield batch

    # -- analytics and automations -------------------------------------------

    @hookimpl
    async def get_usage_analytics(
        self, connector: Connector, period: AIDateRange
    ) -> UsageAnalytics:
        """The core's figures from the logs, plus what only the APIs know:
        the workspace's directory (``total_users`` counts its members with
        the active users) and model usage from the Usage API."""
        accumulator = UsageAccumulator(platform=self.platform, period=period)
        query = AIAuditLogQuery(start_date=period.start, end_date=period.end)
        async with contextlib.aclosing(connector.stream_ai_audit_logs(query)) as logs:
            async for entry in logs:
                accumulator.add(entry)
        model_usage = await self._model_usage(period)
        try:
            members = (await self.read_directory()).members
        except ConnectorError as exc:
            # A head count is worth a warning, not a failed report: the
            # active users are counted then.
            self._log.warning("usage.directory_unavailable", error=str(exc))
            return accumulator.result(model_usage=model_usage)
        return accumulator.result(directory=members, model_usage=model_usage)

    @hookimpl
    async def read_directory(self) -> DirectoryListing:
        """The workspace's members from the Compliance API's ``/users``
        when it is configured, else the organization's from the Admin
        API's ``/organization/users``; a record of another shape is
        quarantined."""
        if self.compliance is not None:
            http = self.compliance
            path = f"/compliance/workspaces/{self.workspace_id}/users"
            normalize = compliance_member
        elif self.admin is not None:
            http, path, normalize = self.admin, ADMIN_USERS, organization_member
        else:  # pragma: no cover - the config needs one of the two
            raise NotSupportedError(self.platform, "read_directory")
        records = [record async for record in list_all(http, path, "users")]
        return DirectoryListing.from_results(
            normalize_or_quarantine(DIRECTORY_STREAM, record, normalize)
            for record in records
        )

    async def _model_usage(
        self, period: AIDateRange
    ) -> tuple[ModelUsageMetric, ...] | None:
        """Requests and tokens per model from the Usage API, with costs when
        the key may read them; ``None`` (use the logs) when it may not."""
        if self.admin is None:
            return None
        start = int(period.start.timestamp())
        end = int((period.end + timedelta(seconds=1)).timestamp())
        usage: dict[str, list[int]] = {}
        try:
            async for result in self._buckets(
                "/organization/usage/completions", start, end, group_by="model"
            ):
                model = result.get("model") or "unknown"
                totals = usage.setdefault(model, [0, 0])
                totals[0] += int(result.get("num_model_requests") or 0)
                totals[1] += int(result.get("input_tokens") or 0) + int(
                    result.get("output_tokens") or 0
                )
        except ConnectorHTTPError as exc:
            self._log.warning("usage.unavailable", error=str(exc))
            return None
        costs = await self._costs(start, end)
        return tuple(
            ModelUsageMetric(
                model=model,
                usage_count=requests,
                total_tokens=tokens,
                cost_estimate=costs.get(model),
            )
            for model, (requests, tokens) in sorted(
                usage.items(), key=lambda item: (-item[1][0], item[0])
            )
        )

    async def _costs(self, start: int, end: int) -> dict[str, float]:
        """Cost per model, from the Costs API's line items (``"gpt-4o, input"``);
        a line item that names no model is attributed to none (see
        :mod:`aiaudit_chatgpt.usage_reader`)."""
        costs: dict[str, float] = {}
        try:
            async for result in self._buckets(
                "/organization/costs", start, end, group_by="line_item"
            ):
                model = model_of_line_item(result.get("line_item")) or "unknown"
                amount = (result.get("amount") or {}).get("value") or 0.0
                costs[model] = round(costs.get(model, 0.0) + float(amount), 6)
        except ConnectorHTTPError as exc:
            self._log.info("usage.costs_unavailable", error=str(exc))
        return costs

    async def _buckets(
        self, path: str, start: int, end: int, *, group_by: str
    ) -> AsyncIterator[Mapping[str, Any]]:
        assert self.admin is not None  # noqa: S101 - callers check
        page_token: str | None = None
        while True:
            params: list[tuple[str, Any]] = [
                ("start_time", start),
                ("end_time", end),
                ("bucket_width", "1d"),
                ("limit", 31 if "usage" in path else 180),
                ("group_by[]", group_by),
            ]
            if page_token:
                params.append(("page", page_token))
            page = await self.admin.get_json(path, params=params)
            for bucket in page.get("data") or ():
                for result in bucket.get("results") or ():
                    yield result
            page_token = page.get("next_page")
            if not page.get("has_more") or not page_token:
                return

    @hookimpl
    async def discover_automations(self) -> list[AutomationEvent]:
        """Custom GPTs, each an automation acting for the people who use it."""
        if self.compliance is None:
            raise NotSupportedError(
                self.platform, "discover_automations without the Compliance API"
            )
        found: list[AutomationEvent] = []
        async for gpt in list_gpts(self.compliance, self.workspace_id):
            automation = self.normalizer.automation(gpt)
            if isinstance(automation, QuarantinedRecord):
                self._log.warning(
                    "gpt.quarantined",
                    reason=automation.reason,
                    gpt=automation.native_id,
                )
                continue
            found.append(automation)
        return found

    @hookimpl
    async def aclose(self) -> None:
        for http in (self._admin, self._compliance):
            if http is not None:
                await http.aclose()


def _explain(surface: str, exc: ConnectorHTTPError) -> str:
    """Why a surface is unreadable, in the words an administrator acts on."""
    if exc.status == 401:  # noqa: PLR2004
        return "the key was refused (401): check that it is current"
    if exc.status == 403:  # noqa: PLR2004
        reasons = {
            "admin": "the key is not an Admin API key of an organization owner",
            "audit_logs": (
                "the key may not read the audit log, or audit logging is not "
                "enabled in the organization's data controls"
            ),
            "usage": "the key may not read usage and costs",
            "compliance": "the key has no Compliance API read scope",
        }
        return f"{reasons[surface]} (403)"
    return f"HTTP {exc.status}: {exc}"
