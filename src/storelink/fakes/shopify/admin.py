"""A fake Shopify admin: the page that frames an embedded app and mints its session tokens.

Real admin (``https://admin.shopify.com/store/<name>/apps/<app>``) loads the app's URL in an iframe
with ``embedded=1``, ``shop``, ``host`` (base64url of ``admin.shopify.com/store/<name>``), ``locale``
and ``id_token`` (a session token), and App Bridge inside the frame gets fresh tokens from admin on
demand. This fake does the same without App Bridge: its page frames the app URL with a fresh
``id_token`` and answers the frame's ``{type: "storelink:id_token?"}`` message with a new token
(fetched from ``/_fake/id_token``), which is how the embedded page asks when App Bridge's CDN
script did not load.

Tokens carry Shopify's claims (``iss`` ``https://<shop>/admin``, ``dest`` ``https://<shop>``,
``aud`` the client id, ``sub``, ``exp`` one minute on, ``nbf``, ``iat``, ``jti``, ``sid``), HS256
under the app's client secret, on an injected wall clock.
"""

from __future__ import annotations

import base64
import html
import json
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlencode

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

__all__ = ["TOKEN_TTL_S", "FakeAdmin", "admin_host", "embedded_url", "mint_session_token"]

TOKEN_TTL_S = 60.0


def mint_session_token(
    shop: str, *, api_key: str, secret: str, now: float, user: str = "1", ttl_s: float = TOKEN_TTL_S
) -> str:
    """A session token for ``shop`` as admin issues it."""
    claims = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": api_key,
        "sub": user,
        "exp": int(now + ttl_s),
        "nbf": int(now),
        "iat": int(now),
        "jti": str(uuid.uuid4()),
        "sid": uuid.uuid5(uuid.NAMESPACE_URL, f"{shop}/{user}").hex,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def admin_host(shop: str) -> str:
    """Shopify's ``host`` parameter for ``shop``: base64url of its admin's address, unpadded."""
    name = shop.removesuffix(".myshopify.com")
    return base64.urlsafe_b64encode(f"admin.shopify.com/store/{name}".encode()).decode().rstrip("=")


def embedded_url(app_url: str, shop: str, token: str) -> str:
    """The URL admin loads in its iframe for ``shop``."""
    query = urlencode({"embedded": "1", "shop": shop, "host": admin_host(shop), "locale": "en", "id_token": token})
    return f"{app_url.rstrip('/')}/shopify/app?{query}"


class FakeAdmin:
    """Admin for the shops of one app (``app_url``, its client id and secret)."""

    def __init__(
        self,
        *,
        app_url: str,
        api_key: str,
        secret: str,
        wall: Callable[[], float] = time.time,
        handle: str = "storelink",
    ) -> None:
        self.app_url = app_url.rstrip("/")
        self.api_key = api_key
        self._secret = secret
        self._wall = wall
        self.handle = handle
        self.minted = 0
        self.app = Starlette(
            routes=[
                Route("/store/{name}/apps/{handle}", self.page, methods=["GET"]),
                Route("/_fake/id_token", self.id_token, methods=["GET"]),
            ]
        )

    def token(self, shop: str) -> str:
        self.minted += 1
        return mint_session_token(shop, api_key=self.api_key, secret=self._secret, now=self._wall())

    async def page(self, request: Request) -> Response:
        shop = f"{request.path_params['name']}.myshopify.com"
        src = embedded_url(self.app_url, shop, self.token(shop))
        origin = json.dumps("/".join(self.app_url.split("/", 3)[:3]))  # scheme://host[:port]
        body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(shop)} · Shopify admin (fake)</title></head>
<body>
<header id="admin-header">Shopify admin (fake) · <span id="admin-shop">{html.escape(shop)}</span></header>
<iframe id="app-frame" name="app-iframe" title="{html.escape(self.handle)}" src="{html.escape(src)}"
  style="width: 100%; height: 80vh; border: 0"></iframe>
<script>
// App Bridge's part: the app frame asks for a fresh session token, admin answers it (and only it).
const appOrigin = {origin};
window.addEventListener("message", async (event) => {{
  if (event.origin !== appOrigin || !event.data || event.data.type !== "storelink:id_token?") return;
  const response = await fetch("/_fake/id_token?shop=" + encodeURIComponent({json.dumps(shop)}));
  const {{token}} = await response.json();
  event.source.postMessage({{type: "storelink:id_token", token}}, appOrigin);
}});
</script>
</body></html>"""
        return HTMLResponse(body)

    async def id_token(self, request: Request) -> Response:
        shop = request.query_params.get("shop", "")
        return JSONResponse({"token": self.token(shop)}, headers={"Cache-Control": "no-store"})
