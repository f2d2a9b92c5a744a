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

    from connector_core.models import AICredentialValidation, ConnectionResult
    from connector_core.streams import StreamBatch, StreamInfo


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
    async def list_streams(self) -> list[StreamInfo]:
        self._unsupported("list_streams")

    @hookimpl
    async def read_stream(self, stream: str) -> AsyncIterator[StreamBatch]:
        self._unsupported("read_stream")
        yield  # type: ignore[unreachable]  # the yield makes this a generator

    @hookimpl
    async def validate_ai_credentials(self) -> AICredentialValidation:
        self._unsupported("validate_ai_credentials")
