"""The three grants storelink asks of a shop's token endpoint (``POST https://{shop}/admin/oauth/access_token``).

- :meth:`Grants.authorization_code`: the install's code for an **expiring** offline token
  (``expiring=1``: one hour, with a refresh token).
- :meth:`Grants.token_exchange`: an embedded page's session token for the same kind of token
  (``grant_type=urn:ietf:params:oauth:grant-type:token-exchange``, ``subject_token_type`` an ID
  token, ``requested_token_type`` the offline access token, ``expiring=1``).
- :meth:`Grants.refresh`: a refresh token for a new access token and a new refresh token.

Shopify's refusals (``{"error", "error_description"}``) become ``ConnectorError``: a wrong client is
``not_configured`` (check SHOPIFY_API_KEY/SHOPIFY_API_SECRET), a dead code, session token or refresh
token ``unauthorized`` (the shop must open or install the app again). A request that got no answer
is ``unavailable`` and retryable: a refresh may have been done at Shopify all the same (see
offline_tokens.py for why retrying it with the same refresh token is safe).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx2
from pydantic import SecretStr

from storelink.database.tokens import StoredToken
from storelink.errors import ConnectorError, ErrorKind, clip

__all__ = ["Grant", "Grants"]

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105  (a name, not a secret)
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105
OFFLINE_TOKEN = "urn:shopify:params:oauth:token-type:offline-access-token"  # noqa: S105


@dataclass(frozen=True, slots=True)
class Grant:
    """What Shopify granted. ``expires_in`` is None for a token that does not expire."""

    access_token: str
    scope: str
    expires_in: float | None
    refresh_token: str | None

    def stored(self, now: float) -> StoredToken:
        """As the vault keeps it (``now``: epoch seconds)."""
        expires_at = now + self.expires_in if self.expires_in is not None else float("inf")
        return StoredToken(self.access_token, self.refresh_token, expires_at, self.scope)


class Grants:
    def __init__(self, *, client_id: str, client_secret: SecretStr, client: httpx2.AsyncClient) -> None:
        self._client_id = client_id
        self._secret = client_secret
        self._client = client

    async def authorization_code(self, shop: str, code: str) -> Grant:
        return await self._post(shop, {"code": code, "expiring": "1"}, "exchange the install's code")

    async def token_exchange(self, shop: str, session_token: str) -> Grant:
        body = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": session_token,
            "subject_token_type": ID_TOKEN,
            "requested_token_type": OFFLINE_TOKEN,
            "expiring": "1",
        }
        return await self._post(shop, body, "exchange the session token")

    async def refresh(self, shop: str, refresh_token: str) -> Grant:
        return await self._post(
            shop, {"grant_type": "refresh_token", "refresh_token": refresh_token}, "refresh the access token"
        )

    async def _post(self, shop: str, body: dict[str, str], what: str) -> Grant:
        credentials = {"client_id": self._client_id, "client_secret": self._secret.get_secret_value()}
        try:
            response = await self._client.post(f"https://{shop}/admin/oauth/access_token", json=credentials | body)
        except httpx2.HTTPError as exc:
            raise ConnectorError(
                ErrorKind.UNAVAILABLE,
                f"No answer from {shop} to {what} ({type(exc).__name__}); it is retried.",
                connector="shopify",
                retryable=True,
            ) from None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code == 200 and isinstance(payload, dict) and payload.get("access_token"):
            expires_in = payload.get("expires_in")
            refresh = payload.get("refresh_token")
            return Grant(
                str(payload["access_token"]),
                str(payload.get("scope", "")),
                float(expires_in) if expires_in is not None else None,
                str(refresh) if refresh else None,
            )
        raise self._refused(shop, what, response.status_code, payload)

    @staticmethod
    def _refused(shop: str, what: str, status: int, payload: object) -> ConnectorError:
        error = str(payload.get("error", "")) if isinstance(payload, dict) else ""
        said = clip(str(payload.get("error_description", "")), 200) if isinstance(payload, dict) else ""
        detail = f"{status} {error}: {said}".strip(": ")
        if status >= 500 or status == 429:
            return ConnectorError(
                ErrorKind.UNAVAILABLE,
                f"Shopify could not {what} for {shop} ({detail}); it is retried.",
                connector="shopify",
                status=status,
                retryable=True,
            )
        if error == "invalid_client":
            return ConnectorError(
                ErrorKind.NOT_CONFIGURED,
                f"Shopify refused this app's credentials ({detail}). Check SHOPIFY_API_KEY and SHOPIFY_API_SECRET "
                "(the app's client id and secret in the Dev Dashboard).",
                connector="shopify",
                status=status,
                upstream_code=error,
            )
        if error or status in (400, 401, 403):
            return ConnectorError(
                ErrorKind.UNAUTHORIZED,
                f"Shopify refused to {what} for {shop} ({detail}). Open the app from the shop's admin, or "
                f"install it again at /shopify/install?shop={shop}.",
                connector="shopify",
                status=status,
                retryable=False,
                upstream_code=error or None,
            )
        return ConnectorError(
            ErrorKind.UPSTREAM_ERROR,
            f"Shopify's answer to {what} for {shop} carried no access token ({detail}).",
            connector="shopify",
            status=status,
        )
