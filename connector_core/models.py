"""The platform-neutral records every connector produces.

These are the Python form of the host application's shared types. A host
compares, stores and charts activity from many AI platforms side by side, so
each connector translates its platform's records into these classes and the
host never needs to know which platform a record came from.

All classes are frozen: a record that left a connector is evidence and must
not change on its way to storage. Sequences are tuples for the same reason.
Every timestamp is timezone-aware UTC; a naive timestamp is rejected because it
means a connector guessed a time zone, and a guessed time zone silently shifts
an audit trail by hours.

This module has no ``from __future__ import annotations`` on purpose: the
serializer builds its hooks from the field annotations at runtime, so they must
be real objects, not strings.
"""

import datetime as dt
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, ClassVar, Final, TypeAlias

import attrs
from attrs import validators as v

from connector_core._casing import camel_key
from connector_core.secrets import Secret


__all__ = [
    "AIActivityType",
    "AIAuditLog",
    "AIAuditLogQuery",
    "AIAuditLogResult",
    "AIAuditLogResultMetadata",
    "AICredentialValidation",
    "AIDateRange",
    "AIPlatform",
    "AIRiskIndicator",
    "AIRiskType",
    "ActorType",
    "AuditLogEntry",
    "AuditOutcome",
    "AutomationEvent",
    "AutomationOwner",
    "AutomationStatus",
    "AutomationType",
    "ComplianceFramework",
    "ConnectionResult",
    "Coordinates",
    "DailyActivityMetric",
    "DetectedPlatform",
    "FileReference",
    "GeoLocation",
    "ModelUsageMetric",
    "ModelUsageRecord",
    "OAuthCredentials",
    "PermissionCheck",
    "RateLimitInfo",
    "RiskSeverity",
    "TopUserMetric",
    "UsageAnalytics",
    "ensure_utc",
    "ensure_utc_or_none",
    "validate_platform_name",
]


# --------------------------------------------------------------------------
# Shared converters and validators
# --------------------------------------------------------------------------

AIPlatform: TypeAlias = str
"""A platform name such as ``"chatgpt"``.

An alias of ``str`` rather than an enum because the set is open: every
plugin adds its platforms without a release of the core, and the core keeps
no list of them (the registry knows which are installed).
"""

_PLATFORM_NAME = re.compile(r"[a-z][a-z0-9_]*")
_KNOWN_PLATFORM_NAMES: set[str] = set()
"""Names already found valid: a set look-up instead of a regex per event."""
_KNOWN_PLATFORM_LIMIT: Final = 256

_CURRENCY = re.compile(r"[A-Z]{3}")
_MAX_PERCENT: Final = 100
_LAST_HOUR: Final = 23


def validate_platform_name(
    _instance: object, attribute: "attrs.Attribute[Any]", value: object
) -> None:
    """Reject platform names that would not survive as keys, paths or labels.

    Names end up as plugin entry-point names, metric labels and storage
    partitions, so one canonical spelling (lowercase identifier) avoids
    ``"ChatGPT"`` and ``"chatgpt"`` becoming two platforms.
    """
    if value.__class__ is str and value in _KNOWN_PLATFORM_NAMES:
        return  # every event of a connector names the same platform
    if not isinstance(value, str) or _PLATFORM_NAME.fullmatch(value) is None:
        raise ValueError(
            f"{attribute.name} must be a lowercase identifier matching "
            f"^[a-z][a-z0-9_]*$ (for example 'acme_chat'), got {value!r}"
        )
    if value.__class__ is str and len(_KNOWN_PLATFORM_NAMES) < _KNOWN_PLATFORM_LIMIT:
        _KNOWN_PLATFORM_NAMES.add(value)


_validate_platforms = v.deep_iterable(
    member_validator=validate_platform_name, iterable_validator=v.instance_of(tuple)
)


def ensure_utc(value: dt.datetime) -> dt.datetime:
    """Return *value* in UTC, refusing naive datetimes.

    An aware datetime in any zone is the same instant in UTC, so converting is
    lossless and makes records from different platforms directly comparable.
    A naive datetime is a connector bug: which zone it meant is unknowable.
    """
    if value.__class__ is dt.datetime and value.tzinfo is dt.UTC:
        # Already what this returns (connectors mostly build UTC datetimes):
        # skip the conversion's copy, a measurable share of a normalized event.
        return value
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"naive datetime {value.isoformat()} rejected: timestamps must be "
            "timezone-aware (attach tzinfo, e.g. datetime.UTC)"
        )
    return value.astimezone(dt.UTC)


def ensure_utc_or_none(value: dt.datetime | None) -> dt.datetime | None:
    """Apply :func:`ensure_utc` to optional timestamps, keeping ``None``."""
    return None if value is None else ensure_utc(value)


def _as_dict(value: Mapping[str, Any]) -> dict[str, Any]:
    # A private copy: the caller keeping and mutating its dict must not be
    # able to change a frozen record after the fact.
    if value.__class__ is dict:
        # What every normalizer passes, twice per event: skip the ABC check.
        return value.copy()
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a mapping, got {type(value).__name__}")
    return dict(value)


def _as_secret(value: str | Secret) -> Secret:
    # Callers naturally have a plain string from a token endpoint; wrapping it
    # at the boundary means it is masked from the first moment it is stored.
    return value if isinstance(value, Secret) else Secret(value)


def _as_secret_or_none(value: str | Secret | None) -> Secret | None:
    return None if value is None else _as_secret(value)


def _not_a_datetime(
    _instance: object, attribute: "attrs.Attribute[Any]", value: object
) -> None:
    # datetime is a subclass of date; a datetime here would serialize with a
    # time part and break the "YYYY-MM-DD" contract of daily buckets.
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise TypeError(f"{attribute.name} must be a datetime.date, got {value!r}")


_non_negative = v.ge(0)
_percent = v.and_(v.ge(0), v.le(_MAX_PERCENT))
_optional_non_negative = v.optional(_non_negative)


def _check_range(start: dt.datetime, end: dt.datetime, what: str) -> None:
    if start > end:
        raise ValueError(
            f"{what}: start {start.isoformat()} is after end {end.isoformat()}"
        )


# --------------------------------------------------------------------------
# Enumerations (closed sets defined by the host application)
# --------------------------------------------------------------------------


class AIActivityType(StrEnum):
    """What a user did, in the vocabulary every platform is mapped onto.

    Closed on purpose: dashboards and risk rules key on these values, so a
    platform-specific event type is kept in ``native_type`` instead.
    """

    LOGIN = "login"
    LOGOUT = "logout"
    CONVERSATION = "conversation"
    FILE_UPLOAD = "file_upload"
    FILE_DOWNLOAD = "file_download"
    MODEL_USAGE = "model_usage"
    PROMPT_INJECTION = "prompt_injection"
    DATA_EXPORT = "data_export"
    SETTINGS_CHANGE = "settings_change"
    INTEGRATION_CREATED = "integration_created"
    API_KEY_CREATED = "api_key_created"
    API_KEY_DELETED = "api_key_deleted"


class RiskSeverity(StrEnum):
    """How urgently a finding needs a person, ordered low to critical."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class AIRiskType(StrEnum):
    """The kind of risk, so findings can be routed to the right reviewer."""

    SENSITIVE_DATA = "sensitive_data"
    UNUSUAL_ACTIVITY = "unusual_activity"
    POLICY_VIOLATION = "policy_violation"
    SECURITY_EVENT = "security_event"
    DATA_EXFILTRATION = "data_exfiltration"
    UNAUTHORIZED_ACCESS = "unauthorized_access"
    EXCESSIVE_USAGE = "excessive_usage"


class ComplianceFramework(StrEnum):
    """Frameworks a finding may matter for, so compliance reports can filter."""

    GDPR = "GDPR"
    SOX = "SOX"
    HIPAA = "HIPAA"
    PCI = "PCI"
    SOC2 = "SOC2"
    ISO27001 = "ISO27001"


class AutomationType(StrEnum):
    """The kind of automation discovered.

    ``gpt`` extends the host's set so custom GPTs, which act on a user's
    behalf much like bots, are inventoried alongside other automations.
    """

    WORKFLOW = "workflow"
    BOT = "bot"
    INTEGRATION = "integration"
    WEBHOOK = "webhook"
    SCHEDULED_TASK = "scheduled_task"
    TRIGGER = "trigger"
    GPT = "gpt"


class AutomationStatus(StrEnum):
    """Whether an automation can currently act, which decides its urgency."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    PAUSED = "paused"
    ERROR = "error"


class ActorType(StrEnum):
    """Who performed an audited action; non-human actors need other owners."""

    USER = "user"
    SYSTEM = "system"
    SERVICE_ACCOUNT = "service_account"
    BOT = "bot"


class AuditOutcome(StrEnum):
    """Whether an audited action took effect; failures are signals too."""

    SUCCESS = "success"
    FAILURE = "failure"
    PARTIAL = "partial"


# --------------------------------------------------------------------------
# Audit-log building blocks
# --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Coordinates:
    """A point on the map, kept as a pair so half a location cannot exist."""

    latitude: float = attrs.field(validator=v.and_(v.ge(-90.0), v.le(90.0)))
    longitude: float = attrs.field(validator=v.and_(v.ge(-180.0), v.le(180.0)))


@attrs.frozen(kw_only=True)
class GeoLocation:
    """Where an action came from, as far as the platform could tell.

    Every part is optional because platforms resolve IPs to very different
    precision, and a country alone is still useful for residency checks.
    """

    country: str | None = None
    region: str | None = None
    city: str | None = None
    coordinates: Coordinates | None = None
    timezone: str | None = None


@attrs.frozen(kw_only=True)
class FileReference:
    """A file a user moved into or out of an AI platform.

    Files are the main data-leak channel into AI tools, so they are tracked
    individually rather than as a count.
    """

    file_id: str
    file_name: str
    file_type: str
    file_size: int | None = attrs.field(default=None, validator=_optional_non_negative)
    uploaded_at: dt.datetime = attrs.field(converter=ensure_utc)
    is_sensitive: bool | None = None


@attrs.frozen(kw_only=True)
class AIRiskIndicator:
    """One reason an activity deserves attention, with how sure we are.

    Confidence is a percentage so indicators from rules and from models can be
    thresholded on one scale.
    """

    type: AIRiskType
    severity: RiskSeverity
    description: str
    confidence: float = attrs.field(validator=_percent)
    evidence: tuple[str, ...] = ()
    compliance_impact: tuple[ComplianceFramework, ...] = ()


@attrs.frozen(kw_only=True)
class AIAuditLog:
    """One thing one person did on one AI platform, normalized.

    ``activity_type`` and ``action`` are our vocabulary so analytics work
    across platforms; ``native_type`` and ``raw`` keep the platform's own view
    so nothing the platform said is lost to normalization and records can be
    re-normalized when the mapping improves.
    """

    id: str
    platform: AIPlatform = attrs.field(validator=validate_platform_name)
    timestamp: dt.datetime = attrs.field(converter=ensure_utc)
    user_id: str
    # None when the actor has no mailbox (service accounts, API keys); an
    # invented placeholder would pollute per-user analytics.
    user_email: str | None
    organization_id: str
    activity_type: AIActivityType
    action: str
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=_as_dict)
    ip_address: str | None = None
    user_agent: str | None = None
    location: GeoLocation | None = None
    risk_indicators: tuple[AIRiskIndicator, ...] = ()
    native_type: str
    raw: Mapping[str, Any] = attrs.field(factory=dict, converter=_as_dict)


@attrs.frozen(kw_only=True)
class AIAuditLogQuery:
    """What to fetch, bounded by time so every query has a finite answer.

    ``platform_filters`` carries options only one platform understands,
    keeping this class stable as plugins are added.
    """

    start_date: dt.datetime = attrs.field(converter=ensure_utc)
    end_date: dt.datetime = attrs.field(converter=ensure_utc)
    user_ids: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    platforms: tuple[AIPlatform, ...] = attrs.field(
        default=(), validator=_validate_platforms
    )
    limit: int | None = attrs.field(default=None, validator=v.optional(v.gt(0)))
    cursor: str | None = None
    platform_filters: Mapping[str, Any] = attrs.field(factory=dict, converter=_as_dict)

    def __attrs_post_init__(self) -> None:
        _check_range(self.start_date, self.end_date, "AIAuditLogQuery")


@attrs.frozen(kw_only=True)
class DetectedPlatform:
    """A platform seen in a multi-platform query, named for display."""

    platform: AIPlatform = attrs.field(validator=validate_platform_name)
    display_name: str


@attrs.frozen(kw_only=True)
class AIAuditLogResultMetadata:
    """How a page of results came about, for troubleshooting and dashboards.

    The host's type is open (``[key: string]: any``); ``extra`` holds those
    additional keys so connectors can report platform details without a schema
    change. In the host's JSON shape they sit beside the named keys, under
    their camelCase spelling, so that spelling may not be a named key's:
    ``query_time`` would land on ``queryTime``.
    """

    RESERVED_EXTRA_KEYS: ClassVar[frozenset[str]] = frozenset(
        {"queryTime", "platform", "warnings", "detectedPlatforms"}
    )

    query_time_ms: float = attrs.field(validator=_non_negative)
    platform: AIPlatform = attrs.field(validator=validate_platform_name)
    warnings: tuple[str, ...] = ()
    detected_platforms: tuple[DetectedPlatform, ...] = ()
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=_as_dict)

    @extra.validator
    def _check_extra(
        self, _attribute: "attrs.Attribute[Any]", value: Mapping[str, Any]
    ) -> None:
        # str(): a non-string key (a caller's mistake) is no clash to report.
        clashes = sorted(
            k for k in value if camel_key(str(k)) in self.RESERVED_EXTRA_KEYS
        )
        if clashes:
            raise ValueError(
                f"extra metadata keys {clashes} clash with named metadata fields"
            )


@attrs.frozen(kw_only=True)
class AIAuditLogResult:
    """One page of normalized logs plus what is needed to fetch the next."""

    logs: tuple[AIAuditLog, ...]
    total_count: int = attrs.field(validator=_non_negative)
    has_more: bool
    next_cursor: str | None = None
    metadata: AIAuditLogResultMetadata


# --------------------------------------------------------------------------
# Usage analytics
# --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AIDateRange:
    """A closed time interval, validated once so consumers need not."""

    start: dt.datetime = attrs.field(converter=ensure_utc)
    end: dt.datetime = attrs.field(converter=ensure_utc)

    def __attrs_post_init__(self) -> None:
        _check_range(self.start, self.end, "AIDateRange")


@attrs.frozen(kw_only=True)
class TopUserMetric:
    """A heavy user, surfaced because usage concentrates risk."""

    user_id: str
    email: str
    event_count: int = attrs.field(validator=_non_negative)
    last_activity: dt.datetime | None = attrs.field(
        default=None, converter=ensure_utc_or_none
    )
    # The host scores risk 0-100 everywhere; one scale keeps them comparable.
    risk_score: float | None = attrs.field(default=None, validator=v.optional(_percent))


@attrs.frozen(kw_only=True)
class DailyActivityMetric:
    """Activity per calendar day (UTC), the unit of trend charts."""

    date: dt.date = attrs.field(validator=_not_a_datetime)
    active_users: int = attrs.field(validator=_non_negative)
    total_events: int = attrs.field(validator=_non_negative)
    peak_hour: int | None = attrs.field(
        default=None, validator=v.optional(v.and_(v.ge(0), v.le(_LAST_HOUR)))
    )


@attrs.frozen(kw_only=True)
class ModelUsageMetric:
    """Usage of one model, since cost and data policy differ per model."""

    model: str
    usage_count: int = attrs.field(validator=_non_negative)
    total_tokens: int | None = attrs.field(
        default=None, validator=_optional_non_negative
    )
    cost_estimate: float | None = attrs.field(
        default=None, validator=_optional_non_negative
    )


def _as_dimensions(value: Mapping[str, str]) -> dict[str, str]:
    # Dimensions are keys of a bucket (a workspace, a project, a key id):
    # text on both sides, so they compare, sort and store alike everywhere.
    dimensions = _as_dict(value)
    pairs: dict[Any, Any] = dimensions
    for key, item in pairs.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise TypeError(f"dimensions must map text to text, got {key!r}: {item!r}")
    return dimensions


def _currency(
    _instance: object, attribute: "attrs.Attribute[Any]", value: object
) -> None:
    if not isinstance(value, str) or _CURRENCY.fullmatch(value) is None:
        raise ValueError(
            f"{attribute.name} must be an ISO 4217 code such as 'USD', got {value!r}"
        )


def _finite_non_negative(
    _instance: object, attribute: "attrs.Attribute[Any]", value: object
) -> None:
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value < float("inf")
    ):
        raise ValueError(
            f"{attribute.name} must be a finite number >= 0, got {value!r}"
        )


@attrs.frozen(kw_only=True)
class ModelUsageRecord:
    """One bucket of a platform's usage report: what one model was asked
    and cost over one stretch of time, for one combination of dimensions.

    Usage and cost reports are the platform's own account of requests,
    tokens and money, which audit events rarely carry; they are kept as
    records of their own so the analytics of a stored period can report
    tokens and cost per model. A bucket is revised while its stretch is
    still open (today's figures grow), so ``id`` is derived from what
    identifies the bucket (its start, model and dimensions), never from
    its figures: the revised bucket replaces the stored one.

    Attributes:
        id: The bucket's stable key within its connection.
        platform: The platform that reported it.
        start, end: The bucket's stretch of time, UTC, ``start <= end``.
        model: The model the figures are for.
        requests: Requests made, when reported.
        input_tokens, output_tokens: Tokens in and out, when reported.
        cost: What it cost, in ``currency``, when reported.
        currency: An ISO 4217 code; analytics sum only ``USD``.
        dimensions: What else the bucket is grouped by (a workspace,
            project or API key id), text to text.
        raw: The bucket as the platform reported it.
    """

    id: str = attrs.field(validator=v.and_(v.instance_of(str), v.min_len(1)))
    platform: AIPlatform = attrs.field(validator=validate_platform_name)
    start: dt.datetime = attrs.field(converter=ensure_utc)
    end: dt.datetime = attrs.field(converter=ensure_utc)
    model: str = attrs.field(validator=v.and_(v.instance_of(str), v.min_len(1)))
    requests: int | None = attrs.field(default=None, validator=_optional_non_negative)
    input_tokens: int | None = attrs.field(
        default=None, validator=_optional_non_negative
    )
    output_tokens: int | None = attrs.field(
        default=None, validator=_optional_non_negative
    )
    cost: float | None = attrs.field(default=None, validator=_finite_non_negative)
    currency: str = attrs.field(default="USD", validator=_currency)
    dimensions: Mapping[str, str] = attrs.field(factory=dict, converter=_as_dimensions)
    raw: Mapping[str, Any] = attrs.field(factory=dict, converter=_as_dict)

    def __attrs_post_init__(self) -> None:
        _check_range(self.start, self.end, "ModelUsageRecord")
        for name in ("requests", "input_tokens", "output_tokens"):
            count = getattr(self, name)
            if isinstance(count, bool) or not isinstance(count, int | None):
                raise TypeError(f"{name} must be an int or None, got {count!r}")

    @property
    def tokens(self) -> int | None:
        """Input and output tokens together; ``None`` when neither is known."""
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)


@attrs.frozen(kw_only=True)
class UsageAnalytics:
    """Who uses a platform and how much, over a period.

    Aggregated by the connector because some platforms report usage that is
    not derivable from the audit log alone.
    """

    platform: AIPlatform = attrs.field(validator=validate_platform_name)
    period: AIDateRange
    total_users: int = attrs.field(validator=_non_negative)
    active_users: int = attrs.field(validator=_non_negative)
    total_events: int = attrs.field(validator=_non_negative)
    top_users: tuple[TopUserMetric, ...] = ()
    events_by_type: Mapping[str, int] = attrs.field(factory=dict, converter=_as_dict)
    daily_breakdown: tuple[DailyActivityMetric, ...] = ()
    model_usage: tuple[ModelUsageMetric, ...] = ()


# --------------------------------------------------------------------------
# Connections, credentials and permissions
# --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ConnectionResult:
    """The outcome of connecting, as data rather than an exception.

    A failed connection is an expected answer during setup; returning it lets
    the host show ``error`` to the person configuring the connector.
    """

    success: bool
    platform_user_id: str | None = None
    platform_workspace_id: str | None = None
    display_name: str | None = None
    permissions: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=_as_dict)
    error: str | None = None
    error_code: str | None = None


@attrs.frozen(kw_only=True)
class OAuthCredentials:
    """Tokens for platforms that authorize through OAuth.

    Tokens are :class:`Secret` so that logging or printing credentials never
    shows them; plain strings are wrapped on construction. Serialization writes
    a mask in their place, so credentials cannot be persisted by accident.
    """

    access_token: Secret = attrs.field(converter=_as_secret)
    refresh_token: Secret | None = attrs.field(
        default=None, converter=_as_secret_or_none
    )
    token_type: str = "Bearer"  # noqa: S105 -- a scheme name, not a credential
    expires_at: dt.datetime | None = attrs.field(
        default=None, converter=ensure_utc_or_none
    )
    scope: tuple[str, ...] = ()
    issued_at: dt.datetime | None = attrs.field(
        default=None, converter=ensure_utc_or_none
    )


@attrs.frozen(kw_only=True)
class RateLimitInfo:
    """The platform's remaining request budget, so callers can pace syncs."""

    remaining: int = attrs.field(validator=_non_negative)
    limit: int = attrs.field(validator=_non_negative)
    reset_at: dt.datetime = attrs.field(converter=ensure_utc)


@attrs.frozen(kw_only=True)
class AICredentialValidation:
    """Whether credentials work *and* can read what auditing needs.

    Valid-but-underprivileged keys are the common setup mistake, hence the
    separate ``has_required_permissions`` and the list of what is missing.
    """

    is_valid: bool
    platform: AIPlatform = attrs.field(validator=validate_platform_name)
    has_required_permissions: bool
    missing_permissions: tuple[str, ...] = ()
    expires_at: dt.datetime | None = attrs.field(
        default=None, converter=ensure_utc_or_none
    )
    last_checked: dt.datetime = attrs.field(converter=ensure_utc)
    errors: tuple[str, ...] = ()
    rate_limits: RateLimitInfo | None = None


@attrs.frozen(kw_only=True)
class PermissionCheck:
    """The permissions a connection holds, checked at a known moment."""

    is_valid: bool
    permissions: tuple[str, ...] = ()
    missing_permissions: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    last_checked: dt.datetime = attrs.field(converter=ensure_utc)
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=_as_dict)


# --------------------------------------------------------------------------
# Automations and generic audit entries
# --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AutomationOwner:
    """Who to ask about an automation; unowned automations are a finding."""

    id: str
    name: str
    email: str | None = None


@attrs.frozen(kw_only=True)
class AutomationEvent:
    """An automation (bot, integration, custom GPT...) found on a platform.

    Automations act without a person in the loop, so they are inventoried
    with their owner, trigger and permissions for review.
    """

    id: str
    name: str
    type: AutomationType
    platform: str = attrs.field(validator=validate_platform_name)
    status: AutomationStatus
    trigger: str
    actions: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=_as_dict)
    created_at: dt.datetime = attrs.field(converter=ensure_utc)
    # Required although nullable: "never triggered" is information, not a gap.
    last_triggered: dt.datetime | None = attrs.field(converter=ensure_utc_or_none)
    last_modified: dt.datetime | None = attrs.field(
        default=None, converter=ensure_utc_or_none
    )
    owner: AutomationOwner | None = None
    description: str | None = None
    risk_level: RiskSeverity | None = None
    permissions: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class AuditLogEntry:
    """A generic platform audit record, for platforms that are not AI tools.

    Kept separate from :class:`AIAuditLog` because it describes resources
    and actors generically rather than AI activity.
    """

    id: str
    timestamp: dt.datetime = attrs.field(converter=ensure_utc)
    actor_id: str
    actor_type: ActorType
    action_type: str
    resource_type: str
    resource_id: str
    details: Mapping[str, Any] = attrs.field(factory=dict, converter=_as_dict)
    ip_address: str | None = None
    user_agent: str | None = None
    location: str | None = None
    outcome: AuditOutcome | None = None
