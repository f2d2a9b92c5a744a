"""The Admin API's audit log events, as unified logs.

An ``/v1/organization/audit_logs`` item is one JSON object per event, with
an actor of one of three shapes (a signed-in session, a user's API key, a
service account's API key; none for the platform itself) and a payload
under a key named like the event. The actor decides who acted and from
where; the payload is kept verbatim as the log's details.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Final

import cattrs

from aiaudit_chatgpt.event_map import (
    PLATFORM,
    TABLE,
    Row,
    is_tenant_scoped,
    risk_indicators,
)
from aiaudit_chatgpt.fields import (
    MAX_UNIX_SECONDS,
    SYSTEM_USER,
    error_evidence,
    fill_neutral_keys,
    require_object,
    short,
    text,
    unix_time,
)
from aiaudit_chatgpt.wire import (
    READ_ADMIN,
    AdminActor,
    AdminRecord,
    ApiKey,
)
from connector_core import metadata_keys as keys
from connector_core.exceptions import RecordRefusedError
from connector_core.models import AIAuditLog, Coordinates, GeoLocation
from connector_core.wire import describe_structure_error


__all__ = ["admin_log"]

_ADMIN_ROWS: Final = TABLE.admin
_RISKY: Final = TABLE.risks


def admin_log(raw: object, organization_id: str) -> AIAuditLog:
    """One audit log item as a log; raises :class:`RecordRefusedError` if it
    cannot be."""
    record = require_object(raw)
    usual = _usual_admin_log(record, organization_id)
    if usual is not None:
        return usual
    try:
        wire: AdminRecord = READ_ADMIN(record)
    except cattrs.BaseValidationError as exc:
        raise RecordRefusedError(
            f"malformed admin audit log record: {describe_structure_error(exc)}",
            native_id=text(record.get("id")),
            native_type=text(record.get("type")),
        ) from None
    try:
        return _admin_log_from(record, wire, organization_id)
    except RecordRefusedError as refused:
        refused.native_id, refused.native_type = wire.id or None, wire.type or None
        raise


def _admin_log_from(
    record: dict[str, Any], wire: AdminRecord, organization_id: str
) -> AIAuditLog:
    if not wire.id:
        raise RecordRefusedError("id is empty")
    if not wire.type:
        raise RecordRefusedError("type is empty")
    timestamp = unix_time(wire.effective_at, "effective_at")
    row = _ADMIN_ROWS.get(wire.type) or _admin_pass_through(wire.type)
    metadata: dict[str, Any] = {"resource_type": row.resource}
    # What original_time() makes of the integer just read (the converter
    # takes no other type), without asking the record again.
    when = str(wire.effective_at)
    if when:
        metadata[keys.ORIGINAL_TIME] = when
    actor = _admin_actor(wire.actor, metadata)
    project = wire.project
    if project is not None:
        metadata["project_id"] = project.id
        metadata["project_name"] = project.name
    return _finish(
        record,
        log_id=wire.id,
        native_type=wire.type,
        timestamp=timestamp,
        row=row,
        metadata=metadata,
        actor=actor,
        organization_id=organization_id,
    )


def _finish(
    record: dict[str, Any],
    *,
    log_id: str,
    native_type: str,
    timestamp: dt.datetime,
    row: Row,
    metadata: dict[str, Any],
    actor: _ActorParts,
    organization_id: str,
) -> AIAuditLog:
    """The log, from what either path read of the record's envelope."""
    payload = record.get(native_type)
    if payload is not None:
        metadata["details"] = payload
        if isinstance(payload, dict) and isinstance(payload.get("id"), str):
            metadata["resource_id"] = payload["id"]
    fill_neutral_keys(metadata, payload, row.action)
    user_id, user_email, ip_address, user_agent, location = actor
    return AIAuditLog(
        id=log_id,
        platform=PLATFORM,
        timestamp=timestamp,
        user_id=user_id,
        user_email=user_email,
        organization_id=organization_id,
        activity_type=row.activity,
        action=row.action,
        metadata=metadata,
        ip_address=ip_address,
        user_agent=user_agent,
        location=location,
        risk_indicators=(
            risk_indicators(row.action, error_evidence(payload))
            if row.action in _RISKY
            else ()
        ),
        native_type=native_type,
        raw=record,
    )


# --------------------------------------------------------------------------
# The usual record, read without the wire classes
# --------------------------------------------------------------------------
#
# Nearly every record has the documented shape. For one of exactly that
# shape (exact dicts, strings, an integer time in range, an actor of one of
# the three kinds with its ids), the envelope is read from the dict itself:
# the same values the wire classes would hold, without building five of
# them per event. Anything else, including everything the wire converter
# or the checks above would refuse, returns None and takes the path above,
# which alone refuses and says why.


def _usual_admin_log(record: dict[str, Any], organization_id: str) -> AIAuditLog | None:
    get = record.get
    log_id, native_type, when = get("id"), get("type"), get("effective_at")
    if (
        log_id.__class__ is not str
        or not log_id
        or native_type.__class__ is not str
        or not native_type
        or when.__class__ is not int
        or not 0 <= when <= MAX_UNIX_SECONDS
    ):
        return None
    project = get("project")
    if project is not None and not _is_project(project):
        return None
    row = _ADMIN_ROWS.get(native_type) or _admin_pass_through(native_type)
    metadata: dict[str, Any] = {
        "resource_type": row.resource,
        keys.ORIGINAL_TIME: str(when),
    }
    actor = _usual_actor(get("actor"), metadata)
    if actor is None:
        return None
    if project is not None:
        metadata["project_id"] = project["id"]
        metadata["project_name"] = project.get("name")
    timestamp = dt.datetime.fromtimestamp(when, dt.UTC)
    return _finish(
        record,
        log_id=log_id,
        native_type=native_type,
        timestamp=timestamp,
        row=row,
        metadata=metadata,
        actor=actor,
        organization_id=organization_id,
    )


def _usual_actor(actor: Any, metadata: dict[str, Any]) -> _ActorParts | None:
    """What :func:`_admin_actor` makes of a usual actor; None for any other
    (then *metadata* is left for the path above to fill again)."""
    if actor is None:
        metadata["actor_type"] = "system"
        return SYSTEM_USER, None, None, None, None
    if actor.__class__ is not dict:
        return None
    kind, session, key = actor.get("type"), actor.get("session"), actor.get("api_key")
    if (
        kind.__class__ is not str
        or (session is not None and not _is_session(session))
        or (key is not None and not _is_api_key(key))
    ):
        return None
    if kind == "session" and session is not None and session["user"]["id"]:
        user = session["user"]
        metadata["actor_type"] = "user"
        return (
            user["id"],
            user.get("email") or None,
            session.get("ip_address") or None,
            session.get("user_agent") or None,
            _location(session.get("ip_address_details")),
        )
    if kind == "api_key" and key is not None:
        return _usual_key_actor(key, metadata)
    return None


def _usual_key_actor(
    key: dict[str, Any], metadata: dict[str, Any]
) -> _ActorParts | None:
    """What :func:`_api_key_actor` makes of a usual key (checked whole by
    :func:`_is_api_key`); None for any other."""
    key_id = key.get("id")
    if key["type"] == "user":
        user = key.get("user")
        if user is None or not user["id"]:
            return None
        if key_id:
            metadata["api_key_id"] = key_id
        metadata["actor_type"] = "user"
        return user["id"], user.get("email") or None, None, None, None
    account = key.get("service_account")
    if key["type"] != "service_account" or account is None or not account["id"]:
        return None
    if key_id:
        metadata["api_key_id"] = key_id
    metadata["actor_type"] = "service_account"
    return account["id"], None, None, None, None


def _text_or_none(value: object) -> bool:
    return value is None or value.__class__ is str


def _is_user(user: Any) -> bool:
    return (
        user.__class__ is dict
        and user.get("id").__class__ is str
        and _text_or_none(user.get("email"))
    )


def _is_session(session: Any) -> bool:
    return (
        session.__class__ is dict
        and _is_user(session.get("user"))
        and _text_or_none(session.get("ip_address"))
        and _text_or_none(session.get("user_agent"))
    )


def _is_api_key(key: Any) -> bool:
    if key.__class__ is not dict:
        return False
    get = key.get
    user, account = get("user"), get("service_account")
    return (
        get("type").__class__ is str
        and _text_or_none(get("id"))
        and (user is None or _is_user(user))
        and (
            account is None
            or (account.__class__ is dict and account.get("id").__class__ is str)
        )
    )


def _is_project(project: Any) -> bool:
    return (
        project.__class__ is dict
        and project.get("id").__class__ is str
        and _text_or_none(project.get("name"))
    )


def _admin_pass_through(native_type: str) -> Row:
    parts = native_type.split(".")
    if parts[0] == "tenant" and len(parts) > 1:
        parts = parts[1:]
    resource = "_".join(parts[:-1]) or parts[0]
    return Row(
        action=native_type,
        activity=TABLE.pass_through_activity,
        resource=resource,
        tenant=is_tenant_scoped(native_type),
    )


# --------------------------------------------------------------------------
# Admin actors
# --------------------------------------------------------------------------

_ActorParts = tuple[str, str | None, str | None, str | None, GeoLocation | None]


def _admin_actor(actor: AdminActor | None, metadata: dict[str, Any]) -> _ActorParts:
    """User id, email, IP, user agent and location by the actor's shape.

    A null actor is the platform itself (SCIM, expiry); a service account
    has no mailbox, so its email stays None rather than a made-up one.
    """
    if actor is None:
        metadata["actor_type"] = "system"
        return SYSTEM_USER, None, None, None, None
    if actor.type == "session":
        session = actor.session
        if session is None:
            raise RecordRefusedError(
                "actor.type is 'session' but actor.session is missing"
            )
        _require_id(session.user.id, "actor.session.user.id")
        metadata["actor_type"] = "user"
        # Read as ``str | None``, so ``or None`` is what text() would make of
        # them, without a call each.
        return (
            session.user.id,
            session.user.email or None,
            session.ip_address or None,
            session.user_agent or None,
            _location(session.ip_address_details),
        )
    if actor.type == "api_key":
        return _api_key_actor(actor.api_key, metadata)
    raise RecordRefusedError(
        f"actor.type {short(actor.type)} is neither 'session' nor 'api_key'"
    )


def _api_key_actor(key: ApiKey | None, metadata: dict[str, Any]) -> _ActorParts:
    if key is None:
        raise RecordRefusedError("actor.type is 'api_key' but actor.api_key is missing")
    if key.id:
        metadata["api_key_id"] = key.id
    if key.type == "user":
        if key.user is None:
            raise RecordRefusedError(
                "actor.api_key.type is 'user' but actor.api_key.user is missing"
            )
        _require_id(key.user.id, "actor.api_key.user.id")
        metadata["actor_type"] = "user"
        return key.user.id, key.user.email or None, None, None, None
    if key.type == "service_account":
        account = key.service_account
        if account is None:
            raise RecordRefusedError(
                "actor.api_key.type is 'service_account' but "
                "actor.api_key.service_account is missing"
            )
        _require_id(account.id, "actor.api_key.service_account.id")
        metadata["actor_type"] = "service_account"
        return account.id, None, None, None, None
    raise RecordRefusedError(
        f"actor.api_key.type {short(key.type)} is neither 'user' nor 'service_account'"
    )


def _require_id(value: str, field: str) -> None:
    if not value:
        raise RecordRefusedError(f"{field} is empty")


# --------------------------------------------------------------------------
# Where a session came from
# --------------------------------------------------------------------------


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
        country=text(country),
        region=text(region),
        city=text(city),
        coordinates=coordinates,
    )
    return None if found == _NOWHERE else found


_NOWHERE: Final = GeoLocation()
