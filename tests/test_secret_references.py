"""A secret is saved as the name of the variable that holds it; a key typed
where that name belongs is never printed back.

A key such as ``exk_live_...`` is also a valid variable name, so the check
that the variable is set is the one that meets it: its message names the
variable only when it reads as one by convention (upper case, short).
"""

from __future__ import annotations

import subprocess

import pytest

from connector_core import Registry
from connector_core.connections import connection_from_options
from connector_core.exceptions import ParameterError
from connector_core.testing.processes import AIAUDIT, clean_env


KEY = "exk_live_Q2hhdEdQVGtleTEyMzQ1Njc4OTA"


@pytest.fixture(scope="module")
def spec():
    return Registry.load(environ={"AIAUDIT_PLUGINS": "example"}).spec("example")


def test_a_key_given_as_the_variable_is_not_echoed(spec):
    with pytest.raises(ParameterError) as caught:
        connection_from_options(
            spec,
            "x",
            options={"customer_id": "C01"},
            secrets={"api_key": KEY},
            environ={},
        )
    assert KEY not in str(caught.value)
    assert "api_key" in str(caught.value)
    assert "is not set" in str(caught.value)


def test_an_unset_variable_with_a_conventional_name_is_named(spec):
    with pytest.raises(ParameterError, match=r"\(EXAMPLE_API_KEY\) is not set"):
        connection_from_options(
            spec,
            "x",
            options={"customer_id": "C01"},
            secrets={"api_key": "EXAMPLE_API_KEY"},
            environ={},
        )


def test_the_command_does_not_print_the_key_either(tmp_path):
    result = subprocess.run(
        [str(AIAUDIT), "--store", f"sqlite:///{tmp_path / 'a.db'}",
         "connections", "add", "x", "--platform", "example",
         "--option", "customer_id=C01", "--secret", f"api_key={KEY}"],
        capture_output=True,
        text=True,
        env=clean_env(AIAUDIT_PLUGINS="example"),
        timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert KEY not in result.stdout + result.stderr
    assert "--secret" in result.stderr
