"""The recent-errors ring: bounded per connector, newest first, redacted."""

from __future__ import annotations

from storelink.errors import ConnectorError, ErrorKind
from storelink.observability.errors_log import ErrorEntry, ErrorLog
from tests.conftest import CANARY


def error(n: int, connector: str = "shopify", message: str = "Shopify is down (503). Retry later.") -> ConnectorError:
    return ConnectorError(
        ErrorKind.UNAVAILABLE, message, connector=connector, operation="shop_info", status=503, request_id=f"req-{n}"
    )


def test_ring_is_bounded_newest_first_and_counts_all() -> None:
    log = ErrorLog(per_connector=3, clock=lambda: 100.0)
    for n in range(5):
        log.record(error(n))
    log.record(error(9, connector="ga4"))
    recent = log.recent("shopify")
    assert [e.request_id for e in recent] == ["req-4", "req-3", "req-2"]
    assert log.total("shopify") == 5
    assert log.last("shopify") == recent[0]
    assert log.recent("shopify", limit=1)[0].request_id == "req-4"
    assert log.connectors() == ["ga4", "shopify"]
    assert log.recent("bing") == [] and log.last("bing") is None
    entry = recent[0]
    assert (entry.kind, entry.operation, entry.status, entry.retryable, entry.at) == (
        "unavailable",
        "shop_info",
        503,
        True,
        100.0,
    )


def test_messages_are_redacted_again() -> None:
    log = ErrorLog(secrets=[CANARY])
    leaky = f"token {CANARY} rejected at https://x.example/a?access_token={CANARY}&b=1; Bearer abc.def"
    entry = log.record(error(1, message=leaky))
    assert CANARY not in entry.message
    assert "Bearer abc.def" not in entry.message
    assert "***" in entry.message
    assert CANARY not in str(entry.to_json())


def test_listeners_see_every_entry() -> None:
    log = ErrorLog()
    seen: list[ErrorEntry] = []
    log.add_listener(seen.append)
    log.record(error(1))
    log.record(error(2))
    assert [e.request_id for e in seen] == ["req-1", "req-2"]
