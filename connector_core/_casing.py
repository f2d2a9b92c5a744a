"""The key map between snake_case and camelCase for free-form mappings.

Field names of the models are renamed by a table (see
:mod:`connector_core.serialization`); the keys of open mappings such as
``AIAuditLog.metadata`` are not known in advance, so they are renamed by a
rule, and the rule has to be exact in both directions or a record read back
from the camel form would not equal the one written. Kept apart from the
serializer because the models need it too: an extra key of the result
metadata may not land on a named key once renamed.

The rule:

* a *snake key* is lowercase ``[a-z0-9]`` segments joined by single
  underscores, each segment starting with a letter (``conversation_id``,
  ``gpt4o_model``); it becomes camelCase (``conversationId``);
* a *camel key* is what that produces: a lowercase start, then words that
  each start with one capital (``conversationId``, ``aBC``); it becomes
  snake_case;
* every other key is left as it is in both directions: single words
  (``model``), leading, trailing or doubled underscores (``_id``, ``a__b``),
  segments starting with a digit (``file_2``, which would come back as
  ``file2``), dots (``user.login``), capitals at the start, hyphens, spaces,
  anything non-ASCII.

Snake and camel keys are swapped, not merged: a key already in the target
style goes to the other one (``projectId`` in Python metadata is written
``project_id`` in the camel form). That keeps the map one-to-one, so two keys
that differ only in style never collide and every key round-trips; the price
is that a camelCase key written by a plugin reaches hosts in snake_case,
which is why metadata keys are written in snake_case.
"""

from __future__ import annotations

import re
from typing import Final


__all__ = ["camel_key", "snake_key"]

_SNAKE_KEY: Final = re.compile(r"[a-z][a-z0-9]*(?:_[a-z][a-z0-9]*)+")
_CAMEL_KEY: Final = re.compile(r"[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)+")
_CAPITAL: Final = re.compile(r"[A-Z]")


def _swap(key: str) -> str:
    if _SNAKE_KEY.fullmatch(key):
        head, *rest = key.split("_")
        return head + "".join(part[0].upper() + part[1:] for part in rest)
    if _CAMEL_KEY.fullmatch(key):
        return _CAPITAL.sub(lambda capital: "_" + capital[0].lower(), key)
    return key


def camel_key(key: str) -> str:
    """Return *key* as the camel form writes it (see the module's rule)."""
    return _swap(key)


def snake_key(key: str) -> str:
    """Return the key a camel-form *key* stands for; inverse of :func:`camel_key`.

    The swap is its own inverse, so this is the same function under the
    name that says which way the caller is going.
    """
    return _swap(key)
