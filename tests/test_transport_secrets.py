"""Keys stay secret in every form, and never travel in clear.

A server's error body may echo the key as it received it: in a ``Basic``
header (base64), upper-cased, or URL-encoded. And a plain ``http://`` base
URL to a remote host would put the key on the wire unencrypted.
"""

from __future__ import annotations

import base64
from urllib.parse import quote, quote_plus

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from connector_core.exceptions import (
    AuthenticationError,
    ConfigurationError,
    redact,
)
from connector_core.http import HTTPTransport, RetryPolicy
from connector_core.secrets import Secret


KEY = "sk-proj-Ab9+Zx/Q_w-7~kLm"


def _forms(secret: str) -> dict[str, str]:
    raw = secret.encode()
    return {
        "plain": secret,
        "upper": secret.upper(),
        "lower": secret.lower(),
        "b64": base64.b64encode(raw).decode(),
        "b64 unpadded": base64.b64encode(raw).decode().rstrip("="),
        "b64 url": base64.urlsafe_b64encode(raw).decode(),
        "b64 url unpadded": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "basic user": base64.b64encode(raw + b":").decode(),
        "basic password": base64.b64encode(b":" + raw).decode(),
        "basic both": base64.b64encode(b"api:" + raw).decode(),
        "url": quote(secret, safe=""),
        "url lower": quote(secret, safe="").lower(),
        "url plus": quote_plus(secret),
    }


@pytest.mark.parametrize(("name", "form"), list(_forms(KEY).items()))
def test_redact_blanks_every_encoded_form(name, form):
    text = f"error: got {form!r} in header"

    redacted = redact(text, [KEY])

    assert form not in redacted, name
    assert "[REDACTED]" in redacted


def test_redact_leaves_ordinary_text_alone():
    text = "the request had no valid key; see the docs"
    assert redact(text, [KEY]) == text
    assert redact(text, ["short"]) == text


async def test_an_error_body_echoing_the_key_encoded_reveals_nothing():
    forms = _forms(KEY)

    async def whoami(request: web.Request) -> web.Response:
        echo = " | ".join(f"{name}={form}" for name, form in forms.items())
        return web.json_response(
            {"error": {"message": f"bad credentials: {echo}", "code": "bad_key"}},
            status=401,
        )

    app = web.Application()
    app.router.add_get("/v1/whoami", whoami)
    async with (
        TestServer(app, host="127.0.0.1") as server,
        HTTPTransport(
            str(server.make_url("/v1")),
            api_key=Secret(KEY),
            retry=RetryPolicy(max_attempts=1),
        ) as http,
    ):
        with capture_logs() as events, pytest.raises(AuthenticationError) as info:
            await http.get_json("/whoami")

    error = info.value
    texts = [str(error), repr(error), error.body, *map(str, events)]
    for name, form in forms.items():
        for text in texts:
            assert form not in text, (name, text)


# -- plain http ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "host"),
    [
        ("http://api.example.test/v1", "api.example.test"),
        ("http://10.0.0.5:8080", "10.0.0.5"),
        ("http://[2001:db8::1]/v1", "2001:db8::1"),
        ("http://localhost.example.test", "localhost.example.test"),
    ],
)
def test_plain_http_to_a_remote_host_with_a_key_is_refused(base, host, monkeypatch):
    monkeypatch.delenv("AIAUDIT_ALLOW_INSECURE_HTTP", raising=False)

    with pytest.raises(ConfigurationError, match="https") as info:
        HTTPTransport(base, api_key=Secret(KEY))

    assert host in str(info.value)
    assert KEY not in str(info.value)


def test_a_sensitive_default_header_counts_as_a_credential(monkeypatch):
    monkeypatch.delenv("AIAUDIT_ALLOW_INSECURE_HTTP", raising=False)

    with pytest.raises(ConfigurationError):
        HTTPTransport(
            "http://api.example.test",
            headers={"X-Token": "tok-123456789"},
            sensitive_headers=["x-token"],
        )
    with pytest.raises(ConfigurationError):
        HTTPTransport("http://api.example.test", headers={"Cookie": "s=abcdefgh"})


@pytest.mark.parametrize(
    "base",
    [
        "http://127.0.0.1:8080/v1",
        "http://127.8.9.10",
        "http://[::1]:9000",
        "http://localhost:8000",
        "http://LOCALHOST",
        "https://api.example.test/v1",
    ],
)
def test_loopback_and_https_are_allowed(base, monkeypatch):
    monkeypatch.delenv("AIAUDIT_ALLOW_INSECURE_HTTP", raising=False)
    HTTPTransport(base, api_key=Secret(KEY))


def test_plain_http_without_credentials_is_allowed(monkeypatch):
    monkeypatch.delenv("AIAUDIT_ALLOW_INSECURE_HTTP", raising=False)
    HTTPTransport("http://api.example.test", headers={"OpenAI-Organization": "o"})


def test_plain_http_can_be_allowed_explicitly(monkeypatch):
    monkeypatch.delenv("AIAUDIT_ALLOW_INSECURE_HTTP", raising=False)
    HTTPTransport(
        "http://api.example.test", api_key=Secret(KEY), allow_insecure_http=True
    )
    monkeypatch.setenv("AIAUDIT_ALLOW_INSECURE_HTTP", "1")
    HTTPTransport("http://api.example.test", api_key=Secret(KEY))
    monkeypatch.setenv("AIAUDIT_ALLOW_INSECURE_HTTP", "0")
    with pytest.raises(ConfigurationError):
        HTTPTransport("http://api.example.test", api_key=Secret(KEY))


@pytest.mark.parametrize(
    "base",
    [
        "https://admin:pa55-w0rd-XYZ@api.example.test/v1",
        "http://admin:pa55-w0rd-XYZ@127.0.0.1:8080",
        "https://pa55-w0rd-XYZ@api.example.test",
    ],
)
def test_a_base_url_with_user_info_is_refused_without_echoing_it(base):
    with pytest.raises(ConfigurationError, match="user") as info:
        HTTPTransport(base)

    assert "pa55-w0rd-XYZ" not in str(info.value)
    assert "pa55-w0rd-XYZ" not in repr(info.value)


def test_an_unusable_base_url_is_not_echoed():
    with pytest.raises(ConfigurationError) as info:
        HTTPTransport("ftp://admin:pa55-w0rd-XYZ@files.example.test")
    assert "pa55-w0rd-XYZ" not in str(info.value)
