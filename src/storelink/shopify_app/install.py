"""Installing storelink on a shop: ``/shopify/install`` → Shopify's authorize page → ``/shopify/callback``,
and the token exchange an embedded page uses instead (:meth:`Installer.exchange`).

``/shopify/install?shop=name.myshopify.com`` (Shopify's own install request is signed: its ``hmac``
is checked when present; a hand-typed link is not, and only starts the flow) validates the shop,
sets the signed ``state`` cookie and redirects to Shopify. ``/shopify/callback`` accepts only a
query signed by Shopify, recent, for a valid shop, carrying the ``state`` this browser's cookie
holds for that shop; then it exchanges the code for an expiring offline token, records the install
(the shop becomes a store) and sends the merchant to the app in their admin.

Nothing is asked of Shopify while the deployment lacks what an install needs (the app's client
id and secret, ``STORELINK_APP_URL``, ``STORELINK_SECRET_KEY`` to seal tokens): the answer says
what to set.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from storelink.errors import ConnectorError, ErrorKind
from storelink.settings import Settings
from storelink.shopify_app.grants import Grants
from storelink.shopify_app.installations import Installation, Installations
from storelink.shopify_app.oauth import STATE_COOKIE, StateCookie, authorize_url, verify_query
from storelink.shopify_app.shops import shop_name, valid_shop

__all__ = ["CALLBACK_PATH", "INSTALL_PATH", "Installer", "refusal"]

INSTALL_PATH = "/shopify/install"
CALLBACK_PATH = "/shopify/callback"
_STATUS = {
    ErrorKind.INVALID_REQUEST: 400,
    ErrorKind.UNAUTHORIZED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_CONFIGURED: 503,
}


def refusal(err: ConnectorError) -> Response:
    """A refused install step, as a page that says why and what to do (never a secret)."""
    return PlainTextResponse(err.message, _STATUS.get(err.kind, 502))


class Installer:
    def __init__(
        self,
        settings: Settings,
        installations: Installations,
        grants: Grants | None,
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.installations = installations
        self.grants = grants  # None while the app's credentials are not set
        self.wall = wall

    def _ready(self) -> tuple[str, str, str, Grants]:
        """The app's client id and secret, its URL and the grants client, or what is missing."""
        s = self.settings
        missing = [
            name
            for name, value in (
                ("SHOPIFY_API_KEY", s.shopify_api_key),
                ("SHOPIFY_API_SECRET", s.shopify_api_secret),
                ("STORELINK_APP_URL", s.app_url),
            )
            if not value
        ]
        if missing or self.grants is None:
            raise ConnectorError(
                ErrorKind.NOT_CONFIGURED,
                f"storelink cannot be installed on a shop until {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} set (the app's values in the Shopify Dev Dashboard).",
            )
        self.installations.require_key()
        assert s.shopify_api_key and s.shopify_api_secret and s.app_url
        return s.shopify_api_key, s.shopify_api_secret.get_secret_value(), s.app_url.rstrip("/"), self.grants

    async def begin(self, request: Request) -> Response:
        try:
            client_id, secret, app_url, _ = self._ready()
            params = request.query_params.multi_items()
            if "hmac" in request.query_params:
                verify_query(params, secret, now=self.wall())
            shop = valid_shop(request.query_params.get("shop", ""))
        except ConnectorError as err:
            return refusal(err)
        state = StateCookie.issue(shop, secret, now=self.wall())
        target = authorize_url(
            shop=shop,
            client_id=client_id,
            scopes=self.settings.shopify_app_scopes,
            redirect_uri=app_url + CALLBACK_PATH,
            state=state.nonce,
        )
        response = RedirectResponse(target, 302)
        response.set_cookie(
            STATE_COOKIE,
            state.value,
            max_age=600,
            path="/shopify/",
            secure=app_url.startswith("https://"),
            httponly=True,
            samesite="lax",  # sent on the top-level redirect back from Shopify
        )
        return response

    async def callback(self, request: Request) -> Response:
        try:
            client_id, secret, _, grants = self._ready()
            query = request.query_params
            verify_query(query.multi_items(), secret, now=self.wall())
            shop = valid_shop(query.get("shop", ""))
            StateCookie.check(
                request.cookies.get(STATE_COOKIE),
                state=query.get("state", ""),
                shop=shop,
                secret=secret,
                now=self.wall(),
            )
            code = query.get("code", "")
            if not code:
                raise ConnectorError(ErrorKind.INVALID_REQUEST, "The callback carries no code; install again.")
            await self.installations.record(shop, await grants.authorization_code(shop, code))
        except ConnectorError as err:
            return refusal(err)
        # The app inside the merchant's admin (an embedded app opens there).
        response = RedirectResponse(f"https://admin.shopify.com/store/{shop_name(shop)}/apps/{client_id}", 302)
        response.delete_cookie(STATE_COOKIE, path="/shopify/")
        return response

    async def exchange(self, shop: str, session_token: str) -> Installation:
        """For an embedded page opened on a shop with no install recorded (Shopify installs embedded
        apps itself): exchange the page's session token, already verified by the caller and issued
        for ``shop``, for an expiring offline token, and record the install."""
        *_, grants = self._ready()
        shop = valid_shop(shop)
        return await self.installations.record(shop, await grants.token_exchange(shop, session_token))
