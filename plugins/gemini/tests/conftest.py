"""Fixtures: a seeded sandbox on loopback, and a plain client of it.

Tests talk HTTP to the sandbox, never to mocks. The Reports API serves only
the last 180 days before the wall clock, so the history ends at the start
of the current UTC day rather than on a fixed date: seed and size are
pinned, and what a test expects is computed from the sandbox's own domain.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest
from google.auth import crypt, jwt

from aiaudit_gemini import GeminiConfig, GeminiConnector
from aiaudit_gemini.sandbox.data import AUDIT_SCOPE
from aiaudit_gemini.sandbox.server import GeminiSandbox
from aiaudit_gemini.sandbox.token import GRANT_TYPE
from connector_core import (
    AIAuditLog,
    AIAuditLogQuery,
    QuarantinedRecord,
    SandboxOptions,
)


END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
OPTIONS = SandboxOptions(seed=11, events=2000, days=10, end=END)
APPLICATIONS = ("gemini_in_workspace_apps", "gemini_notebook", "token", "login")


def activities_path(application: str, user_key: str = "all") -> str:
    return f"/admin/reports/v1/activity/users/{user_key}/applications/{application}"


@pytest.fixture
async def sandbox():
    async with GeminiSandbox.run(OPTIONS) as running:
        yield running


@pytest.fixture
async def client(sandbox):
    """A plain HTTP session for talking to the sandbox as any client would."""
    async with aiohttp.ClientSession(base_url=sandbox.url) as session:
        yield session


def assertion(
    key_file: str,
    subject: str | None,
    *,
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A JWT bearer assertion signed with *key_file*'s key, as google-auth
    makes one; *claims* replace or (as ``None``) remove the defaults."""
    info = json.loads(Path(key_file).read_text(encoding="utf-8"))
    signer = crypt.RSASigner.from_service_account_info(info)
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": info["client_email"],
        "sub": subject,
        "scope": AUDIT_SCOPE,
        "aud": info["token_uri"],
        "iat": now,
        "exp": now + 3600,
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(
        signer, payload, header={"kid": info["private_key_id"], **(header or {})}
    ).decode()


async def exchange(
    client: aiohttp.ClientSession, sandbox: GeminiSandbox, signed: str
) -> tuple[int, dict[str, Any]]:
    """The token endpoint's status and body for *signed*."""
    form = {"grant_type": GRANT_TYPE, "assertion": signed}
    async with client.post(sandbox.token_url, data=form) as response:
        return response.status, await response.json()


async def mint(
    client: aiohttp.ClientSession,
    sandbox: GeminiSandbox,
    *,
    key: str = "reader",
    subject: str | None = None,
) -> str:
    """An access token of the sandbox's service account *key*."""
    signed = assertion(sandbox.key_file(key), subject or sandbox.domain.subject.email)
    status, body = await exchange(client, sandbox, signed)
    assert status == 200, body
    return str(body["access_token"])


@pytest.fixture
async def headers(client, sandbox) -> dict[str, str]:
    """The Reports admin's bearer header."""
    return {"Authorization": f"Bearer {await mint(client, sandbox)}"}


async def read_all(
    client: aiohttp.ClientSession,
    headers: dict[str, str],
    application: str,
    params: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Every page of a listing, as served."""
    pages: list[dict[str, Any]] = []
    query = dict(params or {})
    while True:
        async with client.get(
            activities_path(application), params=query, headers=headers
        ) as response:
            body = await response.json()
            assert response.status == 200, body
        pages.append(body)
        token = body.get("nextPageToken")
        if not token:
            return pages
        query["pageToken"] = token


# -- the connector against the sandbox -----------------------------------------


def connector(sandbox: GeminiSandbox, **changes: Any) -> GeminiConnector:
    """A connector configured as the sandbox says, with *changes*."""
    return GeminiConnector(GeminiConfig(**{**sandbox.config(), **changes}))


def whole_history(sandbox: GeminiSandbox, **changes: Any) -> AIAuditLogQuery:
    fields: dict[str, Any] = {
        "start_date": sandbox.domain.start,
        "end_date": sandbox.domain.end,
        **changes,
    }
    return AIAuditLogQuery(**fields)


@attrs.define
class Reading:
    """What one read of every stream returned."""

    logs: list[AIAuditLog] = attrs.Factory(list)
    quarantined: list[QuarantinedRecord] = attrs.Factory(list)
    checkpoints: dict[str, dict[str, Any]] = attrs.Factory(dict)

    @property
    def ids(self) -> list[str]:
        return [entry.id for entry in self.logs]


async def read(
    target: GeminiConnector,
    query: AIAuditLogQuery,
    checkpoints: dict[str, dict[str, Any]] | None = None,
    streams: tuple[str, ...] = APPLICATIONS,
) -> Reading:
    """Every stream read from its checkpoint in *checkpoints* (or from the
    query's start), keeping the last checkpoint of each."""
    found = Reading()
    for stream in streams:
        start = (checkpoints or {}).get(stream)
        batches = target.read_stream(stream, start, query)
        try:
            async for batch in batches:
                found.logs.extend(batch.logs)
                found.quarantined.extend(batch.quarantined)
                if batch.checkpoint is not None:
                    found.checkpoints[stream] = dict(batch.checkpoint)
        finally:
            await batches.aclose()
    return found
