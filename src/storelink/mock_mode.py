"""Mock mode's registry: for each connector, the local fake it runs against and the fake's public
demo credentials. The runtime (and `storelink fakes serve`, the synthetic checks and the soak)
consult it; connectors never import the fakes, they only see a transport and credentials."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from storelink.fakes import bing, google_auth, zoho
from storelink.fakes.base import FakeUpstream
from storelink.fakes.bing import BingFake
from storelink.fakes.data import DEFAULT_SEED, DEFAULT_SHOP_NAME, DemoStore, current_demo_store
from storelink.fakes.ga4 import DEMO_PROPERTY_ID, Ga4Fake
from storelink.fakes.gsc import DEMO_SITE, GscFake
from storelink.fakes.shopify import DEFAULT_TOKEN, ShopifyFake
from storelink.fakes.zoho import ZohoFake
from storelink.store_calendar import PACIFIC, StoreCalendar, Wall
from storelink.stores import ConnectorSettings, DemoCredentials, Ga4Settings, GscSettings, settings_as

__all__ = ["FAKE_NAMES", "build_fake", "demo_credentials"]

_GOOGLE = DemoCredentials(access_token=google_auth.DEMO_ACCESS_TOKEN)
_DEMO = {
    "shopify": DemoCredentials(access_token=DEFAULT_TOKEN),
    "ga4": _GOOGLE,
    "gsc": _GOOGLE,
    "bing": DemoCredentials(api_key=bing.DEMO_API_KEY, site_url=bing.DEMO_SITE_URL),
    "zoho": DemoCredentials(
        client_id=zoho.DEMO_CLIENT_ID, client_secret=zoho.DEMO_CLIENT_SECRET, refresh_token=zoho.DEMO_REFRESH_TOKEN
    ),
}


def _shopify(config: ConnectorSettings, store: DemoStore, wall: Wall) -> FakeUpstream:
    return ShopifyFake(store=store)


def _ga4(config: ConnectorSettings, store: DemoStore, wall: Wall) -> FakeUpstream:
    # The configured property is served as well as the demo one.
    properties = [DEMO_PROPERTY_ID]
    configured = settings_as(config, Ga4Settings).property_id
    if configured:
        properties.append(configured.strip().strip("/").removeprefix("properties/"))
    return Ga4Fake(properties=properties, store=store, wall=wall)


def _gsc(config: ConnectorSettings, store: DemoStore, wall: Wall) -> FakeUpstream:
    configured = settings_as(config, GscSettings).site_url
    sites = [DEMO_SITE, *([configured] if configured else [])]
    # Search Console's days are Pacific: the fake's today is the connector's, on the same wall.
    return GscFake(sites=sites, store=store, today=StoreCalendar(wall, PACIFIC).today(), wall=wall)


def _bing(config: ConnectorSettings, store: DemoStore, wall: Wall) -> FakeUpstream:
    return BingFake(store=store)


def _zoho(config: ConnectorSettings, store: DemoStore, wall: Wall) -> FakeUpstream:
    return ZohoFake(store=store, wall=wall)


_BUILDERS: dict[str, Callable[[ConnectorSettings, DemoStore, Wall], FakeUpstream]] = {
    "shopify": _shopify,
    "ga4": _ga4,
    "gsc": _gsc,
    "bing": _bing,
    "zoho": _zoho,
}
FAKE_NAMES = tuple(_BUILDERS)


def build_fake(
    connector: str,
    config: ConnectorSettings,
    *,
    demo_today: dt.date | None,
    wall: Wall,
    demo_index: int = 0,
    shop_name: str = DEFAULT_SHOP_NAME,
) -> FakeUpstream:
    """The fake that ``connector``'s mock mode runs against (for the store ``config`` belongs to); it
    reads ``wall``, the connector's clock, ``demo_today`` pins the demo store's day, and
    ``demo_index`` picks the seeded demo store (0: the original demo shop)."""
    try:
        builder = _BUILDERS[connector]
    except KeyError:
        raise KeyError(f"no fake for connector {connector!r}; fakes: {', '.join(FAKE_NAMES)}") from None
    store = current_demo_store(demo_today, wall=wall, seed=DEFAULT_SEED + demo_index, shop_name=shop_name)
    return builder(config, store, wall)


def demo_credentials(connector: str) -> DemoCredentials:
    """What ``connector`` signs with in mock mode (none for a connector without a fake)."""
    return _DEMO.get(connector, DemoCredentials())
