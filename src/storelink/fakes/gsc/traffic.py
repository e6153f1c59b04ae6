"""The search traffic model: the demo site's (query, page) pairs built from the demo store, each with
a base volume, position and CTR around a position curve (:func:`expected_ctr`), their daily series
(season, weekday, trend, noise), and the signals planted for analytics."""

from __future__ import annotations

import datetime as dt
import math
import random
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from storelink.fakes.data import DemoStore, ProductStatus

DEMO_SITE = "sc-domain:apexperformanceparts.example"


SITE_ORIGIN = "https://www.apexperformanceparts.example"


PACIFIC = ZoneInfo("America/Los_Angeles")


_CTR_TOP = (0.28, 0.157, 0.11, 0.08, 0.072, 0.051, 0.04, 0.032, 0.028, 0.025)


def expected_ctr(position: float) -> float:
    """A typical organic CTR for an average position (the curve the fake's CTRs are drawn around)."""
    if position <= 1:
        return _CTR_TOP[0]
    if position < 10:
        low = int(position)
        frac = position - low
        return _CTR_TOP[low - 1] * (1 - frac) + _CTR_TOP[low] * frac
    if position <= 20:
        return 0.025 - (position - 10) * 0.0017
    return max(0.001, 0.008 - (position - 20) * 0.0002)


@dataclass(frozen=True, slots=True)
class GscSignals:
    """Ground truth planted in the search data (queries and page URLs)."""

    striking_distance: tuple[str, ...]
    low_ctr: tuple[str, ...]
    declining_pages: tuple[str, ...]
    cannibalised: tuple[tuple[str, tuple[str, str]], ...]
    not_indexed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Pair:
    query: str
    page: str
    base: float  # impressions per day, before season, weekday, trend and noise
    position: float
    ctr_factor: float = 1.0
    decline: float = 0.0  # share of traffic lost by the last weeks
    swing: int = 0  # +1 / -1: the two pages of a cannibalised query swap places
    appearance: tuple[tuple[str, float], ...] = ()


_WEEKLY = (1.0, 1.02, 1.01, 0.99, 0.94, 1.05, 1.09)


_DEVICES = (("MOBILE", 0.58, 1.0, 0.3), ("DESKTOP", 0.37, 1.15, -0.4), ("TABLET", 0.05, 0.9, 0.5))


_COUNTRIES = (("usa", 0.71, 0.0), ("can", 0.08, 0.6), ("gbr", 0.07, 1.2), ("aus", 0.05, 1.0), ("deu", 0.03, 2.5))


_COUNTRIES_REST = ("nzl", 0.02, 1.4), ("irl", 0.02, 1.8), ("ind", 0.02, 4.0)


_ALL_COUNTRIES = _COUNTRIES + _COUNTRIES_REST


_PRODUCT_APPEARANCE = (("PRODUCT_SNIPPETS", 0.62), ("MERCHANT_LISTINGS", 0.28))


_BLOG_APPEARANCE = (("REVIEW_SNIPPET", 0.0),)


def _vehicle(fitment: str) -> str:
    return re.sub(r"\s*\([^)]*\)", "", fitment).replace(" / ", " ").lower()


class GscTraffic:
    """The (query, page) pairs and their day-by-day numbers."""

    def __init__(self, store: DemoStore, *, today: dt.date, seed: int = 0) -> None:
        self.store = store
        self.today = today
        rng = random.Random(store.seed ^ 0x65C ^ seed)
        self._noise = [rng.uniform(-1.0, 1.0) for _ in range(8192)]
        self._frac = [rng.random() for _ in range(8192)]
        self.pairs, self.signals = self._build(rng)
        self.pages = sorted({p.page for p in self.pairs})

    def noise(self, a: int, b: int) -> float:
        return self._noise[(a * 7919 + b * 104_729) % 8192]

    def frac(self, a: int, b: int) -> float:
        return self._frac[(a * 6007 + b * 92_821) % 8192]

    def _build(self, rng: random.Random) -> tuple[list[_Pair], GscSignals]:
        store = self.store
        url = SITE_ORIGIN
        sold: Counter[int] = Counter()
        for order in store.orders:
            for line in order.line_items:
                sold[line.product_id] += line.quantity
        active = [p for p in store.products if p.status is ProductStatus.ACTIVE]
        top = max(sold.values(), default=1)
        pairs: list[_Pair] = []
        # Product pages: the exact title, "line type vehicle", "brand type vehicle".
        for p in active:
            pop = sold[p.id] / top
            page = f"{url}/products/{p.handle}"
            vehicle = _vehicle(p.fitment)
            kind = p.product_type.lower()
            brand = p.vendor.split()[0].lower()
            pairs.append(
                _Pair(
                    p.title.lower(), page, 0.6 + 2.5 * pop, rng.uniform(1.0, 2.4), 1.25, appearance=_PRODUCT_APPEARANCE
                )
            )
            pairs.append(
                _Pair(
                    f"{p.line.lower()} {kind} {vehicle}",
                    page,
                    1.5 + 12 * pop,
                    rng.uniform(3.5, 9.0),
                    appearance=_PRODUCT_APPEARANCE,
                )
            )
            pairs.append(
                _Pair(
                    f"{brand} {kind} {vehicle}",
                    page,
                    0.8 + 4 * pop,
                    rng.uniform(1.5, 4.0),
                    appearance=_PRODUCT_APPEARANCE,
                )
            )
        # "vehicle type" lands on that combination's best seller.
        best: dict[tuple[str, str], Any] = {}
        for p in active:
            key = (_vehicle(p.fitment), p.product_type.lower())
            if key not in best or sold[p.id] > sold[best[key].id]:
                best[key] = p
        combos = sorted(best)
        low_ctr = [combos[i] for i in range(3, len(combos), max(1, len(combos) // 4))][:4]
        for key in combos:
            p = best[key]
            query = f"{key[0]} {key[1]}"
            page = f"{url}/products/{p.handle}"
            if key in low_ctr:  # ranks near the top, yet the snippet is skipped
                pairs.append(
                    _Pair(query, page, rng.uniform(45, 70), rng.uniform(1.8, 2.8), 0.16, appearance=_PRODUCT_APPEARANCE)
                )
            else:
                pairs.append(
                    _Pair(query, page, rng.uniform(8, 30), rng.uniform(5.0, 14.0), appearance=_PRODUCT_APPEARANCE)
                )
        # Head terms on collection pages.
        striking: list[str] = []
        for kind in sorted({p.product_type for p in active}):
            handle = kind.lower().replace(" ", "-")
            page = f"{url}/collections/{handle}"
            lower = kind.lower()
            pairs.append(_Pair(lower, page, rng.uniform(400, 1200), rng.uniform(24, 45)))
            pairs.append(_Pair(f"performance {lower}", page, rng.uniform(90, 260), rng.uniform(8.5, 16.5)))
            pairs.append(_Pair(f"best {lower} for track", page, rng.uniform(45, 120), rng.uniform(11, 19)))
            pairs.append(_Pair(f"{lower} near me", page, rng.uniform(20, 60), rng.uniform(30, 50), 0.6))
            striking += [f"performance {lower}", f"best {lower} for track"]
        # Brand and home page; how-to queries on blog posts.
        pairs += [
            _Pair("apex performance parts", f"{url}/", 70, 1.05, 1.35),
            _Pair("apex performance parts coupon", f"{url}/", 12, 1.4, 1.2),
            _Pair("apexperformanceparts", f"{url}/", 9, 1.0, 1.4),
            _Pair("apex performance parts shipping", f"{url}/pages/shipping", 4, 1.2, 1.3),
        ]
        for slug, queries in (
            ("how-to-bed-in-brake-pads", ("how to bed in brake pads", "brake pad bedding procedure")),
            ("coilovers-vs-lowering-springs", ("coilovers vs lowering springs", "are coilovers worth it")),
            ("choosing-a-cold-air-intake", ("best cold air intake", "does a cold air intake add horsepower")),
            ("track-day-checklist", ("track day checklist", "what to bring to a track day")),
            ("when-to-change-brake-fluid", ("when to change brake fluid", "dot 4 vs dot 5.1")),
        ):
            for query in queries:
                pairs.append(_Pair(query, f"{url}/blogs/news/{slug}", rng.uniform(40, 220), rng.uniform(3, 9)))
        # Cannibalisation: a collection page and its best product page trade places on one query.
        cannibalised: list[tuple[str, tuple[str, str]]] = []
        for kind, line_name in (("brake pads", "track day"), ("coilovers", "street")):
            candidates = [p for p in active if p.product_type.lower() == kind and p.line.lower().startswith(line_name)]
            candidates = candidates or [p for p in active if p.product_type.lower() == kind]
            product = max(candidates, key=lambda p: sold[p.id])
            query = f"{line_name} {kind}"
            a, b = f"{url}/collections/{kind.replace(' ', '-')}", f"{url}/products/{product.handle}"
            pairs.append(_Pair(query, a, 140, 7.0, swing=1))
            pairs.append(_Pair(query, b, 130, 7.5, swing=-1, appearance=_PRODUCT_APPEARANCE))
            cannibalised.append((query, (a, b)))
        # Declining pages: popular product pages whose every query loses traffic lately.
        popular = sorted(active, key=lambda p: -sold[p.id])
        declining = {f"{url}/products/{p.handle}" for p in popular[6:30:6]}
        pairs = [
            _Pair(x.query, x.page, x.base, x.position, x.ctr_factor, 0.7, x.swing, x.appearance)
            if x.page in declining
            else x
            for x in pairs
        ]
        unique: dict[tuple[str, str], _Pair] = {}
        for x in pairs:
            unique.setdefault((x.query, x.page), x)
        not_indexed = tuple(f"{url}/products/{p.handle}" for p in popular[-3:])
        low_ctr_queries = tuple(f"{v} {k}" for v, k in low_ctr)
        return list(unique.values()), GscSignals(
            striking_distance=tuple(striking),
            low_ctr=low_ctr_queries,
            declining_pages=tuple(sorted(declining)),
            cannibalised=tuple(cannibalised),
            not_indexed=not_indexed,
        )

    def calendar(self, days: list[dt.date]) -> list[tuple[str, int, float, float, float]]:
        """Per day: ISO date, ordinal, season × weekday factor, position swing, decline ramp (0→1)."""
        ramp0 = self.today.toordinal() - 49
        out = []
        for day in days:
            o = day.toordinal()
            season = 1 + 0.2 * math.sin(2 * math.pi * (day.timetuple().tm_yday - 100) / 365)
            out.append(
                (
                    day.isoformat(),
                    o,
                    season * _WEEKLY[day.weekday()],
                    2.5 * math.sin(o / 4),
                    min(1.0, max(0.0, (o - ramp0) / 42)),
                )
            )
        return out

    def series(
        self, index: int, pair: _Pair, calendar: list[tuple[str, int, float, float, float]]
    ) -> list[tuple[str, int, int, float]]:
        """(date, impressions, clicks, position) of ``pair`` for each day of ``calendar`` with impressions."""
        noise, frac = self._noise, self._frac
        a_noise, a_frac = index * 7919, index * 6007
        out = []
        for iso, o, factor, swing, ramp in calendar:
            trend = 1 - pair.decline * ramp if pair.decline else 1.0
            b = o * 104_729
            volume = pair.base * factor * trend * (1 + 0.25 * noise[(a_noise + b) % 8192])
            impressions = int(volume + frac[(a_frac + o * 92_821) % 8192])
            if impressions <= 0:
                continue
            position = pair.position + 0.6 * noise[(a_noise + b + 17 * 104_729) % 8192] + pair.swing * swing
            position = max(1.0, position)
            ctr = expected_ctr(position) * pair.ctr_factor * (1 + 0.2 * noise[(a_noise + b + 31 * 104_729) % 8192])
            clicks = min(impressions, int(impressions * ctr + frac[(a_frac + (o + 5) * 92_821) % 8192]))
            out.append((iso, impressions, clicks, position))
        return out

    def day(self, index: int, pair: _Pair, day: dt.date) -> tuple[int, int, float]:
        """Impressions, clicks and average position of ``pair`` on ``day`` (0, 0, 0 without impressions)."""
        found = self.series(index, pair, self.calendar([day]))
        return found[0][1:] if found else (0, 0, 0.0)
