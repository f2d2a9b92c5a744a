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

from pathlib import Path
from typing import Any

from connector_core.testing.contracts import ContractDataError, load_contract


CONTRACTS = Path(__file__).resolve().parent / "contracts"
"""The fixtures' folder; ``tests/contracts/README.md`` lists their sources."""

OCSF_CLASSES = "ocsf-classes.json"
"""The requirements ``validate_ocsf`` reads (from the same compiled schema)."""


def contract(name: str) -> dict[str, Any]:
    """The fixture *name* (a file in ``tests/contracts``), parsed and cached:
    copy it before changing it.

    Raises:
        ContractDataError: With the path, when the file is missing or is
            not a JSON object carrying its ``source``.
    """
    return load_contract(CONTRACTS / name, remake="tests/contracts/restate.py")


__all__ = ["CONTRACTS", "ContractDataError", "contract"]
