"""Listings and Relay pages: the filtered, sorted sequence behind one connection call, its opaque
base64 cursors, the page sliced by ``first``/``after``/``last``/``before`` (at most 250; everything
in a bulk query), and the sort keys of each resource.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from graphql import GraphQLError

from storelink.fakes.data import Customer, Order, Product, Variant
from storelink.fakes.shopify.formats import Json, _iso

__all__ = ["MAX_PAGE_SIZE"]


MAX_PAGE_SIZE = 250


class _Listing:
    """A filtered, sorted sequence; cursors find their position through an index built on first use."""

    __slots__ = ("_positions", "_sort", "items", "warnings")

    def __init__(self, items: tuple[Any, ...], sort: Callable[[Any], Any], warnings: tuple[Json, ...]) -> None:
        self.items, self._sort, self.warnings = items, sort, warnings
        self._positions: dict[int, int] | None = None

    def cursor(self, n: int) -> str:
        item = self.items[n]
        return _cursor(item.id, self._sort(item))

    def position(self, cursor: str) -> int:
        if self._positions is None:
            self._positions = {item.id: n for n, item in enumerate(self.items)}
        position = self._positions.get(_cursor_id(cursor))
        if position is None:
            raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor}")
        return position


def _listing(
    items: Iterable[Any],
    sort: Callable[[Any], Any],
    reverse: bool,
    predicate: Callable[[Any], bool] | None,
    warnings: Sequence[Json] = (),
) -> _Listing:
    kept = [i for i in items if predicate is None or predicate(i)]
    kept.sort(key=lambda i: (sort(i), i.id), reverse=reverse)
    return _Listing(tuple(kept), sort, tuple(warnings))


def _cursor(item_id: int, value: Any) -> str:
    raw = json.dumps({"last_id": item_id, "last_value": value if isinstance(value, int | str) else str(value)})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _cursor_id(cursor: str) -> int:
    try:
        return int(json.loads(base64.urlsafe_b64decode(cursor.encode()))["last_id"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor}") from exc


class _Edge:
    """One edge; its cursor is encoded only when selected."""

    __slots__ = ("_listing", "_n", "node")

    def __init__(self, listing: _Listing, n: int, node: Json) -> None:
        self._listing, self._n, self.node = listing, n, node

    @property
    def cursor(self) -> str:
        return self._listing.cursor(self._n)


class _Connection:
    """A page of a listing; ``nodes``, ``edges`` and ``pageInfo`` are built only when selected."""

    __slots__ = ("_listing", "_start", "_stop", "_view")

    def __init__(self, listing: _Listing, start: int, stop: int, view: Callable[[Any], Json]) -> None:
        self._listing, self._start, self._stop, self._view = listing, start, stop, view

    @property
    def total(self) -> int:
        """Items in the whole listing (what the ``*Count`` fields report)."""
        return len(self._listing.items)

    @property
    def nodes(self) -> list[Json]:
        view = self._view
        return [view(i) for i in self._listing.items[self._start : self._stop]]

    @property
    def edges(self) -> list[_Edge]:
        listing, view = self._listing, self._view
        return [_Edge(listing, n, view(listing.items[n])) for n in range(self._start, self._stop)]

    @property
    def pageInfo(self) -> Json:  # camelCase: the GraphQL field name
        listing, start, stop = self._listing, self._start, self._stop
        empty = start >= stop
        return {
            "hasNextPage": stop < len(listing.items),
            "hasPreviousPage": start > 0,
            "startCursor": None if empty else listing.cursor(start),
            "endCursor": None if empty else listing.cursor(stop - 1),
        }


def _page(listing: _Listing, args: Mapping[str, Any], view: Callable[[Any], Json], *, bulk: bool) -> _Connection:
    """Slice a listing by ``first``/``after``/``last``/``before`` (everything in a bulk query)."""
    first, last = args.get("first"), args.get("last")
    for name, size in (("first", first), ("last", last)):
        if size is not None and size > MAX_PAGE_SIZE and not bulk:
            raise GraphQLError(f"The {name} argument must be less than or equal to {MAX_PAGE_SIZE}.")
        if size is not None and size < 0:
            raise GraphQLError(f"The {name} argument must be greater than or equal to 0.")
    if first is None and last is None and not bulk:
        raise GraphQLError("you must provide one of first or last")
    start, stop = 0, len(listing.items)
    if args.get("after"):
        start = listing.position(args["after"]) + 1
    if args.get("before"):
        stop = listing.position(args["before"])
    if bulk:
        return _Connection(listing, start, stop, view)
    if first is not None:
        stop = min(stop, start + first)
    if last is not None:
        start = max(start, stop - last)
    return _Connection(listing, start, max(start, stop), view)


_PRODUCT_SORT: Mapping[str, Callable[[Product], Any]] = {
    "ID": lambda p: p.id,
    "RELEVANCE": lambda p: p.id,
    "TITLE": lambda p: p.title.lower(),
    "VENDOR": lambda p: p.vendor.lower(),
    "PRODUCT_TYPE": lambda p: p.product_type.lower(),
    "CREATED_AT": lambda p: _iso(p.created_at),
    "UPDATED_AT": lambda p: _iso(p.updated_at),
    "INVENTORY_TOTAL": lambda p: p.total_inventory,
}
_VARIANT_SORT: Mapping[str, Callable[[Variant], Any]] = {
    "ID": lambda v: v.id,
    "RELEVANCE": lambda v: v.id,
    "POSITION": lambda v: v.position,
    "SKU": lambda v: v.sku,
    "TITLE": lambda v: v.title.lower(),
    "INVENTORY_QUANTITY": lambda v: v.inventory_quantity,
}
_ORDER_SORT: Mapping[str, Callable[[Order], Any]] = {
    "ID": lambda o: o.id,
    "RELEVANCE": lambda o: o.id,
    "ORDER_NUMBER": lambda o: o.number,
    "CREATED_AT": lambda o: _iso(o.created_at),
    "PROCESSED_AT": lambda o: _iso(o.processed_at),
    "UPDATED_AT": lambda o: _iso(o.updated_at),
    "TOTAL_PRICE": lambda o: int(o.total_price * 100),
}
_CUSTOMER_SORT: Mapping[str, Callable[[Customer], Any]] = {
    "ID": lambda c: c.id,
    "RELEVANCE": lambda c: c.id,
    "NAME": lambda c: c.display_name.lower(),
    "CREATED_AT": lambda c: _iso(c.created_at),
    "UPDATED_AT": lambda c: _iso(c.updated_at),
}
