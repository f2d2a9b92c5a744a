"""The Admin API's audit log events, as unified logs.

An ``/v1/organization/audit_logs`` item is one JSON object per event, with
an actor of one of three shapes (a signed-in session, a user's API key, a
service account's API key; none for the platform itself) and a payload
under a key named like the event. The actor decides who acted and from
where; the payload is kept verbatim as the log's details.
"""

from __future__ import annotations

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
    fill_neutral_keys(metadata, payload, row.action)
    return AIAuditLog(
        id=wire.id,
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
        native_type=wire.type,
        raw=record,
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
