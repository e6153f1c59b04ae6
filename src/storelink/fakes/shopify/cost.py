"""Query cost and the leaky bucket (``shared/reference/api-facts.md`` 1.4).

The requested cost is calculated before a query runs: scalars and enums cost 0, objects 1, a
connection 2 + ``first`` x (cost of one node), multiplied through nesting, mutations 10 a field;
edges and ``pageInfo`` cost nothing; plain lists of objects cost one item, times ``first`` or the
length of an ``ids``/``names`` argument. More than ``MAX_QUERY_COST`` is refused. Each app's bucket
holds 20 seconds of its plan's restore rate and refills continuously from the fake's clock;
``CostCounters`` and ``BucketSample`` record what it saw, for benchmarks and ``GET /_fake/bucket``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple, cast

from graphql import (
    GraphQLAbstractType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLUnionType,
)

from storelink.fakes.shopify.formats import Json
from storelink.fakes.shopify.planner import _Field, _Planner
from storelink.fakes.shopify.schema import _schema

__all__ = ["MAX_QUERY_COST", "MUTATION_COST", "PLANS", "BucketSample", "CostCounters"]


MAX_QUERY_COST = 1000
MUTATION_COST = 10
# plan -> (restore rate in points/s, display name); the bucket holds 20 seconds of restore.
PLANS: Mapping[str, tuple[float, str]] = {
    "standard": (100.0, "Shopify"),
    "advanced": (200.0, "Advanced"),
    "plus": (1000.0, "Shopify Plus"),
    "enterprise": (2000.0, "Shopify Plus"),
}


@lru_cache(maxsize=1)
def _weights() -> Mapping[str, int]:
    """Cost of one object of each type: connections 2, edges and page info 0, roots 0, others 1."""
    weights: dict[str, int] = {}
    for name, type_ in _schema().type_map.items():
        if not isinstance(type_, GraphQLObjectType):
            continue
        if name.endswith("Connection"):
            weights[name] = 2
        elif name.endswith("Edge") or name in ("PageInfo", "QueryRoot", "Mutation") or name.startswith("__"):
            weights[name] = 0
        else:
            weights[name] = 1
    return weights


def _requested_cost(planner: _Planner, type_: GraphQLObjectType, fields: list[_Field], page: int = 0) -> int:
    """The cost Shopify calculates before running a query (see the module docstring)."""
    weights = _weights()
    total = weights.get(type_.name, 1)
    for f in fields:
        if f.definition is None or f.name.startswith("__"):
            continue
        named = f.named
        if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
            continue
        one = max(_requested_cost(planner, t, planner.sub_fields(t, f), _page_size(f)) for t in _concrete(named))
        total += one * _multiplier(f, page, type_.name.endswith("Connection"))
    return total


def _concrete(named: GraphQLNamedType) -> list[GraphQLObjectType]:
    if isinstance(named, GraphQLObjectType):
        return [named]
    return list(_schema().get_possible_types(cast(GraphQLAbstractType, named)))


def _page_size(f: _Field) -> int:
    size = f.args.get("first") or f.args.get("last") or 0
    return max(0, int(size))


def _multiplier(f: _Field, page: int, in_connection: bool) -> int:
    """How many objects a field may return: a connection's page size, else its own list arguments."""
    inner = f.type.of_type if isinstance(f.type, GraphQLNonNull) else f.type
    if not isinstance(inner, GraphQLList):
        return 1
    if in_connection:
        return page
    for name in ("first", "last", "ids", "names"):
        value = f.args.get(name)
        if isinstance(value, int):
            return max(0, value)
        if isinstance(value, list):
            return len(value)
    return 1


class BucketSample(NamedTuple):
    """One GraphQL request as the bucket saw it: time (s since the fake started), points left after it,
    points it was charged (0 when refused), and the app whose bucket it was."""

    t: float
    available: float
    charged: int
    app: str


@dataclass
class CostCounters:
    """Totals for benchmarks; ``samples`` is the bucket's time series."""

    requests: int = 0
    throttled: int = 0
    max_cost_exceeded: int = 0
    points_requested: int = 0
    points_consumed: int = 0
    samples: deque[BucketSample] = field(default_factory=lambda: deque(maxlen=100_000))

    def to_json(self) -> Json:
        return {
            "requests": self.requests,
            "throttled": self.throttled,
            "maxCostExceeded": self.max_cost_exceeded,
            "pointsRequested": self.points_requested,
            "pointsConsumed": self.points_consumed,
        }


class _Bucket:
    """A leaky bucket of query-cost points, refilled continuously from the injected clock."""

    def __init__(self, maximum: float, rate: float, clock: Callable[[], float]) -> None:
        self.maximum, self.rate, self._clock = maximum, rate, clock
        self._available = maximum
        self._at = clock()

    def available(self) -> float:
        now = self._clock()
        self._available = min(self.maximum, self._available + (now - self._at) * self.rate)
        self._at = now
        return self._available

    def take(self, points: int) -> bool:
        if self.available() < points:
            return False
        self._available -= points
        return True

    def give_back(self, points: int) -> None:
        self._available = min(self.maximum, self.available() + points)

    def status(self) -> Json:
        return {
            "maximumAvailable": float(self.maximum),
            "currentlyAvailable": float(math.floor(self.available())),
            "restoreRate": float(self.rate),
        }
