"""Fixtures for the sandbox's tests: a running sandbox with pinned data."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
import pytest

from aiaudit_chatgpt.sandbox.server import ChatGPTSandbox
from connector_core.sandbox import SandboxOptions


END = datetime(2025, 3, 1, tzinfo=UTC)
"""History ends here in every sandbox test, so the data never moves."""


@pytest.fixture
def sandbox_options() -> SandboxOptions:
    return SandboxOptions(seed=42, events=3_000, days=21, end=END)


@pytest.fixture
async def sandbox(sandbox_options):
    async with ChatGPTSandbox.run(sandbox_options) as running:
        yield running


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session
