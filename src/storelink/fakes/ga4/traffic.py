"""The traffic model: a year of daily sessions, users, page views and purchases derived from the demo
store's orders (transactions and revenue equal them), the pages they land on, and the planted signals."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from storelink.fakes.data import DemoStore, ProductStatus
from storelink.fakes.ga4.catalogue import _WEEKLY


@dataclass(frozen=True, slots=True)
class Ga4Signals:
    """Ground truth planted in the traffic, for tests and analytics."""

    viewed_not_bought: tuple[int, ...]  # product ids: many product-page views, (almost) no purchases


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` that add up to it (largest remainder)."""
    mass = sum(weights)
    if total <= 0 or mass <= 0:
        return [0] * len(weights)
    exact = [total * w / mass for w in weights]
    parts = [int(x) for x in exact]
    short = total - sum(parts)
    for i in sorted(range(len(weights)), key=lambda i: exact[i] - parts[i], reverse=True)[:short]:
        parts[i] += 1
    return parts


@dataclass(frozen=True, slots=True)
class _Page:
    path: str
    title: str
    weight: float
    engagement_s: float
    product_id: int | None = None


class Ga4Traffic:
    """Daily totals and the static splits behind every report; cells are built per request."""

    def __init__(self, store: DemoStore) -> None:
        self.store = store
        self.zone = ZoneInfo(store.shop.timezone)
        self.today = store.today
        self.first_day = store.today - dt.timedelta(days=364)
        rng = random.Random(store.seed ^ 0x6A4)
        self._noise = [rng.uniform(-1.0, 1.0) for _ in range(4096)]
        orders: dict[dt.date, list[Any]] = defaultdict(list)
        units: dict[tuple[dt.date, int], int] = Counter()
        item_revenue: dict[tuple[dt.date, int], float] = defaultdict(float)
        for order in store.orders:
            day = order.created_at.astimezone(self.zone).date()
            orders[day].append(order)
            for line in order.line_items:
                units[(day, line.product_id)] += line.quantity
                item_revenue[(day, line.product_id)] += float(line.discounted_total)
        self.units = units
        self.item_revenue = item_revenue
        self.sold_on: dict[dt.date, set[int]] = defaultdict(set)
        for day, product_id in units:
            self.sold_on[day].add(product_id)
        self.days: dict[dt.date, dict[str, float]] = {}
        self.country_orders: dict[dt.date, dict[str, tuple[int, float]]] = {}
        day = self.first_day
        while day <= self.today:
            todays = orders.get(day, [])
            tx = len(todays)
            revenue = round(sum(float(o.current_total_price) for o in todays), 2)
            wiggle = 1 + 0.08 * self.noise(day.toordinal(), 1)
            sessions = round((tx * 52 + 160) * _WEEKLY[day.weekday()] * wiggle)
            users = round(sessions * 0.81)
            self.days[day] = {
                "sessions": sessions,
                "totalUsers": users,
                "activeUsers": users,
                "newUsers": round(users * 0.64),
                "engagedSessions": round(sessions * (0.6 + 0.03 * self.noise(day.toordinal(), 2))),
                "screenPageViews": round(sessions * 4.3),
                "userEngagementDuration": sessions * 96,
                "keyEvents": tx + round(sessions * 0.004),
                "transactions": tx,
                "totalRevenue": revenue,
            }
            by_country: dict[str, tuple[int, float]] = {}
            for o in todays:
                n, r = by_country.get(o.ship_to.country_code, (0, 0.0))
                by_country[o.ship_to.country_code] = (n + 1, r + float(o.current_total_price))
            self.country_orders[day] = by_country
            day += dt.timedelta(days=1)
        self.pages, self.signals = self._pages()

    def noise(self, a: int, b: int) -> float:
        return self._noise[(a * 7919 + b * 104_729) % 4096]

    def _pages(self) -> tuple[list[_Page], Ga4Signals]:
        store = self.store
        shop = store.shop.name
        sold = Counter[int]()
        for (_, pid), n in self.units.items():
            sold[pid] += n
        active = [p for p in store.products if p.status is ProductStatus.ACTIVE]
        top = max(sold.values(), default=1)
        dead = [
            pid for pid in store.signals.dead_stock if (p := store.product(pid)) and p.status is ProductStatus.ACTIVE
        ]
        planted = tuple(dead[:5])
        pages = [
            _Page("/", f"{shop} – Performance Brakes, Suspension & Engine Parts", 14.0, 25.0),
            _Page("/cart", f"Your Shopping Cart – {shop}", 6.0, 30.0),
            _Page("/search", f"Search – {shop}", 3.0, 20.0),
            _Page("/account/login", f"Account – {shop}", 1.5, 15.0),
            _Page("/pages/shipping", f"Shipping & Returns – {shop}", 0.8, 40.0),
            _Page("/pages/fitment-guide", f"Fitment Guide – {shop}", 1.2, 70.0),
        ]
        for slug, title in (
            ("how-to-bed-in-brake-pads", "How to Bed In Brake Pads"),
            ("coilovers-vs-lowering-springs", "Coilovers vs Lowering Springs"),
            ("choosing-a-cold-air-intake", "Choosing a Cold Air Intake"),
            ("track-day-checklist", "The Track Day Checklist"),
            ("when-to-change-brake-fluid", "When to Change Brake Fluid"),
        ):
            pages.append(_Page(f"/blogs/news/{slug}", f"{title} – {shop}", 0.9, 140.0))
        for product_type in sorted({p.product_type for p in active}):
            handle = product_type.lower().replace(" ", "-")
            pages.append(_Page(f"/collections/{handle}", f"{product_type} – {shop}", 1.6, 35.0))
        for p in active:
            weight = 0.35 + 4.5 * sold[p.id] / top
            if p.id in planted:
                weight = 4.2  # as viewed as a best seller, and hardly bought
            pages.append(_Page(f"/products/{p.handle}", f"{p.title} – {shop}", weight, 48.0, p.id))
        return pages, Ga4Signals(viewed_not_bought=planted)

    @cached_property
    def _page_views_cache(self) -> dict[dt.date, list[int]]:
        return {}

    def page_views(self, day: dt.date) -> list[int]:
        """Views per page (in :attr:`pages` order) on ``day``: the day's views, apportioned."""
        cached = self._page_views_cache.get(day)
        if cached is None:
            total = int(self.days[day]["screenPageViews"])
            o = day.toordinal()
            weights = [pg.weight * (1 + 0.2 * self.noise(o, i)) for i, pg in enumerate(self.pages)]
            cached = apportion(total, weights)
            self._page_views_cache[day] = cached
        return cached
