"""The order-making steps of the builder: a year of days, each with its count of orders, and each
order with its basket, buyer, discount, totals, payment, fulfilment and refunds."""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from storelink.fakes.data.catalogue import (
    _HOUR,
    _LINE_ID0,
    _LINES_PER_ORDER,
    _ORDER_ID0,
    _PAIR_RATE,
    _REFUND_ID0,
    _TAX_RATES,
    _TYPE_BY_NAME,
    _VARIANT_POSITION,
    _WEEKDAY_FACTOR,
)
from storelink.fakes.data.drafts import (
    _Basket,
    _CustomerSeed,
    _Draft,
    _OrderDraft,
    _weight_on,
)
from storelink.fakes.data.entities import (
    CENT,
    FulfillmentStatus,
    LineItem,
    Order,
    Product,
    Refund,
    Variant,
)
from storelink.fakes.data.helpers import (
    _allocate,
    _financial_status,
    _guest_address,
    _holiday_factor,
    _is_cyber_weekend,
    _pick,
    _pick_prefix,
    _poisson,
    _with_refunded,
)


class _OrderSteps:
    """Orders, the third of :class:`~storelink.fakes.data.builder._Builder`'s steps (after the catalogue and
    customers), drawing from the same ``rng``."""

    rng: random.Random
    today: date
    start: date
    as_of: datetime
    titles: dict[int, str]
    vendors: dict[int, str]

    # -- orders ------------------------------------------------------------------------------------
    def _day_count(self, day: date) -> int:
        """Orders on ``day``: Poisson around a mean shaped by trend, week, season and holidays."""
        t = (day - self.start).days / 364
        trend = 1.0 + 0.25 * t
        doy = day.timetuple().tm_yday
        season = 0.75 + 0.8 * math.exp(-(((doy - 170) / 60) ** 2))  # racing season peaks mid-June
        mean = 14.0 * trend * _WEEKDAY_FACTOR[day.weekday()] * season * _holiday_factor(day)
        return max(2, min(60, _poisson(self.rng, mean)))

    def _daily_weights(self, drafts: Sequence[_Draft]) -> Iterator[tuple[date, list[float]]]:
        """Each day with the cumulative sales weights of the products on it.

        A product sells from the day after it is created until ``sold_until``; rising products
        ramp up over the last 60 days. Weights are recomputed only on days where one changes.
        """
        ramp_start = self.today - timedelta(days=60)
        changes = {d.created_at.date() + timedelta(days=1) for d in drafts}
        changes |= {d.sold_until.date() for d in drafts if d.sold_until is not None}
        cum: list[float] = []
        for offset in range(365):
            day = self.start + timedelta(days=offset)
            if not cum or day in changes or day > ramp_start:
                cum = list(itertools.accumulate(_weight_on(d, day, ramp_start) for d in drafts))
            yield day, cum

    def _orders(
        self, drafts: list[_Draft], products: list[Product], customers: list[_CustomerSeed], pairs: Mapping[int, int]
    ) -> list[Order]:
        rng = self.rng
        raw: list[tuple[datetime, _Basket]] = []
        customer_times = [c.created_at for c in customers]
        customer_cum = list(itertools.accumulate(c.weight for c in customers))
        for day, cum in self._daily_weights(drafts):
            for _ in range(self._day_count(day)):
                created = self._moment_in(day)
                basket = self._basket(products, cum, pairs)
                if rng.random() < 0.04:
                    buyer = None
                else:
                    known = bisect.bisect_right(customer_times, created)
                    buyer = customers[_pick_prefix(rng, customer_cum, known)] if known else None
                raw.append((created, _Basket(basket, buyer)))
        raw.sort(key=lambda pair: pair[0])
        return [self._order(n, created, basket) for n, (created, basket) in enumerate(raw)]

    def _basket(self, products: list[Product], cum: list[float], pairs: Mapping[int, int]) -> list[tuple[Variant, int]]:
        """The variants and quantities of one order."""
        rng = self.rng
        n_lines = _pick(rng, _LINES_PER_ORDER)
        chosen: list[int] = []
        while len(chosen) < n_lines:
            index = bisect.bisect_right(cum, rng.random() * cum[-1])
            index = min(index, len(products) - 1)
            if index in chosen:
                break
            chosen.append(index)
            partner = pairs.get(index)
            if partner is not None and partner not in chosen and len(chosen) < 4 and rng.random() < _PAIR_RATE:
                chosen.append(partner)
        lines: list[tuple[Variant, int]] = []
        position = _pick(rng, _VARIANT_POSITION)
        for index in chosen:
            product = products[index]
            variant = product.variants[min(position, len(product.variants) - 1)]
            spec_max = _TYPE_BY_NAME[product.product_type].max_quantity
            quantity = rng.randint(1, spec_max) if spec_max > 1 else (2 if rng.random() < 0.06 else 1)
            lines.append((variant, quantity))
        return lines

    def _order(self, n: int, created: datetime, basket: _Basket) -> Order:
        rng = self.rng
        buyer = basket.buyer
        ship_to = buyer.address if buyer else _guest_address(rng)
        codes, rate = self._discount(created, buyer)
        originals = [variant.price * qty for variant, qty in basket.lines]
        gross = sum(originals, Decimal(0))
        discount_total = (gross * rate).quantize(CENT, ROUND_HALF_UP)
        shares = _allocate(discount_total, originals)
        titles, vendors = self.titles, self.vendors
        line_items = [
            LineItem(
                _LINE_ID0 + n * 4 + i,
                v.product_id,
                v.id,
                titles[v.product_id],
                v.title,
                v.sku,
                vendors[v.product_id],
                qty,
                v.price,
                share,
                0,
            )
            for i, ((v, qty), share) in enumerate(zip(basket.lines, shares, strict=True))
        ]
        subtotal = gross - discount_total
        domestic = ship_to.country_code == "US"
        shipping = Decimal(0) if subtotal >= 149 and domestic else Decimal("9.95" if domestic else "24.95")
        tax = (subtotal * _TAX_RATES[ship_to.country_code]).quantize(CENT, ROUND_HALF_UP)
        draft = _OrderDraft(n, created, buyer, ship_to, line_items, codes, discount_total, shipping, tax)
        return self._settle(draft, subtotal + shipping + tax)

    def _discount(self, created: datetime, buyer: _CustomerSeed | None) -> tuple[tuple[str, ...], Decimal]:
        rng = self.rng
        day = created.date()
        if _is_cyber_weekend(day) and rng.random() < 0.7:
            return ("BFCM25",), Decimal("0.25")
        if day.month in (4, 5) and rng.random() < 0.2:
            return ("SPRING15",), Decimal("0.15")
        if buyer is not None and not buyer.ordered and rng.random() < 0.3:
            buyer.ordered = True
            return ("WELCOME10",), Decimal("0.10")
        if buyer is not None:
            buyer.ordered = True
        if rng.random() < 0.05:
            return ("TRACKDAY",), Decimal("0.12")
        return (), Decimal(0)

    def _settle(self, o: _OrderDraft, total: Decimal) -> Order:
        """Decide payment, fulfilment and refunds, which depend on how old the order is at ``as_of``."""
        rng = self.rng
        lines = o.line_items
        age_days = (self.as_of - o.created).total_seconds() / 86400
        pending = rng.random() < (0.1 if age_days < 3 else 0.004)
        shipped_at = o.created + timedelta(seconds=int(rng.uniform(6 * 3600, 48 * 3600)))
        refunds: list[Refund] = []
        updated = o.created
        if not pending and age_days > 5 and rng.random() < 0.035:
            refund_at = o.created + timedelta(seconds=int(rng.uniform(86400, 20 * 86400)))
            if refund_at <= self.as_of:
                lines, refund = self._refund(o, lines, total, refund_at)
                refunds.append(refund)
                updated = refund_at
        fulfilled = not pending and shipped_at <= self.as_of
        if refunds and refunds[0].amount == total and refunds[0].created_at < shipped_at:
            fulfilled = False  # cancelled and refunded before it shipped
        partial = fulfilled and len(lines) > 1 and age_days < 14 and rng.random() < 0.2
        if fulfilled:
            updated = max(updated, shipped_at)
        return Order(
            id=_ORDER_ID0 + o.n + 1,
            number=1001 + o.n,
            customer_id=o.buyer.id if o.buyer else None,
            email=o.buyer.email if o.buyer else f"guest{o.n + 1001}@example.net",
            created_at=o.created,
            updated_at=updated,
            line_items=tuple(lines),
            discount_codes=o.codes,
            subtotal=total - o.shipping - o.tax,
            total_discounts=o.discount,
            total_shipping=o.shipping,
            total_tax=o.tax,
            total_price=total,
            refunds=tuple(refunds),
            total_refunded=sum((r.amount for r in refunds), Decimal(0)),
            financial_status=_financial_status(pending, refunds, total),
            fulfillment_status=(
                FulfillmentStatus.PARTIALLY_FULFILLED
                if partial
                else FulfillmentStatus.FULFILLED
                if fulfilled
                else FulfillmentStatus.UNFULFILLED
            ),
            ship_to=o.ship_to,
        )

    def _refund(
        self, o: _OrderDraft, lines: list[LineItem], total: Decimal, at: datetime
    ) -> tuple[list[LineItem], Refund]:
        """Refund everything (two in five) or one line (the rest); the refunded lines say so."""
        rng = self.rng
        refund_id = _REFUND_ID0 + o.n
        if rng.random() < 0.4 or (len(lines) == 1 and lines[0].quantity == 1):
            new_lines = [_with_refunded(li, li.quantity) for li in lines]
            return new_lines, Refund(refund_id, at, total, "Customer cancelled", tuple(li.id for li in lines))
        target = rng.randrange(len(lines))
        li = lines[target]
        qty = li.quantity if len(lines) > 1 else li.quantity - 1
        rate = _TAX_RATES[o.ship_to.country_code]
        unit = li.discounted_total / li.quantity
        amount = (unit * qty * (1 + rate)).quantize(CENT, ROUND_HALF_UP)
        new_lines = [_with_refunded(x, qty) if i == target else x for i, x in enumerate(lines)]
        return new_lines, Refund(refund_id, at, amount, "Returned: wrong fitment", (li.id,))

    def _moment_in(self, day: date) -> datetime:
        hour = _pick(self.rng, _HOUR)
        seconds = int(self.rng.random() * 3600)
        return datetime.combine(day, time(hour, seconds // 60, seconds % 60), UTC)
