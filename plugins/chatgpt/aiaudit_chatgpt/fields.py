"""Reading single fields of a native record, and refusing the record over one.

Every normalizer reads the same kinds of field (times in two notations,
optional text, nested lists) and refuses a record the same way: by raising
:class:`~connector_core.exceptions.RecordRefusedError`, which the
:class:`~aiaudit_chatgpt.normalize.Normalizer` turns into a quarantine entry
(as the core's :func:`~connector_core.streams.normalize_or_quarantine` does)
with a reason a person can act on. Keeping these readers in one place keeps
those reasons worded alike whatever feed the record came from.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from connector_core import metadata_keys as keys
from connector_core.exceptions import RecordRefusedError
from connector_core.wire import got
from connector_core.wire import short_repr as short


if TYPE_CHECKING:
    from collections.abc import Mapping


__all__ = [
    "MAX_UNIX_SECONDS",
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
MAX_UNIX_SECONDS: Final = 10**11
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
    if value > MAX_UNIX_SECONDS:
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


# Where each neutral key is found, by place and field, with its precedence
# (lower wins): the payload itself, then its ``data`` (on creation), then its
# ``changes_requested`` (on update), then, for a project or a user event,
# the record's own project name or resource id. No two places give a key
# the same rank, so "the candidate of lowest rank" is one answer, whatever
# order a payload's fields come in.
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
# A project's own name comes after every payload place; a user event's
# resource id names its target before any payload field does.
_RESOURCE_FIELDS: Final[Mapping[str, tuple[str, str, int]]] = {
    "project": (keys.PROJECT_NAME, keys.RESOURCE_NAME, 6),
    "user": (keys.RESOURCE_ID, keys.TARGET_USER_ID, 0),
}
_KEY_ORDER: Final = (  # one order in metadata, whatever order the payload has
    keys.RESOURCE_NAME,
    keys.GROUP_ID,
    keys.GROUP_NAME,
    keys.TARGET_USER_ID,
    keys.TARGET_USER_EMAIL,
    keys.ERROR_CODE,
    keys.ERROR_MESSAGE,
)
_PAYLOAD, _DATA, _CHANGES, _METADATA = range(4)  # the places, as indexes


class _Plan(NamedTuple):
    """How to fill the neutral keys from payloads of one shape.

    ``steps`` holds, in :data:`_KEY_ORDER`, each key some place of the
    shape may give, with its candidates (place, field) by precedence: the
    first usable one is the value. ``data``, ``changes`` and ``is_mfa`` say
    whether the payload has those fields.
    """

    steps: tuple[tuple[str, tuple[tuple[int, str], ...]], ...]
    data: bool
    changes: bool
    is_mfa: bool


def _make_plan(fields: tuple[Any, ...], resource: str | None) -> _Plan:
    present = frozenset(fields)
    has_data, has_changes = "data" in present, "changes_requested" in present
    candidates: dict[str, list[tuple[int, int, str]]] = {}
    for place, table, there in (
        (_PAYLOAD, _PAYLOAD_FIELDS, True),
        (_DATA, _DATA_FIELDS, has_data),
        (_CHANGES, _CHANGES_FIELDS, has_changes),
    ):
        for field, (key, rank) in table.items():
            if there and (place != _PAYLOAD or field in present):
                candidates.setdefault(key, []).append((rank, place, field))
    if resource is not None:
        field, key, rank = _RESOURCE_FIELDS[resource]
        candidates.setdefault(key, []).append((rank, _METADATA, field))
    steps = tuple(
        (key, tuple((place, field) for _, place, field in sorted(candidates[key])))
        for key in _KEY_ORDER
        if key in candidates
    )
    return _Plan(steps, has_data, has_changes, "is_mfa" in present)


# Payloads come in a few shapes per event type: plans are made once per
# shape. Odd records can bring new shapes without end, hence the bound.
_PLAN_CACHE_SIZE: Final = 1024
_plans: dict[tuple[Any, ...], _Plan] = {}
_RESOURCE_CACHE_SIZE: Final = 1024
_resources: dict[str, str] = {}
_NOTHING: Final[Mapping[str, Any]] = {}


def _resource_of(action: str) -> str:
    """The resource an action acts on: ``tenant.project.user.added`` is a
    ``project_user``."""
    found = _resources.get(action)
    if found is None:
        segments = action.removeprefix("tenant.").split(".")
        found = "_".join(segments[:-1]) or segments[0]
        if len(_resources) >= _RESOURCE_CACHE_SIZE:
            _resources.clear()
        _resources[action] = found
    return found


def _new_plan(shape: tuple[Any, ...]) -> _Plan:
    if len(_plans) >= _PLAN_CACHE_SIZE:
        _plans.clear()
    plan = _plans[shape] = _make_plan(shape[1:], shape[0])
    return plan


def _fill_from_record(metadata: dict[str, Any], resource: str) -> None:
    field, key, _ = _RESOURCE_FIELDS[resource]
    value = metadata.get(field)
    if isinstance(value, str) and value:
        metadata[key] = value


def fill_neutral_keys(metadata: dict[str, Any], details: object, action: str) -> None:
    """Set the core's neutral metadata keys from an event payload's fields.

    Admin payloads and compliance ``event_details`` name things in a few
    places (the payload itself, its ``data`` on creation, its
    ``changes_requested`` on update); the exports read only the neutral keys
    (:mod:`connector_core.metadata_keys`), so this is where those places
    are known. *metadata* already holds ``resource_type``/``resource_id``
    and the project, when the record has them; a key stays unset when no
    place holds a usable value (a non-empty string; ``is_mfa`` a boolean).
    Runs for every event of a sync, so the places a payload's shape offers
    are worked out once per shape (:class:`_Plan`).
    """
    resource = metadata.get(keys.RESOURCE_TYPE)
    if not isinstance(resource, str) or not resource:
        resource = _resource_of(action)
    resource = resource if resource in _RESOURCE_FIELDS else None
    if not isinstance(details, dict) or not details:
        # Most events (sign-ins above all) have an empty payload.
        if resource is not None:
            _fill_from_record(metadata, resource)
        return
    shape = (resource, *details)
    steps, has_data, has_changes, has_mfa = _plans.get(shape) or _new_plan(shape)
    if steps:
        data = details["data"] if has_data else None
        changes = details["changes_requested"] if has_changes else None
        places = (
            details,
            data if isinstance(data, dict) else _NOTHING,
            changes if isinstance(changes, dict) else _NOTHING,
            metadata,
        )
        for key, candidates in steps:
            for place, field in candidates:
                value = places[place].get(field)
                if isinstance(value, str) and value:
                    metadata[key] = value
                    break
    if has_mfa:
        is_mfa = details["is_mfa"]
        if isinstance(is_mfa, bool):
            metadata[keys.IS_MFA] = is_mfa


def assistant_keys(gpt_id: str, gpt_name: str | None) -> dict[str, str]:
    """A custom GPT in the core's neutral assistant keys."""
    found = {keys.ASSISTANT_ID: gpt_id, keys.ASSISTANT_TYPE: "gpt"}
    if gpt_name is not None:
        found[keys.ASSISTANT_NAME] = gpt_name
    return found
