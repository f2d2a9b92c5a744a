"""Deliberately broken variants of the example connector, as one plugin.

Each variant is the example connector with one realistic bug, small enough
to read at a glance, registered under a platform name of its own so that
one run of the suite (``--aiaudit-platform all``) checks them all.
``test_suite_catches_broken_connectors`` installs this module through an
entry point and checks that the suite fails each variant by the test meant
for its bug, and by no other. ``unbroken`` is the control.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import UTC, datetime, timedelta

import aiohttp
import attrs
import structlog
from aiaudit_example.config import DEFAULT_BASE_URL, ExampleConfig
from aiaudit_example.connector import WINDOW, ExampleConnector, _path
from aiaudit_example.normalize import APPLICATIONS, format_time, parse_time, stream_of
from aiaudit_example.sandbox import ExampleSandboxProvider

from connector_core import hookimpl
from connector_core.analytics import UsageAccumulator
from connector_core.cursors import CursorGuard
from connector_core.exceptions import RateLimitedError, ServerError
from connector_core.http import HTTPTransport
from connector_core.models import AIAuditLogQuery, ConnectionResult
from connector_core.streams import StreamBatch


class Unbroken(ExampleConnector):
    """The example connector as it is: the suite must pass it."""

    platform = "unbroken"


# -- reading ------------------------------------------------------------------


class DropsLastPage(ExampleConnector):
    """Loops ``while token:``, so the page without a next token is never used."""

    platform = "drops_last_page"

    async def _window(self, stream, path, params, wanted):
        guard = CursorGuard(path, "nextPageToken")
        page = await self.http.get_json(path, params=params)
        items, token = self._page(page, path)
        while token:
            guard.advance(token)
            logs, bad = self._normalize_page(items, stream)
            if wanted:
                logs = [entry for entry in logs if entry.action in wanted]
            yield StreamBatch(logs=tuple(logs), quarantined=tuple(bad))
            page = await self.http.get_json(path, params={**params, "pageToken": token})
            items, token = self._page(page, path)


class RepeatsRecordAcrossPages(ExampleConnector):
    """Starts each page with the last activity of the page before, as a
    connector does that treats a boundary as inclusive."""

    platform = "repeats_record_across_pages"

    async def _window(self, stream, path, params, wanted):
        self._carry = None
        async for batch in super()._window(stream, path, params, wanted):
            yield batch

    def _normalize_page(self, items, stream):
        carried = [self._carry] if self._carry is not None else []
        if items:
            self._carry = items[-1]
        return super()._normalize_page(carried + items, stream)


class IgnoresTheFilter(ExampleConnector):
    """Never pushes ``event_types`` down: every stream is read in full."""

    platform = "ignores_the_filter"

    @hookimpl
    async def read_stream(self, stream, checkpoint, query):
        everything = attrs.evolve(query, event_types=())
        async for batch in super().read_stream(stream, checkpoint, everything):
            yield batch


class NaiveTimestamps(ExampleConnector):
    """Parses times without their offset, as ``strptime(..., "...%fZ")`` does."""

    platform = "naive_timestamps"

    def _normalize(self, activity, stream):
        result = super()._normalize(activity, stream)
        if isinstance(result, list):
            return [
                attrs.evolve(entry, timestamp=entry.timestamp.replace(tzinfo=None))
                for entry in result
            ]
        return result


class ReportsAnotherPlatform(ExampleConnector):
    """Stamps its logs with a platform name it does not register."""

    platform = "reports_another_platform"

    def _normalize(self, activity, stream):
        result = super()._normalize(activity, stream)
        if isinstance(result, list):
            return [attrs.evolve(entry, platform="sample") for entry in result]
        return result


class ShufflesEachPage(ExampleConnector):
    """Collects a page into a set on the way, so its order changes per read."""

    platform = "shuffles_each_page"

    def _normalize_page(self, items, stream):
        logs, bad = super()._normalize_page(items, stream)
        random.shuffle(logs)
        return logs, bad


class ResumesWithOlderEvents(ExampleConnector):
    """Resumes one window before its checkpoint, "to be safe", without
    remembering what it already delivered."""

    platform = "resumes_with_older_events"

    @hookimpl
    async def read_stream(self, stream, checkpoint, query):
        if checkpoint:
            earlier = parse_time(checkpoint["since"]) - WINDOW
            checkpoint = {"since": format_time(earlier)}
        async for batch in super().read_stream(stream, checkpoint, query):
            yield batch


class IgnoresTimeRange(ExampleConnector):
    """Streams straight from the API; since the API refuses a start time in
    the future, it leaves the range out then, and with it every bound."""

    platform = "ignores_time_range"

    @hookimpl
    async def stream_ai_audit_logs(self, query):
        params = {"maxResults": 1000}
        if query.start_date <= datetime.now(UTC):
            params["startTime"] = format_time(query.start_date)
            params["endTime"] = format_time(query.end_date)
        for application in APPLICATIONS:
            path = _path(application)
            token = None
            while True:
                page = await self.http.get_json(
                    path, params={**params, "pageToken": token} if token else params
                )
                items, token = self._page(page, path)
                logs, _ = self._normalize_page(items, stream_of(application))
                for entry in logs:
                    if not query.event_types or entry.action in query.event_types:
                        yield entry
                if token is None:
                    break


# -- secrets and connection ---------------------------------------------------------


class LeaksKeyInError(ExampleConnector):
    """Quotes the refused key in the message, "to help debugging"."""

    platform = "leaks_key_in_error"

    def _refusal(self, exc):
        return f"the key {self.config.api_key.reveal()} was refused: {exc}"


class LogsTheKey(ExampleConnector):
    """Logs the request headers at debug level."""

    platform = "logs_the_key"

    async def _probe(self, http, application):
        structlog.get_logger(__name__).debug(
            "example.probe",
            application=application,
            authorization=f"Bearer {self.config.api_key.reveal()}",
        )
        return await super()._probe(http, application)


@attrs.frozen(kw_only=True)
class PlainConfig:
    """The example's configuration with the key typed ``str``."""

    api_key: str
    customer_id: str = "my_customer"
    base_url: str = DEFAULT_BASE_URL
    timeout: float = 30.0
    page_size: int = 1000


class SecretNotMarked(ExampleConnector):
    """Keeps the key in a plain ``str`` field."""

    platform = "secret_not_marked"

    config_class = PlainConfig

    def __init__(self, config, *, session=None):
        super().__init__(ExampleConfig(**attrs.asdict(config)), session=session)


class RaisesOnBadCredentials(ExampleConnector):
    """Lets the transport's AuthenticationError escape from authenticate."""

    platform = "raises_on_bad_credentials"

    @hookimpl
    async def authenticate(self):
        await self._probe(self.http, "login")
        return ConnectionResult(success=True, platform_user_id=self.config.customer_id)


# -- analytics ----------------------------------------------------------------------


class TopUsersWrongWay(ExampleConnector):
    """Sorts top users ascending: the lightest user comes first."""

    platform = "top_users_wrong_way"

    @hookimpl
    async def get_usage_analytics(self, connector, period):
        accumulator = UsageAccumulator(platform=self.platform, period=period)
        query = AIAuditLogQuery(start_date=period.start, end_date=period.end)
        async for entry in connector.stream_ai_audit_logs(query):
            accumulator.add(entry)
        result = accumulator.result()
        ascending = sorted(result.top_users, key=lambda user: user.event_count)
        return attrs.evolve(result, top_users=tuple(ascending))


# -- failure ------------------------------------------------------------------------


class SwallowsServerErrors(ExampleConnector):
    """Ends the stream quietly on a 5xx: "we will catch up next time"."""

    platform = "swallows_server_errors"

    @hookimpl
    async def read_stream(self, stream, checkpoint, query):
        try:
            async for batch in super().read_stream(stream, checkpoint, query):
                yield batch
        except ServerError:
            return


class StopsOnRateLimit(ExampleConnector):
    """Treats a 429 as the end of the window."""

    platform = "stops_on_rate_limit"

    async def _window(self, stream, path, params, wanted):
        try:
            async for batch in super()._window(stream, path, params, wanted):
                yield batch
        except RateLimitedError:
            return


class EmptyOnMalformedPage(ExampleConnector):
    """Reads a page whose ``items`` is not a list as an empty page."""

    platform = "empty_on_malformed_page"

    def _page(self, page, path):
        if isinstance(page, dict) and not isinstance(page.get("items", []), list):
            return [], None
        return super()._page(page, path)


class LeavesTaskRunning(ExampleConnector):
    """Starts a token-refresh task per read and stops it only when the read
    ends normally, not when it is cancelled."""

    platform = "leaves_task_running"

    @hookimpl
    async def read_stream(self, stream, checkpoint, query):
        refresher = asyncio.create_task(self._refresh_token())
        async for batch in super().read_stream(stream, checkpoint, query):
            yield batch
        refresher.cancel()

    async def _refresh_token(self):
        while True:  # noqa: ASYNC110 - a refresh loop, as connectors write them
            await asyncio.sleep(3600)


class LeaksSession(ExampleConnector):
    """Opens a session of its own per read and closes it only at the end of
    a read that was not cancelled."""

    platform = "leaks_session"

    @hookimpl
    async def read_stream(self, stream, checkpoint, query):
        lookups = aiohttp.ClientSession()
        async for batch in super().read_stream(stream, checkpoint, query):
            yield batch
        await lookups.close()


# -- hostile servers -----------------------------------------------------------------


class SendsKeyOnEveryHop(ExampleConnector):
    """Puts the key in its aiohttp session's default headers, "so every
    request is authenticated": aiohttp adds it to every request the
    transport sends, redirect hops included."""

    platform = "sends_key_on_every_hop"

    _keyed = None

    @hookimpl
    async def read_stream(self, stream, checkpoint, query):
        if self._keyed is None:
            key = self.config.api_key.reveal()
            self._keyed = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {key}"}
            )
            await self.http.aclose()
            self.http = HTTPTransport(
                self.config.base_url,
                api_key=self.config.api_key,
                timeout=self.config.timeout,
                session=self._keyed,
            )
        async for batch in super().read_stream(stream, checkpoint, query):
            yield batch

    @hookimpl
    async def aclose(self):
        await super().aclose()
        if self._keyed is not None:
            await self._keyed.close()


class LoopsOnStuckCursor(ExampleConnector):
    """Follows ``nextPageToken`` for as long as there is one, trusting the
    API to end the listing."""

    platform = "loops_on_stuck_cursor"

    async def _window(self, stream, path, params, wanted):
        token = None
        while True:
            page = await self.http.get_json(
                path, params={**params, "pageToken": token} if token else params
            )
            items, token = self._page(page, path)
            logs, bad = self._normalize_page(items, stream)
            if logs or bad:
                yield StreamBatch(logs=tuple(logs), quarantined=tuple(bad))
            if token is None:
                return


class DropsPoisonedRecords(ExampleConnector):
    """Skips activities with control characters, broken text or absurdly
    long ids, "to keep the store clean", and tells nobody."""

    platform = "drops_poisoned_records"

    def _normalize(self, activity, stream):
        actor = activity.get("actor") or {}
        if any(_garbage(v) for v in (*actor.values(), activity.get("ipAddress"))):
            return []
        return super()._normalize(activity, stream)


def _garbage(value):
    return isinstance(value, str) and (
        len(value) > 1000
        or any(c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF for c in value)
    )


class IgnoresLateEvents(ExampleConnector):
    """Declares the publication lag but resumes exactly at the checkpoint's
    time, so an event published late behind it is never read."""

    platform = "ignores_late_events"

    def _lag(self):
        return timedelta(0)


VARIANTS = {
    cls.__name__: cls
    for cls in (
        DropsLastPage,
        RepeatsRecordAcrossPages,
        IgnoresTheFilter,
        NaiveTimestamps,
        ReportsAnotherPlatform,
        ShufflesEachPage,
        ResumesWithOlderEvents,
        IgnoresTimeRange,
        LeaksKeyInError,
        LogsTheKey,
        SecretNotMarked,
        RaisesOnBadCredentials,
        TopUsersWrongWay,
        SwallowsServerErrors,
        StopsOnRateLimit,
        EmptyOnMalformedPage,
        LeavesTaskRunning,
        LeaksSession,
        SendsKeyOnEveryHop,
        LoopsOnStuckCursor,
        DropsPoisonedRecords,
        IgnoresLateEvents,
    )
}


PLATFORMS = {cls.platform: cls for cls in (Unbroken, *VARIANTS.values())}


class RenamedSandbox:
    """The example's own sandbox under a variant's platform name: the
    variants break the client, never the API."""

    def __init__(self, platform):
        self.platform = platform

    @contextlib.asynccontextmanager
    async def start(self, options):
        async with ExampleSandboxProvider().start(options) as running:
            yield attrs.evolve(running, platform=self.platform)


@hookimpl
def aiaudit_register_connectors(register):
    for cls in PLATFORMS.values():
        register(cls)


@hookimpl
def aiaudit_sandbox(platform):
    return RenamedSandbox(platform) if platform in PLATFORMS else None
