"""The sandbox's token endpoint: the JWT bearer grant of a service account
with domain-wide delegation, each refusal in Google's words, and the key
files it hands out."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import OPTIONS, activities_path, assertion, exchange
from google.auth import transport
from google.oauth2 import service_account

from aiaudit_gemini.sandbox.data import AUDIT_SCOPE
from aiaudit_gemini.sandbox.server import GeminiSandbox
from aiaudit_gemini.sandbox.token import TOKEN_LIFETIME, UNAUTHORIZED_CLIENT


USAGE_SCOPE = "https://www.googleapis.com/auth/admin.reports.usage.readonly"


def signed(sandbox, key="reader", subject=None, **claims):
    return assertion(
        sandbox.key_file(key), subject or sandbox.domain.subject.email, **claims
    )


async def test_a_good_assertion_gets_a_token(client, sandbox):
    status, body = await exchange(client, sandbox, signed(sandbox))
    assert status == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == TOKEN_LIFETIME
    token = body["access_token"]
    assert token.startswith("ya29.")
    async with client.get(
        activities_path("login"),
        params={"maxResults": "1"},
        headers={"Authorization": f"Bearer {token}"},
    ) as r:
        assert r.status == 200
    assert sandbox.tokens.counts["issued"] == 1


NOW = int(time.time())


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        ({"aud": "https://login.example.com/token"}, "invalid_grant"),
        ({"iat": NOW - 7200, "exp": NOW - 3600}, "invalid_grant"),
        ({"iat": NOW, "exp": NOW + 3601}, "invalid_grant"),
        ({"iat": NOW + 600, "exp": NOW + 900}, "invalid_grant"),
        ({"iss": "someone@elsewhere.iam.gserviceaccount.com"}, "invalid_grant"),
        ({"scope": None}, "invalid_scope"),
        ({"exp": None}, "invalid_grant"),
        ({"iat": "yesterday"}, "invalid_grant"),
        ({"exp": [1]}, "invalid_grant"),
        ({"iat": float(NOW), "exp": NOW + 60.5}, "invalid_grant"),
    ],
    ids=[
        "audience", "expired", "too-long", "not-yet", "issuer", "no-scope",
        "no-exp", "text-iat", "list-exp", "float-times",
    ],
)  # fmt: skip
async def test_bad_claims_are_invalid_grants(client, sandbox, claims, error):
    status, body = await exchange(client, sandbox, signed(sandbox, **claims))
    assert status == 400
    assert body["error"] == error
    assert body["error_description"]
    assert sandbox.tokens.counts == {"issued": 0, "refused": 1}


async def test_googles_own_audience_is_accepted_too(client, sandbox):
    """google-auth always names Google's endpoint as the audience, whatever
    the key file's ``token_uri``; the real endpoint takes it, so does the
    sandbox's."""
    aud = "https://oauth2.googleapis.com/token"
    status, _ = await exchange(client, sandbox, signed(sandbox, aud=aud))
    assert status == 200


async def test_lifetime_is_at_most_an_hour(client, sandbox):
    now = int(time.time())
    status, _ = await exchange(
        client, sandbox, signed(sandbox, iat=now - 5, exp=now - 5 + 3600)
    )
    assert status == 200


@pytest.mark.parametrize("key", ["unknown"])
async def test_an_unknown_key_is_refused(client, sandbox, key):
    status, body = await exchange(client, sandbox, signed(sandbox, key))
    assert (status, body["error"]) == (400, "invalid_grant")
    assert body["error_description"] == "Invalid JWT Signature."


async def test_a_bad_signature_is_refused(client, sandbox):
    good = signed(sandbox)
    header, claims, signature = good.split(".")
    other = signed(sandbox, "undelegated").split(".")[2]
    for forged in (f"{header}.{claims}.{other}", f"{header}.{claims}.", "a.b.c", "x"):
        status, body = await exchange(client, sandbox, forged)
        assert (status, body["error"]) == (400, "invalid_grant"), forged
    assert signature not in json.dumps(body)


async def test_another_accounts_kid_does_not_verify(client, sandbox):
    path = Path(sandbox.key_file("undelegated"))
    undelegated = json.loads(await asyncio.to_thread(path.read_text))
    _, claims, signature = signed(sandbox).split(".")
    header = {"alg": "RS256", "typ": "JWT", "kid": undelegated["private_key_id"]}
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=")
    forged = f"{encoded.decode()}.{claims}.{signature}"
    status, body = await exchange(client, sandbox, forged)
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_an_account_without_delegation_is_unauthorized(client, sandbox):
    status, body = await exchange(client, sandbox, signed(sandbox, "undelegated"))
    assert status == 401
    assert body == {
        "error": "unauthorized_client",
        "error_description": UNAUTHORIZED_CLIENT,
    }


@pytest.mark.parametrize(
    "scope", [USAGE_SCOPE, f"{AUDIT_SCOPE} {USAGE_SCOPE}", "https://mail.google.com/"]
)
async def test_scopes_beyond_the_delegation_are_unauthorized(client, sandbox, scope):
    status, body = await exchange(client, sandbox, signed(sandbox, scope=scope))
    assert (status, body["error"]) == (401, "unauthorized_client")


async def test_the_subject_must_be_a_person_of_the_domain(client, sandbox):
    status, body = await exchange(
        client, sandbox, signed(sandbox, subject="ghost@acme-corp.example")
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    # A person who is no admin gets a token; the API is what refuses them.
    status, body = await exchange(
        client, sandbox, signed(sandbox, subject=sandbox.domain.restricted.email)
    )
    assert status == 200


async def test_the_form_is_checked(client, sandbox):
    bearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    unsupported = "unsupported_grant_type"
    for form, error in (
        ({"grant_type": "client_credentials", "assertion": "x"}, unsupported),
        ({"grant_type": bearer}, "invalid_request"),
        ({}, unsupported),
    ):
        async with client.post(sandbox.token_url, data=form) as r:
            body = await r.json()
        assert (r.status, body["error"]) == (400, error)


async def test_a_token_is_reused_and_expires(client, sandbox):
    _, first = await exchange(client, sandbox, signed(sandbox))
    again = signed(sandbox)
    _, second = await exchange(client, sandbox, again)
    assert first["access_token"] != second["access_token"]
    for body in (first, second, first):
        async with client.get(
            activities_path("token"),
            params={"maxResults": "2"},
            headers={"Authorization": f"Bearer {body['access_token']}"},
        ) as r:
            assert r.status == 200
    sandbox.tokens.expire_all()
    async with client.get(
        activities_path("token"),
        headers={"Authorization": f"Bearer {first['access_token']}"},
    ) as r:
        body = await r.json()
    assert r.status == 401
    assert first["access_token"] not in json.dumps(body)
    # A fresh assertion after expiry gets a working token again.
    _, third = await exchange(client, sandbox, signed(sandbox))
    async with client.get(
        activities_path("token"),
        params={"maxResults": "1"},
        headers={"Authorization": f"Bearer {third['access_token']}"},
    ) as r:
        assert r.status == 200


async def test_key_files_are_private_and_removed_at_stop():
    async with GeminiSandbox.run(OPTIONS) as sandbox:
        paths = [
            Path(sandbox.key_file(k)) for k in ("reader", "undelegated", "unknown")
        ]
        for path in paths:
            info = json.loads(path.read_text())
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert info["type"] == "service_account"
            assert info["token_uri"] == sandbox.token_url
            assert info["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
            assert {"client_email", "client_id", "private_key_id"} <= set(info)
        folder = paths[0].parent
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not folder.exists()


class _UrllibRequest(transport.Request):
    """google-auth's transport interface over the standard library, so that
    google-auth's own service-account flow runs against the sandbox."""

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **_):
        request = urllib.request.Request(  # noqa: S310 - a loopback URL
            url, data=body, headers=headers or {}, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout or 10) as answer:  # noqa: S310
                return _Response(answer.status, dict(answer.headers), answer.read())
        except urllib.error.HTTPError as exc:
            return _Response(exc.code, dict(exc.headers), exc.read())


class _Response(transport.Response):
    def __init__(self, status, headers, data):
        self._status, self._headers, self._data = status, headers, data

    @property
    def status(self):
        return self._status

    @property
    def headers(self):
        return self._headers

    @property
    def data(self):
        return self._data


async def test_google_auths_own_flow_gets_a_token(sandbox):
    credentials = service_account.Credentials.from_service_account_file(
        sandbox.key_file(), scopes=[AUDIT_SCOPE], subject=sandbox.domain.subject.email
    )
    await asyncio.to_thread(credentials.refresh, _UrllibRequest())
    assert credentials.token
    assert sandbox.tokens.lookup(credentials.token) is not None
    assert sandbox.tokens.lookup(credentials.token).subject == (
        sandbox.domain.subject.email
    )
