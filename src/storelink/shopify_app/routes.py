"""Every route of storelink as a Shopify app, and what they share.

``storelink.main`` plugs :class:`ShopifyAppExtension` into the web app when ``STORELINK_APP_URL`` is
set: its routes (:func:`shopify_app_routes`) and its lifespan (:func:`shopify_app_lifespan`). The
lifespan puts every installed shop back in the fleet and leaves a :class:`ShopifyApp` on
``app.state.shopify_app`` (:func:`shopify_app_of`). These routes are outside the dashboard's login
(web/auth.py protects ``/app``): each authenticates itself, by Shopify's HMAC or a session token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from storelink.errors import ConnectorError
from storelink.fakes.base import InProcessTransport
from storelink.fakes.shopify.app import ShopifyFake
from storelink.runtime import Fleet, StoreDirectory
from storelink.settings import Settings
from storelink.shopify_app.embedded import app_embedded_routes
from storelink.shopify_app.grants import Grants
from storelink.shopify_app.install import CALLBACK_PATH, INSTALL_PATH, Installer
from storelink.shopify_app.installations import Installations
from storelink.shopify_app.webhooks import WebhookInbox, app_webhook_routes, shared_inbox

__all__ = ["ShopifyApp", "ShopifyAppExtension", "shopify_app_lifespan", "shopify_app_of", "shopify_app_routes"]

log = logging.getLogger("storelink.shopify_app")


@dataclass
class ShopifyApp:
    """What the app's routes share."""

    settings: Settings
    installations: Installations
    installer: Installer
    client: httpx2.AsyncClient  # to shops' token endpoints (the fake's, in mock mode)
    webhooks: WebhookInbox


def shopify_app_of(request: Request) -> ShopifyApp:
    app: ShopifyApp = request.app.state.shopify_app
    return app


async def _install(request: Request) -> Response:
    return await shopify_app_of(request).installer.begin(request)


async def _callback(request: Request) -> Response:
    return await shopify_app_of(request).installer.callback(request)


def shopify_app_routes(settings: Settings) -> list[BaseRoute]:
    """The app's routes (install and callback here; the embedded page and webhooks beside them)."""
    return [
        Route(INSTALL_PATH, _install, methods=["GET"]),
        Route(CALLBACK_PATH, _callback, methods=["GET"]),
        *app_embedded_routes(shopify_app_of),  # /shopify/app and its data (session tokens)
        *app_webhook_routes(shopify_app_of),  # /shopify/webhooks (HMAC)
    ]


def _token_wire(settings: Settings) -> httpx2.AsyncBaseTransport:
    # In mock mode installs are granted by the Shopify fake, in-process, for this app's credentials.
    if settings.mcp_force_mocks and settings.shopify_api_key and settings.shopify_api_secret:
        fake = ShopifyFake(clients={settings.shopify_api_key: settings.shopify_api_secret.get_secret_value()})
        return InProcessTransport(fake.app)
    return httpx2.AsyncHTTPTransport(retries=0)


@asynccontextmanager
async def shopify_app_lifespan(
    app: Starlette,
    stores: StoreDirectory,
    settings: Settings,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    wall: Callable[[], float] = time.time,
) -> AsyncIterator[ShopifyApp]:
    """Open the app's parts for ``stores`` (a :class:`Fleet` gains a store per installed shop).
    ``transport`` replaces the wire to shops' token endpoints (tests)."""
    fleet = stores if isinstance(stores, Fleet) else None
    installations = Installations(settings, database=stores.database, fleet=fleet, wall=wall)
    try:
        restored = await installations.restore()
    except ConnectorError as err:  # the database is down: installs come back when it answers and we restart
        log.warning("Shopify app: installed shops not restored: %s", err.message)
    else:
        if restored:
            log.info("Shopify app: %d installed shop(s) served as stores", len(restored))
    async with httpx2.AsyncClient(transport=transport or _token_wire(settings), timeout=10.0) as client:
        grants = (
            Grants(client_id=settings.shopify_api_key, client_secret=settings.shopify_api_secret, client=client)
            if settings.shopify_api_key and settings.shopify_api_secret
            else None
        )
        installer = Installer(settings, installations, grants, wall=wall)
        webhooks = shared_inbox(await stores.runtime(stores.ids()[0]), installations)
        shopify_app = ShopifyApp(settings, installations, installer, client, webhooks)
        app.state.shopify_app = shopify_app
        try:
            yield shopify_app
        finally:
            await webhooks.aclose()


@dataclass(frozen=True, slots=True)
class ShopifyAppExtension:
    """The app's routes and lifespan as the web app takes them (``web.app.Extension``);
    ``storelink.main`` plugs it in when ``STORELINK_APP_URL`` is set."""

    settings: Settings

    @property
    def routes(self) -> list[BaseRoute]:
        return shopify_app_routes(self.settings)

    def lifespan(self, app: Starlette, stores: StoreDirectory) -> AbstractAsyncContextManager[ShopifyApp]:
        return shopify_app_lifespan(app, stores, self.settings)
