"""Reading single fields of a native record, and refusing the record over one.

Every normalizer reads the same kinds of field (times in two notations,
optional text, nested lists) and refuses a record the same way: by raising
:class:`~connector_core.exceptions.RecordRefusedError`, which the
:class:`~aiaudit_chatgpt.normalize.Normalizer` turns into a quarantine entry
(with the core's :func:`~connector_core.streams.normalize_or_quarantine`)
with a reason a person can act on. Keeping these readers in one place keeps
those reasons worded alike whatever feed the record came from.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any, Final

from connector_core import metadata_keys as keys
from connector_core.exceptions import RecordRefusedError
from connector_core.wire import got
from connector_core.wire import short_repr as short


if TYPE_CHECKING:
    from collections.abc import Mapping


__all__ = [
    "SYSTEM_USER",
    "UNKNOWN_ORG",
    "assistant_keys",
    "error_evidence",
    "fill_neutral_keys",
    "got",
    "iso_time",
    "items",
    "original_time",
    "require_object",
    "short",
    "text",
    "unix_time",
]

# Above 10**11 a Unix time in seconds is past the year 5000; a millisecond
# time of today (1.7e12) is far above it, a second time (1.7e9) far below.
_MAX_UNIX_SECONDS: Final = 10**11
_MAX_UNIX_MILLISECONDS: Final = 10**14
UNKNOWN_ORG: Final = "unknown"
SYSTEM_USER: Final = "system"


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


def require_object(raw: object) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise RecordRefusedError(f"record is {_kind(raw)}, not a JSON object")
    return raw


def text(value: object) -> str | None:
    """A non-empty string, or None: for optional, informational fields."""
    return value if isinstance(value, str) and value else None


def unix_time(value: float, field: str) -> dt.datetime:
    """A Unix time in seconds as aware UTC, refusing other units and junk."""
    # Only floats can be inf or NaN, and math.isfinite overflows on huge ints.
    if not isinstance(value, int) and not math.isfinite(value):
        raise RecordRefusedError(f"{field} is {value!r}; expected Unix seconds")
    if value < 0:
        raise RecordRefusedError(
            f"{field} is negative ({short(value)}); expected Unix seconds"
        )
    if value > _MAX_UNIX_SECONDS:
        shown = short(
            int(value) if isinstance(value, int) or value.is_integer() else value
        )
        if value <= _MAX_UNIX_MILLISECONDS:
            raise RecordRefusedError(
                f"{field} looks like milliseconds ({shown}); expected Unix seconds"
            )
        raise RecordRefusedError(
            f"{field} ({shown}) is far beyond any Unix time in seconds"
        )
    return dt.datetime.fromtimestamp(value, dt.UTC)


def iso_time(value: str, field: str) -> dt.datetime:
    """An ISO 8601 time with an offset (``Z`` or ``+hh:mm``) as aware UTC."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise RecordRefusedError(
            f"{field} {short(value)} is not an ISO 8601 time"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RecordRefusedError(
            f"{field} {short(value)} has no UTC offset; the time zone is unknowable"
        )
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise RecordRefusedError(
            f"{field} {short(value)} is out of range in UTC"
        ) from None


def items(value: object) -> list[Any]:
    """The items of a nested list: a ``GenericList`` object or a bare array."""
    if isinstance(value, dict):
        value = value.get("data")
    return value if isinstance(value, list) else []


def error_evidence(details: object) -> tuple[str, ...]:
    if not isinstance(details, dict):
        return ()
    return tuple(
        f"{key}: {details[key]}"
        for key in ("error_code", "error_message", "failure_reason")
        if isinstance(details.get(key), str)
    )


def original_time(value: object) -> str | None:
    """A record's time exactly as written, for ``metadata.original_time``.

    Unix seconds stay in their digits (``"1735723800"``) and ISO strings as
    they are: this is evidence beside the parsed timestamp, not a second
    reading of it.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value) or None


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# Where each neutral key is found, by place and field, with its precedence
# (lower wins): the payload itself, then its ``data`` (on creation), then its
# ``changes_requested`` (on update). Read as one pass over the fields a
# payload holds, rather than a lookup of every candidate: a sync normalizes
# every event, and most payloads hold a handful of fields.
_PAYLOAD_FIELDS: Final[Mapping[str, tuple[str, int]]] = {
    "name": (keys.RESOURCE_NAME, 0),
    "role_name": (keys.RESOURCE_NAME, 1),
    "group_id": (keys.GROUP_ID, 0),
    "group_name": (keys.GROUP_NAME, 0),
    "user_id": (keys.TARGET_USER_ID, 1),
    "target_user_id": (keys.TARGET_USER_ID, 2),
    "target_user_email": (keys.TARGET_USER_EMAIL, 0),
    "user_email": (keys.TARGET_USER_EMAIL, 1),
    "email": (keys.TARGET_USER_EMAIL, 2),
    "error_code": (keys.ERROR_CODE, 0),
    "error_message": (keys.ERROR_MESSAGE, 0),
    "failure_reason": (keys.ERROR_MESSAGE, 1),
}
_DATA_FIELDS: Final[Mapping[str, tuple[str, int]]] = {
    "name": (keys.RESOURCE_NAME, 2),
    "title": (keys.RESOURCE_NAME, 3),
    "group_name": (keys.GROUP_NAME, 1),
    "email": (keys.TARGET_USER_EMAIL, 3),
}
_CHANGES_FIELDS: Final[Mapping[str, tuple[str, int]]] = {
    "name": (keys.RESOURCE_NAME, 4),
    "title": (keys.RESOURCE_NAME, 5),
    "group_name": (keys.GROUP_NAME, 2),
}
_KEY_ORDER: Final = (
    keys.RESOURCE_NAME,
    keys.GROUP_ID,
    keys.GROUP_NAME,
    keys.TARGET_USER_ID,
    keys.TARGET_USER_EMAIL,
    keys.ERROR_CODE,
    keys.ERROR_MESSAGE,
)
_PROJECT_NAME_RANK: Final = 6  # a project's own name, after every payload place
_RESOURCE_ID_RANK: Final = 0  # a user event's resource id names its target


def _offer(
    found: dict[str, tuple[int, str]],
    fields: Mapping[str, tuple[str, int]],
    place: Mapping[str, Any],
) -> None:
    for field, value in place.items():
        hit = fields.get(field)
        if hit is None or not isinstance(value, str) or not value:
            continue
        key, rank = hit
        held = found.get(key)
        if held is None or rank < held[0]:
            found[key] = (rank, value)


def fill_neutral_keys(metadata: dict[str, Any], details: object, action: str) -> None:
    """Set the core's neutral metadata keys from an event payload's fields.

    Admin payloads and compliance ``event_details`` name things in a few
    places (the payload itself, its ``data`` on creation, its
    ``changes_requested`` on update); the exports read only the neutral keys
    (:mod:`connector_core.metadata_keys`), so this is where those places
    are known. *metadata* already holds ``resource_type``/``resource_id``
    and the project, when the record has them; a key stays unset when no
    place holds a usable value.
    """
    payload = _object(details)
    found: dict[str, tuple[int, str]] = {}
    if payload:
        _offer(found, _PAYLOAD_FIELDS, payload)
        data = payload.get("data")
        if isinstance(data, dict):
            _offer(found, _DATA_FIELDS, data)
        changes = payload.get("changes_requested")
        if isinstance(changes, dict):
            _offer(found, _CHANGES_FIELDS, changes)
    resource = text(metadata.get(keys.RESOURCE_TYPE))
    if resource is None:
        segments = action.removeprefix("tenant.").split(".")
        resource = "_".join(segments[:-1]) or segments[0]
    if resource == "project":
        _offer(
            found,
            {keys.PROJECT_NAME: (keys.RESOURCE_NAME, _PROJECT_NAME_RANK)},
            metadata,
        )
    elif resource == "user":
        _offer(
            found,
            {keys.RESOURCE_ID: (keys.TARGET_USER_ID, _RESOURCE_ID_RANK)},
            metadata,
        )
    for key in _KEY_ORDER:  # one order, whatever order the payload has
        if key in found:
            metadata[key] = found[key][1]
    is_mfa = payload.get("is_mfa")
    if isinstance(is_mfa, bool):
        metadata[keys.IS_MFA] = is_mfa


def assistant_keys(gpt_id: str, gpt_name: str | None) -> dict[str, str]:
    """A custom GPT in the core's neutral assistant keys."""
    found = {keys.ASSISTANT_ID: gpt_id, keys.ASSISTANT_TYPE: "gpt"}
    if gpt_name is not None:
        found[keys.ASSISTANT_NAME] = gpt_name
    return found
