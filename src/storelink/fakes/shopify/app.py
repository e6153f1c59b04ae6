"""``ShopifyFake``: the Starlette app, its routes and the state behind them.

``POST /admin/api/{version}/graphql.json`` (versions, token check, cost, throttling, execution),
``POST /admin/oauth/access_token`` (client credentials here; the install's grants in oauth.py),
``GET /admin/oauth/authorize`` (installs, oauth.py), ``GET /_bulk/{id}.jsonl`` (bulk results)
and the admin routes ``GET``/``DELETE /_fake/bucket``; ``X-Request-Id`` on every response.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLObjectType,
    OperationDefinitionNode,
    OperationType,
    execute_sync,
    get_operation_ast,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storelink.fakes.base import FakeUpstream
from storelink.fakes.data import DemoStore, demo_store
from storelink.fakes.faults import Fault, FaultPlan
from storelink.fakes.shopify.bulk import _bulk_error, _bulk_problem, _BulkOperation, _jsonl
from storelink.fakes.shopify.cost import (
    MAX_QUERY_COST,
    MUTATION_COST,
    PLANS,
    BucketSample,
    CostCounters,
    _Bucket,
    _requested_cost,
)
from storelink.fakes.shopify.executor import _Executor
from storelink.fakes.shopify.formats import Json, _gid, _iso, _parse_gid
from storelink.fakes.shopify.listings import _Listing
from storelink.fakes.shopify.oauth import FakeOAuth
from storelink.fakes.shopify.planner import _coerce_variables, _Planner
from storelink.fakes.shopify.resolvers import _Context
from storelink.fakes.shopify.schema import _prepare, _schema
from storelink.fakes.shopify.views import _views_for

__all__ = [
    "DEFAULT_CLIENTS",
    "DEFAULT_TOKEN",
    "INVALID_TOKEN",
    "SCOPES",
    "SUPPORTED_VERSIONS",
    "GraphQLRequest",
    "ShopifyFake",
]


SUPPORTED_VERSIONS = ("2026-01", "2026-04", "2026-07", "2026-10", "2027-01", "unstable")
DEFAULT_TOKEN = "shpat_demo_token"  # noqa: S105  (the fake's public demo token)
DEFAULT_CLIENTS: Mapping[str, str] = {"storelink-demo-app": "storelink-demo-secret"}
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"  # noqa: S105
SCOPES = "read_products,read_inventory,read_locations,read_orders,read_customers"
_FAULT_MESSAGES = {
    401: INVALID_TOKEN,
    429: "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True, slots=True)
class GraphQLRequest:
    """One GraphQL request as a client sends it (``ShopifyFake.execute`` takes it without HTTP)."""

    query: str
    variables: Mapping[str, Any]
    operation_name: str | None


@dataclass(frozen=True, slots=True)
class _Minted:
    app: str
    expires_at: float


class ShopifyFake(FakeUpstream):
    """Shopify's Admin GraphQL API over the demo store, in-process or on loopback.

    Args:
        store: the data served (default: :func:`storelink.fakes.data.demo_store`).
        tokens: static access tokens accepted in ``X-Shopify-Access-Token``.
        clients: ``client_id -> client_secret`` pairs accepted by the token exchange.
        token_lifetime_s: lifetime of exchanged tokens, on ``clock``.
        plan: ``standard`` | ``advanced`` | ``plus`` | ``enterprise`` (restore rate 100/200/1000/2000).
        restore_rate, bucket_size: override the plan's numbers (bucket default: 20 x restore rate).
        throttle_status: HTTP status of a THROTTLED answer (200 as Shopify; 429 to test that path).
        clock: monotonic seconds; drives the bucket refill, token expiry and bulk timestamps.
        bulk_polls_to_complete: status reads after which a bulk operation is COMPLETED.
        bulk_concurrency: bulk query operations an app may have running at once.
        wall: epoch seconds, for what Shopify dates (install redirects, session tokens).
    """

    name = "shopify"

    def __init__(
        self,
        *,
        store: DemoStore | None = None,
        tokens: Iterable[str] = (DEFAULT_TOKEN,),
        clients: Mapping[str, str] | None = None,
        token_lifetime_s: int = 86399,
        plan: str = "standard",
        restore_rate: float | None = None,
        bucket_size: float | None = None,
        throttle_status: int = 200,
        clock: Callable[[], float] = time.monotonic,
        bulk_polls_to_complete: int = 3,
        bulk_concurrency: int = 5,
        faults: FaultPlan | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(faults=faults)
        if plan not in PLANS:
            raise ValueError(f"unknown Shopify plan {plan!r}; choose one of {', '.join(PLANS)}")
        self.store = store or demo_store()
        self.views = _views_for(self.store)
        self.tokens = set(tokens)
        self.clients = dict(DEFAULT_CLIENTS if clients is None else clients)
        self.token_lifetime_s = token_lifetime_s
        self.plan = plan
        self.restore_rate = restore_rate or PLANS[plan][0]
        self.bucket_size = bucket_size or 20 * self.restore_rate
        self.throttle_status = throttle_status
        self.clock = clock
        self.bulk_polls_to_complete = max(1, bulk_polls_to_complete)
        self.bulk_concurrency = bulk_concurrency
        self.token_exchanges = 0
        self.cost = CostCounters()
        self.bulk_operations: dict[int, _BulkOperation] = {}
        self.listing_cache: OrderedDict[tuple[Any, ...], _Listing] = OrderedDict()
        self._buckets: dict[str, _Bucket] = {}
        self._minted: dict[str, _Minted] = {}
        self._started = clock()
        self._request_ids = 0
        self.oauth = FakeOAuth(self, scopes=SCOPES, wall=wall)

    # -- the app ---------------------------------------------------------------------------------
    @cached_property
    def app(self) -> ASGIApp:
        return _RequestIds(super().app, self)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/admin/api/{version}/graphql.json", self._graphql, methods=["POST"]),
            Route("/admin/oauth/access_token", self._access_token, methods=["POST"]),
            Route("/admin/oauth/authorize", self.oauth.authorize, methods=["GET"]),
            Route("/_bulk/{op_id:int}.jsonl", self._bulk_file, methods=["GET"]),
            Route("/_fake/bucket", self._bucket_report, methods=["GET"]),
            Route("/_fake/bucket", self._bucket_reset, methods=["DELETE"]),
        ]

    def fault_response(self, fault: Fault, plan: FaultPlan) -> Response:
        """Injected faults in Shopify's shape: ``{"errors": "<string>"}``; 429 says when to retry."""
        status = int(fault.value)
        headers = {"Retry-After": f"{plan.retry_after_s:g}"} if status == 429 else {}
        return JSONResponse({"errors": _FAULT_MESSAGES.get(status, "Internal Server Error")}, status, headers=headers)

    def next_request_id(self) -> str:
        self._request_ids += 1
        n = self._request_ids
        return f"5f0c1a2b-{n >> 28 & 0xFFFF:04x}-4{n >> 16 & 0xFFF:03x}-8000-{n:012x}"

    # -- auth ------------------------------------------------------------------------------------
    def _app_for(self, token: str) -> str | None:
        """The app a token belongs to (its bucket), or None when the token is unknown or expired."""
        if token in self.tokens:
            return f"token:{token[:10]}"
        minted = self._minted.get(token)
        if minted is None or minted.expires_at <= self.clock():
            return None
        self.oauth.used(token)
        return minted.app

    def mint(self, token: str, *, app: str, lifetime_s: float | None) -> None:
        """Accept ``token`` for ``app``'s bucket for ``lifetime_s`` (None: until revoked)."""
        self._minted[token] = _Minted(app, math.inf if lifetime_s is None else self.clock() + lifetime_s)

    def revoke(self, token: str) -> None:
        self._minted.pop(token, None)

    async def _access_token(self, request: Request) -> Response:
        params = await _form_or_json(request)
        if params.get("grant_type") != "client_credentials":
            return self.oauth.grant(params, shop=request.url.hostname or "")
        client_id, secret = params.get("client_id", ""), params.get("client_secret", "")
        if not client_id or self.clients.get(client_id) != secret:
            description = "Client authentication failed: unknown client_id or wrong client_secret."
            return JSONResponse({"error": "invalid_client", "error_description": description}, 400)
        self.token_exchanges += 1
        token = "shpat_" + hashlib.sha256(f"{client_id}:{self.token_exchanges}".encode()).hexdigest()[:32]
        self._minted[token] = _Minted(client_id, self.clock() + self.token_lifetime_s)
        return JSONResponse({"access_token": token, "scope": SCOPES, "expires_in": self.token_lifetime_s})

    # -- GraphQL ---------------------------------------------------------------------------------
    async def _graphql(self, request: Request) -> Response:
        served = _served_version(request.path_params["version"])
        if served is None:
            return JSONResponse({"errors": "Not Found"}, 404)
        app = self._app_for(request.headers.get("x-shopify-access-token", ""))
        if app is None:
            return JSONResponse({"errors": INVALID_TOKEN}, 401)
        parsed = _graphql_request(await request.body(), request.headers.get("content-type", ""))
        if isinstance(parsed, str):
            return JSONResponse({"errors": parsed}, 400)
        base_url = f"{request.url.scheme}://{request.url.netloc}"
        body, status, headers = self.execute(parsed, app=app, base_url=base_url)
        return JSONResponse(body, status, headers={"X-Shopify-API-Version": served, **headers})

    def execute(self, request: GraphQLRequest, *, app: str, base_url: str) -> tuple[Json, int, dict[str, str]]:
        """Run one GraphQL request against ``app``'s bucket: ``(body, HTTP status, extra headers)``."""
        bucket = self._bucket(app)
        self.cost.requests += 1
        setup = self._setup(request, _Context(self, app, base_url))
        if isinstance(setup, list):  # the request cannot run: nothing to cost or charge
            return self._answer({"errors": setup}, bucket, 0, 0), 200, {}
        planner, operation, root = setup
        requested = self._requested(planner, root, operation)
        refused = self._refuse(requested, bucket, app)
        if refused is not None:
            return refused
        data, errors, actual = self._run(planner, operation, root)
        actual = requested if operation.operation is OperationType.MUTATION else min(actual, requested)
        bucket.give_back(requested - actual)
        self._record(app, bucket, actual, requested)
        body: Json = {"data": data}
        if errors:
            body["errors"] = [e.formatted for e in errors]
        if planner.context.search:
            body["extensions"] = {"search": planner.context.search}
        return self._answer(body, bucket, requested, actual), 200, {}

    @staticmethod
    def _setup(
        request: GraphQLRequest, ctx: _Context
    ) -> tuple[_Planner, OperationDefinitionNode, GraphQLObjectType] | list[Any]:
        """Parse, validate, pick the operation and coerce the variables, or the errors that stop it."""
        prepared = _prepare(request.query)
        if prepared.document is None:
            return [e.formatted for e in prepared.errors]
        operation = get_operation_ast(prepared.document, request.operation_name)
        if operation is None:
            name = request.operation_name
            return [{"message": f'Unknown operation named "{name}".' if name else "An operation name is required."}]
        schema = _schema()
        variables, errors = _coerce_variables(schema, operation, request.variables)
        if errors:
            return [e.formatted for e in errors]
        root = schema.mutation_type if operation.operation is OperationType.MUTATION else schema.query_type
        assert root is not None
        planner = _Planner(schema, prepared.fragments, variables, ctx, document=prepared.document)
        return planner, operation, root

    def _requested(self, planner: _Planner, root: GraphQLObjectType, operation: OperationDefinitionNode) -> int:
        fields = planner.root_fields(root, operation.selection_set)
        if operation.operation is OperationType.MUTATION:
            return MUTATION_COST * sum(1 for f in fields if not f.name.startswith("__"))
        return _requested_cost(planner, root, fields)

    def _refuse(self, requested: int, bucket: _Bucket, app: str) -> tuple[Json, int, dict[str, str]] | None:
        """MAX_COST_EXCEEDED or THROTTLED before execution (nothing charged), else None."""
        if requested > MAX_QUERY_COST:
            self.cost.max_cost_exceeded += 1
            self._record(app, bucket, 0, requested)
            message = f"Query cost is {requested}, which exceeds the single query max cost limit ({MAX_QUERY_COST})."
            error = {
                "message": message,
                "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": MAX_QUERY_COST},
            }
            return self._answer({"errors": [error]}, bucket, requested, None), 200, {}
        if not bucket.take(requested):
            self.cost.throttled += 1
            self._record(app, bucket, 0, requested)
            body = self._answer(
                {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]}, bucket, requested, None
            )
            wait = math.ceil((requested - bucket.available()) / bucket.rate)
            headers = {"Retry-After": str(max(1, wait))} if self.throttle_status == 429 else {}
            return body, self.throttle_status, headers
        return None

    def _run(
        self, planner: _Planner, operation: OperationDefinitionNode, root: GraphQLObjectType
    ) -> tuple[Json | None, list[GraphQLError], int]:
        """Execute: the fast executor, or graphql-core's for introspection (same resolvers)."""
        if _introspects(operation) and planner.document is not None:
            variables = dict(planner.variables)
            result = execute_sync(
                planner.schema, planner.document, None, planner.context, variables, _operation_name(operation)
            )
            return result.data, list(result.errors or ()), 0
        executor = _Executor(planner)
        data = executor.run(root, operation.selection_set)
        return data, executor.errors, executor.cost

    def _answer(self, body: Json, bucket: _Bucket, requested: int, actual: int | None) -> Json:
        cost = {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": bucket.status()}
        body.setdefault("extensions", {})["cost"] = cost
        return body

    def _bucket(self, app: str) -> _Bucket:
        bucket = self._buckets.get(app)
        if bucket is None:
            bucket = self._buckets[app] = _Bucket(self.bucket_size, self.restore_rate, self.clock)
        return bucket

    def _record(self, app: str, bucket: _Bucket, charged: int, requested: int) -> None:
        self.cost.points_requested += requested
        self.cost.points_consumed += charged
        self.cost.samples.append(BucketSample(self.clock() - self._started, bucket.available(), charged, app))

    @property
    def plan_view(self) -> Json:
        return {
            "displayName": PLANS[self.plan][1],
            "partnerDevelopment": False,
            "shopifyPlus": self.plan in ("plus", "enterprise"),
        }

    def remember_listing(self, key: tuple[Any, ...], listing: _Listing) -> None:
        """Keep recent listings (paging re-asks the same query), at most 256."""
        self.listing_cache[key] = listing
        if len(self.listing_cache) > 256:
            self.listing_cache.popitem(last=False)

    # -- bulk operations -------------------------------------------------------------------------
    def _now(self) -> datetime:
        return self.store.as_of + timedelta(seconds=self.clock() - self._started)

    def start_bulk(self, ctx: _Context, query: str) -> Json:
        """``bulkOperationRunQuery``: validate, run the query in full now, expose it as it "runs"."""
        running = [
            op for op in self.bulk_operations.values() if op.app == ctx.app and op.status in ("CREATED", "RUNNING")
        ]
        if len(running) >= self.bulk_concurrency:
            code = "LIMIT_REACHED" if self.bulk_concurrency > 1 else "OPERATION_IN_PROGRESS"
            return _bulk_error(self._busy_message(running[-1]), code, None)
        prepared = _prepare(query)
        if prepared.document is None:
            return _bulk_error(f"Invalid bulk query: {prepared.errors[0].message}", "INVALID")
        operation = get_operation_ast(prepared.document)
        if operation is None or operation.operation is not OperationType.QUERY:
            return _bulk_error("Invalid bulk query: the document must hold exactly one query operation.", "INVALID")
        schema = _schema()
        assert schema.query_type is not None
        bulk_ctx = _Context(self, ctx.app, ctx.base_url, bulk=True)
        planner = _Planner(schema, prepared.fragments, {}, bulk_ctx)
        problem = _bulk_problem(planner, schema.query_type, operation.selection_set)
        if problem is not None:
            return _bulk_error(f"Invalid bulk query: {problem}", "INVALID")
        data = _Executor(planner).run(schema.query_type, operation.selection_set) or {}
        lines = _jsonl(planner, schema.query_type, operation.selection_set, data)
        op_id = 4_039_184_154_813 + len(self.bulk_operations)
        jsonl = b"".join(json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in lines)
        roots = sum(1 for line in lines if "__parentId" not in line)
        self.bulk_operations[op_id] = _BulkOperation(op_id, ctx.app, query, self._now(), jsonl, len(lines), roots)
        return {"bulkOperation": self.bulk_view(ctx, op_id, observe=False), "userErrors": []}

    def _busy_message(self, op: _BulkOperation) -> str:
        if self.bulk_concurrency == 1:
            return (
                f"A bulk query operation for this app and shop is already in progress: {_gid('BulkOperation', op.id)}."
            )
        limit = self.bulk_concurrency
        return f"A maximum of {limit} bulk query operations can run at the same time for this app and shop."

    def cancel_bulk(self, ctx: _Context, gid: str) -> Json:
        parsed = _parse_gid(gid)
        op = self.bulk_operations.get(parsed[1]) if parsed and parsed[0] == "BulkOperation" else None
        if op is None or op.app != ctx.app:
            return {
                "bulkOperation": None,
                "userErrors": [{"field": ["id"], "message": "Bulk operation does not exist"}],
            }
        if op.status not in ("CREATED", "RUNNING"):
            message = f"A bulk operation cannot be canceled when it is {op.status.lower()}"
            errors = [{"field": None, "message": message}]
            return {"bulkOperation": self.bulk_view(ctx, op.id, observe=False), "userErrors": errors}
        op.status = "CANCELING"
        return {"bulkOperation": self.bulk_view(ctx, op.id, observe=False), "userErrors": []}

    def current_bulk_view(self, ctx: _Context, type_: str) -> Json | None:
        mine = [op for op in self.bulk_operations.values() if op.app == ctx.app]
        if type_ != "QUERY" or not mine:
            return None
        return self.bulk_view(ctx, mine[-1].id, observe=True)

    def bulk_view(self, ctx: _Context, op_id: int, *, observe: bool) -> Json | None:
        """The operation as a node; ``observe`` counts a status read, which is what advances it."""
        op = self.bulk_operations.get(op_id)
        if op is None or op.app != ctx.app:
            return None
        if observe and not ctx.bulk:
            self._advance(op)
        done = op.status == "COMPLETED"
        progress = op.objects if done else op.objects * op.polls // (self.bulk_polls_to_complete + 1)
        url = f"{ctx.base_url}/_bulk/{op.id}.jsonl" if done and op.objects else None
        return {
            "__typename": "BulkOperation",
            "id": _gid("BulkOperation", op.id),
            "status": op.status,
            "errorCode": None,
            "objectCount": str(progress),
            "rootObjectCount": str(op.roots if done else 0),
            "fileSize": str(len(op.jsonl)) if done and op.objects else None,
            "url": url,
            "partialDataUrl": None,
            "createdAt": _iso(op.created_at),
            "completedAt": _iso(op.completed_at),
            "query": op.query,
            "type": "QUERY",
        }

    def _advance(self, op: _BulkOperation) -> None:
        if op.status == "CANCELING":
            op.status, op.completed_at = "CANCELED", self._now()
        if op.status not in ("CREATED", "RUNNING"):
            return
        op.polls += 1
        if op.polls >= self.bulk_polls_to_complete:
            op.status, op.completed_at = "COMPLETED", self._now()
        else:
            op.status = "RUNNING"

    async def _bulk_file(self, request: Request) -> Response:
        op = self.bulk_operations.get(request.path_params["op_id"])
        if op is None or op.status != "COMPLETED":
            return Response(
                b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchKey</Code></Error>",
                404,
                media_type="application/xml",
            )
        return Response(op.jsonl, 200, media_type="application/jsonl")

    # -- admin: the bucket -----------------------------------------------------------------------
    async def _bucket_report(self, request: Request) -> Response:
        return JSONResponse(self.bucket_report())

    def bucket_report(self) -> Json:
        """Plan, every app's bucket, counters and the time series, for benchmarks and the dashboard."""
        return {
            "plan": self.plan,
            "maximumAvailable": self.bucket_size,
            "restoreRate": self.restore_rate,
            "buckets": {app: b.status() for app, b in self._buckets.items()},
            "counters": self.cost.to_json(),
            "series": [s._asdict() for s in self.cost.samples],
        }

    async def _bucket_reset(self, request: Request) -> Response:
        self._buckets.clear()
        self.cost = CostCounters()
        return JSONResponse({"ok": True})


def _introspects(operation: OperationDefinitionNode) -> bool:
    return any(
        isinstance(s, FieldNode) and s.name.value in ("__schema", "__type") for s in operation.selection_set.selections
    )


def _operation_name(operation: OperationDefinitionNode) -> str | None:
    return operation.name.value if operation.name else None


def _served_version(version: str) -> str | None:
    """The version that serves ``version``: itself, the oldest supported for an old one, or None (404)."""
    if version in SUPPORTED_VERSIONS:
        return version
    if re.fullmatch(r"20\d\d-(01|04|07|10)", version) and version < SUPPORTED_VERSIONS[0]:
        return SUPPORTED_VERSIONS[0]
    return None


def _graphql_request(body: bytes, content_type: str) -> GraphQLRequest | str:
    """The request in the body, or why it is a 400."""
    if content_type.startswith("application/graphql"):
        return GraphQLRequest(body.decode("utf-8", "replace"), {}, None)
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "Bad Request: the body is not valid JSON"
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return "Bad Request: the body must be a JSON object with a string `query`"
    variables = payload.get("variables") or {}
    if not isinstance(variables, dict):
        return "Bad Request: `variables` must be a JSON object"
    name = payload.get("operationName")
    return GraphQLRequest(payload["query"], variables, name if isinstance(name, str) else None)


async def _form_or_json(request: Request) -> dict[str, str]:
    body = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    return dict(parse_qsl(body.decode("utf-8", "replace")))


class _RequestIds:
    """Pure ASGI: stamps ``X-Request-Id`` on every response, injected faults included."""

    def __init__(self, app: ASGIApp, fake: ShopifyFake) -> None:
        self.app = app
        self.fake = fake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self.fake.next_request_id().encode()

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", request_id)]}
            await send(message)

        await self.app(scope, receive, stamped)
