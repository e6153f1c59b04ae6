"""Sentry: off without SENTRY_DSN; on, every event leaves scrubbed of secrets, auth headers,
cookies and bodies; connector errors are forwarded once a minute per kind."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from storelink.errors import ConnectorError, ErrorKind
from storelink.observability.errors_log import ErrorLog
from storelink.observability.sentry import forward_errors, init_sentry, scrub_event
from tests.conftest import CANARY, make_settings


class Capture(Transport):
    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    def events(self) -> list[dict[str, Any]]:
        return [item.payload.json for env in self.envelopes for item in env.items if item.payload.json]


@pytest.fixture
def capture() -> Iterator[Capture]:
    transport = Capture()
    yield transport
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # back to a client without a DSN: nothing is sent


def test_off_without_a_dsn(tmp_path: Path) -> None:
    assert init_sentry(make_settings(tmp_path)) is False


def test_scrub_event_masks_everywhere() -> None:
    event = {
        "message": f"token {CANARY} failed",
        "exception": {
            "values": [{"value": f"Bearer abc.def {CANARY}", "stacktrace": {"frames": [{"vars": {"t": CANARY}}]}}]
        },
        "request": {
            "url": f"https://x.example/cb?code=s3cr3t&access_token={CANARY}",
            "headers": {"Authorization": f"Bearer {CANARY}", "Cookie": "storelink_session=x", "Accept": "text/html"},
            "cookies": {"storelink_session": "x"},
            "data": {"password": "hunter2"},
        },
        "breadcrumbs": {"values": [{"message": f"GET /x?apikey={CANARY}"}]},
    }
    clean = scrub_event(event, [CANARY])
    text = repr(clean)
    assert CANARY not in text and "hunter2" not in text and "s3cr3t" not in text and "abc.def" not in text
    assert clean["request"]["headers"] == {"Accept": "text/html"}
    assert "cookies" not in clean["request"] and "data" not in clean["request"]
    assert event["message"] == f"token {CANARY} failed"  # the original is untouched


def test_events_leave_scrubbed(tmp_path: Path, capture: Capture) -> None:
    settings = make_settings(tmp_path, sentry_dsn="https://public@sentry.example/1", shopify_access_token=CANARY)
    assert init_sentry(settings, transport=capture) is True
    logging.getLogger("storelink.test").error("upstream said %s", CANARY)
    try:
        raise RuntimeError(f"leaked {CANARY}")
    except RuntimeError:
        sentry_sdk.capture_exception()
    sentry_sdk.flush()
    events = capture.events()
    assert len(events) == 2
    assert CANARY not in repr(events)
    assert "***" in repr(events)
    assert "https://public@sentry.example/1" not in repr(events)


def test_connector_errors_are_forwarded_rate_limited(tmp_path: Path, capture: Capture) -> None:
    settings = make_settings(tmp_path, sentry_dsn="https://public@sentry.example/1")
    assert init_sentry(settings, transport=capture)
    now = [0.0]
    log = ErrorLog()
    forward_errors(log, clock=lambda: now[0])

    def fail(kind: ErrorKind) -> None:
        log.record(ConnectorError(kind, f"{kind.value} happened", connector="shopify", operation="shop_info"))

    fail(ErrorKind.UNAVAILABLE)
    fail(ErrorKind.UNAVAILABLE)  # within the minute: not sent again
    fail(ErrorKind.NOT_FOUND)  # a caller's mistake: never sent
    fail(ErrorKind.UNAUTHORIZED)
    now[0] = 61.0
    fail(ErrorKind.UNAVAILABLE)
    sentry_sdk.flush()
    events = capture.events()
    assert [e["tags"]["kind"] for e in events] == ["unavailable", "unauthorized", "unavailable"]
    assert events[0]["level"] == "warning"
    assert events[0]["fingerprint"] == ["storelink-connector-error", "shopify", "shop_info", "unavailable"]
