"""The Claude connector: the Compliance API's Activity Feed, read in windows.

The feed lists activities newest first (ties by id) between
``created_at.gte`` and ``created_at.lt``, a page at a time: each page's
``last_id`` is the ``after_id`` of the next, until ``has_more`` is false.
A cursor is only good inside the listing it came from, so it is never a
checkpoint: the range is cut into time windows, each window its own
``after_id`` chain, drained and then checkpointed by its end, a time valid
forever. The windows are independent, so the core's ``read_windows`` reads
several at once and yields a checkpoint only once every window before it
is read.

Activities are indexed asynchronously and may appear up to
:data:`PUBLICATION_LAG` after their time, so a checkpoint also names the ids
read in the lag before it; a read resumed from it reads that stretch again
and skips them: late rows are read, and nothing twice.

Every Compliance API request writes a ``compliance_api_accessed`` row, the
reader's own included; they are excluded at the source unless asked for.

With ``content`` set, a second stream, ``chats``, reads the Claude
Enterprise chats and the files attached to them (:mod:`.content`).

The ``usage`` stream reads the Admin API's usage and cost reports
(:mod:`.usage`): tokens and cost per day, model and workspace. Only an Admin
API key reads them: without one the stream is not listed (so a sync or a
read of the logs goes on without it), a read that names it fails saying
which key it needs, and ``validate_ai_credentials`` says so too.
"""

from __future__ import annotations

import contextlib
import functools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs
import cattrs

from aiaudit_claude.config import API_VERSION, CHATS_PAGE_MAX, ClaudeConfig
from aiaudit_claude.content import (
    CHATS_LAG,
    CHATS_PATH,
    CONTENT_ACTIONS,
    CONTENT_SCOPE,
    CONTENT_TYPES,
    STREAM_CHATS,
    ChatsReader,
    ChatsResume,
    read_chats,
)
from aiaudit_claude.event_map import (
    COMPLIANCE_ACCESS,
    PLATFORM,
    STREAM_ACTIVITIES,
    TABLE,
    native_types,
)
from aiaudit_claude.members import admin_member
from aiaudit_claude.normalize import UNSCOPED, format_time, normalize_activity
from aiaudit_claude.usage import STREAM_USAGE, admin_key_missing, read_usage
from connector_core import (
    DIRECTORY_STREAM,
    AIAuditLogQuery,
    AICredentialValidation,
    AuthenticationError,
    ConnectionPace,
    ConnectorError,
    CursorGuard,
    DirectoryListing,
    HTTPTransport,
    LagCheckpoint,
    LaggedWindows,
    LogFilter,
    NotSupportedError,
    PermissionDeniedError,
    SchemaError,
    StreamBatch,
    StreamInfo,
    StreamKind,
    Window,
    WindowSizing,
    describe_structure_error,
    get_logger,
    hookimpl,
    normalize_or_quarantine,
    strict_converter,
)
from connector_core.analytics import UsageAccumulator, model_usage_of
from connector_core.http import DEFAULT_RETRY_STATUSES, RetryPolicy


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Mapping

    import aiohttp

    from connector_core import DirectoryMember, ModelUsageRecord, Secret
    from connector_core.connector import Connector
    from connector_core.models import AIDateRange, UsageAnalytics


__all__ = [
    "FEED_PATH",
    "FEED_SCOPE",
    "PUBLICATION_LAG",
    "ClaudeConnector",
    "Resume",
    "organization_pace",
]

FEED_PATH: Final = "/v1/compliance/activities"
FEED_SCOPE: Final = "read:compliance_activities"
ADMIN_USERS_PATH: Final = "/v1/organizations/users"
ADMIN_PAGE_MAX: Final = 1000
ADMIN_KEY: Final = "an Admin API key (ANTHROPIC_ADMIN_KEY)"
"""What the Admin API needs, as ``missing_permissions`` names it."""

log = get_logger(__name__)

PUBLICATION_LAG: Final = timedelta(minutes=5)
"""How long after its time an activity may still appear. The API documents
ingestion "within about a minute" and advises windows that end at least a
minute in the past and overlap by a few minutes: five minutes is that
advice, and the safe side of it."""

WINDOW: Final = timedelta(days=1)
"""The first windows' width, before a read knows how busy the feed is."""

PAGES_PER_WINDOW: Final = 20
"""A window aims at twenty pages: large enough that its last, partial page
is a small share of its requests, small enough that a busy month still
makes more windows than there are places in flight."""

DAYS: Final = WindowSizing(first=WINDOW, target=1, minimum=WINDOW, maximum=WINDOW)
"""Whole days, however busy: how a paged read (``query.limit``) is cut, so
that a read again from any of its checkpoints cuts the same windows."""

OVERLOADED: Final = 529
"""Anthropic's ``overloaded_error``: transient, retried with backoff like a
502 to 504 (the errors page says so); not among the core's defaults, which
know only standard statuses."""

RETRY: Final = RetryPolicy(retry_statuses=DEFAULT_RETRY_STATUSES | {OVERLOADED})

_PACES: dict[tuple[str, str, int, float | None], ConnectionPace] = {}


def organization_pace(config: ClaudeConfig) -> ConnectionPace:
    """The pace every connection to one parent organization shares.

    The API's budget is per parent organization, whatever the key, so two
    connections of this process to the same organization (two keys, or a
    host's several handles) share one allowance instead of each spending
    the whole of it. Connections that name no organization share one pace
    per base URL.
    """
    scope = (
        config.base_url.rstrip("/"),
        config.organization_id,
        config.concurrency,
        config.rate_limit,
    )
    pace = _PACES.get(scope)
    if pace is None:
        pace = _PACES[scope] = ConnectionPace(config.concurrency, config.rate_limit)
    return pace


@attrs.frozen(kw_only=True)
class Resume(LagCheckpoint):
    """The feed's checkpoint: read up to ``since``; ``seen`` are the ids
    yielded in the publication lag before it."""


@attrs.frozen
class Page:
    """A page of the feed. All four fields are optional in the API's schema;
    a page saying there is more must say where it ends."""

    data: tuple[Any, ...] = ()
    has_more: bool = False
    first_id: str | None = None
    last_id: str | None = None


_read_page = strict_converter().get_structure_hook(Page)


class ClaudeConnector:
    platform: ClassVar[str] = PLATFORM
    display_name: ClassVar[str] = "Claude (Anthropic)"
    config_class: ClassVar[type[ClaudeConfig]] = ClaudeConfig

    def __init__(
        self, config: ClaudeConfig, *, session: aiohttp.ClientSession | None = None
    ) -> None:
        self.config = config
        self._session = session
        self.pace = organization_pace(config)
        self._organization = config.organization_id or UNSCOPED
        self._addresses: dict[str, str] | None = None

    def budget_scope(self) -> str:
        """Whose rate budget this connection spends in every process: the
        parent organization's (per base URL when none is named), as
        :func:`organization_pace` shares one within a process."""
        base = self.config.base_url.rstrip("/")
        return f"{base}#{self.config.organization_id}"

    def _http(self, key: Secret | None = None) -> HTTPTransport:
        """A transport per call, closed by its ``async with``. The key (the
        feed's, unless another is given) goes as ``x-api-key``, a header the
        transport treats as a credential: redacted from every error and log
        line, never sent on a redirect hop, never over plain http to a
        remote host. The Admin API's requests keep to the same pace: whether
        they share the Compliance API's budget is not documented, and
        sharing it is the reading that never exceeds it."""
        return HTTPTransport(
            self.config.base_url,
            headers={
                "x-api-key": (key or self.config.api_key).reveal(),
                "anthropic-version": API_VERSION,
            },
            sensitive_headers=("x-api-key",),
            timeout=self.config.timeout,
            session=self._session,
            concurrency=self.pace.concurrency,
            budget=self.pace.budget,
            retry=RETRY,
        )

    @hookimpl
    async def validate_ai_credentials(self) -> AICredentialValidation:
        """Ask the feed for one activity of the last hour (and, when the
        chats are read, the chat listing for one chat). A refused key is an
        answer (``is_valid=False``); a key without a scope still works
        elsewhere, and each scope it lacks is named for the administrator.
        Other errors (an outage) propagate: they say nothing of the key."""
        now = datetime.now(UTC)
        params: dict[str, str | int] = {
            "created_at.gte": format_time(now - timedelta(hours=1)),
            "limit": 1,
            "exclude_activity_types[]": COMPLIANCE_ACCESS,
        }
        async with self._http() as http:
            try:
                await http.get_json(FEED_PATH, params=params)
            except PermissionDeniedError as exc:  # before its base class
                missing, errors = [FEED_SCOPE], [f"the Activity Feed: {exc}"]
            except AuthenticationError as exc:
                return AICredentialValidation(
                    is_valid=False,
                    platform=self.platform,
                    has_required_permissions=False,
                    last_checked=now,
                    errors=(f"the key was refused: {exc}",),
                )
            else:
                missing, errors = [], []
            if self.config.content:
                try:
                    await http.get_json(CHATS_PATH, params={"limit": 1})
                except PermissionDeniedError as exc:
                    missing.append(CONTENT_SCOPE)
                    errors.append(f"the chats stream: {exc}")
        if self.config.admin_key is None:
            # Not a missing permission: the feed needs no Admin key, and a
            # connection without one is complete. Said, for whoever wonders
            # where the usage stream went.
            errors.append(str(admin_key_missing()))
        else:
            problem = await self._probe_admin()
            if problem is not None:
                missing.append(ADMIN_KEY)
                errors.append(problem)
        return AICredentialValidation(
            is_valid=True,
            platform=self.platform,
            has_required_permissions=not missing,
            missing_permissions=tuple(missing),
            last_checked=now,
            errors=tuple(errors),
        )

    async def _probe_admin(self) -> str | None:
        """``None`` when no Admin key is configured or it reads the Admin
        API; else why not. A refused Admin key leaves the feed working, so
        it is a missing permission (the usage stream's and the directory's),
        not an invalid connection."""
        if self.config.admin_key is None:
            return None
        async with self._http(self.config.admin_key) as http:
            try:
                await http.get_json(ADMIN_USERS_PATH, params={"limit": 1})
            except (AuthenticationError, PermissionDeniedError) as exc:
                return (
                    "the Admin API refused the Admin key (the usage stream "
                    f"needs it): {exc}"
                )
        return None

    @hookimpl
    async def get_usage_analytics(
        self, connector: Connector, period: AIDateRange
    ) -> UsageAnalytics:
        """The core's figures from the logs, plus, when an Admin key is
        set, the organization's head count from the Admin API's directory
        and the tokens and cost per model from its usage reports (as a
        store computes them from the synced buckets)."""
        accumulator = UsageAccumulator(platform=self.platform, period=period)
        query = AIAuditLogQuery(start_date=period.start, end_date=period.end)
        async with contextlib.aclosing(connector.stream_ai_audit_logs(query)) as logs:
            async for entry in logs:
                # The feed already counts every chat and upload the chats
                # stream lists: counted once, from the feed.
                if entry.native_type not in CONTENT_TYPES:
                    accumulator.add(entry)
        analytics = accumulator.result(directory=await self._members())
        reported = await self._reported_usage(period)
        if reported:
            analytics = attrs.evolve(analytics, model_usage=model_usage_of(reported))
        return analytics

    async def _reported_usage(self, period: AIDateRange) -> list[ModelUsageRecord]:
        """The usage buckets starting in *period*, or none (the figures then
        come from the logs) without an Admin key or when the reports cannot
        be read: worth a warning, not a failed report."""
        if self.config.admin_key is None:
            return []
        query = AIAuditLogQuery(start_date=period.start, end_date=period.end)
        found: list[ModelUsageRecord] = []
        try:
            async with contextlib.aclosing(self._read_usage(None, query)) as usage:
                async for batch in usage:
                    found.extend(
                        r for r in batch.usage if period.start <= r.start <= period.end
                    )
        except ConnectorError as exc:
            log.warning("usage.reports_unavailable", error=str(exc))
            return []
        return found

    async def _member_addresses(self) -> dict[str, str]:
        """Each member's address (lowercase) and ``user_…`` id, read once
        per connector, before the feed's windows: the feed knows someone
        not yet signed in only by the address they typed, and a member's
        is that member. Empty without an Admin key or when the directory
        cannot be read (then said in a warning): the address stays the
        actor's id, as the feed gives it."""
        if self._addresses is None:
            try:
                members = (await self.read_directory()).members
            except NotSupportedError:
                members = ()
            except ConnectorError as exc:
                log.warning("feed.members_unavailable", error=str(exc))
                members = ()
            self._addresses = {
                member.email.lower(): member.user_id
                for member in members
                if member.email is not None
            }
        return self._addresses

    async def _members(self) -> tuple[DirectoryMember, ...] | None:
        """The members the Admin API lists, or ``None`` (the core then
        counts the active users) without an Admin key or when they cannot
        be read: a head count is worth a warning, not a failed report."""
        try:
            return (await self.read_directory()).members
        except NotSupportedError:
            return None
        except ConnectorError as exc:
            log.warning("usage.directory_unavailable", error=str(exc))
            return None

    @hookimpl
    async def read_directory(self) -> DirectoryListing:
        """Every member the Admin API's ``/v1/organizations/users`` lists;
        a record of another shape is quarantined. Without an Admin key
        there is no directory (``NotSupportedError``: the sync then stores
        none, and says nothing)."""
        if self.config.admin_key is None:
            raise NotSupportedError(
                self.platform, "read_directory without an Admin key"
            )
        guard = CursorGuard(ADMIN_USERS_PATH, "last_id")
        records: list[Any] = []
        after = None
        async with self._http(self.config.admin_key) as http:
            while True:
                params: dict[str, str | int] = {"limit": ADMIN_PAGE_MAX}
                if after is not None:
                    params["after_id"] = after
                page = self._page(
                    await http.get_json(ADMIN_USERS_PATH, params=params),
                    ADMIN_USERS_PATH,
                )
                records.extend(page.data)
                if not page.has_more:
                    break
                if page.last_id is None:
                    raise SchemaError(
                        f"{ADMIN_USERS_PATH}: has_more is true but last_id is null"
                    )
                guard.advance(page.last_id)
                after = page.last_id
        return DirectoryListing.from_results(
            normalize_or_quarantine(DIRECTORY_STREAM, record, admin_member)
            for record in records
        )

    @hookimpl
    async def list_streams(self) -> list[StreamInfo]:
        streams = [
            StreamInfo(
                name=STREAM_ACTIVITIES,
                kind=StreamKind.WINDOWED,
                description="The Compliance API Activity Feed",
                actions=tuple(sorted(TABLE.by_action)),
                publication_lag=PUBLICATION_LAG,
            )
        ]
        if self.config.admin_key is not None:
            # Listed only when it can be read: every read of the logs reads
            # every stream, and one that always fails would fail them all.
            streams.append(
                StreamInfo(
                    name=STREAM_USAGE,
                    kind=StreamKind.WINDOWED,
                    description="Tokens and cost per day, model and workspace "
                    "(the Admin API's usage and cost reports)",
                )
            )
        if self.config.content:
            streams.append(
                StreamInfo(
                    name=STREAM_CHATS,
                    kind=StreamKind.WINDOWED,
                    description="Claude Enterprise chats and the files attached "
                    "to them (metadata only, never a message's text)",
                    actions=CONTENT_ACTIONS,
                    publication_lag=CHATS_LAG,
                )
            )
        return streams

    def _sizing(
        self, query: AIAuditLogQuery, resumed: bool, lag: timedelta
    ) -> tuple[WindowSizing, int, datetime | None]:
        """How a read's windows are cut, how many are read at once, and up
        to when the data is settled (see ``read_stream``)."""
        stop = query.end_date + timedelta(microseconds=1)
        if query.limit is None:
            sizing = WindowSizing(
                first=WINDOW,
                target=PAGES_PER_WINDOW * self.config.page_size,
                minimum=4 * lag,
                maximum=30 * WINDOW,
            )
            return sizing, self.config.concurrency, min(datetime.now(UTC), stop) - lag
        # A paged read resumes from a checkpoint and skips what earlier
        # pages returned: the same windows must follow, one at a time.
        return (attrs.evolve(DAYS, first=lag) if resumed else DAYS), 1, None

    async def _read_chats(
        self, checkpoint: Mapping[str, Any] | None, query: AIAuditLogQuery
    ) -> AsyncGenerator[StreamBatch, None]:
        async with self._http() as http:
            reader = ChatsReader(
                http=http,
                query=query,
                resume=ChatsResume.from_dict(STREAM_CHATS, checkpoint),
                page_size=min(self.config.page_size, CHATS_PAGE_MAX),
                platform=self.platform,
                organization=self._organization,
            )
            if reader.asks_for_nothing():
                return
            sizing, concurrency, settled = self._sizing(
                query, reader.resume is not None, CHATS_LAG
            )
            batches = read_chats(
                reader,
                STREAM_CHATS,
                sizing=sizing,
                concurrency=concurrency,
                settled=settled,
            )
            async with contextlib.aclosing(batches) as reading:
                async for batch in reading:
                    yield batch

    def _other_stream(
        self,
        stream: str,
        checkpoint: Mapping[str, Any] | None,
        query: AIAuditLogQuery,
    ) -> AsyncGenerator[StreamBatch, None] | None:
        """The reader of a stream other than the feed; ``None`` for the
        feed (or a stream this connector does not have)."""
        if stream == STREAM_CHATS and self.config.content:
            return self._read_chats(checkpoint, query)
        if stream == STREAM_USAGE:
            return self._read_usage(checkpoint, query)
        return None

    async def _read_usage(
        self, checkpoint: Mapping[str, Any] | None, query: AIAuditLogQuery
    ) -> AsyncGenerator[StreamBatch, None]:
        """The usage stream, read with the Admin key (see :mod:`.usage`)."""
        if self.config.admin_key is None:
            raise admin_key_missing()
        async with self._http(self.config.admin_key) as http:
            batches = read_usage(http, checkpoint, query, platform=self.platform)
            async with contextlib.aclosing(batches) as reading:
                async for batch in reading:
                    yield batch

    def _filters(self, query: AIAuditLogQuery) -> list[tuple[str, str]] | None:
        """The feed's own filters for *query*, or ``None`` when nothing asked
        for can be in it. Types go through the table's reverse index; actors
        go as ``actor_ids[]`` only when every one asked for is a user id, the
        only kind the API accepts there."""
        where = LogFilter.from_query(query)
        types = native_types(where.askable_actions)
        params: list[tuple[str, str]] = []
        if types is None:
            params.append(("exclude_activity_types[]", COMPLIANCE_ACCESS))
        elif not types:
            return None
        else:
            params.extend(("activity_types[]", t) for t in sorted(types))
        users = where.askable_user_ids
        if users is not None and all(u.startswith("user_") for u in users):
            params.extend(("actor_ids[]", u) for u in sorted(users))
        return params

    @hookimpl
    async def read_stream(
        self,
        stream: str,
        checkpoint: Mapping[str, Any] | None,
        query: AIAuditLogQuery,
    ) -> AsyncGenerator[StreamBatch, None]:
        other = self._other_stream(stream, checkpoint, query)
        if other is not None:
            async with contextlib.aclosing(other) as batches:
                async for batch in batches:
                    yield batch
            return
        if stream != STREAM_ACTIVITIES:
            raise NotSupportedError(self.platform, f"stream {stream!r}")
        filters = self._filters(query)
        if filters is None:
            return  # nothing asked for is in the feed: no request
        wanted = LogFilter.from_query(query).askable_actions
        stop = query.end_date + timedelta(microseconds=1)  # created_at.lt
        lagged = LaggedWindows(
            lag=PUBLICATION_LAG,
            resume=Resume.from_dict(stream, checkpoint),
            checkpoint=Resume,
            keep=None if wanted is None else (lambda log: log.action in wanted),
        )
        sizing, concurrency, settled = self._sizing(
            query, lagged.resume is not None, PUBLICATION_LAG
        )

        members = await self._member_addresses()
        async with self._http() as http:

            def read(window: Window) -> AsyncGenerator[StreamBatch, None]:
                """One window, page by page; the core dedupes and yields its
                end as its checkpoint."""
                asked = [
                    ("created_at.gte", format_time(window.start)),
                    ("created_at.lt", format_time(window.end)),
                    ("limit", str(self.config.page_size)),
                    *filters,
                ]
                return self._window(http, stream, asked, members)

            windows = lagged.read(
                read,
                start=lagged.start(query.start_date),
                end=stop,
                sizing=sizing,
                concurrency=concurrency,
                settled=settled,
            )
            async with contextlib.aclosing(windows) as batches:
                async for batch in batches:
                    yield batch

    async def _window(
        self,
        http: HTTPTransport,
        stream: str,
        params: list[tuple[str, str]],
        members: Mapping[str, str],
    ) -> AsyncGenerator[StreamBatch, None]:
        """One window's ``after_id`` chain. A cursor handed out twice would
        fetch a page already read, forever: the guard raises SchemaError."""
        guard = CursorGuard(FEED_PATH, "last_id")
        normalize = functools.partial(
            normalize_activity,
            platform=self.platform,
            organization=self._organization,
            members=members,
        )
        after: str | None = None
        while True:
            asked = params if after is None else [*params, ("after_id", after)]
            page = self._page(await http.get_json(FEED_PATH, params=asked), FEED_PATH)
            yield StreamBatch.from_results(
                normalize_or_quarantine(stream, item, normalize) for item in page.data
            )
            if not page.has_more:
                return
            if page.last_id is None:
                raise SchemaError(f"{FEED_PATH}: has_more is true but last_id is null")
            guard.advance(page.last_id)
            after = page.last_id

    def _page(self, raw: object, path: str) -> Page:
        """A page of the wrong shape is an API fault, never an empty page.
        The feed and the Admin API's lists share the envelope."""
        try:
            page: Page = _read_page(raw, Page)
        except (cattrs.BaseValidationError, TypeError) as exc:
            problem = describe_structure_error(exc)
            raise SchemaError(f"{path}: malformed page: {problem}") from None
        return page
