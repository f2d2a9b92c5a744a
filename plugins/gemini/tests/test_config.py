"""The configuration: a key file's path (never the key), the administrator
acted as, the customer; options arrive as text and are refused in one
sentence when out of range; the environment is read under the names Google
and aiaudit give them."""

from __future__ import annotations

import pytest

from aiaudit_gemini import GeminiConfig, GeminiConnector
from aiaudit_gemini.config import DEFAULT_BASE_URL, DEFAULT_LAG_HOURS
from connector_core import ConfigurationError, Registry


VARIABLES = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "AIAUDIT_GEMINI_SUBJECT",
    "AIAUDIT_GEMINI_CUSTOMER_ID",
    "AIAUDIT_GEMINI_BASE_URL",
    "AIAUDIT_GEMINI_PAGE_SIZE",
    "AIAUDIT_GEMINI_CONCURRENCY",
    "AIAUDIT_GEMINI_RATE_LIMIT",
    "AIAUDIT_GEMINI_TIMEOUT",
    "AIAUDIT_GEMINI_LAG_HOURS",
)


def from_env(monkeypatch, **variables):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return Registry.load().create_from_env("gemini")


def test_the_defaults():
    config = GeminiConfig(
        credentials_file="/keys/sa.json", subject="admin@acme.example"
    )
    assert config.customer_id == "my_customer"
    assert config.base_url == DEFAULT_BASE_URL
    assert config.page_size == 1000
    assert config.lag_hours == DEFAULT_LAG_HOURS == 72
    assert config.rate_limit is None


def test_the_environment_names_every_option(monkeypatch):
    connector = from_env(
        monkeypatch,
        GOOGLE_APPLICATION_CREDENTIALS="/keys/sa.json",
        AIAUDIT_GEMINI_SUBJECT="reports-admin@acme.example",
        AIAUDIT_GEMINI_CUSTOMER_ID="C03az79cb",
        AIAUDIT_GEMINI_BASE_URL="http://127.0.0.1:9",
        AIAUDIT_GEMINI_PAGE_SIZE="7",
        AIAUDIT_GEMINI_CONCURRENCY="3",
        AIAUDIT_GEMINI_RATE_LIMIT="2.5",
        AIAUDIT_GEMINI_TIMEOUT="12",
        AIAUDIT_GEMINI_LAG_HOURS="24",
    )
    config = connector.config
    assert config == GeminiConfig(
        credentials_file="/keys/sa.json",
        subject="reports-admin@acme.example",
        customer_id="C03az79cb",
        base_url="http://127.0.0.1:9",
        page_size=7,
        concurrency=3,
        rate_limit=2.5,
        timeout=12,
        lag_hours=24,
    )


def test_without_a_subject_the_environment_says_which_variable(monkeypatch):
    with pytest.raises(ConfigurationError, match="AIAUDIT_GEMINI_SUBJECT"):
        from_env(monkeypatch, GOOGLE_APPLICATION_CREDENTIALS="/keys/sa.json")


def test_without_a_key_file_the_environment_says_which_variable(monkeypatch):
    with pytest.raises(ConfigurationError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        from_env(monkeypatch, AIAUDIT_GEMINI_SUBJECT="admin@acme.example")


def test_the_sandbox_shape_is_accepted_as_is():
    config = GeminiConfig(
        credentials_file="/tmp/keys/sa.json",  # noqa: S108 - a path, not a file
        subject="admin@acme-corp.example",
        customer_id="C01b2c3d4",
        base_url="http://127.0.0.1:8080",
        page_size=25,
        rate_limit=None,
    )
    assert config.page_size == 25


def test_the_configuration_holds_no_secret():
    """A connection stores the path; the key is read when a token is minted."""
    assert GeminiConnector.config_class is GeminiConfig
    registry = Registry.load()
    assert registry.spec("gemini").secret_fields == ()


@pytest.mark.parametrize("value", ["0", "1001", "x", "2.5", 2.5, True])
def test_a_page_size_out_of_range_is_refused(value):
    with pytest.raises(ValueError, match="page_size must be a whole number from 1 to"):
        GeminiConfig(credentials_file="k.json", subject="a@b.example", page_size=value)


@pytest.mark.parametrize("value", ["0", "-1", "nan", "721", "x", True])
def test_a_lag_out_of_range_is_refused(value):
    with pytest.raises(ValueError, match="lag_hours must be a number of hours"):
        GeminiConfig(credentials_file="k.json", subject="a@b.example", lag_hours=value)


@pytest.mark.parametrize("value", ["", "admin", "@acme.example", "admin@"])
def test_a_subject_that_is_no_email_is_refused(value):
    with pytest.raises(ValueError, match="subject"):
        GeminiConfig(credentials_file="k.json", subject=value)


@pytest.mark.parametrize("value", ["acme", "C", "C0 1", "customers/C01"])
def test_a_customer_that_is_no_id_is_refused(value):
    with pytest.raises(ValueError, match="customer_id must be my_customer"):
        GeminiConfig(
            credentials_file="k.json", subject="a@b.example", customer_id=value
        )


def test_a_blank_key_file_is_refused():
    with pytest.raises(ValueError, match="credentials_file must not be empty"):
        GeminiConfig(credentials_file="  ", subject="a@b.example")


def test_the_connector_declares_its_platform():
    assert GeminiConnector.platform == "gemini"
    assert GeminiConnector.display_name == "Gemini (Google Workspace)"
