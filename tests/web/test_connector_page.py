"""A connector's page in its first hour agrees with itself: a caller's bad cursor is the caller's
mistake (not the upstream's last error, not in its error rate), the operations table reads one
window and says which, the charts' axes step by round numbers in a unit that tells ticks apart,
and a latency chart never says "no calls" where the error-rate chart drew calls."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from storelink.errors import ConnectorError, ErrorKind
from storelink.main import create_app
from storelink.observability.history import SeriesPoint
from storelink.web.charts import Series, line_chart
from storelink.web.views import _charts
from tests.conftest import make_settings
from tests.web.helpers import LOCAL, portal_of


def test_a_bad_cursor_is_the_callers_mistake_not_the_upstreams(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path), health_interval_s=3600)
    with TestClient(app, **LOCAL) as client:
        shop = app.state.runtime.registry.get("shopify")
        portal = portal_of(client)
        for _ in range(3):
            portal.call(shop.call, "list_products", {"limit": 2})
        with pytest.raises(ConnectorError) as refused:
            portal.call(shop.call, "list_products", {"limit": 2, "cursor": "bogus"})
        assert refused.value.kind is ErrorKind.INVALID_REQUEST
        overview = client.get("/").text
        assert re.search(r'data-live="shopify:last_error">none<', overview)
        page = client.get("/app/connectors/shopify").text
        assert re.search(r'data-live="shopify:error_rate_5m">0\.0 %<', page)
        assert "the caller's input: not counted as an error" in page  # still listed, as the caller's
        row = re.search(r'<tr data-operation="list_products">(.*?)</tr>', page, re.S)
        assert row is not None
        calls, errors = re.findall(r'<td class="num">([^<]*)</td>', row.group(1))[:2]
        assert (calls, errors) == ("4", "0")
        snapshot = client.get("/app/metrics.json").json()["connectors"]["shopify"]
        assert snapshot["operations"]["list_products"]["windows"]["1h"]["count"] == 4
        metrics = client.get("/metrics").text  # every outcome stays visible by kind
        assert 'operation="list_products",outcome="invalid_request"' in metrics


def test_the_operations_table_reads_one_window_and_names_it(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path), health_interval_s=3600)
    with TestClient(app, **LOCAL) as client:
        page = client.get("/app/connectors/shopify").text
        table = page[page.index("<h2>Operations over the last hour</h2>") :]
        assert 'data-operations-window="1h"' in table
        assert "(5 m)" not in table and "since start" not in table.split("</p>", 1)[1]


@pytest.mark.parametrize(
    ("top_ms", "expected"),
    [
        (0.7, ["0 µs", "200 µs", "400 µs", "600 µs", "800 µs"]),
        (1.0, ["0.00 ms", "0.25 ms", "0.50 ms", "0.75 ms", "1.00 ms"]),
        (37.0, ["0 ms", "10 ms", "20 ms", "30 ms", "40 ms"]),
        (1700.0, ["0.0 s", "0.5 s", "1.0 s", "1.5 s", "2.0 s"]),
    ],
)
def test_latency_ticks_are_round_distinct_and_in_a_fitting_unit(top_ms: float, expected: list[str]) -> None:
    svg = line_chart([Series("p95", [(0, top_ms / 3), (10, top_ms)])], start=0, end=10, title="t", unit="ms")
    labels = re.findall(r'<text class="axis" x="58" y="[\d.]+" text-anchor="end">([^<]*)</text>', svg)  # y axis
    assert labels == expected  # "1 ms, 1 ms, 0 ms" before: 0.25 ms steps rounded to whole ms


def test_latency_and_error_rate_charts_agree_on_whether_there_were_calls() -> None:
    now = time.time()
    called = SeriesPoint(now - 60, 5, 0, 0, 0, None, None, None)  # calls, latency not sampled
    latency, errors = _charts([called], now - 3600, now, "1 h")
    assert "<circle" in errors  # the error-rate chart drew the calls
    assert "No calls in this range yet." not in latency and "5 calls" in latency
    quiet = SeriesPoint(now - 60, 0, 0, 0, 0, None, None, None)
    latency, errors = _charts([quiet], now - 3600, now, "1 h")
    assert "No calls in this range yet." in latency and "No calls in this range yet." in errors
