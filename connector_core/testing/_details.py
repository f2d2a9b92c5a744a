"""What a plugin's sandbox tells the conformance suite, and how it is read.

Some checks need facts only the plugin knows: a configuration whose key the
sandbox refuses, one whose key lacks a permission, the records a complete
read must return, and the names of the sandbox's fault profiles. A sandbox
offers them under ``RunningSandbox.details["conformance"]``, a plain mapping
so that a plugin needs nothing from this package to provide it::

    details={
        "conformance": {
            "bad_config": {...},            # credentials the sandbox refuses
            "restricted_config": {...},     # valid, but missing a permission
            "restricted_missing": ["reports.assistant.readonly"],
            "expected_ids": [...],          # every log id of the whole history
            "faults": {"rate_limit": "rate_limit", "server_error": "server_error",
                       "malformed": "malformed"},
            "fault_config": {},             # merged into the config of fault runs
        }
    }

Every key is optional. Without ``bad_config`` the suite spoils the secret
fields of the sandbox's own configuration; without ``restricted_config`` or
``expected_ids`` the checks that need them are skipped with the reason; a
fault kind mapped to ``None`` is skipped, and an absent one uses the default
profile name in :data:`DEFAULT_FAULT_PROFILES`. Unknown keys are an error, so
a misspelled one never silently turns a check off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs


__all__ = [
    "CONFORMANCE_KEY",
    "DEFAULT_FAULT_PROFILES",
    "FAULT_KINDS",
    "ConformanceDetails",
    "ConformanceDetailsError",
]

CONFORMANCE_KEY: Final = "conformance"
"""The key of ``RunningSandbox.details`` the suite reads."""

FAULT_KINDS: Final = ("rate_limit", "server_error", "malformed")
"""The failures the suite provokes: a 429, a 5xx and a malformed page."""

DEFAULT_FAULT_PROFILES: Final[Mapping[str, str]] = {
    "rate_limit": "rate_limit",
    "server_error": "server_error",
    "malformed": "truncated",
}
"""The ``SandboxOptions.faults`` profile used for each kind when the sandbox
does not name its own (the in-tree sandboxes use these names)."""

_KEYS: Final = frozenset(
    {
        "bad_config",
        "restricted_config",
        "restricted_missing",
        "expected_ids",
        "faults",
        "fault_config",
    }
)


class ConformanceDetailsError(ValueError):
    """``details["conformance"]`` is malformed; the message says where."""


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ConformanceDetailsError(f"{where} must be a mapping with string keys")
    return value


def _strings(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence | frozenset | set):
        raise ConformanceDetailsError(f"{where} must be a list of strings")
    if not all(isinstance(item, str) for item in value):
        raise ConformanceDetailsError(f"{where} must be a list of strings")
    return tuple(value)


@attrs.frozen(kw_only=True)
class ConformanceDetails:
    """The conformance facts of one running sandbox (see the module docs).

    Attributes:
        bad_config: A configuration whose credentials the sandbox refuses.
        restricted_config: Valid credentials that lack a permission.
        restricted_missing: Permission names ``restricted_config`` must be
            reported as missing; empty asks only that something is.
        expected_ids: Every log id a read of the whole history returns.
        faults: The fault profile for each kind; ``None`` skips the kind.
        fault_config: Configuration merged into fault runs, for connectors
            whose own retries need turning down.
    """

    bad_config: Mapping[str, Any] | None = None
    restricted_config: Mapping[str, Any] | None = None
    restricted_missing: tuple[str, ...] = ()
    expected_ids: frozenset[str] | None = None
    faults: Mapping[str, str | None] = attrs.field(
        factory=lambda: dict(DEFAULT_FAULT_PROFILES)
    )
    fault_config: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def from_details(cls, details: Mapping[str, Any]) -> ConformanceDetails:
        """Read ``details["conformance"]``, or the defaults when it is absent.

        Raises:
            ConformanceDetailsError: The mapping is malformed.
        """
        raw = details.get(CONFORMANCE_KEY)
        if raw is None:
            return cls()
        where = f'RunningSandbox.details["{CONFORMANCE_KEY}"]'
        given = _mapping(raw, where)
        unknown = sorted(set(given) - _KEYS)
        if unknown:
            raise ConformanceDetailsError(
                f"{where} has unknown key(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(_KEYS))}"
            )
        faults: dict[str, str | None] = dict(DEFAULT_FAULT_PROFILES)
        if "faults" in given:
            for kind, profile in _mapping(
                given["faults"], f"{where}['faults']"
            ).items():
                if kind not in FAULT_KINDS:
                    raise ConformanceDetailsError(
                        f"{where}['faults'] names unknown fault kind {kind!r}; "
                        f"known: {', '.join(FAULT_KINDS)}"
                    )
                if profile is not None and not isinstance(profile, str):
                    raise ConformanceDetailsError(
                        f"{where}['faults'][{kind!r}] must be a profile name or None"
                    )
                faults[kind] = profile
        expected = given.get("expected_ids")
        return cls(
            bad_config=_optional_mapping(given, "bad_config", where),
            restricted_config=_optional_mapping(given, "restricted_config", where),
            restricted_missing=_strings(
                given.get("restricted_missing", ()), f"{where}['restricted_missing']"
            ),
            expected_ids=None
            if expected is None
            else frozenset(_strings(expected, f"{where}['expected_ids']")),
            faults=faults,
            fault_config=_optional_mapping(given, "fault_config", where) or {},
        )


def _optional_mapping(
    given: Mapping[str, Any], key: str, where: str
) -> Mapping[str, Any] | None:
    value = given.get(key)
    return None if value is None else _mapping(value, f"{where}['{key}']")
