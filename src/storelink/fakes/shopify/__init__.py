"""The Shopify Admin GraphQL fake: the demo store behind Shopify's real contract.

Facts followed (``shared/reference/api-facts.md`` section 1)
    * ``POST /admin/api/{version}/graphql.json`` with ``X-Shopify-Access-Token``; a bad or missing
      token is HTTP 401 ``{"errors": "[API] Invalid API key or access token (...)"}``; an unknown
      version segment is 404 ``{"errors": "Not Found"}``; a body that is not JSON is 400 (1.1, 1.2, 1.8).
    * Real GraphQL over an SDL subset of the 2026-10 Admin API (``schema.graphql``): gids
      ``gid://shopify/Type/N``, ``data``/``errors``/``extensions`` side by side (1.3).
    * Calculated query cost and a leaky bucket per app and store (1.4): scalars and enums cost 0,
      objects 1, a connection 2 + ``first`` x (cost of one node), multiplied through nesting, mutations
      10; more than 1000 requested is refused before execution with ``MAX_COST_EXCEEDED``; a bucket
      holding less than the requested cost answers ``THROTTLED`` (exact 1.5 body); otherwise the
      requested cost is charged, the query runs and ``requested - actual`` is refunded.
      ``extensions.cost`` with ``throttleStatus`` is on every GraphQL response.
    * Relay pagination (1.6): ``first``/``last`` at most 250, opaque base64 cursors, ``nodes`` and
      ``edges {cursor node}``, ``pageInfo`` with ``endCursor`` null on an empty page.
    * Bulk operations (1.7): ``bulkOperationRunQuery`` validates the query (one connection at least,
      at most five, nesting at most two connections deep, no top-level ``node``/``nodes``, parents of
      nested connections select ``id``), ``currentBulkOperation`` / ``bulkOperation`` / ``node`` poll
      it, and the result is JSONL with children on their own lines carrying ``__parentId`` after their
      parent; ``url`` is null when the result is empty. Up to five concurrent operations (2026-01+).
    * Every response carries ``X-Request-Id`` (1.8); GraphQL responses also ``X-Shopify-API-Version``.

Choices where the facts say [INF] or are silent
    * Versions ``2026-01`` ... ``2026-10``, the ``2027-01`` release candidate and ``unstable`` are served;
      an older quarterly version falls forward to ``2026-01``; anything else is 404.
    * THROTTLED is HTTP 200 (``throttle_status=429`` makes it 429 with ``Retry-After``, whole seconds
      until the bucket holds the request). ``MAX_COST_EXCEEDED`` is HTTP 200 with
      ``actualQueryCost: null`` and ``extensions {code, cost, maxCost}`` on the error.
    * Bucket size defaults to 20 x restore rate (2000 for Standard at 100/s); ``currentlyAvailable``
      is reported rounded down to a whole point. Edges and ``pageInfo`` cost nothing; plain lists
      of objects cost one item, times ``first`` or the length of an ``ids``/``names`` argument.
    * ``first`` over 250: error ``The first argument must be less than or equal to 250.``; neither
      ``first`` nor ``last``: ``you must provide one of first or last`` (Shopify's wording).
    * Money: ``MoneyV2.amount`` is a ``Decimal`` string with trailing zeros dropped ("29.0"); ``Money``
      (``ProductVariant.price``) keeps two decimals ("29.00"); ``UnsignedInt64`` is a string.
    * Search ``query`` syntax: see :func:`search._parse_search`; unknown fields are ignored and reported in
      ``extensions.search`` warnings, as Shopify does.
    * Bulk lifecycle is driven by polls, not time: an operation is ``CREATED`` when made, ``RUNNING``
      from the first status read, ``COMPLETED`` at read ``bulk_polls_to_complete`` (default 3). The
      file is served by this fake at ``GET /_bulk/{id}.jsonl`` (no auth, like a signed URL). The query
      runs in full when the operation is created (0.1 s for the catalogue, about 1 s for every order
      with its lines), so polls are cheap and the file is stable.
    * Token exchange ``POST /admin/oauth/access_token`` (``grant_type=client_credentials``, form or
      JSON) mints a token that expires after ``token_lifetime_s`` on the fake's clock; buckets belong
      to the app (the client id, or the static token), so a refreshed token keeps its bucket.
    * Injected 401/429/5xx faults use ``{"errors": "<string>"}``; 429 uses the REST wording and
      ``Retry-After``.
    * Timestamps of bulk operations are the demo store's ``as_of`` plus the fake clock's elapsed time.
    * Admin routes beside the base ones: ``GET /_fake/bucket`` (plan, buckets, counters, time series;
      also ``ShopifyFake.cost`` and ``bucket_report()``) and ``DELETE /_fake/bucket`` (refill and reset).

Modules, each importing only modules listed before it (``resolvers`` names ``ShopifyFake`` for the
type checker only)
    * ``formats``: global ids, money and times as Shopify writes them; ``Json``.
    * ``views``: the demo store's entities rendered once as the dicts the executor reads.
    * ``search``: the search ``query`` syntax and each resource's search fields.
    * ``listings``: filtered, sorted listings, cursors, Relay pages and each resource's sort keys.
    * ``resolvers``: the request context and the resolvers (``_RESOLVERS``).
    * ``schema``: the SDL (``schema.graphql``) with the resolvers attached; parse and validate, cached.
    * ``planner``: fields collected and arguments and variables coerced, per request.
    * ``cost``: requested cost, per-type weights, the leaky bucket and its counters.
    * ``executor``: the fast executor (why it exists: see its docstring).
    * ``bulk``: bulk query validation, the operation record and the JSONL result.
    * ``app``: ``ShopifyFake``, its routes (GraphQL, token exchange, bulk files, ``/_fake/bucket``).
"""

from __future__ import annotations

from storelink.fakes.shopify.app import DEFAULT_CLIENTS, DEFAULT_TOKEN, SUPPORTED_VERSIONS, GraphQLRequest, ShopifyFake
from storelink.fakes.shopify.app import INVALID_TOKEN as INVALID_TOKEN
from storelink.fakes.shopify.app import SCOPES as SCOPES
from storelink.fakes.shopify.cost import MAX_QUERY_COST, PLANS, BucketSample, CostCounters
from storelink.fakes.shopify.cost import MUTATION_COST as MUTATION_COST
from storelink.fakes.shopify.executor import _Executor as _Executor
from storelink.fakes.shopify.formats import Json as Json
from storelink.fakes.shopify.listings import MAX_PAGE_SIZE
from storelink.fakes.shopify.planner import _Planner as _Planner
from storelink.fakes.shopify.resolvers import Resolver as Resolver
from storelink.fakes.shopify.resolvers import _Context as _Context
from storelink.fakes.shopify.schema import _prepare as _prepare
from storelink.fakes.shopify.schema import _schema as _schema

# _Context, _Executor, _Planner, _prepare and _schema: re-exported for the tests' white-box checks.
__all__ = [
    "DEFAULT_CLIENTS",
    "DEFAULT_TOKEN",
    "MAX_PAGE_SIZE",
    "MAX_QUERY_COST",
    "PLANS",
    "SUPPORTED_VERSIONS",
    "BucketSample",
    "CostCounters",
    "GraphQLRequest",
    "ShopifyFake",
]
