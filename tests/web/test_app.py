"""The serve app: health, readiness, metrics in both forms."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

from storelink.main import create_app
from tests.conftest import make_settings
from tests.web.helpers import LOCAL, portal_of


def test_health_ready_and_metrics(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    with TestClient(app, **LOCAL) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready"
        assert ready["connectors"]["shopify"] == "mock"
        runtime = app.state.runtime
        portal_of(client).call(runtime.registry.get("shopify").call, "shop_info", {})
        text = client.get("/metrics").text
        # The dashboard's background health probe calls shop_info too: at least our call counted.
        found = re.search(
            r'storelink_requests_total\{connector="shopify",operation="shop_info",outcome="ok",store="default"\} (\S+)',
            text,
        )
        assert found is not None
        assert float(found.group(1)) >= 1
        assert "storelink_request_duration_seconds_bucket" in text
        snapshot = client.get("/app/metrics.json").json()["connectors"]["shopify"]
        assert snapshot["mode"] == "mock"
        assert snapshot["windows"]["1m"]["count"] >= 1
        assert snapshot["headroom"]["unit"] == "points"


def test_mcp_off_when_disabled(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, enable_mcp=False)), **LOCAL) as client:
        assert client.post("/mcp", json={}).status_code == 404


def test_insight_pages_render_in_the_served_app(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path)), **LOCAL) as client:
        assert client.get("/app/insights").status_code == 200
        seo = client.get("/app/insights/seo")
        assert seo.status_code == 200
        assert "striking" in seo.text.lower()
        assert client.get("/app/insights/recommendations").status_code == 200
