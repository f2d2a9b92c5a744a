"""The sandbox's seeded Workspace domain and its audit activity.

One customer (``C0`` and seven characters) at ``acme-corp.example``, about
forty people (three of them Reports admins) and the activity of the four
applications the connector reads, shaped as the Reports API serves it:

* ``gemini_in_workspace_apps``: ``ai_usage_event`` / ``feature_utilization``
  with ``action`` and ``app_name`` (and, on most, ``feature_source`` and
  ``event_category``), the only application here with ``userDeviceInfo``;
* ``gemini_notebook``: ``notebook_activity`` ``chat``, ``create_notebook``,
  ``copy_notebook`` with ``ai_plan_tier`` and ``visibility``;
* ``token``: grants to third-party apps, AI apps among them, each
  ``authorize`` followed by the app's API ``activity`` and sometimes a later
  ``revoke``; an authorization now and then holds two events;
* ``login``: sign-ins (a challenge and the success in one Activity),
  failures with their ``login_failure_type``, sign-outs, and account
  warnings, which carry no ``ipAddress``.

Times have milliseconds and follow office hours (weekdays 8 to 19 in the
domain's zone, far fewer at night and at weekends); about one Activity in
twelve shares its time with another of its application, told apart by the
``uniqueQualifier`` (a signed int64, as a string). Gemini activity never
starts before 2025-06-20, the first day Google keeps it.

Everything is drawn from the seed: the same seed and bounds, the same domain.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
import string
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import attrs

from aiaudit_gemini.identity import log_id
from aiaudit_gemini.sandbox.risk_seeds import plan


__all__ = [
    "APPLICATIONS",
    "AUDIT_SCOPE",
    "DOMAIN",
    "GEMINI_APPLICATIONS",
    "GEMINI_START",
    "Activity",
    "Domain",
    "User",
    "format_time",
    "stable_id",
]

AUDIT_SCOPE: Final = "https://www.googleapis.com/auth/admin.reports.audit.readonly"
"""The one scope ``activities.list`` declares."""

APPLICATIONS: Final = ("gemini_in_workspace_apps", "gemini_notebook", "token", "login")
"""The applications served, one stream each on the connector's side."""

GEMINI_APPLICATIONS: Final = frozenset({"gemini_in_workspace_apps", "gemini_notebook"})

GEMINI_START: Final = datetime(2025, 6, 20, tzinfo=UTC)
"""Google keeps Gemini in Workspace logs from this day on."""

APPLICATION_SHARE: Final[dict[str, float]] = {
    "gemini_in_workspace_apps": 0.55,
    "gemini_notebook": 0.10,
    "token": 0.15,
    "login": 0.20,
}
"""The share of the events asked for that each application gets."""

DOMAIN: Final = "acme-corp.example"
"""The fictional company the project's other sandboxes seed too, so a demo
of several platforms shows the same people on each."""

USERS: Final = 40
ADMINS: Final = 3
UTC_OFFSET: Final = timedelta(hours=-5)
"""The domain's office zone: office hours are drawn there."""

_TIED_SHARE: Final = 0.08
_ALPHABET: Final = string.digits + string.ascii_letters
_LOWER: Final = string.digits + string.ascii_lowercase


def stable_id(
    seed: int, purpose: str, length: int = 24, alphabet: str = _ALPHABET
) -> str:
    """An id drawn from *seed* and *purpose*: stable across runs."""
    digest = hashlib.blake2b(f"{seed}:{purpose}".encode(), digest_size=32).digest()
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(length):
        number, rest = divmod(number, len(alphabet))
        chars.append(alphabet[rest])
    return "".join(chars)


def _digits(seed: int, purpose: str, length: int) -> str:
    text = stable_id(seed, purpose, length, string.digits)
    return ("1" + text[1:]) if text[0] == "0" else text


def format_time(moment: datetime) -> str:
    """How the API prints ``id.time``: RFC 3339, milliseconds, ``Z``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


_FIRST_NAMES: Final = (
    "ada", "alan", "amara", "ben", "carla", "chen", "dana", "diego", "elif",
    "emma", "farah", "felix", "grace", "hana", "ivan", "jonas", "kofi", "lena",
    "liam", "maya", "mei", "nadia", "noah", "olga", "omar", "priya", "quinn",
    "ravi", "sara", "sven", "tara", "theo", "uma", "viktor", "wen", "yara",
)  # fmt: skip
_LAST_NAMES: Final = (
    "abbott", "bauer", "costa", "dubois", "eriksen", "fischer", "garcia",
    "haddad", "ito", "jensen", "kowalski", "lindqvist", "moreau", "nakamura",
    "okafor", "petrov", "quintero", "rossi", "schmidt", "tanaka", "usman",
    "varga", "weber", "xu",
)  # fmt: skip
_PLAN_TIERS: Final = ("standard", "standard", "standard", "plus", "pro", "ai_expanded")
_REGIONS: Final = (("US", "US-NY"), ("US", "US-CA"), ("US", "US-TX"), ("CA", "CA-ON"))


@attrs.frozen
class User:
    """A person of the domain.

    Attributes:
        admin: Whether the person holds the Reports admin privilege, i.e.
            may be the subject a service account reads activity as.
    """

    email: str
    profile_id: str
    admin: bool
    plan_tier: str
    ip: str
    region: tuple[str, str]
    device: tuple[str, str, str]


@attrs.frozen
class Activity:
    """One Activity as served (:attr:`record`); ordered by :attr:`key`."""

    application: str
    time: datetime
    qualifier: int
    record: dict[str, Any] = attrs.field(eq=False, repr=False)

    @property
    def key(self) -> tuple[datetime, int]:
        return (self.time, self.qualifier)

    @property
    def events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.record["events"]
        return events

    def log_ids(self, customer_id: str) -> list[str]:
        """One per event, as the connector names them."""
        return [
            log_id(customer_id, self.application, self.time, str(self.qualifier), i)
            for i in range(len(self.events))
        ]


@attrs.define
class Domain:
    """A seeded customer, its people and its activity, per application
    oldest first."""

    seed: int
    customer_id: str
    domain: str
    start: datetime
    end: datetime
    users: list[User]
    activities: dict[str, list[Activity]]

    @property
    def admins(self) -> list[User]:
        return [u for u in self.users if u.admin]

    @property
    def subject(self) -> User:
        """The Reports admin a service account reads as."""
        return self.admins[0]

    @property
    def restricted(self) -> User:
        """A person of the domain who is no admin: a valid subject for a
        token, refused by the Reports API."""
        return next(u for u in self.users if not u.admin)

    def user(self, email_or_profile: str) -> User | None:
        """The person with this (lower-case) email or profile id."""
        if not email_or_profile:
            return None
        for user in self.users:
            if email_or_profile in {user.email.lower(), user.profile_id}:
                return user
        return None

    def add(self, activity: Activity) -> None:
        """One more activity, kept in order."""
        bisect.insort(self.activities[activity.application], activity, key=_key)

    def extra_activity(self, app: str, moment: datetime, salt: str) -> Activity:
        """One more activity of *app* at *moment*, drawn from
        the seed and *salt* (for the fault profiles that add to the data);
        not added yet."""
        maker = _Maker(self, random.Random(f"{self.seed}:{salt}"))  # noqa: S311
        if app == "token":
            return maker.grant(moment, moment + timedelta(milliseconds=1))[0]
        made: Activity = getattr(maker, app)(_ms(moment))
        return made

    def all_activities(self) -> list[Activity]:
        return [a for app in APPLICATIONS for a in self.activities[app]]

    def events(self) -> int:
        return sum(len(a.events) for a in self.all_activities())

    def expected_ids(self) -> list[str]:
        """Every log id of the history, application by application, oldest
        first."""
        return [i for a in self.all_activities() for i in a.log_ids(self.customer_id)]

    @classmethod
    def generate(
        cls, *, seed: int, events: int, start: datetime, end: datetime
    ) -> Domain:
        rng = random.Random(seed)  # noqa: S311 - generated data, not security
        customer = "C0" + stable_id(seed, "customer", 7, _LOWER)
        domain = cls(
            seed=seed,
            customer_id=customer,
            domain=DOMAIN,
            start=start,
            end=end,
            users=_users(rng, seed),
            activities={app: [] for app in APPLICATIONS},
        )
        maker = _Maker(domain, rng)
        for app in APPLICATIONS:
            floor = max(start, GEMINI_START) if app in GEMINI_APPLICATIONS else start
            if floor >= end:
                continue
            wanted = max(1, round(events * APPLICATION_SHARE[app]))
            made = maker.fill(app, wanted, floor)
            domain.activities[app] = sorted(made, key=_key)
        # Planned sign-ins (risk_seeds), with a generator of their own.
        planned = plan(domain, _Maker(domain, random.Random(f"{seed}:risk-seeds")))  # noqa: S311
        domain.activities["login"] = sorted(
            [*domain.activities["login"], *planned], key=_key
        )
        return domain


def _key(activity: Activity) -> tuple[datetime, int]:
    return activity.key


def _users(rng: random.Random, seed: int) -> list[User]:
    users: list[User] = []
    taken: set[str] = set()
    devices = (
        ("DESKTOP_CHROME", "macOS 14.5"),
        ("DESKTOP_CHROME", "Windows 11"),
        ("MOBILE_ANDROID", "Android 15"),
        ("MOBILE_IOS", "iOS 18.1"),
    )
    for n in range(USERS):
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        local, suffix = f"{first}.{last}", 2
        while local in taken:
            local, suffix = f"{first}.{last}{suffix}", suffix + 1
        taken.add(local)
        kind, version = devices[n % len(devices)]
        users.append(
            User(
                email=f"{local}@{DOMAIN}",
                profile_id=_digits(seed, f"profile-{n}", 21),
                admin=n < ADMINS,
                plan_tier=rng.choice(_PLAN_TIERS),
                ip=f"{rng.choice(('192.0.2', '198.51.100'))}.{rng.randrange(1, 255)}",
                region=rng.choice(_REGIONS),
                device=(stable_id(seed, f"device-{n}", 16, _LOWER), kind, version),
            )
        )
    return users


# -- what each application says ------------------------------------------------

_GEMINI_ACTIONS: Final[dict[str, tuple[str, ...]]] = {
    "gmail": (
        "summarize", "generate_text", "suggest_full_replies", "auto_proofread",
        "formalize", "paraphrase", "add_to_calendar", "summarize_proactive_short",
    ),
    "docs": (
        "generate_document", "generate_text", "summarize", "bulletize", "condense",
        "paraphrase", "match_writing_style", "generate_talkshow",
    ),
    "sheets": ("generate_text", "summarize", "ask_about_context"),
    "slides": ("generate_images_in_product", "generate_image_for_current_page"),
    "drive": ("summarize_proactive", "ask_about_context", "search_in_conversation"),
    "meet": ("list_action_items_refinement", "summarize"),
    "chat": ("summarize", "conversation"),
    "gemini_app": (
        "conversation", "describe_gemini_uses", "generate_starter_tile_prompts",
    ),
    "calendar": ("add_to_calendar",),
    "classroom": (
        "classic_use_case_generate_feedback", "classic_use_case_convert_rubric",
        "classic_use_case_generate_hooks",
    ),
}  # fmt: skip
_GEMINI_APP_WEIGHTS: Final = (30, 22, 8, 6, 6, 6, 4, 14, 2, 2)
_FEATURE_SOURCES: Final[dict[str, str]] = {
    "gmail": "help_me_write",
    "docs": "help_me_write",
    "sheets": "help_me_refine",
    "slides": "help_me_visualize",
    "drive": "side_panel",
    "meet": "take_notes_for_me",
    "chat": "side_panel",
    "gemini_app": "chat_with_gemini",
    "calendar": "help_me_schedule",
    "classroom": "classroom_gemini_education",
}
_PROACTIVE: Final = frozenset(
    {
        "summarize_proactive",
        "summarize_proactive_short",
        "generate_starter_tile_prompts",
    }
)

_NOTEBOOK_EVENTS: Final = (("chat", 75), ("create_notebook", 18), ("copy_notebook", 7))
_VISIBILITY: Final = (
    ("private", 50), ("shared_internally", 30), ("anyone_with_link", 6),
    ("shared_externally", 6), ("shared_externally_trusted_domain", 5), ("public", 3),
)  # fmt: skip

OPENID: Final = (
    "openid",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
)
_SCOPE_BUCKETS: Final[dict[str, tuple[str, ...]]] = {
    "openid": ("IDENTITY",),
    "https://www.googleapis.com/auth/userinfo.email": ("IDENTITY", "OTHER"),
    "https://www.googleapis.com/auth/userinfo.profile": ("IDENTITY", "OTHER"),
    "https://www.googleapis.com/auth/gmail.readonly": ("GMAIL",),
    "https://mail.google.com/": ("GMAIL",),
    "https://www.googleapis.com/auth/drive": ("DRIVE",),
    "https://www.googleapis.com/auth/drive.file": ("DRIVE",),
    "https://www.googleapis.com/auth/drive.readonly": ("DRIVE",),
    "https://www.googleapis.com/auth/calendar": ("CALENDAR",),
    "https://www.googleapis.com/auth/calendar.readonly": ("CALENDAR",),
    "https://www.googleapis.com/auth/calendar.events": ("CALENDAR",),
    "https://www.googleapis.com/auth/contacts.readonly": ("CONTACTS",),
}
_CALLS: Final[dict[str, tuple[str, str, str]]] = {
    "GMAIL": ("gmail", "gmail.users.messages.list", "GMAIL"),
    "DRIVE": ("drive", "drive.files.list", "DRIVE"),
    "CALENDAR": ("calendar", "calendar.events.list", "CALENDAR"),
    "CONTACTS": ("people", "people.connections.list", "CONTACTS"),
    "IDENTITY": ("oauth2", "oauth2.userinfo.get", "IDENTITY"),
}


@attrs.frozen
class ThirdPartyApp:
    """An OAuth client people grant access to."""

    name: str
    client_id: str
    client_type: str
    scopes: tuple[str, ...]
    weight: float


def _apps(seed: int) -> tuple[ThirdPartyApp, ...]:
    def client(name: str) -> str:
        number = _digits(seed, f"client-{name}", 12)
        tail = stable_id(seed, f"client-{name}", 32, _LOWER)
        return f"{number}-{tail}.apps.googleusercontent.com"

    g = "https://www.googleapis.com/auth/"
    rows: tuple[tuple[str, str, tuple[str, ...], float], ...] = (
        ("ChatGPT", "WEB", (*OPENID, g + "drive.readonly"), 6),
        (
            "Claude",
            "WEB",
            (
                *OPENID,
                g + "drive.readonly",
                g + "calendar.readonly",
                g + "gmail.readonly",
            ),
            4,
        ),
        (
            "Otter.ai",
            "WEB",
            (*OPENID, g + "calendar.readonly", g + "contacts.readonly"),
            3,
        ),
        ("Fireflies.ai", "WEB", (*OPENID, g + "calendar.events"), 2),
        ("Perplexity", "WEB", (*OPENID, g + "drive.file"), 2),
        (
            "Read AI Meeting Notes",
            "WEB",
            (*OPENID, g + "calendar", "https://mail.google.com/"),
            1.5,
        ),
        ("Zoom", "WEB", (*OPENID, g + "calendar"), 5),
        ("Slack", "WEB", (*OPENID, g + "drive"), 5),
        ("Calendly", "WEB", (*OPENID, g + "calendar", g + "contacts.readonly"), 3),
        ("Google Drive for desktop", "NATIVE_DESKTOP", (*OPENID, g + "drive"), 2),
    )
    return tuple(
        ThirdPartyApp(name, client(name), kind, scopes, weight)
        for name, kind, scopes, weight in rows
    )


_FAILURES: Final = (
    ("login_failure_invalid_password", 70),
    ("login_failure_invalid_second_factor", 10),
    ("login_failure_missing_second_factor", 8),
    ("login_failure_account_disabled", 4),
    ("login_failure_access_code_disallowed", 3),
    ("login_failure_unknown", 5),
)
_WARNINGS: Final = (
    "suspicious_login",
    "suspicious_login_less_secure_app",
    "suspicious_programmatic_login",
    "account_disabled_password_leak",
)
_LOGIN_KINDS: Final = (
    ("success", 46), ("challenge_success", 14), ("failure", 10), ("logout", 18),
    ("verification", 5), ("warning", 3), ("2sv", 2), ("password", 2),
)  # fmt: skip


def _pick(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([v for v, _ in table], [w for _, w in table])[0]


def _param(name: str, value: Any) -> dict[str, Any]:
    """A parameter with its one value field, as the API types it."""
    if isinstance(value, bool):
        return {"name": name, "boolValue": value}
    if isinstance(value, int):
        return {"name": name, "intValue": str(value)}
    if isinstance(value, list):
        return {"name": name, "multiValue": value}
    return {"name": name, "value": value}


class _Maker:
    """Draws moments, actors and the events of each application."""

    def __init__(self, domain: Domain, rng: random.Random) -> None:
        self.domain = domain
        self.rng = rng
        self.weights = [1.0 / (rank + 2) for rank in range(len(domain.users))]
        self.apps = _apps(domain.seed)
        self.qualifiers: set[tuple[str, int]] = set()
        self.last: dict[str, datetime] = {}

    # -- time --------------------------------------------------------------------

    def moment(self, start: datetime, end: datetime) -> datetime:
        """A moment in [start, end), shaped like office hours."""
        rng = self.rng
        first = (start + UTC_OFFSET).replace(hour=0, minute=0, second=0, microsecond=0)
        days = max(1, math.ceil((end - first).total_seconds() / 86400))
        for _ in range(30):
            day = first + timedelta(days=rng.randrange(days))
            weekend = day.weekday() >= 5  # noqa: PLR2004 - Saturday, Sunday
            if weekend and rng.random() > 0.2:  # noqa: PLR2004
                continue
            hour = rng.choices(range(24), _HOUR_WEIGHTS)[0]
            local = day + timedelta(hours=hour, milliseconds=rng.randrange(3_600_000))
            moment = local - UTC_OFFSET
            if start <= moment < end:
                return _ms(moment)
        span_ms = int((end - start).total_seconds() * 1000)
        return _ms(start + timedelta(milliseconds=rng.randrange(max(1, span_ms))))

    def when(self, app: str, start: datetime, end: datetime) -> datetime:
        previous = self.last.get(app)
        if previous is not None and self.rng.random() < _TIED_SHARE:
            moment = previous  # another activity at the very same millisecond
        else:
            moment = self.moment(start, end)
        self.last[app] = moment
        return moment

    def qualifier(self, app: str) -> int:
        while True:
            number = self.rng.getrandbits(64) - 2**63
            if (app, number) not in self.qualifiers:
                self.qualifiers.add((app, number))
                return number

    # -- records -------------------------------------------------------------------

    def user(self) -> User:
        return self.rng.choices(self.domain.users, self.weights)[0]

    def activity(
        self,
        app: str,
        moment: datetime,
        user: User | None,
        events: list[dict[str, Any]],
        *,
        ip: bool = True,
        device: bool = False,
    ) -> Activity:
        domain = self.domain
        qualifier = self.qualifier(app)
        tag = f"m{-qualifier}" if qualifier < 0 else str(qualifier)
        record: dict[str, Any] = {
            "kind": "admin#reports#activity",
            "id": {
                "time": format_time(moment),
                "uniqueQualifier": str(qualifier),
                "applicationName": app,
                "customerId": domain.customer_id,
            },
            "etag": f'"{stable_id(domain.seed, "etag", 27)}/{tag}"',
            "actor": {"callerType": "USER"},
        }
        if user is not None:
            record["actor"].update({"email": user.email, "profileId": user.profile_id})
            if ip:
                record["ipAddress"] = user.ip
                if self.rng.random() < 0.7:  # noqa: PLR2004
                    region, subdivision = user.region
                    record["networkInfo"] = {
                        "ipAsn": [64496 + int(user.profile_id[-1])],
                        "regionCode": region,
                        "subdivisionCode": subdivision,
                    }
            if device and self.rng.random() < 0.8:  # noqa: PLR2004 - not always sent
                device_id, kind, version = user.device
                info = {"deviceType": kind, "deviceOsVersion": version}
                if self.rng.random() < 0.5:  # noqa: PLR2004
                    info = {"deviceId": device_id, **info}
                record["userDeviceInfo"] = info
        record["events"] = events
        return Activity(app, moment, qualifier, record)

    def fill(self, app: str, wanted: int, start: datetime) -> list[Activity]:
        made: list[Activity] = []
        count = 0
        end = self.domain.end
        while count < wanted:
            if app == "token":
                batch = self.grant(start, end)
            else:
                moment = self.when(app, start, end)
                batch = [getattr(self, app)(moment)]
            made.extend(batch)
            count += sum(len(a.events) for a in batch)
        return made

    def gemini_in_workspace_apps(self, moment: datetime) -> Activity:
        rng = self.rng
        where = rng.choices(list(_GEMINI_ACTIONS), _GEMINI_APP_WEIGHTS)[0]
        action = rng.choice(_GEMINI_ACTIONS[where])
        parameters = [_param("action", action), _param("app_name", where)]
        if rng.random() < 0.7:  # noqa: PLR2004 - the two parameters are optional
            parameters.append(_param("feature_source", _FEATURE_SOURCES[where]))
            category = "generative_ai" if action in _PROACTIVE else "active_generate"
            parameters.append(_param("event_category", category))
        event = {
            "type": "ai_usage_event",
            "name": "feature_utilization",
            "parameters": parameters,
        }
        return self.activity(
            "gemini_in_workspace_apps", moment, self.user(), [event], device=True
        )

    def gemini_notebook(self, moment: datetime) -> Activity:
        user = self.user()
        name = _pick(self.rng, _NOTEBOOK_EVENTS)
        event = {
            "type": "notebook_activity",
            "name": name,
            "parameters": [
                _param("ai_plan_tier", user.plan_tier),
                _param("visibility", _pick(self.rng, _VISIBILITY)),
            ],
        }
        return self.activity("gemini_notebook", moment, user, [event])

    def grant(self, start: datetime, end: datetime) -> list[Activity]:
        """One grant's life: the authorization, the app's calls with it, and
        perhaps its revocation, in that order."""
        rng = self.rng
        app = rng.choices(self.apps, [a.weight for a in self.apps])[0]
        user = self.user()
        moment = self.when("token", start, end)
        base = [
            _param("client_id", app.client_id),
            _param("app_name", app.name),
            _param("client_type", app.client_type),
        ]
        if rng.random() < 0.2 and len(app.scopes) > len(OPENID):  # noqa: PLR2004
            # Sign-in first, the data scopes asked for right after.
            parts = [list(OPENID), [s for s in app.scopes if s not in OPENID]]
        else:
            parts = [list(app.scopes)]
        events = [
            {
                "type": "auth",
                "name": "authorize",
                "parameters": [*base, *_scope_parameters(scopes)],
            }
            for scopes in parts
        ]
        made = [self.activity("token", moment, user, events)]
        buckets = [_SCOPE_BUCKETS[s][0] for s in app.scopes if s not in OPENID]
        later = moment
        for _ in range(rng.randrange(0, 5) if buckets else 0):
            later = _ms(later + timedelta(minutes=rng.expovariate(1 / 600)))
            if later >= end:
                return made
            api, method, bucket = _CALLS[rng.choice(buckets)]
            call = {
                "type": "auth",
                "name": "activity",
                "parameters": [
                    *base,
                    _param("api_name", api),
                    _param("method_name", method),
                    _param("num_response_bytes", rng.randrange(200, 900_000)),
                    _param("product_bucket", bucket),
                ],
            }
            made.append(self.activity("token", later, user, [call]))
        if rng.random() < 0.3:  # noqa: PLR2004
            later = _ms(later + timedelta(hours=rng.expovariate(1 / 48)))
            if later < end:
                revoke = {
                    "type": "auth",
                    "name": "revoke",
                    "parameters": [*base, *_scope_parameters(list(app.scopes))],
                }
                made.append(self.activity("token", later, user, [revoke]))
        return made

    def login(self, moment: datetime) -> Activity:  # noqa: PLR0911 - one branch per kind
        rng = self.rng
        user = self.user()
        kind = _pick(rng, _LOGIN_KINDS)
        login_type = "saml" if user.plan_tier == "pro" else "google_password"

        def event(
            name: str, *parameters: dict[str, Any], type_: str = "login"
        ) -> dict[str, Any]:
            return {"type": type_, "name": name, "parameters": list(parameters)}

        if kind == "success":
            return self.activity(
                "login",
                moment,
                user,
                [
                    event(
                        "login_success",
                        _param("login_type", login_type),
                        _param("login_challenge_method", ["password"]),
                        _param("is_suspicious", rng.random() < 0.02),  # noqa: PLR2004
                    )
                ],
            )
        if kind == "challenge_success":
            method = rng.choice(("security_key", "security_key", "backup_code"))
            return self.activity(
                "login",
                moment,
                user,
                [
                    event(
                        "login_challenge",
                        _param("login_type", login_type),
                        _param("login_challenge_method", [method]),
                        _param("login_challenge_status", "passed"),
                    ),
                    event(
                        "login_success",
                        _param("login_type", login_type),
                        _param("login_challenge_method", ["password", method]),
                        _param("is_suspicious", value=False),
                    ),
                ],
            )
        if kind == "failure":
            return self.activity(
                "login",
                moment,
                user,
                [
                    event(
                        "login_failure",
                        _param("login_type", login_type),
                        _param("login_challenge_method", ["password"]),
                        _param("login_failure_type", _pick(rng, _FAILURES)),
                        _param("is_suspicious", rng.random() < 0.3),  # noqa: PLR2004
                    )
                ],
            )
        if kind == "logout":
            return self.activity(
                "login",
                moment,
                user,
                [event("logout", _param("login_type", login_type))],
            )
        if kind == "verification":
            return self.activity(
                "login",
                moment,
                user,
                [
                    event(
                        "login_verification",
                        _param("login_type", login_type),
                        _param("login_challenge_method", ["security_key"]),
                        _param("login_challenge_status", "passed"),
                        _param("is_second_factor", value=True),
                    )
                ],
            )
        if kind == "warning":
            seen = moment - timedelta(minutes=rng.randrange(1, 90))
            micros = int(seen.timestamp()) * 1_000_000 + rng.randrange(1_000_000)
            return self.activity(
                "login",
                moment,
                user,
                [
                    event(
                        rng.choice(_WARNINGS),
                        _param("affected_email_address", user.email),
                        _param("login_timestamp", micros),
                        type_="account_warning",
                    )
                ],
                ip=False,
            )
        if kind == "2sv":
            name = rng.choice(("2sv_enroll", "2sv_enroll", "2sv_disable"))
            return self.activity(
                "login", moment, user, [event(name, type_="2sv_change")]
            )
        return self.activity(
            "login", moment, user, [event("password_edit", type_="password_change")]
        )


def _scope_parameters(scopes: list[str]) -> list[dict[str, Any]]:
    data = [
        {
            "parameter": [
                _param("scope_name", s),
                _param("product_bucket", list(_SCOPE_BUCKETS.get(s, ("OTHER",)))),
            ]
        }
        for s in scopes
    ]
    return [_param("scope", scopes), {"name": "scope_data", "multiMessageValue": data}]


_HOUR_WEIGHTS: Final = (
    0.3, 0.2, 0.2, 0.2, 0.2, 0.3, 1, 3,  # 00-07
    10, 12, 12, 12, 10, 11, 12, 12, 11, 10, 8, 6,  # 08-19
    3, 2, 1, 0.6,  # 20-23
)  # fmt: skip
