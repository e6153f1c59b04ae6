"""Classification of responses and exceptions, and Retry-After in both of its forms."""

from __future__ import annotations

import httpx2
import pytest

from storelink.errors import ErrorKind
from storelink.resilience.classify import HttpClassifier, parse_retry_after

NOW = 1_795_000_000.0  # a fixed wall clock


def classifier() -> HttpClassifier:
    return HttpClassifier(title="Upstream", connector="up", credential_hint="UP_TOKEN", wall_clock=lambda: NOW)


def response(status: int, body: bytes = b"{}", /, **headers: str) -> httpx2.Response:
    return httpx2.Response(
        status,
        content=body,
        headers={"content-type": "application/json", **headers},
        request=httpx2.Request("GET", "https://up.example/x"),
    )


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("2.5", now_wall=NOW) == 2.5
    # RFC 9110: an HTTP-date; 30 s after the fixed clock.
    from email.utils import formatdate

    assert parse_retry_after(formatdate(NOW + 30, usegmt=True), now_wall=NOW) == pytest.approx(30.0)
    assert parse_retry_after(formatdate(NOW - 30, usegmt=True), now_wall=NOW) == 0.0
    assert parse_retry_after("soon", now_wall=NOW) is None
    assert parse_retry_after(None, now_wall=NOW) is None


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (400, ErrorKind.INVALID_REQUEST, False),
        (401, ErrorKind.UNAUTHORIZED, False),
        (403, ErrorKind.FORBIDDEN, False),
        (404, ErrorKind.NOT_FOUND, False),
        (408, ErrorKind.TIMEOUT, True),
        (422, ErrorKind.INVALID_REQUEST, False),
        (429, ErrorKind.RATE_LIMITED, True),
        (500, ErrorKind.UNAVAILABLE, True),
        (503, ErrorKind.UNAVAILABLE, True),
    ],
)
def test_status_codes(status: int, kind: ErrorKind, retryable: bool) -> None:
    verdict = classifier().classify_response(response(status))
    assert verdict.kind is kind
    assert verdict.should_retry is retryable
    assert verdict.status == status


def test_429_carries_its_wait_and_was_not_applied() -> None:
    verdict = classifier().classify_response(response(429, **{"retry-after": "7"}))
    assert verdict.retry_after_s == 7.0
    assert verdict.maybe_applied is False
    assert "7.0 s" in verdict.message


def test_401_message_names_the_setting() -> None:
    verdict = classifier().classify_response(response(401))
    assert "UP_TOKEN" in verdict.message
    assert "storelink live-check up" in verdict.message


def test_invalid_json_on_2xx_is_an_upstream_error() -> None:
    verdict = classifier().classify_response(response(200, b'{"data": [1,'))
    assert verdict.kind is ErrorKind.UPSTREAM_ERROR
    assert verdict.should_retry is False


def test_json_body_is_parsed_once_and_handed_on() -> None:
    verdict = classifier().classify_response(response(200, b'{"a": 1}', **{"x-request-id": "req-9"}))
    assert verdict.ok
    assert verdict.body == {"a": 1}
    assert verdict.request_id == "req-9"


def test_error_detail_comes_from_the_body() -> None:
    verdict = classifier().classify_response(response(400, b'{"error": {"message": "bad field x"}}'))
    assert "bad field x" in verdict.message


def test_exceptions() -> None:
    request = httpx2.Request("GET", "https://up.example/x")
    c = classifier()
    assert c.classify_exception(httpx2.ConnectTimeout("t", request=request)).kind is ErrorKind.TIMEOUT
    assert c.classify_exception(httpx2.ConnectTimeout("t", request=request)).maybe_applied is False
    assert c.classify_exception(httpx2.ReadTimeout("t", request=request)).kind is ErrorKind.TIMEOUT
    assert c.classify_exception(TimeoutError()).kind is ErrorKind.TIMEOUT
    refused = c.classify_exception(httpx2.ConnectError("refused", request=request))
    assert refused.kind is ErrorKind.UNAVAILABLE
    assert refused.maybe_applied is False
    reset = c.classify_exception(httpx2.ReadError("reset", request=request))
    assert reset.kind is ErrorKind.UNAVAILABLE
    assert reset.maybe_applied is True
    with pytest.raises(ZeroDivisionError):
        c.classify_exception(ZeroDivisionError())  # programmer errors are not upstream faults
