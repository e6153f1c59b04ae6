"""Google's OAuth token endpoint, faked; and the wire conventions the Google API fakes share.

``POST /token`` (form-encoded, api-facts.md §2.1) serves three grants:

* ``refresh_token``: client id + secret + a registered refresh token → an access token with the
  scopes that refresh token was granted; an unknown or revoked refresh token answers 400
  ``invalid_grant`` "Token has been expired or revoked."; an unknown client 401 ``invalid_client``.
* ``urn:ietf:params:oauth:grant-type:jwt-bearer``: a JWT signed by a registered service account
  (verified with its public key through google-auth), ``aud`` equal to this endpoint's URL,
  lifetime at most an hour → an access token with the asserted scopes.
* ``authorization_code`` (with PKCE): the code ``GET /o/oauth2/v2/auth`` hands out. That route
  consents at once and redirects to ``redirect_uri``, standing in for the browser step of
  ``storelink auth google``.

Successes look like Google's: ``{"access_token": "ya29.…", "expires_in": 3599, "scope": …,
"token_type": "Bearer"}``. Issued tokens expire on the fake's clock; the API fakes check them with
:meth:`GoogleTokenFake.check_bearer`, which also accepts :data:`DEMO_ACCESS_TOKEN` (mock mode).

``grants`` counts exchanges per grant type, so tests can assert "exactly one refresh".
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import itertools
import json
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from google.auth import crypt as google_crypt
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from storelink.fakes.base import FakeUpstream
from storelink.fakes.faults import Fault, FaultPlan

__all__ = [
    "ANALYTICS_SCOPES",
    "DEMO_ACCESS_TOKEN",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_REFRESH_TOKEN",
    "GSC_SCOPES",
    "TOKEN_PATHS",
    "GoogleTokenFake",
    "google_error",
    "google_fault_response",
    "loop_clock",
    "with_token_endpoint",
]

DEMO_ACCESS_TOKEN = "ya29.storelink-demo-access-token"  # noqa: S105  (the fakes' public demo credential)
DEMO_CLIENT_ID = "storelink-demo.apps.googleusercontent.com"
DEMO_CLIENT_SECRET = "GOCSPX-storelink-demo-secret"  # noqa: S105
DEMO_REFRESH_TOKEN = "1//storelink-demo-refresh-token"  # noqa: S105
ANALYTICS_SCOPES = frozenset(
    {"https://www.googleapis.com/auth/analytics.readonly", "https://www.googleapis.com/auth/analytics"}
)
GSC_SCOPES = frozenset(
    {"https://www.googleapis.com/auth/webmasters.readonly", "https://www.googleapis.com/auth/webmasters"}
)
_ALL_SCOPES = ANALYTICS_SCOPES | GSC_SCOPES
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_PATHS = ("/token", "/o/oauth2/")


def with_token_endpoint(api: ASGIApp, tokens: GoogleTokenFake) -> ASGIApp:
    """One app for a Google API fake and its token endpoint. Token paths go to the token fake's own
    app, so the API's FaultPlan never hits a token exchange (and the token fake's plan never hits
    the API): a connector's two hosts fail independently, as they do live."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(TOKEN_PATHS):
            await tokens.app(scope, receive, send)
        else:
            await api(scope, receive, send)

    return app


def loop_clock() -> float:
    """Seconds on the running loop's clock (fake under looptime), or monotonic time outside a loop."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


# -- Google's error envelopes ------------------------------------------------------------------------

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def google_error(
    code: int,
    message: str,
    *,
    status: str | None = None,
    reason: str | None = None,
    legacy: bool = False,
    domain: str = "global",
) -> JSONResponse:
    """A Google API error body. ``legacy`` adds the v3 ``errors[]`` list (Search Console)."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status or _STATUS_NAMES.get(code, "UNKNOWN")}
    if legacy:
        error["errors"] = [{"message": message, "domain": domain, "reason": reason or error["status"].lower()}]
    elif reason:
        error["details"] = [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com"}
        ]
    return JSONResponse({"error": error}, code)


_UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)


def google_fault_response(fault: Fault, *, legacy: bool, rate_message: str) -> Response:
    """What an injected status fault looks like from a Google API."""
    status = int(fault.value)
    if status == 401:
        return google_error(
            401, _UNAUTHENTICATED, reason="authError" if legacy else "ACCESS_TOKEN_EXPIRED", legacy=legacy
        )
    if status == 429:
        return google_error(429, rate_message, reason="rateLimitExceeded" if legacy else None, legacy=legacy)
    messages = {500: "Internal error encountered.", 503: "The service is currently unavailable."}
    return google_error(
        status,
        messages.get(status, "The service encountered an error."),
        legacy=legacy,
        reason="backendError" if legacy else None,
    )


# -- the token endpoint ------------------------------------------------------------------------------


@dataclass
class _RefreshToken:
    client_id: str
    scopes: frozenset[str]
    revoked: bool = False


@dataclass
class _Issued:
    scopes: frozenset[str]
    expires_at: float  # on the fake's clock
    grant: str


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    challenge: str | None
    used: bool = False


@dataclass
class _State:
    clients: dict[str, str] = field(default_factory=dict)
    refresh_tokens: dict[str, _RefreshToken] = field(default_factory=dict)
    service_accounts: dict[str, str] = field(default_factory=dict)  # email -> public key / cert PEM
    issued: dict[str, _Issued] = field(default_factory=dict)
    codes: dict[str, _Code] = field(default_factory=dict)


class GoogleTokenFake(FakeUpstream):
    """The token endpoint and the consent step. Mount its :meth:`routes` into an API fake to share a
    host (the GA4 and Search Console fakes do), or serve it alone."""

    name = "google_auth"

    def __init__(
        self,
        *,
        faults: FaultPlan | None = None,
        expires_in: int = 3599,
        clock: Callable[[], float] = loop_clock,
        demo: bool = True,
    ) -> None:
        super().__init__(faults=faults)
        self.expires_in = expires_in
        self.clock = clock
        self.state = _State()
        self.grants: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.rejected_bearer = 0  # API requests refused for a missing, unknown or expired token
        self._serial = itertools.count(1)
        self._wall_anchor: float | None = None
        if demo:
            self.add_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
            self.add_refresh_token(DEMO_REFRESH_TOKEN, client_id=DEMO_CLIENT_ID, scopes=_ALL_SCOPES)

    # -- set-up ------------------------------------------------------------------------------------
    def add_client(self, client_id: str, secret: str) -> None:
        self.state.clients[client_id] = secret

    def add_refresh_token(self, token: str, *, client_id: str, scopes: Iterable[str] = _ALL_SCOPES) -> None:
        self.state.refresh_tokens[token] = _RefreshToken(client_id, frozenset(scopes))

    def revoke(self, token: str) -> None:
        if token in self.state.refresh_tokens:
            self.state.refresh_tokens[token].revoked = True

    def add_service_account(self, email: str, public_pem: str) -> None:
        self.state.service_accounts[email] = public_pem

    def issue(self, scopes: Iterable[str], *, grant: str = "test", expires_in: float | None = None) -> str:
        """Mint an access token directly (tests)."""
        token = f"ya29.fake-{next(self._serial)}-{secrets.token_urlsafe(12)}"
        life = self.expires_in if expires_in is None else expires_in
        self.state.issued[token] = _Issued(frozenset(scopes), self.clock() + life, grant)
        return token

    # -- what the API fakes call ---------------------------------------------------------------------
    def check_bearer(self, request: Request, accepted: frozenset[str], *, legacy: bool = False) -> Response | None:
        """None when the request carries a live token with one of ``accepted``; else Google's 401/403."""
        header = request.headers.get("authorization", "")
        token = header[7:] if header[:7].lower() == "bearer " else ""
        if token == DEMO_ACCESS_TOKEN:
            return None
        issued = self.state.issued.get(token)
        if issued is None or self.clock() >= issued.expires_at:
            self.rejected_bearer += 1
            return google_error(401, _UNAUTHENTICATED, reason="authError" if legacy else None, legacy=legacy)
        if not issued.scopes & accepted:
            return google_error(
                403,
                "Request had insufficient authentication scopes.",
                reason="insufficientPermissions" if legacy else "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                legacy=legacy,
            )
        return None

    # -- routes ---------------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/token", self.token, methods=["POST"]),
            Route("/o/oauth2/v2/auth", self.authorize, methods=["GET"]),
        ]

    def fault_response(self, fault: Fault, plan: FaultPlan) -> Response:
        status = int(fault.value)
        if status >= 500:
            return JSONResponse({"error": "internal_failure", "error_description": "Backend error."}, status)
        return JSONResponse({"error": "rate_limit_exceeded", "error_description": "Rate limit exceeded."}, status)

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        client_id = q.get("client_id", "")
        redirect_uri = q.get("redirect_uri", "")
        if client_id not in self.state.clients:
            return JSONResponse(
                {"error": "invalid_client", "error_description": "The OAuth client was not found."}, 401
            )
        if not redirect_uri.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]")):
            return JSONResponse({"error": "redirect_uri_mismatch"}, 400)
        code = f"4/0fake-{secrets.token_urlsafe(16)}"
        challenge = q.get("code_challenge") if q.get("code_challenge_method") == "S256" else None
        self.state.codes[code] = _Code(client_id, redirect_uri, frozenset(q.get("scope", "").split()), challenge)
        params = {"state": q.get("state", ""), "code": code, "scope": q.get("scope", "")}
        return RedirectResponse(f"{redirect_uri}?{urlencode(params)}", 302)

    async def token(self, request: Request) -> Response:
        form = await request.form()
        fields = {k: str(v) for k, v in form.items()}
        grant_type = fields.get("grant_type", "")
        if grant_type == "refresh_token":
            return self._refresh_grant(fields)
        if grant_type == JWT_BEARER:
            return self._jwt_grant(fields, audience=str(request.url).split("?")[0])
        if grant_type == "authorization_code":
            return self._code_grant(fields)
        return self._refuse("unsupported_grant_type", f"Invalid grant_type: {grant_type}", 400)

    def _refuse(self, error: str, description: str, status: int = 400) -> Response:
        self.refused[error] += 1
        return JSONResponse({"error": error, "error_description": description}, status)

    def _grant(self, grant: str, scopes: frozenset[str], *, refresh_token: str | None = None) -> Response:
        self.grants[grant] += 1
        token = self.issue(scopes, grant=grant)
        body: dict[str, Any] = {
            "access_token": token,
            "expires_in": self.expires_in,
            "scope": " ".join(sorted(scopes)),
            "token_type": "Bearer",
        }
        if refresh_token is not None:
            body["refresh_token"] = refresh_token
        return JSONResponse(body, headers={"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"})

    def _client_ok(self, fields: dict[str, str]) -> bool:
        secret = self.state.clients.get(fields.get("client_id", ""))
        return secret is not None and secrets.compare_digest(secret, fields.get("client_secret", ""))

    def _refresh_grant(self, fields: dict[str, str]) -> Response:
        if not self._client_ok(fields):
            return self._refuse("invalid_client", "The OAuth client was not found.", 401)
        record = self.state.refresh_tokens.get(fields.get("refresh_token", ""))
        if record is None or record.revoked or record.client_id != fields.get("client_id"):
            return self._refuse("invalid_grant", "Token has been expired or revoked.")
        wanted = frozenset(fields.get("scope", "").split()) or record.scopes
        if not wanted <= record.scopes:
            return self._refuse("invalid_scope", "Some requested scopes were invalid.")
        return self._grant("refresh_token", wanted)

    def wall(self) -> float:
        """Epoch seconds that move with :attr:`clock` (anchored at first use), for JWT ``iat``/``exp``."""
        now = self.clock()
        if self._wall_anchor is None:
            self._wall_anchor = time.time() - now
        return self._wall_anchor + now

    def _jwt_grant(self, fields: dict[str, str], *, audience: str) -> Response:
        claims, signed, signature = _split_jwt(fields.get("assertion", ""))
        if claims is None:
            return self._refuse("invalid_grant", "Invalid JWT: the assertion is not a JWT.")
        public = self.state.service_accounts.get(str(claims.get("iss", "")))
        if public is None:
            return self._refuse("invalid_grant", "Invalid grant: account not found")
        try:
            valid = google_crypt.verify_signature(signed, signature, public)  # type: ignore[no-untyped-call]
        except ValueError:
            valid = False
        if not valid:
            return self._refuse("invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != audience:
            return self._refuse("invalid_grant", "Invalid JWT: Failed audience check.")
        now = self.wall()
        try:
            issued, expires = float(claims["iat"]), float(claims["exp"])
        except (KeyError, TypeError, ValueError):
            issued, expires = 0.0, 0.0
        if expires - issued > 3600 or issued > now + 60 or expires < now:
            return self._refuse(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
                "Check your iat and exp values in the JWT claim.",
            )
        scopes = frozenset(str(claims.get("scope", "")).split())
        if not scopes:
            return self._refuse("invalid_scope", "Empty or missing scope not allowed.")
        return self._grant(JWT_BEARER, scopes)

    def _code_grant(self, fields: dict[str, str]) -> Response:
        if not self._client_ok(fields):
            return self._refuse("invalid_client", "The OAuth client was not found.", 401)
        code = self.state.codes.get(fields.get("code", ""))
        if code is None or code.used or code.client_id != fields.get("client_id"):
            return self._refuse("invalid_grant", "Malformed auth code.")
        if code.redirect_uri != fields.get("redirect_uri"):
            return self._refuse("redirect_uri_mismatch", "Bad Request")
        if code.challenge is not None:
            verifier = fields.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if digest != code.challenge:
                return self._refuse("invalid_grant", "Invalid code verifier.")
        code.used = True
        refresh = f"1//fake-{secrets.token_urlsafe(24)}"
        self.state.refresh_tokens[refresh] = _RefreshToken(code.client_id, code.scopes)
        return self._grant("authorization_code", code.scopes, refresh_token=refresh)


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _split_jwt(assertion: str) -> tuple[dict[str, Any] | None, bytes, bytes]:
    """Claims, signed bytes and signature of a compact JWT (claims None when it is not one)."""
    parts = assertion.split(".")
    if len(parts) != 3:
        return None, b"", b""
    try:
        header = json.loads(_b64(parts[0]))
        claims = json.loads(_b64(parts[1]))
        signature = _b64(parts[2])
    except (ValueError, binascii.Error):
        return None, b"", b""
    if not isinstance(claims, dict) or not isinstance(header, dict) or header.get("alg") != "RS256":
        return None, b"", b""
    return claims, f"{parts[0]}.{parts[1]}".encode(), signature
