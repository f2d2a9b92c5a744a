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


__all__ = ["ChatGPTComplianceAPIConfig", "ChatGPTEnterpriseConnector"]


@hookimpl
def aiaudit_register_connectors(register: Callable[..., None]) -> None:
    register(ChatGPTEnterpriseConnector)
