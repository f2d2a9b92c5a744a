"""Saved connections: configurations a store keeps, without their secrets.

A connection is a named, configured connector (one organization, one
workspace); a store may hold many. Its configuration is saved with every
secret replaced by a reference to the environment variable that holds it,
``{"env": "OPENAI_ADMIN_KEY"}``: the store (a file anyone with disk access
can read, or a shared database) never holds a key, and rotating a key means
changing the variable, not the store.

A platform's environment configuration is a connection too: syncing
``chatgpt`` with no saved connection of that name uses what the platform's
variables describe, and saves it (references only) so later commands know it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import attrs

from connector_core import _environment
from connector_core.connector import (
    check_url_credentials,
    has_url_credentials,
    mask_url_credentials,
)
from connector_core.exceptions import ConfigurationError, ParameterError
from connector_core.secrets import Secret
from connector_core.store.base import SavedConnection


if TYPE_CHECKING:
    from collections.abc import Mapping

    from connector_core.connector import ConnectorSpec


__all__ = [
    "ENV_REFERENCE",
    "connection_from_environment",
    "connection_from_options",
    "describe",
    "environment_of",
    "resolve_config",
]

_VARIABLE_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONVENTIONAL_NAME: Final = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
"""Upper case, as variables are named by convention, and short: a name an
error may quote. Keys are long, and mostly mixed or lower case."""

ENV_REFERENCE: Final = "env"
"""The key of a secret reference: ``{"env": "VARIABLE"}``."""


def environment_of(spec: ConnectorSpec) -> Mapping[str, tuple[str, ...]]:
    """Which variables feed which field, as the config class declares it.

    Public so that every reader of the declaration (connections, the sandbox's
    paste-ready output) shares one interpretation of it.
    """
    declared = _environment.declared(spec.config_class)
    if declared is None:
        raise ConfigurationError(
            f"the {spec.platform} connector cannot be configured from the environment"
        )
    return declared


def connection_from_environment(
    spec: ConnectorSpec, name: str | None, environ: Mapping[str, str]
) -> SavedConnection:
    """A connection built from the platform's environment variables, called
    *name*, or with ``None`` what the platform's is called
    (:attr:`ConnectorSpec.default_connection
    <connector_core.connector.ConnectorSpec.default_connection>`).

    The configuration is checked now (so a missing key is reported at once),
    and saved with each secret as a reference to the variable it came from.

    Raises:
        ConfigurationError: The variables do not describe a valid config.
    """
    # Before the plugin reads them: its error for a bad value may quote it.
    check_url_credentials(
        {
            variable: environ.get(variable, "")
            for field, variables in environment_of(spec).items()
            if field not in spec.secret_fields
            for variable in variables
        },
        "the environment",
    )
    spec.config_from_env(environ)  # raises with a clear message if invalid
    saved: dict[str, Any] = {
        field: {ENV_REFERENCE: variable} if field in spec.secret_fields else value
        for field, (variable, value) in _environment.chosen(
            environment_of(spec), environ
        ).items()
    }
    return SavedConnection(
        name=spec.default_connection if name is None else name,
        platform=spec.platform,
        config=saved,
        created_at=datetime.now(UTC),
    )


def connection_from_options(
    spec: ConnectorSpec,
    name: str,
    *,
    options: Mapping[str, str],
    secrets: Mapping[str, str],
    environ: Mapping[str, str],
) -> SavedConnection:
    """A connection from explicit values and secret variable names.

    :param options: Non-secret fields and their values.
    :param secrets: Secret fields and the variables that hold them.

    Raises:
        ParameterError: A secret is given in *options*, a value of *options*
            is a URL with a user name or password, or a field of *secrets*
            is not a secret field or names no possible variable; the error
            names the parameter and the field (``field``).
        ConfigurationError: The resulting configuration is invalid.
    """
    for field, value in options.items():
        if has_url_credentials(value):
            raise ParameterError(
                "{options}: {field} holds a URL with a user name or password; "
                "give it without them (keys go in the connector's secret "
                "fields, through environment variables)",
                parameters=("options",),
                field=field,
            )
    for field in options:
        if field in spec.secret_fields:
            raise ParameterError(
                "{field} is a secret: pass the name of the environment variable "
                "that holds it (in {secrets}, {field}=VARIABLE), never the value",
                parameters=("options", "secrets"),
                field=field,
            )
    for field, variable in secrets.items():
        if field not in spec.secret_fields:
            raise ParameterError(
                "{field} is not a secret field of {platform} (secrets: {known})",
                parameters=("secrets",),
                field=field,
                platform=spec.platform,
                known=", ".join(spec.secret_fields) or "none",
            )
        if not _VARIABLE_NAME.fullmatch(variable):
            # Not quoted: what was typed here is often the key itself.
            raise ParameterError(
                "{secrets}: what is given for {field} is not an environment "
                "variable name; give the name of the variable that holds the "
                "secret, never the value",
                parameters=("secrets",),
                field=field,
            )
        if not environ.get(variable, "").strip():
            # Named only when it reads as a conventional variable name: a key
            # typed in place of one (``exk_live_...``) is a valid name too.
            named = variable if _CONVENTIONAL_NAME.fullmatch(variable) else None
            raise ParameterError(
                "{secrets}: the environment variable given for {field}"
                + (f" ({named})" if named else "")
                + " is not set here; give the name of the variable that holds "
                "the secret, never the value",
                parameters=("secrets",),
                field=field,
            )
    saved: dict[str, Any] = dict(options)
    saved.update({field: {ENV_REFERENCE: var} for field, var in secrets.items()})
    connection = SavedConnection(
        name=name, platform=spec.platform, config=saved, created_at=datetime.now(UTC)
    )
    resolve_config(spec, connection, environ)  # validate now, not at first sync
    return connection


def resolve_config(
    spec: ConnectorSpec, connection: SavedConnection, environ: Mapping[str, str]
) -> Any:
    """The connector configuration of a saved connection, secrets filled in.

    Raises:
        ConfigurationError: A referenced variable is not set, or the values
            no longer fit the configuration class.
    """
    values: dict[str, Any] = {}
    for field, value in connection.config.items():
        if isinstance(value, dict) and set(value) == {ENV_REFERENCE}:
            variable = value[ENV_REFERENCE]
            secret = environ.get(variable, "").strip()
            if not secret:
                raise ConfigurationError(
                    f"connection {connection.name!r} needs the environment "
                    f"variable {variable} (its {field})"
                )
            values[field] = Secret(secret)
        else:
            values[field] = value
    return spec.make_config(values)


def describe(connection: SavedConnection) -> dict[str, Any]:
    """A JSON-ready view of a connection; references shown as ``$VARIABLE``.

    A URL with a user name or password (refused when a connection is added
    now, but an older store may hold one) is shown with them masked.
    """
    config = {
        field: f"${value[ENV_REFERENCE]}"
        if isinstance(value, dict) and ENV_REFERENCE in value
        else mask_url_credentials(value)
        if isinstance(value, str)
        else value
        for field, value in connection.config.items()
    }
    return attrs.asdict(connection) | {
        "config": config,
        "created_at": connection.created_at.isoformat(),
    }
