"""Bing's error codes and WCF dates, classified and parsed without a network."""

from __future__ import annotations

import datetime as dt
import json

import httpx2
import pytest

from storelink.connectors.bing.errors import BING_ERRORS, BingClassifier
from storelink.connectors.bing.models import parse_wcf_date
from storelink.errors import ErrorKind


def classifier(secret: str | None = None) -> BingClassifier:
    return BingClassifier(
        secret=secret, title="Bing Webmaster Tools", connector="bing", credential_hint="BING_WMT_API_KEY"
    )


def response(status: int, body: object, content_type: str = "application/json; charset=utf-8") -> httpx2.Response:
    return httpx2.Response(status, content=json.dumps(body).encode(), headers={"content-type": content_type})


@pytest.mark.parametrize(
    ("code", "kind", "retry"),
    [
        (1, ErrorKind.UNAVAILABLE, True),
        (2, ErrorKind.UNAVAILABLE, True),
        (3, ErrorKind.UNAUTHORIZED, False),
        (4, ErrorKind.RATE_LIMITED, True),
        (5, ErrorKind.RATE_LIMITED, True),
        (6, ErrorKind.FORBIDDEN, False),
        (7, ErrorKind.INVALID_REQUEST, False),
        (8, ErrorKind.INVALID_REQUEST, False),
        (11, ErrorKind.NOT_FOUND, False),
        (13, ErrorKind.FORBIDDEN, False),
        (14, ErrorKind.FORBIDDEN, False),
        (16, ErrorKind.INVALID_REQUEST, False),
        (18, ErrorKind.UNAUTHORIZED, False),
        (99, ErrorKind.INVALID_REQUEST, False),
    ],
)
def test_error_codes_arrive_as_400_and_map_by_code(code: int, kind: ErrorKind, retry: bool) -> None:
    verdict = classifier().classify_response(response(400, {"ErrorCode": code, "Message": "ERROR!!! Whatever"}))
    assert verdict.kind is kind
    assert verdict.should_retry is retry
    assert verdict.upstream_code == (BING_ERRORS[code].name if code in BING_ERRORS else f"ErrorCode{code}")


def test_throttling_says_nothing_was_applied() -> None:
    verdict = classifier().classify_response(response(400, {"ErrorCode": 4, "Message": "ERROR!!! ThrottleUser"}))
    assert verdict.maybe_applied is False and verdict.retry_after_s == 10.0


def test_the_code_wins_over_the_text() -> None:
    verdict = classifier().classify_response(response(400, {"ErrorCode": 3, "Message": "ERROR!!! ThrottleUser"}))
    assert verdict.kind is ErrorKind.UNAUTHORIZED


def test_a_key_echoed_by_bing_is_scrubbed() -> None:
    key = "abcdef0123456789abcdef0123456789"
    body = {"ErrorCode": 8, "Message": f"ERROR!!! InvalidParameter: apikey {key} is odd"}
    verdict = classifier(secret=key).classify_response(response(400, body))
    assert key not in verdict.message and "***" in verdict.message


def test_ok_without_the_envelope_breaks_the_contract() -> None:
    verdict = classifier().classify_response(response(200, [{"Url": "x"}]))
    assert verdict.kind is ErrorKind.UPSTREAM_ERROR
    assert classifier().classify_response(response(200, {"d": None})).ok


def test_gateway_html_is_unavailable() -> None:
    html = httpx2.Response(502, content=b"<html>Bad Gateway</html>", headers={"content-type": "text/html"})
    verdict = classifier().classify_response(html)
    assert verdict.kind is ErrorKind.UNAVAILABLE and verdict.should_retry


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/Date(1316156400000-0700)/", dt.datetime(2011, 9, 16, 7, 0, tzinfo=dt.UTC)),
        ("/Date(1716015600000)/", dt.datetime(2024, 5, 18, 7, 0, tzinfo=dt.UTC)),
        ("/Date(1716015600000+0200)/", dt.datetime(2024, 5, 18, 7, 0, tzinfo=dt.UTC)),  # offset is presentational
        ("/Date(-62135596800000)/", None),  # DateTime.MinValue: unset
        (None, None),
    ],
)
def test_wcf_dates(text: str | None, expected: dt.datetime | None) -> None:
    assert parse_wcf_date(text) == expected


@pytest.mark.parametrize("bad", ["2024-05-18", "/Date(abc)/", 1716015600000, "/Date(1716015600000-07)/"])
def test_wcf_date_rejects_other_shapes(bad: object) -> None:
    with pytest.raises(ValueError, match="WCF"):
        parse_wcf_date(bad)
