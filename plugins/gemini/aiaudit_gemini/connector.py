"""The Gemini connector: Google Workspace's Reports API, read in windows.

Four applications of ``activities.list`` are read, each a stream of its
own: ``gemini_in_workspace_apps`` (Gemini in Gmail, Docs, Meet...),
``gemini_notebook`` (NotebookLM), ``token`` (the OAuth grants people give
third-party apps, AI apps among them) and ``login``.

Each read cuts its range into ``startTime``/``endTime`` windows, the core's
``read_windows`` reading several at once, each window its own
``pageToken`` chain (a page token is good only inside the listing it came
from, so it is never a checkpoint). A window keeps only the events whose
time falls inside it, so an event exactly on an edge is read once whatever
the API's bounds include, and its end is its checkpoint, a time valid
forever.

Events are published late: minutes to hours by Google's documentation,
rarely days. So a checkpoint also names the ids read in the
``lag_hours`` before it, and a read resumed from it reads that stretch
again and skips them: late events are read, and nothing twice. Order is
not relied on (the API lists newest first, undocumented).

Limits the API sets, kept before any request: no event older than 180
days can be asked for (a read starting earlier is refused, naming the
horizon; a checkpoint that old resumes from the horizon with a warning),
and Gemini in Workspace has no data before 2025-06-20 (its reads start
there, with a warning).

The directory's head count is not in the Reports API, so usage analytics
count the people who acted (the core's default, from the logs).
"""

from __future__ import annotations

import contextlib
import functools
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs
import cattrs

from aiaudit_gemini.auth import SCOPE, ReportsClient, ServiceAccountAuth
from aiaudit_gemini.config import GeminiConfig
from aiaudit_gemini.event_map import APPLICATIONS, PLATFORM, TABLE, event_names
from aiaudit_gemini.normalize import format_time, read_activity
from connector_core import (
    AICredentialValidation,
    AuthenticationError,
    ConfigurationError,
    ConnectionPace,
    CursorGuard,
    LagDigestCheckpoint,
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
    strict_converter,
)
from connector_core.http import DEFAULT_RETRY_STATUSES, RetryPolicy


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Mapping

    import aiohttp

    from connector_core import AIAuditLogQuery


__all__ = [
    "ACTIVITIES_PATH",
    "GEMINI_DATA_START",
    "HORIZON",
    "HORIZON_MARGIN",
    "GeminiConnector",
    "Resume",
]

log = get_logger(__name__)

ACTIVITIES_PATH: Final = "/admin/reports/v1/activity/users/all/applications/{}"

HORIZON: Final = timedelta(days=180)
"""How far back the Reports API answers: older events are gone."""

HORIZON_MARGIN: Final = timedelta(minutes=10)
"""A read that starts within this of the horizon starts this far inside
it: the horizon moves on while the request travels, and a start the API
finds past it is refused (or, by Google, silently cut)."""

GEMINI_DATA_START: Final = datetime(2025, 6, 20, tzinfo=UTC)
"""Gemini in Workspace has logs from this day on, none before."""

_STARTS: Final = {"gemini_in_workspace_apps": GEMINI_DATA_START}

WINDOW: Final = timedelta(days=1)
"""The width of a paged read's windows (``query.limit``), whole days so
that a read again from any of its checkpoints cuts the same windows."""

PAGES_PER_WINDOW: Final = 20
"""A window aims at twenty pages: its last, partial page a small share of
its requests, and a busy month still more windows than places in flight."""

RETRY: Final = RetryPolicy(retry_statuses=DEFAULT_RETRY_STATUSES)
"""429 (``rateLimitExceeded``) and 503 (quota: Google's documented answer
when a quota is spent) are waited out with backoff, as Google asks."""

_APPLICATION_NAMES: Final = {
    "gemini_in_workspace_apps": "Gemini in Workspace apps (Gmail, Docs, Meet...)",
    "gemini_notebook": "NotebookLM",
    "token": "OAuth grants to third-party apps (AI apps flagged)",
    "login": "Sign-ins to Google accounts",
}


@attrs.frozen(kw_only=True)
class Resume(LagDigestCheckpoint):
    """An application's checkpoint: read up to ``since``; ``seen`` are the
    ids yielded in the publication lag before it."""


@attrs.frozen
class Page:
    """A page of ``activities.list``. ``items`` is absent on an empty page,
    ``nextPageToken`` on the last."""

    items: tuple[Any, ...] = ()
    nextPageToken: str | None = None  # noqa: N815 - the API's name
    kind: str | None = None
    etag: str | None = None


_read_page = strict_converter().get_structure_hook(Page)


class GeminiConnector:
    platform: ClassVar[str] = PLATFORM
    display_name: ClassVar[str] = "Gemini (Google Workspace)"
    retention: ClassVar[timedelta] = HORIZON
    config_class: ClassVar[type[GeminiConfig]] = GeminiConfig

    def __init__(
        self,
        config: GeminiConfig,
        *,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._session = session
        self._clock = clock
        self.pace = ConnectionPace(config.concurrency, config.rate_limit)
        self.lag = timedelta(hours=config.lag_hours)
        self.auth = ServiceAccountAuth(
            config.credentials_file,
            config.subject,
            timeout=config.timeout,
            session=session,
            clock=clock,
        )

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _client(self) -> ReportsClient:
        """A client per call, closed by its ``async with``; the token is
        the connector's, minted once and reused across calls."""
        return ReportsClient(
            self.auth,
            base_url=self.config.base_url,
            timeout=self.config.timeout,
            pace=self.pace,
            session=self._session,
            retry=RETRY,
        )

    def _params(self, start: datetime, end: datetime) -> list[tuple[str, str]]:
        return [
            ("startTime", format_time(start)),
            ("endTime", format_time(end)),
            ("maxResults", str(self.config.page_size)),
            ("customerId", self.config.customer_id),
        ]

    @hookimpl
    async def validate_ai_credentials(self) -> AICredentialValidation:
        """Mint a token and ask each application for one activity of the
        last hour. A key file that cannot be used or a refused assertion is
        an answer (``is_valid=False``, saying what to fix); an administrator
        who may not read the reports is a missing permission (the audit
        scope, through their role). Other errors (an outage) propagate:
        they say nothing of the credentials."""
        now = self._now()
        try:
            await self.auth.token()
        except (ConfigurationError, AuthenticationError) as exc:
            return AICredentialValidation(
                is_valid=False,
                platform=self.platform,
                has_required_permissions=False,
                last_checked=now,
                errors=(str(exc),),
            )
        errors: list[str] = []
        async with self._client() as client:
            for application in APPLICATIONS:
                hour = now - timedelta(hours=1)
                start = max(hour, _STARTS.get(application, hour))
                params = [
                    ("startTime", format_time(start)),
                    ("endTime", format_time(now)),
                    ("maxResults", "1"),
                    ("customerId", self.config.customer_id),
                ]
                path = ACTIVITIES_PATH.format(application)
                try:
                    await client.get_json(path, params=params)
                except PermissionDeniedError as exc:  # before its base class
                    errors.append(f"{application}: {exc}")
                except AuthenticationError as exc:
                    return AICredentialValidation(
                        is_valid=False,
                        platform=self.platform,
                        has_required_permissions=False,
                        last_checked=now,
                        errors=(f"the API refused the token: {exc}",),
                    )
        return AICredentialValidation(
            is_valid=True,
            platform=self.platform,
            has_required_permissions=not errors,
            missing_permissions=(SCOPE,) if errors else (),
            last_checked=now,
            errors=tuple(errors),
        )

    @hookimpl
    async def list_streams(self) -> list[StreamInfo]:
        return [
            StreamInfo(
                name=application,
                kind=StreamKind.WINDOWED,
                description=_APPLICATION_NAMES.get(application, application),
                actions=TABLE.actions(application),
                publication_lag=self.lag,
            )
            for application in APPLICATIONS
        ]

    def _sizing(
        self, query: AIAuditLogQuery, resumed: bool, stop: datetime, now: datetime
    ) -> tuple[WindowSizing, int, datetime | None]:
        """How a read's windows are cut, how many are read at once, and up
        to when the data is settled (see ``read_windows``). Every window but
        a read's last is at least the lag wide, so a window's checkpoint can
        name every id of the lag before its end from its own."""
        if query.limit is None:
            sizing = WindowSizing(
                first=max(WINDOW, self.lag),
                target=PAGES_PER_WINDOW * self.config.page_size,
                minimum=self.lag,
                maximum=max(30 * WINDOW, self.lag),
            )
            return sizing, self.config.concurrency, min(now, stop) - self.lag
        # A paged read resumes from a checkpoint and skips what earlier
        # pages returned: the same windows must follow, one at a time.
        days = WindowSizing(first=WINDOW, target=1, minimum=WINDOW, maximum=WINDOW)
        return (attrs.evolve(days, first=self.lag) if resumed else days), 1, None

    def _start(
        self, stream: str, query: AIAuditLogQuery, resume: Resume | None, now: datetime
    ) -> datetime:
        """Where a read starts, within what the API can answer.

        Raises:
            ConfigurationError: The query starts before the API's horizon.
        """
        horizon = now - HORIZON
        if resume is None:
            start = query.start_date
            if start < horizon:
                raise ConfigurationError(
                    f"{stream}: the Reports API keeps 180 days: nothing before "
                    f"{format_time(horizon)} can be read, and the query starts at "
                    f"{format_time(start)}; start the read at or after the horizon"
                )
        else:
            start = resume.since - self.lag
            if start < horizon:
                log.warning(
                    "gemini.checkpoint_past_horizon",
                    stream=stream,
                    checkpoint=format_time(resume.since),
                    horizon=format_time(horizon),
                    detail="events between the checkpoint and the horizon are "
                    "gone from the Reports API; reading from the horizon",
                )
        start = max(start, horizon + HORIZON_MARGIN)
        first = _STARTS.get(stream)
        if first is not None and start < first:
            log.warning(
                "gemini.before_data_start",
                stream=stream,
                start=format_time(start),
                data_start=format_time(first),
                detail="Gemini in Workspace has no logs before this day; "
                "reading from it",
            )
            start = first
        return start

    @hookimpl
    async def read_stream(
        self,
        stream: str,
        checkpoint: Mapping[str, Any] | None,
        query: AIAuditLogQuery,
    ) -> AsyncGenerator[StreamBatch, None]:
        if stream not in APPLICATIONS:
            raise NotSupportedError(self.platform, f"stream {stream!r}")
        wanted = LogFilter.from_query(query).askable_actions
        names = event_names(stream, wanted)
        if names is not None and not names:
            return  # nothing asked for is in this application: no request
        extra = [("eventName", next(iter(names)))] if names and len(names) == 1 else []
        resume = Resume.from_dict(stream, checkpoint)
        now = self._now()
        start = self._start(stream, query, resume, now)
        # endTime excludes; a query's end includes. Nothing is after now.
        stop = min(query.end_date + timedelta(microseconds=1), now)
        if start >= stop:
            return
        sizing, concurrency, settled = self._sizing(
            query, resume is not None, stop, now
        )
        lagged = LaggedWindows(
            lag=self.lag,
            resume=resume,
            checkpoint=Resume,
            keep=None if wanted is None else (lambda entry: entry.action in wanted),
        )

        async with self._client() as client:

            def read(window: Window) -> AsyncGenerator[StreamBatch, None]:
                """One window, page by page: the core keeps the events
                inside it not yielded before (an event on an edge is the
                next window's), and yields its end as its checkpoint."""
                params = [*self._params(window.start, window.end), *extra]
                return self._window(client, stream, params)

            windows = lagged.read(
                read,
                start=start,
                end=stop,
                sizing=sizing,
                concurrency=concurrency,
                settled=settled,
            )
            async with contextlib.aclosing(windows) as batches:
                async for batch in batches:
                    yield batch

    async def _window(
        self, client: ReportsClient, stream: str, params: list[tuple[str, str]]
    ) -> AsyncGenerator[StreamBatch, None]:
        """One window's ``pageToken`` chain. A token handed out twice would
        fetch a page already read, forever: the guard raises SchemaError."""
        path = ACTIVITIES_PATH.format(stream)
        guard = CursorGuard(path, "nextPageToken")
        normalize = functools.partial(read_activity, stream, platform=self.platform)
        token: str | None = None
        while True:
            asked = params if token is None else [*params, ("pageToken", token)]
            page = self._page(await client.get_json(path, params=asked), path)
            results = [r for item in page.items for r in normalize(item)]
            yield StreamBatch.from_results(results)
            if not page.nextPageToken:
                return
            guard.advance(page.nextPageToken)
            token = page.nextPageToken

    def _page(self, raw: object, path: str) -> Page:
        """A page of the wrong shape is an API fault, never an empty page."""
        try:
            page: Page = _read_page(raw, Page)
        except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
            problem = describe_structure_error(exc)
            raise SchemaError(f"{path}: malformed page: {problem}") from None
        return page
