"""The embedded admin page in a real browser (system Chromium through Playwright): two shops open
storelink inside a fake Shopify admin's iframe and each sees only its own store; framed by another
origin, the page is refused by its CSP.

The browser sees real origins: ``https://admin.shopify.com`` (the fake admin, fulfilled from
:class:`~storelink.fakes.shopify.admin.FakeAdmin`), the app at ``APP_URL`` (each request forwarded to
the local server), ``https://evil.example`` (a page that frames the app) and Shopify's CDN, which
is unreachable, as the page must survive."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from storelink.fakes.shopify.admin import FakeAdmin, embedded_url, mint_session_token
from storelink.main import create_app
from storelink.runtime import open_fleet
from storelink.store import EmbeddedStore
from tests.e2e.support import Served, browser, needs_chromium, serve
from tests.shopify_app.app_support import API_KEY, API_SECRET, APP_URL, app_settings

pytestmark = [needs_chromium, pytest.mark.slow]

SHOPS = ("north.myshopify.com", "south.myshopify.com")
ADMIN = "https://admin.shopify.com"
EVIL = "https://evil.example"


@contextmanager
def embedded_world(tmp_path: Path) -> Iterator[tuple[Served, Any]]:
    """The app served on loopback, a browser whose requests go to the right place, and the fake admin."""
    settings = app_settings(tmp_path, mcp_force_mocks=True, enable_mcp=False)
    admin = FakeAdmin(app_url=APP_URL, api_key=API_KEY, secret=API_SECRET)  # the wall clock, as Shopify's
    build = lambda factory: create_app(settings, fleet_factory=factory, health_interval_s=60.0)  # noqa: E731
    fleet = functools.partial(open_fleet, store=EmbeddedStore(None))
    with serve(build, fleet) as served, TestClient(admin.app, base_url=ADMIN) as admin_client, browser() as b:
        context = b.new_context()

        def to_app(route: Any) -> None:
            local = served.url + route.request.url.removeprefix(APP_URL)
            route.fulfill(response=route.fetch(url=local))

        def to_admin(route: Any) -> None:
            answer = admin_client.get(route.request.url.removeprefix(ADMIN))
            route.fulfill(status=answer.status_code, body=answer.content, headers=dict(answer.headers))

        def framing(route: Any) -> None:  # any page that frames the app with a genuine token
            src = embedded_url(
                APP_URL, SHOPS[0], mint_session_token(SHOPS[0], api_key=API_KEY, secret=API_SECRET, now=time.time())
            )
            body = f'<!doctype html><title>framing</title><iframe id="app-frame" src="{src}"></iframe>'
            route.fulfill(status=200, body=body, content_type="text/html")

        context.route(f"{APP_URL}/**", to_app)
        context.route(f"{ADMIN}/_test/frame", framing)  # the control: admin's origin may frame it
        context.route(f"{ADMIN}/store/**", to_admin)
        context.route(f"{ADMIN}/_fake/**", to_admin)
        context.route(f"{EVIL}/**", framing)
        context.route("https://cdn.shopify.com/**", lambda route: route.abort())  # unreachable, as in CI
        try:
            yield served, context
        finally:
            context.close()


def test_two_shops_each_see_only_their_own_store_inside_admin(tmp_path: Path) -> None:
    with embedded_world(tmp_path) as (_, context):
        page = context.new_page()
        for shop in SHOPS:
            other = next(s for s in SHOPS if s != shop)
            page.goto(f"{ADMIN}/store/{shop.removesuffix('.myshopify.com')}/apps/storelink")
            frame = page.frame_locator("#app-frame")
            # The page's own request for data, with a fresh token the admin minted, succeeded.
            frame.locator('[data-refreshed][data-ok="1"]').wait_for(timeout=15_000)
            assert frame.locator("[data-shop-domain]").inner_text() == shop
            assert frame.locator("[data-store-id]").inner_text() == shop.removesuffix(".myshopify.com")
            text = frame.locator("body").inner_text()
            assert other not in text and other.removesuffix(".myshopify.com") not in text
            # Legible without Shopify's scripts: the heading and a section per connector are shown.
            assert frame.locator("h1").is_visible() and "storelink" in frame.locator("h1").inner_text()
            assert frame.locator('s-section[data-connector="shopify"] h2').is_visible()


def test_framed_by_another_origin_the_page_is_refused(tmp_path: Path) -> None:
    with embedded_world(tmp_path) as (_, context):
        page = context.new_page()
        refusals: list[str] = []
        page.on("console", lambda message: refusals.append(message.text))
        page.goto(f"{ADMIN}/_test/frame")  # the control: the same frame loads under admin's origin
        page.frame_locator("#app-frame").locator("#storelink-embedded").wait_for(timeout=15_000)
        page.goto(f"{EVIL}/")
        page.wait_for_load_state("load")
        framed = page.frame_locator("#app-frame")
        assert framed.locator("#storelink-embedded").count() == 0
        assert framed.locator("[data-shop-domain]").count() == 0
        assert any("frame-ancestors" in text for text in refusals), refusals
