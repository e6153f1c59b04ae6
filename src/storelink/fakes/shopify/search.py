"""Shopify's search ``query`` syntax (:func:`_parse_search`) and the search fields of each resource.

A query compiles to a predicate over the demo store's entities; unknown fields are ignored and
reported as warnings (``extensions.search``), as Shopify does.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from storelink.fakes.data import FinancialStatus, FulfillmentStatus, Order
from storelink.fakes.shopify.formats import Json

_TOKEN = re.compile(
    r"""\s*(?:(?P<paren>[()])
        |(?P<neg>-)?(?:(?P<field>[A-Za-z_][\w.]*):(?P<op><=|>=|<|>|=)?)?(?P<value>'[^']*'|"[^"]*"|[^\s()]+))""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Term:
    field: str | None  # None: free text
    op: str  # ":" "<" "<=" ">" ">="
    value: str
    negate: bool


def _parse_search(text: str) -> list[list[_Term]]:
    """Shopify's search syntax, the parts clients use: a disjunction (``OR``) of conjunctions.

    Terms are ``field:value``, ``field:>=value`` (also ``>``, ``<``, ``<=``), quoted values
    (``vendor:'Titan Exhaust'``), ``*`` wildcards (``title:*brake*``), a leading ``-`` or ``NOT``
    to negate, and free text. Terms join with spaces or ``AND``; parentheses are ignored.
    """
    groups: list[list[_Term]] = [[]]
    negate_next = False
    for match in _TOKEN.finditer(text):
        if match["paren"] or match["value"] is None:
            continue
        value = match["value"]
        if match["field"] is None and value in ("AND", "OR", "NOT"):
            if value == "OR":
                groups.append([])
            negate_next = value == "NOT"
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        op = match["op"] or ":"
        field_name = match["field"].lower() if match["field"] else None
        groups[-1].append(_Term(field_name, "=" if op == "=" else op, value, bool(match["neg"]) or negate_next))
        negate_next = False
    return [g for g in groups if g] or [[]]


class _SearchField(NamedTuple):
    kind: str  # text | words | list | enum | date | number
    get: Callable[[Any], Any]
    aliases: Mapping[str, str] = {}


def _text_match(pattern: str, value: str, *, contains: bool = False) -> bool:
    pattern, value = pattern.lower(), value.lower()
    if "*" in pattern:
        return fnmatch.fnmatchcase(value, pattern)
    return pattern in value if contains else pattern == value


def _parse_when(text: str) -> tuple[datetime, bool] | None:
    """A search date: ``2026-01-01`` (a whole day, flagged) or an ISO timestamp."""
    try:
        if len(text) == 10:
            return datetime.fromisoformat(text).replace(tzinfo=UTC), True
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), False


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    if op == ">=":
        return bool(left >= right)
    return bool(left == right)


def _date_match(op: str, moment: datetime | None, text: str) -> bool:
    """Date-only bounds cover the whole day: ``<=2026-01-31`` includes the 31st, ``:2026-01-31`` is that day."""
    parsed = _parse_when(text)
    if parsed is None or moment is None:
        return False
    start, whole_day = parsed
    if not whole_day:
        return _compare(op, moment, start)
    end = start + timedelta(days=1)
    if op in (":", "="):
        return start <= moment < end
    return {"<": moment < start, "<=": moment < end, ">": moment >= end, ">=": moment >= start}[op]


def _term_match(term: _Term, spec: _SearchField, item: Any) -> bool:
    value = spec.get(item)
    if spec.kind == "date":
        return _date_match(term.op, value, term.value)
    if spec.kind == "number":
        try:
            return _compare(term.op, float(value), float(term.value))
        except (TypeError, ValueError):
            return False
    if spec.kind == "enum":  # one value or several, comma-separated: status:active,draft
        wanted = {spec.aliases.get(v.lower(), v.upper()) for v in term.value.split(",")}
        return "*" in wanted or value in wanted
    if spec.kind == "list":
        return any(_text_match(term.value, str(v)) for v in value)
    return _text_match(term.value, str(value), contains=spec.kind == "words")


def _compile_search(
    text: str | None, fields: Mapping[str, _SearchField], free: Callable[[Any], Iterable[str]]
) -> tuple[Callable[[Any], bool] | None, list[Json]]:
    """A predicate for ``text`` (None: everything matches) and warnings for unknown fields."""
    if not text or not text.strip():
        return None, []
    groups = _parse_search(text)
    warnings = [
        {"field": t.field, "message": "Invalid search field for this query."}
        for g in groups
        for t in g
        if t.field is not None and t.field not in fields
    ]

    def term_ok(term: _Term, item: Any) -> bool:
        if term.field is None:
            hit = any(_text_match(term.value, s, contains=True) for s in free(item))
        elif term.field in fields:
            hit = _term_match(term, fields[term.field], item)
        else:
            return True  # unknown fields are ignored (and warned about)
        return hit != term.negate

    def predicate(item: Any) -> bool:
        return any(all(term_ok(t, item) for t in group) for group in groups)

    return predicate, warnings


def _date_field(get: Callable[[Any], datetime | None]) -> _SearchField:
    return _SearchField("date", get)


_PRODUCT_SEARCH: Mapping[str, _SearchField] = {
    "id": _SearchField("number", lambda p: p.id),
    "title": _SearchField("words", lambda p: p.title),
    "handle": _SearchField("text", lambda p: p.handle),
    "vendor": _SearchField("text", lambda p: p.vendor),
    "product_type": _SearchField("text", lambda p: p.product_type),
    "status": _SearchField("enum", lambda p: p.status.value),
    "tag": _SearchField("list", lambda p: p.tags),
    "sku": _SearchField("list", lambda p: [v.sku for v in p.variants]),
    "inventory_total": _SearchField("number", lambda p: p.total_inventory),
    "created_at": _date_field(lambda p: p.created_at),
    "updated_at": _date_field(lambda p: p.updated_at),
    "published_at": _date_field(lambda p: p.published_at),
}

_VARIANT_SEARCH: Mapping[str, _SearchField] = {
    "id": _SearchField("number", lambda v: v.id),
    "sku": _SearchField("text", lambda v: v.sku),
    "title": _SearchField("words", lambda v: v.title),
    "product_id": _SearchField("number", lambda v: v.product_id),
    "inventory_quantity": _SearchField("number", lambda v: v.inventory_quantity),
    "created_at": _date_field(lambda v: v.created_at),
    "updated_at": _date_field(lambda v: v.updated_at),
}

_FINANCIAL = {s.value.lower(): s.value for s in FinancialStatus} | {"any": "*"}
_FULFILLMENT = {"fulfilled": "FULFILLED", "shipped": "FULFILLED", "unfulfilled": "UNFULFILLED",
                "unshipped": "UNFULFILLED", "partial": "PARTIALLY_FULFILLED",
                "partially_fulfilled": "PARTIALLY_FULFILLED", "any": "*"}  # fmt: skip


def _order_state(o: Order) -> str:
    if o.financial_status is FinancialStatus.REFUNDED and o.fulfillment_status is FulfillmentStatus.UNFULFILLED:
        return "CANCELLED"
    done = o.fulfillment_status is FulfillmentStatus.FULFILLED and o.financial_status is not FinancialStatus.PENDING
    return "CLOSED" if done else "OPEN"


_ORDER_SEARCH: Mapping[str, _SearchField] = {
    "id": _SearchField("number", lambda o: o.id),
    "name": _SearchField("list", lambda o: (o.name, str(o.number))),  # name:#1001 or name:1001
    "email": _SearchField("text", lambda o: o.email),
    "customer_id": _SearchField("number", lambda o: o.customer_id),
    "financial_status": _SearchField("enum", lambda o: o.financial_status.value, _FINANCIAL),
    "fulfillment_status": _SearchField("enum", lambda o: o.fulfillment_status.value, _FULFILLMENT),
    "status": _SearchField("enum", _order_state, {"any": "*"}),
    "sku": _SearchField("list", lambda o: [li.sku for li in o.line_items]),
    "discount_code": _SearchField("list", lambda o: o.discount_codes),
    "total_price": _SearchField("number", lambda o: o.total_price),
    "created_at": _date_field(lambda o: o.created_at),
    "updated_at": _date_field(lambda o: o.updated_at),
    "processed_at": _date_field(lambda o: o.processed_at),
}

_CUSTOMER_SEARCH: Mapping[str, _SearchField] = {
    "id": _SearchField("number", lambda c: c.id),
    "email": _SearchField("text", lambda c: c.email),
    "first_name": _SearchField("text", lambda c: c.first_name),
    "last_name": _SearchField("text", lambda c: c.last_name),
    "phone": _SearchField("text", lambda c: c.phone or ""),
    "country": _SearchField("text", lambda c: c.address.country_code),
    "city": _SearchField("text", lambda c: c.address.city),
    "tag": _SearchField("list", lambda c: c.tags),
    "orders_count": _SearchField("number", lambda c: c.orders_count),
    "total_spent": _SearchField("number", lambda c: c.amount_spent),
    "amount_spent": _SearchField("number", lambda c: c.amount_spent),
    "accepts_marketing": _SearchField("text", lambda c: str(c.accepts_marketing).lower()),
    "created_at": _date_field(lambda c: c.created_at),
    "updated_at": _date_field(lambda c: c.updated_at),
}
