"""What a person sees in a 1,280 px window: no page is wider than the window (a nowrap table made
/app/settings 3,280 px wide), and a connector page's charts and figures tell one story: the
ranges' calls, errors and worst p95 match what the 1 h and 24 h charts drew."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from storelink.connectors.registry import builtin_connectors
from tests.e2e.scenes import builder, registry_with_history, shop_with_history
from tests.e2e.support import browser, needs_chromium, serve

pytestmark = [needs_chromium, pytest.mark.slow]

VIEWPORT = {"width": 1280, "height": 900}
PAGES = [
    "/",
    "/app/metrics",
    "/app/settings",
    "/app/slo",
    *[f"/app/connectors/{c.name}" for c in builtin_connectors()],
    "/app/insights",
    "/app/insights/seo",
    "/app/insights/inventory",
    "/app/insights/recommendations",
    "/app/stores",
]


def test_no_page_is_wider_than_the_window(tmp_path: Path) -> None:
    settings, factory = registry_with_history(tmp_path)
    with serve(builder(settings, history_interval_s=60.0, health_interval_s=60.0), factory) as served, browser() as b:
        page = b.new_page(viewport=VIEWPORT)
        too_wide = {}
        for path in PAGES:
            response = page.goto(served.url + path)
            assert response is not None and response.status == 200, path
            width = page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
            if width > VIEWPORT["width"]:
                too_wide[path] = width
        assert too_wide == {}, f"pages wider than {VIEWPORT['width']} px: {too_wide}"


def _chart(page: Any, title: str) -> dict[str, str]:
    found: dict[str, str] = page.locator(f'svg.chart[aria-label="{title}"]').evaluate(
        "el => Object.fromEntries([...el.attributes].map(a => [a.name, a.value]))"
    )
    return found


def test_a_connector_pages_charts_and_figures_agree(tmp_path: Path) -> None:
    settings, factory = shop_with_history(tmp_path)  # an hour of calls with an incident in it
    with serve(builder(settings, health_interval_s=3600.0), factory) as served, browser() as b:
        page = b.new_page(viewport=VIEWPORT)
        page.goto(served.url + "/app/connectors/shopify")
        worst = [
            float(page.locator(f'tr[data-range="{r}"]').get_attribute("data-worst-p95") or 0) for r in ("1 h", "24 h")
        ]
        assert worst[1] >= worst[0]  # a day holds the hour: its worst p95 is not lower (points were averaged)
        for label in ("1 h", "24 h"):
            row = page.locator(f'tr[data-range="{label}"]')
            calls, errors = float(row.get_attribute("data-calls") or 0), float(row.get_attribute("data-errors") or 0)
            worst_p95 = row.get_attribute("data-worst-p95")
            latency, error_rate = _chart(page, f"Latency over {label}"), _chart(page, f"Error rate over {label}")
            assert calls > 0, label  # the replayed hour
            # Calls in the range: both charts drew them; neither says there were none.
            assert int(latency["data-points"]) > 0 and int(error_rate["data-points"]) > 0, label
            for chart in (f"Latency over {label}", f"Error rate over {label}"):
                assert "No calls in this range" not in page.locator(f'svg.chart[aria-label="{chart}"]').inner_html()
            # Errors in the range, and only then, lift the error-rate line off zero.
            assert (errors > 0) == (float(error_rate.get("data-max-error-rate", 0)) > 0), label
            # The worst p95 in the table is the highest point of the p95 line.
            assert worst_p95 and float(worst_p95) == pytest.approx(float(latency["data-max-p95"])), label
            # The error rate of the range cannot exceed the chart's worst interval.
            assert 100 * errors / calls <= float(error_rate.get("data-max-error-rate", 0)) + 1e-6, label
