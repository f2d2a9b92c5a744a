"""The configuration takes the concurrency as the command line gives it,
as text, and refuses one the transport cannot use when the connection is
saved, in a sentence naming the option."""

import pytest
from connector_core import DEFAULT_CONCURRENCY, Secret

from aiaudit_example import ExampleConfig


KEY = Secret("exk_live_0123456789")


def test_concurrency_defaults_and_reads_text() -> None:
    assert ExampleConfig(api_key=KEY).concurrency == DEFAULT_CONCURRENCY
    assert ExampleConfig(api_key=KEY, concurrency="8").concurrency == 8  # noqa: PLR2004


@pytest.mark.parametrize("value", ["0", "x", "65", "2.5", 2.5, True])
def test_a_concurrency_out_of_range_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="concurrency must be a whole number from 1"):
        ExampleConfig(api_key=KEY, concurrency=value)
