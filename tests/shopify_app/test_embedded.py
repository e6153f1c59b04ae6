"""The embedded page: opened for a shop by its session token, framed only by its admin, showing
that shop's store; its data route refuses another shop's token."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from storelink.fakes.shopify.admin import embedded_url, mint_session_token
from storelink.main import create_app
from storelink.shopify_app.embedded import ADMIN_ORIGIN, data_path
from tests.shopify_app.app_support import API_KEY, API_SECRET, APP_URL, app_settings
from tests.web.helpers import LOCAL

NORTH, SOUTH = "north.myshopify.com", "south.myshopify.com"


def token(shop: str) -> str:
    # The app's fake token endpoint checks the token on the wall clock, as Shopify does.
    return mint_session_token(shop, api_key=API_KEY, secret=API_SECRET, now=time.time())


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = app_settings(tmp_path, mcp_force_mocks=True, enable_mcp=False)
    with TestClient(create_app(settings), **LOCAL) as opened:
        yield opened


def open_page(client: TestClient, shop: str) -> tuple[int, str, str]:
    response = client.get(embedded_url(APP_URL, shop, token(shop)).removeprefix(APP_URL))
    return response.status_code, response.text, response.headers.get("content-security-policy", "")


def test_each_shop_opens_its_own_store_framed_only_by_its_admin(client: TestClient) -> None:
    for shop in (NORTH, SOUTH):
        status, page, policy = open_page(client, shop)
        assert status == 200
        assert f"frame-ancestors https://{shop} {ADMIN_ORIGIN};" in policy
        assert f'data-shop="{shop}"' in page and "<s-page" in page and "<s-section" in page
        assert f'<meta name="shopify-api-key" content="{API_KEY}">' in page
        other = SOUTH if shop == NORTH else NORTH
        assert other not in page
        # Without Shopify's scripts the page is still plain HTML: a heading and a section per connector.
        assert re.search(r"<h1>storelink · [^<]+</h1>", page) and "<h2>Shopify</h2>" in page
        # The connectors an installed shop does not have are one line, not cards of empty figures.
        assert 'data-connector="ga4"' not in page and "Not set up for this shop: Google Analytics 4" in page


def test_the_data_route_answers_the_token_s_shop_only(client: TestClient) -> None:
    open_page(client, NORTH)  # installs north (token exchange) on first open
    open_page(client, SOUTH)
    north_store, south_store = "north", "south"
    north = {"Authorization": f"Bearer {token(NORTH)}"}
    mine = client.get(data_path(north_store), headers=north)
    assert mine.status_code == 200 and mine.json()["shop"] == NORTH
    assert {c["name"] for c in mine.json()["cards"]} >= {"shopify"}
    theirs = client.get(data_path(south_store), headers=north)
    assert theirs.status_code == 403 and "south" not in theirs.text.lower()
    assert client.get(data_path("no-such-store"), headers=north).status_code == 403


def test_no_token_or_a_bad_one_is_401(client: TestClient) -> None:
    assert client.get("/shopify/app").status_code == 401
    assert client.get("/shopify/app?id_token=not.a.token").status_code == 401
    refused = client.get(data_path("north"))
    assert refused.status_code == 401 and refused.headers["x-shopify-retry-invalid-session-request"] == "1"
    forged = mint_session_token(NORTH, api_key=API_KEY, secret="shpss_" + "f" * 32, now=time.time())
    assert client.get(data_path("north"), headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert "frame-ancestors 'none'" in client.get("/shopify/app").headers["content-security-policy"]
