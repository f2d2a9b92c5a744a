"""Contract fixtures: parts of public specifications restated as a project's
own test data, each naming its origin.

A connector's tests check its sandbox against the platform's published API
(an OpenAPI document, a schema), restated as the subset the tests need in a
JSON file that starts with a ``source`` object (the public document, its
version, its URL, what was kept). Nothing outside the repository is read.
A missing or broken fixture fails the test that needs it, naming the file;
it never skips, because a contract that is never checked is no contract.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any


if TYPE_CHECKING:
    from pathlib import Path


__all__ = ["ContractDataError", "load_contract"]


class ContractDataError(AssertionError):
    """A fixture is missing or unreadable: the tests using it fail."""


@functools.cache
def load_contract(path: Path, remake: str = "") -> dict[str, Any]:
    """The fixture at *path*, parsed; *remake* says how to make it again.

    Cached: callers must not change what they get (copy it first).

    Raises:
        ContractDataError: With the path, when the file is missing or is
            not a JSON object carrying its ``source``.
    """
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        how = f", or remake it with {remake}" if remake else ""
        msg = (
            f"contract fixture {path} is missing: it belongs to the repository "
            f"(restore it with git{how})"
        )
        raise ContractDataError(msg) from None
    except ValueError as exc:
        msg = f"contract fixture {path} is not valid JSON: {exc}"
        raise ContractDataError(msg) from None
    if not isinstance(loaded, dict) or not isinstance(loaded.get("source"), dict):
        msg = f"contract fixture {path} has no 'source' header naming its origin"
        raise ContractDataError(msg)
    return loaded
