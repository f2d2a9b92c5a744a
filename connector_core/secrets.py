"""A string that never shows itself.

API keys travel through configs, transports and exceptions. Wrapping them in
:class:`Secret` means an accidental ``repr``, f-string, log call or
``attrs``-generated repr prints a mask instead of the key; the only way to the
value is an explicit :meth:`Secret.reveal` at the point of use (building the
``Authorization`` header).
"""

from __future__ import annotations

from typing import Final

import attrs


__all__ = ["MASK", "Secret"]

MASK: Final = "**********"


@attrs.frozen(repr=False, eq=True)
class Secret:
    """A secret value, masked everywhere but :meth:`reveal`.

    Equality compares the values, so two configs with the same key are equal,
    but hashing is disabled: a secret is no dictionary key.
    """

    _value: str = attrs.field(validator=attrs.validators.instance_of(str))

    __hash__ = None  # type: ignore[assignment]

    def reveal(self) -> str:
        """Return the value; call this only where the value must go on the wire."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would write the key to disk or a queue in the clear.
        raise TypeError("Secret values cannot be pickled")
