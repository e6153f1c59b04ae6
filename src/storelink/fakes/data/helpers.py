"""Small pure helpers of the builder: handles, e-mails and phone numbers, prices and money splits,
weighted draws, and the holiday calendar."""

from __future__ import annotations

import bisect
import math
import random
import re
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from storelink.fakes.data.catalogue import _CITIES, _Choice
from storelink.fakes.data.entities import CENT, Address, FinancialStatus, LineItem, Refund


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _unique_handle(handle: str, taken: set[str]) -> str:
    candidate, n = handle, 1
    while candidate in taken:
        n += 1
        candidate = f"{handle}-{n}"
    taken.add(candidate)
    return candidate


def _unique_email(first: str, last: str, rng: random.Random, taken: set[str]) -> str:
    domain = rng.choice(("example.com", "example.net", "example.org"))
    base = f"{first}.{last}".lower()
    candidate, n = f"{base}@{domain}", 1
    while candidate in taken:
        n += 1
        candidate = f"{base}{n}@{domain}"
    taken.add(candidate)
    return candidate


def _phone(country: str, area: str, rng: random.Random, taken: set[str]) -> str | None:
    """A number from a range reserved for fiction (555-01xx, Ofcom 07700 900xxx, ACMA 0491 570xxx)."""
    for _ in range(5):
        if country in ("US", "CA"):
            number = f"+1{area}55501{rng.randrange(100):02d}"
        elif country == "GB":
            number = f"+447700900{rng.randrange(1000):03d}"
        elif country == "AU":
            number = f"+61491570{rng.randrange(1000):03d}"
        else:
            return None
        if number not in taken:
            taken.add(number)
            return number
    return None


def _guest_address(rng: random.Random) -> Address:
    city, province, zip_code, _ = rng.choice(_CITIES["US"][1])
    return Address(city, province, "US", zip_code)


def _cents(value: float) -> Decimal:
    return Decimal(str(round(value, 2))).quantize(CENT)


def _charm(value: float) -> Decimal:
    """Retail price endings: .99 under $100, .95 or .00 above."""
    whole = max(1, int(value))
    if value < 100:
        return Decimal(whole) + Decimal("0.99")
    return Decimal(whole) + (Decimal("0.95") if whole % 2 else Decimal("0.00"))


def _allocate(total: Decimal, parts: Sequence[Decimal]) -> list[Decimal]:
    """Split ``total`` over ``parts`` proportionally, in cents, the remainder on the last part."""
    whole = sum(parts, Decimal(0))
    if not total or not whole:
        return [Decimal("0.00")] * len(parts)
    shares = [(total * p / whole).quantize(CENT, ROUND_HALF_UP) for p in parts[:-1]]
    shares.append(total - sum(shares, Decimal(0)))
    return shares


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; the means here are small (< 60), so it is fast and exact."""
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _pick(rng: random.Random, choice: _Choice) -> int:
    values, cumulative = choice
    return values[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]


def _pick_prefix(rng: random.Random, cumulative: Sequence[float], count: int) -> int:
    """Weighted index among the first ``count`` entries of a cumulative weight list."""
    return min(bisect.bisect_right(cumulative, rng.random() * cumulative[count - 1]), count - 1)


@lru_cache(maxsize=8)
def _thanksgiving(year: int) -> date:
    first = date(year, 11, 1)
    return first + timedelta(days=(3 - first.weekday()) % 7 + 21)


def _holiday_factor(day: date) -> float:
    """Black Friday to Cyber Monday is the year's peak; the week before it runs 'early deals'."""
    offset = (day - _thanksgiving(day.year)).days
    return {-7: 1.2, -6: 1.2, -5: 1.25, -4: 1.25, -3: 1.3, -2: 1.3, -1: 1.35,
            0: 1.4, 1: 4.2, 2: 2.6, 3: 2.2, 4: 3.4, 5: 1.5}.get(offset, 1.0)  # fmt: skip


def _is_cyber_weekend(day: date) -> bool:
    return 1 <= (day - _thanksgiving(day.year)).days <= 4


def _with_refunded(li: LineItem, quantity: int) -> LineItem:
    return LineItem(
        li.id,
        li.product_id,
        li.variant_id,
        li.title,
        li.variant_title,
        li.sku,
        li.vendor,
        li.quantity,
        li.unit_price,
        li.discount,
        quantity,
    )


def _financial_status(pending: bool, refunds: Sequence[Refund], total: Decimal) -> FinancialStatus:
    if pending:
        return FinancialStatus.PENDING
    refunded = sum((r.amount for r in refunds), Decimal(0))
    if not refunded:
        return FinancialStatus.PAID
    return FinancialStatus.REFUNDED if refunded >= total else FinancialStatus.PARTIALLY_REFUNDED
