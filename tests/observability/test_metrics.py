"""One registry, a view per store: every series carries its store."""

from __future__ import annotations

from storelink.observability.metrics import Metrics


def test_each_store_records_under_its_own_label_in_one_registry() -> None:
    metrics = Metrics()
    north, south = metrics.for_store("north"), metrics.for_store("south")
    north.operation("shopify", "shop_info").observe(outcome="ok", latency_s=0.1, attempts=1)
    south.operation("shopify", "shop_info").observe(outcome="unavailable", latency_s=2.0, attempts=3)
    south.set_breaker_state("shopify", "open", 2)

    text = metrics.render().decode()
    assert 'storelink_requests_total{connector="shopify",operation="shop_info",outcome="ok",store="north"} 1.0' in text
    assert 'outcome="unavailable",store="south"} 1.0' in text
    assert 'storelink_breaker_state{connector="shopify",store="south"} 2.0' in text
    assert metrics.stores() == ["north", "south"]

    assert north.snapshot()["connectors"]["shopify"]["breaker"] == "closed"
    assert south.snapshot()["connectors"]["shopify"]["breaker"] == "open"
    assert north.counter_value("storelink_requests", connector="shopify") == 1
    assert south.counter_value("storelink_requests", connector="shopify", outcome="ok") == 0
    assert north.last_errors == {} and south.last_errors["shopify"][0] == "unavailable"
    assert metrics.snapshot()["connectors"] == {}  # the default store recorded nothing
