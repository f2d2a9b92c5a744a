"""The configuration from the environment: the compliance key first, the
Admin key otherwise; options arrive as text and are refused in one sentence
when out of range; the key never shows in a repr."""

from __future__ import annotations

import pytest

from aiaudit_claude import ClaudeConfig, ClaudeConnector
from aiaudit_claude.config import ORGANIZATION_RATE_LIMIT
from connector_core import Registry, Secret


def from_env(monkeypatch, **variables):
    for name in (
        "ANTHROPIC_COMPLIANCE_KEY",
        "ANTHROPIC_ADMIN_KEY",
        "AIAUDIT_CLAUDE_BASE_URL",
        "AIAUDIT_CLAUDE_PAGE_SIZE",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    registry = Registry.load()
    return registry.create_from_env("claude")


def test_the_compliance_key_wins_over_the_admin_key(monkeypatch):
    connector = from_env(
        monkeypatch,
        ANTHROPIC_COMPLIANCE_KEY="sk-ant-api01-compliance",
        ANTHROPIC_ADMIN_KEY="sk-ant-admin01-admin",
        AIAUDIT_CLAUDE_PAGE_SIZE="5000",
    )
    config = connector.config
    assert config.api_key.reveal() == "sk-ant-api01-compliance"
    assert config.page_size == 5000
    assert config.rate_limit == ORGANIZATION_RATE_LIMIT
    assert "sk-ant-api01-compliance" not in repr(config)


def test_the_admin_key_alone_reads_the_feed(monkeypatch):
    connector = from_env(monkeypatch, ANTHROPIC_ADMIN_KEY="sk-ant-admin01-admin")
    assert connector.config.api_key.reveal() == "sk-ant-admin01-admin"


@pytest.mark.parametrize("value", ["0", "5001", "x", "2.5", 2.5, True])
def test_a_page_size_out_of_range_is_refused(value):
    with pytest.raises(ValueError, match="page_size must be a whole number from 1"):
        ClaudeConfig(api_key=Secret("k"), page_size=value)


def test_the_connector_declares_its_platform():
    assert ClaudeConnector.platform == "claude"
