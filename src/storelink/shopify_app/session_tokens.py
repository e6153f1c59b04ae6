"""App Bridge session tokens (Shopify now calls them ID tokens): who is asking, from which shop.

Shopify admin frames the embedded app and App Bridge gives the page a short-lived JWT, HS256-signed
with the app's client secret, on the first load (the ``id_token`` query parameter) and on every
request the page makes (``Authorization: Bearer <token>``). Its claims: ``iss``
``https://<shop>/admin``, ``dest`` ``https://<shop>``, ``aud`` the app's client id, ``sub`` the
staff user, ``exp``/``nbf``/``iat``, ``jti``, ``sid``. :class:`SessionTokens` checks the signature
(PyJWT), then every claim on an injected wall clock (PyJWT reads the system clock, so it is told not
to check times itself), and answers the shop the token is for. Every refusal is a
``ConnectorError(UNAUTHORIZED)`` whose message says which check failed and never echoes the token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from storelink.errors import ConnectorError, ErrorKind
from storelink.shopify_app.shops import valid_shop

__all__ = ["LEEWAY_S", "SessionToken", "SessionTokens", "bearer_token"]

# Clocks drift between Shopify and us; Shopify's own libraries allow 5 s (Ruby) and 10 s (Node).
LEEWAY_S = 10.0
_REQUIRED = ("iss", "dest", "aud", "exp", "nbf")


@dataclass(frozen=True, slots=True)
class SessionToken:
    """A verified token: the shop it is for (``name.myshopify.com``) and the user, if any."""

    shop: str
    user: str | None
    expires_at: float


def _refused(why: str) -> ConnectorError:
    return ConnectorError(
        ErrorKind.UNAUTHORIZED,
        f"The session token was refused: {why}. Open the app from Shopify admin again.",
        connector="shopify_app",
        status=401,
    )


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, or UNAUTHORIZED."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _refused("the request carries no 'Authorization: Bearer <session token>' header")
    return token.strip()


class SessionTokens:
    """Verifies the session tokens of one app (its client id and secret) on a wall clock."""

    def __init__(
        self,
        *,
        api_key: str,
        api_secret: str,
        wall: Callable[[], float] = time.time,
        leeway_s: float = LEEWAY_S,
    ) -> None:
        if not api_key or not api_secret:
            raise ValueError("session tokens need the app's client id and secret (SHOPIFY_API_KEY, SHOPIFY_API_SECRET)")
        self._api_key = api_key
        self._secret = api_secret
        self._wall = wall
        self._leeway = leeway_s

    def verify(self, token: str) -> SessionToken:
        """The token's shop and user once signature, audience, issuer, destination and times hold."""
        claims = self._signed_claims(token)
        missing = [name for name in _REQUIRED if claims.get(name) in (None, "")]
        if missing:
            raise _refused(f"it lacks the claim(s) {', '.join(missing)}")
        if claims["aud"] != self._api_key and not (isinstance(claims["aud"], list) and self._api_key in claims["aud"]):
            raise _refused("it was issued for another app (aud is not this app's client id)")
        shop = self._shop(claims)
        exp, nbf = _number(claims, "exp"), _number(claims, "nbf")
        now = self._wall()
        if now > exp + self._leeway:
            raise _refused(f"it expired {now - exp:.0f} s ago")
        if now < nbf - self._leeway:
            raise _refused(f"it is not valid for another {nbf - now:.0f} s")
        user = claims.get("sub")
        return SessionToken(shop=shop, user=str(user) if user else None, expires_at=exp)

    def _signed_claims(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],  # never what the token's header says: no "none", no RS/HS confusion
                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False},
            )
        except jwt.InvalidSignatureError:
            raise _refused("its signature does not match this app's secret") from None
        except jwt.InvalidAlgorithmError:
            raise _refused("it is not signed with HS256") from None
        except jwt.PyJWTError:
            raise _refused("it is not a well-formed JWT") from None
        return claims

    def _shop(self, claims: dict[str, Any]) -> str:
        dest, iss = str(claims["dest"]), str(claims["iss"])
        if not dest.startswith("https://") or not iss.startswith("https://") or not iss.endswith("/admin"):
            raise _refused("its dest or iss is not a shop's https URL")
        try:
            shop = valid_shop(dest.removeprefix("https://"))
            issuer = valid_shop(iss.removeprefix("https://").removesuffix("/admin"))
        except ConnectorError:
            raise _refused("its dest or iss does not name a myshopify.com shop") from None
        if shop != issuer:
            raise _refused("its dest and iss name different shops")
        return shop


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _refused(f"its {name} is not a number")
    return float(value)
