"""The Example Reports connector.

The API pages the way Google's Admin Reports API does: a request names an
application and a time range (``startTime`` inclusive, ``endTime``
exclusive), answers come newest first, and each page ends with an opaque
``nextPageToken`` that is only good for the very same request. Nothing in a
record can be handed back to continue from it, as an id cursor can.

So the connector reads each application as a *windowed* stream: it walks
ascending one-day windows, drains each window page by page with the page
tokens, and only then yields the window's end as the checkpoint. Page tokens
never leave a window, let alone a process; a checkpoint is a time, which
stays valid forever. The core turns these streams into host-facing pages
with cursors of its own, so the connector never has to.

The API publishes some activity late, up to :data:`PUBLICATION_LAG` after
its time. So a checkpoint also names the logs already yielded in the last
lag before its time, and a read resumed from it first reads that stretch
again, yielding only what is new there: late activity is read, and nothing
is read twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Final

from connector_core import (
    AIAuditLog,
    AICredentialValidation,
    AuthenticationError,
    ConfigurationError,
    ConnectionResult,
    CursorGuard,
    HTTPTransport,
    NotSupportedError,
    PermissionDeniedError,
    QuarantinedRecord,
    SchemaError,
    StreamBatch,
    StreamInfo,
    StreamKind,
    get_logger,
    hookimpl,
)

from aiaudit_example.config import ExampleConfig
from aiaudit_example.normalize import (
    APPLICATIONS,
    PERMISSIONS,
    PLATFORM,
    PUBLICATION_LAG,
    actions_of,
    format_time,
    native_names,
    normalize_activity,
    parse_time,
    stream_of,
)


if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Iterable, Mapping

    import aiohttp
    from connector_core import AIAuditLogQuery, OAuthCredentials, Secret


__all__ = ["ERROR_CODE", "WINDOW", "ExampleConnector"]

log = get_logger(__name__)

WINDOW: Final = timedelta(days=1)
"""The time a checkpoint covers: a day is cheap to read again after a crash,
and few enough windows that a quiet month costs few requests."""

ERROR_CODE: Final = "EXAMPLE_UNAUTHENTICATED"

_STREAMS: Final = {stream_of(app): app for app in APPLICATIONS}
_PROBE_SPAN: Final = timedelta(hours=1)


def _path(application: str, user_key: str = "all") -> str:
    return f"/admin/reports/v1/activity/users/{user_key}/applications/{application}"


class ExampleConnector:
    """Reads an Example Reports tenant: one stream per application."""

    platform: ClassVar[str] = PLATFORM
    display_name: ClassVar[str] = "Example Reports"
    config_class: ClassVar[type[ExampleConfig]] = ExampleConfig

    def __init__(
        self, config: ExampleConfig, *, session: aiohttp.ClientSession | None = None
    ) -> None:
        self.config = config
        self._session = session
        self.http = self._transport(config.api_key)

    def _transport(self, key: Secret) -> HTTPTransport:
        # The transport retries throttling and server errors, honours
        # Retry-After and keeps the key out of every error and log line.
        return HTTPTransport(
            self.config.base_url,
            api_key=key,
            timeout=self.config.timeout,
            session=self._session,
        )

    # -- connection ---------------------------------------------------------

    async def _probe(self, http: HTTPTransport, application: str) -> str | None:
        """``None`` when *application* is readable, else why not.

        Raises:
            AuthenticationError: The key itself was refused (401).
        """
        now = datetime.now(UTC)
        params: dict[str, str | int] = {
            "startTime": format_time(now - _PROBE_SPAN),
            "endTime": format_time(now),
            "maxResults": 1,
        }
        try:
            await http.get_json(_path(application), params=params)
        except PermissionDeniedError as exc:
            return f"{application}: {exc}"
        return None

    @hookimpl
    async def authenticate(
        self, credentials: OAuthCredentials | None
    ) -> ConnectionResult:
        """Probe every application once; a refused key is an answer, not an
        exception, and a key that reads only some applications is still a
        working key (``validate_ai_credentials`` says what it lacks)."""
        http = (
            self.http
            if credentials is None
            else self._transport(credentials.access_token)
        )
        try:
            verdicts = {app: await self._probe(http, app) for app in APPLICATIONS}
        except AuthenticationError as exc:
            return ConnectionResult(
                success=False, error=self._refusal(exc), error_code=ERROR_CODE
            )
        finally:
            if http is not self.http:
                await http.aclose()
        return ConnectionResult(
            success=True,
            platform_user_id=self.config.customer_id,
            display_name=f"Example Reports - {self.config.customer_id}",
            permissions=tuple(
                PERMISSIONS[app] for app, problem in verdicts.items() if problem is None
            ),
        )

    def _refusal(self, exc: AuthenticationError) -> str:
        """What to tell the person whose key was refused."""
        return f"the key was refused: {exc}"

    @hookimpl
    async def validate_ai_credentials(self) -> AICredentialValidation:
        """Name each missing scope, so an administrator knows what to grant."""
        now = datetime.now(UTC)
        try:
            verdicts = {app: await self._probe(self.http, app) for app in APPLICATIONS}
        except AuthenticationError as exc:
            return AICredentialValidation(
                is_valid=False,
                platform=self.platform,
                has_required_permissions=False,
                last_checked=now,
                errors=(self._refusal(exc),),
            )
        missing = tuple(
            PERMISSIONS[app] for app, problem in verdicts.items() if problem is not None
        )
        return AICredentialValidation(
            is_valid=True,
            platform=self.platform,
            has_required_permissions=not missing,
            missing_permissions=missing,
            last_checked=now,
            errors=tuple(problem for problem in verdicts.values() if problem),
        )

    # -- streams ------------------------------------------------------------

    @hookimpl
    async def list_streams(self) -> list[StreamInfo]:
        return [
            StreamInfo(
                name=stream_of(app),
                kind=StreamKind.WINDOWED,
                description=f"The {app} application's activity",
                actions=actions_of(app),
                publication_lag=PUBLICATION_LAG,
            )
            for app in APPLICATIONS
        ]

    @hookimpl
    async def read_stream(
        self,
        stream: str,
        checkpoint: Mapping[str, Any] | None,
        query: AIAuditLogQuery,
    ) -> AsyncGenerator[StreamBatch, None]:
        """Ascending one-day windows from *checkpoint*, each drained by page
        token and then checkpointed by its end; a resumed read first reads
        the publication lag before the checkpoint again, for late activity."""
        application = _STREAMS.get(stream)
        if application is None:
            raise NotSupportedError(self.platform, f"stream {stream!r}")
        wanted = frozenset(query.event_types)
        names = native_names(application, wanted) if wanted else None
        if names is not None and not names:
            return  # nothing asked for is in this application: no request
        # The query's end is inclusive; the API's endTime is not.
        stop = query.end_date + timedelta(microseconds=1)
        user_key = query.user_ids[0] if len(query.user_ids) == 1 else "all"
        path = _path(application, user_key)
        recent = _Recent(self._lag())
        low = query.start_date
        if checkpoint:
            since, seen = _resume_point(checkpoint)
            recent.remember(seen, since)
            # The stretch before the checkpoint where late activity may
            # have appeared since: what was yielded there is skipped.
            catch_up = max(low, since - recent.lag)
            if catch_up < min(since, stop):
                params = self._params(catch_up, min(since, stop), names)
                async for batch in self._window(stream, path, params, wanted):
                    fresh = recent.fresh(batch.logs)
                    if fresh or batch.quarantined:
                        yield StreamBatch(logs=fresh, quarantined=batch.quarantined)
            low = max(low, since)
            if low >= stop:
                yield StreamBatch(checkpoint=recent.checkpoint(since))
                return
        while low < stop:
            high = min(low + WINDOW, stop)
            params = self._params(low, high, names)
            async for batch in self._window(stream, path, params, wanted):
                recent.add(batch.logs)
                yield batch
            yield StreamBatch(checkpoint=recent.checkpoint(high))
            low = high

    def _lag(self) -> timedelta:
        """How far back a resumed read looks for late activity."""
        return PUBLICATION_LAG

    def _params(
        self, low: datetime, high: datetime, names: frozenset[str] | None
    ) -> dict[str, str | int]:
        params: dict[str, str | int] = {
            "startTime": format_time(low),
            "endTime": format_time(high),
            "maxResults": self.config.page_size,
        }
        if names is not None and len(names) == 1:
            # The API filters one event name; more are filtered here.
            params["eventName"] = next(iter(names))
        return params

    async def _window(
        self,
        stream: str,
        path: str,
        params: dict[str, str | int],
        wanted: frozenset[str],
    ) -> AsyncGenerator[StreamBatch, None]:
        """One window, page by page; a page token is used once, right away.

        A token handed out twice would fetch a page already read, forever:
        the guard stops the window with a SchemaError instead.
        """
        token: str | None = None
        guard = CursorGuard(f"{path} from {params['startTime']}", "nextPageToken")
        pages = 0
        while True:
            page = await self.http.get_json(
                path, params={**params, "pageToken": token} if token else params
            )
            items, token = self._page(page, path)
            pages += 1
            if token is not None:
                guard.advance(token)  # before the page: it may be one read already
            logs, bad = self._normalize_page(items, stream)
            if wanted:
                logs = [entry for entry in logs if entry.action in wanted]
            if logs or bad:
                yield StreamBatch(logs=tuple(logs), quarantined=tuple(bad))
            if token is None:
                log.debug("example.window", stream=stream, pages=pages, **params)
                return

    def _page(self, page: object, path: str) -> tuple[list[Any], str | None]:
        """A page's activities and next token, or a SchemaError: a page of the
        wrong shape is an API fault, never an empty page."""
        if not isinstance(page, dict):
            raise SchemaError(
                f"{path}: expected a JSON object, got {type(page).__name__}"
            )
        items = page.get("items", [])  # left out when a page is empty
        if not isinstance(items, list):
            raise SchemaError(f"{path}: 'items' is {type(items).__name__}, not a list")
        token = page.get("nextPageToken")
        if token is not None and (not isinstance(token, str) or not token):
            raise SchemaError(f"{path}: 'nextPageToken' is not a non-empty string")
        return items, token

    def _normalize_page(
        self, items: list[Any], stream: str
    ) -> tuple[list[AIAuditLog], list[QuarantinedRecord]]:
        logs: list[AIAuditLog] = []
        bad: list[QuarantinedRecord] = []
        for activity in items:
            result = self._normalize(activity, stream)
            if isinstance(result, QuarantinedRecord):
                bad.append(result)
            else:
                logs.extend(result)
        return logs, bad

    def _normalize(
        self, activity: object, stream: str
    ) -> list[AIAuditLog] | QuarantinedRecord:
        return normalize_activity(activity, stream=stream, platform=self.platform)

    @hookimpl
    async def aclose(self) -> None:
        await self.http.aclose()


def _resume_point(checkpoint: Mapping[str, Any]) -> tuple[datetime, list[str]]:
    """The checkpoint's time and the log ids it says were yielded within
    the publication lag before it (none in a checkpoint of older versions)."""
    wrong = f"not a checkpoint of this connector: {dict(checkpoint)!r}"
    try:
        since = parse_time(checkpoint["since"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(wrong) from exc
    seen = checkpoint.get("seen", [])
    if not isinstance(seen, list) or not all(isinstance(i, str) for i in seen):
        raise ConfigurationError(wrong)
    return since, seen


class _Recent:
    """The logs yielded within the publication lag of the read's position:
    what a checkpoint must name so that a read resumed from it skips them."""

    def __init__(self, lag: timedelta) -> None:
        self.lag = lag
        self._seen: dict[str, datetime] = {}

    def remember(self, ids: Iterable[str], at: datetime) -> None:
        """Ids a checkpoint at *at* named; their own times are not kept, so
        they count as of *at*, the latest they can be (kept longest)."""
        for log_id in ids:
            self._seen[log_id] = at

    def add(self, logs: Iterable[AIAuditLog]) -> None:
        """Remember *logs*, yielded."""
        for entry in logs:
            self._seen[entry.id] = entry.timestamp

    def fresh(self, logs: Iterable[AIAuditLog]) -> tuple[AIAuditLog, ...]:
        """The logs of *logs* not yielded yet (by this read or before the
        checkpoint it resumed from); they are remembered."""
        found = []
        for entry in logs:
            if entry.id not in self._seen:
                self._seen[entry.id] = entry.timestamp
                found.append(entry)
        return tuple(found)

    def checkpoint(self, since: datetime) -> dict[str, Any]:
        """A checkpoint at *since*, naming the logs of the lag before it."""
        horizon = since - self.lag
        self._seen = {i: t for i, t in self._seen.items() if t >= horizon}
        checkpoint: dict[str, Any] = {"since": format_time(since)}
        if self.lag > timedelta(0):
            checkpoint["seen"] = sorted(self._seen)
        return checkpoint
