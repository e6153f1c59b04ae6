"""Contract tests of the Shopify fake, in-process, against api-facts.md section 1.

Every test talks HTTP to ``ShopifyFake.app`` through ``InProcessTransport``, except the two that
compare the fast executor with graphql-core's and time it, which call the fake directly.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from graphql import OperationDefinitionNode, execute_sync

from storelink.fakes.base import InProcessTransport
from storelink.fakes.data import DemoStore, FinancialStatus, ProductStatus, build_demo_store, demo_store
from storelink.fakes.faults import FaultPlan
from storelink.fakes.shopify import (
    DEFAULT_CLIENTS,
    DEFAULT_TOKEN,
    ShopifyFake,
    _Context,
    _Executor,
    _Planner,
    _prepare,
    _schema,
)
from tests.support.clocks import ManualClock

BASE_URL = "https://demo-performance.myshopify.com"
GRAPHQL = "/admin/api/2026-10/graphql.json"
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"


@pytest.fixture
def store() -> DemoStore:
    return demo_store()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(5_000.0)


@pytest.fixture
def shopify(clock: ManualClock) -> ShopifyFake:
    return ShopifyFake(clock=clock)


async def _client(fake: ShopifyFake) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(transport=InProcessTransport(fake.app), base_url=BASE_URL) as client:
        yield client


@pytest.fixture
async def client(shopify: ShopifyFake) -> AsyncIterator[httpx2.AsyncClient]:
    async for c in _client(shopify):
        yield c


async def gql(
    client: httpx2.AsyncClient, query: str, variables: dict[str, Any] | None = None, *, token: str = DEFAULT_TOKEN
) -> httpx2.Response:
    body = {"query": query, "variables": variables or {}}
    return await client.post(GRAPHQL, json=body, headers={"X-Shopify-Access-Token": token})


async def data(client: httpx2.AsyncClient, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await gql(client, query, variables)
    body = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body["errors"]
    result: dict[str, Any] = body["data"]
    return result


# -- transport-level contract ------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["", "shpat_wrong"])
async def test_bad_token_is_401_with_shopifys_body(client: httpx2.AsyncClient, token: str) -> None:
    response = await client.post(
        GRAPHQL, json={"query": "{ shop { name } }"}, headers={"X-Shopify-Access-Token": token}
    )
    assert response.status_code == 401
    assert response.json() == {"errors": INVALID_TOKEN}
    assert response.headers["x-request-id"]


async def test_unknown_version_is_404_and_old_versions_fall_forward(client: httpx2.AsyncClient) -> None:
    headers = {"X-Shopify-Access-Token": DEFAULT_TOKEN}
    missing = await client.post("/admin/api/banana/graphql.json", json={"query": "{ shop { name } }"}, headers=headers)
    old = await client.post("/admin/api/2024-07/graphql.json", json={"query": "{ shop { name } }"}, headers=headers)
    current = await gql(client, "{ shop { name } }")
    assert (missing.status_code, missing.json()) == (404, {"errors": "Not Found"})
    assert old.status_code == 200
    assert old.headers["x-shopify-api-version"] == "2026-01"
    assert current.headers["x-shopify-api-version"] == "2026-10"


async def test_body_that_is_not_json_is_400(client: httpx2.AsyncClient) -> None:
    response = await client.post(
        GRAPHQL,
        content=b"{not json",
        headers={"X-Shopify-Access-Token": DEFAULT_TOKEN, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert isinstance(response.json()["errors"], str)


async def test_request_ids_are_unique_on_every_response(client: httpx2.AsyncClient) -> None:
    responses = [await gql(client, "{ shop { name } }"), await gql(client, "{ shop { name } }", token="bad")]
    ids = [r.headers["x-request-id"] for r in responses]
    assert len(set(ids)) == 2


async def test_shop(client: httpx2.AsyncClient) -> None:
    shop = (
        await data(
            client, "{ shop { name myshopifyDomain currencyCode plan { displayName } primaryDomain { url host } } }"
        )
    )["shop"]
    assert shop["name"] == "Apex Performance Parts"
    assert shop["myshopifyDomain"] == "demo-performance.myshopify.com"
    assert shop["currencyCode"] == "USD"
    assert shop["plan"] == {"displayName": "Shopify"}
    assert shop["primaryDomain"]["url"] == f"https://{shop['primaryDomain']['host']}"


# -- cost and the bucket -------------------------------------------------------------------------------


async def test_cost_is_calculated_before_and_refunded_after(client: httpx2.AsyncClient, store: DemoStore) -> None:
    query = """{ products(first: 10) {
        nodes { id title variants(first: 5) { nodes { id price } } } pageInfo { hasNextPage } } }"""
    body = (await gql(client, query)).json()
    cost = body["extensions"]["cost"]
    first_ten = store.products[:10]
    # connection 2 + 10 x (product 1 + variants connection 2 + 5 x variant 1)
    assert cost["requestedQueryCost"] == 2 + 10 * (1 + 2 + 5 * 1)
    # the same, with the variants each product really has
    assert cost["actualQueryCost"] == 2 + sum(1 + 2 + len(p.variants) for p in first_ten)
    assert cost["actualQueryCost"] < cost["requestedQueryCost"]
    # the clock stood still: the bucket lost exactly the actual cost
    left = 2000.0 - cost["actualQueryCost"]
    assert cost["throttleStatus"] == {"maximumAvailable": 2000.0, "currentlyAvailable": left, "restoreRate": 100.0}


async def test_nested_objects_and_money_count_as_objects(client: httpx2.AsyncClient) -> None:
    query = (
        "{ orders(first: 5) { edges { cursor node { id totalPriceSet { shopMoney { amount } } customer { id } } } } }"
    )
    cost = (await gql(client, query)).json()["extensions"]["cost"]
    # 2 + 5 x (order 1 + MoneyBag 1 + MoneyV2 1 + customer 1); edges are free
    assert cost["requestedQueryCost"] == 2 + 5 * 4
    assert cost["actualQueryCost"] <= cost["requestedQueryCost"]


async def test_max_cost_exceeded_is_refused_unrun_and_uncharged(client: httpx2.AsyncClient) -> None:
    response = await gql(client, "{ products(first: 250) { nodes { variants(first: 250) { nodes { id } } } } }")
    body = response.json()
    requested = 2 + 250 * (1 + 2 + 250)
    assert response.status_code == 200
    assert "data" not in body
    assert body["errors"][0]["message"] == (
        f"Query cost is {requested}, which exceeds the single query max cost limit (1000)."
    )
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert body["extensions"]["cost"]["requestedQueryCost"] == requested
    assert body["extensions"]["cost"]["actualQueryCost"] is None
    assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 2000.0


async def test_throttled_when_the_bucket_is_drained_with_the_exact_body(clock: ManualClock) -> None:
    fake = ShopifyFake(clock=clock, bucket_size=100, restore_rate=10)
    query = "{ products(first: 50) { nodes { id } } }"  # 52 points, 300 products: actual 52
    async for client in _client(fake):
        first = await gql(client, query)
        second = await gql(client, query)
    assert first.json()["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 48.0
    assert second.status_code == 200
    assert second.json() == {
        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
        "extensions": {
            "cost": {
                "requestedQueryCost": 52,
                "actualQueryCost": None,
                "throttleStatus": {"maximumAvailable": 100.0, "currentlyAvailable": 48.0, "restoreRate": 10.0},
            }
        },
    }
    assert (fake.cost.requests, fake.cost.throttled, fake.cost.points_consumed) == (2, 1, 52)


async def test_throttle_status_knob_answers_429_with_retry_after(clock: ManualClock) -> None:
    fake = ShopifyFake(clock=clock, bucket_size=100, restore_rate=10, throttle_status=429)
    async for client in _client(fake):
        await gql(client, "{ products(first: 50) { nodes { id } } }")
        response = await gql(client, "{ products(first: 50) { nodes { id } } }")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"  # 4 points short at 10/s
    assert response.json()["errors"][0]["extensions"]["code"] == "THROTTLED"


async def test_bucket_refills_continuously_on_the_injected_clock(clock: ManualClock) -> None:
    fake = ShopifyFake(clock=clock, bucket_size=100, restore_rate=10)
    query = "{ products(first: 50) { nodes { id } } }"
    async for client in _client(fake):
        await gql(client, query)  # 48 left
        clock.advance(0.3)  # +3 = 51: still short of 52
        throttled = await gql(client, query)
        clock.advance(0.1)  # +1 = 52
        allowed = await gql(client, query)
        clock.advance(3600)  # never above the maximum
        capped = await gql(client, "{ shop { name } }")
    assert throttled.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert throttled.json()["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 51.0
    assert allowed.json()["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 0.0
    assert capped.json()["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 100.0 - 1


async def test_plans_set_the_restore_rate_and_bucket(clock: ManualClock) -> None:
    async for client in _client(ShopifyFake(clock=clock, plan="plus")):
        status = (await gql(client, "{ shop { name } }")).json()["extensions"]["cost"]["throttleStatus"]
    assert (status["restoreRate"], status["maximumAvailable"]) == (1000.0, 20000.0)


async def test_bucket_admin_route_reports_counters_and_series(client: httpx2.AsyncClient, clock: ManualClock) -> None:
    await gql(client, "{ products(first: 3) { nodes { id } } }")
    clock.advance(2)
    await gql(client, "{ shop { name } }")
    report = (await client.get("/_fake/bucket")).json()
    assert report["counters"]["requests"] == 2
    assert report["counters"]["pointsConsumed"] == 5 + 1
    assert [s["t"] for s in report["series"]] == [0.0, 2.0]
    assert [s["charged"] for s in report["series"]] == [5, 1]
    assert report["maximumAvailable"] == 2000.0
    assert (await client.delete("/_fake/bucket")).json() == {"ok": True}
    assert (await client.get("/_fake/bucket")).json()["counters"]["requests"] == 0


# -- pagination and search -------------------------------------------------------------------------------


async def test_paging_through_all_products_yields_each_exactly_once(
    client: httpx2.AsyncClient, store: DemoStore
) -> None:
    query = """query Page($after: String) {
      products(first: 50, after: $after) {
        edges { cursor node { id } }
        nodes { id }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
    }"""
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        page = (await data(client, query, {"after": after}))["products"]
        assert [e["node"]["id"] for e in page["edges"]] == [n["id"] for n in page["nodes"]]
        assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        assert page["pageInfo"]["hasPreviousPage"] is (pages > 0)
        seen += [n["id"] for n in page["nodes"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 6
    assert len(seen) == len(set(seen)) == len(store.products)
    assert seen == [f"gid://shopify/Product/{p.id}" for p in store.products]


async def test_last_before_and_reverse(client: httpx2.AsyncClient, store: DemoStore) -> None:
    tail = (await data(client, "{ products(last: 3) { nodes { id } pageInfo { hasNextPage hasPreviousPage } } }"))[
        "products"
    ]
    newest = (await data(client, "{ products(first: 3, reverse: true) { nodes { id } } }"))["products"]
    ids = [f"gid://shopify/Product/{p.id}" for p in store.products]
    assert [n["id"] for n in tail["nodes"]] == ids[-3:]
    assert tail["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": True}
    assert [n["id"] for n in newest["nodes"]] == ids[::-1][:3]


async def test_empty_page_has_null_cursors(client: httpx2.AsyncClient) -> None:
    query = (
        '{ products(first: 5, query: "vendor:nobody") { nodes { id } pageInfo { endCursor startCursor hasNextPage } } }'
    )
    page = await data(client, query)
    assert page["products"] == {"nodes": [], "pageInfo": {"endCursor": None, "startCursor": None, "hasNextPage": False}}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("first: 251", "The first argument must be less than or equal to 250."),
        ("", "you must provide one of first or last"),
        ('first: 5, after: "bm90IGEgY3Vyc29y"', "Invalid cursor for current pagination sort: bm90IGEgY3Vyc29y"),
    ],
)
async def test_bad_paging_arguments_are_graphql_errors(client: httpx2.AsyncClient, args: str, message: str) -> None:
    query = f"{{ products{f'({args})' if args else ''} {{ nodes {{ id }} }} }}"
    response = await gql(client, query)
    body = response.json()
    assert response.status_code == 200
    assert body["data"] is None
    assert body["errors"][0]["message"] == message
    assert body["errors"][0]["path"] == ["products"]


async def _all(client: httpx2.AsyncClient, root: str, search: str, fields: str) -> list[dict[str, Any]]:
    query = f"""query Page($after: String, $q: String) {{
      {root}(first: 250, after: $after, query: $q) {{ nodes {{ {fields} }} pageInfo {{ hasNextPage endCursor }} }}
    }}"""
    items: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = (await data(client, query, {"after": after, "q": search}))[root]
        items += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return items
        after = page["pageInfo"]["endCursor"]


async def test_product_search_filters(client: httpx2.AsyncClient, store: DemoStore) -> None:
    active = await _all(client, "products", "status:active", "status")
    titan = await _all(client, "products", "vendor:'Titan Exhaust' AND status:ACTIVE", "vendor status")
    pads = await _all(client, "products", 'product_type:"Brake Pads"', "productType")
    brakes = await _all(client, "products", "title:*brake*", "title")
    free = await _all(client, "products", "coilovers -status:draft", "productType status")
    assert len(active) == sum(p.status is ProductStatus.ACTIVE for p in store.products)
    assert titan and all(p == {"vendor": "Titan Exhaust", "status": "ACTIVE"} for p in titan)
    assert len(pads) == sum(p.product_type == "Brake Pads" for p in store.products)
    assert brakes and all("brake" in p["title"].lower() for p in brakes)
    assert free and all(p["productType"] == "Coilovers" and p["status"] != "DRAFT" for p in free)


async def test_order_search_by_dates_and_statuses(client: httpx2.AsyncClient, store: DemoStore) -> None:
    june = await _all(client, "orders", "created_at:>=2026-06-01 created_at:<=2026-06-30", "createdAt")
    open_unpaid = await _all(
        client,
        "orders",
        "financial_status:paid fulfillment_status:unfulfilled",
        "displayFinancialStatus displayFulfillmentStatus",
    )
    recent = await _all(client, "orders", "updated_at:>='2026-11-20T00:00:00Z'", "updatedAt")
    in_june = [o for o in store.orders if o.created_at.year == 2026 and o.created_at.month == 6]
    assert len(june) == len(in_june) > 0
    assert all(o["createdAt"].startswith("2026-06") for o in june)
    assert open_unpaid and all(
        o == {"displayFinancialStatus": "PAID", "displayFulfillmentStatus": "UNFULFILLED"} for o in open_unpaid
    )
    assert recent and all(o["updatedAt"] >= "2026-11-20T00:00:00Z" for o in recent)


async def test_unknown_search_fields_are_ignored_with_a_warning(client: httpx2.AsyncClient) -> None:
    body = (await gql(client, '{ products(first: 1, query: "colour:red") { nodes { id } } }')).json()
    assert len(body["data"]["products"]["nodes"]) == 1
    assert body["extensions"]["search"][0]["warnings"] == [
        {"field": "colour", "message": "Invalid search field for this query."}
    ]


async def test_customers_and_counts(client: httpx2.AsyncClient, store: DemoStore) -> None:
    query = """{ customers(first: 5, sortKey: NAME) { nodes { firstName lastName email phone numberOfOrders
                 amountSpent { amount currencyCode } defaultAddress { city countryCodeV2 } createdAt } }
               productsCount(query: "status:active") { count precision } }"""
    result = await data(client, query)
    customers = result["customers"]["nodes"]
    names = [f"{c['firstName']} {c['lastName']}".lower() for c in customers]
    assert names == sorted(names)
    assert all(c["email"].endswith((".example.com", "@example.com", "@example.net", "@example.org")) for c in customers)
    assert all(isinstance(c["numberOfOrders"], str) and c["amountSpent"]["currencyCode"] == "USD" for c in customers)
    assert result["productsCount"] == {
        "count": sum(p.status is ProductStatus.ACTIVE for p in store.products),
        "precision": "EXACT",
    }


async def test_order_money_agrees_with_its_lines(client: httpx2.AsyncClient) -> None:
    query = """{ orders(first: 20, query: "financial_status:paid") { nodes { name
        subtotalPriceSet { shopMoney { amount } } totalDiscountsSet { shopMoney { amount } }
        lineItems(first: 4) { nodes { quantity originalUnitPriceSet { shopMoney { amount } } } } } } }"""
    for order in (await data(client, query))["orders"]["nodes"]:
        lines = sum(
            Decimal(li["originalUnitPriceSet"]["shopMoney"]["amount"]) * li["quantity"]
            for li in order["lineItems"]["nodes"]
        )
        subtotal = Decimal(order["subtotalPriceSet"]["shopMoney"]["amount"])
        assert lines - Decimal(order["totalDiscountsSet"]["shopMoney"]["amount"]) == subtotal, order["name"]


async def test_inventory_by_location(client: httpx2.AsyncClient, store: DemoStore) -> None:
    locations = (await data(client, "{ locations(first: 5) { nodes { id name } } }"))["locations"]["nodes"]
    main = next(loc for loc in locations if loc["name"] == "Main Warehouse")
    query = """query($id: ID!) { location(id: $id) { inventoryLevels(first: 200) {
        nodes { item { sku } quantities(names: ["available"]) { name quantity } } pageInfo { hasNextPage } } } }"""
    response = await gql(client, query, {"id": main["id"]})
    levels = response.json()["data"]["location"]["inventoryLevels"]
    by_sku = {n["item"]["sku"]: n["quantities"][0]["quantity"] for n in levels["nodes"]}
    expected = {v.sku: v.levels[0].available for p in store.products for v in p.variants}
    assert [loc["name"] for loc in locations] == ["East Coast Depot", "Main Warehouse"]  # sorted by name
    assert response.json()["extensions"]["cost"]["requestedQueryCost"] == 1 + 2 + 200 * 3
    assert levels["pageInfo"]["hasNextPage"] is True  # ~600 variants
    assert len(by_sku) == 200 and all(expected[sku] == quantity for sku, quantity in by_sku.items())
    assert 0 in by_sku.values()  # some out of stock


async def test_node_lookup_and_missing_ids(client: httpx2.AsyncClient, store: DemoStore) -> None:
    order = store.orders[0]
    query = f"""{{ node(id: "gid://shopify/Order/{order.id}") {{ id ... on Order {{ name }} }}
                 missing: product(id: "gid://shopify/Product/1") {{ id }} }}"""
    result = await data(client, query)
    assert result == {"node": {"id": f"gid://shopify/Order/{order.id}", "name": "#1001"}, "missing": None}


async def test_or_and_comma_lists_in_search(client: httpx2.AsyncClient, store: DemoStore) -> None:
    either = await _all(client, "products", "product_type:Turbochargers OR product_type:Intercoolers", "productType")
    statuses = await _all(client, "products", "status:draft,archived", "status")
    wanted = {"Turbochargers", "Intercoolers"}
    assert len(either) == sum(p.product_type in wanted for p in store.products)
    assert {p["productType"] for p in either} == wanted
    assert len(statuses) == sum(p.status is not ProductStatus.ACTIVE for p in store.products)


async def test_requests_that_cannot_run_are_errors_and_free(client: httpx2.AsyncClient) -> None:
    missing = (await gql(client, "query($id: ID!) { product(id: $id) { id } }")).json()
    invalid = (await gql(client, "{ products(first: 1) { nodes { colour } } }")).json()
    syntax = (await gql(client, "{ products(first: 1) {")).json()
    for body in (missing, invalid, syntax):
        assert body["errors"][0]["message"]
        assert body["extensions"]["cost"]["requestedQueryCost"] == 0
        assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 2000.0
    assert missing["errors"][0]["message"] == 'Variable "$id" of required type "ID!" was not provided.'


async def test_raw_graphql_body_and_introspection(client: httpx2.AsyncClient) -> None:
    headers = {"X-Shopify-Access-Token": DEFAULT_TOKEN, "Content-Type": "application/graphql"}
    raw = await client.post(GRAPHQL, content=b"{ shop { currencyCode } }", headers=headers)
    schema = (await data(client, "{ __schema { queryType { name } mutationType { name } } }"))["__schema"]
    assert raw.json()["data"] == {"shop": {"currencyCode": "USD"}}
    assert schema == {"queryType": {"name": "QueryRoot"}, "mutationType": {"name": "Mutation"}}


# -- bulk operations --------------------------------------------------------------------------------------

BULK = '''mutation { bulkOperationRunQuery(query: """
  { products { edges { node { id title variants { edges { node { id sku } } } } } } }
""") { bulkOperation { id status } userErrors { field message code } } }'''
POLL = """{ currentBulkOperation { id status errorCode objectCount fileSize url partialDataUrl rootObjectCount
             createdAt completedAt query type } }"""


async def test_bulk_operation_lifecycle_and_jsonl(client: httpx2.AsyncClient, store: DemoStore) -> None:
    started = (await data(client, BULK))["bulkOperationRunQuery"]
    assert started["userErrors"] == []
    assert started["bulkOperation"]["status"] == "CREATED"
    polls = [(await data(client, POLL))["currentBulkOperation"] for _ in range(3)]
    assert [p["status"] for p in polls] == ["RUNNING", "RUNNING", "COMPLETED"]
    done = polls[-1]
    by_node = (await data(client, f'{{ node(id: "{done["id"]}") {{ ... on BulkOperation {{ status url }} }} }}'))[
        "node"
    ]
    assert by_node == {"status": "COMPLETED", "url": done["url"]}
    assert done["url"].startswith(BASE_URL) and done["completedAt"] and done["type"] == "QUERY"

    download = await client.get(done["url"])
    lines = [json.loads(line) for line in download.text.splitlines()]
    assert download.status_code == 200
    assert done["fileSize"] == str(len(download.content))
    assert (
        done["objectCount"]
        == str(len(lines))
        == str(len(store.products) + sum(len(p.variants) for p in store.products))
    )
    assert done["rootObjectCount"] == str(len(store.products))
    seen_parents: set[str] = set()
    for line in lines:
        if "__parentId" in line:
            assert line["__parentId"] in seen_parents  # children come after their parent
            assert line["id"].startswith("gid://shopify/ProductVariant/") and "sku" in line
        else:
            assert set(line) == {"id", "title"}  # the nested connection is not inlined
            seen_parents.add(line["id"])


async def test_bulk_orders_with_line_items(client: httpx2.AsyncClient, store: DemoStore) -> None:
    query = '''mutation { bulkOperationRunQuery(query: """{ orders(query: "created_at:>=2026-11-01") {
        edges { node { id name lineItems { edges { node { id sku quantity } } } } } } }""") {
        bulkOperation { id } userErrors { message } } }'''
    assert (await data(client, query))["bulkOperationRunQuery"]["userErrors"] == []
    for _ in range(3):
        done = (await data(client, POLL))["currentBulkOperation"]
    lines = [json.loads(line) for line in (await client.get(done["url"])).text.splitlines()]
    november = [o for o in store.orders if o.created_at >= datetime(2026, 11, 1, tzinfo=UTC)]
    assert sum("__parentId" not in line for line in lines) == len(november)
    assert sum("__parentId" in line for line in lines) == sum(len(o.line_items) for o in november)


@pytest.mark.parametrize(
    ("bulk_query", "fragment"),
    [
        ("{ shop { name } }", "at least one connection"),
        ('{ node(id: "gid://shopify/Product/1") { id } }', "top level `node`"),
        ("{ products { edges { node { title variants { edges { node { id } } } } } } }", "must select the 'id' field"),
        ("{ products { edges { node { id variants { edges { node { id inventoryItem { inventoryLevels "
         "{ edges { node { id } } } } } } } } } } }", "nested more than 2 levels"),
        ("{ products { nope } }", "Invalid bulk query"),
    ],
)  # fmt: skip
async def test_bulk_query_validation(client: httpx2.AsyncClient, bulk_query: str, fragment: str) -> None:
    mutation = """mutation($q: String!) {
      bulkOperationRunQuery(query: $q) { bulkOperation { id } userErrors { field message code } } }"""
    payload = (await data(client, mutation, {"q": bulk_query}))["bulkOperationRunQuery"]
    assert payload["bulkOperation"] is None
    assert payload["userErrors"][0]["code"] == "INVALID"
    assert fragment in payload["userErrors"][0]["message"]


async def test_one_bulk_operation_at_a_time_when_configured_and_cancel(clock: ManualClock) -> None:
    fake = ShopifyFake(clock=clock, bulk_concurrency=1)
    async for client in _client(fake):
        first = (await data(client, BULK))["bulkOperationRunQuery"]["bulkOperation"]
        busy = (await data(client, BULK))["bulkOperationRunQuery"]
        cancel = (
            "mutation($id: ID!) { bulkOperationCancel(id: $id) { bulkOperation { status } userErrors { message } } }"
        )
        canceling = (await data(client, cancel, {"id": first["id"]}))["bulkOperationCancel"]
        after = (await data(client, POLL))["currentBulkOperation"]
        again = (await data(client, BULK))["bulkOperationRunQuery"]
    assert busy["bulkOperation"] is None
    assert busy["userErrors"][0]["code"] == "OPERATION_IN_PROGRESS"
    assert busy["userErrors"][0]["message"].endswith(f"already in progress: {first['id']}.")
    assert canceling == {"bulkOperation": {"status": "CANCELING"}, "userErrors": []}
    assert (after["status"], after["url"]) == ("CANCELED", None)
    assert again["userErrors"] == []


async def test_bulk_mutation_costs_ten(client: httpx2.AsyncClient) -> None:
    cost = (await gql(client, BULK)).json()["extensions"]["cost"]
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (10, 10)


# -- token exchange and faults -------------------------------------------------------------------------------


async def test_client_credentials_exchange_mints_a_working_token(shopify: ShopifyFake, clock: ManualClock) -> None:
    ((client_id, secret),) = DEFAULT_CLIENTS.items()
    async for client in _client(shopify):
        form = {"client_id": client_id, "client_secret": secret, "grant_type": "client_credentials"}
        minted = (await client.post("/admin/oauth/access_token", data=form)).json()
        as_json = (await client.post("/admin/oauth/access_token", json=form)).json()
        works = await gql(client, "{ shop { name } }", token=minted["access_token"])
        clock.advance(86399)
        expired = await gql(client, "{ shop { name } }", token=minted["access_token"])
        wrong = await client.post("/admin/oauth/access_token", data={**form, "client_secret": "nope"})
    assert minted["expires_in"] == 86399 and minted["scope"] and minted["access_token"].startswith("shpat_")
    assert as_json["access_token"] != minted["access_token"]
    assert shopify.token_exchanges == 2
    assert works.status_code == 200
    assert (expired.status_code, expired.json()) == (401, {"errors": INVALID_TOKEN})
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_client"


async def test_injected_429_and_5xx_use_shopifys_error_shape(clock: ManualClock) -> None:
    fake = ShopifyFake(clock=clock, faults=FaultPlan.scripted("429", "503", "ok", retry_after_s=2.5))
    async for client in _client(fake):
        limited, unavailable, ok = [await gql(client, "{ shop { name } }") for _ in range(3)]
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2.5"
    assert isinstance(limited.json()["errors"], str)
    assert (unavailable.status_code, unavailable.json()) == (503, {"errors": "Service Unavailable"})
    assert ok.status_code == 200
    assert all(r.headers.get("x-request-id") for r in (limited, unavailable, ok))


# -- determinism, the data's signals, the executor ------------------------------------------------------------


def test_the_demo_store_is_deterministic() -> None:
    assert build_demo_store().summary() == build_demo_store().summary()
    other = build_demo_store(seed=7).summary()
    assert other["digest"] != demo_store().summary()["digest"]


async def test_two_fakes_answer_alike(clock: ManualClock) -> None:
    query = '{ orders(first: 20, reverse: true, query: "financial_status:refunded") { nodes { name totalRefundedSet { shopMoney { amount } } } } }'  # noqa: E501
    answers = []
    for _ in range(2):
        async for client in _client(ShopifyFake(clock=clock)):
            answers.append((await data(client, query))["orders"])
    assert answers[0] == answers[1]
    assert answers[0]["nodes"]


def test_store_shape(store: DemoStore) -> None:
    days = {o.created_at.date() for o in store.orders}
    per_day = [sum(1 for o in store.orders_between(_day(d), _day(d) + timedelta(days=1))) for d in sorted(days)]
    assert 280 <= len(store.products) <= 320 and 12 <= len({p.vendor for p in store.products}) <= 16
    assert all(1 <= len(p.variants) <= 4 for p in store.products)
    assert 750 <= len(store.customers) <= 850
    assert len(days) == 365 and min(per_day) >= 2 and max(per_day) <= 60
    assert store.orders[0].name == "#1001" and store.orders[-1].created_at <= store.as_of
    assert {o.financial_status for o in store.orders} == set(FinancialStatus)
    summer = sum(1 for o in store.orders if o.created_at.month in (6, 7))
    winter = sum(1 for o in store.orders if o.created_at.month in (1, 2))
    assert summer > 1.5 * winter  # the racing season


def _day(d: Any) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _units(store: DemoStore, product_id: int, start: datetime, end: datetime) -> int:
    return sum(
        li.quantity for o in store.orders_between(start, end) for li in o.line_items if li.product_id == product_id
    )


def test_the_planted_signals_are_there(store: DemoStore) -> None:
    now = store.as_of
    for pid in store.signals.fast_movers_low_stock:
        product = store.product(pid)
        assert product is not None
        assert product.total_inventory <= 8 and _units(store, pid, now - timedelta(days=30), now) >= 10
    for pid in store.signals.dead_stock:
        product = store.product(pid)
        assert product is not None and product.total_inventory > 30
        assert _units(store, pid, now - timedelta(days=90), now) == 0
    for pid in store.signals.rising:
        recent = _units(store, pid, now - timedelta(days=30), now)
        before = _units(store, pid, now - timedelta(days=90), now - timedelta(days=60))
        assert recent > 2 * max(before, 1)
    for a, b in store.signals.bought_together:
        with_a = [o for o in store.orders if any(li.product_id == a for li in o.line_items)]
        both = [o for o in with_a if any(li.product_id == b for li in o.line_items)]
        assert len(both) > 0.3 * len(with_a)


QUERIES = [
    "{ shop { name plan { displayName } } }",
    '{ products(first: 7, query: "status:active") { edges { cursor node { id title tags variants(first: 2) { nodes { id price compareAtPrice inventoryItem { unitCost { amount } } } } } } pageInfo { hasNextPage endCursor } } }',  # noqa: E501
    "{ orders(first: 5, reverse: true) { nodes { name customer { id displayName } refunds(first: 2) { totalRefundedSet { shopMoney { amount } } } lineItems(first: 3) { nodes { sku product { handle } variant { sku } } } } } }",  # noqa: E501
    "query($id: ID!) { node(id: $id) { __typename id ... on Product { handle } ... F } } fragment F on Order { name }",
    '{ products(first: 300) { nodes { id } } a: product(id: "gid://shopify/Product/8512000000001") { title @include(if: false) handle @skip(if: false) } }',  # noqa: E501
    '{ locations(first: 2) { nodes { name inventoryLevels(first: 3) { nodes { id quantities(names: ["available", "on_hand", "committed"]) { name quantity } location { name } } } } } }',  # noqa: E501
]


@pytest.mark.parametrize("query", QUERIES)
def test_fast_executor_agrees_with_graphql_core(shopify: ShopifyFake, query: str) -> None:
    variables = {"id": "gid://shopify/Order/6120000000001"}
    prepared = _prepare(query)
    assert prepared.document is not None, prepared.errors
    schema = _schema()
    operation = prepared.document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    ctx = _Context(shopify, "app", BASE_URL)
    used = {k: v for k, v in variables.items() if f"${k}" in query}
    reference = execute_sync(schema, prepared.document, None, ctx, used)
    executor = _Executor(_Planner(schema, prepared.fragments, used, ctx))
    assert schema.query_type is not None
    ours = executor.run(schema.query_type, operation.selection_set)
    assert ours == reference.data
    assert [e.formatted for e in executor.errors] == [e.formatted for e in reference.errors or ()]
