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
import functools
import random
from datetime import UTC, datetime

import aiohttp
import attrs
import structlog
from aiaudit_example.connector import WINDOW, ExampleConfig, ExampleConnector, _path
from aiaudit_example.normalize import (
    APPLICATIONS,
    format_time,
    normalize_activity,
    parse_time,
)
from aiaudit_example.sandbox import ExampleSandboxProvider

from connector_core import Secret, hookimpl, normalize_or_quarantine
from connector_core.analytics import UsageAccumulator
from connector_core.cursors import CursorGuard
from connector_core.exceptions import RateLimitedError, ServerError
from connector_core.http import HTTPTransport
from connector_core.models import AIAuditLogQuery, ConnectionResult
from connector_core.streams import StreamBatch


class Unbroken(ExampleConnector):
    """The example connector as it is: the suite must pass it."""

    platform = "unbroken"


class EditsLogs(ExampleConnector):
    """A variant that changes the logs its reads yield, batch by batch."""

    def _edit(self, logs):
        return logs

    @hookimpl
    async def read_stream(self, stream, checkpoint, query):
        async for batch in super().read_stream(stream, checkpoint, query):
            yield attrs.evolve(batch, logs=tuple(self._edit(list(batch.logs))))


# -- reading ------------------------------------------------------------------


class DropsLastPage(ExampleConnector):
    """Loops ``while token:``, so the page without a next token is never used."""

    platform = "drops_last_page"

    async def _window(self, http, stream, path, params):
        guard = CursorGuard(path, "nextPageToken")
        page = self._page(await http.get_json(path, params=params), path)
        while page.nextPageToken:
            guard.advance(page.nextPageToken)
            yield _batch(self, stream, page.items)
            asked = {**params, "pageToken": page.nextPageToken}
            page = self._page(await http.get_json(path, params=asked), path)


class RepeatsRecordAcrossPages(ExampleConnector):
    """Starts each batch with the last log of the batch before, as a
    connector does that treats a boundary as inclusive."""

    platform = "repeats_record_across_pages"

    @hookimpl
    async def read_stream(self, stream, checkpoint, query):
        last = ()
        async for batch in super().read_stream(stream, checkpoint, query):
            logs = (*last, *batch.logs) if batch.logs else ()
            last = batch.logs[-1:] or last
            yield attrs.evolve(batch, logs=logs)


class IgnoresTheFilter(ExampleConnector):
    """Never pushes ``event_types`` down: every stream is read in full."""

    platform = "ignores_the_filter"

    @hookimpl
    async def read_stream(self, stream, checkpoint, query):
        everything = attrs.evolve(query, event_types=())
        async for batch in super().read_stream(stream, checkpoint, everything):
            yield batch


class NaiveTimestamps(EditsLogs):
    """Parses times without their offset, as ``strptime(..., "...%fZ")`` does."""

    platform = "naive_timestamps"

    def _edit(self, logs):
        return [
            attrs.evolve(entry, timestamp=entry.timestamp.replace(tzinfo=None))
            for entry in logs
        ]


class ReportsAnotherPlatform(EditsLogs):
    """Stamps its logs with a platform name it does not register."""

    platform = "reports_another_platform"

    def _edit(self, logs):
        return [attrs.evolve(entry, platform="sample") for entry in logs]


class ShufflesEachPage(EditsLogs):
    """Collects a page into a set on the way, so its order changes per read."""

    platform = "shuffles_each_page"

    def _edit(self, logs):
        random.shuffle(logs)
        return logs


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
        async with self._http() as http:
            for application in APPLICATIONS:
                stream = f"{application}_activity"
                path = _path(application)
                async for batch in self._window(http, stream, path, params):
                    for entry in batch.logs:
                        if not query.event_types or entry.action in query.event_types:
                            yield entry


# -- secrets and connection ---------------------------------------------------------


class LeaksKeyInError(ExampleConnector):
    """Quotes the refused key in the message, "to help debugging"."""

    platform = "leaks_key_in_error"

    @hookimpl
    async def validate_ai_credentials(self):
        result = await super().validate_ai_credentials()
        if result.is_valid:
            return result
        refused = f"the key {self.config.api_key.reveal()} was refused"
        return attrs.evolve(result, errors=(refused,))


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
    base_url: str = "https://reports.example.com"
    timeout: float = 30.0
    page_size: int = 1000


class SecretNotMarked(ExampleConnector):
    """Keeps the key in a plain ``str`` field."""

    platform = "secret_not_marked"

    config_class = PlainConfig

    def __init__(self, config, *, session=None):
        values = attrs.asdict(config) | {"api_key": Secret(config.api_key)}
        super().__init__(ExampleConfig(**values), session=session)


class RaisesOnBadCredentials(ExampleConnector):
    """Lets the transport's AuthenticationError escape from authenticate."""

    platform = "raises_on_bad_credentials"

    @hookimpl
    async def authenticate(self):
        async with self._http() as http:
            await self._probe(http, "login")
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

    async def _window(self, http, stream, path, params):
        try:
            async for batch in super()._window(http, stream, path, params):
                yield batch
        except RateLimitedError:
            return

    async def _usage(self, checkpoint, query):
        # The same mistake in its usage report, or that stream's error
        # would surface the 429 the others hide.
        try:
            async for batch in super()._usage(checkpoint, query):
                yield batch
        except RateLimitedError:
            return


class EmptyOnMalformedPage(ExampleConnector):
    """Reads a page whose ``items`` is not a list as an empty page."""

    platform = "empty_on_malformed_page"

    def _page(self, raw, path):
        if isinstance(raw, dict) and not isinstance(raw.get("items", []), list):
            return super()._page({}, path)
        return super()._page(raw, path)


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

    def _http(self):
        if self._keyed is None:
            key = self.config.api_key.reveal()
            self._keyed = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {key}"}
            )
        return HTTPTransport(
            self.config.base_url,
            api_key=self.config.api_key,
            timeout=self.config.timeout,
            session=self._keyed,
        )

    @hookimpl
    async def aclose(self):
        if self._keyed is not None:
            await self._keyed.close()


class LoopsOnStuckCursor(ExampleConnector):
    """Follows ``nextPageToken`` for as long as there is one, trusting the
    API to end the listing."""

    platform = "loops_on_stuck_cursor"

    async def _window(self, http, stream, path, params):
        page = self._page(await http.get_json(path, params=params), path)
        yield _batch(self, stream, page.items)
        while page.nextPageToken is not None:
            asked = {**params, "pageToken": page.nextPageToken}
            page = self._page(await http.get_json(path, params=asked), path)
            yield _batch(self, stream, page.items)


class DropsPoisonedRecords(EditsLogs):
    """Skips logs with control characters, broken text or absurdly long
    ids, "to keep the store clean", and tells nobody."""

    platform = "drops_poisoned_records"

    def _edit(self, logs):
        return [
            entry
            for entry in logs
            if not any(
                _garbage(v) for v in (entry.user_id, entry.user_email, entry.ip_address)
            )
        ]


def _batch(connector, stream, items):
    normalize = functools.partial(normalize_activity, platform=connector.platform)
    return StreamBatch.from_results(
        normalize_or_quarantine(stream, item, normalize) for item in items
    )


def _garbage(value):
    return isinstance(value, str) and (
        len(value) > 1000
        or any(c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF for c in value)
    )


class IgnoresLateEvents(ExampleConnector):
    """Declares the publication lag but resumes exactly at the checkpoint's
    time, so an event published late behind it is never read."""

    platform = "ignores_late_events"

    @hookimpl
    async def read_stream(self, stream, checkpoint, query):
        since = parse_time(checkpoint["since"]) if checkpoint else None
        async for batch in super().read_stream(stream, checkpoint, query):
            logs = [log for log in batch.logs if not since or log.timestamp >= since]
            yield attrs.evolve(batch, logs=tuple(logs))


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
