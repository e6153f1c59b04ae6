"""What a store is to storelink: an id, a name, and each connector's own settings.

A connector is built from its :class:`ConnectorSettings` (its credentials and ids, its knobs, the
deployment's write rule), never from the whole :class:`~storelink.settings.Settings`, so one process
can hold several stores' connectors side by side. :func:`environment_store` reads the single store
the environment describes (``default``): the names people already use (``SHOPIFY_SHOP``,
``GA4_PROPERTY_ID``, …) and the ``STORELINK_<CONNECTOR>_*`` knobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, SecretStr

from storelink.settings import (
    BingKnobs,
    ConnectorKnobs,
    Ga4Knobs,
    GscKnobs,
    Settings,
    ShopifyKnobs,
    ZohoKnobs,
    secret_values_of,
)

__all__ = [
    "DEFAULT_STORE",
    "DEMO_STORE_NAMES",
    "BingSettings",
    "ConnectorSettings",
    "DemoCredentials",
    "Ga4Settings",
    "GoogleAccount",
    "GoogleSettings",
    "GscSettings",
    "ShopifySettings",
    "StoreConfig",
    "ZohoSettings",
    "demo_stores",
    "environment_store",
    "settings_as",
]

DEFAULT_STORE = "default"
S = TypeVar("S", bound="ConnectorSettings")
# Knob groups of Settings that belong to no connector.
_NOT_CONNECTORS = frozenset({"site", "llm"})


class ConnectorSettings(BaseModel):
    """One store's settings for one connector. Subclasses add the upstream's credentials and ids."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    store: str = DEFAULT_STORE
    knobs: ConnectorKnobs
    # The write rule (`connector.operation` names, or `*`); the connector checks its own operations.
    allow_writes: str = ""
    # The store's own website (``STORELINK_SITE_URL``), where a connector needs an absolute URL.
    website: str | None = None

    def secret_values(self) -> list[str]:
        """Every secret set here, for redaction. Never log what this returns."""
        return secret_values_of(self)


class GoogleAccount(BaseModel):
    """Google credentials: a refresh token with its OAuth client, or a key file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    application_credentials: Path | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    token_url: str  # STORELINK_GOOGLE_TOKEN_URL's default is the only one

    def missing(self) -> list[str]:
        """What live mode lacks (empty when one complete way is set)."""
        if (self.client_id and self.client_secret and self.refresh_token) or self.application_credentials:
            return []
        return ["GOOGLE_APPLICATION_CREDENTIALS (or GOOGLE_CLIENT_ID + GOOGLE_CLIENT_SECRET + GOOGLE_REFRESH_TOKEN)"]


class ShopifySettings(ConnectorSettings):
    knobs: ShopifyKnobs
    shop: str | None = None
    access_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None


class GoogleSettings(ConnectorSettings):
    """A Google connector's: the account it signs in with."""

    google: GoogleAccount


class Ga4Settings(GoogleSettings):
    knobs: Ga4Knobs
    property_id: str | None = None


class GscSettings(GoogleSettings):
    knobs: GscKnobs
    site_url: str | None = None


class BingSettings(ConnectorSettings):
    knobs: BingKnobs
    api_key: SecretStr | None = None
    site_url: str | None = None


class ZohoSettings(ConnectorSettings):
    knobs: ZohoKnobs
    dc: str = "com"
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    account_id: str | None = None
    accounts_url: str | None = None


class StoreConfig(BaseModel):
    """One store: its id, its display name and its connectors' settings, by connector name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = DEFAULT_STORE
    name: str = DEFAULT_STORE
    connectors: Mapping[str, ConnectorSettings]
    # Which seeded demo store its fakes serve in mock mode (0: the original demo shop).
    demo_index: int = 0

    def connector(self, name: str) -> ConnectorSettings:
        try:
            return self.connectors[name]
        except KeyError:
            known = ", ".join(self.connectors) or "none"
            raise KeyError(f"store {self.id!r} has no settings for connector {name!r}; it has: {known}") from None

    def secret_values(self) -> list[str]:
        """Every secret of every connector, for redaction. Never log what this returns."""
        return [secret for config in self.connectors.values() for secret in config.secret_values()]


def settings_as(config: ConnectorSettings, kind: type[S]) -> S:
    """``config`` as the settings type a connector is built from (a wrong one is a wiring bug)."""
    if not isinstance(config, kind):
        raise TypeError(f"expected {kind.__name__}, got {type(config).__name__} (store {config.store!r})")
    return config


@dataclass(frozen=True, slots=True)
class DemoCredentials:
    """The fakes' public demo credentials (none is a secret): the runtime fills them in from mock
    mode's registry (storelink.mock_mode), so a connector signs its mock requests without importing
    the fakes. A connector reads only the ones its upstream uses."""

    access_token: str = ""
    api_key: str = ""
    site_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    refresh_token: str = ""


DEMO_STORE_NAMES = (
    "Apex Performance Parts",
    "Northline Motorsport",
    "Redline Garage Supply",
    "Coastal Track Parts",
    "Summit Speed Shop",
    "Ironbridge Auto Works",
    "Harbor City Tuning",
    "Prairie Rally Supply",
)


def demo_stores(settings: Settings, count: int) -> list[StoreConfig]:
    """``count`` demo stores (``demo-1``…), each serving its own seeded demo data in mock mode; they
    carry no credentials, so they are always mock."""
    base = environment_store(settings)
    stores: list[StoreConfig] = []
    for index in range(count):
        store_id = f"demo-{index + 1}"
        name = DEMO_STORE_NAMES[index % len(DEMO_STORE_NAMES)]
        if index >= len(DEMO_STORE_NAMES):
            name = f"{name} {index // len(DEMO_STORE_NAMES) + 1}"
        connectors = {
            connector: type(config)(
                store=store_id, knobs=config.knobs, allow_writes=config.allow_writes, **_no_credentials(config)
            )
            for connector, config in base.connectors.items()
        }
        stores.append(StoreConfig(id=store_id, name=name, connectors=connectors, demo_index=index))
    return stores


def _no_credentials(config: ConnectorSettings) -> dict[str, object]:
    # A demo store keeps what is required to build its settings (the Google token endpoint), no more.
    return {"google": GoogleAccount(token_url=config.google.token_url)} if isinstance(config, GoogleSettings) else {}


def environment_store(settings: Settings) -> StoreConfig:
    """The one store the environment describes, exactly as storelink has always read it."""
    common = {"store": DEFAULT_STORE, "allow_writes": settings.allow_writes, "website": settings.site_url}
    google = GoogleAccount(
        application_credentials=settings.google_application_credentials,
        client_id=settings.google_client_id,
        client_secret=settings.google_client_secret,
        refresh_token=settings.google_refresh_token,
        token_url=settings.google_token_url,
    )
    connectors: dict[str, ConnectorSettings] = {
        "shopify": ShopifySettings(
            **common,
            knobs=settings.shopify,
            shop=settings.shopify_shop,
            access_token=settings.shopify_access_token,
            client_id=settings.shopify_client_id,
            client_secret=settings.shopify_client_secret,
        ),
        "ga4": Ga4Settings(**common, knobs=settings.ga4, property_id=settings.ga4_property_id, google=google),
        "gsc": GscSettings(**common, knobs=settings.gsc, site_url=settings.gsc_site_url, google=google),
        "bing": BingSettings(
            **common, knobs=settings.bing, api_key=settings.bing_wmt_api_key, site_url=settings.bing_site_url
        ),
        "zoho": ZohoSettings(
            **common,
            knobs=settings.zoho,
            dc=settings.zoho_dc,
            client_id=settings.zoho_client_id,
            client_secret=settings.zoho_client_secret,
            refresh_token=settings.zoho_refresh_token,
            account_id=settings.zoho_account_id,
            accounts_url=settings.zoho_accounts_url,
        ),
    }
    # Knobs a deployment adds for a connector of its own (a subclass of Settings) come along bare.
    for group in type(settings).model_fields:
        knobs = getattr(settings, group)
        if isinstance(knobs, ConnectorKnobs) and group not in connectors and group not in _NOT_CONNECTORS:
            connectors[group] = ConnectorSettings(**common, knobs=knobs)
    return StoreConfig(id=DEFAULT_STORE, name=settings.shopify_shop or DEFAULT_STORE, connectors=connectors)
