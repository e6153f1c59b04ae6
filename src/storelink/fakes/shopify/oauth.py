"""The Shopify fake's OAuth side: installs, the three grants of ``/admin/oauth/access_token`` and
expiring offline tokens with rotating refresh tokens.

``GET /admin/oauth/authorize`` grants at once (the merchant's approval is not simulated) and
redirects to ``redirect_uri`` with ``code``, ``hmac``, ``host``, ``shop``, ``state`` and
``timestamp``, signed with the app's client secret as Shopify signs them.

``POST /admin/oauth/access_token`` (``ShopifyFake`` hands it every grant but client credentials):

- ``code`` (authorization code; single use, ten minutes),
- ``grant_type=urn:ietf:params:oauth:grant-type:token-exchange`` (a session token, verified for
  signature, ``aud`` and ``dest``, for an offline or online token),
- ``grant_type=refresh_token``.

With ``expiring=1`` (and always on refresh) the access token lasts an hour and comes with a refresh
token (ninety days). A refresh rotates the refresh token; the one it replaced stays valid until
the replacement is first used (its access token on the API, or its refresh token), so an app whose
refresh answer was lost can refresh again with the token it still holds; that later refresh
cancels the unused replacement. Errors are OAuth's: ``{"error", "error_description"}``, 400.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from storelink.fakes.shopify.admin import admin_host

if TYPE_CHECKING:
    from storelink.fakes.shopify.app import ShopifyFake

__all__ = ["ACCESS_LIFETIME_S", "REFRESH_LIFETIME_S", "TOKEN_EXCHANGE", "FakeOAuth", "signed_query"]

ACCESS_LIFETIME_S = 3600
REFRESH_LIFETIME_S = 90 * 86400
CODE_LIFETIME_S = 600
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105  (a name, not a secret)
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105
OFFLINE = "urn:shopify:params:oauth:token-type:offline-access-token"
ONLINE = "urn:shopify:params:oauth:token-type:online-access-token"


def signed_query(params: dict[str, str], secret: str) -> dict[str, str]:
    """``params`` with Shopify's ``hmac``: hex HMAC-SHA256 of the sorted ``k=v&…`` (``%``/``&``
    escaped, ``=`` too in names). Written here on its own so the fake does not import what it tests."""

    def esc(text: str, name: bool) -> str:
        text = text.replace("%", "%25").replace("&", "%26")
        return text.replace("=", "%3D") if name else text

    message = "&".join(f"{esc(k, True)}={esc(v, False)}" for k, v in sorted(params.items()))
    return {**params, "hmac": hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()}


def _error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status)


@dataclass
class _Code:
    client_id: str
    shop: str
    scope: str
    expires_at: float


@dataclass
class _Refresh:
    client_id: str
    shop: str
    scope: str
    expires_at: float
    access_token: str  # the access token issued with it
    # Once this token was used to refresh: the replacement pair, until it is first used.
    replacement: tuple[str, str] | None = None


@dataclass
class _Counts:
    grants: Counter[str] = field(default_factory=Counter)  # by grant type, granted ones only

    @property
    def refreshes(self) -> int:
        return self.grants["refresh_token"]


class FakeOAuth:
    """The OAuth state of one :class:`ShopifyFake`; ``wall`` (epoch seconds) stamps redirects and
    dates session tokens, the fake's ``clock`` expires tokens."""

    def __init__(self, fake: ShopifyFake, *, scopes: str, wall: Callable[[], float] = time.time) -> None:
        self.fake = fake
        self.scopes = scopes  # what a token exchange grants (the app's configured scopes)
        self.wall = wall
        self.counts = _Counts()
        self._codes: dict[str, _Code] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._issued_by: dict[str, str] = {}  # access token -> the refresh token that was refreshed for it

    # -- authorize ----------------------------------------------------------------------------------
    async def authorize(self, request: Request) -> Response:
        query = request.query_params
        client_id, redirect_uri = query.get("client_id", ""), query.get("redirect_uri", "")
        secret = self.fake.clients.get(client_id)
        if secret is None:
            return PlainTextResponse("Oauth error invalid_request: The client_id is invalid.", 400)
        target = urlsplit(redirect_uri)
        if target.scheme not in ("http", "https") or not target.netloc:
            return PlainTextResponse("Oauth error invalid_request: The redirect_uri is missing or not a URL.", 400)
        shop = request.url.hostname or ""
        code = secrets.token_hex(16)
        self._codes[code] = _Code(client_id, shop, query.get("scope", ""), self.fake.clock() + CODE_LIFETIME_S)
        params = {"code": code, "host": admin_host(shop), "shop": shop, "timestamp": str(int(self.wall()))}
        if "state" in query:
            params["state"] = query["state"]
        separator = "&" if target.query else "?"
        return RedirectResponse(redirect_uri + separator + urlencode(signed_query(params, secret)), 302)

    # -- the token endpoint ---------------------------------------------------------------------------
    def grant(self, params: dict[str, str], *, shop: str) -> Response:
        client_id = params.get("client_id", "")
        if not client_id or self.fake.clients.get(client_id) != params.get("client_secret"):
            return _error("invalid_client", "Client authentication failed: unknown client_id or wrong client_secret.")
        grant_type = params.get("grant_type", "authorization_code" if "code" in params else "")
        if grant_type == "authorization_code":
            return self._code(params, client_id, shop)
        if grant_type == TOKEN_EXCHANGE:
            return self._exchange(params, client_id, shop)
        if grant_type == "refresh_token":
            return self._refresh_grant(params, client_id, shop)
        return _error("unsupported_grant_type", f"The grant type {grant_type!r} is not supported.")

    def _code(self, params: dict[str, str], client_id: str, shop: str) -> Response:
        found = self._codes.pop(params.get("code", ""), None)
        if found is None or found.client_id != client_id or found.shop != shop or found.expires_at <= self.fake.clock():
            return _error("invalid_grant", "The authorization code was not found, has expired or was already used.")
        self.counts.grants["authorization_code"] += 1
        return self._issue(client_id, shop, found.scope, expiring=params.get("expiring") == "1")

    def _exchange(self, params: dict[str, str], client_id: str, shop: str) -> Response:
        if params.get("subject_token_type") != ID_TOKEN:
            return _error("invalid_request", f"subject_token_type must be {ID_TOKEN}.")
        requested = params.get("requested_token_type", "")
        if requested not in (OFFLINE, ONLINE):
            return _error("invalid_request", f"requested_token_type must be {OFFLINE} or {ONLINE}.")
        try:
            claims = jwt.decode(
                params.get("subject_token", ""),
                self.fake.clients[client_id],
                algorithms=["HS256"],
                audience=client_id,
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require": ["exp", "nbf", "dest"],
                },
            )
        except jwt.InvalidTokenError as exc:
            return _error("invalid_subject_token", f"The session token is invalid: {type(exc).__name__}.")
        now = self.wall()
        if not (float(claims["nbf"]) - 5 <= now < float(claims["exp"]) + 5) or claims["dest"] != f"https://{shop}":
            return _error("invalid_subject_token", "The session token has expired or was issued for another shop.")
        self.counts.grants[TOKEN_EXCHANGE] += 1
        return self._issue(client_id, shop, self.scopes, expiring=requested == ONLINE or params.get("expiring") == "1")

    def _refresh_grant(self, params: dict[str, str], client_id: str, shop: str) -> Response:
        token = params.get("refresh_token", "")
        found = self._refresh.get(token)
        if found is None or found.client_id != client_id or found.shop != shop or found.expires_at <= self.fake.clock():
            return _error("invalid_grant", "The refresh token is invalid, expired or was already replaced.")
        self._retire_replaced_by(token)  # using a replacement retires the token it replaced
        if found.replacement is not None:  # a second refresh with the same token: the first answer was lost
            self._cancel(found.replacement)
        self.counts.grants["refresh_token"] += 1
        return self._issue(client_id, shop, found.scope, expiring=True, replacing=token)

    def _issue(
        self, client_id: str, shop: str, scope: str, *, expiring: bool, replacing: str | None = None
    ) -> JSONResponse:
        access = "shpat_" + secrets.token_hex(16)
        lifetime = ACCESS_LIFETIME_S if expiring else None
        self.fake.mint(access, app=f"{client_id}@{shop}", lifetime_s=lifetime)
        if not expiring:
            return JSONResponse({"access_token": access, "scope": scope})
        refresh = "shprt_" + secrets.token_hex(16)
        self._refresh[refresh] = _Refresh(client_id, shop, scope, self.fake.clock() + REFRESH_LIFETIME_S, access)
        if replacing is not None:
            self._refresh[replacing].replacement = (access, refresh)
            self._issued_by[access] = replacing
        return JSONResponse(
            {
                "access_token": access,
                "scope": scope,
                "expires_in": ACCESS_LIFETIME_S,
                "refresh_token": refresh,
                "refresh_token_expires_in": REFRESH_LIFETIME_S,
            }
        )

    # -- rotation -------------------------------------------------------------------------------------
    def used(self, access_token: str) -> None:
        """An access token's first use on the API retires the refresh token it was refreshed from."""
        replaced = self._issued_by.pop(access_token, None)
        if replaced is not None:
            self._refresh.pop(replaced, None)

    def _retire_replaced_by(self, refresh_token: str) -> None:
        record = self._refresh.get(refresh_token)
        if record is not None:
            self.used(record.access_token)

    def _cancel(self, pair: tuple[str, str]) -> None:
        access, refresh = pair
        self.fake.revoke(access)
        self._issued_by.pop(access, None)
        self._refresh.pop(refresh, None)

    def revoke_shop(self, shop: str) -> None:
        """What an uninstall does at Shopify: every token of the shop stops working."""
        for token, record in list(self._refresh.items()):
            if record.shop == shop:
                self.fake.revoke(record.access_token)
                del self._refresh[token]

    def refresh_tokens(self, shop: str) -> list[str]:
        """The refresh tokens ``shop`` may use now (tests)."""
        return [token for token, record in self._refresh.items() if record.shop == shop]
