"""A keys-file key as a bearer on the pages: it reaches its stores' pages and is ``forbidden``
every page of any other store (existing or not, never echoing the id), the first-store aliases
follow the first store, the all-stores page and the switcher name only its stores, and a bearer
that matches no key is 401, even from loopback. Operators (loopback without a bearer here) still
reach every store."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from storelink.main import create_app as create_served_app
from storelink.runtime import open_fleet
from storelink.store import EmbeddedStore
from tests.support.keys import sha
from tests.web.helpers import LOCAL, app_of
from tests.web.test_stores import SHOPS, fleet_client, fleet_settings, switcher_links

KEY_1 = "demo-1-key-0123456789abcdef"
KEY_2 = "demo-2-key-0123456789abcdef"
STORE_PARAM = "{store}"
# What a path parameter other than the store stands for on these demo stores.
PARAMS = {"name": "shopify"}
HOSTILE = ["", "../demo-2", "DEMO-2", "d" * 300, "<script>alert(1)</script>", "dé-mo-2", "default", "demo-9"]


def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.toml"
    path.write_text(
        f"""
[[keys]]
name = "demo-1-bot"
sha256 = "{sha(KEY_1)}"
stores = ["demo-1"]

[[keys]]
name = "demo-2-bot"
sha256 = "{sha(KEY_2)}"
stores = ["demo-2"]
"""
    )
    return path


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = fleet_settings(tmp_path, mcp_keys_file=keys_file(tmp_path))
    with fleet_client(settings) as c:  # from loopback: without a bearer, an operator
        yield c


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Accept": "text/html"}


def filled(path: str) -> str:
    for param, value in PARAMS.items():
        path = path.replace(f"{{{param}}}", value)
    return path


def store_bound(client: TestClient) -> tuple[list[str], list[str]]:
    """The app's GET routes of one store (``{store}`` in the path) and their first-store aliases
    (the routes at ``/`` or ``/app/<rest>`` for which ``/app/stores/{store}/<rest>`` exists)."""
    paths = [r.path for r in app_of(client).routes if isinstance(r, Route) and "GET" in (r.methods or ())]
    per_store = [p for p in paths if STORE_PARAM in p]
    rests = {p.split(STORE_PARAM, 1)[1].removeprefix("/") for p in per_store}
    aliases = [p for p in paths if p == "/" or (p.startswith("/app/") and p.removeprefix("/app/") in rests)]
    assert len(per_store) >= 10 and len(aliases) == len(per_store), (per_store, aliases)
    return [filled(p) for p in per_store], [filled(p) for p in aliases]


def get(client: TestClient, path: str, key: str | None) -> tuple[int, str, str]:
    """Status, content type and body (a live feed's first line only) of a GET."""
    with client.stream("GET", path, headers=bearer(key) if key else {}) as response:
        kind = response.headers.get("content-type", "")
        body = next(response.iter_lines(), "") if kind.startswith("text/event-stream") else response.read().decode()
        return response.status_code, kind, body


def assert_forbidden(client: TestClient, path: str, key: str, raw: str = "demo-2", reached: str = "demo-1") -> None:
    """403 ``forbidden``, never repeating ``raw`` nor naming a store other than ``reached``."""
    status, kind, body = get(client, path, key)
    assert status == 403, (path, status, body[:200])
    if path.endswith(".json"):
        assert kind.startswith("application/json") and '"forbidden"' in body, path
    else:
        assert kind.startswith("text/html") and "Forbidden" in body, path
    if raw:
        assert raw not in body and quote(raw, safe="") not in body, path
    for store, shop in SHOPS.items():
        if store != reached:
            assert f'data-store-link="{store}"' not in body and shop not in body, path


@pytest.mark.slow
def test_a_key_of_store_1_is_forbidden_every_page_of_store_2_an_operator_is_not(client: TestClient) -> None:
    per_store, aliases = store_bound(client)
    for path in per_store:
        status, _, body = get(client, path.replace(STORE_PARAM, "demo-1"), KEY_1)
        assert status == 200, (path, body[:200])
        assert_forbidden(client, path.replace(STORE_PARAM, "demo-2"), KEY_1)
    assert "demo-2" not in app_of(client).state.fleet.opened()
    # The same pages, from loopback without a bearer: an operator's, every store's.
    for path in [*(p.replace(STORE_PARAM, "demo-2") for p in per_store), *aliases]:
        assert get(client, path, None)[0] == 200, path
    listed = get(client, "/app/stores", None)[2]
    assert re.findall(r'<tr data-store="([^"]+)" data-opened', listed) == list(SHOPS)
    for open_path in ("/healthz", "/readyz", "/metrics"):  # probes and scrapers: as before, whatever the bearer
        assert client.get(open_path, headers=bearer("not-a-key")).status_code == 200, open_path


@pytest.mark.parametrize("raw", HOSTILE)
def test_a_key_is_forbidden_hostile_store_ids(client: TestClient, raw: str) -> None:
    per_store, _ = store_bound(client)
    for path in per_store:
        if not raw and path.endswith(STORE_PARAM):
            continue  # "/app/stores/" is the all-stores page's URL (redirected to /app/stores)
        assert_forbidden(client, path.replace(STORE_PARAM, quote(raw, safe="")), KEY_1, raw)


def test_the_first_store_aliases_follow_the_first_store(client: TestClient) -> None:
    _, aliases = store_bound(client)
    for path in aliases:
        assert get(client, path, KEY_1)[0] == 200, path
        assert_forbidden(client, path, KEY_2, raw="", reached="demo-2")


def test_the_stores_page_and_switcher_name_only_the_keys_stores(client: TestClient) -> None:
    status, _, page = get(client, "/app/stores?compare=demo-1&compare=demo-2&compare=demo-3", KEY_1)
    assert status == 200
    assert re.findall(r'<tr data-store="([^"]+)" data-opened', page) == ["demo-1"]
    assert switcher_links(page) == {} and '<span class="switcher" data-store="demo-1">' in page  # its one store
    assert SHOPS["demo-2"] not in page and SHOPS["demo-3"] not in page
    assert sorted(app_of(client).state.fleet.opened()) == ["demo-1"]
    metrics = get(client, "/app/stores/demo-1/metrics", KEY_1)[2]
    assert switcher_links(metrics) == {} and '<span class="switcher" data-store="demo-1">' in metrics
    assert "All stores" not in metrics


@pytest.mark.parametrize("path", ["/app/stores/demo-1", "/app/stores", "/app/metrics.json", "/app/login"])
def test_an_unknown_bearer_is_401_not_the_login_page(client: TestClient, path: str) -> None:
    status, _, body = get(client, path, "not-a-key-0123456789")
    assert status == 401 and "login" not in body.lower()
    empty = client.get(path, headers={"Authorization": "Bearer "})  # a bearer too, if an empty one
    assert empty.status_code == 401


@pytest.mark.parametrize("path", ["/app/stores/..%2Fdemo-2/metrics", "/app/stores/demo-2/no/such/page"])
def test_a_path_no_route_knows_is_refused_beside_the_mcp_endpoint(tmp_path: Path, path: str) -> None:
    """With MCP served at the root (its Mount("/") takes what no route matches), a store path no
    page matches is still the pages' to refuse: forbidden for a key of another store."""
    settings = fleet_settings(tmp_path, mcp_keys_file=keys_file(tmp_path), enable_mcp=True)
    app = create_served_app(settings, fleet_factory=functools.partial(open_fleet, store=EmbeddedStore(None)))
    with TestClient(app, **LOCAL) as served:
        answer = served.get(path, headers=bearer(KEY_1))
    assert answer.status_code == 403
    assert "demo-2" not in answer.text
