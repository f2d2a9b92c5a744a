"""Over 800 lines: test infrastructure imitating the API and every hostile-server fault.

A local server that behaves like the Example Reports API. It is not
connector code: it is long because it imitates the API and every
hostile-server fault the conformance suite checks.

The connector is written against this server, the conformance suite runs
against it, and so does ``aiaudit sandbox example``: nobody needs an account
or the network. It serves seeded, generated activity with the API's own
shape and quirks:

* ``GET /admin/reports/v1/activity/users/{userKey}/applications/{app}`` with
  ``startTime`` (inclusive) and ``endTime`` (exclusive) in RFC 3339,
  ``maxResults`` (1 to 1000, default 1000), ``eventName`` and ``pageToken``;
* activities newest first; ``items`` left out of an empty page, and
  ``nextPageToken`` left out of the last one;
* page tokens that are opaque and bound to the request they continue: reuse
  one with other parameters and the answer is a 400, as a real token's is;
* errors in the ``{"error": {"code", "message", "status"}}`` shape; 401 for
  an unknown key, 403 for a key without the application's scope, 429 with
  ``Retry-After`` past ``rate_limit`` requests per second.

``SandboxOptions.faults`` names a fault profile, applied to ``fault_rate`` of
the API requests: ``rate_limit`` (429), ``server_error`` (503), ``malformed``
(a 200 whose ``items`` is not a list), ``bad_records`` (a 200 whose
activities have an unreadable time), ``redirect`` (a 307 to a signed URL on
the same origin, which refuses a request that also carries the key, as a
pre-signed URL's host does) and ``stuck_cursor`` (the window's first page,
with the same ``nextPageToken``, whatever token is sent). Unlike a flaky
network, a fault here does not spare the retry: at a rate of 1.0 every
request fails, which is what lets the conformance suite see the connector's
errors instead of its retries.

The usage report (``GET /admin/reports/v1/usage/models``, ``startTime``
inclusive, ``endTime`` exclusive, paged like the listing) serves a bucket per
day, model and project, oldest first, from the history's first day to the
day it ends on. That last day is still open: its figures grow each time
:meth:`_Api.revise_usage` is called, as a real report's do during the day.

The directory (``GET /admin/directory/v1/users``, ``maxResults`` and
``pageToken`` as above) lists every user with activity and a third as many
again who have none (some suspended), so the people with a seat outnumber
those who acted; :meth:`_Api.remove_member` takes one off the listing, as
an administrator removing a user does. Under ``poisoned`` it also lists two
records no connector can read as a user (no id; an unreadable creation
time).

Two profiles change the data instead of the requests: ``poisoned`` adds a
few activities no database takes as they are (a lone surrogate, a NUL, a
6,000-character user id; see :data:`POISONS`), and ``late`` adds a burst of
activity in the last :data:`~aiaudit_example.normalize.PUBLICATION_LAG` of
the history and hides every other activity of that stretch until the server
has served for ``SandboxOptions.publish_delay`` seconds.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import hashlib
import hmac
import json
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import attrs
import orjson
from aiohttp import web
from connector_core import RunningSandbox, SandboxOptions
from connector_core.sandbox import FaultDraw, history_moment, latency_middleware

from aiaudit_example.normalize import (
    APPLICATIONS,
    DIRECTORY_PATH,
    PERMISSIONS,
    PLATFORM,
    PUBLICATION_LAG,
    USAGE_PATH,
    format_time,
    log_id,
    parse_time,
    usage_id,
)


if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping


__all__ = ["FAULT_PROFILES", "ExampleSandbox", "ExampleSandboxProvider"]

FAULT_PROFILES: Final = (
    "rate_limit",
    "server_error",
    "malformed",
    "bad_records",
    "redirect",
    "stuck_cursor",
    "poisoned",
    "late",
)
API_PREFIX: Final = "/admin/reports/v1/activity/users/"
SIGNATURE_PARAM: Final = "signature"
"""The query parameter of a redirect's signed URL."""
CREDENTIAL_HEADERS: Final = ("Authorization", "X-Api-Key", "X-Customer-Id")
"""Headers that carry a credential; a signed URL refuses a request with any."""

MAX_RESULTS: Final = 1000
RETRY_AFTER: Final = 1
SANDBOX_PAGE_SIZE: Final = 20

_APP_WEIGHTS: Final = {"login": 0.45, "assistant": 0.55}
_EVENT_WEIGHTS: Final = {
    "login_success": 0.8,
    "login_failure": 0.08,
    "logout": 0.12,
    "prompt_submitted": 0.82,
    "file_uploaded": 0.14,
    "conversation_exported": 0.04,
}
_MODELS: Final = ("example-large", "example-small", "example-vision")
_PROJECTS: Final = ("proj_alpha", "proj_beta")
_PRICE_PER_1K: Final = {
    "example-large": Decimal("0.0100"),
    "example-small": Decimal("0.0005"),
    "example-vision": Decimal("0.0040"),
}
"""USD per thousand tokens, in and out alike: what a bucket's cost is."""
_TIED_SHARE: Final = 0.05
_TWO_EVENT_SHARE: Final = 0.05
_LATE_BURST: Final = 6
"""Activities added per application in the last publication lag under the
``late`` profile, so there is always something to publish late."""

POISONS: Final = (
    ("email", "poisoned\ud800@example.test"),
    ("profile_id", "100000000\x00777"),
    ("email", "nul\x00user@example.test"),
    ("ip_address", "203.0.113.9\x00"),
    ("profile_id", "9" * 6000),
)
"""The ``poisoned`` profile's activities: the field each spoils, and how. A
lone surrogate cannot be encoded as UTF-8 (the JSON carries it as the escape
``\\ud800``), PostgreSQL refuses NUL in text, and 6,000 characters exceed
what an index key holds."""

Handler: TypeAlias = Callable[[web.Request], Awaitable[web.StreamResponse]]
_KEY: Final = web.RequestKey("key", str)
"""The key a request was authenticated with (a signed URL stands for one)."""


# ---------------------------------------------------------------------------
# The data
# ---------------------------------------------------------------------------


@attrs.frozen
class Activity:
    """One generated activity; :meth:`to_json` is how the API serves it."""

    application: str
    time: datetime
    unique_qualifier: str
    email: str
    profile_id: str
    ip_address: str
    events: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]

    def to_json(self, customer_id: str) -> dict[str, Any]:
        return {
            "kind": "admin#reports#activity",
            "id": {
                "time": self.time.isoformat(timespec="milliseconds").replace(
                    "+00:00", "Z"
                ),
                "uniqueQualifier": self.unique_qualifier,
                "applicationName": self.application,
                "customerId": customer_id,
            },
            "etag": f'"{self.unique_qualifier[-8:]}"',
            "actor": {
                "callerType": "USER",
                "email": self.email,
                "profileId": self.profile_id,
            },
            "ipAddress": self.ip_address,
            "events": [
                {
                    "type": self.application,
                    "name": name,
                    "parameters": [_parameter(key, value) for key, value in params],
                }
                for name, params in self.events
            ],
        }

    def log_ids(self) -> list[str]:
        """The ids a correct connector gives this activity's events."""
        return [
            log_id(self.application, self.time, self.unique_qualifier, index)
            for index in range(len(self.events))
        ]


@attrs.frozen
class UsageBucket:
    """One day's usage of a model by a project; :meth:`to_json` serves it."""

    start: datetime
    model: str
    project: str
    requests: int
    input_tokens: int
    output_tokens: int

    def revised(self, revision: int) -> UsageBucket:
        """The bucket after *revision* more stretches of its open day."""
        return attrs.evolve(
            self,
            requests=self.requests + 3 * revision,
            input_tokens=self.input_tokens + 900 * revision,
            output_tokens=self.output_tokens + 300 * revision,
        )

    @property
    def id(self) -> str:
        """The id a correct connector gives its record."""
        return usage_id(self.start, self.model, self.project)

    def to_json(self) -> dict[str, Any]:
        tokens = self.input_tokens + self.output_tokens
        cost = _PRICE_PER_1K[self.model] * tokens / 1000
        return {
            "kind": "admin#reports#modelUsage",
            "startTime": format_time(self.start),
            "endTime": format_time(self.start + timedelta(days=1)),
            "model": self.model,
            "projectId": self.project,
            "requests": str(self.requests),
            "inputTokens": str(self.input_tokens),
            "outputTokens": str(self.output_tokens),
            "cost": {"amount": f"{cost:.6f}", "currencyCode": "USD"},
        }


def _usage(seed: int, start: datetime, end: datetime) -> list[UsageBucket]:
    """A bucket per day, model and project from *start*'s day to *end*'s,
    oldest first; drawn from a generator of their own, so the activities
    are the same with or without them."""
    rng = random.Random(f"{seed}:usage")  # noqa: S311 - generated data
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    buckets = []
    while day <= end:
        for model in _MODELS:
            for project in _PROJECTS:
                requests = rng.randrange(5, 400)
                buckets.append(
                    UsageBucket(
                        start=day,
                        model=model,
                        project=project,
                        requests=requests,
                        input_tokens=requests * rng.randrange(200, 2000),
                        output_tokens=requests * rng.randrange(50, 800),
                    )
                )
        day += timedelta(days=1)
    return buckets


def _parameter(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"name": name, "boolValue": value}
    if isinstance(value, int):
        return {"name": name, "intValue": str(value)}
    return {"name": name, "value": value}


def _token(seed: int, purpose: str, length: int = 16) -> str:
    digest = hashlib.blake2b(f"{seed}:{purpose}".encode(), digest_size=32)
    return digest.hexdigest()[:length]


@attrs.define
class ExampleData:
    """A seeded tenant: its keys, users and activity, per application.

    Attributes:
        by_app: Each application's activities, oldest first.
        times: Each application's activity times, for binary search.
    """

    seed: int
    start: datetime
    end: datetime
    customer_id: str
    key: str
    restricted_key: str
    users: list[tuple[str, str]]
    by_app: dict[str, list[Activity]]
    times: dict[str, list[datetime]]

    poisoned: dict[str, str] = attrs.Factory(dict)
    """Log id to native id of each poisoned activity (``poisoned`` profile)."""
    late: frozenset[str] = frozenset()
    """The unique qualifiers hidden until published (``late`` profile)."""
    usage: list[UsageBucket] = attrs.Factory(list)
    """The usage report's buckets, oldest first; the last day's are open."""
    idle: list[tuple[str, str]] = attrs.Factory(list)
    """Users in the directory with no activity: (email, profile id)."""
    poisoned_users: list[dict[str, Any]] = attrs.Factory(list)
    """Directory records no connector reads as a user (``poisoned``)."""

    def directory(self) -> list[dict[str, Any]]:
        """Every directory user, as the listing serves them: those with
        activity, then the idle ones (every third suspended), then any
        poisoned record."""
        listed = [*self.users, *self.idle]
        return [
            {
                "kind": "admin#directory#user",
                "id": profile_id,
                "primaryEmail": email,
                "name": {"fullName": f"User {number:03d}"},
                "isAdmin": number == 0,
                "suspended": number >= len(self.users)
                and (number - len(self.users)) % 3 == 2,  # noqa: PLR2004 - every third
                "creationTime": format_time(self.start - timedelta(days=100 + number)),
            }
            for number, (email, profile_id) in enumerate(listed)
        ] + self.poisoned_users

    @classmethod
    def generate(
        cls,
        *,
        seed: int,
        events: int,
        start: datetime,
        end: datetime,
        profile: str | None = None,
    ) -> ExampleData:
        """About *events* activities between *start* and *end*, from *seed*.

        A few users do most of the work (so "top users" means something),
        weekdays are busier than weekends, about one activity in twenty
        shares its millisecond with the one before (so boundaries are
        exercised) and one in twenty holds two events. The ``poisoned`` and
        ``late`` profiles add activities of their own (see the module docs);
        the others are the same whatever the profile.
        """
        rng = random.Random(seed)  # noqa: S311 - generated data, not security
        count = max(10, events // 25)
        users = [
            (f"user{n:03d}@example.test", str(100_000_000_000 + n * 7_919))
            for n in range(count)
        ]
        weights = [1.0 / (rank + 1) for rank in range(count)]
        span_ms = int((end - start).total_seconds() * 1000)
        activities: list[Activity] = []
        previous: datetime | None = None
        while len(activities) < events:
            offset = rng.randrange(span_ms)
            moment = start + timedelta(milliseconds=offset)
            if moment.weekday() >= 5 and rng.random() < 0.6:  # noqa: PLR2004 - the weekend
                continue
            if previous is not None and rng.random() < _TIED_SHARE:
                moment = previous
            previous = moment
            application = rng.choices(list(_APP_WEIGHTS), list(_APP_WEIGHTS.values()))[
                0
            ]
            email, profile_id = rng.choices(users, weights)[0]
            names = list(APPLICATIONS[application])
            first = rng.choices(names, [_EVENT_WEIGHTS[n] for n in names])[0]
            chosen = [first]
            if application == "assistant" and rng.random() < _TWO_EVENT_SHARE:
                chosen.append("file_uploaded")
            activities.append(
                Activity(
                    application=application,
                    time=moment,
                    unique_qualifier=str(rng.randrange(-(2**62), 2**62)),
                    email=email,
                    profile_id=profile_id,
                    ip_address=f"203.0.113.{rng.randrange(1, 255)}",
                    events=tuple((name, _params(rng, name)) for name in chosen),
                )
            )
        if events >= RISK_MIN_EVENTS:
            activities.extend(plan_risks(seed, start, end, users))
        poisoned = _poisoned(seed, start, end) if profile == "poisoned" else []
        activities.extend(poisoned)
        if profile == "late":
            for application in APPLICATIONS:
                activities.extend(_late_burst(seed, application, end, users))
        by_app: dict[str, list[Activity]] = {app: [] for app in APPLICATIONS}
        for activity in activities:
            by_app[activity.application].append(activity)
        for listed in by_app.values():
            listed.sort(key=lambda a: (a.time, a.unique_qualifier))
        # Under "late", every other activity of each application's last
        # publication lag is held back until published.
        late = {
            activity.unique_qualifier
            for listed in by_app.values()
            for activity in [a for a in listed if a.time >= end - PUBLICATION_LAG][::2]
            if profile == "late"
        }
        return cls(
            seed=seed,
            start=start,
            end=end,
            customer_id=f"C0{_token(seed, 'customer', 7)}",
            key=f"exk_live_{_token(seed, 'key')}",
            restricted_key=f"exk_login_only_{_token(seed, 'restricted')}",
            users=users,
            by_app=by_app,
            times={app: [a.time for a in listed] for app, listed in by_app.items()},
            poisoned={a.log_ids()[0]: a.unique_qualifier for a in poisoned},
            late=frozenset(late),
            usage=_usage(seed, start, end),
            idle=[
                (f"user{n:03d}@example.test", str(100_000_000_000 + n * 7_919))
                for n in range(count, count + max(2, count // 3))
            ],
            poisoned_users=[
                {"kind": "admin#directory#user", "primaryEmail": "noid@example.test"},
                {
                    "kind": "admin#directory#user",
                    "id": "100000009999",
                    "creationTime": "not-a-time",
                },
            ]
            if profile == "poisoned"
            else [],
        )

    def __len__(self) -> int:
        return sum(len(listed) for listed in self.by_app.values())

    def expected_ids(self) -> list[str]:
        """Every normalized log id of the whole history: the ground truth."""
        return [
            log
            for listed in self.by_app.values()
            for activity in listed
            for log in activity.log_ids()
        ]

    def select(
        self,
        application: str,
        *,
        start: datetime,
        end: datetime,
        event_name: str | None,
        user: str | None,
        hidden: frozenset[str] = frozenset(),
    ) -> list[Activity]:
        """The matching activities, newest first, as the API lists them;
        those whose unique qualifier is *hidden* are not published yet."""
        times = self.times[application]
        low, high = bisect.bisect_left(times, start), bisect.bisect_left(times, end)
        found = [
            activity
            for activity in self.by_app[application][low:high]
            if (event_name is None or any(n == event_name for n, _ in activity.events))
            and (user is None or user in {activity.email, activity.profile_id})
            and activity.unique_qualifier not in hidden
        ]
        found.reverse()
        return found


def _poisoned(seed: int, start: datetime, end: datetime) -> list[Activity]:
    """One activity per entry of :data:`POISONS`, spread over the history."""
    found = []
    step = (end - start) / (len(POISONS) + 1)
    for number, (field, value) in enumerate(POISONS):
        application = "login" if number % 2 else "assistant"
        name = "login_success" if application == "login" else "prompt_submitted"
        fields = {
            "email": f"poison{number}@example.test",
            "profile_id": str(200_000_000_000 + number),
            "ip_address": "203.0.113.250",
            field: value,
        }
        found.append(
            Activity(
                application=application,
                time=_whole_ms(start + step * (number + 1)),
                unique_qualifier=str(int(_token(seed, f"poison{number}"), 16)),
                events=((name, ()),),
                **fields,
            )
        )
    return found


def _whole_ms(moment: datetime) -> datetime:
    """*moment* cut to the millisecond, the precision the API serves."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _late_burst(
    seed: int, application: str, end: datetime, users: list[tuple[str, str]]
) -> list[Activity]:
    """Activities spread over the last publication lag of *application*."""
    name = next(iter(APPLICATIONS[application]))
    step = PUBLICATION_LAG / (_LATE_BURST + 1)
    found = []
    for number in range(_LATE_BURST):
        email, profile = users[number % len(users)]
        found.append(
            Activity(
                application=application,
                time=_whole_ms(end - PUBLICATION_LAG + step * (number + 1)),
                unique_qualifier=str(
                    int(_token(seed, f"late:{application}:{number}"), 16)
                ),
                email=email,
                profile_id=profile,
                ip_address="203.0.113.7",
                events=((name, ()),),
            )
        )
    return found


# ---------------------------------------------------------------------------
# Planned risks: so a demo always has a burst of failed sign-ins and
# sensitive uploads to show (the README lists them). Drawn with a generator
# of their own, so the random activity stays what it was; the API has no
# country, keys, roles or settings, so nothing else is planned.
# ---------------------------------------------------------------------------

RISK_MIN_EVENTS: Final = 200
"""Below this many activities a history is a test's small one: nothing is
planned, so what such a test counts stays random data only."""

RISK_UPLOADS: Final = (
    ("soc2-report.pdf", "payroll-2026-11.xlsx"),
    ("prod.env",),
    ("customers-export.csv", "backup-2026.sql"),
)
"""The sensitive files three people upload (one tuple each)."""

_RISK_FAILURES: Final = 7
_RISK_GAP: Final = timedelta(seconds=90)


def plan_risks(
    seed: int,
    start: datetime,
    end: datetime,
    users: list[tuple[str, str]],
) -> list[Activity]:
    """The planned activities of the history [*start*, *end*) of *users*
    (email and profile id), unsorted.

    Each is placed at a fraction of the span and a fixed UTC clock time; one
    that cannot keep its clock time in a short history is left out.
    """
    rng = random.Random(f"risk-seeds:{seed}")  # noqa: S311 - test data
    burst, *uploaders = rng.sample(users, 1 + len(RISK_UPLOADS))
    made: list[Activity] = []

    def add(
        moment: datetime | None,
        application: str,
        user: tuple[str, str],
        name: str,
        params: tuple[tuple[str, Any], ...],
    ) -> None:
        if moment is None:
            return
        digest = hashlib.blake2b(f"{seed}:risk-seed:{len(made)}".encode()).digest()
        made.append(
            Activity(
                application=application,
                time=moment,
                unique_qualifier=str(int.from_bytes(digest[:7], "big")),
                email=user[0],
                profile_id=user[1],
                ip_address="203.0.113.66",
                events=((name, params),),
            )
        )

    # A burst of failed sign-ins, 90 seconds apart, then the one that works.
    first = history_moment(start, end, 0.8, clock_time(10, 5), weekend=False)
    if first is not None:
        for n in range(_RISK_FAILURES):
            add(
                first + n * _RISK_GAP,
                "login",
                burst,
                "login_failure",
                (("login_failure_type", "login_failure_invalid_password"),),
            )
        add(
            first + _RISK_FAILURES * _RISK_GAP,
            "login",
            burst,
            "login_success",
            (("is_second_factor", True),),
        )

    # Sensitive uploads by three people, among the ordinary ``report-N.pdf``.
    for n, (user, names) in enumerate(zip(uploaders, RISK_UPLOADS, strict=True)):
        for k, name in enumerate(names):
            add(
                history_moment(start, end, 0.3 + 0.2 * n, clock_time(11, 15 + 10 * k)),
                "assistant",
                user,
                "file_uploaded",
                (("file_name", name), ("file_size", 40_000 + 1_000 * k)),
            )
    return made


def _params(rng: random.Random, name: str) -> tuple[tuple[str, Any], ...]:
    if name == "prompt_submitted":
        return (
            ("model", rng.choice(_MODELS)),
            ("tokens_used", rng.randrange(20, 4000)),
        )
    if name == "file_uploaded":
        return (
            ("file_name", f"report-{rng.randrange(1000)}.pdf"),
            ("file_size", rng.randrange(1_000, 5_000_000)),
        )
    if name == "login_failure":
        return (("login_failure_type", "login_failure_invalid_password"),)
    if name == "login_success":
        return (("is_second_factor", rng.random() < 0.7),)  # noqa: PLR2004
    return ()


# ---------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------


class ApiError(Exception):
    """An error answer in the API's shape, raised anywhere in a handler."""

    _STATUSES: Final = {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        429: "RESOURCE_EXHAUSTED",
        503: "UNAVAILABLE",
    }

    def __init__(
        self, status: int, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        body = {
            "error": {
                "code": self.status,
                "message": self.message,
                "errors": [
                    {"domain": "global", "reason": "error", "message": self.message}
                ],
                "status": self._STATUSES.get(self.status, "UNKNOWN"),
            }
        }
        return web.json_response(
            body, status=self.status, headers=self.headers, dumps=_dumps
        )


def _dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        # A lone surrogate (the poisoned profile) has no UTF-8 form; JSON
        # carries it as an escape, which is what a poisoned API sends.
        return json.dumps(value, ensure_ascii=True)


@attrs.define
class _RateLimiter:
    """At most *rate* requests per second per key, as one-second buckets."""

    rate: float
    buckets: dict[str, tuple[int, int]] = attrs.Factory(dict)

    def allow(self, key: str) -> bool:
        second = int(time.monotonic())
        current, used = self.buckets.get(key, (second, 0))
        if current != second:
            current, used = second, 0
        self.buckets[key] = (current, used + 1)
        return used < self.rate


class _Api:
    """The request handlers, over one :class:`ExampleData`."""

    def __init__(
        self,
        data: ExampleData,
        *,
        faults: FaultDraw | None,
        limiter: _RateLimiter | None,
        publish_delay: float = 0.0,
    ) -> None:
        self.data = data
        self.faults = faults
        self.limiter = limiter
        self.publish_delay = publish_delay
        self.started = time.monotonic()
        self.observed: dict[str, int] = {"redirect_hops": 0, "credentialed_hops": 0}
        self._signing_key = _token(data.seed, "page-token-signing").encode()
        self.usage_revision = 0
        self.removed: set[str] = set()

    def remove_member(self, user_id: str) -> None:
        """Take *user_id* off the directory's listing (their activity stays)."""
        self.removed.add(user_id)

    def revise_usage(self) -> None:
        """The open day goes on: its buckets grow (what a report served
        during the day does, so a connector must replace them)."""
        self.usage_revision += 1

    def usage_buckets(self) -> list[UsageBucket]:
        """The buckets as served now: the open day's revised."""
        last = self.data.usage[-1].start if self.data.usage else None
        return [
            bucket.revised(self.usage_revision) if bucket.start == last else bucket
            for bucket in self.data.usage
        ]

    def app(self, options: SandboxOptions) -> web.Application:
        """The API, behind the options' latency (added first, so every
        answer pays it, faults and errors included)."""
        app = web.Application(middlewares=[latency_middleware(options), self._errors])
        app.router.add_get(
            API_PREFIX + "{user_key}/applications/{application}", self.activities
        )
        app.router.add_get(USAGE_PATH, self.usage)
        app.router.add_get(DIRECTORY_PATH, self.directory)
        return app

    def hidden(self) -> frozenset[str]:
        """The activities not published yet (the ``late`` profile)."""
        if time.monotonic() - self.started >= self.publish_delay:
            return frozenset()
        return self.data.late

    @web.middleware
    async def _errors(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """Authenticate, throttle and disturb, in that order, as a gateway would."""
        try:
            if request.path.startswith(API_PREFIX) or request.path in {
                USAGE_PATH,
                DIRECTORY_PATH,
            }:
                if SIGNATURE_PARAM in request.query:
                    request[_KEY] = self._signed(request)
                    return await handler(request)
                key = self._key(request)
                request[_KEY] = key
                if self.limiter is not None and not self.limiter.allow(key):
                    raise _too_many()
                if self.faults is not None and self.faults.draw():
                    return await self._fault(self.faults.profile, request, handler)
            return await handler(request)
        except ApiError as exc:
            return exc.response()

    async def _fault(
        self, profile: str, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """Answer with *profile*'s failure instead of (or made of) the page."""
        if profile == "rate_limit":
            raise _too_many()
        if profile == "server_error":
            raise ApiError(503, "The service is currently unavailable.")
        if profile == "redirect":
            return self._redirect(request)
        if profile == "stuck_cursor":
            return await self._stuck(request, handler)
        if profile not in {"malformed", "bad_records"}:
            return await handler(request)  # a profile that changes the data
        response = await handler(request)
        body = response.body if isinstance(response, web.Response) else None
        if not isinstance(body, bytes):
            return response
        page = orjson.loads(body)
        if profile == "malformed":
            page["items"] = {"error": "upstream answered with a partial page"}
        else:  # bad_records
            for item in page.get("items") or ():
                if isinstance(item.get("id"), dict):
                    item["id"]["time"] = "not-a-time"
                else:  # a usage bucket
                    item["startTime"] = "not-a-time"
        return web.json_response(page, dumps=_dumps)

    def _key(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or key not in {
            self.data.key,
            self.data.restricted_key,
        }:
            # Like the real API, the refused key is never echoed.
            raise ApiError(401, "Request had invalid authentication credentials.")
        return key

    # -- redirects to signed URLs ------------------------------------------------

    def _redirect(self, request: web.Request) -> web.StreamResponse:
        """A 307 to the same path and query, signed for the request's key."""
        principal = (
            "restricted" if request[_KEY] == self.data.restricted_key else "full"
        )
        query = list(request.rel_url.query.items())
        mac = self._url_mac(principal, request.path, query)
        target = request.rel_url.update_query({SIGNATURE_PARAM: f"{principal}.{mac}"})
        raise web.HTTPTemporaryRedirect(location=str(target))

    def _signed(self, request: web.Request) -> str:
        """The key a signed URL stands for; it must come with no credential.

        Raises:
            ApiError: A bad signature, or a credential besides it (400).
        """
        self.observed["redirect_hops"] += 1
        if any(name in request.headers for name in CREDENTIAL_HEADERS):
            self.observed["credentialed_hops"] += 1
            raise ApiError(
                400,
                "Only one auth mechanism allowed; only the signature "
                "parameter should be specified.",
            )
        principal, _, mac = request.query[SIGNATURE_PARAM].partition(".")
        query = [(k, v) for k, v in request.query.items() if k != SIGNATURE_PARAM]
        expected = self._url_mac(principal, request.path, query)
        if principal not in {"full", "restricted"} or not hmac.compare_digest(
            mac, expected
        ):
            raise ApiError(400, "Invalid value for: signature")
        return self.data.restricted_key if principal == "restricted" else self.data.key

    def _url_mac(self, principal: str, path: str, query: list[tuple[str, str]]) -> str:
        message = orjson.dumps([principal, path, query])
        digest = hmac.new(self._signing_key, message, "sha256").digest()[:16]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    # -- a cursor that never advances ----------------------------------------------

    async def _stuck(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """The window's first page, saying there is more, with one token
        that leads back to this same page, whatever token was sent."""
        first = request.rel_url.with_query(
            [(k, v) for k, v in request.query.items() if k != "pageToken"]
        )
        response = await handler(request.clone(rel_url=first))
        body = response.body if isinstance(response, web.Response) else None
        if response.status != 200 or not isinstance(body, bytes):  # noqa: PLR2004
            return response
        page = orjson.loads(body)
        payload = base64.urlsafe_b64encode(orjson.dumps(["stuck", str(first)]))
        page["nextPageToken"] = self._sign_payload(payload.rstrip(b"=")).decode()
        return web.json_response(page, dumps=_dumps)

    # -- the listing -----------------------------------------------------------

    async def activities(self, request: web.Request) -> web.Response:
        application = request.match_info["application"]
        if application not in APPLICATIONS:
            raise ApiError(400, f"Invalid value for: applicationName ({application})")
        key = request.get(_KEY) or self._key(request)
        if key == self.data.restricted_key and application != "login":
            raise ApiError(
                403,
                f"Caller does not have access to application {application}: "
                f"the key needs the {PERMISSIONS[application]} scope.",
            )
        query = request.query
        start = _time_param(query, "startTime", self.data.start)
        end = _time_param(query, "endTime", self.data.end + timedelta(days=3650))
        if start > end:
            raise ApiError(400, "Start time must be before end time.")
        limit = _int_param(query, "maxResults", MAX_RESULTS)
        if not 1 <= limit <= MAX_RESULTS:
            raise ApiError(400, "Invalid value for: maxResults (1 to 1000)")
        user_key = request.match_info["user_key"]
        user = None if user_key == "all" else user_key
        if user is not None and user not in {
            u for pair in self.data.users for u in pair
        }:
            raise ApiError(404, f"User {user_key} not found.")
        event_name = query.get("eventName") or None
        bound = "|".join(
            (application, query.get("startTime", ""), query.get("endTime", ""),
             event_name or "", user_key, str(limit))
        )  # fmt: skip
        offset = self._offset(query.get("pageToken"), bound)
        found = self.data.select(
            application,
            start=start,
            end=end,
            event_name=event_name,
            user=user,
            hidden=self.hidden(),
        )
        page = found[offset : offset + limit]
        body: dict[str, Any] = {
            "kind": "admin#reports#activities",
            "etag": f'"{_token(self.data.seed, bound + str(offset), 12)}"',
        }
        if page:
            body["items"] = [a.to_json(self.data.customer_id) for a in page]
        if offset + limit < len(found):
            body["nextPageToken"] = self._sign(offset + limit, bound)
        return web.json_response(body, dumps=_dumps)

    async def usage(self, request: web.Request) -> web.Response:
        """The usage report: the buckets starting in the range, oldest first."""
        request.get(_KEY) or self._key(request)
        query = request.query
        start = _time_param(query, "startTime", self.data.start)
        end = _time_param(query, "endTime", self.data.end + timedelta(days=3650))
        if start > end:
            raise ApiError(400, "Start time must be before end time.")
        limit = _int_param(query, "maxResults", MAX_RESULTS)
        if not 1 <= limit <= MAX_RESULTS:
            raise ApiError(400, "Invalid value for: maxResults (1 to 1000)")
        bound = "|".join(
            ("usage", query.get("startTime", ""), query.get("endTime", ""), str(limit))
        )
        offset = self._offset(query.get("pageToken"), bound)
        found = [b for b in self.usage_buckets() if start <= b.start < end]
        body: dict[str, Any] = {"kind": "admin#reports#modelUsageReport"}
        page = found[offset : offset + limit]
        if page:
            body["items"] = [bucket.to_json() for bucket in page]
        if offset + limit < len(found):
            body["nextPageToken"] = self._sign(offset + limit, bound)
        return web.json_response(body, dumps=_dumps)

    async def directory(self, request: web.Request) -> web.Response:
        """The directory's users, in the order they were added, paged."""
        request.get(_KEY) or self._key(request)
        query = request.query
        limit = _int_param(query, "maxResults", MAX_RESULTS)
        if not 1 <= limit <= MAX_RESULTS:
            raise ApiError(400, "Invalid value for: maxResults (1 to 1000)")
        bound = "|".join(("users", str(limit)))
        offset = self._offset(query.get("pageToken"), bound)
        found = [u for u in self.data.directory() if u.get("id") not in self.removed]
        body: dict[str, Any] = {"kind": "admin#directory#users"}
        page = found[offset : offset + limit]
        if page:
            body["users"] = page
        if offset + limit < len(found):
            body["nextPageToken"] = self._sign(offset + limit, bound)
        return web.json_response(body, dumps=_dumps)

    # -- page tokens: opaque to clients, bound to their request ---------------

    def _sign(self, offset: int, bound: str) -> str:
        payload = base64.urlsafe_b64encode(orjson.dumps([offset, bound])).rstrip(b"=")
        return self._sign_payload(payload).decode()

    def _offset(self, token: str | None, bound: str) -> int:
        if not token:
            return 0
        payload, _, _ = token.encode().partition(b".")
        if not hmac.compare_digest(self._sign_payload(payload), token.encode()):
            raise ApiError(400, "Invalid value for: pageToken")
        offset, signed_for = orjson.loads(
            base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4))
        )
        if signed_for != bound:
            raise ApiError(400, "Invalid value for: pageToken (other parameters)")
        return int(offset)

    def _sign_payload(self, payload: bytes) -> bytes:
        mac = hmac.new(self._signing_key, payload, "sha256").digest()[:12]
        return payload + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")


def _too_many() -> ApiError:
    return ApiError(
        429,
        "Quota exceeded for quota metric 'Queries' of service 'reports'.",
        headers={"Retry-After": str(RETRY_AFTER)},
    )


def _time_param(query: Mapping[str, str], name: str, default: datetime) -> datetime:
    text = query.get(name)
    if text is None:
        return default
    try:
        return parse_time(text)
    except (TypeError, ValueError):
        raise ApiError(400, f"Invalid value for: {name}") from None


def _int_param(query: Mapping[str, str], name: str, default: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise ApiError(400, f"Invalid value for: {name}") from None


# ---------------------------------------------------------------------------
# Running it
# ---------------------------------------------------------------------------


def _history_end(options: SandboxOptions) -> datetime:
    if options.end is not None:
        return options.end.astimezone(UTC)
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


class ExampleSandbox:
    """The server and its data; start it with :meth:`run`."""

    def __init__(self, options: SandboxOptions, data: ExampleData) -> None:
        self.options = options
        self.data = data
        self.url = ""
        self.faults = FaultDraw.of(options)
        self.api = _Api(
            data,
            faults=self.faults,
            limiter=_RateLimiter(options.rate_limit) if options.rate_limit else None,
            publish_delay=options.publish_delay,
        )

    @classmethod
    @contextlib.asynccontextmanager
    async def run(cls, options: SandboxOptions) -> AsyncIterator[ExampleSandbox]:
        """Generate the data and serve it on loopback until the block ends.

        Raises:
            ValueError: An unknown fault profile.
        """
        if options.faults is not None and options.faults not in FAULT_PROFILES:
            raise ValueError(
                f"unknown fault profile {options.faults!r}; valid profiles: "
                f"{', '.join(FAULT_PROFILES)}"
            )
        end = _history_end(options)
        data = ExampleData.generate(
            seed=options.seed,
            events=options.events,
            start=end - timedelta(days=options.days),
            end=end,
            profile=options.faults,
        )
        sandbox = cls(options, data)
        if options.ground_truth_dir is not None:
            sandbox.write_ground_truth(Path(options.ground_truth_dir))
        runner = web.AppRunner(sandbox.api.app(options), access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, options.host, options.port)
            await site.start()
            sandbox.api.started = time.monotonic()  # late events count from here
            port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
            sandbox.url = f"http://{options.host}:{port}"
            yield sandbox
        finally:
            await runner.cleanup()

    def config(self, key: str | None = None) -> dict[str, Any]:
        """A connector configuration for this server (the full key by default).

        The page size is small on purpose: with a few hundred activities a
        day, every window then spans several pages, so the connector's page
        token handling is exercised on every read.
        """
        return {
            "api_key": key or self.data.key,
            "customer_id": self.data.customer_id,
            "base_url": self.url,
            "page_size": SANDBOX_PAGE_SIZE,
        }

    def write_ground_truth(self, directory: Path) -> None:
        """Every activity served, oldest first per application, as JSON lines."""
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / "activities.jsonl").open("wb") as out:
            for listed in self.data.by_app.values():
                for activity in listed:
                    out.write(orjson.dumps(activity.to_json(self.data.customer_id)))
                    out.write(b"\n")

    def describe(self) -> RunningSandbox:
        """What the host sees, including what the conformance suite needs."""
        config = self.config()
        return RunningSandbox(
            platform=PLATFORM,
            urls={"reports_api": self.url},
            config=config,
            details={
                "seed": self.options.seed,
                "activities": len(self.data),
                "history": [format_time(self.data.start), format_time(self.data.end)],
                "customer_id": self.data.customer_id,
                "usage_buckets": len(self.data.usage),
                "directory_users": len(self.data.directory()),
                "faults": self.options.faults,
                "fault_rate": self.options.fault_rate,
                "latency_ms": self.options.latency_ms,
                "jitter_ms": self.options.jitter_ms,
                "conformance": {
                    # A key of the right shape that this server never issued.
                    "bad_config": self.config(f"exk_live_{_token(-1, 'revoked')}"),
                    "restricted_config": self.config(self.data.restricted_key),
                    "restricted_missing": [PERMISSIONS["assistant"]],
                    "expected_ids": self.data.expected_ids(),
                    "faults": {
                        "rate_limit": "rate_limit",
                        "server_error": "server_error",
                        "malformed": "malformed",
                        "redirect": "redirect",
                        "stuck_cursor": "stuck_cursor",
                        "poisoned": "poisoned",
                        "late": "late",
                    },
                    "poisoned_ids": dict(self.data.poisoned),
                    # Live: the server counts what it sees while it serves.
                    "observed": self.api.observed,
                },
            },
        )


class ExampleSandboxProvider:
    """What the plugin registers with ``register(..., sandbox=...)``."""

    @contextlib.asynccontextmanager
    async def start(self, options: SandboxOptions) -> AsyncIterator[RunningSandbox]:
        async with ExampleSandbox.run(options) as sandbox:
            yield sandbox.describe()
