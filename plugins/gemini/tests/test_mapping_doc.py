"""docs/gemini-mapping.md lists every row of the event table, as the table
says it: a reviewer reads the page, the connector reads the table, and the two
must not drift apart."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

import aiaudit_gemini


TABLE = Path(aiaudit_gemini.__file__).parent / "event_map.toml"
DOC = Path(__file__).parents[3] / "docs" / "gemini-mapping.md"
ROW = re.compile(r"^\| `([^`]+)` \| `([^`]+)` \| `([a-z_]+)` \|", re.MULTILINE)


def _table() -> dict[tuple[str, str], tuple[str, str]]:
    data = tomllib.loads(TABLE.read_text())
    return {
        (application, native): (row["action"], row["activity"])
        for application, rows in data["applications"].items()
        for native, row in rows.items()
    }


def _documented() -> dict[tuple[str, str], tuple[str, str]]:
    if not DOC.exists():  # an installed plugin, away from the repository
        pytest.skip(f"{DOC} is not beside this checkout")
    found = {}
    for section in DOC.read_text().split("\n### `")[1:]:
        application = section.split("`", 1)[0]
        for native, action, activity in ROW.findall(section):
            found[(application, native)] = (action, activity)
    return found


def test_every_row_of_the_table_is_documented_as_it_is():
    assert _documented() == _table()
