"""What the Shopify app's tests share: the app's credentials, a clock the tests move, a Shopify fake
that knows the app, and a shop installed on it (the fake's own install, through HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx2
from cryptography.fernet import Fernet
from pydantic import SecretStr

from storelink.fakes.base import InProcessTransport
from storelink.fakes.shopify import ShopifyFake
from storelink.settings import Settings
from storelink.shopify_app.grants import Grant, Grants
from tests.conftest import make_settings
from tests.support.clocks import ManualClock as Clock

__all__ = ["API_KEY", "API_SECRET", "APP_URL", "SECRET_KEY", "Clock", "app_settings", "fake_for", "install_grant"]

API_KEY = "storelink-app-client"
API_SECRET = "shpss_0123456789abcdef0123456789abcdef"
APP_URL = "https://app.example"
SECRET_KEY = Fernet.generate_key().decode()


def app_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "app_url": APP_URL,
        "shopify_api_key": API_KEY,
        "shopify_api_secret": SecretStr(API_SECRET),
        "secret_key": SecretStr(SECRET_KEY),
    }
    return make_settings(tmp_path, **(values | overrides))


def fake_for(clock: Clock) -> ShopifyFake:
    return ShopifyFake(clients={API_KEY: API_SECRET}, clock=clock, wall=clock)


async def install_grant(fake: ShopifyFake, shop: str) -> Grant:
    """``shop`` installs the app on the fake: its authorize redirect, then the code for tokens."""
    async with httpx2.AsyncClient(transport=InProcessTransport(fake.app)) as client:
        response = await client.get(
            f"https://{shop}/admin/oauth/authorize",
            params={"client_id": API_KEY, "scope": "read_orders", "redirect_uri": f"{APP_URL}/shopify/callback"},
        )
        code = dict(parse_qsl(urlsplit(response.headers["location"]).query))["code"]
        grants = Grants(client_id=API_KEY, client_secret=SecretStr(API_SECRET), client=client)
        return await grants.authorization_code(shop, code)
