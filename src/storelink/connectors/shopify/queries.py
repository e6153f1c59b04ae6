"""The GraphQL documents the Shopify connector sends, and the estimate of what each costs.

Shopify charges a query's *requested* cost before running it (scalars 0, objects 1, a connection
2 + ``first`` × its children) and refunds the unused part after. The connector estimates the
requested cost from the document itself, sizes pages so a query stays under the single-query
maximum, and learns the exact figure from ``extensions.cost.requestedQueryCost`` on the first
response (see :class:`CostBook`).
"""

from __future__ import annotations

from functools import cache

from graphql import FieldNode, IntValueNode, OperationDefinitionNode, SelectionSetNode, VariableNode, parse

__all__ = [
    "BULK_INVENTORY",
    "BULK_OPERATION",
    "BULK_ORDERS",
    "BULK_PRODUCTS",
    "BULK_RUN",
    "CUSTOMERS",
    "LOCATIONS",
    "LOCATION_INVENTORY",
    "ORDER",
    "ORDERS",
    "ORDERS_COUNT",
    "ORDER_TOTALS",
    "PRODUCT",
    "PRODUCTS",
    "SHOP",
    "CostBook",
    "estimate_cost",
    "node_cost",
]

MONEY = "shopMoney { amount currencyCode }"

SHOP = """
query ShopInfo {
  shop { name myshopifyDomain currencyCode ianaTimezone plan { displayName } primaryDomain { url } }
}"""

PRODUCTS = """
query Products($first: Int!, $after: String, $query: String) {
  products(first: $first, after: $after, query: $query) {
    edges { cursor node { id title handle vendor productType status tags totalInventory createdAt updatedAt } }
    pageInfo { hasNextPage }
  }
}"""

PRODUCT = """
query Product($id: ID!) {
  product(id: $id) {
    id title handle vendor productType status tags totalInventory createdAt updatedAt
    variants(first: 20) {
      nodes {
        id title sku price compareAtPrice inventoryQuantity
        inventoryItem {
          id
          unitCost { amount }
          inventoryLevels(first: 4) {
            nodes { location { id name } quantities(names: ["available"]) { name quantity } }
          }
        }
      }
    }
  }
}"""

_ORDER_FIELDS = f"""
      id name createdAt updatedAt displayFinancialStatus displayFulfillmentStatus
      subtotalPriceSet {{ {MONEY} }}
      totalPriceSet {{ {MONEY} }}
      totalDiscountsSet {{ {MONEY} }}
      totalRefundedSet {{ {MONEY} }}
      customer {{ id }}"""

ORDERS = f"""
query Orders($first: Int!, $after: String, $query: String) {{
  orders(first: $first, after: $after, query: $query, sortKey: CREATED_AT) {{
    edges {{ cursor node {{ {_ORDER_FIELDS} }} }}
    pageInfo {{ hasNextPage }}
  }}
}}"""

ORDER = f"""
query Order($id: ID!) {{
  order(id: $id) {{
    {_ORDER_FIELDS}
    lineItems(first: 50) {{
      nodes {{ title sku quantity variant {{ id }} product {{ id }} originalUnitPriceSet {{ {MONEY} }} }}
    }}
  }}
}}"""

# Units come from subtotalLineItemsQuantity (a scalar, free) rather than a lineItems connection,
# which would multiply the requested cost per order several times over.
ORDER_TOTALS = f"""
query OrderTotals($first: Int!, $after: String, $query: String) {{
  orders(first: $first, after: $after, query: $query, sortKey: CREATED_AT) {{
    edges {{ cursor node {{
      createdAt
      subtotalLineItemsQuantity
      subtotalPriceSet {{ {MONEY} }}
      totalDiscountsSet {{ {MONEY} }}
      totalRefundedSet {{ {MONEY} }}
    }} }}
    pageInfo {{ hasNextPage }}
  }}
}}"""

ORDERS_COUNT = """
query OrdersCount($query: String) {
  ordersCount(query: $query, limit: null) { count precision }
}"""

CUSTOMERS = """
query Customers($first: Int!, $after: String, $query: String) {
  customers(first: $first, after: $after, query: $query) {
    edges { cursor node {
      id firstName lastName email phone numberOfOrders createdAt
      amountSpent { amount currencyCode }
      defaultAddress { city countryCodeV2 }
    } }
    pageInfo { hasNextPage }
  }
}"""

LOCATIONS = """
query Locations($after: String) {
  locations(first: 50, after: $after) { nodes { id name } pageInfo { hasNextPage endCursor } }
}"""

# One inventory level as both reads select it, so the paged and the bulk result cannot drift apart.
_LEVEL_FIELDS = """
        item { id sku variant { title product { title } } }
        quantities(names: ["available"]) { name quantity }"""

LOCATION_INVENTORY = f"""
query LocationInventory($id: ID!, $first: Int!, $after: String) {{
  location(id: $id) {{
    id name
    inventoryLevels(first: $first, after: $after) {{
      nodes {{{_LEVEL_FIELDS}
      }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}"""

BULK_RUN = """
mutation BulkRun($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}"""

BULK_OPERATION = """
query BulkOperation($id: ID!) {
  node(id: $id) {
    ... on BulkOperation { id status errorCode objectCount rootObjectCount fileSize url partialDataUrl }
  }
}"""

BULK_PRODUCTS = """
{ products(QUERY) { edges { node {
    id title handle vendor productType status tags totalInventory createdAt updatedAt
    variants { edges { node { id title sku price inventoryQuantity } } }
} } } }"""

# Every location's levels in one bulk query: the levels come back as lines of their own whose
# ``__parentId`` is the location's id (which is why the location selects ``id``).
BULK_INVENTORY = f"""
{{ locations {{ edges {{ node {{ id name inventoryLevels {{ edges {{ node {{{_LEVEL_FIELDS}
}} }} }} }} }} }} }}"""

BULK_ORDERS = f"""
{{ orders(QUERY) {{ edges {{ node {{
    id name createdAt displayFinancialStatus displayFulfillmentStatus subtotalLineItemsQuantity
    subtotalPriceSet {{ {MONEY} }}
    totalDiscountsSet {{ {MONEY} }}
    totalRefundedSet {{ {MONEY} }}
    lineItems {{ edges {{ node {{ id quantity sku }} }} }}
}} }} }} }}"""


def _first(field: FieldNode, variables: dict[str, object]) -> int | None:
    for arg in field.arguments or ():
        if arg.name.value not in ("first", "last"):
            continue
        if isinstance(arg.value, IntValueNode):
            return int(arg.value.value)
        if isinstance(arg.value, VariableNode):
            value = variables.get(arg.value.name.value)
            return int(value) if isinstance(value, int) else None
    return None


def _selection_cost(selection_set: SelectionSetNode | None, variables: dict[str, object]) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += _field_cost(selection, variables)
        else:  # inline fragment: its fields count as if written here
            total += _selection_cost(getattr(selection, "selection_set", None), variables)
    return total


def _field_cost(field: FieldNode, variables: dict[str, object]) -> int:
    if field.selection_set is None or field.name.value == "pageInfo":
        return 0  # scalars and enums are free; pageInfo is part of the connection's own 2
    first = _first(field, variables)
    children = _selection_cost(field.selection_set, variables)
    if first is None:
        return 1 + children
    per_node = max(1, _connection_child_cost(field, variables))
    return 2 + first * per_node


def _connection_child_cost(field: FieldNode, variables: dict[str, object]) -> int:
    """Cost of one node of a connection: what sits under ``nodes`` or ``edges { node }``."""
    assert field.selection_set is not None
    for selection in field.selection_set.selections:
        if isinstance(selection, FieldNode) and selection.name.value == "nodes":
            return 1 + _selection_cost(selection.selection_set, variables)
        if isinstance(selection, FieldNode) and selection.name.value == "edges" and selection.selection_set:
            for inner in selection.selection_set.selections:
                if isinstance(inner, FieldNode) and inner.name.value == "node":
                    return 1 + _selection_cost(inner.selection_set, variables)
    return 1


@cache
def _operation(document: str) -> OperationDefinitionNode:
    parsed = parse(document)
    operation = parsed.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    return operation


def estimate_cost(document: str, variables: dict[str, object] | None = None) -> int:
    """Shopify's requested cost of ``document``: mutations 10, queries per the field rules."""
    operation = _operation(document)
    if operation.operation.value == "mutation":
        return 10
    return _selection_cost(operation.selection_set, variables or {})


def node_cost(document: str) -> int:
    """Cost that one more ``$first`` adds: the slope of the estimate in ``first``."""
    return estimate_cost(document, {"first": 2}) - estimate_cost(document, {"first": 1})


class CostBook:
    """Remembers the requested cost Shopify reported per (document, first), preferring it to
    the estimate, so pacing uses Shopify's own arithmetic after one response."""

    def __init__(self) -> None:
        self._seen: dict[tuple[int, int | None], float] = {}

    def cost(self, document: str, variables: dict[str, object]) -> float:
        key = (hash(document), _first_variable(variables))
        return self._seen.get(key, float(estimate_cost(document, variables)))

    def learn(self, document: str, variables: dict[str, object], requested: float) -> None:
        self._seen[(hash(document), _first_variable(variables))] = requested


def _first_variable(variables: dict[str, object]) -> int | None:
    value = variables.get("first")
    return value if isinstance(value, int) else None
