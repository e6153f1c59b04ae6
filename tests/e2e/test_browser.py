"""The dashboard in a real browser (system Chromium through Playwright): every page renders and
shows every connector, the live stream changes a figure without a reload, and with every
connector failing every page still answers 200 and says what is wrong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.make_screenshots import take_screenshots
from tests.e2e.scenes import (
    PASSWORD,
    all_failing,
    builder,
    demo_fleet,
    fleet_builder,
    settings_for,
    shop_with_history,
)
from tests.e2e.support import browser, needs_chromium, serve

pytestmark = [needs_chromium, pytest.mark.slow]

PAGES = ["/", "/app/metrics", "/app/settings", "/app/slo", "/app/connectors/shopify"]


def test_pages_render_with_a_card_per_connector(tmp_path: Path) -> None:
    settings, factory = shop_with_history(tmp_path, extra=("alpha", "unauth"))
    with serve(builder(settings, history_interval_s=1.0, health_interval_s=5.0), factory) as served, browser() as b:
        page = b.new_page()
        for path in PAGES:
            response = page.goto(served.url + path)
            assert response is not None and response.status == 200, path
            assert page.locator("h1").first.is_visible()
        page.goto(served.url + "/")
        cards = page.locator("article.card")
        assert cards.count() == 3
        assert sorted(cards.evaluate_all("els => els.map(e => e.dataset.connector)")) == ["alpha", "shopify", "unauth"]
        assert page.locator('[data-connector="shopify"] .badge.mode').inner_text() == "mock"
        page.goto(served.url + "/app/connectors/shopify")
        assert page.locator("svg.chart").count() == 4
        # The replayed hour drew lines, and the incident shows in the error-rate chart.
        assert page.locator("svg.chart polyline").count() >= 4
        page.goto(served.url + "/app/slo")
        assert page.locator("tr[data-slo]").count() == 10


def test_live_update_changes_a_figure(tmp_path: Path) -> None:
    settings, factory = shop_with_history(tmp_path, replay=False)
    with serve(builder(settings, history_interval_s=1.0, health_interval_s=60.0), factory) as served, browser() as b:
        page = b.new_page()
        page.goto(served.url + "/")
        page.wait_for_function("() => document.querySelector('[data-live-status]').textContent.startsWith('live ·')")
        figure = page.locator('[data-live="shopify:requests_5m"]')
        before = figure.inner_text()
        assert served.runtime is not None
        shop = served.runtime.registry.get("shopify")
        for _ in range(5):
            served.call(lambda: shop.call("shop_info", {}))
        page.wait_for_function(
            f"() => document.querySelector('[data-live=\"shopify:requests_5m\"]').textContent !== {before!r}",
            timeout=10_000,
        )
        after = figure.inner_text()
        assert int(after.replace(",", "")) >= int(before.replace(",", "")) + 5
        assert page.url == served.url + "/"  # no reload: the stream did it


def test_every_page_is_200_when_every_connector_fails(tmp_path: Path) -> None:
    settings, factory = all_failing(tmp_path)
    with serve(builder(settings, health_interval_s=60.0), factory) as served, browser() as b:
        page = b.new_page()
        paths = [
            "/",
            "/app/metrics",
            "/app/settings",
            "/app/slo",
            *[f"/app/connectors/{n}" for n in ("alpha", "unauth", "forbidden", "slow", "down")],
        ]
        for path in paths:
            response = page.goto(served.url + path)
            assert response is not None and response.status == 200, path
        page.goto(served.url + "/")
        # The background probes finish (the stall within its timeout) and the cards turn red live.
        page.wait_for_function(
            "() => document.querySelectorAll('article.card[data-health=\"down\"]').length === 5", timeout=20_000
        )
        text = page.locator("main").inner_text()
        assert "rejected the credentials (401)" in text
        assert "refused access (403)" in text
        assert re.search(r"time|deadline", text)


def test_the_store_switcher_keeps_the_page(tmp_path: Path) -> None:
    settings, factory = demo_fleet(tmp_path)
    with serve(fleet_builder(settings, health_interval_s=60.0), factory) as served, browser() as b:
        page = b.new_page()
        page.goto(served.url + "/app/stores/demo-1/connectors/shopify")
        switcher = page.locator("details.switcher")
        assert switcher.locator("summary").inner_text().startswith("Apex Performance Parts")
        assert not page.locator('[data-store-link="demo-2"]').is_visible()  # closed until asked
        switcher.locator("summary").click()
        page.locator('[data-store-link="demo-2"]').click()
        page.wait_for_url(served.url + "/app/stores/demo-2/connectors/shopify")
        assert page.locator("details.switcher summary").inner_text().startswith("Northline Motorsport")
        assert page.locator("h1").first.inner_text().startswith("Shopify")
        # The live figures come from this store's stream.
        page.wait_for_function("() => document.querySelector('[data-live-status]').textContent.startsWith('live ·')")
        page.goto(served.url + "/app/stores")
        assert page.locator('tr[data-store="demo-3"][data-opened="false"]').count() == 1
        assert served.extra["fleet"].opened() == ["demo-1", "demo-2"]


def test_login_page_when_a_password_is_set(tmp_path: Path) -> None:
    settings, factory = all_failing(tmp_path)
    settings = settings_for(tmp_path, dashboard_password=PASSWORD)
    with serve(builder(settings), factory) as served, browser() as b:
        page = b.new_page()
        page.goto(served.url + "/app/slo")
        assert "/app/login" in page.url
        page.fill('input[name="password"]', "wrong")
        page.click('button[type="submit"]')
        assert "Wrong password" in page.locator("main").inner_text()
        page.fill('input[name="password"]', PASSWORD)
        page.click('button[type="submit"]')
        page.wait_for_url(served.url + "/app/slo")
        assert page.locator("tr[data-slo]").count() == 10


def test_screenshots_of_each_page(tmp_path: Path) -> None:
    written = take_screenshots(tmp_path / "shots", tmp_path / "work")
    assert {p.name for p in written} >= {
        "overview.png",
        "connector.png",
        "metrics.png",
        "settings.png",
        "slo.png",
        "overview-failing.png",
        "login.png",
    }
    for png in written:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
