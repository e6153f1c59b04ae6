"""Who may call the MCP endpoint over HTTP, and which stores they reach.

Three ways, which may be combined:

* ``MCP_API_KEY``: the operator's static bearer key, compared in constant time. The key holder may
  do all that the server exposes, in every store (write tools still need ``STORELINK_ALLOW_WRITES``).
* ``STORELINK_MCP_KEYS_FILE``: keys by their SHA-256 (:mod:`storelink.keys`), each
  reaching the stores its entry names. A key is verified into an :class:`AccessToken` whose
  ``store:<id>`` scopes carry that reach (``client_id`` is the entry's name), so tools read every
  caller's reach the same way, from the token (:func:`storelink.mcp_server.tools.caller_access`).
* ``MCP_OAUTH_ISSUER``: storelink is an OAuth 2.1 resource server (the MCP authorization spec).
  It publishes its protected-resource metadata (RFC 9728) and accepts JWT access tokens signed by
  the issuer's keys (JWKS, found through the issuer's RFC 8414 metadata), issued by that issuer,
  for this resource (``aud``), unexpired, with scope ``storelink:read``; write tools also need
  ``storelink:write``. Its ``store:<id>`` scopes (``store:*``) say which stores it reaches; a
  token without any reaches only the environment's store (:mod:`storelink.access`).
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

import httpx2
import jwt
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.authentication import AuthCredentials
from starlette.types import ASGIApp, Receive, Scope, Send

from storelink.access import STORE_SCOPE_PREFIX
from storelink.keys import KEYS_ISSUER, McpKeys

__all__ = [
    "EVERY_STORE_SCOPE",
    "READ_SCOPE",
    "WRITE_SCOPE",
    "BearerKeyMiddleware",
    "JwtVerifier",
    "KeysFileVerifier",
    "StaticKeyVerifier",
]

READ_SCOPE = "storelink:read"
WRITE_SCOPE = "storelink:write"
EVERY_STORE_SCOPE = f"{STORE_SCOPE_PREFIX}*"


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            text: str = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip()
    return None


def keys_match(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class BearerKeyMiddleware:
    """Require a bearer key on every HTTP request to the wrapped app: ``MCP_API_KEY`` (``key``) or
    one of the keys file's (``keys``). The static key's holder passes as before, with no token
    (every store); a keys-file key's token is put where the SDK's own auth puts a verified token
    (``scope["user"]`` and the auth context), so tools see its reach."""

    def __init__(
        self, app: ASGIApp, key: str | None, keys: McpKeys | None = None, *, resource: str | None = None
    ) -> None:
        self.app = app
        self.key = key
        self.keys = KeysFileVerifier(keys, resource) if keys is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _bearer(scope)
        static = self.key is not None and keys_match(given, self.key)
        token = await self.keys.verify_token(given) if self.keys is not None and given else None
        if static:
            await self.app(scope, receive, send)
            return
        if token is not None:
            user = AuthenticatedUser(token)
            scope["user"], scope["auth"] = user, AuthCredentials(token.scopes)
            reset = auth_context_var.set(user)
            try:
                await self.app(scope, receive, send)
            finally:
                auth_context_var.reset(reset)
            return
        await _unauthorized(send, given=given is not None)


async def _unauthorized(send: Send, *, given: bool) -> None:
    body = json.dumps(
        {
            "error": "invalid_token" if given else "unauthorized",
            "error_description": "The bearer token is not valid." if given else "A bearer token is required.",
        }
    ).encode()
    challenge = 'Bearer realm="storelink"' + (', error="invalid_token"' if given else "")
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", challenge.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class StaticKeyVerifier:
    """The static key as a token verifier, for when OAuth is on as well."""

    def __init__(self, key: str, resource: str) -> None:
        self.key = key
        self.resource = resource

    async def verify_token(self, token: str) -> AccessToken | None:
        if not keys_match(token, self.key):
            return None
        return AccessToken(
            token="static-key",  # noqa: S106  (a label, never the key)
            client_id="static-key",
            scopes=[READ_SCOPE, WRITE_SCOPE, EVERY_STORE_SCOPE],
            resource=self.resource,
        )


class KeysFileVerifier:
    """The keys file's keys as a token verifier: a key becomes a token named after its entry
    (``client_id``; the token field holds a label, never the key), read scope (write too when the
    entry says ``writes = true``) and a ``store:<id>`` scope per store it reaches."""

    def __init__(self, keys: McpKeys, resource: str | None) -> None:
        self.keys = keys
        self.resource = resource

    async def verify_token(self, token: str) -> AccessToken | None:
        key = self.keys.find(token)
        if key is None:
            return None
        return AccessToken(
            token=f"key:{key.name}",
            client_id=key.name,
            scopes=[READ_SCOPE, *([WRITE_SCOPE] if key.writes else []), *key.store_scopes()],
            resource=self.resource,
            claims={"iss": KEYS_ISSUER},
        )


class JwtVerifier:
    """Validate JWT access tokens against the issuer's published keys."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        http: httpx2.AsyncClient,
        static_key: str | None = None,
        keys: McpKeys | None = None,
        leeway_s: float = 30.0,
        jwks_min_refresh_s: float = 60.0,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.http = http
        self.static = StaticKeyVerifier(static_key, audience) if static_key else None
        self.keys = KeysFileVerifier(keys, audience) if keys is not None else None
        self.leeway_s = leeway_s
        self.jwks_min_refresh_s = jwks_min_refresh_s
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0

    async def verify_token(self, token: str) -> AccessToken | None:
        if self.static is not None and (found := await self.static.verify_token(token)) is not None:
            return found
        if self.keys is not None and (found := await self.keys.verify_token(token)) is not None:
            return found
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        key = await self._key(str(header.get("kid", "")))
        if key is None:
            return None
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=["RS256", "ES256", "PS256"],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError:
            return None
        scopes = claims.get("scope", "")
        scope_list = scopes.split() if isinstance(scopes, str) else list(claims.get("scp", []))
        return AccessToken(
            token=token,
            client_id=str(claims.get("client_id") or claims.get("azp") or claims.get("sub", "")),
            scopes=scope_list,
            expires_at=int(claims["exp"]),
            resource=self.audience,
            subject=claims.get("sub"),
            claims={"iss": claims.get("iss")},
        )

    async def _key(self, kid: str) -> Any:
        if kid not in self._keys and time.monotonic() - self._fetched_at >= self.jwks_min_refresh_s:
            await self._refresh_keys()
        return self._keys.get(kid)

    async def _refresh_keys(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            metadata = await self.http.get(f"{self.issuer}/.well-known/oauth-authorization-server")
            if metadata.status_code != 200:
                metadata = await self.http.get(f"{self.issuer}/.well-known/openid-configuration")
            jwks = await self.http.get(metadata.json()["jwks_uri"])
            keys = jwks.json()["keys"]
        except (httpx2.HTTPError, ValueError, KeyError):
            return  # keep the keys we had; an unknown kid stays unknown until the next refresh
        found = {}
        for entry in keys:
            try:
                found[str(entry.get("kid", ""))] = jwt.PyJWK(entry).key
            except jwt.PyJWTError:
                continue
        self._keys = found
