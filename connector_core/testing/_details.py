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
                       "malformed": "malformed", "redirect": "redirect",
                       "stuck_cursor": "stuck_cursor", "poisoned": "poisoned",
                       "late": "late"},
            "fault_config": {},             # merged into the config of fault runs
            "poisoned_ids": {"<log id>": "<native id>"},  # under ``poisoned``
            "observed": {},                 # counters the sandbox keeps updating
            "held_secrets": [...],          # secrets the config only refers to
        }
    }

Every key is optional. Without ``bad_config`` the suite spoils the secret
fields of the sandbox's own configuration; without ``restricted_config`` or
``expected_ids`` the checks that need them are skipped with the reason; a
fault kind mapped to ``None`` is skipped, and an absent one uses the default
profile name in :data:`DEFAULT_FAULT_PROFILES`. Unknown keys are an error, so
a misspelled one never silently turns a check off.

What each fault profile must make the sandbox do, at ``fault_rate`` 1.0
(the suite starts a sandbox of its own for each, with fewer events):

``rate_limit``, ``server_error``, ``malformed``
    Answer every API request with a 429, a 5xx, a 200 whose page has the
    wrong shape.
``redirect``
    Answer every API request with a 307 to the same origin: the same path
    and query plus a signature parameter. Serve the redirected request only
    if it carries no credential (no ``Authorization``, no API-key or
    organization header of the platform), else answer 400 "only one auth
    mechanism allowed", as a pre-signed URL's host does. The data is the
    same as without faults.
``stuck_cursor``
    Answer every listing with the same page, saying there is more, with the
    same cursor, forever.
``poisoned``
    Serve the same data as without faults plus a few poisoned records: a
    lone surrogate (a ``\\ud800`` escape in the JSON text), a NUL in the user
    id, the email or the IP address, a user id of 6,000 characters. List
    them in ``poisoned_ids``: each log id a correct connector gives one,
    with the native id a :class:`~connector_core.streams.QuarantinedRecord`
    of it carries. ``expected_ids``, when given, includes them.
``late``
    Hide a share of the events whose effective time is within the last
    ``StreamInfo.publication_lag`` of the history of their stream until the
    sandbox has served for ``SandboxOptions.publish_delay`` seconds; then
    serve them where they belong in time. Make sure that trailing stretch
    holds events to hide. ``expected_ids``, when given, includes them.

``held_secrets`` is for a configuration that holds no secret itself but
refers to one kept elsewhere: a key *file* named by its path, whose key the
connector reads when it needs it. List the secret values the connector comes
to hold that way (the private key, and the access tokens the sandbox issues:
the list is live, the sandbox may append to it while it serves). The suite
then accepts a configuration without a ``Secret`` field, checks that no
field holds one of these values in the clear, and looks for them, as for
``Secret`` fields, in logs, errors and reprs.

``observed`` is optional and live: a mapping the sandbox keeps updating
while it serves, which the suite reads after a fault run. The counters it
knows are in :data:`OBSERVED_COUNTERS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs


__all__ = [
    "CONFORMANCE_KEY",
    "DEFAULT_FAULT_PROFILES",
    "FAULT_KINDS",
    "OBSERVED_COUNTERS",
    "ConformanceDetails",
    "ConformanceDetailsError",
]

CONFORMANCE_KEY: Final = "conformance"
"""The key of ``RunningSandbox.details`` the suite reads."""

FAULT_KINDS: Final = (
    "rate_limit",
    "server_error",
    "malformed",
    "redirect",
    "stuck_cursor",
    "poisoned",
    "late",
)
"""The failures the suite provokes: a 429, a 5xx, a malformed page, a
redirect on every request, a cursor that never advances, poisoned records
and events published late (see the module docs for what each must do)."""

DEFAULT_FAULT_PROFILES: Final[Mapping[str, str]] = {
    "rate_limit": "rate_limit",
    "server_error": "server_error",
    "malformed": "truncated",
    "redirect": "redirect",
    "stuck_cursor": "stuck_cursor",
    "poisoned": "poisoned",
    "late": "late",
}
"""The ``SandboxOptions.faults`` profile used for each kind when the sandbox
does not name its own (the in-tree sandboxes use these names)."""

OBSERVED_COUNTERS: Final[Mapping[str, str]] = {
    "redirect_hops": "redirected requests the sandbox received",
    "credentialed_hops": "redirected requests that carried a credential",
}
"""The counters of ``details["conformance"]["observed"]`` the suite reads,
with what each counts."""

_KEYS: Final = frozenset(
    {
        "bad_config",
        "restricted_config",
        "restricted_missing",
        "expected_ids",
        "faults",
        "fault_config",
        "poisoned_ids",
        "observed",
        "held_secrets",
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
        poisoned_ids: Under the ``poisoned`` profile, the log id of each
            poisoned record and the native id a quarantined copy carries.
        observed: The sandbox's live counters (the same mapping, not a
            copy), or ``None``.
        held_secrets: Secrets the configuration refers to but does not hold
            (the same sequence, not a copy: the sandbox may add to it).
    """

    bad_config: Mapping[str, Any] | None = None
    restricted_config: Mapping[str, Any] | None = None
    restricted_missing: tuple[str, ...] = ()
    expected_ids: frozenset[str] | None = None
    faults: Mapping[str, str | None] = attrs.field(
        factory=lambda: dict(DEFAULT_FAULT_PROFILES)
    )
    fault_config: Mapping[str, Any] = attrs.field(factory=dict)
    poisoned_ids: Mapping[str, str] = attrs.field(factory=dict)
    observed: Mapping[str, Any] | None = None
    held_secrets: Sequence[str] = ()

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
            poisoned_ids=_poisoned(given.get("poisoned_ids"), where),
            observed=_optional_mapping(given, "observed", where),
            held_secrets=_held(given.get("held_secrets"), where),
        )


def _held(value: object, where: str) -> Sequence[str]:
    if value is None:
        return ()
    _strings(value, f"{where}['held_secrets']")
    # The sandbox's own sequence: a copy would miss what it adds later.
    return value  # type: ignore[return-value]


def _poisoned(value: object, where: str) -> Mapping[str, str]:
    if value is None:
        return {}
    found = _mapping(value, f"{where}['poisoned_ids']")
    if not all(isinstance(native, str) and native for native in found.values()):
        raise ConformanceDetailsError(
            f"{where}['poisoned_ids'] must map each log id to a native id (a string)"
        )
    return dict(found)


def _optional_mapping(
    given: Mapping[str, Any], key: str, where: str
) -> Mapping[str, Any] | None:
    value = given.get(key)
    return None if value is None else _mapping(value, f"{where}['{key}']")
