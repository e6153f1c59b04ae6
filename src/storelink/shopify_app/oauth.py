"""The install's signatures: the ``hmac`` of Shopify's redirect queries, the ``state`` nonce bound to
the browser, and the authorize URL.

Shopify signs every redirect it sends to the app (the install request, the callback) with the app's
client secret: ``hmac`` is the hex HMAC-SHA256 of the other parameters sorted by name and joined as
``k=v&k=v`` (``%`` and ``&`` escaped in names and values, ``=`` in names). It is compared in constant
time, and a redirect older than :data:`MAX_AGE_S` is refused (a captured link cannot be replayed).

``state`` is a random nonce sent to Shopify in the authorize URL and, at the same time, kept in a
cookie signed with the app secret (a JWT, PyJWT) that names the shop and expires in ten minutes:
the callback is accepted only from the browser that began the install, for the shop it began.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

import jwt

from storelink.errors import ConnectorError, ErrorKind

__all__ = [
    "MAX_AGE_S",
    "STATE_COOKIE",
    "StateCookie",
    "authorize_url",
    "query_hmac",
    "verify_query",
]

# The official libraries refuse a signed redirect whose timestamp is more than 90 s off.
MAX_AGE_S = 90.0
STATE_COOKIE = "storelink_shopify_state"
STATE_TTL_S = 600


def _escape(text: str, *, name: bool) -> str:
    text = text.replace("%", "%25").replace("&", "%26")
    return text.replace("=", "%3D") if name else text


def query_hmac(params: Iterable[tuple[str, str]], secret: str) -> str:
    """The hex HMAC-SHA256 Shopify puts in ``hmac``: over every parameter but ``hmac`` and
    ``signature``, sorted by name."""
    kept = sorted((k, v) for k, v in params if k not in ("hmac", "signature"))
    message = "&".join(f"{_escape(k, name=True)}={_escape(v, name=False)}" for k, v in kept)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def verify_query(params: Iterable[tuple[str, str]], secret: str, *, now: float) -> None:
    """Refuse (``unauthorized``) a query that is not Shopify's: no or a wrong ``hmac``, or a
    ``timestamp`` more than :data:`MAX_AGE_S` away from ``now`` (epoch seconds)."""
    pairs = list(params)
    given = [v for k, v in pairs if k == "hmac"]
    if len(given) != 1 or not hmac.compare_digest(given[0].encode(), query_hmac(pairs, secret).encode()):
        raise ConnectorError(
            ErrorKind.UNAUTHORIZED,
            "This request is not signed by Shopify for this app (its hmac does not match). Start the "
            "install again from Shopify admin; if it keeps failing, check SHOPIFY_API_SECRET.",
        )
    stamps = [v for k, v in pairs if k == "timestamp"]
    try:
        age = abs(now - float(stamps[0])) if len(stamps) == 1 else None
    except ValueError:
        age = None
    if age is None or age > MAX_AGE_S:
        raise ConnectorError(
            ErrorKind.UNAUTHORIZED,
            "This Shopify redirect is too old or carries no timestamp; start the install again from "
            "Shopify admin (and check this server's clock).",
        )


@dataclass(frozen=True, slots=True)
class StateCookie:
    """The ``state`` nonce and the signed cookie that binds it to this browser and this shop."""

    nonce: str
    value: str

    @classmethod
    def issue(cls, shop: str, secret: str, *, now: float) -> StateCookie:
        nonce = secrets.token_urlsafe(24)
        claims = {"nonce": nonce, "shop": shop, "exp": int(now) + STATE_TTL_S}
        return cls(nonce, jwt.encode(claims, secret, algorithm="HS256"))

    @staticmethod
    def check(cookie: str | None, *, state: str, shop: str, secret: str, now: float) -> None:
        """Refuse (``forbidden``) a callback whose ``state`` is not the one this browser's cookie
        holds for ``shop``, or whose cookie is missing, forged or expired."""
        refused = ConnectorError(
            ErrorKind.FORBIDDEN,
            "This install callback does not match an install begun in this browser (state mismatch, or "
            "it took over ten minutes). Start the install again from /shopify/install?shop=….",
        )
        if not cookie:
            raise refused
        try:
            # PyJWT reads the wall clock for `exp`: check it against the injected `now` instead.
            claims = jwt.decode(cookie, secret, algorithms=["HS256"], options={"verify_exp": False})
        except jwt.InvalidTokenError:
            raise refused from None
        fresh = isinstance(claims.get("exp"), int) and now < claims["exp"]
        nonce = str(claims.get("nonce", ""))
        if not fresh or claims.get("shop") != shop or not hmac.compare_digest(nonce.encode(), state.encode()):
            raise refused


def authorize_url(*, shop: str, client_id: str, scopes: str, redirect_uri: str, state: str) -> str:
    """Shopify's authorize page for ``shop``. No ``grant_options[]``: offline access (the default)."""
    query = urlencode({"client_id": client_id, "scope": scopes, "redirect_uri": redirect_uri, "state": state})
    return f"https://{shop}/admin/oauth/authorize?{query}"
