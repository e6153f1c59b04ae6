"""A fake OAuth 2.1 authorization server that mints real signed JWT access tokens.

It is what an MCP client and storelink's resource-server checks are tested against: RFC 8414
metadata, a JWKS, and a token endpoint for the ``client_credentials``, ``refresh_token`` and
``authorization_code`` (PKCE S256, auto-approved at ``/authorize``) grants. Access tokens are
RS256 JWTs with ``iss``, ``aud`` (the RFC 8707 ``resource`` asked for), ``exp``, ``scope``,
``client_id`` and ``sub``. Refresh tokens rotate on use.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from storelink.fakes.base import FakeUpstream
from storelink.fakes.faults import FaultPlan

__all__ = ["FakeAuthorizationServer"]

DEFAULT_CLIENTS = {"storelink-agent": "agent-secret"}


class FakeAuthorizationServer(FakeUpstream):
    name: ClassVar[str] = "oauth"

    def __init__(
        self,
        *,
        issuer: str | None = None,
        clients: dict[str, str] | None = None,
        access_token_lifetime_s: int = 3600,
        clock: Callable[[], float] = time.time,
        faults: FaultPlan | None = None,
    ) -> None:
        super().__init__(faults=faults)
        # Unset: the issuer is whatever URL the server is reached at (`storelink fakes serve oauth`).
        self.issuer = issuer.rstrip("/") if issuer else ""
        self.clients = dict(DEFAULT_CLIENTS if clients is None else clients)
        self.lifetime = access_token_lifetime_s
        self.clock = clock
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(4)
        self._refresh: dict[str, tuple[str, str, str]] = {}  # token -> (client, scope, resource)
        self._codes: dict[
            str, tuple[str, str, str, str, str]
        ] = {}  # code -> (client, scope, resource, challenge, redirect)
        self.grants: dict[str, int] = {}

    # -- tokens --------------------------------------------------------------------------------------
    def mint(self, *, client_id: str, scope: str, resource: str, lifetime_s: int | None = None, **extra: Any) -> str:
        now = int(self.clock())
        claims = {
            "iss": self.issuer,
            "sub": client_id,
            "client_id": client_id,
            "aud": resource,
            "scope": scope,
            "iat": now,
            "exp": now + (self.lifetime if lifetime_s is None else lifetime_s),
            "jti": secrets.token_hex(8),
            **extra,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def issue_refresh_token(self, *, client_id: str, scope: str, resource: str) -> str:
        token = secrets.token_urlsafe(24)
        self._refresh[token] = (client_id, scope, resource)
        return token

    def _grant(self, client_id: str, scope: str, resource: str) -> dict[str, Any]:
        return {
            "access_token": self.mint(client_id=client_id, scope=scope, resource=resource),
            "token_type": "Bearer",
            "expires_in": self.lifetime,
            "scope": scope,
            "refresh_token": self.issue_refresh_token(client_id=client_id, scope=scope, resource=resource),
        }

    # -- routes ----------------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/.well-known/oauth-authorization-server", self.metadata, methods=["GET"]),
            Route("/jwks", self.jwks, methods=["GET"]),
            Route("/token", self.token, methods=["POST"]),
            Route("/authorize", self.authorize, methods=["GET"]),
        ]

    def _learn_issuer(self, request: Request) -> None:
        if not self.issuer:
            self.issuer = str(request.base_url).rstrip("/")

    async def metadata(self, request: Request) -> Response:
        self._learn_issuer(request)
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
                "code_challenge_methods_supported": ["S256"],
                "response_types_supported": ["code"],
                "scopes_supported": ["storelink:read", "storelink:write"],
            }
        )

    async def jwks(self, request: Request) -> Response:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return JSONResponse({"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]})

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") not in self.clients or q.get("code_challenge_method") != "S256":
            return JSONResponse({"error": "invalid_request"}, 400)
        code = secrets.token_urlsafe(16)
        self._codes[code] = (
            q["client_id"],
            q.get("scope", "storelink:read"),
            q.get("resource", ""),
            q.get("code_challenge", ""),
            q.get("redirect_uri", ""),
        )
        return RedirectResponse(f"{q.get('redirect_uri')}?{urlencode({'code': code, 'state': q.get('state', '')})}")

    async def token(self, request: Request) -> Response:
        self._learn_issuer(request)
        form = await request.form()
        grant = str(form.get("grant_type", ""))
        client_id = str(form.get("client_id", ""))
        self.grants[grant] = self.grants.get(grant, 0) + 1
        if grant == "client_credentials":
            if self.clients.get(client_id) != form.get("client_secret"):
                return _error("invalid_client", "Unknown client or wrong secret.")
            return JSONResponse(
                self._grant(client_id, str(form.get("scope", "storelink:read")), str(form.get("resource", "")))
            )
        if grant == "refresh_token":
            found = self._refresh.pop(str(form.get("refresh_token", "")), None)
            if found is None or found[0] != client_id:
                return _error("invalid_grant", "The refresh token is invalid, expired or revoked.")
            return JSONResponse(self._grant(*found))
        if grant == "authorization_code":
            entry = self._codes.pop(str(form.get("code", "")), None)
            verifier = str(form.get("code_verifier", ""))
            if entry is None or entry[0] != client_id or _challenge(verifier) != entry[3]:
                return _error("invalid_grant", "The code is invalid or the PKCE verifier does not match.")
            return JSONResponse(self._grant(entry[0], entry[1], str(form.get("resource", entry[2]))))
        return _error("unsupported_grant_type", f"Grant {grant!r} is not supported.")


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _error(code: str, description: str) -> Response:
    return JSONResponse({"error": code, "error_description": description}, 400)
