"""How the Shopify fake writes values: global ids (``gid://shopify/Type/N``), money and times.

``MoneyV2.amount`` is a ``Decimal`` string with trailing zeros dropped ("29.0"); timestamps are UTC
to the second with a ``Z``. ``Json`` is the type of every JSON object the fake builds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["Json"]


_GID = re.compile(r"^gid://shopify/(?P<type>\w+)/(?P<id>\d+)(?:\?(?P<params>.*))?$")
Json = dict[str, Any]


def _gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


def _parse_gid(gid: str) -> tuple[str, int, Mapping[str, str]] | None:
    match = _GID.match(gid)
    if match is None:
        return None
    return match["type"], int(match["id"]), dict(parse_qsl(match["params"] or ""))


def _iso(moment: datetime | None) -> str | None:
    """``2026-11-24T18:30:00Z`` (isoformat is several times faster than strftime)."""
    if moment is None:
        return None
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def _decimal(amount: Decimal) -> str:
    """Shopify's Decimal scalar: no trailing zeros, at least one decimal ("29.0", "19.95")."""
    text = format(amount.normalize(), "f")
    return text if "." in text else f"{text}.0"


def _money(amount: Decimal, currency: str) -> Json:
    return {"amount": _decimal(amount), "currencyCode": currency}


class _MoneyBag:
    """A ``MoneyBag`` whose amounts are formatted only when selected (views hold many of them)."""

    __slots__ = ("_amount", "_currency")

    def __init__(self, amount: Decimal, currency: str) -> None:
        self._amount, self._currency = amount, currency

    @property
    def shopMoney(self) -> Json:  # camelCase: property names are the GraphQL field names
        return _money(self._amount, self._currency)

    @property
    def presentmentMoney(self) -> Json:
        return _money(self._amount, self._currency)
