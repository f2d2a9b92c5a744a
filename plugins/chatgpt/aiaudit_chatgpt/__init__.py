"""aiaudit's connector for ChatGPT Enterprise and the OpenAI organization.

Registered through the ``aiaudit`` entry-point group like any third-party
plugin, as platform ``chatgpt``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiaudit_chatgpt.config import ChatGPTComplianceAPIConfig
from aiaudit_chatgpt.connector import ChatGPTEnterpriseConnector
from connector_core import hookimpl


if TYPE_CHECKING:
    from collections.abc import Callable

    from connector_core.sandbox import SandboxProvider


__all__ = ["ChatGPTComplianceAPIConfig", "ChatGPTEnterpriseConnector"]


def _sandbox() -> SandboxProvider:
    # Imported on demand: the sandbox generates data and serves HTTP, which a
    # host that only reads real APIs never needs to load.
    from aiaudit_chatgpt.sandbox.server import SandboxProvider  # noqa: PLC0415

    return SandboxProvider()


@hookimpl
def aiaudit_register_connectors(register: Callable[..., None]) -> None:
    register(ChatGPTEnterpriseConnector, sandbox=_sandbox)
