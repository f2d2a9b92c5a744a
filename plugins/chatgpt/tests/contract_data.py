"""The contract data the tests check against, kept in the repository.

The specifications the plugin's contract tests use (the OpenAI Admin API and
the ChatGPT Enterprise Compliance API) are restated, as the subset the tests
need, in ``tests/contracts/``: each file names its public source and what
was kept. Nothing outside the checkout is read. A missing or broken
fixture fails the test that needs it, with the file it wanted; it never
skips, because a contract that is never checked is no contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connector_core.testing.contracts import ContractDataError, load_contract


CONTRACTS = Path(__file__).resolve().parent / "contracts"
"""The fixtures' folder; ``tests/contracts/README.md`` lists their sources."""

OPENAI_ADMIN = "openai-admin-api.json"
CHATGPT_COMPLIANCE = "chatgpt-compliance-api.json"


def contract(name: str) -> dict[str, Any]:
    """The fixture *name* (a file in ``tests/contracts``), parsed and cached:
    copy it before changing it.

    Raises:
        ContractDataError: With the path, when the file is missing or is
            not a JSON object carrying its ``source``.
    """
    return load_contract(
        CONTRACTS / name, remake="the repository's tests/contracts/restate.py"
    )


__all__ = ["CONTRACTS", "ContractDataError", "contract"]
