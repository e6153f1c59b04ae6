"""valid_shop: only name.myshopify.com passes, normalised; everything else is invalid_request."""

from __future__ import annotations

import pytest

from storelink.errors import ConnectorError, ErrorKind
from storelink.shopify_app.shops import shop_name, valid_shop


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("acme.myshopify.com", "acme.myshopify.com"),
        ("  Acme-Parts.MyShopify.com ", "acme-parts.myshopify.com"),
        ("https://acme.myshopify.com/", "acme.myshopify.com"),
        ("0acme.myshopify.com", "0acme.myshopify.com"),
    ],
)
def test_a_shop_domain_is_normalised(given: str, expected: str) -> None:
    assert valid_shop(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "",
        "acme",
        "acme.example.com",
        "acme.myshopify.com.evil.com",
        "evil.com/acme.myshopify.com",
        "acme.myshopify.com@evil.com",
        "-acme.myshopify.com",
        "ac_me.myshopify.com",
        "acme.myshopify.com:8443",
        "http://acme.myshopify.com",
        "a.b.myshopify.com",
        "acme.myshopify.com\nevil.com",
        "x" * 300 + ".myshopify.com",
    ],
)
def test_anything_else_is_refused(given: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        valid_shop(given)
    assert caught.value.kind is ErrorKind.INVALID_REQUEST
    assert "myshopify.com" in caught.value.message


def test_shop_name() -> None:
    assert shop_name("acme-parts.myshopify.com") == "acme-parts"
