"""The fake's webhook sender: Shopify's headers and signature, and its retry schedule compressed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json

import httpx2
import pytest

from storelink.fakes.shopify.webhooks import ATTEMPT_TIMEOUT_S, RETRY_DELAYS_S, WebhookSender

SECRET = "shpss_0123456789abcdef0123456789abcdef"
URL = "https://app.test/shopify/webhooks"


def receiver(statuses: list[int | None], seen: list[httpx2.Request]) -> httpx2.MockTransport:
    """Answers each attempt with the next status (None: no answer in time)."""

    def handle(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        status = statuses.pop(0) if statuses else 200
        if status is None:
            raise httpx2.ReadTimeout("no answer within 5 s", request=request)
        return httpx2.Response(status)

    return httpx2.MockTransport(handle)


async def test_a_delivery_carries_shopify_s_headers_and_a_signature_of_its_raw_body() -> None:
    seen: list[httpx2.Request] = []
    async with httpx2.AsyncClient(transport=receiver([200], seen)) as client:
        sender = WebhookSender(SECRET, client=client, url=URL, wall=lambda: 1_800_000_000.0)
        delivery = sender.signed("orders/create", "north.myshopify.com", {"id": 1, "email": "a@example.org"})
        assert (await sender.deliver(delivery)).statuses == [200]
    request = seen[0]
    expected = base64.b64encode(hmac.new(SECRET.encode(), request.content, hashlib.sha256).digest()).decode()
    assert request.headers["x-shopify-hmac-sha256"] == expected
    assert json.loads(request.content) == {"id": 1, "email": "a@example.org"}
    assert request.headers["x-shopify-topic"] == "orders/create"
    assert request.headers["x-shopify-shop-domain"] == "north.myshopify.com"
    assert request.headers["x-shopify-webhook-id"] and request.headers["x-shopify-event-id"]
    assert request.headers["x-shopify-triggered-at"] == "1800000000.000"
    assert request.headers["content-type"] == "application/json"


def test_the_schedule_is_8_retries_over_4_hours_doubling() -> None:
    assert len(RETRY_DELAYS_S) == 8
    assert sum(RETRY_DELAYS_S) == pytest.approx(4 * 3600)
    assert all(b == pytest.approx(2 * a) for a, b in itertools.pairwise(RETRY_DELAYS_S))
    assert ATTEMPT_TIMEOUT_S == 5.0


async def test_failures_and_timeouts_are_retried_with_the_same_bytes_compressed() -> None:
    seen: list[httpx2.Request] = []
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async with httpx2.AsyncClient(transport=receiver([500, None, 503, 200], seen)) as client:
        sender = WebhookSender(SECRET, client=client, url=URL, sleep=sleep, compress=1000.0)
        report = await sender.deliver(sender.signed("products/update", "north.myshopify.com", {"id": 2}))
    assert report.statuses == [500, None, 503, 200] and report.ok
    assert slept == pytest.approx([d / 1000.0 for d in RETRY_DELAYS_S[:3]])
    assert len({(r.content, r.headers["x-shopify-webhook-id"], r.headers["x-shopify-hmac-sha256"]) for r in seen}) == 1


async def test_after_the_8_retries_it_gives_up() -> None:
    seen: list[httpx2.Request] = []
    async with httpx2.AsyncClient(transport=receiver([500] * 20, seen)) as client:
        sender = WebhookSender(SECRET, client=client, url=URL, compress=1e9)
        report = await sender.deliver(sender.signed("orders/create", "north.myshopify.com", {}))
    assert len(report.statuses) == 9 and not report.ok and report.waits_s == list(RETRY_DELAYS_S)
