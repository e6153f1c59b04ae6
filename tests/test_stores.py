"""A store's connector settings: read from the environment as before, and enough on their own to
build a connector (two stores' connectors side by side in one process)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from storelink.clock import LoopClock
from storelink.connectors.base import ConnectorContext
from storelink.connectors.registry import builtin_connectors
from storelink.connectors.shopify.client import ShopifyConnector
from storelink.fakes.base import InProcessTransport
from storelink.fakes.shopify import ShopifyFake
from storelink.observability.metrics import Metrics
from storelink.runtime import decide_mode, open_runtime
from storelink.store import EmbeddedStore
from storelink.stores import (
    BingSettings,
    ConnectorSettings,
    Ga4Settings,
    GscSettings,
    ShopifySettings,
    StoreConfig,
    ZohoSettings,
    environment_store,
    settings_as,
)
from tests.conftest import make_settings


def test_the_environment_is_one_store_with_every_connector_settings(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        shopify_shop="north.myshopify.com",
        shopify_access_token="shpat_north",
        ga4_property_id="123",
        gsc_site_url="sc-domain:north.example",
        google_refresh_token="1//refresh",
        google_client_id="client",
        google_client_secret="google-secret",
        bing_wmt_api_key="bing-key",
        bing_site_url="https://north.example/",
        zoho_dc="eu",
        zoho_account_id="42",
        site_url="https://north.example",
        allow_writes="bing.submit_urls",
        shopify={"timeout": 4.0},
    )
    store = environment_store(settings)
    assert store.id == "default"
    assert store.name == "north.myshopify.com"
    assert set(store.connectors) == {c.name for c in builtin_connectors()}

    shopify = settings_as(store.connector("shopify"), ShopifySettings)
    assert (shopify.shop, shopify.knobs.timeout) == ("north.myshopify.com", 4.0)
    assert shopify.access_token is not None and shopify.access_token.get_secret_value() == "shpat_north"
    ga4 = settings_as(store.connector("ga4"), Ga4Settings)
    assert ga4.property_id == "123" and ga4.google.missing() == []
    assert ga4.google.token_url == settings.google_token_url
    assert settings_as(store.connector("gsc"), GscSettings).site_url == "sc-domain:north.example"
    assert settings_as(store.connector("bing"), BingSettings).site_url == "https://north.example/"
    zoho = settings_as(store.connector("zoho"), ZohoSettings)
    assert (zoho.dc, zoho.account_id, zoho.knobs) == ("eu", "42", settings.zoho)
    for config in store.connectors.values():
        assert (config.store, config.allow_writes, config.website) == (
            "default",
            "bing.submit_urls",
            "https://north.example",
        )
    assert sorted(store.secret_values()) == sorted(["shpat_north", "bing-key"] + ["google-secret", "1//refresh"] * 2)


def test_what_live_mode_lacks_is_named_per_connector(tmp_path: Path) -> None:
    store = environment_store(make_settings(tmp_path, ga4_property_id="123"))
    missing = {cls.name: cls.missing_settings(store.connector(cls.name)) for cls in builtin_connectors()}
    assert missing["shopify"] == ["SHOPIFY_SHOP", "SHOPIFY_ACCESS_TOKEN (or SHOPIFY_CLIENT_ID + SHOPIFY_CLIENT_SECRET)"]
    assert missing["ga4"] == [
        "GOOGLE_APPLICATION_CREDENTIALS (or GOOGLE_CLIENT_ID + GOOGLE_CLIENT_SECRET + GOOGLE_REFRESH_TOKEN)"
    ]
    assert missing["gsc"][0] == "GSC_SITE_URL"
    assert missing["bing"] == ["BING_WMT_API_KEY"]
    assert missing["zoho"] == ["ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN"]
    assert decide_mode(ShopifyConnector, store.connector("shopify"), force_mocks=False) == ("mock", missing["shopify"])


def test_an_unknown_connector_and_a_wrong_settings_type_are_clear_errors(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = environment_store(settings)
    with pytest.raises(KeyError, match="no settings for connector 'nope'; it has: shopify, ga4"):
        store.connector("nope")
    bare = ConnectorSettings(knobs=settings.shopify)
    with pytest.raises(TypeError, match="expected ShopifySettings, got ConnectorSettings"):
        ShopifyConnector(
            ConnectorContext(
                config=bare,
                mode="mock",
                inner=InProcessTransport(ShopifyFake().app),
                base_url="https://apex-demo.myshopify.com",
                clock=LoopClock(),
                metrics=Metrics(),
            )
        )


def _shop(store: str, token: str, tmp_path: Path) -> StoreConfig:
    settings = make_settings(tmp_path)
    config = ShopifySettings(
        store=store,
        knobs=settings.shopify,
        shop=f"{store}.myshopify.com",
        access_token=SecretStr(token),
    )
    return StoreConfig(id=store, name=store, connectors={"shopify": config})


async def test_two_stores_connectors_live_side_by_side_each_with_its_own_credentials(tmp_path: Path) -> None:
    """Each store's connector is built from that store's settings alone: its shop host and its
    token reach its own shop, and never the other's."""
    north, south = ShopifyFake(tokens={"shpat_north"}), ShopifyFake(tokens={"shpat_south"})
    settings = make_settings(tmp_path)
    async with (
        open_runtime(
            settings,
            store_config=_shop("north", "shpat_north", tmp_path),
            connectors=[ShopifyConnector],
            transports={"shopify": InProcessTransport(north.app)},
            store=EmbeddedStore(None),
        ) as a,
        open_runtime(
            settings,
            store_config=_shop("south", "shpat_south", tmp_path),
            connectors=[ShopifyConnector],
            transports={"shopify": InProcessTransport(south.app)},
            store=EmbeddedStore(None),
        ) as b,
    ):
        first, second = a.registry.get("shopify"), b.registry.get("shopify")
        assert (first.mode, second.mode) == ("live", "live")
        assert isinstance(first, ShopifyConnector) and isinstance(second, ShopifyConnector)
        assert (first.shop_host, second.shop_host) == ("north.myshopify.com", "south.myshopify.com")
        assert (await first.call("shop_info")).meta.mode == "live"
        assert (await second.call("shop_info")).meta.mode == "live"
        assert first.credential_partition() != second.credential_partition()
    assert north.stats and south.stats
