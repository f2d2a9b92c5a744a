"""Fixtures for the ChatGPT connector's tests: the sandbox and a connector."""

from __future__ import annotations

import aiohttp
import pytest
from chatgpt_history import DAYS, END
from reading import RequestLog

from aiaudit_chatgpt.sandbox.server import ChatGPTSandbox
from connector_core import Registry
from connector_core.sandbox import SandboxOptions


@pytest.fixture
def sandbox_options() -> SandboxOptions:
    return SandboxOptions(seed=42, events=3_000, days=DAYS, end=END)


@pytest.fixture
async def sandbox(sandbox_options):
    async with ChatGPTSandbox.run(sandbox_options) as running:
        yield running


@pytest.fixture
def registry() -> Registry:
    return Registry.load(environ={"AIAUDIT_PLUGINS": "chatgpt"})


@pytest.fixture
def requests() -> RequestLog:
    return RequestLog()


@pytest.fixture
async def session(requests):
    async with aiohttp.ClientSession(trace_configs=[requests.trace]) as shared:
        yield shared


@pytest.fixture
async def connector(registry, sandbox, session):
    async with registry.create(
        "chatgpt", sandbox.connector_config(), session=session
    ) as conn:
        yield conn
