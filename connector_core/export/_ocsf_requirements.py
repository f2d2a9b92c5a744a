"""A light check of OCSF events against the schema's requirements, as data.

:func:`validate_ocsf` needs no tool and no copy of the schema: the caller
passes the requirements (the classes and objects with their required
attributes, activities and constraints), so the check follows whatever
schema version the caller holds. It checks presence and identifiers, not
types or patterns; the complete check against the schema itself is
:mod:`connector_core.testing.ocsf`.

Part of :mod:`connector_core.export.ocsf`, which re-exports it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, TypeGuard


__all__ = ["validate_ocsf"]

_OTHER: Final = 99

# Which object each attribute name holds. The requirements data lists objects
# by object name, while events name attributes (src_endpoint is an endpoint).
_OBJECT_OF_ATTRIBUTE: Final[Mapping[str, str]] = {
    "metadata": "metadata",
    "product": "product",
    "user": "user",
    "users": "user",
    "actor": "actor",
    "api": "api",
    "src_endpoint": "network_endpoint",
    "dst_endpoint": "network_endpoint",
    "file": "file",
    "entity": "managed_entity",
    "entity_result": "managed_entity",
    "group": "group",
    "service": "service",
    "http_request": "http_request",
    "ldap_person": "ldap_person",
}
# Free-form content, whatever its keys are called.
_OPAQUE: Final = frozenset({"unmapped", "raw_data", "data", "xattributes"})
_UNIVERSAL_ACTIVITIES: Final = frozenset({0, _OTHER})
_TAG: Final = re.compile(r"<[^>]+>")


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _present(container: Mapping[str, Any], name: str) -> bool:
    return container.get(name) is not None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_requirements(
    container: Mapping[str, Any], spec: Mapping[str, Any], where: str
) -> list[str]:
    problems = [
        f"{where}: missing required attribute {name!r}"
        for name in spec.get("required") or ()
        if not _present(container, name)
    ]
    constraints = _mapping(spec.get("constraints"))
    at_least_one = constraints.get("at_least_one")
    if at_least_one and not any(_present(container, n) for n in at_least_one):
        problems.append(f"{where}: needs at least one of {sorted(at_least_one)}")
    just_one = constraints.get("just_one")
    if just_one and sum(_present(container, n) for n in just_one) != 1:
        problems.append(f"{where}: needs exactly one of {sorted(just_one)}")
    return problems


def _check_objects(
    value: Any, attribute: str, path: str, objects: Mapping[str, Any]
) -> list[str]:
    if isinstance(value, list):
        problems: list[str] = []
        for index, item in enumerate(value):
            problems += _check_objects(item, attribute, f"{path}[{index}]", objects)
        return problems
    object_name = _OBJECT_OF_ATTRIBUTE.get(attribute)
    if not isinstance(value, Mapping):
        if object_name is not None:
            return [f"{path}: must be an object ({object_name}), got {value!r}"]
        return []
    problems = []
    if object_name is not None and object_name in objects:
        problems += _check_requirements(value, objects[object_name], path)
    for key, child in value.items():
        if key not in _OPAQUE:
            problems += _check_objects(child, key, f"{path}.{key}", objects)
    return problems


def _check_class(event: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    caption = spec.get("caption", "?")
    where = f"{caption} ({spec.get('class_uid')})"
    problems = _check_requirements(event, spec, where)
    deprecated = spec.get("deprecated")
    if deprecated:
        note = _TAG.sub("", str(_mapping(deprecated).get("message", "")))
        problems.append(f"{where}: class is deprecated. {note}".rstrip())
    if "category_uid" in event and event["category_uid"] != spec.get("category_uid"):
        problems.append(
            f"{where}: category_uid {event['category_uid']!r} should be "
            f"{spec.get('category_uid')}"
        )
    if "class_name" in event and event["class_name"] != caption:
        problems.append(
            f"{where}: class_name {event['class_name']!r} should be {caption!r}"
        )
    activity_id = event.get("activity_id")
    activities = {int(k): v for k, v in _mapping(spec.get("activity_id")).items()}
    if _is_int(activity_id):
        if activity_id not in activities and activity_id not in _UNIVERSAL_ACTIVITIES:
            problems.append(f"{where}: activity_id {activity_id} is not defined")
        expected = activities.get(activity_id)
        name = event.get("activity_name")
        if expected is not None and name is not None and name != expected:
            problems.append(
                f"{where}: activity_name {name!r} should be {expected!r} "
                f"for activity_id {activity_id}"
            )
    return problems


def validate_ocsf(event: Mapping[str, Any], reference: Mapping[str, Any]) -> list[str]:
    """Return the problems of *event* against the schema's requirements.

    *reference* is the requirements data: ``{"classes": {name: {"class_uid",
    "category_uid", "activity_id", "required", "constraints", "deprecated"}},
    "objects": {name: {"required", "constraints"}}}``. Checked: the class is
    known and not deprecated; its required attributes and ``at_least_one``/
    ``just_one`` constraints hold; ``category_uid``, ``class_name``,
    ``activity_id``/``activity_name`` agree with the class; ``type_uid`` is
    ``class_uid * 100 + activity_id``; ``time`` is an integer (milliseconds);
    and every nested object meets its own requirements. ``unmapped`` is
    free-form and not inspected. An empty list means valid.
    """
    problems: list[str] = []
    class_uid = event.get("class_uid")
    activity_id = event.get("activity_id")
    if not _is_int(class_uid):
        problems.append(f"class_uid must be an integer, got {class_uid!r}")
    else:
        classes = _mapping(reference.get("classes")).values()
        spec = next((c for c in classes if c.get("class_uid") == class_uid), None)
        if spec is None:
            problems.append(f"class_uid {class_uid} is not a known class")
        else:
            problems += _check_class(event, spec)
    if not _is_int(activity_id):
        problems.append(f"activity_id must be an integer, got {activity_id!r}")
    elif _is_int(class_uid):
        expected = class_uid * 100 + activity_id
        if event.get("type_uid") != expected:
            problems.append(
                f"type_uid {event.get('type_uid')!r} should be {expected} "
                "(class_uid * 100 + activity_id)"
            )
    if "time" in event and not _is_int(event["time"]):
        problems.append(
            f"time must be integer epoch milliseconds, got {event['time']!r}"
        )
    objects = _mapping(reference.get("objects"))
    for key, value in event.items():
        if key not in _OPAQUE:
            problems += _check_objects(value, key, key, objects)
    return problems
