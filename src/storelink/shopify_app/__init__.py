"""storelink as a Shopify app: a merchant installs it and each installing shop becomes a store.

Install and tokens (docs/shopify-app.md):
- shops: shop-domain validation (`valid_shop`).
- oauth: the install's query HMAC, the signed `state` cookie and the authorize URL.
- install: `/shopify/install` and `/shopify/callback` (authorization-code grant).
- grants: the token endpoint's grants (authorization code, token exchange for embedded use,
  refresh), each for an expiring offline token.
- token_store: where an installed shop's tokens live, sealed (PostgreSQL's vault, or memory).
- offline_tokens: the Shopify connector's auth for an installed shop (refresh ahead of expiry,
  once across replicas).
- installations: the registry of installed shops (PostgreSQL or in memory) and their stores.
- app_config: the `shopify.app.toml` for a deployment.
- routes: `shopify_app_routes`, every route of the app.

Embedded admin and webhooks (docs/shopify-app-embedded.md):
- session_tokens: App Bridge session tokens verified (signature, aud, iss/dest, exp/nbf).
- embedded: `/shopify/app`, the shop's dashboard inside admin, and its data route.
- webhooks: `/shopify/webhooks`, HMAC-checked, each delivery processed once, topics' work queued.
- compliance: customers/data_request, customers/redact and shop/redact over every table.
"""
