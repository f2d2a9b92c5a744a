"""The ChatGPT Enterprise connector (skeleton).

The class is registered and configurable today; its operations report that
they are not supported until the Admin API and Compliance API readers land.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, NoReturn

from aiaudit_chatgpt.config import ChatGPTComplianceAPIConfig
from connector_core import hookimpl
from connector_core.exceptions import NotSupportedError


if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import aiohttp

    from connector_core.models import (
        AIAuditLog,
        AIAuditLogQuery,
        AIAuditLogResult,
        AICredentialValidation,
        ConnectionResult,
    )


__all__ = ["ChatGPTEnterpriseConnector"]


class ChatGPTEnterpriseConnector:
    """Reads a ChatGPT Enterprise workspace and its OpenAI organization."""

    platform: ClassVar[str] = "chatgpt"
    display_name: ClassVar[str] = "ChatGPT Enterprise"
    config_class: ClassVar[type[ChatGPTComplianceAPIConfig]] = (
        ChatGPTComplianceAPIConfig
    )

    def __init__(
        self,
        config: ChatGPTComplianceAPIConfig,
        *,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.config = config
        self._session = session

    def _unsupported(self, operation: str) -> NoReturn:
        raise NotSupportedError(self.platform, operation)

    @hookimpl
    async def authenticate(self) -> ConnectionResult:
        self._unsupported("authenticate")

    @hookimpl
    async def get_ai_audit_logs(self, query: AIAuditLogQuery) -> AIAuditLogResult:
        self._unsupported("get_ai_audit_logs")

    @hookimpl
    async def stream_ai_audit_logs(
        self, query: AIAuditLogQuery
    ) -> AsyncIterator[AIAuditLog]:
        self._unsupported("stream_ai_audit_logs")
        yield  # type: ignore[unreachable]  # the yield makes this a generator

    @hookimpl
    async def validate_ai_credentials(self) -> AICredentialValidation:
        self._unsupported("validate_ai_credentials")
