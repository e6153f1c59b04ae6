"""Shop domains: the one check every shop name coming from a browser, a query or a token passes.

Shopify's rule for the ``shop`` parameter: a hostname that ends in ``myshopify.com`` and holds only
letters, digits, periods and hyphens (``^[a-zA-Z0-9][a-zA-Z0-9-]*\\.myshopify\\.com``; see
docs/shopify-app.md, sources). Anything else is refused before storelink sends a request or a
redirect anywhere, so a crafted ``shop`` can never point the install at another host.
"""

from __future__ import annotations

import re

from storelink.errors import ConnectorError, ErrorKind, clip

__all__ = ["shop_name", "valid_shop"]

_SHOP = re.compile(r"[a-z0-9][a-z0-9-]*\.myshopify\.com")


def valid_shop(shop: str) -> str:
    """``shop`` as ``name.myshopify.com`` (lower case; an ``https://`` prefix and a trailing slash are
    dropped), or ``ConnectorError(invalid_request)``."""
    text = shop.strip().lower().removeprefix("https://").removesuffix("/")
    if len(text) > 255 or _SHOP.fullmatch(text) is None:
        raise ConnectorError(
            ErrorKind.INVALID_REQUEST,
            f"{clip(shop, 80)!r} is not a shop domain: give the shop's name.myshopify.com address "
            "(letters, digits and hyphens, then .myshopify.com).",
        )
    return text


def shop_name(shop: str) -> str:
    """The ``name`` of ``name.myshopify.com`` (``shop`` already valid)."""
    return shop.removesuffix(".myshopify.com")
