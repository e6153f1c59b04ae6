"""The builder's work in progress: mutable drafts of products, customers and orders, what is read
off them (titles, tags, pairs, daily sales weight), and the customers they finally make."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from storelink.fakes.data.catalogue import _BRAKE_PAIRS, _IGNITION_PAIRS, _TypeSpec
from storelink.fakes.data.entities import Address, Customer, FinancialStatus, LineItem, Order, ProductStatus, Variant
from storelink.fakes.data.helpers import _slug


@dataclass(slots=True)
class _Draft:
    """A product while the catalogue is being assembled (mutable, unlike :class:`Product`)."""

    index: int
    spec: _TypeSpec
    vendor: str
    line: str
    fitment: str
    status: ProductStatus = ProductStatus.ACTIVE
    popularity: float = 1.0
    created_at: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=UTC))
    sold_until: datetime | None = None  # archived and dead-stock products stop selling here
    rising: bool = False
    stock: str = "normal"  # normal | low | dead


@dataclass(slots=True)
class _CustomerSeed:
    id: int
    first: str
    last: str
    email: str
    phone: str | None
    address: Address
    created_at: datetime
    accepts_marketing: bool
    weight: float
    ordered: bool = False


@dataclass(slots=True)
class _Basket:
    lines: list[tuple[Variant, int]]
    buyer: _CustomerSeed | None


@dataclass(slots=True)
class _OrderDraft:
    n: int
    created: datetime
    buyer: _CustomerSeed | None
    ship_to: Address
    line_items: list[LineItem]
    codes: tuple[str, ...]
    discount: Decimal
    shipping: Decimal
    tax: Decimal


def _pairs(drafts: Sequence[_Draft]) -> list[tuple[int, int]]:
    """Index pairs (pads, rotors) and (plugs, coils) that share a vendor line and fitment."""
    pairs: list[tuple[int, int]] = []
    for first, second, count in (
        ("Brake Pads", "Brake Rotors", _BRAKE_PAIRS),
        ("Spark Plugs", "Ignition Coils", _IGNITION_PAIRS),
    ):
        a = [d.index for d in drafts if d.spec.name == first][:count]
        b = [d.index for d in drafts if d.spec.name == second][:count]
        pairs.extend(zip(a, b, strict=True))
    return pairs


def _title(d: _Draft) -> str:
    return f"{d.vendor.split()[0]} {d.line} {d.spec.name} - {d.fitment}"


def _tags(d: _Draft) -> tuple[str, ...]:
    tags = {d.spec.name.lower().replace(" ", "-"), d.line.lower().replace(" ", "-")}
    if not d.spec.universal:
        tags.add(_slug(d.fitment.split(" (")[0]))
    if d.spec.popularity >= 2.0:
        tags.add("consumable")
    if "Track" in d.line or "Race" in d.line or "Racing" in d.line:
        tags.add("track")
    return tuple(sorted(tags))


def _weight_on(d: _Draft, day: date, ramp_start: date) -> float:
    """One product's sales weight on ``day`` (see :meth:`_Builder._daily_weights`)."""
    if d.status is ProductStatus.DRAFT or day <= d.created_at.date():
        return 0.0
    if d.sold_until is not None and day >= d.sold_until.date():
        return 0.0
    if d.rising:
        progress = (day - ramp_start).days / 60
        return d.popularity * (0.25 if progress <= 0 else 0.25 + 7.0 * progress)
    return d.popularity


def _customers_with_totals(seeds: Sequence[_CustomerSeed], orders: Sequence[Order]) -> list[Customer]:
    """Customers with the order count, spend and last activity their orders imply."""
    counts: dict[int, int] = {}
    spent: dict[int, Decimal] = {}
    last: dict[int, datetime] = {}
    for o in orders:
        if o.customer_id is None:
            continue
        counts[o.customer_id] = counts.get(o.customer_id, 0) + 1
        if o.financial_status is not FinancialStatus.PENDING:
            spent[o.customer_id] = spent.get(o.customer_id, Decimal(0)) + o.current_total_price
        last[o.customer_id] = max(last.get(o.customer_id, o.updated_at), o.updated_at)
    customers = []
    for s in sorted(seeds, key=lambda s: s.id):
        n = counts.get(s.id, 0)
        tags = ("vip",) if n >= 5 else ("repeat",) if n >= 2 else ()
        customers.append(
            Customer(
                id=s.id,
                first_name=s.first,
                last_name=s.last,
                email=s.email,
                phone=s.phone,
                address=s.address,
                accepts_marketing=s.accepts_marketing,
                created_at=s.created_at,
                updated_at=max(s.created_at, last.get(s.id, s.created_at)),
                orders_count=n,
                amount_spent=spent.get(s.id, Decimal("0.00")),
                tags=tags,
            )
        )
    return customers
