"""The Example Reports connector: its configuration and its hooks.

The API pages as Google's Admin Reports API does: a request names an
application and a time range (``startTime`` inclusive, ``endTime``
exclusive), and each page ends with an opaque ``nextPageToken`` good only
for the very same request. So a token is never a checkpoint: each
application is a *windowed* stream, read in time windows, each drained by
page token and then checkpointed by its end, a time that stays valid
forever. The windows of a range are independent cursor chains, so the core
(``read_windows``) reads several at once and yields a checkpoint only once
every window before it is read.

Some activity is published late, up to ``PUBLICATION_LAG`` after its time.
A checkpoint therefore also names the logs yielded in the lag before it,
and a read resumed from it first reads that stretch again, skipping them:
late activity is read, and nothing twice.

The directory's user listing is read whole by ``read_directory``, which
the sync calls after the streams: ``total_users`` then counts the people
with a seat, not only those who acted.

The usage report is one more stream, ``model_usage``: daily buckets of
requests, tokens and cost per model and project, yielded as usage records
rather than logs. Today's bucket still grows, so its checkpoint is the
start of the last day read, and the next read fetches that day again; the
store replaces each bucket by its id.
"""

from __future__ import annotations

import contextlib
import functools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs
import cattrs
from connector_core import (
    DEFAULT_CONCURRENCY,
    DIRECTORY_STREAM,
    AICredentialValidation,
    AuthenticationError,
    Checkpoint,
    ConnectionPace,
    CursorGuard,
    DirectoryListing,
    HTTPTransport,
    LagCheckpoint,
    LaggedWindows,
    LogFilter,
    NotSupportedError,
    PermissionDeniedError,
    SchemaError,
    Secret,
    StreamBatch,
    StreamInfo,
    StreamKind,
    Window,
    WindowSizing,
    concurrency_option,
    describe_structure_error,
    hookimpl,
    normalize_or_quarantine,
    rate_limit_option,
    strict_converter,
)

from aiaudit_example.normalize import (
    APPLICATIONS,
    DIRECTORY_PATH,
    PERMISSIONS,
    PLATFORM,
    PUBLICATION_LAG,
    USAGE_PATH,
    format_time,
    normalize_activity,
    normalize_member,
    normalize_usage,
)


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Mapping

    import aiohttp
    from connector_core import AIAuditLogQuery


WINDOW: Final = timedelta(days=1)
"""The first windows' width, before a read knows how busy the stream is:
a day is cheap to read again after a crash, and a quiet month is few
requests."""

PAGES_PER_WINDOW: Final = 100
"""A window aims at a hundred pages: its last, partial page is then about
1% of its requests, and a busy month still makes more windows than there
are places in flight."""

DAYS: Final = WindowSizing(first=WINDOW, target=1, minimum=WINDOW, maximum=WINDOW)
"""Whole days, however busy: how a page's read (``query.limit``) is cut,
so that a read again from any of its checkpoints cuts the same windows."""


@attrs.frozen(kw_only=True)
class ExampleConfig:
    api_key: Secret
    customer_id: str = "my_customer"
    base_url: str = "https://reports.example.com"
    # Converters: options given on the command line arrive as text.
    timeout: float = attrs.field(default=30.0, converter=float)
    page_size: int = attrs.field(
        default=1000, converter=int, validator=attrs.validators.in_(range(1, 1001))
    )
    # Requests in flight, and the key's rate limit when known (per second).
    concurrency: int = attrs.field(
        default=DEFAULT_CONCURRENCY, converter=concurrency_option
    )
    rate_limit: float | None = attrs.field(default=None, converter=rate_limit_option)

    environment: ClassVar = {
        "api_key": "EXAMPLE_API_KEY",
        "customer_id": "EXAMPLE_CUSTOMER_ID",
        "base_url": "EXAMPLE_BASE_URL",
        "concurrency": "EXAMPLE_CONCURRENCY",
        "rate_limit": "EXAMPLE_RATE_LIMIT",
    }


_STREAMS: Final = {f"{app}_activity": app for app in APPLICATIONS}
"""One stream per application: the API lists one application per request."""

USAGE_STREAM: Final = "model_usage"
"""The usage report's stream."""


@attrs.frozen(kw_only=True)
class Resume(LagCheckpoint):
    """A stream's checkpoint: read up to ``since``; ``seen`` are the logs
    yielded in the lag before it. ``Resume.from_dict`` reads it back (or
    raises CheckpointError); ``to_dict()`` is what a batch carries."""


@attrs.frozen(kw_only=True)
class UsageResume(Checkpoint):
    """The usage stream's checkpoint: every bucket of a day before ``since``
    was read; the day of ``since`` may still be revised, so it is read
    again."""

    since: datetime


def _day(moment: datetime) -> datetime:
    """The start of *moment*'s day (UTC): buckets are whole days."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@attrs.frozen
class Page:
    items: tuple[Any, ...] = ()  # left out of an empty page
    nextPageToken: str | None = None  # noqa: N815 - the API's name


@attrs.frozen
class UsersPage:
    users: tuple[Any, ...] = ()  # left out of an empty page
    nextPageToken: str | None = None  # noqa: N815 - the API's name


_read_page = strict_converter().get_structure_hook(Page)
_read_users = strict_converter().get_structure_hook(UsersPage)


def _path(application: str, user_key: str = "all") -> str:
    return f"/admin/reports/v1/activity/users/{user_key}/applications/{application}"


class ExampleConnector:
    platform: ClassVar[str] = PLATFORM
    display_name: ClassVar[str] = "Example Reports"
    config_class: ClassVar[type[ExampleConfig]] = ExampleConfig

    def __init__(
        self, config: ExampleConfig, *, session: aiohttp.ClientSession | None = None
    ) -> None:
        self.config = config
        self._session = session
        # The requests in flight and the rate, shared by every transport of
        # this object: a 429 speaks of the key, not of one read.
        self.pace = ConnectionPace(config.concurrency, config.rate_limit)

    def _http(self) -> HTTPTransport:
        """A transport per call, closed by its ``async with``: nothing stays
        open between calls, so the connector needs no ``aclose``. It retries
        throttling and server errors, keeps the key out of every error, log
        line and redirect hop, and waits for a place in flight."""
        return HTTPTransport(
            self.config.base_url,
            api_key=self.config.api_key,
            timeout=self.config.timeout,
            session=self._session,
            concurrency=self.pace.concurrency,
            budget=self.pace.budget,
        )

    async def _probe(self, http: HTTPTransport, application: str) -> str | None:
        """``None`` when the key reads *application*, else why not; a
        refused key raises ``AuthenticationError``."""
        now = datetime.now(UTC)
        params: dict[str, str | int] = {
            "startTime": format_time(now - timedelta(hours=1)),
            "endTime": format_time(now),
            "maxResults": 1,
        }
        try:
            await http.get_json(_path(application), params=params)
        except PermissionDeniedError as exc:
            return f"{application}: {exc}"
        return None

    @hookimpl
    async def validate_ai_credentials(self) -> AICredentialValidation:
        """A refused key is an answer, not an error; a key lacking a scope
        still works, and each missing scope is named for the administrator.
        Other errors (an outage) propagate: they say nothing of the key."""
        now = datetime.now(UTC)
        async with self._http() as http:
            try:
                problems = {app: await self._probe(http, app) for app in APPLICATIONS}
            except AuthenticationError as exc:
                return AICredentialValidation(
                    is_valid=False,
                    platform=self.platform,
                    has_required_permissions=False,
                    last_checked=now,
                    errors=(f"the key was refused: {exc}",),
                )
        lacking = {app: problem for app, problem in problems.items() if problem}
        return AICredentialValidation(
            is_valid=True,
            platform=self.platform,
            has_required_permissions=not lacking,
            missing_permissions=tuple(PERMISSIONS[app] for app in lacking),
            last_checked=now,
            errors=tuple(lacking.values()),
        )

    @hookimpl
    async def list_streams(self) -> list[StreamInfo]:
        return [
            StreamInfo(
                name=stream,
                kind=StreamKind.WINDOWED,
                description=f"The {app} application's activity",
                actions=tuple(sorted(action for action, _ in events.values())),
                publication_lag=PUBLICATION_LAG,
            )
            for stream, app in _STREAMS.items()
            for events in [APPLICATIONS[app]]
        ] + [
            StreamInfo(
                name=USAGE_STREAM,
                kind=StreamKind.WINDOWED,
                description="Requests, tokens and cost per model, project and day",
            )
        ]

    @hookimpl
    async def read_stream(
        self,
        stream: str,
        checkpoint: Mapping[str, Any] | None,
        query: AIAuditLogQuery,
    ) -> AsyncGenerator[StreamBatch, None]:
        reader = (
            self._usage(checkpoint, query)
            if stream == USAGE_STREAM
            else self._activity(stream, checkpoint, query)
        )
        async with contextlib.aclosing(reader) as batches:
            async for batch in batches:
                yield batch

    async def _activity(
        self,
        stream: str,
        checkpoint: Mapping[str, Any] | None,
        query: AIAuditLogQuery,
    ) -> AsyncGenerator[StreamBatch, None]:
        """An application's activity, in windows (see the module docstring)."""
        app = _STREAMS.get(stream)
        if app is None:
            raise NotSupportedError(self.platform, f"stream {stream!r}")
        # Narrow by what the API can express (exact names, user ids); a glob
        # or an email reads more, and the core's filter keeps what matches.
        where = LogFilter.from_query(query)
        wanted = where.askable_actions
        names = [
            n
            for n, (action, _) in APPLICATIONS[app].items()
            if wanted is None or action in wanted
        ]
        if not names:
            return  # nothing asked for is in this application: no request
        users = where.askable_user_ids
        user = next(iter(users)) if users is not None and len(users) == 1 else "all"
        path = _path(app, user)
        params: dict[str, str | int] = {"maxResults": self.config.page_size}
        if wanted is not None and len(names) == 1:
            params["eventName"] = names[0]  # one name the API filters
        stop = query.end_date + timedelta(microseconds=1)  # endTime is exclusive
        lagged = LaggedWindows(
            lag=PUBLICATION_LAG,
            resume=Resume.from_dict(stream, checkpoint),
            checkpoint=Resume,
            keep=None if wanted is None else (lambda log: log.action in wanted),
        )
        if query.limit is None:
            # Read for throughput: several windows at once, each sized by
            # how busy the last one was, cut only where all is published.
            concurrency = self.config.concurrency
            settled = min(datetime.now(UTC), stop) - PUBLICATION_LAG
            sizing = WindowSizing(
                first=WINDOW,
                target=PAGES_PER_WINDOW * self.config.page_size,
                # A window's checkpoint names only its own ids of the lag
                # before its end: none may be narrower than the lag (and the
                # last may be a quarter of the one before).
                minimum=4 * PUBLICATION_LAG,
                maximum=30 * WINDOW,
            )
        else:
            # A page of the core's reads again from a checkpoint and skips
            # the logs earlier pages returned: after a checkpoint the same
            # windows must follow (the lag before it apart, then whole days),
            # read one at a time.
            concurrency, settled = 1, None
            resumed = lagged.resume is not None
            sizing = attrs.evolve(DAYS, first=PUBLICATION_LAG) if resumed else DAYS

        async with self._http() as http:

            def read(window: Window) -> AsyncGenerator[StreamBatch, None]:
                """One window, page by page: the core keeps the logs inside
                it not yielded before, and yields its end as its checkpoint."""
                asked = {
                    **params,
                    "startTime": format_time(window.start),
                    "endTime": format_time(window.end),
                }
                return self._window(http, stream, path, asked)

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
        path: str,
        params: dict[str, str | int],
    ) -> AsyncGenerator[StreamBatch, None]:
        """One window, page by page. A token handed out twice would fetch a
        page already read, forever: the guard raises SchemaError instead."""
        guard = CursorGuard(path, "nextPageToken")
        normalize = functools.partial(normalize_activity, platform=self.platform)
        token: str | None = None
        while True:
            asked = params if token is None else {**params, "pageToken": token}
            page = self._page(await http.get_json(path, params=asked), path)
            token = page.nextPageToken
            if token is not None:
                guard.advance(token)
            yield StreamBatch.from_results(
                normalize_or_quarantine(stream, item, normalize) for item in page.items
            )
            if token is None:
                return

    async def _usage(
        self, checkpoint: Mapping[str, Any] | None, query: AIAuditLogQuery
    ) -> AsyncGenerator[StreamBatch, None]:
        """The usage report's buckets from the checkpoint's day (or the day
        of the query's start) to the query's end, page by page, in order of
        their start: after each page, every day before its last bucket's
        is read, and that is the checkpoint."""
        if LogFilter.from_query(query).askable_actions is not None:
            return  # buckets are no action: a read of some actions has none
        resume = UsageResume.from_dict(USAGE_STREAM, checkpoint)
        start = _day(query.start_date) if resume is None else resume.since
        stop = query.end_date + timedelta(microseconds=1)  # endTime is exclusive
        if start >= stop:
            return
        params: dict[str, str | int] = {
            "startTime": format_time(start),
            "endTime": format_time(stop),
            "maxResults": self.config.page_size,
        }
        guard = CursorGuard(USAGE_PATH, "nextPageToken")
        normalize = functools.partial(normalize_usage, platform=self.platform)
        token: str | None = None
        async with self._http() as http:
            while True:
                asked = params if token is None else {**params, "pageToken": token}
                raw = await http.get_json(USAGE_PATH, params=asked)
                page = self._page(raw, USAGE_PATH)
                token = page.nextPageToken
                if token is not None:
                    guard.advance(token)
                batch = StreamBatch.from_results(
                    normalize_or_quarantine(USAGE_STREAM, item, normalize)
                    for item in page.items
                )
                since = _day(query.end_date) if token is None else None
                if since is None and batch.usage:
                    since = _day(batch.usage[-1].start)
                if since is not None:
                    done = UsageResume(since=max(since, start))
                    batch = attrs.evolve(batch, checkpoint=done.to_dict())
                yield batch
                if token is None:
                    return

    @hookimpl
    async def read_directory(self) -> DirectoryListing:
        """Every user the directory lists, page by page; a user record of
        another shape is quarantined, a page of another shape is an error."""
        params: dict[str, str | int] = {
            "customer": self.config.customer_id,
            "maxResults": self.config.page_size,
        }
        guard = CursorGuard(DIRECTORY_PATH, "nextPageToken")
        records: list[Any] = []
        token: str | None = None
        async with self._http() as http:
            while True:
                asked = params if token is None else {**params, "pageToken": token}
                raw = await http.get_json(DIRECTORY_PATH, params=asked)
                try:
                    page = _read_users(raw, UsersPage)
                except (cattrs.BaseValidationError, TypeError) as exc:
                    problem = describe_structure_error(exc)
                    raise SchemaError(
                        f"{DIRECTORY_PATH}: malformed page: {problem}"
                    ) from None
                records.extend(page.users)
                token = page.nextPageToken
                if token is None:
                    break
                guard.advance(token)
        return DirectoryListing.from_results(
            normalize_or_quarantine(DIRECTORY_STREAM, record, normalize_member)
            for record in records
        )

    def _page(self, raw: object, path: str) -> Page:
        """A page of the wrong shape is an API fault, never an empty page."""
        try:
            page: Page = _read_page(raw, Page)
        except (cattrs.BaseValidationError, TypeError) as exc:
            problem = describe_structure_error(exc)
            raise SchemaError(f"{path}: malformed page: {problem}") from None
        return page
