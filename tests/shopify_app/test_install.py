"""Installing storelink on shops, end to end over in-process wires: the app's install and callback
routes, the Shopify fake's authorize page and token endpoint. Two shops install and each becomes a
store of its own; a tampered hmac, a state from another browser or install, and a bad shop are
refused with nothing installed; without STORELINK_SECRET_KEY nothing is asked of Shopify."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx2
import jwt
import pytest
from starlette.applications import Starlette

from storelink.connectors.shopify.auth import InstalledShopSettings
from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.base import InProcessTransport
from storelink.fakes.shopify import ShopifyFake
from storelink.runtime import Fleet, open_fleet
from storelink.settings import Settings
from storelink.shopify_app.oauth import query_hmac
from storelink.shopify_app.routes import ShopifyApp, shopify_app_lifespan, shopify_app_routes
from tests.shopify_app.app_support import API_KEY, API_SECRET, APP_URL, Clock, app_settings, fake_for


@dataclass
class World:
    asgi: Starlette
    app: ShopifyApp
    fleet: Fleet
    fake: ShopifyFake
    clock: Clock
    browser: httpx2.AsyncClient  # the merchant's browser, on the app (keeps cookies)
    shopify: httpx2.AsyncClient  # the same browser, on Shopify


@asynccontextmanager
async def world(settings: Settings, **fleet_args: Any) -> AsyncIterator[World]:
    clock = Clock()
    fake = fake_for(clock)
    async with open_fleet(settings, **fleet_args) as fleet:
        app = Starlette(routes=shopify_app_routes(settings))
        wire = InProcessTransport(fake.app)
        async with (
            shopify_app_lifespan(app, fleet, settings, transport=wire, wall=clock) as shopify_app,
            httpx2.AsyncClient(transport=InProcessTransport(app), base_url=APP_URL) as browser,
            httpx2.AsyncClient(transport=wire) as shopify,
        ):
            yield World(app, shopify_app, fleet, fake, clock, browser, shopify)


@pytest.fixture
async def mock(tmp_path: Path) -> AsyncIterator[World]:
    async with world(app_settings(tmp_path, mcp_force_mocks=True)) as w:
        yield w


async def begin(w: World, shop: str) -> str:
    """The browser opens the install link and follows Shopify's authorize page: the callback URL."""
    started = await w.browser.get("/shopify/install", params={"shop": shop})
    assert started.status_code == 302, started.text
    assert started.headers["location"].startswith(f"https://{shop}/admin/oauth/authorize?")
    granted = await w.shopify.get(started.headers["location"])
    assert granted.status_code == 302
    callback = granted.headers["location"]
    assert callback.startswith(f"{APP_URL}/shopify/callback?")
    return callback


async def install(w: World, shop: str) -> httpx2.Response:
    return await w.browser.get(await begin(w, shop))


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query)) | changes
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"


def resigned(url: str, **changes: str) -> str:
    """``url`` with ``changes``, signed again with the app's secret (as only Shopify could)."""
    query = {k: v for k, v in parse_qsl(urlsplit(url).query) if k != "hmac"} | changes
    return with_query(url, **query, hmac=query_hmac(query.items(), API_SECRET))


async def test_two_shops_install_and_each_becomes_its_store(mock: World) -> None:
    for shop, name in (("acme.myshopify.com", "acme"), ("bolt.myshopify.com", "bolt")):
        done = await install(mock, shop)
        assert done.status_code == 302, done.text
        assert done.headers["location"] == f"https://admin.shopify.com/store/{name}/apps/{API_KEY}"
        assert await mock.app.installations.store_for(shop) == name
    assert {"acme", "bolt"} <= set(mock.fleet.ids())
    assert [row.shop for row in await mock.app.installations.installed()] == [
        "acme.myshopify.com",
        "bolt.myshopify.com",
    ]
    assert mock.fake.oauth.counts.grants["authorization_code"] == 2
    # Each store serves its own shop (in mock mode, its own demo data, named for the shop).
    names = []
    for store in ("acme", "bolt"):
        runtime = await mock.fleet.runtime(store)
        config = runtime.config.connector("shopify")
        assert isinstance(config, InstalledShopSettings) and config.shop == f"{store}.myshopify.com"
        assert {c.name: c.mode for c in runtime.registry}["shopify"] == "mock"
        assert all(c.mode == "disabled" for c in runtime.registry if c.name != "shopify")
        names.append((await runtime.registry.get("shopify").call("shop_info", {})).data.name)
    assert names == ["acme.myshopify.com", "bolt.myshopify.com"]


async def test_the_state_cookie_is_cleared_after_the_callback(mock: World) -> None:
    await install(mock, "acme.myshopify.com")
    assert "storelink_shopify_state" not in mock.browser.cookies


@pytest.mark.parametrize("tamper", ["code", "shop", "timestamp", "hmac"])
async def test_a_tampered_callback_is_refused(mock: World, tamper: str) -> None:
    callback = await begin(mock, "acme.myshopify.com")
    value = {"code": "0" * 32, "shop": "evil.myshopify.com", "timestamp": "1800000001", "hmac": "0" * 64}[tamper]
    refused = await mock.browser.get(with_query(callback, **{tamper: value}))
    assert refused.status_code == 401 and "hmac" in refused.text
    assert await mock.app.installations.installed() == []
    assert mock.fake.oauth.counts.grants["authorization_code"] == 0


async def test_an_old_callback_is_refused(mock: World) -> None:
    callback = await begin(mock, "acme.myshopify.com")
    mock.clock.now += 91
    assert (await mock.browser.get(callback)).status_code == 401
    assert await mock.app.installations.installed() == []


async def test_a_callback_in_another_browser_is_forbidden(mock: World) -> None:
    callback = await begin(mock, "acme.myshopify.com")
    async with httpx2.AsyncClient(transport=InProcessTransport(mock.asgi), base_url=APP_URL) as other:
        refused = await other.get(callback)
    assert refused.status_code == 403 and "state" in refused.text
    assert await mock.app.installations.installed() == []


async def test_a_state_from_another_install_is_forbidden(mock: World) -> None:
    first = await begin(mock, "acme.myshopify.com")
    await begin(mock, "acme.myshopify.com")  # a newer install replaced this browser's state
    refused = await mock.browser.get(first)
    assert refused.status_code == 403
    assert mock.fake.oauth.counts.grants["authorization_code"] == 0


async def test_a_state_for_another_shop_is_forbidden(mock: World) -> None:
    callback = await begin(mock, "acme.myshopify.com")
    refused = await mock.browser.get(resigned(callback, shop="bolt.myshopify.com"))
    assert refused.status_code == 403
    assert await mock.app.installations.installed() == []


@pytest.mark.parametrize("shop", ["evil.com", "acme.myshopify.com.evil.com", "", "acme"])
async def test_a_bad_shop_is_refused_before_anything_is_sent(mock: World, shop: str) -> None:
    started = await mock.browser.get("/shopify/install", params={"shop": shop})
    assert started.status_code == 400 and "myshopify.com" in started.text
    assert "location" not in started.headers


async def test_a_signed_callback_for_a_bad_shop_is_refused(mock: World) -> None:
    callback = await begin(mock, "acme.myshopify.com")
    refused = await mock.browser.get(resigned(callback, shop="evil.example.com"))
    assert refused.status_code == 400
    assert await mock.app.installations.installed() == []


async def test_shopifys_signed_install_request_is_checked(mock: World) -> None:
    query = {"shop": "acme.myshopify.com", "timestamp": str(int(mock.clock.now))}
    good = await mock.browser.get("/shopify/install", params=query | {"hmac": query_hmac(query.items(), API_SECRET)})
    assert good.status_code == 302
    forged = await mock.browser.get("/shopify/install", params=query | {"hmac": "0" * 64})
    assert forged.status_code == 401


async def test_without_a_secret_key_the_install_is_refused_with_what_to_set(tmp_path: Path) -> None:
    async with world(app_settings(tmp_path, mcp_force_mocks=True, secret_key=None)) as w:
        refused = await w.browser.get("/shopify/install", params={"shop": "acme.myshopify.com"})
    assert refused.status_code == 503
    assert "STORELINK_SECRET_KEY" in refused.text and "storelink db new-key" in refused.text
    assert "location" not in refused.headers


async def test_without_the_apps_credentials_the_install_says_what_to_set(tmp_path: Path) -> None:
    async with world(app_settings(tmp_path, shopify_api_key=None, shopify_api_secret=None)) as w:
        refused = await w.browser.get("/shopify/install", params={"shop": "acme.myshopify.com"})
    assert refused.status_code == 503
    assert "SHOPIFY_API_KEY" in refused.text and "SHOPIFY_API_SECRET" in refused.text


async def test_a_reinstall_keeps_the_store_and_a_taken_id_is_not_reused(tmp_path: Path) -> None:
    async with world(app_settings(tmp_path, mcp_force_mocks=True, demo_stores=2)) as w:
        assert (await install(w, "demo-1.myshopify.com")).status_code == 302
        assert await w.app.installations.store_for("demo-1.myshopify.com") == "shop-demo-1"
        await w.app.installations.uninstall("demo-1.myshopify.com")
        assert await w.app.installations.store_for("demo-1.myshopify.com") is None
        assert (await install(w, "demo-1.myshopify.com")).status_code == 302
        assert await w.app.installations.store_for("demo-1.myshopify.com") == "shop-demo-1"
        assert w.fleet.ids().count("shop-demo-1") == 1


class ToFake(httpx2.AsyncBaseTransport):
    """A live connector's wire, to the fake a test's world opens later."""

    def __init__(self) -> None:
        self.fake: ShopifyFake | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        assert self.fake is not None
        return await InProcessTransport(self.fake.app).handle_async_request(request)


async def test_live_an_installed_shop_calls_shopify_with_its_expiring_token(tmp_path: Path) -> None:
    wire = ToFake()
    # Live mode: the store "acme" (installed below) reaches Shopify through the world's fake.
    async with world(app_settings(tmp_path), transports={"acme": {"shopify": wire}}) as w:
        wire.fake = w.fake
        assert (await install(w, "acme.myshopify.com")).status_code == 302
        connector = (await w.fleet.runtime("acme")).registry.get("shopify")
        assert connector.mode == "live"
        assert (await connector.health()).status == "ok"
        w.clock.now += 3600  # expired: the next call refreshes it first
        assert (await connector.health()).status == "ok"
        assert w.fake.oauth.counts.refreshes == 1


async def test_an_embedded_pages_session_token_installs_the_shop(mock: World) -> None:
    claims = {
        "iss": "https://acme.myshopify.com/admin",
        "dest": "https://acme.myshopify.com",
        "aud": API_KEY,
        "sub": "42",
        "exp": int(mock.clock.now) + 60,
        "nbf": int(mock.clock.now),
        "iat": int(mock.clock.now),
    }
    row = await mock.app.installer.exchange("acme.myshopify.com", jwt.encode(claims, API_SECRET, algorithm="HS256"))
    assert (row.shop, row.store) == ("acme.myshopify.com", "acme")
    assert mock.fake.oauth.counts.grants["urn:ietf:params:oauth:grant-type:token-exchange"] == 1
    stored = await mock.app.installations.records.read("acme", "acme.myshopify.com")
    assert stored is not None and stored.refresh_token is not None  # expiring=1
    assert stored.expires_at == mock.clock.now + 3600


async def test_a_session_token_shopify_refuses_installs_nothing(mock: World) -> None:
    forged = jwt.encode({"dest": "https://acme.myshopify.com", "aud": API_KEY}, "shpss_" + "x" * 32, algorithm="HS256")
    with pytest.raises(ConnectorError) as caught:
        await mock.app.installer.exchange("acme.myshopify.com", forged)
    assert caught.value.kind is ErrorKind.UNAUTHORIZED and caught.value.upstream_code == "invalid_subject_token"
    assert await mock.app.installations.installed() == []
