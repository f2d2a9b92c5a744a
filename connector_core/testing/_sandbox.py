"""A plugin's sandbox, served from a thread of its own.

The suite checks that a cancelled read leaves no task behind by listing the
tasks of the event loop the connector runs on. A sandbox served on that same
loop would put its own connection handlers in the list; served from another
thread, with another loop, it keeps the connector's loop to the connector,
and a slow server handler can never hide a client bug either.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any, Final, TypeVar


if TYPE_CHECKING:
    from collections.abc import Coroutine
    from contextlib import AbstractAsyncContextManager
    from types import TracebackType

    from connector_core.sandbox import RunningSandbox, SandboxOptions, SandboxProvider


__all__ = ["SandboxThread"]

T = TypeVar("T")

_TIMEOUT: Final = 60.0


class SandboxThread:
    """Start *provider*'s sandbox on a loop in a background thread.

    Use it as a context manager; it hands back the :class:`RunningSandbox`.
    """

    def __init__(self, provider: SandboxProvider, options: SandboxOptions) -> None:
        self._provider = provider
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="aiaudit-sandbox", daemon=True
        )
        self._context: AbstractAsyncContextManager[RunningSandbox] | None = None

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(_TIMEOUT)

    def __enter__(self) -> RunningSandbox:
        self._thread.start()
        try:
            self._context = self._provider.start(self._options)
            return self._call(self._context.__aenter__())
        except BaseException:
            self._shutdown()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._context is not None:
                self._call(self._context.__aexit__(None, None, None))
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        if self._thread.is_alive():
            self._call(self._loop.shutdown_asyncgens())
            self._call(self._loop.shutdown_default_executor())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(_TIMEOUT)
        self._loop.close()
