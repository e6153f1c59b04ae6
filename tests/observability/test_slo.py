"""SLO spec and in-process burn: the shipped spec loads, bad specs are refused with the reason,
burn rates and budget follow the SRE workbook's arithmetic, alerts fire on both windows only."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from storelink.observability.history import MetricsHistory, read_counters
from storelink.observability.metrics import Metrics
from storelink.observability.slo import evaluate, load_slos, parse_window
from storelink.observability.slo_export import main
from storelink.settings import CONNECTOR_NAMES
from storelink.store import EmbeddedStore
from tests.support.clocks import ManualClock as WallClock


def test_shipped_spec_covers_every_connector() -> None:
    spec = load_slos()
    assert {c.connector for c in spec.connectors} == set(CONNECTOR_NAMES)
    assert spec.burn_windows == ["5m", "30m", "1h", "6h", "3d"]
    assert spec.window_s == 30 * 86_400
    shopify = {s.kind: s for s in spec.for_connector("shopify")}
    assert shopify["availability"].budget == pytest.approx(0.005)
    assert shopify["latency"].threshold_s == 1.0
    assert "timeout" in spec.bad_outcomes and "invalid_request" not in spec.bad_outcomes


def test_parse_window() -> None:
    assert parse_window("5m") == 300 and parse_window("6h") == 21_600 and parse_window("3d") == 259_200
    with pytest.raises(ValueError, match="5m, 1h or 3d"):
        parse_window("5 minutes")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("slos: [{connector: x, availability: 99, latency: {objective: 95, threshold_s: 0.7}}]", "bucket boundary"),
        ("availability: {bad_outcomes: [exploded]}", "unknown outcome"),
        ("alerts: [{severity: page, long: 1 hour, short: 5m, burn_rate: 14.4}]", "5m, 1h or 3d"),
        ("slos: [{connector: x, availability: 100, latency: {objective: 95, threshold_s: 1}}]", "less than 100"),
    ],
)
def test_bad_specs_say_why(tmp_path: Path, body: str, reason: str) -> None:
    path = tmp_path / "slos.yaml"
    path.write_text(body)
    with pytest.raises(ValidationError, match=reason):
        load_slos(path)


def test_burn_rates_budget_and_alerts() -> None:
    spec = load_slos()
    clock = WallClock()
    m = Metrics()
    h = MetricsHistory(EmbeddedStore(None), m, interval_s=60, clock=clock)
    om = m.operation("shopify", "shop_info")
    h.sample()
    # Seven quiet hours: 1000 calls per hour, 0.1 % unavailable, all fast.
    for _ in range(7):
        for i in range(1000):
            om.observe(outcome="unavailable" if i == 0 else "ok", latency_s=0.1, attempts=1)
        clock.now += 3600
        h.sample()
    # Then ten bad minutes: 1000 calls, 20 % unavailable and 25 % slower than the 1 s threshold;
    # not_found is the caller's mistake and spends no budget.
    for i in range(1000):
        outcome = "unavailable" if i % 5 == 0 else ("not_found" if i % 5 == 1 else "ok")
        om.observe(outcome=outcome, latency_s=2.0 if i % 4 == 0 else 0.2, attempts=1)
    clock.now += 600
    statuses = {s.slo.name: s for s in evaluate(spec, h, read_counters(m))}

    avail = statuses["shopify-availability"]
    w5m = avail.windows["5m"]
    assert (w5m.events, w5m.bad) == (1000, 200)  # the bad minutes, against the last sample
    assert avail.burn("5m") == pytest.approx(0.2 / 0.005)
    # Increases are exact to one sample (as Prometheus' increase()): the 1 h window reaches back
    # to the sample an hour before the last one, so it holds the last quiet hour too.
    one_hour = avail.windows["1h"]
    assert (one_hour.events, one_hour.bad) == (2000, 201)
    assert avail.burn("1h") == pytest.approx(201 / 2000 / 0.005)
    assert avail.burn("6h") == pytest.approx((6 + 200) / 7000 / 0.005)
    # 1h (20.1) and 5m (40) both burn above 14.4: the page fires; 6h burns at 5.9 < 6; the ticket
    # (3d and 6h above 1) fires too.
    assert avail.severity == "page"
    firing = [(a.alert.long, a.alert.short) for a in avail.alerts if a.firing]
    assert firing == [("1h", "5m"), ("3d", "6h")]
    # Over the whole history: 8000 calls, 207 bad: 2.6 % against a 0.5 % budget.
    assert avail.period.events == 8000 and avail.period.bad == 207
    assert avail.budget_left == pytest.approx(1 - (207 / 8000) / 0.005)
    assert avail.attainment == pytest.approx(100 * (1 - 207 / 8000))
    assert avail.windows["3d"].partial and not avail.windows["6h"].partial

    latency = statuses["shopify-latency"]
    assert latency.windows["5m"].bad == 250
    assert latency.burn("5m") == pytest.approx(0.25 / 0.01)
    # 5m burns at 25 but 1h only at 12.5 (< 14.4): one short spike does not page; it files a ticket.
    assert latency.burn("1h") == pytest.approx(250 / 2000 / 0.01)
    assert latency.severity == "ticket"

    quiet = statuses["ga4-availability"]
    assert quiet.burn("1h") is None and quiet.budget_left is None and quiet.severity is None


def test_cli_lists_slos(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "shopify-availability: 99.5 % of calls succeed over 30d" in out
    assert "ga4-latency: 95 % of calls finish within 2.5 s over 30d" in out
