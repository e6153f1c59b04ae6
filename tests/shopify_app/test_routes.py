"""The app's routes in the served app (storelink.main): only with STORELINK_APP_URL, outside the
dashboard's login, and in mock mode an install runs end to end against the fake the app grants
installs with."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from storelink.fakes.base import InProcessTransport
from storelink.main import create_app
from storelink.shopify_app.routes import ShopifyApp
from tests.shopify_app.app_support import API_KEY, APP_URL, app_settings


@pytest.mark.slow
async def test_in_mock_mode_a_shop_installs_through_the_web_app(tmp_path: Path) -> None:
    # A password makes every dashboard page need a login; the app's routes authenticate themselves.
    settings = app_settings(tmp_path, mcp_force_mocks=True, dashboard_password="pw-0123456789", enable_mcp=False)
    app = create_app(settings, host="0.0.0.0")  # noqa: S104  (never bound: served in-process)
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(transport=InProcessTransport(app), base_url=APP_URL) as browser,
    ):
        assert (await browser.get("/app")).status_code in (302, 303, 401)  # the dashboard wants a login
        started = await browser.get("/shopify/install", params={"shop": "acme.myshopify.com"})
        assert started.status_code == 302
        assert started.headers["location"].startswith("https://acme.myshopify.com/admin/oauth/authorize?")
        shopify: ShopifyApp = app.state.shopify_app
        granted = await shopify.client.get(started.headers["location"])  # the fake mock mode installs with
        done = await browser.get(granted.headers["location"])
        assert done.status_code == 302
        assert done.headers["location"] == f"https://admin.shopify.com/store/acme/apps/{API_KEY}"
        assert "acme" in app.state.fleet.ids()


async def test_without_an_app_url_there_are_no_app_routes(tmp_path: Path) -> None:
    settings = app_settings(tmp_path, app_url=None, mcp_force_mocks=True, enable_mcp=False)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(transport=InProcessTransport(app), base_url="http://127.0.0.1:8765") as client,
    ):
        assert (await client.get("/shopify/install", params={"shop": "acme.myshopify.com"})).status_code == 404
        assert not hasattr(app.state, "shopify_app")
