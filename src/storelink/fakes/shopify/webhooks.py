"""Shopify's side of webhooks: signed deliveries, retried on Shopify's schedule, time-compressed.

A delivery carries Shopify's headers (``X-Shopify-Topic``, ``X-Shopify-Hmac-Sha256`` — base64
HMAC-SHA256 of the raw body under the app's client secret —, ``X-Shopify-Shop-Domain``,
``X-Shopify-Webhook-Id``, ``X-Shopify-Event-Id``, ``X-Shopify-Triggered-At``,
``X-Shopify-API-Version``). Shopify waits 5 s for a 2xx; otherwise it retries 8 times over 4 hours
with exponential backoff, the same body and headers each time (docs/shopify-app-embedded.md,
sources). Shopify does not publish the exact delays: :data:`RETRY_DELAYS_S` doubles from ~56 s so
that the 8 retries span the 4 hours. :class:`WebhookSender` sleeps through them on an injected
``sleep`` divided by ``compress``, so a test runs the whole schedule in no time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2

__all__ = ["ATTEMPT_TIMEOUT_S", "RETRY_DELAYS_S", "Delivered", "SignedDelivery", "WebhookSender", "sign"]

RETRY_SPAN_S = 4 * 3600.0
RETRIES = 8
# Doubling delays whose sum is the 4-hour span: 56.5 s, 113 s, … 7,228 s.
RETRY_DELAYS_S = tuple(RETRY_SPAN_S * 2**i / (2**RETRIES - 1) for i in range(RETRIES))
ATTEMPT_TIMEOUT_S = 5.0
API_VERSION = "2026-01"


def sign(body: bytes, secret: str) -> str:
    """Shopify's signature, written here apart from the app's check so that a test of one by the
    other cannot share a mistake."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass(frozen=True, slots=True)
class SignedDelivery:
    """The exact bytes and headers Shopify sends, the same on every retry."""

    body: bytes
    headers: dict[str, str]

    def with_body(self, body: bytes) -> SignedDelivery:
        """The same headers (and signature) over another body: a forgery, for tests."""
        return SignedDelivery(body, dict(self.headers))


@dataclass
class Delivered:
    """What happened to one delivery: each attempt's status (None: no answer in time) and the waits."""

    statuses: list[int | None] = field(default_factory=list)
    waits_s: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.statuses) and self.statuses[-1] is not None and 200 <= (self.statuses[-1] or 0) < 300


async def _no_sleep(seconds: float) -> None:
    return None


class WebhookSender:
    """Signs and delivers webhooks to ``url`` through ``client`` (any httpx2 transport)."""

    def __init__(
        self,
        secret: str,
        *,
        client: httpx2.AsyncClient,
        url: str,
        sleep: Callable[[float], Awaitable[None]] = _no_sleep,
        compress: float = 1.0,
        wall: Callable[[], float] | None = None,
    ) -> None:
        self._secret = secret
        self._client = client
        self._url = url
        self._sleep = sleep
        self._compress = compress
        self._wall = wall

    def signed(
        self,
        topic: str,
        shop: str,
        payload: Mapping[str, Any],
        *,
        webhook_id: str | None = None,
        event_id: str | None = None,
        secret: str | None = None,
    ) -> SignedDelivery:
        """One delivery of ``topic`` for ``shop``, signed with the app's secret (or ``secret``)."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        triggered = self._wall() if self._wall is not None else 0.0
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": sign(body, secret if secret is not None else self._secret),
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-API-Version": API_VERSION,
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
            "X-Shopify-Triggered-At": f"{triggered:.3f}",
        }
        return SignedDelivery(body, headers)

    async def post(self, delivery: SignedDelivery) -> int | None:
        """One attempt: the status, or None when no answer came within Shopify's 5 s."""
        try:
            response = await self._client.post(
                self._url, content=delivery.body, headers=delivery.headers, timeout=ATTEMPT_TIMEOUT_S
            )
        except (httpx2.TimeoutException, httpx2.TransportError):
            return None
        return response.status_code

    async def deliver(self, delivery: SignedDelivery) -> Delivered:
        """Deliver until a 2xx answer or the 8 retries are spent, waiting Shopify's delays between."""
        report = Delivered()
        for wait in (0.0, *RETRY_DELAYS_S):
            if wait:
                report.waits_s.append(wait)
                await self._sleep(wait / self._compress)
            status = await self.post(delivery)
            report.statuses.append(status)
            if status is not None and 200 <= status < 300:
                break
        return report
