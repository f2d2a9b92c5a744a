"""The sandbox's OAuth token endpoint: the JWT bearer grant of a service
account with domain-wide delegation, as Google's answers it.

``POST /token`` takes the form ``grant_type=urn:ietf:params:oauth:grant-type:
jwt-bearer&assertion=<jwt>`` and verifies the assertion with google-auth
against the public keys of the service accounts it knows, by the header's
``kid``: the signature, ``iss`` (the key's account), ``aud`` (this endpoint's
own URL, or Google's, which google-auth always names), ``iat``/``exp`` (not
expired, at most an hour apart), ``scope`` (the audit scope, and only scopes
the delegation grants) and ``sub`` (a person of the domain). It issues an
opaque access token, ``expires_in`` 3599, bound to the account and the
subject; the Reports API answers 401 to any token it did not issue or that
has expired.

Refusals are Google's: 400 ``invalid_grant`` for a bad signature, an
unknown key or account, bad claims or an unknown subject; 401
``unauthorized_client`` (the observed text) for an account the domain has
not granted delegation, or scopes beyond the grant.

Keys are RSA 2048, made with ``cryptography`` once per process (making them
is the slow part of starting), and written as service-account key files
(mode 0600) into a temporary folder that :meth:`KeyFolder.close` removes.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import google.auth.exceptions
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt

from aiaudit_gemini.sandbox.data import AUDIT_SCOPE, Domain, stable_id


if TYPE_CHECKING:
    from multidict import MultiMapping


__all__ = [
    "GRANT_TYPE",
    "TOKEN_LIFETIME",
    "TOKEN_PATH",
    "UNAUTHORIZED_CLIENT",
    "AccessToken",
    "KeyFolder",
    "ServiceAccount",
    "TokenEndpoint",
    "rsa_key",
]

TOKEN_PATH: Final = "/token"  # noqa: S105 - a path, not a secret
GRANT_TYPE: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI: Final = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
"""The real endpoint's URL: google-auth names it as the audience whatever
the key file's ``token_uri`` says, so the sandbox takes it beside its own."""
TOKEN_LIFETIME: Final = 3599
"""Seconds an access token lives, as Google's answers say."""
MAX_ASSERTION_LIFETIME: Final = 3600
UNAUTHORIZED_CLIENT: Final = (
    "Client is unauthorized to retrieve access tokens using this method, or "
    "client not authorized for any of the scopes requested."
)
_SHORT_LIVED: Final = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
    "reasonable timeframe. Check your iat and exp values in the JWT claim."
)
_CLOCK_SKEW: Final = 10
"""Seconds of difference between clocks tolerated for ``iat``."""


@functools.cache
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    """An RSA 2048 key per *name*, made once per process."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@attrs.frozen
class ServiceAccount:
    """A Google Cloud service account the sandbox knows.

    Attributes:
        delegated: Whether the domain granted it domain-wide delegation of
            :data:`~aiaudit_gemini.sandbox.data.AUDIT_SCOPE`.
        known: Whether the token endpoint knows its key; a key file of an
            unknown key is a credential the sandbox refuses.
    """

    name: str
    client_email: str
    client_id: str
    key_id: str
    delegated: bool = True
    known: bool = True

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        return rsa_key(self.name)

    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
            .decode()
        )

    def key_file(self, token_uri: str) -> dict[str, str]:
        """The JSON key file Google lets one download for the account."""
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        project = self.client_email.partition("@")[2].partition(".")[0]
        return {
            "type": "service_account",
            "project_id": project,
            "private_key_id": self.key_id,
            "private_key": pem,
            "client_email": self.client_email,
            "client_id": self.client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": (
                "https://www.googleapis.com/robot/v1/metadata/x509/"
                + self.client_email.replace("@", "%40")
            ),
            "universe_domain": "googleapis.com",
        }


def service_accounts(seed: int) -> dict[str, ServiceAccount]:
    """The reader (delegated), one without delegation, and one whose key the
    endpoint does not know (the same account, a key it never registered)."""
    project = "acme-audit-" + stable_id(seed, "project", 6, "0123456789")

    def account(name: str, user: str, **flags: bool) -> ServiceAccount:
        return ServiceAccount(
            name=name,
            client_email=f"{user}@{project}.iam.gserviceaccount.com",
            client_id=stable_id(seed, f"client-id-{user}", 21, "0123456789"),
            key_id=stable_id(seed, f"kid-{name}", 40, "0123456789abcdef"),
            **flags,
        )

    return {
        "reader": account("reader", "aiaudit-reader"),
        "undelegated": account("undelegated", "aiaudit-other", delegated=False),
        "unknown": account("unknown", "aiaudit-reader", known=False),
    }


class KeyFolder:
    """Key files in a private temporary folder, removed by :meth:`close`."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="aiaudit-gemini-keys-"))
        self.files: dict[str, Path] = {}

    def write(self, name: str, content: dict[str, str]) -> Path:
        path = self.path / f"{name}.json"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump(content, out, indent=2)
        self.files[name] = path
        return path

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


@attrs.define
class AccessToken:
    """What an access token stands for."""

    account: ServiceAccount
    subject: str | None
    scopes: frozenset[str]
    expires: float

    def expired(self) -> bool:
        return time.time() >= self.expires


class TokenError(Exception):
    """A refusal in the OAuth error shape."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def response(self) -> web.Response:
        body = {"error": self.error, "error_description": self.description}
        return web.json_response(body, status=self.status)


def _assertion(form: MultiMapping[Any]) -> str:
    grant = form.get("grant_type")
    if grant != GRANT_TYPE:
        shown = grant if isinstance(grant, str) else ""
        raise TokenError(400, "unsupported_grant_type", f"Invalid grant_type: {shown}")
    assertion = form.get("assertion")
    if not isinstance(assertion, str) or not assertion:
        raise TokenError(
            400, "invalid_request", "Missing required parameter: assertion"
        )
    return assertion


class TokenEndpoint:
    """Verifies assertions, issues access tokens, and tells the API which
    token stands for whom.

    Attributes:
        url: This endpoint's own URL: an audience an assertion may name
            (set once the server has its port).
        lifetime: Seconds a token issued now lives.
        counts: Tokens issued and assertions refused, for tests.
        held: Every secret a client of this endpoint comes to hold: each
            service account's private key (whole, and a line of it, which a
            leak would show even cut short) and each token issued, appended
            as issued. The conformance suite looks for them in logs, errors
            and reprs.
    """

    def __init__(self, domain: Domain, accounts: dict[str, ServiceAccount]) -> None:
        self.domain = domain
        self.accounts = accounts
        self.url = ""
        self.lifetime = TOKEN_LIFETIME
        self.tokens: dict[str, AccessToken] = {}
        self.counts: dict[str, int] = {"issued": 0, "refused": 0}
        self._by_kid = {a.key_id: a for a in accounts.values() if a.known}
        self.held: list[str] = []
        for account in accounts.values():
            pem = account.key_file("")["private_key"]
            self.held += [pem, pem.splitlines()[1]]

    def register(self, app: web.Application) -> None:
        app.router.add_post(TOKEN_PATH, self.token)

    def lookup(self, token: str) -> AccessToken | None:
        """The live token *token* names, or ``None``."""
        found = self.tokens.get(token)
        if found is None or found.expired():
            return None
        return found

    def expire_all(self) -> None:
        """End every token now, as an hour's passing would."""
        for token in self.tokens.values():
            token.expires = 0.0

    async def token(self, request: web.Request) -> web.Response:
        try:
            issued = self._issue(_assertion(await request.post()))
        except TokenError as exc:
            self.counts["refused"] += 1
            return exc.response()
        self.counts["issued"] += 1
        return web.json_response(
            {
                "access_token": issued,
                "expires_in": self.lifetime,
                "token_type": "Bearer",
            }
        )

    def _issue(self, assertion: str) -> str:
        account, claims = self._verify(assertion)
        requested = frozenset(str(claims.get("scope") or "").split())
        if not requested:
            raise TokenError(
                400,
                "invalid_scope",
                "Invalid OAuth scope or ID token audience provided.",
            )
        if not account.delegated or not requested <= {AUDIT_SCOPE}:
            raise TokenError(401, "unauthorized_client", UNAUTHORIZED_CLIENT)
        subject = claims.get("sub")
        if subject is not None:
            user = self.domain.user(str(subject).lower())
            if user is None:
                raise TokenError(400, "invalid_grant", "Invalid email or User ID")
            subject = user.email
        token = "ya29.c." + secrets.token_urlsafe(48)
        self.held.append(token)
        self.tokens[token] = AccessToken(
            account=account,
            subject=subject,
            scopes=requested,
            expires=time.time() + self.lifetime,
        )
        return token

    def _verify(self, assertion: str) -> tuple[ServiceAccount, dict[str, Any]]:
        try:
            header = jwt.decode_header(assertion)  # type: ignore[no-untyped-call]
        except (ValueError, TypeError, google.auth.exceptions.GoogleAuthError):
            raise TokenError(400, "invalid_grant", "Invalid JWT: malformed") from None
        account = self._by_kid.get(str(header.get("kid")))
        if account is None or header.get("alg") != "RS256":
            raise TokenError(400, "invalid_grant", "Invalid JWT Signature.")
        try:
            claims: dict[str, Any] = jwt.decode(  # type: ignore[no-untyped-call]
                assertion,
                certs={account.key_id: account.public_pem()},
                verify=True,
                audience=None,
                clock_skew_in_seconds=_CLOCK_SKEW,
            )
        except (ValueError, TypeError, google.auth.exceptions.GoogleAuthError) as exc:
            text = str(exc)
            if "expired" in text or "early" in text or "claim" in text:
                raise TokenError(400, "invalid_grant", _SHORT_LIVED) from None
            raise TokenError(400, "invalid_grant", "Invalid JWT Signature.") from None
        if claims.get("iss") != account.client_email:
            raise TokenError(400, "invalid_grant", "Invalid grant: account not found")
        if claims.get("aud") not in {self.url, GOOGLE_TOKEN_URI}:
            raise TokenError(
                400, "invalid_grant", f"Invalid JWT: audience must be {self.url}"
            )
        iat, exp = claims.get("iat"), claims.get("exp")
        if (
            not isinstance(iat, int)
            or not isinstance(exp, int)
            or exp <= iat
            or exp - iat > MAX_ASSERTION_LIFETIME
        ):
            raise TokenError(400, "invalid_grant", _SHORT_LIVED)
        return account, claims
