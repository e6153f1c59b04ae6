"""Shopify's ways of failing, mapped to storelink's kinds (api-facts.md §1.5, §1.8).

GraphQL reports most failures inside a 200: ``THROTTLED`` (the cost bucket is too low: wait
``(requested − available) / restoreRate``), ``MAX_COST_EXCEEDED`` (the query can never run: ask
for less), ``ACCESS_DENIED`` (a missing scope). Every response, failed or not, carries the bucket
state in ``extensions.cost``, which feeds the limiter.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx2

from storelink.errors import ErrorKind
from storelink.resilience.classify import HttpClassifier, RateHint, Verdict

__all__ = ["ShopifyClassifier", "throttle_hint"]


def throttle_hint(body: Any) -> tuple[RateHint | None, float | None]:
    """The bucket state and the requested cost from ``extensions.cost``, when present."""
    if not isinstance(body, dict):
        return None, None
    cost = (body.get("extensions") or {}).get("cost")
    if not isinstance(cost, dict):
        return None, None
    status = cost.get("throttleStatus") or {}
    try:
        hint = RateHint(
            available=float(status["currentlyAvailable"]),
            maximum=float(status["maximumAvailable"]),
            restore_per_s=float(status["restoreRate"]),
            unit="points",
            actual_cost=float(cost["actualQueryCost"]) if cost.get("actualQueryCost") is not None else 0.0,
        )
    except (KeyError, TypeError, ValueError):
        return None, None
    requested = cost.get("requestedQueryCost")
    return hint, float(requested) if isinstance(requested, int | float) else None


class ShopifyClassifier(HttpClassifier):
    def classify_status(self, response: httpx2.Response, body: Any) -> Verdict:
        verdict = super().classify_status(response, body)
        status = response.status_code
        if status == 402:
            return replace(
                verdict,
                kind=ErrorKind.FORBIDDEN,
                message="Shopify says the shop is frozen (402, unpaid). Nothing can be read until the "
                "store's billing is settled.",
            )
        if status == 423:
            return replace(
                verdict,
                kind=ErrorKind.FORBIDDEN,
                message="Shopify says the shop is locked (423). Contact Shopify support for the store.",
            )
        if status == 404:
            return replace(
                verdict,
                message="Shopify answered 404 for the Admin API URL: check SHOPIFY_SHOP "
                "(`name.myshopify.com`) and STORELINK_SHOPIFY_API_VERSION.",
            )
        return verdict

    def classify_body(self, response: httpx2.Response, body: Any, verdict: Verdict) -> Verdict:
        hint, requested = throttle_hint(body)
        if hint is not None:
            verdict = replace(verdict, hint=hint)
        errors = body.get("errors") if isinstance(body, dict) else None
        if not verdict.ok or not isinstance(errors, list) or not errors:
            return verdict
        first = errors[0] if isinstance(errors[0], dict) else {}
        code = (first.get("extensions") or {}).get("code")
        message = str(first.get("message", "GraphQL error"))[:300]
        if code == "THROTTLED":
            wait = None
            if hint is not None and requested is not None and hint.restore_per_s > 0:
                wait = max(0.0, (requested - hint.available) / hint.restore_per_s)
            return replace(
                verdict,
                kind=ErrorKind.RATE_LIMITED,
                message="Shopify throttled the query: its cost bucket is too low"
                + (f"; it refills enough in {wait:.1f} s." if wait is not None else "."),
                retry_after_s=wait,
                upstream_code=code,
                maybe_applied=False,
            )
        if code == "MAX_COST_EXCEEDED":
            return replace(
                verdict,
                kind=ErrorKind.INVALID_REQUEST,
                message=f"{message} Lower `first` (the page size) or ask for fewer nested items.",
                upstream_code=code,
            )
        if code == "ACCESS_DENIED":
            return replace(
                verdict,
                kind=ErrorKind.FORBIDDEN,
                message=f"Shopify denied access: {message} Grant the app the scope this operation needs; "
                "see docs/connectors/shopify.md.",
                upstream_code=code,
            )
        if body.get("data") is None:
            return replace(
                verdict,
                kind=ErrorKind.INVALID_REQUEST,
                message=f"Shopify rejected the query: {message}",
                upstream_code=code if isinstance(code, str) else None,
            )
        return verdict  # partial data with field errors: the caller gets what there is

    def error_detail(self, body: Any) -> str:
        if isinstance(body, dict) and isinstance(body.get("errors"), str):
            return str(body["errors"])[:300]
        return super().error_detail(body)
