"""The sandbox's object-storage origin, where Compliance API downloads land.

``GET .../logs/{id}`` on the API host answers 307 to a signed URL here, as
the real API hands out presigned object-store URLs. Keeping the origin apart
from the API routes mirrors that split: the signature in the query is the
only credential here, and the failures a download can meet (a refused
signature, a cut-short or stalled body) belong to this origin, not the API.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import quote

import attrs
from aiohttp import web

from aiaudit_chatgpt.sandbox._web import (
    STALL_DOWNLOAD,
    STORAGE_PREFIX,
    TRUNCATE_DOWNLOAD,
)
from aiaudit_chatgpt.sandbox.faults import MAX_STALL_SECONDS
from aiaudit_chatgpt.sandbox.faults import stall as wait_for_hangup


if TYPE_CHECKING:
    from aiaudit_chatgpt.sandbox.compliance_data import ComplianceData


__all__ = ["UrlSigner", "storage_routes"]

_STREAM_CHUNK: Final = 64 * 1024


@attrs.frozen(kw_only=True)
class UrlSigner:
    """Signs and checks the download URLs of the storage origin.

    The download answer is a 307 to another origin, as object storage
    presigned URLs are; the signature in the query is the only credential
    there, which is what makes a client that forwards its bearer token fail.

    Attributes:
        secret: The HMAC key.
        ttl: Seconds a URL stays valid (the Compliance API documents 1 hour
            for file URLs).
        clock: The time source, replaceable so a test can expire a URL.
    """

    secret: bytes = attrs.field(repr=False)
    ttl: int = 3_600
    clock: Callable[[], float] = time.time

    def signature(self, log_id: str, expires: int) -> str:
        message = f"{log_id}\n{expires}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def url(self, base: str, log_id: str, *, expires: int | None = None) -> str:
        """The signed URL of *log_id* on the storage origin at *base*."""
        if expires is None:
            expires = int(self.clock()) + self.ttl
        return (
            f"{base.rstrip('/')}{STORAGE_PREFIX}/{quote(log_id, safe='')}.jsonl"
            f"?X-Signature={self.signature(log_id, expires)}&X-Expires={expires}"
        )

    def check(
        self, log_id: str, signature: str | None, expires: str | None
    ) -> Literal["ok", "missing", "bad", "expired"]:
        if not signature or not expires:
            return "missing"
        try:
            deadline = int(expires)
        except ValueError:
            return "bad"
        expected = self.signature(log_id, deadline).encode()
        # Bytes: compare_digest refuses non-ASCII str, and a query can hold any.
        if not hmac.compare_digest(signature.encode(), expected):
            return "bad"
        if deadline < self.clock():
            return "expired"
        return "ok"


def _storage_error(status: int, code: str, message: str) -> web.Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return web.Response(status=status, text=body, content_type="application/xml")


def storage_routes(data: ComplianceData) -> list[web.RouteDef]:
    """The routes of the object-storage origin the downloads redirect to.

    Like a presigned object-store URL, the query signature is the only
    credential; an ``Authorization`` header as well is a 400, which is what a
    client that keeps its bearer token across the redirect runs into.
    """

    async def download(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        log_id = name.removesuffix(".jsonl")
        refusal = _refuse_download(request, data, name, log_id)
        if refusal is not None:
            return refusal
        return await _send_file(request, data, log_id, name)

    return [web.get(f"{STORAGE_PREFIX}/{{name}}", download)]


def _refuse_download(
    request: web.Request, data: ComplianceData, name: str, log_id: str
) -> web.Response | None:
    """The object store's refusal of a download, or ``None`` to serve it."""
    if "Authorization" in request.headers:
        return _storage_error(
            400,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Signature query "
            "parameter or the Authorization header should be specified",
        )
    verdict = data.signer.check(
        log_id, request.query.get("X-Signature"), request.query.get("X-Expires")
    )
    if verdict == "missing":
        return _storage_error(
            403,
            "AccessDenied",
            "Query-string authentication requires the X-Signature and "
            "X-Expires parameters",
        )
    if verdict == "bad":
        return _storage_error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the "
            "signature you provided.",
        )
    if verdict == "expired":
        return _storage_error(403, "AccessDenied", "Request has expired")
    if log_id == name or data.log_file(log_id) is None:
        return _storage_error(404, "NoSuchKey", "The specified key does not exist.")
    return None


async def _drip(
    request: web.Request, response: web.StreamResponse, rest: bytes, interval: float
) -> None:
    """Send *rest* a byte every *interval* seconds, each in time for a
    per-read timeout, until the client hangs up or has it all."""
    for offset in range(len(rest)):
        if not await wait_for_hangup(request, interval):
            return
        try:
            await response.write(rest[offset : offset + 1])
        except ConnectionError:
            return
    await response.write_eof()


async def _send_file(
    request: web.Request, data: ComplianceData, log_id: str, name: str
) -> web.StreamResponse:
    """Stream a file's JSONL body in chunks, with its full length announced.

    Object stores announce the length, so a download cut short is an error
    the client sees, never a silently shorter file. The fault injector asks
    for exactly that cut through ``TRUNCATE_DOWNLOAD``.
    """
    size = data.file_size(log_id)
    slowed = request.get(STALL_DOWNLOAD)
    stall = slowed is not None
    truncate = stall or request.get(TRUNCATE_DOWNLOAD) is not None
    response = web.StreamResponse(
        headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
    response.content_type = "application/jsonl"
    response.content_length = size
    await response.prepare(request)
    budget = size // 2 if truncate else size
    chunk: list[bytes] = []
    buffered = 0
    for line in data.iter_file_chunks(log_id):
        chunk.append(line)
        buffered += len(line)
        if buffered >= min(_STREAM_CHUNK, budget):
            body = b"".join(chunk)[:budget]
            await response.write(body)
            budget -= len(body)
            chunk.clear()
            buffered = 0
            if budget == 0:
                break
    if slowed is not None and slowed.startswith("drip:"):
        rest = b"".join(data.iter_file_chunks(log_id))[size // 2 :]
        await _drip(request, response, rest, float(slowed.removeprefix("drip:")))
        request[STALL_DOWNLOAD] = "done"
        return response
    if stall:
        # Half the file is out; nothing more until the client gives up.
        await wait_for_hangup(request, MAX_STALL_SECONDS)
        request[STALL_DOWNLOAD] = "done"
        if request.transport is not None:
            request.transport.close()
        return response
    if truncate:
        request[TRUNCATE_DOWNLOAD] = "done"
        if request.transport is not None:
            # close(), unlike abort(), flushes what is buffered first.
            request.transport.close()
        return response
    if chunk:
        await response.write(b"".join(chunk))
    await response.write_eof()
    return response
