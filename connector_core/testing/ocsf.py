"""OCSF events checked against the OCSF schema, for plugins' and hosts' tests.

:func:`~connector_core.export.to_ocsf` promises events a SIEM accepts, for
any platform's logs. A plugin proves it for its own logs in its own tests::

    from connector_core.export import to_ocsf
    from connector_core.testing.ocsf import assert_valid_ocsf

    assert_valid_ocsf(to_ocsf(log))

The judge is the OCSF schema itself, read by maintained tools rather than by
rules of our own: ``ocsf-json-schema`` turns the compiled schema into a JSON
Schema (draft 2020-12) for the event's class and declared profiles (required
attributes, types and their patterns, enumerated ids, no attribute the class
does not define, the ``at_least_one``/``just_one`` constraints, all of it in
every nested object) and ``jsonschema`` validates the event against it. Only
what a JSON Schema cannot say is checked here: the class is not deprecated,
``type_uid`` is ``class_uid * 100 + activity_id``, and an enumerated id's
sibling (``activity_name``, ``severity``, ``type``...) is the caption the
schema gives that id, except for 99 *Other*, whose sibling is the source's
own word.

The schema is a compiled copy of the OCSF version the export declares,
``ocsf_schema.json`` beside this module (its ``source`` names the public
origin), cut to the classes the export produces and the objects they reach.
Any other compiled schema in the shape of the OCSF server's
``export/schema`` can be passed as ``schema``.

The tools are imported on first use, so importing this module needs neither;
without them :class:`OCSFValidatorUnavailable` says what to install
(``pip install 'aiaudit[testing]'``).
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final, TypeGuard


__all__ = [
    "SCHEMA_FILE",
    "OCSFSchemaValidator",
    "OCSFValidatorUnavailable",
    "assert_valid_ocsf",
    "bundled_schema",
    "ocsf_problems",
]

SCHEMA_FILE: Final = Path(__file__).with_name("ocsf_schema.json")
"""The compiled OCSF schema the export is validated against."""

_TOOLS: Final = ("ocsf_json_schema", "jsonschema")
_INSTALL: Final = (
    "OCSF validation needs the ocsf-json-schema and jsonschema packages: "
    "pip install 'aiaudit[testing]' (or ocsf-json-schema jsonschema)"
)
_OTHER: Final = 99
_TAG: Final = re.compile(r"<[^>]+>")


class OCSFValidatorUnavailable(ImportError):  # noqa: N818 - reads as a state
    """The validation tools are not installed in this environment."""


def _tools() -> tuple[Any, Any]:
    modules = []
    for name in _TOOLS:
        try:
            modules.append(importlib.import_module(name))
        except ImportError as exc:
            raise OCSFValidatorUnavailable(_INSTALL) from exc
    return modules[0], modules[1]


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _where(path: Iterator[Any] | Any, top: str) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or top


class OCSFSchemaValidator:
    """Validates events against one compiled OCSF schema.

    Building a class's JSON Schema walks every object it reaches, so each
    (class, profiles) pair is built once and kept: validating thousands of
    events costs one build per class.
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        ocsf_json_schema, jsonschema = _tools()
        self._schema = schema
        self._generator = ocsf_json_schema.OcsfJsonSchemaEmbedded(dict(schema))
        self._validator_class = jsonschema.Draft202012Validator
        self._validators: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._classes: dict[int, tuple[str, Mapping[str, Any]]] = {
            spec["uid"]: (name, spec)
            for name, spec in schema.get("classes", {}).items()
            if _is_int(spec.get("uid"))
        }

    @property
    def version(self) -> str:
        """The OCSF version of the schema (``1.9.0-dev``)."""
        return str(self._schema.get("version"))

    def problems(self, event: object) -> list[str]:
        """What is wrong with *event*, one line each; empty when it is valid."""
        if not isinstance(event, Mapping):
            return [f"an OCSF event is a JSON object, got {type(event).__name__}"]
        class_uid = event.get("class_uid")
        if not _is_int(class_uid):
            return [f"class_uid must be an integer, got {class_uid!r}"]
        if class_uid not in self._classes:
            known = f"this OCSF {self.version} schema"
            return [f"class_uid {class_uid} is not a class of {known}"]
        name, spec = self._classes[class_uid]
        top = f"{spec.get('caption', name)} ({class_uid})"
        problems = self._schema_problems(event, name, top)
        problems += self._class_problems(event, spec, top)
        problems += list(self._attribute_problems(event, spec, top))
        return problems

    def _validator(self, name: str, profiles: tuple[str, ...]) -> Any:
        key = (name, profiles)
        if key not in self._validators:
            generated = self._generator.get_class_schema(name, list(profiles))
            self._validators[key] = self._validator_class(generated)
        return self._validators[key]

    def _schema_problems(
        self, event: Mapping[str, Any], name: str, top: str
    ) -> list[str]:
        metadata = event.get("metadata")
        declared = metadata.get("profiles") if isinstance(metadata, Mapping) else None
        # A malformed list is reported by the schema; it selects nothing.
        profiles = (
            tuple(sorted({p for p in declared if isinstance(p, str)}))
            if isinstance(declared, list)
            else ()
        )
        validator = self._validator(name, profiles)
        errors = sorted(
            validator.iter_errors(event),
            key=lambda e: (list(map(str, e.absolute_path)), e.message),
        )
        return [f"{_where(e.absolute_path, top)}: {_describe(e)}" for e in errors]

    def _class_problems(
        self, event: Mapping[str, Any], spec: Mapping[str, Any], top: str
    ) -> list[str]:
        problems = []
        deprecated = spec.get("@deprecated")
        if deprecated:
            problems.append(f"{top}: the class {_deprecation(deprecated)}")
        class_uid, activity_id = event.get("class_uid"), event.get("activity_id")
        if _is_int(class_uid) and _is_int(activity_id) and "type_uid" in event:
            expected = class_uid * 100 + activity_id
            if event["type_uid"] != expected:
                problems.append(
                    f"{top}: type_uid {event['type_uid']!r} should be {expected} "
                    "(class_uid * 100 + activity_id)"
                )
        return problems

    def _attribute_problems(
        self,
        value: Mapping[str, Any],
        spec: Mapping[str, Any],
        top: str,
        path: str = "",
    ) -> Iterator[str]:
        objects = self._schema.get("objects", {})
        for name, attribute in (spec.get("attributes") or {}).items():
            if name not in value:
                continue
            item = value[name]
            deprecated = attribute.get("@deprecated")
            if deprecated:
                yield f"{(path + '.' + name).lstrip('.')}: {_deprecation(deprecated)}"
            if attribute.get("type") == "object_t":
                child = objects.get(attribute.get("object_type"))
                many = bool(attribute.get("is_array")) and isinstance(item, list)
                for index, element in enumerate(item if many else [item]):
                    if isinstance(element, Mapping) and child is not None:
                        here = f"{path}.{name}".lstrip(".")
                        here += f"[{index}]" if many else ""
                        yield from self._attribute_problems(element, child, top, here)
                continue
            sibling, enum = attribute.get("sibling"), attribute.get("enum")
            if not (sibling and enum and _is_int(item) and sibling in value):
                continue
            # 99 is "Other": the sibling then carries the source's own word
            # (a type_uid is Other when its activity is).
            if _OTHER in {item, item % 100 if name == "type_uid" else None}:
                continue
            caption = (enum.get(str(item)) or {}).get("caption")
            if caption is not None and value[sibling] != caption:
                yield (
                    f"{path or top}: {sibling} {value[sibling]!r} should be "
                    f"{caption!r} for {name} {item}"
                )


def _deprecation(note: object) -> str:
    """The schema's deprecation note, as text."""
    if not isinstance(note, Mapping):
        return "is deprecated"
    since = f" since {note['since']}" if note.get("since") else ""
    advice = _TAG.sub("", str(note.get("message") or "")).strip()
    return f"is deprecated{since}. {advice}".strip()


def _describe(error: Any) -> str:
    """jsonschema's message, said in OCSF's terms where they are clearer."""
    subschemas = error.validator_value
    if error.validator in {"anyOf", "oneOf"} and all(
        isinstance(s, Mapping) and set(s) == {"required"} for s in subschemas
    ):
        names = sorted(name for s in subschemas for name in s["required"])
        how = "at least" if error.validator == "anyOf" else "exactly"
        return f"needs {how} one of {names}"
    if error.validator == "pattern":
        # The patterns (an IP address's is 1,500 characters) say less than this.
        return f"{error.instance!r} is not of the form its OCSF type requires"
    if error.validator == "required":
        missing = re.match(r"'([^']+)' is a required property", error.message)
        if missing is not None:
            return f"missing required attribute {missing.group(1)!r}"
    return str(error.message)


@functools.cache
def bundled_schema() -> Mapping[str, Any]:
    """The compiled schema in :data:`SCHEMA_FILE` (shared: do not change it)."""
    loaded: Mapping[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return loaded


@functools.cache
def _bundled_validator() -> OCSFSchemaValidator:
    return OCSFSchemaValidator(bundled_schema())


def ocsf_problems(
    event: object, *, schema: Mapping[str, Any] | None = None
) -> list[str]:
    """What is wrong with *event* by the OCSF schema; empty when valid.

    *schema* defaults to the bundled one (the version the export declares).

    Raises:
        OCSFValidatorUnavailable: ocsf-json-schema or jsonschema is missing.
    """
    validator = _bundled_validator() if schema is None else OCSFSchemaValidator(schema)
    return validator.problems(event)


def assert_valid_ocsf(
    event: object, *, schema: Mapping[str, Any] | None = None
) -> None:
    """Fail (``AssertionError``) with every problem of *event*, if it has any."""
    problems = ocsf_problems(event, schema=schema)
    if problems:
        metadata = event.get("metadata") if isinstance(event, Mapping) else None
        uid = metadata.get("uid") if isinstance(metadata, Mapping) else None
        lines = "\n  ".join(problems)
        msg = f"not a valid OCSF event (metadata.uid {uid!r}):\n  {lines}"
        raise AssertionError(msg)
