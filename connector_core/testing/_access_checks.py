"""The checks behind the suite's discovery and connection tests.

Each one reads a connector (or what the registry recorded of it) and
returns what is wrong, as sentences; the tests in
:mod:`connector_core.testing.suite` decide whether that fails or skips and
carry the reason the property matters. Kept apart so the tests read as a
list of properties, and a check can be read without the pytest around it.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any

import attrs

from connector_core.connector import REQUIRED_OPERATIONS
from connector_core.exceptions import AuthenticationError
from connector_core.secrets import Secret
from connector_core.streams import StreamKind
from connector_core.testing._resources import capture_logs


if TYPE_CHECKING:
    from collections.abc import Mapping

    from connector_core.connector import Connector
    from connector_core.models import AIAuditLogQuery
    from connector_core.registry import PluginInfo
    from connector_core.testing._harness import Harness


__all__ = [
    "declaration_problems",
    "exception_texts",
    "good_credential_problems",
    "held_in_config",
    "leaks",
    "listing_problems",
    "refused_answers",
    "refused_credential_problems",
    "refused_read",
    "restricted_problems",
    "secrets_in_errors",
    "secrets_in_logs",
    "shown_texts",
    "unwrapped_secrets",
]


def exception_texts(error: BaseException) -> list[str]:
    """Everything a person might see of *error*: message, repr, attributes,
    the formatted traceback, and the same for its causes."""
    texts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.extend([str(current), repr(current), repr(vars(current))])
        current = current.__cause__ or current.__context__
    return texts


def leaks(texts: list[tuple[str, str]], secrets: list[tuple[str, str]]) -> list[str]:
    """Where each secret shows up in *texts*, named, never quoted."""
    found = []
    for where, text in texts:
        for label, secret in secrets:
            if secret in text:
                found.append(f"{where} shows {label}")
                break
    return found


# -- discovery -----------------------------------------------------------------


def listing_problems(harness: Harness, info: PluginInfo) -> list[str]:
    """How the registry's listing of the platform falls short of what
    ``aiaudit plugins`` must show."""
    [listing] = [c for c in info.connectors if c.platform == harness.platform]
    problems = []
    if not listing.display_name.strip():
        problems.append("the display name is empty")
    missing = sorted(REQUIRED_OPERATIONS - set(listing.operations))
    if missing:
        problems.append(f"required operations not listed: {', '.join(missing)}")
    if listing.secret_fields != harness.spec.secret_fields:
        problems.append(
            f"secret fields listed {listing.secret_fields}, "
            f"declared {harness.spec.secret_fields}"
        )
    if harness.platform not in harness.registry.platforms:
        problems.append("the registry does not offer the platform")
    return problems


async def declaration_problems(harness: Harness) -> list[str]:
    """Where the class, its instance and its streams disagree on the
    platform or name their streams ambiguously."""
    async with harness.create() as connector:
        platform = connector.platform
        # Typed loosely: what a plugin returns, not what it declares.
        infos: list[Any] = await connector.list_streams()
    problems = []
    declared = getattr(harness.spec.connector_class, "platform", None)
    if declared != harness.platform or platform != harness.platform:
        problems.append(f"the connector class declares {declared!r}")
    if not infos:
        problems.append("list_streams returned no stream")
    names = [info.name for info in infos]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"stream names repeat: {', '.join(repeated)}")
    odd = [i.name for i in infos if not isinstance(i.kind, StreamKind)]
    if odd:
        problems.append(f"streams without a StreamKind: {', '.join(odd)}")
    return problems


def unwrapped_secrets(harness: Harness) -> list[str]:
    """The secret fields whose configured value is not wrapped in
    :class:`Secret`, so nothing masks it."""
    spec = harness.spec
    config = spec.make_config(dict(harness.sandbox.config))
    return [
        field
        for field in spec.secret_fields
        if getattr(config, field) is not None
        and not isinstance(getattr(config, field), Secret)
    ]


def held_in_config(harness: Harness) -> list[str]:
    """The configuration fields whose value contains a secret the sandbox
    says the configuration only refers to (``held_secrets``): a key file's
    content pasted where its path belongs."""
    declared = list(harness.details.held_secrets)
    held = [text for _, text in harness.secrets() if text in declared]
    return [
        f"field {name!r}"
        for name, value in harness.sandbox.config.items()
        if isinstance(value, str) and any(secret in value for secret in held)
    ]


async def shown_texts(harness: Harness) -> list[tuple[str, str]]:
    """What a connector and its configuration show of themselves."""
    async with harness.create() as connector:
        instance = connector.instance
        texts = [
            ("repr(config)", repr(connector.config)),
            ("str(config)", str(connector.config)),
            ("repr(connector)", repr(connector)),
            ("repr(connector instance)", repr(instance)),
        ]
        if hasattr(instance, "__dict__"):
            texts.append(("the connector's attributes", repr(vars(instance))))
        return texts


def secrets_in_logs(harness: Harness, secrets: list[tuple[str, str]]) -> list[str]:
    """Where a key shows up in what the connector logs, at debug level, with
    good, refused and restricted credentials."""
    configs = [
        harness.sandbox.config,
        harness.bad_config(),
        harness.details.restricted_config,
    ]

    async def exercise() -> None:
        for config in configs:
            if config is None:
                continue
            async with harness.create(config) as connector:
                for call in (
                    connector.authenticate,
                    connector.validate_ai_credentials,
                    connector.validate_permissions,
                    connector.list_streams,
                ):
                    try:
                        await call()
                    except Exception:  # noqa: BLE001, S112 - logs are the point
                        continue
                try:
                    query = attrs.evolve(harness.window, limit=25)
                    await connector.get_ai_audit_logs(query)
                except Exception:  # noqa: BLE001, S110 - likewise
                    pass

    with capture_logs() as captured:
        harness.run(exercise())
    return leaks(list(captured.texts()), secrets)


def secrets_in_errors(harness: Harness, secrets: list[tuple[str, str]]) -> list[str]:
    """Where a key shows up in what the connector returns or raises for
    refused and restricted credentials."""

    async def errors(config: dict[str, Any]) -> list[tuple[str, str]]:
        texts: list[tuple[str, str]] = []
        async with harness.create(config) as connector:
            for name, call in (
                ("authenticate", connector.authenticate),
                ("validate_ai_credentials", connector.validate_ai_credentials),
                ("validate_permissions", connector.validate_permissions),
            ):
                try:
                    result = await call()
                except Exception as exc:  # noqa: BLE001 - its text is checked
                    texts.extend((f"{name} raised", t) for t in exception_texts(exc))
                    continue
                texts.append((f"{name} result", repr(result)))
            try:
                await connector.get_ai_audit_logs(
                    attrs.evolve(harness.window, limit=25)
                )
            except Exception as exc:  # noqa: BLE001 - likewise
                texts.extend(("reading raised", t) for t in exception_texts(exc))
        return texts

    found: list[tuple[str, str]] = []
    for config in (harness.bad_config(), harness.details.restricted_config):
        if config is not None:
            found.extend(harness.run(errors(dict(config))))
    return leaks(found, secrets)


# -- connection ----------------------------------------------------------------


async def good_credential_problems(harness: Harness) -> list[str]:
    """What the connector gets wrong about the sandbox's own keys."""
    problems = []
    async with harness.create() as connector:
        result = await connector.authenticate()
        if not result.success:
            problems.append(f"authenticate failed: {result.error}")
        validation = await connector.validate_ai_credentials()
        if validation.platform != harness.platform:
            problems.append(
                f"validate_ai_credentials names platform {validation.platform!r}"
            )
        if not (validation.is_valid and validation.has_required_permissions):
            problems.append(
                f"validate_ai_credentials says is_valid="
                f"{validation.is_valid}, has_required_permissions="
                f"{validation.has_required_permissions}, missing "
                f"{validation.missing_permissions}: {validation.errors}"
            )
        check = await connector.validate_permissions()
        if not check.is_valid or check.missing_permissions:
            problems.append(
                f"validate_permissions says is_valid={check.is_valid}, "
                f"missing {check.missing_permissions}: {check.errors}"
            )
    return problems


async def refused_answers(connector: Connector) -> list[str]:
    """What is wrong with the connector's answers to refused credentials."""
    problems: list[str] = []
    try:
        result = await connector.authenticate()
    except Exception as exc:  # noqa: BLE001 - the finding
        problems.append(
            f"authenticate raised {type(exc).__name__} instead of returning "
            "ConnectionResult(success=False)"
        )
    else:
        if result.success:
            problems.append("authenticate reported success")
        elif not (result.error and result.error_code):
            problems.append("authenticate failed without both error and error_code")
    for name, call in (
        ("validate_ai_credentials", connector.validate_ai_credentials),
        ("validate_permissions", connector.validate_permissions),
    ):
        try:
            answer = await call()
        except Exception as exc:  # noqa: BLE001 - likewise
            problems.append(
                f"{name} raised {type(exc).__name__} instead of answering "
                "is_valid=False"
            )
        else:
            if answer.is_valid:
                problems.append(f"{name} answered is_valid=True")
    return problems


async def refused_read(connector: Connector, window: AIAuditLogQuery) -> list[str]:
    """A read with refused credentials must raise AuthenticationError."""
    try:
        page = await connector.get_ai_audit_logs(attrs.evolve(window, limit=25))
    except AuthenticationError:
        return []
    except Exception as exc:  # noqa: BLE001 - the finding
        return [
            f"reading raised {type(exc).__name__} instead of AuthenticationError: {exc}"
        ]
    return [
        f"reading returned {len(page.logs)} logs instead of raising AuthenticationError"
    ]


async def refused_credential_problems(
    harness: Harness, bad: Mapping[str, Any]
) -> list[str]:
    """What the connector gets wrong, answering and reading, with *bad*."""
    async with harness.create(dict(bad)) as connector:
        return [
            *await refused_answers(connector),
            *await refused_read(connector, harness.window),
        ]


async def restricted_problems(
    harness: Harness, restricted: Mapping[str, Any]
) -> list[str]:
    """How the connector fails to accept a valid key that lacks permissions
    and to name each one it lacks."""
    expected = set(harness.details.restricted_missing)
    problems: list[str] = []
    async with harness.create(dict(restricted)) as connector:
        result = await connector.authenticate()
        if not result.success:
            problems.append(
                f"authenticate refused a valid key that lacks a "
                f"permission: {result.error}"
            )
        validation = await connector.validate_ai_credentials()
        if not validation.is_valid:
            problems.append("validate_ai_credentials says the key is invalid")
        if validation.has_required_permissions:
            problems.append("validate_ai_credentials says nothing is missing")
        for name, missing in (
            ("validate_ai_credentials", validation.missing_permissions),
            (
                "validate_permissions",
                (await connector.validate_permissions()).missing_permissions,
            ),
        ):
            if not missing:
                problems.append(f"{name} names no missing permission")
            elif not expected <= set(missing):
                problems.append(
                    f"{name} names {sorted(missing)}, not "
                    f"{sorted(expected - set(missing))}"
                )
    return problems
