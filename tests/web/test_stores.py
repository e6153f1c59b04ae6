"""The pages with several stores: each page is one store's, the switcher keeps the kind of page,
an unknown or hostile store id is a 404 that never repeats it, the all-stores page opens nothing to
render and marks a failing store while the others answer, and one store's errors and figures
never show on another's pages."""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from storelink.errors import ConnectorError
from storelink.fakes.faults import Fault, FaultPlan
from storelink.main import create_app
from storelink.runtime import Fleet, Runtime, open_fleet
from storelink.settings import Settings
from storelink.store import EmbeddedStore
from storelink.web.state import Dashboards
from tests.conftest import make_settings
from tests.web.helpers import LOCAL, app_of, dashboard_of, portal_of

SHOPS = {"demo-1": "Apex Performance Parts", "demo-2": "Northline Motorsport", "demo-3": "Redline Garage Supply"}
STORE_PAGES = ["", "/metrics", "/settings", "/slo", "/connectors/shopify", "/insights", "/insights/inventory"]
HOSTILE = [
    "demo-9",  # well formed, not configured
    "Demo-1",  # not the id pattern (upper case)
    "<script>alert(1)</script>",
    "demo-1%00",
    "demo-1\"'><img src=x onerror=alert(1)>",
    "x" * 70,
    "%2e%2e",
    "demo-1;drop",
]


def fleet_settings(tmp_path: Path, stores: int = 3, **overrides: Any) -> Settings:
    overrides.setdefault("enable_mcp", False)
    return make_settings(tmp_path, demo_stores=stores, demo_today="2026-11-20", shopify={"max_retries": 0}, **overrides)


def fleet_client(settings: Settings) -> TestClient:
    app = create_app(settings, fleet_factory=functools.partial(open_fleet, store=EmbeddedStore(None)))
    return TestClient(app, **LOCAL)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with fleet_client(fleet_settings(tmp_path)) as c:
        yield c


def fleet_of(client: TestClient) -> Fleet:
    fleet = app_of(client).state.fleet
    assert isinstance(fleet, Fleet)
    return fleet


def dashboards_of(client: TestClient) -> Dashboards:
    dashboards = app_of(client).state.dashboards
    assert isinstance(dashboards, Dashboards)
    return dashboards


def runtime_of(client: TestClient, store: str) -> Runtime:
    return portal_of(client).call(fleet_of(client).runtime, store)


def current_store(page: str) -> tuple[str, str]:
    """The switcher's current store: (id, name)."""
    found = re.search(r'<details class="switcher" data-store="([^"]*)">\s*<summary>([^<]*)<', page)
    assert found, "no store switcher on the page"
    return found.group(1), found.group(2).strip()


def switcher_links(page: str) -> dict[str, str]:
    return {store: href for href, store in re.findall(r'<a href="([^"]+)" data-store-link="([^"]+)"', page)}


def test_each_store_page_is_that_stores(client: TestClient) -> None:
    for store, shop in SHOPS.items():
        for suffix in STORE_PAGES:
            response = client.get(f"/app/stores/{store}{suffix}")
            assert response.status_code == 200, (store, suffix)
            assert current_store(response.text) == (store, shop), (store, suffix)
        snapshot = client.get(f"/app/stores/{store}/metrics.json").json()
        assert snapshot["store"] == {"id": store, "name": shop}
        assert snapshot["connectors"]["shopify"]["mode"] == "mock"
        settings_page = client.get(f"/app/stores/{store}/settings").text
        assert f"Store <strong>{shop}</strong> <code>{store}</code>" in settings_page


def test_the_switcher_keeps_the_kind_of_page(client: TestClient) -> None:
    for suffix in ("/metrics", "/connectors/shopify", "/insights/seo", "/slo", ""):
        page = client.get(f"/app/stores/demo-2{suffix}").text
        assert switcher_links(page) == {store: f"/app/stores/{store}{suffix}" for store in SHOPS}, suffix
        assert re.search(r'data-store-link="demo-2" aria-current="true"', page)
        # The nav stays in this store.
        assert '<a href="/app/stores/demo-2/metrics"' in page and '<a href="/app/stores/demo-2/slo"' in page
        assert 'data-events="/app/stores/demo-2/events"' in page
    stores_page = client.get("/app/stores").text
    assert switcher_links(stores_page) == {store: f"/app/stores/{store}" for store in SHOPS}


def test_the_switcher_is_bounded(tmp_path: Path) -> None:
    with fleet_client(fleet_settings(tmp_path, stores=40)) as client:
        page = client.get("/app/stores/demo-35/metrics").text
        links = switcher_links(page)
        assert len(links) == 30 and links["demo-35"] == "/app/stores/demo-35/metrics"
        assert 'class="switcher-find"' in page and "All 40 stores (10 not listed here)" in page
        assert fleet_of(client).opened() == ["demo-1", "demo-35"]


def test_single_store_urls_are_the_first_store(client: TestClient) -> None:
    for path in ("/", "/app/metrics", "/app/slo", "/app/settings", "/app/connectors/shopify", "/app/insights"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert current_store(response.text) == ("demo-1", SHOPS["demo-1"]), path
    overview = client.get("/").text
    assert 'href="/app/connectors/shopify"' in overview  # an alias links among the aliases
    assert client.get("/app/metrics.json").json()["store"]["id"] == "demo-1"
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/app/connectors/shopify").text)
    assert token
    for path, target in (
        ("/app/connectors/shopify/probe", "/app/connectors/shopify"),
        ("/app/stores/demo-3/connectors/shopify/probe", "/app/stores/demo-3/connectors/shopify"),
    ):
        probed = client.post(path, data={"csrf_token": token.group(1)}, follow_redirects=False)
        assert (probed.status_code, probed.headers["location"]) == (303, target)
    assert dashboards_of(client).watched() == ["demo-1", "demo-3"]


@pytest.mark.parametrize("raw", HOSTILE)
def test_unknown_or_hostile_store_is_a_404_that_lists_the_stores(client: TestClient, raw: str) -> None:
    for suffix in ("", "/metrics", "/connectors/shopify", "/insights/seo", "/slo"):
        response = client.get(f"/app/stores/{raw}{suffix}")
        assert response.status_code == 404, (raw, suffix)
        text = response.text
        assert "No such store" in text and all(f">{shop}</a>" in text for shop in SHOPS.values())
        for shown in {raw, html.unescape(raw), raw.replace("%00", "\x00")}:
            assert shown not in text, (raw, suffix)
        assert "<script>alert" not in text and "onerror=alert" not in text
    as_json = client.get(f"/app/stores/{raw}/metrics.json")
    assert as_json.status_code == 404
    assert as_json.json()["stores"][0] == {"id": "demo-1", "name": SHOPS["demo-1"]}
    assert raw not in as_json.text
    assert fleet_of(client).opened() == ["demo-1"]  # nothing else was opened, nothing fell back


@pytest.mark.slow
def test_the_stores_page_opens_nothing_to_render(tmp_path: Path) -> None:
    with fleet_client(fleet_settings(tmp_path, stores=60)) as client:
        page = client.get("/app/stores").text
        rows = re.findall(r'<tr data-store="([^"]+)" data-opened="(true|false)"', page)
        assert len(rows) == 50 and rows[0] == ("demo-1", "true")
        assert all(opened == "false" for _, opened in rows[1:])
        assert page.count("not opened yet · <a href=") == 49
        assert 'data-connector="shopify">shopify <span class="badge mode" data-state="mock"' in page
        assert "page 1 of 2" in page and 'href="/app/stores?page=2"' in page
        assert fleet_of(client).opened() == ["demo-1"]
        second = client.get("/app/stores?page=2").text
        assert len(re.findall(r'<tr data-store="', second)) == 10
        assert fleet_of(client).opened() == ["demo-1"]
        found = client.get("/app/stores?q=demo-5").text
        assert re.findall(r'<tr data-store="([^"]+)"', found)[:3] == ["demo-5", "demo-50", "demo-51"]
        # Picking stores opens them (at most ten), and only them.
        picked = client.get("/app/stores?" + "&".join(f"compare=demo-{i}" for i in range(2, 14))).text
        assert sorted(fleet_of(client).opened()) == sorted(["demo-1", *[f"demo-{i}" for i in range(2, 12)]])
        assert "2 picks left out" in picked
        # Each picked store is a row of the sales table: its figures or, if it was slower than the page's
        # budget (a loaded machine opening ten demo stores at once), marked as timed out; never missing.
        start = picked.index('data-across="sales"')  # to its table's end: low stock's failures follow it
        sales = picked[start : picked.index("</table>", start)]
        answered = re.findall(r'<tr data-store="(demo-\d+)"><td><a href="/app/stores/demo-\d+">', sales)
        late = re.findall(r'<tr class="failed" data-store="(demo-\d+)" data-failed="timeout">', sales)
        assert sorted(answered + late) == sorted(f"demo-{i}" for i in range(2, 12))


def test_a_failing_store_is_marked_and_the_others_answer(client: TestClient) -> None:
    broken = runtime_of(client, "demo-2")
    broken.fakes["shopify"].faults = FaultPlan(rates={Fault.SERVER_ERROR: 1.0})
    page = client.get("/app/stores?compare=demo-1&compare=demo-2&compare=demo-3")
    assert page.status_code == 200
    text = page.text
    sales = text[text.index('data-across="sales"') :]
    for store in ("demo-1", "demo-3"):
        assert re.search(
            rf'<tr data-store="{store}"><td><a href="/app/stores/{store}">{SHOPS[store]}</a></td>\s*<td>\d', sales
        )
    # Shopify failed, GA4 answered: the row says which source failed; low stock fails as a whole.
    assert re.search(r'<tr data-store="demo-2">.*?shopify: \[unavailable\]', sales, re.S)
    assert re.search(r'<tr class="failed" data-store="demo-2" data-failed="unavailable">', text)
    stock = text[text.index('data-across="low-stock"') :]
    assert 'data-store="demo-1"' in stock and 'data-store="demo-3"' in stock
    assert 'data-store="demo-2"' not in stock
    for suffix in STORE_PAGES:
        assert client.get(f"/app/stores/demo-2{suffix}").status_code == 200, suffix


def test_store_pages_never_show_another_stores_errors(client: TestClient) -> None:
    apex = runtime_of(client, "demo-1")
    apex.fakes["shopify"].faults = FaultPlan(rates={Fault.SERVER_ERROR: 1.0})
    shop = apex.registry.get("shopify")
    for _ in range(3):
        with pytest.raises(ConnectorError):
            portal_of(client).call(shop.call, "shop_info", {})
    mine = client.get("/app/stores/demo-1/connectors/shopify").text
    assert "unavailable" in mine and "No errors recorded since start." not in mine
    for store in ("demo-2", "demo-3"):
        theirs = client.get(f"/app/stores/{store}/connectors/shopify").text
        assert "No errors recorded since start." in theirs, store
        overview = client.get(f"/app/stores/{store}").text
        assert 'data-live="shopify:last_error">none<' in overview, store
        snapshot = client.get(f"/app/stores/{store}/metrics.json").json()["connectors"]["shopify"]
        assert snapshot.get("last_error") is None and snapshot["breaker"] == "closed", store
    # The one store's outage is on its own row of the all-stores page only.
    rows = client.get("/app/stores?compare=demo-3").text
    assert re.search(r'<tr data-store="demo-1".*?</tr>', rows, re.S)
    demo3 = re.search(r'<tr data-store="demo-3" data-opened="true">(.*?)</tr>', rows, re.S)
    assert demo3 and "0.0 %" in demo3.group(1)


def test_background_work_runs_for_opened_stores_only(client: TestClient) -> None:
    dashboards = dashboards_of(client)
    assert dashboards.background and dashboards.watched() == ["demo-1"]
    client.get("/app/stores/demo-3")
    assert dashboards.watched() == ["demo-1", "demo-3"]
    state = dashboard_of(app_of(client), "demo-3")
    assert state.background and state.runtime.config.id == "demo-3"
    assert dashboards.get("demo-2") is None and "demo-2" not in fleet_of(client).opened()
    # A store opened elsewhere (an MCP call) gets its sampler and probes too.
    runtime_of(client, "demo-2")
    portal_of(client).call(dashboards.adopt)
    assert dashboards.watched() == ["demo-1", "demo-3", "demo-2"]
    assert client.get("/readyz").json()["stores"] == {"configured": 3, "opened": 3}


def test_each_store_has_its_own_history(client: TestClient) -> None:
    apex = runtime_of(client, "demo-1")
    for _ in range(4):
        portal_of(client).call(apex.registry.get("shopify").call, "shop_info", {})
    client.get("/app/stores/demo-2")
    north = dashboard_of(app_of(client), "demo-2")
    north.history.sample()
    ours = north.runtime.metrics.counter_value("storelink_requests", connector="shopify")
    assert north.history.increase("shopify", 3600).counters.requests == ours


@pytest.mark.slow
def test_a_store_slower_than_the_pages_budget_is_marked(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("storelink.web.across.STORE_BUDGET_S", 4.0)  # demo-1 answers in ~1.5 s
    slow = runtime_of(client, "demo-3")
    for name in ("shopify", "ga4"):
        slow.fakes[name].faults = FaultPlan(rates={Fault.STALL: 1.0}, stall_s=30.0)
    page = client.get("/app/stores?compare=demo-1&compare=demo-3")
    assert page.status_code == 200
    failed = re.findall(r'<tr class="failed" data-store="([^"]+)" data-failed="([^"]+)">', page.text)
    assert failed == [("demo-3", "timeout"), ("demo-3", "timeout")]  # sales and traffic, and low stock
    assert "No answer within 4 s" in page.text
    assert re.search(r'<tr data-store="demo-1"><td><a href="/app/stores/demo-1">', page.text)


def test_the_stores_filter_is_not_echoed_raw(client: TestClient) -> None:
    page = client.get("/app/stores", params={"q": '"><script>alert(1)</script>', "page": "99999999"}).text
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
    assert "No store matches." in page
