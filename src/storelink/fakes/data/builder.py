"""The seeded generation of the demo store: :class:`_Builder` draws the catalogue, customers and a
year of orders from ``random.Random(seed)`` in a fixed order, so the same ``(today, seed)`` always
gives the same store; and the entry points that build, cache and serve it."""

from __future__ import annotations

import dataclasses
import itertools
import random
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType

from storelink.fakes.data.catalogue import (
    _BRAKE_PAIRS,
    _CITIES,
    _CUSTOMER_ID0,
    _DEAD_STOCK,
    _FAST_MOVERS,
    _FIRST_NAMES,
    _FITMENTS,
    _IGNITION_PAIRS,
    _ITEM_ID0,
    _LAST_NAMES,
    _PRODUCT_ID0,
    _RISING,
    _SERIES,
    _TYPES,
    _VARIANT_ID0,
    _VENDORS,
    _locations,
    _TypeSpec,
)
from storelink.fakes.data.drafts import (
    _customers_with_totals,
    _CustomerSeed,
    _Draft,
    _pairs,
    _tags,
    _title,
)
from storelink.fakes.data.entities import (
    CURRENCY,
    DEFAULT_SEED,
    DEFAULT_SHOP_NAME,
    DEFAULT_TODAY,
    DEMO_TIMEZONE,
    Address,
    Customer,
    DemoStore,
    InventoryLevel,
    Order,
    Product,
    ProductStatus,
    Shop,
    Signals,
    Variant,
    _end_of_day,
)
from storelink.fakes.data.helpers import (
    _cents,
    _charm,
    _phone,
    _slug,
    _unique_email,
    _unique_handle,
)
from storelink.fakes.data.orders import _OrderSteps


def build_demo_store(
    *, today: date = DEFAULT_TODAY, seed: int = DEFAULT_SEED, shop_name: str = DEFAULT_SHOP_NAME
) -> DemoStore:
    """Build a fresh store. Prefer :func:`demo_store`; this exists for tests of determinism."""
    store = _Builder(today, seed).build()
    if shop_name != store.shop.name:
        store = dataclasses.replace(store, shop=dataclasses.replace(store.shop, name=shop_name))
    return store


class _Builder(_OrderSteps):
    """Assembles the store in dependency order: catalogue, customers, orders, then totals."""

    def __init__(self, today: date, seed: int) -> None:
        self.today = today
        self.seed = seed
        self.rng = random.Random(seed)
        self.start = today - timedelta(days=364)
        self.as_of = _end_of_day(today)
        self.locations = _locations()
        self.titles: dict[int, str] = {}
        self.vendors: dict[int, str] = {}

    # -- catalogue ---------------------------------------------------------------------------------
    def _drafts(self) -> list[_Draft]:
        """One draft per product; the first brake pads and rotors (and plugs and coils) come in pairs."""
        drafts: list[_Draft] = []
        by_type: dict[str, list[_Draft]] = {}
        titles: set[tuple[str, str, str, str]] = set()
        for spec in _TYPES:
            for n in range(spec.count):
                twin = self._twin_of(spec, n, by_type)
                vendor, line, fitment = twin or self._pick_identity(spec, titles)
                titles.add((spec.name, vendor, line, fitment))
                draft = _Draft(len(drafts), spec, vendor, line, fitment)
                drafts.append(draft)
                by_type.setdefault(spec.name, []).append(draft)
        return drafts

    @staticmethod
    def _twin_of(spec: _TypeSpec, n: int, by_type: Mapping[str, list[_Draft]]) -> tuple[str, str, str] | None:
        """Rotors copy the identity of the matching pads, coils of the matching plugs (the pairs)."""
        partner = {
            "Brake Rotors": ("Brake Pads", _BRAKE_PAIRS),
            "Ignition Coils": ("Spark Plugs", _IGNITION_PAIRS),
        }
        if spec.name not in partner:
            return None
        other, count = partner[spec.name]
        if n >= count:
            return None
        src = by_type[other][n]
        vendor = src.vendor if src.vendor in spec.vendors else spec.vendors[0]
        return vendor, src.line, src.fitment

    def _pick_identity(self, spec: _TypeSpec, taken: set[tuple[str, str, str, str]]) -> tuple[str, str, str]:
        rng = self.rng
        for _ in range(1000):
            vendor = rng.choice(spec.vendors)
            line = rng.choice(spec.lines)
            fitment = rng.choice(_SERIES if spec.universal else _FITMENTS)
            if (spec.name, vendor, line, fitment) not in taken:
                return vendor, line, fitment
        raise AssertionError(f"too few vendor/line/fitment combinations for {spec.count} {spec.name}")

    def _plan_catalogue(self, drafts: list[_Draft]) -> Signals:
        """Give every draft a status, popularity and stock profile, planting the signals."""
        rng = self.rng
        pairs = _pairs(drafts)
        paired = {i for pair in pairs for i in pair}
        for d in drafts:
            d.popularity = d.spec.popularity * rng.lognormvariate(0.0, 0.7)
            d.created_at = self._instant(date(2023, 3, 1) + timedelta(days=rng.randrange(900)))
            draw = rng.random()
            if d.index in paired:
                continue
            if draw < 0.05:
                d.status = ProductStatus.ARCHIVED
                d.sold_until = self._instant(self.start + timedelta(days=rng.randrange(60, 240)))
                d.stock = "dead"
            elif draw < 0.12:
                d.status = ProductStatus.DRAFT
                d.created_at = self._instant(self.today - timedelta(days=rng.randrange(5, 60)))
        active = [d for d in drafts if d.status is ProductStatus.ACTIVE and d.index not in paired]
        rng.shuffle(active)
        cheap = [d for d in active if d.spec.name in ("Brake Pads", "Spark Plugs", "Oil Filters")]
        fast = cheap[:_FAST_MOVERS]
        rest = [d for d in active if d not in fast]
        dead, rising = rest[:_DEAD_STOCK], rest[_DEAD_STOCK : _DEAD_STOCK + _RISING]
        for d in fast:
            d.popularity = d.spec.popularity * 6.0
            d.stock = "low"
        for d in dead:
            d.sold_until = self._instant(self.today - timedelta(days=rng.randrange(100, 200)))
            d.stock = "overstock"
        for d in rising:
            d.rising = True
            d.popularity = d.spec.popularity * 1.5
            d.created_at = self._instant(self.today - timedelta(days=150))
        for a, b in pairs:
            drafts[a].popularity = drafts[b].popularity = drafts[a].spec.popularity * 1.8
        return Signals(
            fast_movers_low_stock=tuple(_PRODUCT_ID0 + d.index for d in fast),
            dead_stock=tuple(_PRODUCT_ID0 + d.index for d in dead),
            rising=tuple(_PRODUCT_ID0 + d.index for d in rising),
            bought_together=tuple((_PRODUCT_ID0 + a, _PRODUCT_ID0 + b) for a, b in pairs),
        )

    def _product(self, d: _Draft, handles: set[str], variant_ids: Iterable[int]) -> Product:
        spec, rng = d.spec, self.rng
        title = _title(d)
        handle = _unique_handle(_slug(title), handles)
        base = rng.uniform(*spec.price)
        n_options = len(spec.options)
        n_variants = rng.randint(max(1, n_options - 1), n_options) if n_options > 1 else 1
        updated = max(d.created_at, self._instant(self.start + timedelta(days=rng.randrange(365))))
        if d.sold_until is not None and d.status is ProductStatus.ARCHIVED:
            updated = d.sold_until
        variants = tuple(
            self._variant(d, pos, option, factor * base, vid, updated)
            for pos, ((option, factor), vid) in enumerate(
                zip(spec.options[:n_variants], variant_ids, strict=False), start=1
            )
        )
        tags = _tags(d)
        return Product(
            id=_PRODUCT_ID0 + d.index,
            title=title,
            handle=handle,
            product_type=spec.name,
            vendor=d.vendor,
            line=d.line,
            fitment=d.fitment,
            status=d.status,
            tags=tags,
            description=f"{d.line} {spec.name.lower()} by {d.vendor}"
            + (f", {d.fitment.lower()}." if spec.universal else f", engineered for the {d.fitment}."),
            created_at=d.created_at,
            updated_at=updated,
            published_at=None if d.status is ProductStatus.DRAFT else d.created_at,
            variants=variants,
        )

    def _variant(self, d: _Draft, pos: int, option: str, raw_price: float, vid: int, updated: datetime) -> Variant:
        rng = self.rng
        price = _charm(raw_price)
        compare = _charm(raw_price * rng.uniform(1.1, 1.3)) if rng.random() < 0.3 else None
        cost = _cents(float(price) * rng.uniform(0.45, 0.65))
        code = re.sub(r"[^A-Z0-9]", "", option.upper())[:4] or "STD"
        return Variant(
            id=vid,
            product_id=_PRODUCT_ID0 + d.index,
            inventory_item_id=_ITEM_ID0 + (vid - _VARIANT_ID0),
            position=pos,
            title=option,
            sku=f"{_VENDORS[d.vendor]}-{d.spec.code}-{d.index:04d}-{code}",
            price=price,
            compare_at_price=compare,
            cost=cost,
            levels=self._levels(d.stock),
            created_at=d.created_at,
            updated_at=updated,
        )

    def _levels(self, stock: str) -> tuple[InventoryLevel, ...]:
        """Available units at (Main Warehouse, East Coast Depot) for one variant."""
        rng = self.rng
        main_id, east_id = (loc.id for loc in self.locations)
        if stock == "low":
            return InventoryLevel(main_id, rng.randint(0, 3), incoming=rng.choice((0, 24))), InventoryLevel(east_id, 0)
        if stock == "overstock":
            return InventoryLevel(main_id, rng.randint(40, 180)), InventoryLevel(east_id, rng.randint(10, 60))
        if stock == "dead":
            return InventoryLevel(main_id, 0), InventoryLevel(east_id, 0)
        draw = rng.random()
        if draw < 0.07:
            main = 0
        elif draw < 0.2:
            main = rng.randint(1, 5)
        elif draw < 0.93:
            main = rng.randint(6, 60)
        else:
            main = rng.randint(150, 600)
        east = 0 if rng.random() < 0.35 else rng.randint(0, 25)
        return InventoryLevel(main_id, main), InventoryLevel(east_id, east)

    # -- customers ---------------------------------------------------------------------------------
    def _customer_seeds(self, n: int = 800) -> list[_CustomerSeed]:
        rng = self.rng
        emails: set[str] = set()
        phones: set[str] = set()
        countries = list(_CITIES)
        weights = [_CITIES[c][0] for c in countries]
        seeds: list[_CustomerSeed] = []
        for k in range(n):
            first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
            country = rng.choices(countries, weights)[0]
            city, province, zip_code, area = rng.choice(_CITIES[country][1])
            email = _unique_email(first, last, rng, emails)
            phone = _phone(country, area, rng, phones) if rng.random() < 0.7 else None
            if rng.random() < 0.55:
                created = self._instant(
                    date(2022, 6, 1) + timedelta(days=rng.randrange((self.start - date(2022, 6, 1)).days))
                )
            else:
                created = self._instant(self.start + timedelta(days=rng.randrange(365)))
            seeds.append(
                _CustomerSeed(
                    id=_CUSTOMER_ID0 + k + 1,
                    first=first,
                    last=last,
                    email=email,
                    phone=phone,
                    address=Address(city, province, country, zip_code),
                    created_at=created,
                    accepts_marketing=rng.random() < 0.45,
                    weight=rng.lognormvariate(0.0, 0.7),
                )
            )
        seeds.sort(key=lambda s: (s.created_at, s.id))
        return seeds

    # -- assembly ----------------------------------------------------------------------------------
    def build(self) -> DemoStore:
        drafts = self._drafts()
        signals = self._plan_catalogue(drafts)
        handles: set[str] = set()
        next_variant = itertools.count(_VARIANT_ID0 + 1)
        products = [self._product(d, handles, next_variant) for d in drafts]
        self.titles = {p.id: p.title for p in products}
        self.vendors = {p.id: p.vendor for p in products}
        pair_index: dict[int, int] = {}
        for a, b in signals.bought_together:
            pair_index[a - _PRODUCT_ID0] = b - _PRODUCT_ID0
            pair_index[b - _PRODUCT_ID0] = a - _PRODUCT_ID0
        seeds = self._customer_seeds()
        orders = self._orders(drafts, products, seeds, pair_index)
        customers = _customers_with_totals(seeds, orders)
        return _assemble(self, products, customers, orders, signals)

    def _instant(self, day: date) -> datetime:
        """A deterministic time of day on ``day`` (for catalogue and customer dates)."""
        return datetime.combine(
            day, time(self.rng.randrange(8, 20), self.rng.randrange(60), self.rng.randrange(60)), UTC
        )


def _assemble(
    b: _Builder, products: list[Product], customers: list[Customer], orders: list[Order], signals: Signals
) -> DemoStore:
    variants = {v.id: v for p in products for v in p.variants}
    return DemoStore(
        shop=Shop(
            id=68_390_000_001,
            name=DEFAULT_SHOP_NAME,
            email="support@apexperformanceparts.example",
            myshopify_domain="demo-performance.myshopify.com",
            primary_domain="www.apexperformanceparts.example",
            currency=CURRENCY,
            plan_name="Shopify",
            timezone=DEMO_TIMEZONE,
        ),
        today=b.today,
        seed=b.seed,
        locations=b.locations,
        products=tuple(products),
        customers=tuple(customers),
        orders=tuple(orders),
        signals=signals,
        _products=MappingProxyType({p.id: p for p in products}),
        _variants=MappingProxyType(variants),
        _items=MappingProxyType({v.inventory_item_id: v for v in variants.values()}),
        _customers=MappingProxyType({c.id: c for c in customers}),
        _orders=MappingProxyType({o.id: o for o in orders}),
        _handles=MappingProxyType({p.handle: p for p in products}),
        _order_times=tuple(o.created_at for o in orders),
    )
