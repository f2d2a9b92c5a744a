"""Reading response bodies, and making sense of the ones that are not data.

Bodies come from the outside world: some are larger than anyone should
buffer, some are error envelopes in a handful of shapes, some are a proxy's
HTML page, and some are JSON that orjson refuses for one odd record. Each
of these is read or explained the same way whichever request met it.
"""

from __future__ import annotations

import json as stdlib_json
from typing import TYPE_CHECKING, Any, Final

import orjson


if TYPE_CHECKING:
    import aiohttp


__all__ = [
    "DEFAULT_MAX_BODY",
    "ERROR_BODY_LIMIT",
    "ERROR_PAGE_TYPES",
    "EXCERPT_CHARS",
    "UNDECODABLE",
    "decode_with_surrogates",
    "error_details",
    "excerpt",
    "read_bounded",
]

DEFAULT_MAX_BODY: Final = 64 * 1024 * 1024
_BODILESS: Final = frozenset({204, 304})
# An error body is read only to explain the error; a runaway one must not
# be buffered whole while a stream is being opened.
ERROR_BODY_LIMIT: Final = 64 * 1024
EXCERPT_CHARS: Final = 500
# What a line-oriented download (JSONL, CSV) never legitimately is.
ERROR_PAGE_TYPES: Final = frozenset({"text/html", "application/xhtml+xml"})


def excerpt(body: bytes, limit: int = EXCERPT_CHARS) -> str:
    return body[: limit * 4].decode("utf-8", "replace")[:limit].strip()


def error_details(body: bytes, reason: str | None) -> tuple[str, str | None]:
    """The message and machine-readable code of an error response.

    OpenAI-style APIs send ``{"error": {"message", "type", "param", "code"}}``;
    APIs whose errors carry no ``code`` key at all and name them only by
    ``type`` (``{"error": {"type": "rate_limit_error", "message"}}``) have
    that type as the code. Anything else (a proxy's HTML page, plain text)
    is summarised by its reason phrase and first characters so the error
    still says something.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = None
    if isinstance(document, dict):
        error = document.get("error")
        if isinstance(error, dict):
            message = error.get("message")
            code = error.get("code") if "code" in error else error.get("type")
            if isinstance(message, str) and message:
                return message, None if code is None else str(code)
        elif isinstance(error, str) and error:
            return error, None
    text = excerpt(body, 200)
    reason = reason or "error"
    return (f"{reason}: {text}" if text else reason), None


UNDECODABLE: Final = object()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_with_surrogates(raw: bytes, error: orjson.JSONDecodeError) -> Any:
    """Decode a body orjson refused only for a lone surrogate escape.

    ``"\\ud800"`` is valid JSON syntax but no valid Unicode, and orjson
    refuses it ("... surrogate in string"). One such record must not make
    the whole page undecodable, retried and finally fatal: the standard
    library accepts it (keeping the surrogate in the string), and the
    record is the store's and the normalizer's to quarantine. Anything else
    the standard library would accept beyond JSON (``NaN``) stays refused.
    Returns ``UNDECODABLE`` when the body really is not JSON.
    """
    if "surrogate" not in error.msg:
        return UNDECODABLE
    try:
        return stdlib_json.loads(raw, parse_constant=_reject_constant)
    except ValueError:
        return UNDECODABLE


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The whole body, or ``None`` if it is longer than *limit* bytes.

    A Content-Length over the limit is refused before reading anything;
    otherwise reading stops at the first byte past it. When Content-Length
    is known and the body is not compressed, aiohttp reads exactly that
    much, so the fast whole-body read is safe; a compressed or chunked body
    is counted as it is decoded.
    """
    if response.method == "HEAD" or response.status in _BODILESS:
        # Their Content-Length describes a body that is not sent.
        return await response.read()
    length = response.content_length
    if length is not None and length > limit:
        return None
    if length is not None and "Content-Encoding" not in response.headers:
        return await response.read()
    buffer = bytearray()
    async for chunk in response.content.iter_any():
        buffer += chunk
        if len(buffer) > limit:
            return None
    return bytes(buffer)
