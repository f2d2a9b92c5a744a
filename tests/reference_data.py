"""Where the tests find the shared reference data (specs, OCSF, examples).

The reference folder sits beside the checkout (``../shared/reference``) or
wherever ``AIAUDIT_REFERENCE_DIR`` points. The contract tests fail, rather
than skip, when it is missing: a contract that is never checked is no
contract.
"""

from __future__ import annotations

import os
from pathlib import Path


def reference_dir() -> Path:
    """The shared reference folder."""
    configured = os.environ.get("AIAUDIT_REFERENCE_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[1].parent / "shared" / "reference"


def reference_file(*parts: str) -> Path:
    """A file of the reference data, which must exist.

    Raises:
        FileNotFoundError: With where it was looked for and how to point
            the tests elsewhere.
    """
    path = reference_dir().joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(
            f"reference data {path} not found: put the shared reference folder "
            "beside the checkout or set AIAUDIT_REFERENCE_DIR"
        )
    return path
