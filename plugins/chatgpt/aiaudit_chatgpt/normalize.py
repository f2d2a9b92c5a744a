"""Native ChatGPT and OpenAI records, translated into the unified model.

Three feeds arrive in three shapes: the Admin API's audit log (one JSON object
per event, an actor of one of three shapes, a payload under a key named like
the event), the Compliance Logs Platform's JSONL records (conversation
messages, sign-ins, workspace admin actions) and the Compliance API's custom
GPT objects. This module turns each into :class:`AIAuditLog` values (and GPTs
into :class:`AutomationEvent` values) and answers the reverse question, which
native types to ask each API for when a caller filters by unified action.

What is mapped to what is data, in ``event_map.toml`` beside this module, so a
reviewer reads a table rather than code and the documentation is checked
against the same table. Types nobody mapped yet pass through under their own
name: a new OpenAI event is reported, not lost, and can be re-normalized from
``raw`` once it is mapped.

A record that cannot be normalized (not an object, no id, a time in
milliseconds, an actor of an unknown shape...) never raises: it comes back as
a :class:`QuarantinedRecord` with a reason a person can act on. The envelope
fields are structured by one shared cattrs converter into small frozen wire
classes, so type errors are found in one place and reported with their path;
payloads are never structured, because they are kept verbatim and their
schemas are open.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import tomllib
import types
from collections.abc import Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

import attrs
import cattrs
import orjson
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.gen import make_dict_structure_fn

from connector_core.models import (
    AIActivityType,
    AIAuditLog,
    AIRiskIndicator,
    AIRiskType,
    AutomationEvent,
    AutomationOwner,
    AutomationStatus,
    AutomationType,
    Coordinates,
    GeoLocation,
    RiskSeverity,
)
from connector_core.streams import QuarantinedRecord


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable


__all__ = [
    "PLATFORM",
    "STREAM_ADMIN",
    "STREAM_COMPLIANCE",
    "STREAM_GPTS",
    "UNEXPECTED",
    "UNIFIED_ACTIONS",
    "NativeFilter",
    "Normalizer",
    "actions_of",
    "is_tenant_scoped",
    "native_filter",
]

PLATFORM: Final = "chatgpt"
STREAM_ADMIN: Final = "admin_audit_logs"
STREAM_COMPLIANCE: Final = "compliance_logs"
STREAM_GPTS: Final = "custom_gpts"

_CONVERSATION_MESSAGE: Final = "CONVERSATION_MESSAGE"
_GPT_NATIVE_TYPE: Final = "compliance.workspace.gpt"
_GPT_CONFIG_NATIVE_TYPE: Final = "compliance.workspace.gpt.configuration"
UNEXPECTED: Final = "unexpected normalizer failure: "
"""Prefix of a reason that means a bug here, not a bad record."""

# Above 10**11 a Unix time in seconds is past the year 5000; a millisecond
# time of today (1.7e12) is far above it, a second time (1.7e9) far below.
_MAX_UNIX_SECONDS: Final = 10**11
_MAX_UNIX_MILLISECONDS: Final = 10**14
_MAX_REPR: Final = 80
_UNKNOWN_ORG: Final = "unknown"
_SYSTEM_USER: Final = "system"
# The shape of an Admin API event type (``tenant.user.added``).
_ADMIN_TYPE_SHAPE: Final = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)+")


# --------------------------------------------------------------------------
# The mapping table
# --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _Mapping:
    """One row of the table: what a native type becomes."""

    action: str
    activity: AIActivityType
    resource: str | None = None
    tenant: bool = False
    widened: str | None = None
    narrowed: str | None = None


@attrs.frozen(kw_only=True)
class _Risk:
    type: AIRiskType
    severity: RiskSeverity
    confidence: float
    description: str


@attrs.frozen(kw_only=True)
class _Table:
    """``event_map.toml``, checked and indexed once at import."""

    pass_through_activity: AIActivityType
    reserved: frozenset[str]
    admin: Mapping[str, _Mapping]
    admin_prefixes: Mapping[str, bool]  # prefix -> tenant-scoped
    messages: Mapping[str, _Mapping]
    events: Mapping[str, Mapping[str, _Mapping]]
    other_types: Mapping[str, AIActivityType]
    visibility: Mapping[str, int]
    gpts: Mapping[str, _Mapping]
    risks: Mapping[str, _Risk]


def _row(entry: Mapping[str, Any]) -> _Mapping:
    return _Mapping(
        action=entry["action"],
        activity=AIActivityType(entry["activity"]),
        resource=entry.get("resource"),
        tenant=entry.get("tenant", False),
        widened=entry.get("widened"),
        narrowed=entry.get("narrowed"),
    )


def _load_table() -> _Table:
    """Read the shipped table; a broken table is a packaging bug, so it raises."""
    text = resources.files(__package__).joinpath("event_map.toml").read_text("utf-8")
    data = tomllib.loads(text)
    admin = data["admin"]
    compliance = data["compliance"]
    return _Table(
        pass_through_activity=AIActivityType(data["defaults"]["pass_through_activity"]),
        reserved=frozenset(data["vocabulary"]["reserved"]),
        admin={native: _row(entry) for native, entry in admin["types"].items()},
        admin_prefixes={
            prefix: rule.get("tenant", False)
            for prefix, rule in admin["prefixes"].items()
            if rule["rule"] == "pass_through"
        },
        messages={key: _row(entry) for key, entry in compliance["messages"].items()},
        events={
            record_type: {name: _row(entry) for name, entry in table.items()}
            for record_type, table in compliance["events"].items()
        },
        other_types={
            record_type: AIActivityType(activity)
            for record_type, activity in compliance["other_types"].items()
        },
        visibility={
            name: rank for rank, name in enumerate(data["visibility"]["order"])
        },
        gpts={key: _row(entry) for key, entry in data["gpts"].items()},
        risks={
            action: _Risk(
                type=AIRiskType(risk["type"]),
                severity=RiskSeverity(risk["severity"]),
                confidence=float(risk["confidence"]),
                description=risk["description"],
            )
            for action, risk in data["risks"].items()
        },
    )


_TABLE: Final = _load_table()
_MSG_USER: Final = _TABLE.messages["user_message"]
_MSG_FIRST: Final = _TABLE.messages["first_message"]
_MSG_FILE: Final = _TABLE.messages["attached_file"]
_MSG_RESPONSE: Final = _TABLE.messages["response"]
_GPT_CREATED: Final = _TABLE.gpts["created"]
_GPT_UPDATED: Final = _TABLE.gpts["updated"]


def _actions(rows: Iterable[_Mapping]) -> frozenset[str]:
    found: set[str] = set()
    for row in rows:
        found.update(a for a in (row.action, row.widened, row.narrowed) if a)
    return frozenset(found)


_ADMIN_ACTIONS: Final = _actions(_TABLE.admin.values())
_COMPLIANCE_TYPE_ACTIONS: Final[Mapping[str, frozenset[str]]] = {
    _CONVERSATION_MESSAGE: _actions(_TABLE.messages.values()),
    **{t: _actions(rows.values()) for t, rows in _TABLE.events.items()},
}
_COMPLIANCE_ACTIONS: Final = frozenset().union(*_COMPLIANCE_TYPE_ACTIONS.values())
_GPT_ACTIONS: Final = _actions(_TABLE.gpts.values())
_KNOWN_COMPLIANCE_TYPES: Final = frozenset(
    {*_COMPLIANCE_TYPE_ACTIONS, *_TABLE.other_types}
)

UNIFIED_ACTIONS: Final[frozenset[str]] = frozenset(
    {*_ADMIN_ACTIONS, *_COMPLIANCE_ACTIONS, *_GPT_ACTIONS, *_TABLE.reserved}
)
"""Every action of our vocabulary: what the table maps to, plus the reserved
actions of the plan that no API reports yet. Pass-through actions are not in
it: they are native names, open-ended by nature."""

_STREAM_ACTIONS: Final[Mapping[str, tuple[str, ...]]] = {
    STREAM_ADMIN: tuple(sorted(_ADMIN_ACTIONS)),
    STREAM_COMPLIANCE: tuple(sorted(_COMPLIANCE_ACTIONS)),
    STREAM_GPTS: tuple(sorted(_GPT_ACTIONS)),
}


def actions_of(stream: str) -> tuple[str, ...]:
    """The mapped actions *stream* can produce, sorted, for ``StreamInfo``.

    Pass-through actions (native types nobody mapped) are open-ended and so
    not listed; :func:`native_filter` still routes them.

    Raises:
        ValueError: *stream* is not one of this connector's streams.
    """
    try:
        return _STREAM_ACTIONS[stream]
    except KeyError:
        raise ValueError(
            f"unknown stream {stream!r}; expected one of {sorted(_STREAM_ACTIONS)}"
        ) from None


def is_tenant_scoped(native_type: str) -> bool:
    """Whether the Admin API returns *native_type* only with ``tenant_only``.

    The API refuses a request mixing tenant-scoped and organization event
    types, so a reader splits :attr:`NativeFilter.admin_event_types` by this.
    """
    row = _TABLE.admin.get(native_type)
    if row is not None:
        return row.tenant
    return any(
        tenant and native_type.startswith(prefix)
        for prefix, tenant in _TABLE.admin_prefixes.items()
    )


# --------------------------------------------------------------------------
# Filter pushdown
# --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class NativeFilter:
    """What to ask each API for so that only the wanted actions come back.

    Attributes:
        admin_event_types: Admin API ``event_types[]``; ``None`` asks for all,
            an empty set means the admin API need not be read at all.
        compliance_event_types: Logs Platform ``event_type`` values
            (``CONVERSATION_MESSAGE``, ``AUTH_LOG``...); ``None`` for all,
            empty to skip the Logs Platform.
        gpts: Whether the ``/gpts`` listing is needed.
    """

    admin_event_types: frozenset[str] | None
    compliance_event_types: frozenset[str] | None
    gpts: bool


_ADMIN_BY_ACTION: Final[Mapping[str, frozenset[str]]] = {
    action: frozenset(n for n, row in _TABLE.admin.items() if row.action == action)
    for action in _ADMIN_ACTIONS
}


def _compliance_pass_through_type(action: str) -> str | None:
    # Pass-through compliance actions are ``<type>.<event_type>`` lowercased.
    record_type = action.partition(".")[0].upper()
    return record_type if record_type in _KNOWN_COMPLIANCE_TYPES else None


def native_filter(actions: Iterable[str] | None) -> NativeFilter:
    """Translate unified *actions* into what each API should be asked for.

    An action that is not ours but looks like an Admin API event type is
    taken for a pass-through type (one not in the table) and asked for by
    its own name, since that is the action such records get. An action no
    source can produce leaves every source with an empty set, so nothing is
    read for it.
    """
    if actions is None:
        return NativeFilter(
            admin_event_types=None, compliance_event_types=None, gpts=True
        )
    wanted = frozenset((actions,) if isinstance(actions, str) else actions)
    admin: set[str] = set()
    compliance = {
        record_type
        for record_type, produced in _COMPLIANCE_TYPE_ACTIONS.items()
        if produced & wanted
    }
    for action in wanted:
        admin |= _ADMIN_BY_ACTION.get(action, frozenset())
        if action in UNIFIED_ACTIONS or action in _TABLE.admin:
            continue
        record_type = _compliance_pass_through_type(action)
        if record_type is not None:
            compliance.add(record_type)
        elif _ADMIN_TYPE_SHAPE.fullmatch(action):
            admin.add(action)
    return NativeFilter(
        admin_event_types=frozenset(admin),
        compliance_event_types=frozenset(compliance),
        gpts=not wanted.isdisjoint(_GPT_ACTIONS),
    )


# --------------------------------------------------------------------------
# Wire classes: the envelope fields each record is checked for
# --------------------------------------------------------------------------


@attrs.frozen
class _User:
    id: str
    email: str | None = None


@attrs.frozen
class _Session:
    user: _User
    ip_address: str | None = None
    user_agent: str | None = None
    # Undocumented and stringly typed; read leniently, never a reason to refuse.
    ip_address_details: Any = None


@attrs.frozen
class _ServiceAccount:
    id: str


@attrs.frozen
class _ApiKey:
    type: str
    id: str | None = None
    user: _User | None = None
    service_account: _ServiceAccount | None = None


@attrs.frozen
class _AdminActor:
    type: str
    session: _Session | None = None
    api_key: _ApiKey | None = None


@attrs.frozen
class _Project:
    id: str
    name: str | None = None


@attrs.frozen
class _AdminRecord:
    id: str
    type: str
    effective_at: int
    actor: _AdminActor | None = None
    project: _Project | None = None


@attrs.frozen
class _ComplianceActor:
    type: str | None = None
    user_id: str | None = None
    user_email: str | None = None


@attrs.frozen
class _Principal:
    id: str | None = None
    type: str | None = None


@attrs.frozen
class _ComplianceRecord:
    event_id: str
    type: str
    timestamp: str
    actor: _ComplianceActor | None = None
    principal: _Principal | None = None
    event_type: str | None = None
    workspace_id: str | None = None


@attrs.frozen
class _Author:
    role: str | None = None
    type: str | None = None
    model: str | None = None
    client_type: str | None = None
    tool_name: str | None = None


@attrs.frozen
class _File:
    id: str
    name: str | None = None
    created_at: Any = None  # seconds, or null once the file expired


@attrs.frozen
class _Message:
    id: str
    author: _Author
    parent_id: str | None = None
    files: tuple[_File, ...] | None = None


@attrs.frozen
class _Conversation:
    id: str
    title: str | None = None
    gpt_id: str | None = None
    gpt_name: str | None = None
    project_id: str | None = None
    project_name: str | None = None


@attrs.frozen
class _ConversationMessage:
    message: _Message
    conversation: _Conversation


@attrs.frozen
class _VersionAuthor:
    id: str | None = None
    email: str | None = None


@attrs.frozen
class _GptConfig:
    id: str | None = None
    name: str | None = None
    description: str | None = None
    created_at: float | None = None
    version_author: _VersionAuthor | None = None
    tools: Any = None
    files: Any = None


@attrs.frozen
class _Gpt:
    id: str
    created_at: float
    owner_id: str
    owner_email: str | None = None
    builder_name: str | None = None
    sharing: Any = None
    latest_config: Any = None


_WIRE_CLASSES: Final = frozenset(
    {
        _User,
        _Session,
        _ServiceAccount,
        _ApiKey,
        _AdminActor,
        _Project,
        _AdminRecord,
        _ComplianceActor,
        _Principal,
        _ComplianceRecord,
        _Author,
        _File,
        _Message,
        _Conversation,
        _ConversationMessage,
        _VersionAuthor,
        _GptConfig,
        _Gpt,
    }
)


def _short(value: object) -> str:
    try:
        text = repr(value)
    except ValueError:  # an integer with more digits than Python will print
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= _MAX_REPR else f"{text[: _MAX_REPR - 3]}..."


def _got(value: object) -> str:
    return f"got {type(value).__name__} {_short(value)}"


def _structure_str(value: object, _cls: type[Any]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, {_got(value)}")
    return value


def _structure_int(value: object, _cls: type[Any]) -> int:
    # No coercion: "1720804090" or 1720804090.5 means the schema changed.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, {_got(value)}")
    return value


def _structure_float(value: object, _cls: type[Any]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, {_got(value)}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(
            "expected a number, got an integer too large for one"
        ) from None


def _structure_bool(value: object, _cls: type[Any]) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected a boolean, {_got(value)}")
    return value


def _is_homogeneous_tuple(tp: Any) -> bool:
    args = getattr(tp, "__args__", ())
    return getattr(tp, "__origin__", None) is tuple and args[-1:] == (Ellipsis,)


def _strict_tuple(tp: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    # cattrs would iterate a string or an object into a tuple.
    inner = homogenous_tuple_structure_factory(tp, converter)

    def structure(value: object, cls: Any) -> Any:
        if not isinstance(value, list):
            raise TypeError(f"expected an array, {_got(value)}")
        return inner(value, cls)

    return structure


def _wire_class(
    cls: type[Any], converter: cattrs.Converter
) -> Callable[[Any, Any], Any]:
    generated = make_dict_structure_fn(cls, converter)

    def structure(value: object, target: Any) -> Any:
        # Without this a string would be indexed like an object and fail
        # with a confusing message about string indices.
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, {_got(value)}")
        return generated(value, target)

    return structure


def _is_optional(tp: Any) -> bool:
    args = getattr(tp, "__args__", ())
    return (
        isinstance(tp, types.UnionType) and len(args) == 2 and type(None) in args  # noqa: PLR2004
    )


def _optional(tp: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    # cattrs' own optional hook looks the inner hook up on every call; this
    # one looks it up once, which is a third of the cost of an envelope.
    inner_type = next(arg for arg in tp.__args__ if arg is not type(None))
    inner = converter.get_structure_hook(inner_type)

    def structure(value: object, _cls: Any) -> Any:
        return None if value is None else inner(value, inner_type)

    return structure


def _make_converter() -> cattrs.Converter:
    """The one converter for wire envelopes: strict scalars, paths on errors."""
    converter = cattrs.Converter(detailed_validation=True)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook_factory(_is_homogeneous_tuple, _strict_tuple)
    converter.register_structure_hook_factory(_is_optional, _optional)
    converter.register_structure_hook_factory(
        lambda tp: tp in _WIRE_CLASSES, _wire_class
    )
    return converter


_CONVERTER: Final = _make_converter()
_STRUCTURE_ADMIN: Final = _CONVERTER.get_structure_hook(_AdminRecord)
_STRUCTURE_COMPLIANCE: Final = _CONVERTER.get_structure_hook(_ComplianceRecord)
_STRUCTURE_MESSAGE: Final = _CONVERTER.get_structure_hook(_ConversationMessage)
_STRUCTURE_GPT: Final = _CONVERTER.get_structure_hook(_Gpt)
_STRUCTURE_GPT_CONFIG: Final = _CONVERTER.get_structure_hook(_GptConfig)


def _format_error(exc: BaseException, _type: object) -> str:
    if isinstance(exc, KeyError):
        return "required but missing"
    return str(exc) or type(exc).__name__


def _describe(exc: BaseException, root: str = "") -> str:
    """cattrs' error tree as ``path: problem`` phrases, joined."""
    problems = []
    for line in cattrs.transform_error(exc, path=root, format_exception=_format_error):
        problem, _, path = line.rpartition(" @ ")
        path = path.lstrip(".") or "record"
        problems.append(f"{path}: {problem}")
    return "; ".join(problems)


# --------------------------------------------------------------------------
# Refusals and small readers
# --------------------------------------------------------------------------


class _RefusedError(Exception):
    """A record that cannot be normalized; becomes a quarantine entry."""

    def __init__(
        self,
        reason: str,
        *,
        native_id: str | None = None,
        native_type: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.native_id = native_id
        self.native_type = native_type


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return f"a {type(value).__name__}"


def _require_object(raw: object) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _RefusedError(f"record is {_kind(raw)}, not a JSON object")
    return raw


def _text(value: object) -> str | None:
    """A non-empty string, or None: for optional, informational fields."""
    return value if isinstance(value, str) and value else None


def _quarantine(
    stream: str,
    reason: str,
    raw: object,
    *,
    native_id: str | None = None,
    native_type: str | None = None,
) -> QuarantinedRecord:
    text: str | bytes
    try:
        text = orjson.dumps(raw, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, ValueError, RecursionError):
        # Not JSON (huge integers, lone surrogates): the repr is evidence too.
        try:
            text = repr(raw)
        except (ValueError, RecursionError):
            text = f"<{type(raw).__name__} that cannot be shown>"
    return QuarantinedRecord.of(
        stream, reason, text, native_id=native_id, native_type=native_type
    )


def _unix_time(value: float, field: str) -> dt.datetime:
    """A Unix time in seconds as aware UTC, refusing other units and junk."""
    # Only floats can be inf or NaN, and math.isfinite overflows on huge ints.
    if not isinstance(value, int) and not math.isfinite(value):
        raise _RefusedError(f"{field} is {value!r}; expected Unix seconds")
    if value < 0:
        raise _RefusedError(
            f"{field} is negative ({_short(value)}); expected Unix seconds"
        )
    if value > _MAX_UNIX_SECONDS:
        shown = _short(
            int(value) if isinstance(value, int) or value.is_integer() else value
        )
        if value <= _MAX_UNIX_MILLISECONDS:
            raise _RefusedError(
                f"{field} looks like milliseconds ({shown}); expected Unix seconds"
            )
        raise _RefusedError(f"{field} ({shown}) is far beyond any Unix time in seconds")
    return dt.datetime.fromtimestamp(value, dt.UTC)


def _iso_time(value: str, field: str) -> dt.datetime:
    """An ISO 8601 time with an offset (``Z`` or ``+hh:mm``) as aware UTC."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _RefusedError(
            f"{field} {_short(value)} is not an ISO 8601 time"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _RefusedError(
            f"{field} {_short(value)} has no UTC offset; the time zone is unknowable"
        )
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise _RefusedError(f"{field} {_short(value)} is out of range in UTC") from None


def _float_or_none(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value) if isinstance(value, str | int | float) else None
    except (ValueError, OverflowError):
        return None
    return number if number is not None and math.isfinite(number) else None


_MAX_LATITUDE: Final = 90.0
_MAX_LONGITUDE: Final = 180.0


_LOCATION_CACHE_SIZE: Final = 4096
_locations: dict[tuple[object, ...], GeoLocation | None] = {}


def _location(details: object) -> GeoLocation | None:
    """``ip_address_details`` as a GeoLocation, tolerating anything odd.

    The API sends every value as a string (``"latitude": "37.77490"``);
    a missing or unreadable coordinate leaves ``coordinates`` unset rather
    than discarding the country and city. People act from a few places, so
    the (immutable) results are cached by the values they were read from.
    """
    if not isinstance(details, dict):
        return None
    get = details.get
    key = (
        get("country"),
        get("region"),
        get("city"),
        get("latitude"),
        get("longitude"),
    )
    try:
        return _locations[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable value (a list or an object)
        return _read_location(*key)
    if len(_locations) >= _LOCATION_CACHE_SIZE:
        _locations.clear()
    found = _locations[key] = _read_location(*key)
    return found


def _read_location(
    country: object, region: object, city: object, latitude: object, longitude: object
) -> GeoLocation | None:
    lat, lon = _float_or_none(latitude), _float_or_none(longitude)
    coordinates = None
    if (
        lat is not None
        and lon is not None
        and abs(lat) <= _MAX_LATITUDE
        and abs(lon) <= _MAX_LONGITUDE
    ):
        coordinates = Coordinates(latitude=lat, longitude=lon)
    found = GeoLocation(
        country=_text(country),
        region=_text(region),
        city=_text(city),
        coordinates=coordinates,
    )
    return None if found == _NOWHERE else found


_NOWHERE: Final = GeoLocation()


def _items(value: object) -> list[Any]:
    """The items of a nested list: a ``GenericList`` object or a bare array."""
    if isinstance(value, dict):
        value = value.get("data")
    return value if isinstance(value, list) else []


def _risk(action: str, evidence: tuple[str, ...]) -> tuple[AIRiskIndicator, ...]:
    rule = _TABLE.risks.get(action)
    if rule is None:
        return ()
    return (
        AIRiskIndicator(
            type=rule.type,
            severity=rule.severity,
            description=rule.description,
            confidence=rule.confidence,
            evidence=evidence,
        ),
    )


def _error_evidence(details: object) -> tuple[str, ...]:
    if not isinstance(details, dict):
        return ()
    return tuple(
        f"{key}: {details[key]}"
        for key in ("error_code", "error_message", "failure_reason")
        if isinstance(details.get(key), str)
    )


def _admin_pass_through(native_type: str) -> _Mapping:
    parts = native_type.split(".")
    if parts[0] == "tenant" and len(parts) > 1:
        parts = parts[1:]
    resource = "_".join(parts[:-1]) or parts[0]
    return _Mapping(
        action=native_type,
        activity=_TABLE.pass_through_activity,
        resource=resource,
        tenant=is_tenant_scoped(native_type),
    )


def _file_type(name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    return extension.lower() if dot and stem and extension else "unknown"


# --------------------------------------------------------------------------
# The normalizer
# --------------------------------------------------------------------------


class Normalizer:
    """Turns native records into unified ones for one organization.

    Args:
        organization_id: The OpenAI organization id, stamped on admin
            records (which do not carry it); ``"unknown"`` when not set.
        workspace_id: The ChatGPT workspace id, used when a compliance
            record names no principal, and for custom GPTs.
    """

    __slots__ = ("_organization_id", "_workspace_id")

    def __init__(
        self, *, organization_id: str | None, workspace_id: str | None
    ) -> None:
        self._organization_id = organization_id or _UNKNOWN_ORG
        self._workspace_id = workspace_id or None

    # -- Admin API ----------------------------------------------------------

    def admin_audit_log(self, raw: object) -> AIAuditLog | QuarantinedRecord:
        """One ``/v1/organization/audit_logs`` item as a log, or quarantined."""
        try:
            return self._admin(raw)
        except _RefusedError as refused:
            return _quarantine(
                STREAM_ADMIN,
                refused.reason,
                raw,
                native_id=refused.native_id,
                native_type=refused.native_type,
            )
        except Exception as exc:  # noqa: BLE001 - a sync must outlive a bug here
            return _quarantine(STREAM_ADMIN, f"{UNEXPECTED}{exc!r}", raw)

    def _admin(self, raw: object) -> AIAuditLog:
        record = _require_object(raw)
        try:
            wire: _AdminRecord = _STRUCTURE_ADMIN(record, _AdminRecord)
        except cattrs.BaseValidationError as exc:
            raise _RefusedError(
                f"malformed admin audit log record: {_describe(exc)}",
                native_id=_text(record.get("id")),
                native_type=_text(record.get("type")),
            ) from None
        try:
            return self._admin_log(record, wire)
        except _RefusedError as refused:
            refused.native_id, refused.native_type = wire.id or None, wire.type or None
            raise

    def _admin_log(self, record: dict[str, Any], wire: _AdminRecord) -> AIAuditLog:
        if not wire.id:
            raise _RefusedError("id is empty")
        if not wire.type:
            raise _RefusedError("type is empty")
        timestamp = _unix_time(wire.effective_at, "effective_at")
        row = _TABLE.admin.get(wire.type) or _admin_pass_through(wire.type)
        metadata: dict[str, Any] = {"resource_type": row.resource}
        user_id, user_email, ip_address, user_agent, location = _admin_actor(
            wire.actor, metadata
        )
        if wire.project is not None:
            metadata["project_id"] = wire.project.id
            metadata["project_name"] = wire.project.name
        payload = record.get(wire.type)
        if payload is not None:
            metadata["details"] = payload
            if isinstance(payload, dict) and isinstance(payload.get("id"), str):
                metadata["resource_id"] = payload["id"]
        return AIAuditLog(
            id=wire.id,
            platform=PLATFORM,
            timestamp=timestamp,
            user_id=user_id,
            user_email=user_email,
            organization_id=self._organization_id,
            activity_type=row.activity,
            action=row.action,
            metadata=metadata,
            ip_address=ip_address,
            user_agent=user_agent,
            location=location,
            risk_indicators=(
                _risk(row.action, _error_evidence(payload))
                if row.action in _TABLE.risks
                else ()
            ),
            native_type=wire.type,
            raw=record,
        )

    # -- Compliance Logs Platform --------------------------------------------

    def compliance_record(
        self, raw: object, *, log_id: str
    ) -> list[AIAuditLog] | QuarantinedRecord:
        """One JSONL record of export file *log_id* as logs, or quarantined.

        A conversation message can yield several logs (the message, the
        conversation's creation, one per attached file); the others one.
        """
        try:
            return self._compliance(raw, log_id)
        except _RefusedError as refused:
            return _quarantine(
                STREAM_COMPLIANCE,
                f"{refused.reason} (log file {log_id})",
                raw,
                native_id=refused.native_id,
                native_type=refused.native_type,
            )
        except Exception as exc:  # noqa: BLE001 - a sync must outlive a bug here
            return _quarantine(
                STREAM_COMPLIANCE, f"{UNEXPECTED}{exc!r} (log file {log_id})", raw
            )

    def _compliance(self, raw: object, log_id: str) -> list[AIAuditLog]:
        record = _require_object(raw)
        try:
            wire: _ComplianceRecord = _STRUCTURE_COMPLIANCE(record, _ComplianceRecord)
        except cattrs.BaseValidationError as exc:
            kind, event = _text(record.get("type")), _text(record.get("event_type"))
            raise _RefusedError(
                f"malformed compliance log record: {_describe(exc)}",
                native_id=_text(record.get("event_id")),
                native_type=f"{kind}:{event}" if kind and event else kind,
            ) from None
        native_type = (
            wire.type if wire.event_type is None else f"{wire.type}:{wire.event_type}"
        )
        try:
            return self._compliance_logs(record, wire, native_type, log_id)
        except _RefusedError as refused:
            refused.native_id = wire.event_id or None
            refused.native_type = native_type or None
            raise

    def _compliance_logs(
        self,
        record: dict[str, Any],
        wire: _ComplianceRecord,
        native_type: str,
        log_id: str,
    ) -> list[AIAuditLog]:
        if not wire.event_id:
            raise _RefusedError("event_id is empty")
        if not wire.type:
            raise _RefusedError("type is empty")
        timestamp = _iso_time(wire.timestamp, "timestamp")
        metadata: dict[str, Any] = {"log_id": log_id}
        user_id, user_email = _compliance_actor(wire.actor, metadata)
        principal = wire.principal.id if wire.principal is not None else None
        base = _Base(
            id=wire.event_id,
            timestamp=timestamp,
            user_id=user_id,
            user_email=user_email,
            organization_id=principal
            or wire.workspace_id
            or self._workspace_id
            or _UNKNOWN_ORG,
            native_type=native_type,
            raw=record,
        )
        if wire.type == _CONVERSATION_MESSAGE:
            return _conversation_logs(record, base, metadata)
        return [_event_log(wire, record, base, metadata)]

    # -- Custom GPTs ---------------------------------------------------------

    def custom_gpt(self, raw: object) -> list[AIAuditLog] | QuarantinedRecord:
        """A ``/gpts`` object as ``gpt.created`` (and ``gpt.updated``) logs.

        The listing is a snapshot, so events are derived with ids that stay
        the same on every read: ``gpt.created:<gpt id>``, and
        ``gpt.updated:<gpt id>:<config id>`` when the latest configuration is
        newer than the GPT (a new version gets a new event).
        """
        try:
            return self._gpt_logs(raw)
        except _RefusedError as refused:
            return _quarantine(
                STREAM_GPTS,
                refused.reason,
                raw,
                native_id=refused.native_id,
                native_type=_GPT_NATIVE_TYPE,
            )
        except Exception as exc:  # noqa: BLE001 - a sync must outlive a bug here
            return _quarantine(STREAM_GPTS, f"{UNEXPECTED}{exc!r}", raw)

    def automation(self, raw: object) -> AutomationEvent | QuarantinedRecord:
        """A ``/gpts`` object as an automation of type GPT, for inventory."""
        try:
            return self._automation(raw)
        except _RefusedError as refused:
            return _quarantine(
                STREAM_GPTS,
                refused.reason,
                raw,
                native_id=refused.native_id,
                native_type=_GPT_NATIVE_TYPE,
            )
        except Exception as exc:  # noqa: BLE001 - a sync must outlive a bug here
            return _quarantine(STREAM_GPTS, f"{UNEXPECTED}{exc!r}", raw)

    def _gpt_logs(self, raw: object) -> list[AIAuditLog]:
        gpt = _read_gpt(raw)
        record = gpt.record
        metadata = {
            "gpt_id": gpt.wire.id,
            "gpt_name": gpt.name,
            "sharing": gpt.visibility,
            "tools": list(gpt.tools),
        }
        if gpt.action_domains:
            metadata["action_domains"] = list(gpt.action_domains)
        organization_id = self._workspace_id or _UNKNOWN_ORG
        logs = [
            AIAuditLog(
                id=f"{_GPT_CREATED.action}:{gpt.wire.id}",
                platform=PLATFORM,
                timestamp=gpt.created_at,
                user_id=gpt.wire.owner_id,
                user_email=_text(gpt.wire.owner_email),
                organization_id=organization_id,
                activity_type=_GPT_CREATED.activity,
                action=_GPT_CREATED.action,
                metadata={**metadata, "actor_type": "user"},
                native_type=_GPT_NATIVE_TYPE,
                raw=record,
            )
        ]
        config = gpt.config
        if gpt.updated_at is not None and config is not None:
            author = config.version_author
            author_id = _text(author.id) if author is not None else None
            version = config.id or gpt.updated_at.isoformat()
            logs.append(
                AIAuditLog(
                    id=f"{_GPT_UPDATED.action}:{gpt.wire.id}:{version}",
                    platform=PLATFORM,
                    timestamp=gpt.updated_at,
                    user_id=author_id or gpt.wire.owner_id,
                    user_email=(
                        _text(author.email)
                        if author is not None and author_id
                        else _text(gpt.wire.owner_email)
                    ),
                    organization_id=organization_id,
                    activity_type=_GPT_UPDATED.activity,
                    action=_GPT_UPDATED.action,
                    metadata={**metadata, "actor_type": "user", "config_id": config.id},
                    native_type=_GPT_CONFIG_NATIVE_TYPE,
                    raw=record,
                )
            )
        return logs

    def _automation(self, raw: object) -> AutomationEvent:
        gpt = _read_gpt(raw)
        wire, config = gpt.wire, gpt.config
        metadata: dict[str, Any] = {
            "sharing": gpt.visibility,
            "shared_with": list(gpt.recipients),
            "config_id": config.id if config is not None else None,
            "knowledge_files": [
                name
                for item in _items(config.files if config is not None else None)
                if isinstance(item, dict) and (name := _text(item.get("name")))
            ],
        }
        if gpt.action_domains:
            metadata["action_domains"] = list(gpt.action_domains)
        if self._workspace_id is not None:
            metadata["workspace_id"] = self._workspace_id
        return AutomationEvent(
            id=wire.id,
            name=gpt.name or wire.id,
            type=AutomationType.GPT,
            platform=PLATFORM,
            # The listing returns live GPTs only; drafts never appear.
            status=AutomationStatus.ACTIVE,
            trigger="conversation",
            actions=gpt.tools,
            metadata=metadata,
            created_at=gpt.created_at,
            last_triggered=None,
            last_modified=gpt.updated_at or gpt.config_created_at,
            owner=AutomationOwner(
                id=wire.owner_id,
                name=_text(wire.builder_name)
                or _text(wire.owner_email)
                or wire.owner_id,
                email=_text(wire.owner_email),
            ),
            description=_text(config.description) if config is not None else None,
            permissions=gpt.permissions,
        )


# --------------------------------------------------------------------------
# Admin actors
# --------------------------------------------------------------------------

_ActorParts = tuple[str, str | None, str | None, str | None, GeoLocation | None]


def _admin_actor(actor: _AdminActor | None, metadata: dict[str, Any]) -> _ActorParts:
    """User id, email, IP, user agent and location by the actor's shape.

    A null actor is the platform itself (SCIM, expiry); a service account
    has no mailbox, so its email stays None rather than a made-up one.
    """
    if actor is None:
        metadata["actor_type"] = "system"
        return _SYSTEM_USER, None, None, None, None
    if actor.type == "session":
        session = actor.session
        if session is None:
            raise _RefusedError("actor.type is 'session' but actor.session is missing")
        _require_id(session.user.id, "actor.session.user.id")
        metadata["actor_type"] = "user"
        return (
            session.user.id,
            _text(session.user.email),
            _text(session.ip_address),
            _text(session.user_agent),
            _location(session.ip_address_details),
        )
    if actor.type == "api_key":
        return _api_key_actor(actor.api_key, metadata)
    raise _RefusedError(
        f"actor.type {_short(actor.type)} is neither 'session' nor 'api_key'"
    )


def _api_key_actor(key: _ApiKey | None, metadata: dict[str, Any]) -> _ActorParts:
    if key is None:
        raise _RefusedError("actor.type is 'api_key' but actor.api_key is missing")
    if key.id:
        metadata["api_key_id"] = key.id
    if key.type == "user":
        if key.user is None:
            raise _RefusedError(
                "actor.api_key.type is 'user' but actor.api_key.user is missing"
            )
        _require_id(key.user.id, "actor.api_key.user.id")
        metadata["actor_type"] = "user"
        return key.user.id, _text(key.user.email), None, None, None
    if key.type == "service_account":
        account = key.service_account
        if account is None:
            raise _RefusedError(
                "actor.api_key.type is 'service_account' but "
                "actor.api_key.service_account is missing"
            )
        _require_id(account.id, "actor.api_key.service_account.id")
        metadata["actor_type"] = "service_account"
        return account.id, None, None, None, None
    raise _RefusedError(
        f"actor.api_key.type {_short(key.type)} is neither 'user' nor 'service_account'"
    )


def _require_id(value: str, field: str) -> None:
    if not value:
        raise _RefusedError(f"{field} is empty")


# --------------------------------------------------------------------------
# Compliance records
# --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _Base:
    """What every log derived from one compliance record shares."""

    id: str
    timestamp: dt.datetime
    user_id: str
    user_email: str | None
    organization_id: str
    native_type: str
    raw: dict[str, Any]

    def log(
        self,
        row: _Mapping,
        metadata: dict[str, Any],
        *,
        suffix: str = "",
        action: str | None = None,
        ip_address: str | None = None,
        user_agent: str | None = None,
        evidence: tuple[str, ...] = (),
    ) -> AIAuditLog:
        action = action or row.action
        return AIAuditLog(
            id=self.id + suffix,
            platform=PLATFORM,
            timestamp=self.timestamp,
            user_id=self.user_id,
            user_email=self.user_email,
            organization_id=self.organization_id,
            activity_type=row.activity,
            action=action,
            metadata=metadata,
            ip_address=ip_address,
            user_agent=user_agent,
            risk_indicators=_risk(action, evidence),
            native_type=self.native_type,
            raw=self.raw,
        )


def _compliance_actor(
    actor: _ComplianceActor | None, metadata: dict[str, Any]
) -> tuple[str, str | None]:
    """User id and email; a record without an actor is the platform's own.

    Only ``ACCOUNT_USER`` is documented; another actor type that still names
    a user is kept, with its type in ``actor_type``, rather than refused.
    """
    if actor is None:
        metadata["actor_type"] = "system"
        return _SYSTEM_USER, None
    if not actor.user_id:
        raise _RefusedError(
            f"actor (type {_short(actor.type)}) names no user_id; cannot tell who acted"
        )
    kind = actor.type or "ACCOUNT_USER"
    metadata["actor_type"] = "user" if kind == "ACCOUNT_USER" else kind.lower()
    return actor.user_id, _text(actor.user_email)


def _event_log(
    wire: _ComplianceRecord,
    record: dict[str, Any],
    base: _Base,
    metadata: dict[str, Any],
) -> AIAuditLog:
    """AUTH_LOG, AUDIT_LOG and every other record type: one log."""
    events = _TABLE.events.get(wire.type)
    row = (
        events.get(wire.event_type)
        if events is not None and wire.event_type is not None
        else None
    )
    details = record.get("event_details")
    if details is not None:
        metadata["details"] = details
    if row is None:
        action = wire.type.lower()
        if wire.event_type:
            action = f"{action}.{wire.event_type.lower()}"
        row = _Mapping(
            action=action,
            activity=_TABLE.other_types.get(wire.type, _TABLE.pass_through_activity),
        )
    action = row.action
    if row.widened is not None and row.narrowed is not None:
        action = _sharing_action(row, details)
    ip_address = user_agent = None
    if isinstance(details, dict):
        ip_address = _text(details.get("ip_address"))
        user_agent = _text(details.get("user_agent"))
    return base.log(
        row,
        metadata,
        action=action,
        ip_address=ip_address,
        user_agent=user_agent,
        evidence=_error_evidence(details),
    )


def _sharing_action(row: _Mapping, details: object) -> str:
    """``share.created`` when sharing widened, ``share.revoked`` when narrowed."""
    if not isinstance(details, dict):
        return row.action
    ranks = _TABLE.visibility
    old = ranks.get(_text(details.get("old_visibility")) or "")
    new = ranks.get(_text(details.get("new_visibility")) or "")
    if old is None or new is None or old == new:
        return row.action
    return (row.widened if new > old else row.narrowed) or row.action


def _conversation_logs(
    record: dict[str, Any], base: _Base, metadata: dict[str, Any]
) -> list[AIAuditLog]:
    """A message as its logs: prompt (+ creation, + files) or response."""
    try:
        body: _ConversationMessage = _STRUCTURE_MESSAGE(record, _ConversationMessage)
    except cattrs.BaseValidationError as exc:
        raise _RefusedError(
            f"malformed conversation message: {_describe(exc)}"
        ) from None
    message, conversation = body.message, body.conversation
    role = message.author.role or message.author.type
    if not role:
        raise _RefusedError(
            "message.author has neither role nor type; "
            "cannot tell a prompt from a response"
        )
    metadata["conversation_id"] = conversation.id
    metadata["conversation_title"] = conversation.title
    metadata["message_id"] = message.id
    for key in ("gpt_id", "gpt_name", "project_id", "project_name"):
        value = getattr(conversation, key)
        if value is not None:
            metadata[key] = value
    if message.author.client_type is not None:
        metadata["client_type"] = message.author.client_type
    logs = []
    # Only an explicit null parent marks the first message; a missing key
    # says nothing.
    raw_message = record["message"]
    if "parent_id" in raw_message and raw_message["parent_id"] is None:
        logs.append(base.log(_MSG_FIRST, dict(metadata), suffix=":created"))
    files = _file_references(message.files or (), base.timestamp)
    if role == "user":
        logs.extend(_prompt_logs(base, metadata, files))
    else:
        logs.append(_response_log(base, metadata, message.author, role, files))
    return logs


def _prompt_logs(
    base: _Base, metadata: dict[str, Any], files: list[dict[str, Any]]
) -> list[AIAuditLog]:
    """The user's message, then one ``file.uploaded`` per attached file."""
    if files:
        metadata["files"] = files
    logs = [base.log(_MSG_USER, metadata)]
    for reference in files:
        file_metadata = {
            **metadata,
            "file_id": reference["file_id"],
            "file_name": reference["file_name"],
            "files": [reference],
        }
        logs.append(
            base.log(
                _MSG_FILE,
                file_metadata,
                suffix=f":file:{reference['file_id']}",
                evidence=(reference["file_name"],),
            )
        )
    return logs


def _response_log(
    base: _Base,
    metadata: dict[str, Any],
    author: _Author,
    role: str,
    files: list[dict[str, Any]],
) -> AIAuditLog:
    """Anything not from the user (assistant, tool, system): model output.

    Files on a response were produced by the model, not uploaded, so they
    are listed without ``file.uploaded`` events or risk indicators.
    """
    metadata["author_role"] = role
    if author.model is not None:
        metadata["model"] = author.model
    if author.tool_name is not None:
        metadata["tool_name"] = author.tool_name
    if files:
        metadata["files"] = files
    return base.log(_MSG_RESPONSE, metadata)


def _file_references(
    files: Iterable[_File], fallback: dt.datetime
) -> list[dict[str, Any]]:
    """Attached files as FileReference-shaped dicts, one per distinct id."""
    references: dict[str, dict[str, Any]] = {}
    for file in files:
        if not file.id or file.id in references:
            continue
        name = file.name or file.id
        uploaded = _file_time(file.created_at) or fallback
        references[file.id] = {
            "file_id": file.id,
            "file_name": name,
            "file_type": _file_type(name),
            "file_size": None,
            "uploaded_at": uploaded.isoformat().replace("+00:00", "Z"),
            "is_sensitive": None,
        }
    return list(references.values())


def _file_time(value: object) -> dt.datetime | None:
    # Seconds in the published records, null once the file has expired.
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _unix_time(value, "created_at")
        if isinstance(value, str):
            return _iso_time(value, "created_at")
    except _RefusedError:
        return None
    return None


# --------------------------------------------------------------------------
# Custom GPTs
# --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _GptView:
    """A GPT object, checked, with what both views of it need."""

    record: dict[str, Any]
    wire: _Gpt
    config: _GptConfig | None
    name: str | None
    created_at: dt.datetime
    config_created_at: dt.datetime | None
    updated_at: dt.datetime | None  # the latest config, when newer
    visibility: str | None
    recipients: tuple[str, ...]
    permissions: tuple[str, ...]
    tools: tuple[str, ...]
    action_domains: tuple[str, ...]


def _read_gpt(raw: object) -> _GptView:
    record = _require_object(raw)
    native_id = _text(record.get("id"))
    try:
        wire: _Gpt = _STRUCTURE_GPT(record, _Gpt)
    except cattrs.BaseValidationError as exc:
        raise _RefusedError(
            f"malformed custom GPT: {_describe(exc)}", native_id=native_id
        ) from None
    configs = _items(wire.latest_config)
    if configs and not isinstance(configs[0], dict):
        raise _RefusedError(
            f"latest_config[0]: expected an object, {_got(configs[0])}",
            native_id=native_id,
        )
    try:
        config = _STRUCTURE_GPT_CONFIG(configs[0], _GptConfig) if configs else None
    except cattrs.BaseValidationError as exc:
        raise _RefusedError(
            f"malformed custom GPT: {_describe(exc, 'latest_config[0]')}",
            native_id=native_id,
        ) from None
    try:
        return _gpt_view(record, wire, config)
    except _RefusedError as refused:
        refused.native_id = native_id
        raise


def _gpt_view(
    record: dict[str, Any], wire: _Gpt, config: _GptConfig | None
) -> _GptView:
    if not wire.id:
        raise _RefusedError("id is empty")
    if not wire.owner_id:
        raise _RefusedError("owner_id is empty")
    created_at = _unix_time(wire.created_at, "created_at")
    config_created_at = None
    if config is not None and config.created_at is not None:
        config_created_at = _unix_time(config.created_at, "latest_config[0].created_at")
    sharing = wire.sharing if isinstance(wire.sharing, dict) else {}
    permissions = sharing.get("permissions")
    tools: list[str] = []
    domains: list[str] = []
    for tool in _items(config.tools if config is not None else None):
        if not isinstance(tool, dict):
            continue
        if (kind := _text(tool.get("type"))) and kind not in tools:
            tools.append(kind)
        if (domain := _text(tool.get("action_domain"))) and domain not in domains:
            domains.append(domain)
    return _GptView(
        record=record,
        wire=wire,
        config=config,
        name=_text(config.name) if config is not None else None,
        created_at=created_at,
        config_created_at=config_created_at,
        updated_at=(
            config_created_at
            if config_created_at is not None and config_created_at > created_at
            else None
        ),
        visibility=_text(sharing.get("visibility")),
        recipients=tuple(
            email
            for person in sharing.get("recipients") or ()
            if isinstance(person, dict) and (email := _text(person.get("email")))
        )
        if isinstance(sharing.get("recipients"), list)
        else (),
        permissions=tuple(
            name
            for name in ("can_read", "can_view_config", "can_write")
            if isinstance(permissions, dict) and permissions.get(name) is True
        ),
        tools=tuple(tools),
        action_domains=tuple(domains),
    )
