"""The fake admin: it frames the app URL with a session token the app accepts, and mints more."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

from starlette.testclient import TestClient

from storelink.fakes.shopify.admin import FakeAdmin
from storelink.shopify_app.session_tokens import SessionTokens

KEY, SECRET, NOW = "client-id", "shpss_0123456789abcdef0123456789abcdef", 1_800_000_000.0


def test_the_admin_page_frames_the_app_with_a_token_for_its_shop() -> None:
    admin = FakeAdmin(app_url="https://app.test", api_key=KEY, secret=SECRET, wall=lambda: NOW)
    verify = SessionTokens(api_key=KEY, api_secret=SECRET, wall=lambda: NOW + 30)
    with TestClient(admin.app, base_url="https://admin.shopify.com") as client:
        page = client.get("/store/north/apps/storelink").text
        src = html.unescape(re.search(r'<iframe id="app-frame"[^>]* src="([^"]+)"', page).group(1))  # type: ignore[union-attr]
        url = urlsplit(src)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        assert (url.scheme, url.netloc, url.path) == ("https", "app.test", "/shopify/app")
        assert query["shop"] == "north.myshopify.com" and query["embedded"] == "1" and query["host"]
        assert verify.verify(query["id_token"]).shop == "north.myshopify.com"
        fresh = client.get("/_fake/id_token", params={"shop": "south.myshopify.com"}).json()["token"]
        assert verify.verify(fresh).shop == "south.myshopify.com"
        assert '"https://app.test"' in page  # it answers token requests from the app's origin only
    assert admin.minted == 2
