"""Fixtures for the shared rate budget's tests: a real Redis, keys of their own.

The server is ``AIAUDIT_TEST_REDIS_URL``, by default the local one. When it
cannot be reached the tests are skipped with the reason, unless
``AIAUDIT_REQUIRE_REDIS=1`` (as in CI), where a missing server must not pass
silently: they fail. Each test's keys carry a prefix of their own and are
deleted afterwards.
"""

from __future__ import annotations

import os
import secrets
from typing import NoReturn

import pytest

from connector_core import shared_budget
from connector_core.store._urls import mask_url


REDIS = os.environ.get("AIAUDIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
"""The test server's URL (no password by default)."""


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("AIAUDIT_REQUIRE_REDIS") == "1":
        pytest.fail(
            f"{reason}, and AIAUDIT_REQUIRE_REDIS=1 requires the Redis tests to"
            " run (set AIAUDIT_TEST_REDIS_URL to a server)",
            pytrace=False,
        )
    pytest.skip(reason)


def redis_or_skip() -> None:
    """Skip the calling test when Redis is unreachable; fail instead when
    ``AIAUDIT_REQUIRE_REDIS=1``."""
    try:
        import redis  # noqa: PLC0415 (an optional dependency)
    except ImportError:
        _unavailable("redis is not installed")
    problem = None
    try:
        client = redis.Redis.from_url(REDIS, socket_connect_timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError) as exc:
        problem = str(exc).strip().partition("\n")[0] or type(exc).__name__
    if problem is not None:  # outside the except: one message, no traceback
        _unavailable(f"Redis at {mask_url(REDIS)} is unreachable: {problem}")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test server's URL, once it is known to answer."""
    redis_or_skip()
    return REDIS


@pytest.fixture
def prefix(redis_url):
    """A key prefix for this test; every key under it is deleted after."""
    import redis  # noqa: PLC0415

    mine = f"aiaudit:test:{secrets.token_hex(6)}:"
    yield mine
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{mine}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(autouse=True)
def _no_configured_budget():
    """Each test starts with no shared budget configured, and leaves none."""
    saved = shared_budget._configured
    shared_budget._BUDGETS.clear()
    yield
    shared_budget._configured = saved
    shared_budget._BUDGETS.clear()
