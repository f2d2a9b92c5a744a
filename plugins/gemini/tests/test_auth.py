"""Service-account tokens against a token endpoint on loopback.

The endpoint here is this module's own, a few lines of aiohttp that verify
the assertion with google-auth as Google would (signature by ``kid``,
audience, lifetime) and answer the JWT bearer grant; an API route beside it
accepts only the tokens it issued. What is tested: the assertion's claims,
a token reused until shortly before it expires, a new one after, one new
token on a 401, refusals said with what to fix, and key files that cannot
be used refused without a word of what they hold.
"""

from __future__ import annotations

import functools
import json
import os
import time
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt

from aiaudit_gemini.auth import (
    ACCESS_DENIED,
    ASSERTION_LIFETIME,
    EXPIRY_MARGIN,
    JWT_GRANT,
    SCOPE,
    ReportsClient,
    ServiceAccountAuth,
    load_key,
)
from connector_core import (
    AuthenticationError,
    ConfigurationError,
    ConnectionPace,
    PermissionDeniedError,
    SchemaError,
    Secret,
)


SUBJECT = "reports-admin@acme.example"
KEY_ID = "4d0c7a0e1f2b3c4d5e6f708192a3b4c5d6e7f809"
CLIENT_EMAIL = "aiaudit-reader@acme-project.iam.gserviceaccount.com"
MARKER = "MARKER-OF-THE-KEY-FILE-CONTENT"


@functools.cache
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem() -> str:
    return (
        private_key()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def public_pem() -> str:
    return (
        private_key()
        .public_key()
        .public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode()
    )


def key_file(tmp_path, token_uri: str, **changes: Any) -> str:
    info = {
        "type": "service_account",
        "project_id": "acme-project",
        "private_key_id": KEY_ID,
        "private_key": pem(),
        "client_email": CLIENT_EMAIL,
        "client_id": "109876543210987654321",
        "token_uri": token_uri,
        **changes,
    }
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({k: v for k, v in info.items() if v is not None}))
    os.chmod(path, 0o600)  # noqa: PTH101
    return str(path)


class TokenServer:
    """A token endpoint and an API route that accepts its tokens."""

    def __init__(self) -> None:
        self.issued: list[str] = []
        self.revoked: set[str] = set()
        self.claims: list[dict[str, Any]] = []
        self.headers: list[dict[str, Any]] = []
        self.forms: list[dict[str, str]] = []
        self.scripted: list[tuple[int, dict[str, Any]]] = []
        self.expires_in: Any = 3599
        self.access_denied = False
        self.reject_all = False
        self.api_calls = 0
        self.url = ""

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    async def token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.forms.append({k: str(v) for k, v in form.items()})
        if self.scripted:
            status, body = self.scripted.pop(0)
            return web.json_response(body, status=status)
        if form.get("grant_type") != JWT_GRANT:
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        assertion = str(form.get("assertion", ""))
        try:
            # The tests move the reader's clock up to two hours ahead.
            claims = jwt.decode(
                assertion,
                certs={KEY_ID: public_pem()},
                audience=self.token_url,
                clock_skew_in_seconds=7200,
            )
        except ValueError as exc:
            return web.json_response(
                {"error": "invalid_grant", "error_description": str(exc)}, status=400
            )
        self.claims.append(claims)
        self.headers.append(jwt.decode_header(assertion))
        token = f"ya29.test-token-{len(self.issued)}"
        self.issued.append(token)
        return web.json_response(
            {
                "access_token": token,
                "expires_in": self.expires_in,
                "token_type": "Bearer",
            }
        )

    async def api(self, request: web.Request) -> web.Response:
        self.api_calls += 1
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.access_denied:
            return _google_error(401, ACCESS_DENIED, "authError")
        if self.reject_all or bearer not in self.issued or bearer in self.revoked:
            return _google_error(
                401, "Request had invalid authentication credentials.", "authError"
            )
        return web.json_response({"kind": "admin#reports#activities", "ok": True})


def _google_error(status: int, message: str, reason: str) -> web.Response:
    return web.json_response(
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason}],
            }
        },
        status=status,
    )


@pytest.fixture
async def server():
    state = TokenServer()
    app = web.Application()
    app.router.add_post("/token", state.token)
    app.router.add_get("/api", state.api)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()


class Clock:
    """Wall time, moved by hand: the endpoint checks the assertion's
    times against its own clock."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def no_sleep(_seconds: float) -> None:
    return None


def auth_for(server: TokenServer, tmp_path, **changes: Any) -> ServiceAccountAuth:
    return ServiceAccountAuth(
        key_file(tmp_path, server.token_url, **changes),
        SUBJECT,
        clock=Clock(),
        sleep=no_sleep,
    )


def client_for(auth: ServiceAccountAuth, server: TokenServer) -> ReportsClient:
    return ReportsClient(
        auth, base_url=server.url, timeout=10, pace=ConnectionPace(2, None)
    )


# -- the assertion and the exchange --------------------------------------------


async def test_the_assertion_names_the_account_the_admin_the_scope_and_the_endpoint(
    server, tmp_path
):
    auth = auth_for(server, tmp_path)
    token = await auth.token()
    assert isinstance(token, Secret)
    assert token.reveal() == server.issued[0]
    [claims], [header] = server.claims, server.headers
    assert claims["iss"] == CLIENT_EMAIL
    assert claims["sub"] == SUBJECT
    assert claims["scope"] == SCOPE
    assert claims["aud"] == server.token_url
    assert claims["exp"] - claims["iat"] == ASSERTION_LIFETIME
    assert header["kid"] == KEY_ID
    assert header["alg"] == "RS256"
    assert server.forms[0]["grant_type"] == JWT_GRANT


async def test_a_token_is_reused_until_shortly_before_it_expires(server, tmp_path):
    clock = Clock()
    auth = ServiceAccountAuth(
        key_file(tmp_path, server.token_url), SUBJECT, clock=clock, sleep=no_sleep
    )
    first = await auth.token()
    clock.now += 3599 - EXPIRY_MARGIN - 1
    assert await auth.token() == first
    assert auth.exchanges == 1
    clock.now += 1
    second = await auth.token()
    assert second != first
    assert auth.exchanges == 2


async def test_expires_in_sent_as_text_is_read(server, tmp_path):
    server.expires_in = "3599"
    clock = Clock()
    auth = ServiceAccountAuth(
        key_file(tmp_path, server.token_url), SUBJECT, clock=clock, sleep=no_sleep
    )
    first = await auth.token()
    clock.now += 3000
    assert await auth.token() == first


async def test_an_answer_without_a_token_is_a_schema_error(server, tmp_path):
    server.scripted.append((200, {"token_type": "Bearer", "expires_in": 3599}))
    with pytest.raises(SchemaError, match="no access_token"):
        await auth_for(server, tmp_path).token()


async def test_concurrent_readers_share_one_exchange(server, tmp_path):
    import asyncio  # noqa: PLC0415

    auth = auth_for(server, tmp_path)
    tokens = await asyncio.gather(*(auth.token() for _ in range(8)))
    assert len({t.reveal() for t in tokens}) == 1
    assert auth.exchanges == 1


# -- the API's 401 -------------------------------------------------------------


async def test_a_refused_token_is_replaced_once(server, tmp_path):
    auth = auth_for(server, tmp_path)
    async with client_for(auth, server) as client:
        assert (await client.get_json("/api"))["ok"] is True
        server.revoked.add(server.issued[-1])
        assert (await client.get_json("/api"))["ok"] is True
    assert auth.exchanges == 2
    assert server.api_calls == 3


async def test_a_second_401_is_final(server, tmp_path):
    server.reject_all = True
    auth = auth_for(server, tmp_path)
    async with client_for(auth, server) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.get_json("/api")
    assert caught.value.status == 401
    assert not isinstance(caught.value, PermissionDeniedError)
    assert auth.exchanges == 2
    assert server.api_calls == 2
    for token in server.issued:
        assert token not in str(caught.value)


async def test_access_denied_says_the_subject_needs_the_reports_privilege(
    server, tmp_path
):
    server.access_denied = True
    auth = auth_for(server, tmp_path)
    async with client_for(auth, server) as client:
        with pytest.raises(PermissionDeniedError) as caught:
            await client.get_json("/api")
    message = str(caught.value)
    assert ACCESS_DENIED in message
    assert SUBJECT in message
    assert "Reports privilege" in message
    assert auth.exchanges == 1, "no new token changes an administrator's role"
    assert server.api_calls == 1


# -- refusals at the token endpoint ---------------------------------------------


async def test_unauthorized_client_says_to_grant_domain_wide_delegation(
    server, tmp_path
):
    server.scripted.append(
        (
            401,
            {
                "error": "unauthorized_client",
                "error_description": "Client is unauthorized to retrieve access "
                "tokens using this method, or client not authorized for any of "
                "the scopes requested.",
            },
        )
    )
    with pytest.raises(AuthenticationError) as caught:
        await auth_for(server, tmp_path).token()
    message = str(caught.value)
    assert "unauthorized_client" in message
    assert "Domain Wide Delegation" in message
    assert SCOPE in message
    assert "109876543210987654321" in message, "the client id to grant"
    assert server.forms[0]["assertion"] not in message


async def test_invalid_grant_says_what_to_check(server, tmp_path):
    server.scripted.append(
        (
            400,
            {"error": "invalid_grant", "error_description": "Invalid email or User ID"},
        )
    )
    with pytest.raises(AuthenticationError) as caught:
        await auth_for(server, tmp_path).token()
    message = str(caught.value)
    assert caught.value.code == "invalid_grant"
    assert "Invalid email or User ID" in message
    assert SUBJECT in message
    assert "Reports privilege" in message
    assert "clock" in message


async def test_a_signature_the_endpoint_cannot_verify_is_invalid_grant(
    server, tmp_path
):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    foreign = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    auth = auth_for(server, tmp_path, private_key=foreign)
    with pytest.raises(AuthenticationError, match="invalid_grant"):
        await auth.token()
    assert foreign not in repr(auth)


async def test_a_temporary_failure_is_tried_again(server, tmp_path):
    server.scripted.append((400, {"error": "temporarily_unavailable"}))
    auth = auth_for(server, tmp_path)
    assert (await auth.token()).reveal() == server.issued[0]
    assert len(server.forms) == 2


# -- key files ------------------------------------------------------------------


def test_a_missing_key_file_is_named(tmp_path):
    path = str(tmp_path / "nowhere.json")
    with pytest.raises(ConfigurationError, match="no such file") as caught:
        load_key(path)
    assert path in str(caught.value)


def test_a_directory_is_no_key_file(tmp_path):
    with pytest.raises(ConfigurationError, match="is a directory"):
        load_key(str(tmp_path))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (f"not json {MARKER}", "is not a JSON key file"),
        (json.dumps({"type": "authorized_user", "refresh_token": MARKER}), "type"),
        (json.dumps([MARKER]), "is not a service-account key"),
        (
            json.dumps({"type": "service_account", "private_key": MARKER}),
            "lacks client_email, private_key_id, token_uri",
        ),
    ],
)
def test_a_file_that_is_no_key_is_refused_without_quoting_it(
    tmp_path, content, problem
):
    path = tmp_path / "key.json"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match=problem) as caught:
        load_key(str(path))
    assert str(path) in str(caught.value)
    assert MARKER not in str(caught.value)


def test_a_private_key_that_is_no_pem_is_refused_without_quoting_it(tmp_path):
    path = key_file(tmp_path, "https://oauth2.googleapis.com/token", private_key=MARKER)
    key = load_key(path)
    with pytest.raises(ConfigurationError, match="not a PEM RSA private key") as caught:
        key.signer()
    assert MARKER not in str(caught.value)


@pytest.mark.parametrize(
    "token_uri", ["http://oauth2.example/token", "ftp://127.0.0.1/token", "token"]
)
def test_a_token_uri_must_be_https_unless_loopback(tmp_path, token_uri):
    with pytest.raises(ConfigurationError, match="token_uri"):
        load_key(key_file(tmp_path, token_uri))


@pytest.mark.parametrize(
    "token_uri",
    ["http://127.0.0.1:8080/token", "http://localhost/token", "http://[::1]/t"],
)
def test_loopback_may_be_plain_http(tmp_path, token_uri):
    assert load_key(key_file(tmp_path, token_uri)).token_uri == token_uri


def test_the_private_key_shows_nowhere(tmp_path):
    path = key_file(tmp_path, "https://oauth2.googleapis.com/token")
    auth = ServiceAccountAuth(path, SUBJECT)
    key = auth.key
    body = pem().splitlines()[1]
    for text in (repr(key), str(key), repr(auth), repr(vars(auth))):
        assert body not in text
    assert body not in repr(auth.assertion())
