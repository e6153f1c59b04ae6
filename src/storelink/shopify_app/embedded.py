"""The embedded admin page: ``GET /shopify/app``, the dashboard of the shop that opens it.

Shopify admin loads the app URL in an iframe with the shop's session token in the ``id_token``
query parameter (besides ``shop``, ``host``, ``embedded``); the shop is the token's, never the
query's ``shop``. The page is the store's overview, built by what the dashboard already computes
(:func:`storelink.web.views.cards` over :class:`~storelink.web.state.DashboardState`), rendered
server-side as plain HTML inside Polaris web components (``<s-page>``, ``<s-section>``,
``<s-badge>``…): with Shopify's CDN scripts it looks like admin; without them (a blocked CDN, the
tests) the same text reads as a plain page.

Every later request of the page carries ``Authorization: Bearer <session token>`` (App Bridge's
fetch does it; without App Bridge the page asks its parent frame for a fresh token, which is what
the fake admin answers, and falls back to the one it was loaded with). ``GET
/shopify/app/stores/<store>/data`` answers that store's cards as JSON, and only when the token's
shop is the store's: a token of shop A is refused (403) on shop B's data. An unusable token is 401
with ``X-Shopify-Retry-Invalid-Session-Request: 1``, which tells App Bridge to retry with a new one.

Every HTML answer carries ``Content-Security-Policy: frame-ancestors https://<shop>
https://admin.shopify.com``, the token's shop: framed by anything else, the browser refuses it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from storelink.errors import ConnectorError, ErrorKind
from storelink.settings import Settings
from storelink.shopify_app.session_tokens import SessionTokens, bearer_token
from storelink.web import views
from storelink.web.dashboard import templates
from storelink.web.state import dashboards_for

__all__ = [
    "ADMIN_ORIGIN",
    "APP_PATH",
    "AppParts",
    "app_embedded_routes",
    "data_path",
    "embedded_routes",
    "frame_policy",
    "session_tokens_of",
]

log = logging.getLogger("storelink.shopify_app")

APP_PATH = "/shopify/app"
ADMIN_ORIGIN = "https://admin.shopify.com"
CDN = "https://cdn.shopify.com"
APP_BRIDGE_JS = f"{CDN}/shopifycloud/app-bridge.js"
POLARIS_JS = f"{CDN}/shopifycloud/polaris-1.js"  # the stable major, pinned (docs/shopify-app-embedded.md)

StoreFor = Callable[[str], Awaitable[str | None]]
Install = Callable[[str, str], Awaitable[str]]


def data_path(store_id: str) -> str:
    return f"{APP_PATH}/stores/{store_id}/data"


def frame_policy(shop: str | None, nonce: str) -> str:
    """The page's CSP: framed only by the shop's admin (``'none'`` when no shop was verified)."""
    ancestors = f"https://{shop} {ADMIN_ORIGIN}" if shop else "'none'"
    return (
        f"frame-ancestors {ancestors}; default-src 'self'; script-src 'self' {CDN} 'nonce-{nonce}'; "
        f"style-src 'self' 'unsafe-inline' {CDN}; img-src 'self' data: {CDN}; "
        f"connect-src 'self' https://*.shopify.com; base-uri 'none'; form-action 'self'"
    )


def _headers(shop: str | None, nonce: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": frame_policy(shop, nonce),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Cache-Control": "no-store",
    }


class _Installations(Protocol):
    async def store_for(self, shop: str) -> str | None: ...


class _Installer(Protocol):
    async def exchange(self, shop: str, session_token: str) -> Any: ...


class AppParts(Protocol):
    """What the page needs of the app (shopify_app/routes.py's ``ShopifyApp``)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def installations(self) -> _Installations: ...

    @property
    def installer(self) -> _Installer: ...


def session_tokens_of(request: Request, settings: Settings) -> SessionTokens:
    """The app's session-token verifier, built once per app (it holds the client secret)."""
    found = getattr(request.app.state, "shopify_session_tokens", None)
    if isinstance(found, SessionTokens):
        return found
    secret = settings.shopify_api_secret.get_secret_value() if settings.shopify_api_secret else ""
    try:
        built = SessionTokens(api_key=settings.shopify_api_key or "", api_secret=secret)
    except ValueError as exc:
        raise ConnectorError(ErrorKind.NOT_CONFIGURED, f"{exc}.", connector="shopify_app", status=503) from None
    request.app.state.shopify_session_tokens = built
    return built


def app_embedded_routes(app_of: Callable[[Request], AppParts]) -> list[BaseRoute]:
    """:func:`embedded_routes` for the running app: its tokens, installations and installer."""

    def store_for(request: Request) -> StoreFor:
        parts = app_of(request)

        async def find(shop: str) -> str | None:
            return await parts.installations.store_for(shop)

        return find

    def install(request: Request) -> Install:
        parts = app_of(request)

        async def exchange(shop: str, token: str) -> str:
            # Shopify installs embedded apps itself: a shop opening the page unknown to us is one.
            installation = await parts.installer.exchange(shop, token)
            return str(installation.store)

        return exchange

    return embedded_routes(
        lambda request: session_tokens_of(request, app_of(request).settings),
        store_for,
        lambda request: app_of(request).settings.shopify_api_key or "",
        install=install,
    )


def embedded_routes(
    tokens: Callable[[Request], SessionTokens],
    store_for: Callable[[Request], StoreFor],
    api_key: Callable[[Request], str],
    *,
    install: Callable[[Request], Install] | None = None,
) -> list[BaseRoute]:
    """The embedded page and its data route. ``tokens`` verifies session tokens, ``store_for``
    maps a shop to its installed store (Installations.store_for), ``api_key`` is the client id;
    ``install`` records a shop that opens the page with no install recorded (token exchange)."""

    async def page(request: Request) -> Response:
        nonce = secrets.token_urlsafe(16)
        raw = request.query_params.get("id_token", "")
        try:
            verified = tokens(request).verify(raw) if raw else None
        except ConnectorError as exc:
            return _problem(request, nonce, None, "This page must be opened from Shopify admin", exc.message, 401)
        if verified is None:
            message = "Open storelink from your Shopify admin (Apps → storelink): it passes the page a session token."
            return _problem(request, nonce, None, "Open this page from Shopify admin", message, 401)
        store_id = await store_for(request)(verified.shop)
        if store_id is None and install is not None:
            try:
                store_id = await install(request)(verified.shop, raw)
            except ConnectorError as exc:
                log.warning("embedded page: %s could not be installed by token exchange: %s", verified.shop, exc)
        if store_id is None:
            message = f"storelink is not installed on {verified.shop}: install it from Shopify admin, then open it."
            return _problem(request, nonce, verified.shop, "Not installed", message, 404)
        state = await dashboards_for(request.app.state).open(store_id)
        cards, problems = views.cards(state)
        # A connector the shop has not set up is one line, not a card of empty figures.
        context: dict[str, Any] = {
            "shop": verified.shop,
            "store_id": store_id,
            "store_name": state.runtime.config.name,
            "cards": [c for c in cards if c.mode != "disabled"],
            "not_connected": [c.title for c in cards if c.mode == "disabled"],
            "problems": problems,
            "api_key": api_key(request),
            "app_bridge_js": APP_BRIDGE_JS,
            "polaris_js": POLARIS_JS,
            "data_url": data_path(store_id),
            "id_token": raw,
            "nonce": nonce,
        }
        response = templates.TemplateResponse(request, "shopify/embedded.html", context)
        response.headers.update(_headers(verified.shop, nonce))
        return response

    async def data(request: Request) -> Response:
        try:
            verified = tokens(request).verify(bearer_token(request.headers.get("authorization")))
        except ConnectorError as exc:
            return _unauthorized(exc)
        store_id = request.path_params["store"]
        if await store_for(request)(verified.shop) != store_id:
            # Whether or not that store exists: a shop learns nothing of other stores.
            return JSONResponse({"error": "forbidden", "message": "This shop may not read that store."}, 403)
        state = await dashboards_for(request.app.state).open(store_id)
        cards, problems = views.cards(state)
        return JSONResponse(
            {"shop": verified.shop, "store": store_id, "cards": [c.to_json() for c in cards], "problems": problems},
            headers={"Cache-Control": "no-store"},
        )

    return [
        Route(APP_PATH, page, methods=["GET"]),
        Route(APP_PATH + "/stores/{store}/data", data, methods=["GET"]),
    ]


def _unauthorized(exc: ConnectorError) -> Response:
    kind = exc.kind if exc.kind is ErrorKind.UNAUTHORIZED else ErrorKind.UNAUTHORIZED
    return JSONResponse(
        {"error": kind.value, "message": exc.message},
        401,
        headers={"X-Shopify-Retry-Invalid-Session-Request": "1", "Cache-Control": "no-store"},
    )


def _problem(request: Request, nonce: str, shop: str | None, title: str, message: str, status: int) -> Response:
    context = {"title": title, "message": message, "nonce": nonce}
    response = templates.TemplateResponse(request, "shopify/problem.html", context, status_code=status)
    response.headers.update(_headers(shop, nonce))
    return response
