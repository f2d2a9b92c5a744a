"""Which third-party apps are AI apps, and what a grant's scopes reach.

The table is data, ``ai_apps.toml`` beside this module (sources are written
there). It is read and checked once, at import: a table that cannot be read
is a packaging bug, so :class:`AppTableError` names the entry at fault.

A grant is judged as the core's "apps granted access" view wants it
(``connector_core.metadata_keys``): whether the app is an AI app
(``app_is_ai``), and which kinds of data its scopes reach
(``app_reaches``: ``mail``, ``files``, ``calendar``, ``contacts``). A grant
that gives an AI app anything, or any app mail or files, carries a risk
indicator (see :func:`grant_risks`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any, Final

import attrs

from connector_core.models import AIRiskIndicator, AIRiskType, RiskSeverity


__all__ = [
    "SENSITIVE_REACHES",
    "TABLE",
    "App",
    "AppTable",
    "AppTableError",
    "grant_risks",
    "load_apps",
]

SENSITIVE_REACHES: Final = frozenset({"mail", "files"})
"""What a grant may reach that makes it worth a look whatever the app."""


class AppTableError(ValueError):
    """``ai_apps.toml`` is malformed; the message names the entry."""


@attrs.frozen(kw_only=True)
class App:
    """A known AI app."""

    name: str
    vendor: str
    patterns: tuple[re.Pattern[str], ...]
    suffixes: tuple[str, ...]
    client_ids: frozenset[str]

    def matches_name(self, name: str) -> bool:
        lowered = name.lower()
        if any(p.search(lowered) for p in self.patterns):
            return True
        words = re.split(r"[\s,;:/()\[\]_-]+", lowered)
        return any(
            w.endswith(s) and len(w) > len(s) for w in words for s in self.suffixes
        )


@attrs.frozen(kw_only=True)
class AppTable:
    """``ai_apps.toml``, checked."""

    apps: tuple[App, ...]
    reaches: tuple[tuple[str, str], ...]
    buckets: Mapping[str, str]

    def ai_app(self, client_id: str | None, name: str | None) -> App | None:
        """The known AI app a grant is for: by client id first, then name."""
        if client_id:
            for app in self.apps:
                if client_id in app.client_ids:
                    return app
        if name:
            for app in self.apps:
                if app.matches_name(name):
                    return app
        return None

    def reach_of(self, scope: str) -> str:
        """What *scope* reaches, or ``""`` when nothing sensitive."""
        for prefix, reach in self.reaches:
            if scope.startswith(prefix):
                return reach
        return ""

    def reaches_of(
        self, scopes: Iterable[str], buckets: Iterable[str] = ()
    ) -> list[str]:
        """The kinds of data *scopes* (or, without scopes, the API
        *buckets* an app called) reach, sorted, each once."""
        found = {self.reach_of(s) for s in scopes}
        found |= {self.buckets.get(b.upper(), "") for b in buckets}
        found.discard("")
        return sorted(found)


def _word(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z0-9]){re.escape(pattern.lower())}(?![a-z0-9])")


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise AppTableError(f"{where} must be a list of non-empty strings")
    return tuple(value)


_APP_KEYS: Final = frozenset({"name", "vendor", "patterns", "suffixes", "client_ids"})


def _app(index: int, entry: object) -> App:
    where = f"[[apps]] #{index + 1}"
    if not isinstance(entry, Mapping):
        raise AppTableError(f"{where} must be a table")
    unknown = sorted(
        set(entry) - {"name", "vendor", "patterns", "suffixes", "client_ids"}
    )
    if unknown:
        raise AppTableError(f"{where} has unknown key(s) {', '.join(unknown)}")
    name, vendor = entry.get("name"), entry.get("vendor", "")
    if not isinstance(name, str) or not name or not isinstance(vendor, str):
        raise AppTableError(f"{where}: name and vendor must be strings")
    return App(
        name=name,
        vendor=vendor,
        patterns=tuple(_word(p) for p in _strings(entry.get("patterns", []), where)),
        suffixes=tuple(s.lower() for s in _strings(entry.get("suffixes", []), where)),
        client_ids=frozenset(_strings(entry.get("client_ids", []), where)),
    )


def _reach(index: int, entry: object) -> tuple[str, str]:
    where = f"[[reaches]] #{index + 1}"
    if not isinstance(entry, Mapping) or set(entry) != {"prefix", "reach"}:
        raise AppTableError(f"{where} must be a table of prefix and reach")
    prefix, reach = entry["prefix"], entry["reach"]
    if not isinstance(prefix, str) or not prefix or not isinstance(reach, str):
        raise AppTableError(f"{where}: prefix and reach must be strings")
    return prefix, reach


def load_apps(text: str) -> AppTable:
    """Check a table given as TOML text.

    Raises:
        AppTableError: The text is not TOML or not a table of this shape.
    """
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AppTableError(f"not TOML: {exc}") from None
    if data.get("version") != 1:
        raise AppTableError("version must be 1")
    apps, reaches = data.get("apps", []), data.get("reaches", [])
    buckets = data.get("buckets", {})
    if not isinstance(apps, list) or not isinstance(reaches, list):
        raise AppTableError("[[apps]] and [[reaches]] must be arrays of tables")
    if not isinstance(buckets, Mapping) or not all(
        isinstance(v, str) for v in buckets.values()
    ):
        raise AppTableError("[buckets] must map product buckets to reaches")
    return AppTable(
        apps=tuple(_app(i, e) for i, e in enumerate(apps)),
        reaches=tuple(_reach(i, e) for i, e in enumerate(reaches)),
        buckets={str(k).upper(): v for k, v in buckets.items()},
    )


TABLE: Final = load_apps(
    resources.files(__package__).joinpath("ai_apps.toml").read_text("utf-8")
)


def grant_risks(
    app_name: str, is_ai: bool, reaches: Iterable[str]
) -> tuple[AIRiskIndicator, ...]:
    """The risk of a grant: an AI app given anything is medium, an AI app
    given mail or files high, any other app given mail or files low."""
    sensitive = sorted(SENSITIVE_REACHES.intersection(reaches))
    evidence = (app_name, *sensitive) if app_name else tuple(sensitive)
    if is_ai and sensitive:
        return (
            AIRiskIndicator(
                type=AIRiskType.DATA_EXFILTRATION,
                severity=RiskSeverity.HIGH,
                description=(
                    f"AI app granted access to {' and '.join(sensitive)} of a "
                    "Google account"
                ),
                confidence=80,
                evidence=evidence,
            ),
        )
    if is_ai:
        return (
            AIRiskIndicator(
                type=AIRiskType.POLICY_VIOLATION,
                severity=RiskSeverity.MEDIUM,
                description="AI app granted access to a Google account",
                confidence=70,
                evidence=evidence,
            ),
        )
    if sensitive:
        return (
            AIRiskIndicator(
                type=AIRiskType.SENSITIVE_DATA,
                severity=RiskSeverity.LOW,
                description=(
                    f"Third-party app granted access to {' and '.join(sensitive)} "
                    "of a Google account"
                ),
                confidence=60,
                evidence=evidence,
            ),
        )
    return ()
