"""A configuration built from the environment its class declares.

A config class names, in ``environment``, the variable (or variables, the
first one set winning) each field is read from. That declaration is the only
environment code a plugin needs: values are converted to the field's type
the way the class itself would take them (its converter when it has one,
else the annotation: ``int``, ``float``, ``bool``, an enum, optionally
``None``), secret fields are wrapped as :class:`~connector_core.secrets.Secret`
as soon as they are read, and every error names the variable to fix,
never a secret's value.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
import cattrs

from connector_core.exceptions import ConfigurationError, redact
from connector_core.secrets import Secret


__all__ = ["chosen", "declared", "load"]

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})
_converter: Final = cattrs.Converter()


def declared(config_class: type[Any]) -> Mapping[str, tuple[str, ...]] | None:
    """The class's ``environment`` declaration, each entry as a tuple of
    variable names; ``None`` when it declares none.

    Raises:
        ConfigurationError: The declaration is not a mapping of the class's
            field names to variable names.
    """
    raw = getattr(config_class, "environment", None)
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigurationError("environment must map field names to variables")
    fields = {field.name for field in attrs.fields(config_class)}
    result: dict[str, tuple[str, ...]] = {}
    for field, names in raw.items():
        if field not in fields:
            raise ConfigurationError(
                f"environment names {field!r}, which is not a field "
                f"(fields: {', '.join(sorted(fields))})"
            )
        # A bare string is one name, never a sequence of one-letter names.
        variables = (names,) if isinstance(names, str) else tuple(names)
        if not variables or not all(isinstance(v, str) and v for v in variables):
            raise ConfigurationError(
                f"environment[{field!r}] must be a variable name or a tuple of them"
            )
        result[field] = variables
    return result


def chosen(
    declaration: Mapping[str, tuple[str, ...]], environ: Mapping[str, str]
) -> dict[str, tuple[str, str]]:
    """For each declared field that is set, the variable it is taken from
    (the first of its variables set to more than blanks) and its text,
    stripped. The one reading of "first set wins", for loading a config and
    for saving where each value came from."""
    sources: dict[str, tuple[str, str]] = {}
    for field, variables in declaration.items():
        for variable in variables:
            text = environ.get(variable, "").strip()
            if text:
                sources[field] = (variable, text)
                break
    return sources


def load(
    config_class: type[Any],
    environ: Mapping[str, str],
    *,
    platform: str,
    secret_fields: frozenset[str],
) -> Any:
    """An instance of *config_class* from the variables it declares.

    Raises:
        ConfigurationError: Nothing declared, a required field's variables
            all unset, or a value the field (or the class) refuses.
    """
    declaration = declared(config_class)
    if declaration is None:
        raise ConfigurationError(
            f"the {platform} connector cannot be configured from the environment"
        )
    hints = _type_hints(config_class)
    fields = {field.name: field for field in attrs.fields(config_class)}
    sources = chosen(declaration, environ)
    values: dict[str, Any] = {
        field: _convert(
            fields[field],
            hints.get(field),
            text,
            variable=variable,
            secret=field in secret_fields,
        )
        for field, (variable, text) in sources.items()
    }
    missing = [
        field
        for field in fields.values()
        if field.init and field.default is attrs.NOTHING and field.name not in values
    ]
    if missing:
        raise ConfigurationError(
            f"the {platform} connector needs "
            + "; ".join(_wanted(field.name, declaration) for field in missing)
        )
    secrets = [sources[f][1] for f in secret_fields if f in sources]
    try:
        return config_class(
            **{fields[name].alias or name: value for name, value in values.items()}
        )
    except (TypeError, ValueError) as exc:
        first = exc.args[0] if exc.args else exc
        message = redact(str(first), secrets)
        named = _fields_named(exc, message, declaration)
        where = "; ".join(
            f"{field} from {sources[field][0]}"
            if field in sources
            else _wanted(field, declaration)
            for field in named
        )
        what = "invalid" if sources else "no"
        raise ConfigurationError(
            f"{what} {platform} configuration in the environment: {message}"
            + (f" ({where})" if where else "")
        ) from None


def _wanted(field: str, declaration: Mapping[str, tuple[str, ...]]) -> str:
    variables = declaration.get(field)
    if not variables:
        return f"{field}, which no environment variable sets"
    return f"{field}: set {' or '.join(variables)}"


def _fields_named(
    exc: BaseException, message: str, declaration: Mapping[str, tuple[str, ...]]
) -> list[str]:
    """The declared fields a class's error is about: the attribute attrs'
    own validators pass along, else the field names its text mentions."""
    for arg in exc.args[1:2]:
        if isinstance(arg, attrs.Attribute) and arg.name in declaration:
            return [arg.name]
    return [
        field for field in declaration if re.search(rf"\b{re.escape(field)}\b", message)
    ]


def _type_hints(config_class: type[Any]) -> Mapping[str, Any]:
    try:
        return typing.get_type_hints(config_class)
    except Exception:  # noqa: BLE001 - names only a type checker sees
        return {}


def _convert(
    field: attrs.Attribute[Any],
    annotation: object,
    text: str,
    *,
    variable: str,
    secret: bool,
) -> Any:
    """*text* as the field takes it; a refusal names *variable* (and, for a
    field that is not a secret, quotes the value)."""
    converter = _plain_converter(field)
    if secret:
        value = Secret(text)
        if converter is not None:
            try:
                converter(value)
            except (TypeError, ValueError):
                raise ConfigurationError(
                    f"{variable} is not a valid {field.name}"
                ) from None
        return value
    if field.converter is not None:
        # The class converts; run it alone first, so a refusal names the
        # variable, then hand the class the text as it would get it.
        if converter is not None:
            try:
                converter(text)
            except (TypeError, ValueError) as exc:
                raise ConfigurationError(_refusal(variable, text, exc)) from None
        return text
    return _structure(_scalar(annotation), text, variable=variable)


def _plain_converter(field: attrs.Attribute[Any]) -> Callable[[Any], Any] | None:
    """The field's converter when it takes the value alone (an
    ``attrs.Converter`` may also want the instance, which does not exist
    yet)."""
    converter: Any = field.converter
    if converter is None or isinstance(converter, attrs.Converter):
        return None
    return typing.cast("Callable[[Any], Any]", converter)


def _structure(target: type[Any] | None, text: str, *, variable: str) -> Any:
    if target is None or target is str:
        return text
    if target is bool:
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigurationError(
            f"{variable}={text!r} is not a yes/no value "
            "(1, true, yes, on or 0, false, no, off)"
        )
    try:
        return _converter.structure(text, target)
    except Exception as exc:  # noqa: BLE001 - cattrs wraps what it raises
        raise ConfigurationError(_refusal(variable, text, exc, target)) from None


def _refusal(
    variable: str, text: str, exc: BaseException, target: object = None
) -> str:
    if isinstance(target, type) and issubclass(target, enum.Enum):
        choices = ", ".join(str(member.value) for member in target)
        return f"{variable}={text!r} is not one of {choices}"
    if isinstance(target, type):
        return f"{variable}={text!r} is not a valid {target.__name__}"
    first = exc.args[0] if exc.args else type(exc).__name__
    return f"{variable}={text!r}: {first}"


def _scalar(annotation: object) -> type[Any] | None:
    """The type to convert text to: a scalar annotation, or one made
    optional with ``| None``; ``None`` for anything else, which the class
    gets as text."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is (
        typing.Union
    ):
        kinds = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(kinds) != 1:
            return None
        annotation = kinds[0]
    if annotation in {str, int, float, bool}:
        return typing.cast("type[Any]", annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return annotation
    return None
