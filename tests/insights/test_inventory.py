"""Inventory signals over hand-built stock and sales; expected figures worked out in the comments."""

from __future__ import annotations

import datetime as dt

import pytest

from storelink.insights.inventory import find_signals
from storelink.insights.models import InventoryParams, SaleRow, StockRow

AS_OF = dt.date(2026, 11, 25)
P = InventoryParams(window_days=10, dead_days=30, overstock_days=100)


def day(n: int) -> dt.date:
    """``n`` days before AS_OF."""
    return AS_OF - dt.timedelta(days=n)


def stock(sku: str, available: int, price: float = 10.0, location: str = "Main") -> StockRow:
    return StockRow(sku, f"Product {sku}", "Default", location, available, price)


def test_no_data() -> None:
    assert find_signals([], [], as_of=AS_OF, lead_time_days=14, params=P) == []


def test_stockout_risk_with_lost_revenue_over_the_gap() -> None:
    # 20 units in 10 days → 2/day; 10 on hand → 5 days of cover < 14; lost = 2 × 10 × (14 − 5) = 180.
    sales = [SaleRow(day(1), "A", 12), SaleRow(day(9), "A", 8)]
    (s,) = find_signals([stock("A", 10)], sales, as_of=AS_OF, lead_time_days=14, params=P)
    assert (s.kind, s.units_sold, s.units_per_day, s.days_of_cover, s.revenue_at_risk) == (
        "stockout_risk",
        20,
        2.0,
        5.0,
        180.0,
    )
    assert s.last_sale == day(1)


def test_zero_stock_that_sells_loses_the_whole_lead_time() -> None:
    # 5 units in 10 days → 0.5/day; 0 on hand → cover 0; lost = 0.5 × 40 × 14 = 280. Not dead (nothing on hand).
    (s,) = find_signals([stock("Z", 0, 40.0)], [SaleRow(day(2), "Z", 5)], as_of=AS_OF, lead_time_days=14, params=P)
    assert (s.kind, s.days_of_cover, s.revenue_at_risk) == ("stockout_risk", 0.0, 280.0)


def test_zero_stock_that_never_sells_is_no_signal() -> None:
    assert find_signals([stock("Z", 0)], [], as_of=AS_OF, lead_time_days=14, params=P) == []


def test_dead_stock_counts_the_value_on_hand() -> None:
    # Last sale 40 days ago ≥ 30: dead; 7 × 25 = 175. Outside the 10-day window, so 0 units per day.
    (s,) = find_signals([stock("D", 7, 25.0)], [SaleRow(day(40), "D", 3)], as_of=AS_OF, lead_time_days=14, params=P)
    assert (s.kind, s.units_sold, s.days_of_cover, s.last_sale, s.revenue_at_risk) == (
        "dead_stock",
        0,
        None,
        day(40),
        175.0,
    )


def test_overstock_values_the_excess_beyond_the_threshold() -> None:
    # 1 unit in 10 days → 0.1/day; 50 on hand → 500 days > 100; excess 50 − 0.1 × 100 = 40 → 40 × 10 = 400.
    (s,) = find_signals([stock("O", 50)], [SaleRow(day(3), "O", 1)], as_of=AS_OF, lead_time_days=14, params=P)
    assert (s.kind, s.days_of_cover, s.revenue_at_risk) == ("overstock", 500.0, 400.0)


def test_sales_split_evenly_across_locations_and_stock_outs_ranked_first() -> None:
    # 40 units in 10 days = 4/day, two locations → 2/day each.
    # Main: 4 on hand → 2 days; lost 2 × 10 × 12 = 240. East: 40 on hand → 20 days ≥ 14: healthy.
    # Dead item: 30 × 10 = 300 tied up, more money but not urgent: after the stock-out.
    rows = [stock("S", 4, location="Main"), stock("S", 40, location="East"), stock("D", 30)]
    found = find_signals(rows, [SaleRow(day(0), "S", 40)], as_of=AS_OF, lead_time_days=14, params=P)
    assert [(s.kind, s.sku, s.location, s.revenue_at_risk) for s in found] == [
        ("stockout_risk", "S", "Main", 240.0),
        ("dead_stock", "D", "Main", 300.0),
    ]
    assert found[0].units_per_day == 2.0


def test_one_day_of_data_uses_the_whole_window() -> None:
    # A single day with 3 sales, today: 3 / 10 days = 0.3/day; 6 on hand → 20 days of cover: no signal
    # with a 14-day lead time, but a stock-out risk with 30 days: lost 0.3 × 10 × (30 − 20) = 30.
    sales = [SaleRow(AS_OF, "A", 3)]
    assert find_signals([stock("A", 6)], sales, as_of=AS_OF, lead_time_days=14, params=P) == []
    (s,) = find_signals([stock("A", 6)], sales, as_of=AS_OF, lead_time_days=30, params=P)
    assert s.revenue_at_risk == pytest.approx(30.0)


def test_sales_after_as_of_are_ignored() -> None:
    (s,) = find_signals([stock("A", 5)], [SaleRow(day(-1), "A", 100)], as_of=AS_OF, lead_time_days=14, params=P)
    assert s.kind == "dead_stock" and s.last_sale is None


def test_stock_outs_rank_above_a_fortune_of_over_stock_and_cover_reads_as_time() -> None:
    from storelink.insights.inventory import cover_words, money

    stock = [
        StockRow("SLOW", "Slow seller", "v", "Main", 5_000, 200.0),  # ~$1M tied up, sells 1 a month
        StockRow("FAST", "Fast seller", "v", "Main", 1, 20.0),  # out within a day
    ]
    sales = [SaleRow(AS_OF, "SLOW", 1), *(SaleRow(AS_OF - dt.timedelta(days=d), "FAST", 3) for d in range(30))]
    found = find_signals(stock, sales, as_of=AS_OF, lead_time_days=14, params=InventoryParams())
    kinds = [(s.kind, s.sku) for s in found]
    assert kinds == [("stockout_risk", "FAST"), ("overstock", "SLOW")]
    assert found[1].revenue_at_risk > 100 * found[0].revenue_at_risk  # bigger money, still second
    assert "411 years of cover" in found[1].why and "25500" not in found[1].why
    assert [cover_words(d) for d in (None, 0, 4.25, 45, 240, 150_000)] == [
        "–", "none", "4.2 days", "45 days", "8 months", "411 years"
    ]  # fmt: skip
    assert money(1_234.5, "EUR") == "1,234.50 EUR"
