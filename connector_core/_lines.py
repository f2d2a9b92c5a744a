"""A download cut into lines, and held to a pace.

:meth:`~connector_core.http.HTTPTransport.stream_lines` reads exports of any
size in constant memory. What that takes is independent of sockets and
retries: cutting chunks into lines however they fall, refusing to buffer a
runaway line, and ending a download that trickles. It lives here so it can
be tested (and profiled) on bytes alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Final, Self

import aiohttp
import attrs

from connector_core._logging import get_logger
from connector_core._urls import display_url


if TYPE_CHECKING:
    from collections.abc import Callable

    from yarl import URL


__all__ = [
    "DEFAULT_MAX_LINE",
    "DEFAULT_STREAM_DEADLINE",
    "DEFAULT_STREAM_MIN_BYTES",
    "DEFAULT_STREAM_WINDOW",
    "LineSplitter",
    "OpenedLines",
    "OversizedLine",
    "Pace",
    "TooSlowError",
    "stream_failure",
]

# The transport's events, under the logger name hosts configure for it.
log = get_logger("connector_core.http")

_CR: Final = 13
DEFAULT_MAX_LINE: Final = 16 * 1024 * 1024
# A download may take an hour, and must move at least 1 KiB a minute (time
# spent waiting for the server only; see Pace).
DEFAULT_STREAM_DEADLINE: Final = 3600.0
DEFAULT_STREAM_MIN_BYTES: Final = 1024
DEFAULT_STREAM_WINDOW: Final = 60.0


class OversizedLine(bytes):
    """A line longer than the transport's ``max_line``, not held whole.

    :meth:`HTTPTransport.stream_lines` yields one in place of such a line:
    its bytes are the line's first :attr:`EVIDENCE` bytes (at most
    ``max_line``), enough to quarantine the record with evidence, and
    :attr:`size` is the full length in bytes without the line ending. The
    rest of the line was skipped as it arrived, so a 50 MB line costs about
    ``max_line`` of memory, and the lines after it still come. A reader
    tells it apart with ``isinstance``; parsing the prefix fails as it
    should, since it is cut.
    """

    EVIDENCE: ClassVar[int] = 64 * 1024
    size: int

    def __new__(cls, evidence: bytes, size: int) -> Self:
        line = super().__new__(cls, evidence)
        line.size = size
        return line

    def __repr__(self) -> str:
        return f"OversizedLine(size={self.size}, evidence={bytes(self[:40])!r}...)"


class LineSplitter:
    """Cuts a byte stream into lines however the chunks happen to fall.

    A line longer than *max_line* becomes an :class:`OversizedLine`: once
    the pending bytes pass the cap without a newline, only the evidence is
    kept and the rest is counted and dropped until the next newline. Lines
    are length-checked only when the buffered bytes exceed the cap, so the
    usual chunk of short lines costs one comparison in all.
    """

    __slots__ = ("_evidence", "_last_byte_cr", "_max_line", "_pending", "_skipped")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self._pending = bytearray()
        self._max_line = max_line
        # While a runaway line is being skipped: its evidence, and its
        # length so far (including a possible trailing \r, taken off at
        # its end).
        self._evidence: bytes | None = None
        self._skipped = 0
        self._last_byte_cr = False

    @property
    def buffered(self) -> int:
        """The bytes held while waiting for a line's end."""
        return len(self._pending) + len(self._evidence or b"")

    def feed(self, chunk: bytes) -> list[bytes]:
        lines: list[bytes] = []
        if self._evidence is not None:
            end = chunk.find(b"\n")
            if end == -1:
                if chunk:
                    self._skipped += len(chunk)
                    self._last_byte_cr = chunk.endswith(b"\r")
                return lines
            lines.append(self._end_skipped(chunk, end))
            chunk = chunk[end + 1 :]
        pending = self._pending
        max_line = self._max_line
        # The pending bytes hold no newline, so scanning resumes where they
        # end; rescanning them would make one huge line quadratic.
        scan_from = len(pending)
        pending += chunk
        start = 0
        end = pending.find(b"\n", scan_from)
        if len(pending) <= max_line:
            # No line in here can be too long: the loop as it was.
            while end != -1:
                lines.append(_strip_cr(bytes(pending[start:end])))
                start = end + 1
                end = pending.find(b"\n", start)
        else:
            while end != -1:
                if end - start > max_line:
                    lines.append(self._oversized(pending, start, end))
                else:
                    lines.append(_strip_cr(bytes(pending[start:end])))
                start = end + 1
                end = pending.find(b"\n", start)
        if start:
            del pending[:start]
        if len(pending) > max_line:
            self._evidence = bytes(pending[: min(OversizedLine.EVIDENCE, max_line)])
            self._skipped = len(pending)
            self._last_byte_cr = pending.endswith(b"\r")
            pending.clear()
        return lines

    def finish(self) -> bytes | None:
        """The last line, which need not end with a newline."""
        if self._evidence is not None:
            size = self._skipped - self._last_byte_cr
            oversized = OversizedLine(self._evidence, size)
            self._evidence = None
            return oversized
        if not self._pending:
            return None
        line = _strip_cr(bytes(self._pending))
        self._pending.clear()
        return line

    def _end_skipped(self, chunk: bytes, end: int) -> OversizedLine:
        size = self._skipped + end
        if (chunk[end - 1] == _CR) if end else self._last_byte_cr:
            size -= 1
        line = OversizedLine(self._evidence or b"", size)
        self._evidence = None
        self._skipped = 0
        return line

    def _oversized(self, pending: bytearray, start: int, end: int) -> OversizedLine:
        size = end - start
        if pending[end - 1] == _CR:
            size -= 1
        keep = min(OversizedLine.EVIDENCE, self._max_line)
        return OversizedLine(bytes(pending[start : start + keep]), size)


def _strip_cr(line: bytes) -> bytes:
    return line[:-1] if line.endswith(b"\r") else line


class Pace:
    """A download's total deadline and minimum transfer rate.

    A per-read timeout alone never ends a download that sends a byte just
    before each read would time out. Only time spent waiting for the server
    counts: the caller's time with a line (writing it to a store, say) is
    not the server's fault, and a slow caller leaves data buffered, so its
    next reads return at once. Checked once per chunk read, never per line.
    """

    __slots__ = (
        "_clock",
        "_deadline",
        "_min_bytes",
        "_resumed",
        "_waited",
        "_window",
        "_window_bytes",
        "_window_waited",
    )

    def __init__(
        self,
        clock: Callable[[], float],
        deadline: float | None,
        min_bytes: int,
        window: float,
    ) -> None:
        self._clock = clock
        self._deadline = deadline
        self._min_bytes = min_bytes
        self._window = window
        self._waited = 0.0
        self._window_waited = 0.0
        self._window_bytes = 0
        self._resumed = clock()

    def resume(self) -> None:
        """The caller is done with the lines of the last chunk; waiting
        for the server starts again."""
        self._resumed = self._clock()

    def check(self, size: int) -> None:
        """:meth:`received`, raising :class:`TooSlowError` when broken."""
        broken = self.received(size)
        if broken is not None:
            raise TooSlowError(broken)

    def received(self, size: int) -> str | None:
        """Account a chunk of *size* bytes; say what is broken, if anything."""
        waited = self._clock() - self._resumed
        self._waited += waited
        if self._deadline is not None and self._waited > self._deadline:
            return (
                f"the {self._deadline:g} s deadline passed "
                f"({self._waited:.1f} s spent waiting for data)"
            )
        self._window_waited += waited
        self._window_bytes += size
        if self._window_waited >= self._window:
            if self._window_bytes < self._min_bytes:
                return (
                    f"too slow: {self._window_bytes} bytes in "
                    f"{self._window_waited:.1f} s, below the minimum of "
                    f"{self._min_bytes} bytes per {self._window:g} s"
                )
            self._window_waited = 0.0
            self._window_bytes = 0
        return None


class TooSlowError(TimeoutError):
    """A download broke its deadline or its minimum transfer rate."""


@attrs.frozen
class OpenedLines:
    response: aiohttp.ClientResponse
    splitter: LineSplitter
    pace: Pace
    lines: list[bytes]
    at_eof: bool


def stream_failure(url: URL, handed_out: int, event: str, reason: str) -> str:
    """Log a download that failed after lines were handed out, and say so.

    Whether it broke or went too slow, the caller must hear how far it got
    and that it was not restarted: only the caller knows how to resume or
    deduplicate lines it already has. *reason* must hold no secret: text
    from outside is redacted first.
    """
    shown = display_url(url)
    log.warning(event, url=shown, lines=handed_out, reason=reason)
    return (
        f"GET {shown}: download stopped after {handed_out} lines, {reason}; "
        "not restarted, as lines already handed out would be repeated"
    )
