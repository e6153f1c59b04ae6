"""Canonical URLs: one spelling per page."""

from __future__ import annotations

import pytest

from storelink.rag.urls import canonical_url, origin_of, same_origin


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTPS://WWW.Example.com:443/a/", "https://www.example.com/a"),
        ("http://example.com:80/", "http://example.com/"),
        ("http://example.com", "http://example.com/"),
        ("https://example.com/a/./b/../c#frag", "https://example.com/a/c"),
        ("https://example.com/p?utm_source=x&b=2&a=1&fbclid=z", "https://example.com/p?a=1&b=2"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("http://127.0.0.1:9100/pages/faq/", "http://127.0.0.1:9100/pages/faq"),
    ],
)
def test_canonical_spelling(raw: str, expected: str) -> None:
    assert canonical_url(raw) == expected


@pytest.mark.parametrize(
    "raw", ["mailto:a@example.com", "javascript:void(0)", "ftp://example.com/x", "https://e.com/logo.png", "tel:123"]
)
def test_non_pages_are_dropped(raw: str) -> None:
    assert canonical_url(raw) is None


def test_relative_links_resolve_against_the_page() -> None:
    assert canonical_url("../faq", "https://shop.test/pages/guides/x") == "https://shop.test/pages/faq"
    assert canonical_url("/cart", "https://shop.test/a") == "https://shop.test/cart"


def test_origin() -> None:
    assert origin_of("https://Shop.test/a/b?q=1") == "https://shop.test"
    assert same_origin("https://shop.test/a", "https://shop.test")
    assert not same_origin("https://other.test/a", "https://shop.test")
    assert not same_origin("http://shop.test/a", "https://shop.test")
