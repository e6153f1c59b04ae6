"""The pieces pages are built from: charts, the health board, and the rule that a part which
cannot be read becomes a line on the page instead of an error."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from storelink.connectors.base import Health
from storelink.errors import ErrorKind
from storelink.web.charts import Series, line_chart, nice_ceiling
from storelink.web.status import HealthBoard
from storelink.web.views import fmt_ago, fmt_ms, fmt_pct
from tests.conftest import CANARY
from tests.web.helpers import LOCAL, World, build_app, dashboard_of, ops_settings, runtime_factory


def test_nice_ceiling() -> None:
    assert [nice_ceiling(v) for v in (0, 0.7, 1, 1.2, 3, 4.9, 7, 130, 2400)] == [1, 1, 1, 2, 5, 5, 10, 200, 2500]


def test_line_chart_breaks_lines_at_gaps_and_escapes() -> None:
    svg = line_chart(
        [Series("p95 <b>", [(0, 1.0), (10, 2.0), (20, None), (30, 3.0), (40, 4.0)])],
        start=0,
        end=40,
        title="Latency <script>",
    )
    assert svg.count("<polyline") == 2
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;b&gt;" in svg
    empty = line_chart([Series("x", [])], start=0, end=10, title="t")
    assert "No calls in this range yet." in empty and "<polyline" not in empty


def test_formatting() -> None:
    assert (fmt_ms(None), fmt_ms(12.4), fmt_ms(2500)) == ("–", "12 ms", "2.50 s")
    assert (fmt_pct(None), fmt_pct(0.0123)) == ("–", "1.2 %")
    assert fmt_ago(None) == "never" and fmt_ago(100.0, now=130.0) == "30 s ago" and fmt_ago(0, now=7200) == "2.0 h ago"


def test_a_part_that_cannot_be_read_is_a_line_on_the_page(tmp_path: Path) -> None:
    app = build_app(ops_settings(tmp_path, shopify_access_token=CANARY), runtime_factory(World(), names=("alpha",)))
    with TestClient(app, **LOCAL) as client:
        alpha = dashboard_of(app).runtime.registry.get("alpha")

        def broken() -> None:
            raise RuntimeError(f"limiter state lost ({CANARY})")

        alpha.limiter.headroom = broken  # type: ignore[method-assign]  # a limiter whose state is lost, on purpose
        for path in ("/", "/app/connectors/alpha"):
            response = client.get(path)
            assert response.status_code == 200
            assert "Could not read the rate-limit headroom: RuntimeError: limiter state lost (***)" in response.text
            assert CANARY not in response.text


class _Hanging:
    name = "hang"
    title = "Hang"
    mode = "live"

    class breaker:
        from storelink.resilience.breaker import BreakerState

        state = BreakerState.CLOSED

    class ctx:
        missing: list[str] = []

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour

    async def health(self) -> Health:
        if self.behaviour == "hang":
            await asyncio.sleep(3600)
        raise ValueError(f"boom {CANARY}")


@pytest.mark.looptime
async def test_health_board_bounds_and_survives_probes() -> None:
    # On purpose: no registry (only probe() is used) and _Hanging, a stand-in shaped like a connector.
    board = HealthBoard([], timeout_s=5.0, secrets=[CANARY])  # type: ignore[arg-type]
    hung = await board.probe(_Hanging("hang"))  # type: ignore[arg-type]
    assert hung.health.status == "down" and hung.health.error_kind is ErrorKind.TIMEOUT
    assert "within 5 s" in hung.health.message
    crashed = await board.probe(_Hanging("raise"))  # type: ignore[arg-type]
    assert crashed.health.status == "down"
    assert "ValueError: boom ***" in crashed.health.message
    assert board.latest("hang") is crashed
