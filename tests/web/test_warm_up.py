"""Site knowledge's warm-up on the pages and in readiness: /readyz says "warming" (503) with its
progress while it runs and ready after; the overview shows the same; the metrics page's "site"
heading, which has no connector page, is not a link to a 404."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

from storelink.main import create_app
from tests.conftest import make_settings
from tests.web.helpers import LOCAL


def test_readiness_and_overview_follow_the_warm_up(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    with TestClient(app, **LOCAL) as client:
        status = app.state.runtime.site.warm_up
        assert status.state == "off"  # the tests' default: STORELINK_SITE_WARM_UP=false
        assert client.get("/readyz").status_code == 200
        status.begin()
        status.progress(12, 40, "ingested 12 of 40 pages")
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "warming"
        assert ready.json()["site"]["percent"] == 30.0
        assert "ingested 12 of 40 pages" in ready.json()["site"]["summary"]
        overview = client.get("/").text
        assert 'data-state="warming"' in overview and "ingested 12 of 40 pages" in overview
        status.finish(pages=40, chunks=300)
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["site"]["state"] == "ready"
        assert "ready: 40 pages, 300 chunks" in client.get("/").text
        status.fail("ValueError: boom")
        assert client.get("/readyz").status_code == 200  # a failed warm-up does not hold readiness


def test_every_link_on_the_metrics_page_answers(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    with TestClient(app, **LOCAL) as client:
        # The site fetcher records metrics like a connector, but has no connector page.
        app.state.runtime.metrics.operation("site", "fetch_page").observe(outcome="ok", latency_s=0.01, attempts=1)
        page = client.get("/app/metrics").text
        assert ">site<" in page or "site <small>" in page
        for href in re.findall(r'href="(/[^"#]*)', page):
            assert client.get(href).status_code == 200, href
