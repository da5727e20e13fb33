"""Google sign-in state: the signing key, one-time codes, access tokens and ID tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

CODE_LIFETIME_SECONDS = 600
TOKEN_LIFETIME_SECONDS = 3599


class OAuthError(Exception):
    """An OAuth error answered as JSON ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass
class Grant:
    """What an authorization code stands for."""

    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    claims: dict[str, Any]
    issued_at: float = field(default_factory=time.time)


def subject_for(email: str) -> str:
    """Return a stable 21-digit Google-style ``sub`` for an email address."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return "1" + str(int(digest, 16) % 10**20).zfill(20)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    """Check a PKCE ``code_verifier`` against the stored challenge (RFC 7636)."""
    if method == "S256":
        verifier = _b64url(hashlib.sha256(verifier.encode()).digest())
    return hmac.compare_digest(verifier, challenge)


class OidcProvider:
    """The client registration plus the codes and tokens the provider has issued."""

    def __init__(self, client_id: str, client_secret: str, redirect_uris: list[str]) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = list(redirect_uris)
        self.key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)
        self._lock = threading.Lock()
        self._codes: dict[str, Grant] = {}
        self._access_tokens: dict[str, tuple[dict[str, Any], float]] = {}

    def jwks(self) -> dict[str, Any]:
        """Return the public signing keys as a JWK Set."""
        return {"keys": [self.key.as_dict(private=False)]}

    def reset(self) -> None:
        """Forget issued codes and tokens."""
        with self._lock:
            self._codes.clear()
            self._access_tokens.clear()

    def client_known(self, client_id: str | None) -> bool:
        """Return whether ``client_id`` is the registered client."""
        return client_id == self.client_id

    def client_authenticates(self, client_id: str | None, client_secret: str | None) -> bool:
        """Return whether the client id and secret both match the registration."""
        return self.client_known(client_id) and hmac.compare_digest(
            (client_secret or "").encode(), self.client_secret.encode()
        )

    def redirect_uri_allowed(self, redirect_uri: str | None) -> bool:
        """Return whether ``redirect_uri`` exactly matches a registered one."""
        return bool(redirect_uri) and redirect_uri in self.redirect_uris

    def issue_code(self, grant: Grant) -> str:
        """Store ``grant`` under a fresh one-time authorization code."""
        code = "4/0" + secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = grant
        return code

    def redeem(self, code: str, client_id: str, redirect_uri: str | None, verifier: str | None) -> Grant:
        """Consume a code, checking its client, redirect URI and PKCE verifier."""
        with self._lock:
            # One use only: a failed exchange burns the code too.
            grant = self._codes.pop(code, None)
        if grant is None or time.time() - grant.issued_at > CODE_LIFETIME_SECONDS:
            raise OAuthError("invalid_grant", "Bad Request")
        if grant.client_id != client_id:
            raise OAuthError("invalid_grant", "Bad Request")
        if redirect_uri != grant.redirect_uri:
            raise OAuthError("redirect_uri_mismatch", "Bad Request")
        if grant.code_challenge:
            if not verifier:
                raise OAuthError("invalid_grant", "Missing code verifier.")
            method = grant.code_challenge_method or "plain"
            if not pkce_matches(verifier, grant.code_challenge, method):
                raise OAuthError("invalid_grant", "Invalid code verifier.")
        return grant

    def tokens(self, grant: Grant, issuer: str) -> dict[str, Any]:
        """Return the token response: access token plus a signed RS256 ``id_token``."""
        access_token = "ya29." + secrets.token_urlsafe(48)
        with self._lock:
            self._access_tokens[access_token] = (grant.claims, time.time() + TOKEN_LIFETIME_SECONDS)
        now = int(time.time())
        claims = {
            "iss": issuer,
            "azp": grant.client_id,
            "aud": grant.client_id,
            "sub": grant.claims["sub"],
            "email": grant.claims["email"],
            "email_verified": grant.claims["email_verified"],
            "at_hash": _b64url(hashlib.sha256(access_token.encode()).digest()[:16]),
            "name": grant.claims["name"],
            "picture": grant.claims["picture"],
            "given_name": grant.claims["given_name"],
            "family_name": grant.claims["family_name"],
            "iat": now,
            "exp": now + TOKEN_LIFETIME_SECONDS + 1,
        }
        if grant.nonce:
            claims["nonce"] = grant.nonce
        header = {"alg": "RS256", "kid": self.key.kid, "typ": "JWT"}
        return {
            "access_token": access_token,
            "expires_in": TOKEN_LIFETIME_SECONDS,
            "scope": grant.scope,
            "token_type": "Bearer",
            "id_token": jwt.encode(header, claims, self.key),
        }

    def userinfo(self, access_token: str) -> dict[str, Any] | None:
        """Return the claims for a live access token, else None."""
        with self._lock:
            entry = self._access_tokens.get(access_token)
        if entry is None or entry[1] < time.time():
            return None
        return dict(entry[0])
