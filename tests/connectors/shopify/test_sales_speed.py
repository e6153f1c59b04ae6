"""sales_summary chooses how to read: paging while the range's orders fit in what the cost bucket
holds, a bulk operation (no cost limit) past it, since paging would wait for refill (the demo
shop's 28 days: ~3,400 points against 2,000 at 100 a second, ~20 s; issue 19). Same figures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from storelink.connectors.shopify.client import ShopifyConnector
from storelink.observability.metrics import Metrics
from storelink.runtime import Runtime, open_runtime
from storelink.store import EmbeddedStore
from tests.conftest import make_settings


@pytest.fixture
async def mock_runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(
        make_settings(tmp_path), connectors=[ShopifyConnector], metrics=Metrics(), store=EmbeddedStore(None)
    ) as rt:
        yield rt


def limiter_wait_s(rt: Runtime) -> float:
    return rt.metrics.counter_value(
        "storelink_limiter_wait_seconds_total", connector="shopify", operation="sales_summary"
    )


async def test_four_weeks_of_orders_go_in_bulk_without_waiting_for_refill(mock_runtime: Runtime) -> None:
    shop = mock_runtime.registry.get("shopify")
    envelope = await shop.call("sales_summary", {"days": 28})
    assert len(envelope.data.days) == 28
    assert limiter_wait_s(mock_runtime) < 1.0  # paging waited ~20 s here


async def test_bulk_and_paged_reads_give_the_same_figures(
    mock_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    week = {"start": "2026-11-10", "end": "2026-11-16"}
    shop = mock_runtime.registry.get("shopify")
    paged: Any = (await shop.call("sales_summary", week)).data  # a week fits in the bucket: paged

    async def in_bulk(self: ShopifyConnector, search: str) -> bool:
        return True

    monkeypatch.setattr(ShopifyConnector, "_sales_cheaper_in_bulk", in_bulk)
    envelope = await shop.call("sales_summary", week)
    assert envelope.meta.source == "network"  # read again, through the bulk operation
    again: Any = envelope.data
    assert again.model_dump() == paged.model_dump()


async def test_a_few_days_are_paged(mock_runtime: Runtime) -> None:
    shop = mock_runtime.registry.get("shopify")
    envelope = await shop.call("sales_summary", {"days": 2})
    # The shop's calendar, the count and one page; a bulk operation would add its start, polls and result.
    assert envelope.meta.attempts <= 3
