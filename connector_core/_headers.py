"""The headers a transport sends, and the ones that must never leave.

Credentials and identity headers go only on the request the connector
itself addressed to the base URL's origin; a redirect hop or another origin
gets none of them, and no error text repeats their values. Knowing which
headers those are, and what their secret values look like, is one concern,
kept apart from sending requests.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Final

from multidict import CIMultiDict

from connector_core.exceptions import redact


if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from connector_core.secrets import Secret


__all__ = ["USER_AGENT", "RequestHeaders"]


def _package_version() -> str:
    try:
        return metadata.version("aiaudit")
    except metadata.PackageNotFoundError:
        # Running from a source tree that was never installed.
        return "0"


USER_AGENT: Final = f"aiaudit/{_package_version()}"

_ALWAYS_SENSITIVE: Final = ("Authorization", "Proxy-Authorization", "Cookie")


class RequestHeaders:
    """One transport's default headers, its key, and what is private.

    Sensitive headers are credentials: redacted from errors and refused
    over plain http. Private ones (the sensitive ones and every default
    header, ``User-Agent`` aside) go on no redirect hop and to no other
    origin.
    """

    __slots__ = ("_api_key", "_default", "_private", "_sensitive")

    def __init__(
        self,
        api_key: Secret | None,
        headers: Mapping[str, str] | None,
        sensitive_headers: Iterable[str],
    ) -> None:
        self._api_key = api_key
        self._default = CIMultiDict(headers or {})
        self._sensitive = (*_ALWAYS_SENSITIVE, *sensitive_headers)
        # What no redirect hop and no other origin may see: credentials and
        # the caller's identity headers. User-Agent is no identity.
        private = {name.lower() for name in self._sensitive}
        private.update(name.lower() for name in self._default)
        private.discard("user-agent")
        self._private = tuple(sorted(private))

    @property
    def sends_credentials(self) -> bool:
        """Whether requests carry a key or a header named sensitive."""
        return self._api_key is not None or any(
            name in self._default for name in self._sensitive
        )

    def for_request(
        self, extra: Mapping[str, str] | None, *, json_body: bool
    ) -> CIMultiDict[str]:
        """The headers of a request the connector addresses itself."""
        headers = CIMultiDict({"User-Agent": USER_AGENT})
        headers.update(self._default)
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.reveal()}"
        if json_body:
            headers["Content-Type"] = "application/json"
        if extra:
            headers.update(extra)
        return headers

    def without_private(self, headers: CIMultiDict[str]) -> CIMultiDict[str]:
        stripped = headers.copy()
        for name in self._private:
            stripped.popall(name, None)
        return stripped

    def secret_values(self) -> list[str]:
        # Revealed only to be searched for and blanked out of error text.
        values = [self._api_key.reveal()] if self._api_key is not None else []
        for name in self._sensitive:
            values.extend(self._default.getall(name, []))
        return values

    def redact(self, text: str) -> str:
        return redact(text, self.secret_values())
