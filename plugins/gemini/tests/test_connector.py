"""The connector as a host meets it, against the sandbox: its streams, its
answers about credentials (good, refused, undelegated, an administrator
without the Reports privilege), one token for a whole read and one new
token when the API stops taking it, and neither the private key nor a
token in a log line, an error or a repr."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from conftest import APPLICATIONS, connector, read, whole_history

from aiaudit_gemini.auth import SCOPE
from connector_core import (
    AuthenticationError,
    NotSupportedError,
    PermissionDeniedError,
    Registry,
    StreamKind,
)
from connector_core.testing._resources import capture_logs


async def test_one_stream_per_application_with_the_lag(sandbox):
    streams = await connector(sandbox, lag_hours=24).list_streams()
    assert tuple(s.name for s in streams) == APPLICATIONS
    for stream in streams:
        assert stream.kind is StreamKind.WINDOWED
        assert stream.publication_lag.total_seconds() == 24 * 3600
        assert stream.actions
    assert "app.authorized" in streams[2].actions


async def test_an_unknown_stream_is_not_supported(sandbox):
    batches = connector(sandbox).read_stream("drive", None, whole_history(sandbox))
    with pytest.raises(NotSupportedError):
        await anext(batches)


async def test_the_sandbox_credentials_are_valid(sandbox):
    validation = await connector(sandbox).validate_ai_credentials()
    assert validation.is_valid
    assert validation.has_required_permissions
    assert validation.platform == "gemini"


async def test_an_administrator_without_reports_lacks_the_audit_scope(sandbox):
    target = connector(sandbox, subject=sandbox.domain.restricted.email)
    validation = await target.validate_ai_credentials()
    assert validation.is_valid
    assert not validation.has_required_permissions
    assert validation.missing_permissions == (SCOPE,)
    assert "Reports privilege" in validation.errors[0]
    with pytest.raises(PermissionDeniedError, match="Access denied"):
        await read(target, whole_history(sandbox), streams=("login",))


async def test_a_key_the_endpoint_does_not_know_is_invalid(sandbox):
    validation = await connector(
        sandbox, credentials_file=sandbox.key_file("unknown")
    ).validate_ai_credentials()
    assert not validation.is_valid
    assert "invalid_grant" in validation.errors[0]


async def test_an_undelegated_account_is_told_to_grant_delegation(sandbox):
    target = connector(sandbox, credentials_file=sandbox.key_file("undelegated"))
    validation = await target.validate_ai_credentials()
    assert not validation.is_valid
    assert "Domain Wide Delegation" in validation.errors[0]
    with pytest.raises(AuthenticationError, match="unauthorized_client"):
        await read(target, whole_history(sandbox), streams=("token",))


async def test_a_missing_key_file_is_invalid_and_named(sandbox, tmp_path):
    path = str(tmp_path / "gone.json")
    validation = await connector(
        sandbox, credentials_file=path
    ).validate_ai_credentials()
    assert not validation.is_valid
    assert path in validation.errors[0]


async def test_a_whole_read_mints_one_token(sandbox):
    before = sandbox.tokens.counts["issued"]
    await read(connector(sandbox, page_size=50), whole_history(sandbox))
    assert sandbox.tokens.counts["issued"] - before == 1


async def test_an_expired_token_is_replaced_once(sandbox):
    target = connector(sandbox)
    first = await read(target, whole_history(sandbox), streams=("login",))
    sandbox.tokens.expire_all()
    again = await read(target, whole_history(sandbox), streams=("login",))
    assert sorted(again.ids) == sorted(first.ids)
    assert sandbox.tokens.counts["issued"] == 2


def _secrets(sandbox) -> list[str]:
    """The reader key's PEM lines and every token the sandbox issued."""
    info = json.loads(Path(sandbox.key_file()).read_text(encoding="utf-8"))
    lines = [line for line in info["private_key"].splitlines() if "-----" not in line]
    return [*lines, *sandbox.tokens.tokens]


async def test_no_key_or_token_in_logs_errors_or_reprs(sandbox):
    configs = [
        sandbox.config(),
        sandbox.config(key="unknown"),
        sandbox.config(key="undelegated"),
        sandbox.config(subject=sandbox.domain.restricted.email),
    ]
    texts: list[str] = []
    registry = Registry.load()
    with capture_logs() as captured:
        for config in configs:
            async with registry.create("gemini", config) as handle:
                texts.append(repr(await handle.authenticate()))
                texts.append(repr(await handle.validate_ai_credentials()))
                texts.append(repr(await handle.validate_permissions()))
                try:
                    page = await handle.get_ai_audit_logs(
                        whole_history(sandbox, limit=25)
                    )
                    texts.append(repr(page.metadata))
                except Exception as exc:  # noqa: BLE001 - its text is checked
                    texts.extend([str(exc), repr(exc)])
                texts.append(repr(handle))
                texts.append(repr(vars(handle.instance)))
    texts.extend(text for _, text in captured.texts())
    secrets = _secrets(sandbox)
    assert sandbox.tokens.tokens, "tokens were issued"
    for text in texts:
        for secret in secrets:
            assert secret not in text


async def test_a_connector_closes_what_it_opened(sandbox):
    target = connector(sandbox)
    async with contextlib.aclosing(
        target.read_stream("login", None, whole_history(sandbox))
    ) as batches:
        async for _batch in batches:
            break
