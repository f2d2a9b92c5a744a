"""The contract data the tests check against, kept in the repository.

The specification the core's contract tests use (the OCSF classes'
requirements) is restated, as the subset the tests need, in
``tests/contracts/``: the file names its public source and what was kept.
The compiled OCSF schema the OCSF validator reads is restated too, but ships
in the package (``connector_core.testing.ocsf.SCHEMA_FILE``) so that
plugins' tests have it. Each plugin keeps its platforms' API contracts with
its own tests. Nothing outside the checkout is read. A missing or broken
fixture fails the test that needs it, with the file it wanted; it never
skips, because a contract that is never checked is no contract.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any


CONTRACTS = Path(__file__).resolve().parent / "contracts"
"""The fixtures' folder; ``tests/contracts/README.md`` lists their sources."""

OCSF_CLASSES = "ocsf-classes.json"
"""The requirements ``validate_ocsf`` reads (from the same compiled schema)."""


class ContractDataError(AssertionError):
    """A fixture is missing or unreadable: the tests using it fail."""


@functools.cache
def contract(name: str) -> dict[str, Any]:
    """The fixture *name* (a file in ``tests/contracts``), parsed.

    Cached: callers must not change what they get (copy it first).

    Raises:
        ContractDataError: With the path, when the file is missing or is
            not a JSON object carrying its ``source``.
    """
    path = CONTRACTS / name
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        msg = (
            f"contract fixture {path} is missing: it belongs to the repository "
            "(restore it with git, or remake it with tests/contracts/restate.py)"
        )
        raise ContractDataError(msg) from None
    except ValueError as exc:
        msg = f"contract fixture {path} is not valid JSON: {exc}"
        raise ContractDataError(msg) from None
    if not isinstance(loaded, dict) or not isinstance(loaded.get("source"), dict):
        msg = f"contract fixture {path} has no 'source' header naming its origin"
        raise ContractDataError(msg)
    return loaded
