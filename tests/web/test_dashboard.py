"""The pages over real connectors and fakes: every page renders and shows every connector,
healthy or failing in every way; secrets never reach a page; the live stream carries figures."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from storelink.errors import ConnectorError, ErrorKind
from storelink.observability.slo import load_slos
from tests.conftest import CANARY
from tests.web.helpers import (
    LOCAL,
    NAMES,
    World,
    app_of,
    build_app,
    dashboard_of,
    ops_settings,
    portal_of,
    runtime_factory,
)

PAGES = ["/", "/app/metrics", "/app/settings", "/app/slo", *[f"/app/connectors/{n}" for n in NAMES]]


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def client(tmp_path: Path, world: World) -> Iterator[TestClient]:
    settings = ops_settings(tmp_path, shopify_access_token=CANARY, dashboard_password=None)
    app = build_app(settings, runtime_factory(world))
    with TestClient(app, **LOCAL) as c:
        yield c


@pytest.fixture
def failing(tmp_path: Path, world: World) -> Iterator[TestClient]:
    app = build_app(ops_settings(tmp_path), runtime_factory(world, failing=True))
    with TestClient(app, **LOCAL) as c:
        yield c


def test_every_page_renders_with_every_connector(client: TestClient) -> None:
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "text/html" in response.headers["content-type"]
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'self'" in response.headers["content-security-policy"]
    overview = client.get("/").text
    assert sorted(re.findall(r'<article class="card" data-connector="(\w+)"', overview)) == sorted(NAMES)
    assert "Alpha Shop" in overview and "Down API" in overview
    assert 'class="badge mode" data-state="live"' in overview
    for field in ("error_rate_5m", "p95_5m", "throttles_5m", "headroom", "cache_hit", "last_error", "breaker"):
        assert f'data-live="alpha:{field}"' in overview


def test_overview_figures_follow_calls(client: TestClient) -> None:
    state = dashboard_of(app_of(client))
    alpha = state.runtime.registry.get("alpha")
    portal_of(client).call(state.board.probe, alpha)
    before = state.runtime.metrics.connector_window("alpha", "5m").count  # the probes so far
    for _ in range(7):
        portal_of(client).call(alpha.call, "list_items", {"per_page": 2})
    html = client.get("/").text
    assert re.search(rf'data-live="alpha:requests_5m">{before + 7}<', html)
    assert re.search(r'data-connector="alpha" data-health="ok"', html)
    assert re.search(r'data-live="alpha:error_rate_5m">0\.0 %<', html)
    assert re.search(r'data-live="alpha:headroom">\d[\d,]* / 1,000 requests<', html)
    detail = client.get("/app/connectors/alpha").text
    assert "<code>list_items</code>" in detail and "<svg" in detail
    assert "Latency over 1 h" in detail and "Error rate over 24 h" in detail
    metrics = client.get("/app/metrics").text
    assert "<code>list_items</code>" in metrics


def test_failing_connectors_still_render_and_say_why(failing: TestClient) -> None:
    token = csrf(failing.get("/app/connectors/alpha").text)
    for name in NAMES:
        probed = failing.post(f"/app/connectors/{name}/probe", data={"csrf_token": token}, follow_redirects=False)
        assert probed.status_code == 303, name
    for path in PAGES:
        assert failing.get(path).status_code == 200, path
    overview = failing.get("/").text
    for name in NAMES:
        assert re.search(rf'data-connector="{name}" data-health="down"', overview), name
    cards = {n: failing.get(f"/app/connectors/{n}").text for n in NAMES}
    assert "rejected" in cards["unauth"].lower() or "401" in cards["unauth"]
    assert "403" in cards["forbidden"] or "permission" in cards["forbidden"].lower()
    assert "time" in cards["slow"].lower()
    assert 'data-live="down:health" data-live-state>down<' in cards["down"]


def test_recent_errors_are_shown_redacted(client: TestClient) -> None:
    state = dashboard_of(app_of(client))
    state.errors.record(
        ConnectorError(
            ErrorKind.UNAUTHORIZED,
            f"Alpha rejected the token {CANARY} (401). Set GENERIC_TOKEN.",
            connector="alpha",
            operation="list_items",
            status=401,
            request_id="req-abc-123",
        )
    )
    for path in ("/", "/app/connectors/alpha"):
        html = client.get(path).text
        assert CANARY not in html
        assert "unauthorized" in html and "Alpha rejected the token ***" in html
    assert "req-abc-123" in client.get("/app/connectors/alpha").text


def test_settings_mask_secrets_and_say_what_is_missing(client: TestClient) -> None:
    html = client.get("/app/settings").text
    assert CANARY not in html
    assert "SHOPIFY_ACCESS_TOKEN" in html and "********" in html
    assert "STORELINK_ALPHA_ENABLED" in html and "MCP_FORCE_MOCKS" in html
    assert "storelink live-check alpha" in html
    assert "dashboard access</code></td><td>open" in html


def test_slo_page_lists_every_slo(client: TestClient) -> None:
    html = client.get("/app/slo").text
    for slo in load_slos().slos:
        assert f'data-slo="{slo.name}"' in html
    for window in ("5m", "30m", "1h", "6h", "3d"):
        assert f"burn {window}" in html


def test_unknown_connector_is_a_404_page(client: TestClient) -> None:
    response = client.get("/app/connectors/nope")
    assert response.status_code == 404
    assert "alpha" in response.text


def test_live_stream_sends_each_cards_figures(client: TestClient) -> None:
    with client.stream("GET", "/app/events?interval=0.2") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines) == "retry: 3000"
        event = ""
        for line in lines:
            if line.startswith("data: "):
                event = line.removeprefix("data: ")
                break
    payload = json.loads(event)
    assert set(payload["connectors"]) == set(NAMES)
    display = payload["connectors"]["alpha"]["display"]
    assert {"health", "breaker", "error_rate_5m", "p95_5m", "headroom", "cache_hit", "last_error"} <= set(display)
