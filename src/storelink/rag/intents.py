"""Live-data intents: questions a connector answers better than the site's pages.

"How many orders yesterday?" is not in any page; Shopify's ``sales_summary`` knows. The router
tries these after the corrections and before retrieval. Each intent is a set of regexes that
must all match, the connector operation to call and how to build its parameters from the
question. The table is data, so adding an intent is adding a row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["INTENTS", "Intent", "match_intent", "summarise"]


def _days(question: str) -> int:
    text = question.lower()
    if found := re.search(r"\b(?:last|past)\s+(\d{1,3})\s+days?\b", text):
        return max(1, min(366, int(found.group(1))))
    if re.search(r"\b(?:yesterday|today)\b", text):
        return 1
    if re.search(r"\b(?:last|past|this)\s+week\b", text):
        return 7
    if re.search(r"\b(?:last|past|this)\s+month\b", text):
        return 30
    if re.search(r"\b(?:last|past|this)\s+year\b", text):
        return 365
    return 7


@dataclass(frozen=True, slots=True)
class Intent:
    name: str
    connector: str
    operation: str
    all_of: tuple[re.Pattern[str], ...]
    params: Callable[[str], dict[str, Any]]
    none_of: tuple[re.Pattern[str], ...] = ()

    def matches(self, question: str) -> bool:
        return all(p.search(question) for p in self.all_of) and not any(p.search(question) for p in self.none_of)


def _re(*patterns: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


INTENTS: tuple[Intent, ...] = (
    Intent(
        name="sales",
        connector="shopify",
        operation="sales_summary",
        all_of=_re(
            r"\b(orders?|sales|revenue|sold|turnover)\b",
            r"\b(yesterday|today|last|past|this|how many|how much)\b",
        ),
        none_of=_re(r"\b(cancel|change|track|return|refund|ship|shipping|deliver|policy|my order)\b"),
        params=lambda q: {"days": _days(q)},
    ),
    Intent(
        name="search_queries",
        connector="gsc",
        operation="search_analytics",
        all_of=_re(r"\b(top|best|most|popular)\b.*\b(queries|keywords|search terms|searches)\b|\bsearch console\b"),
        params=lambda q: {
            "dimensions": ["query"],
            "days": _days(q) if re.search(r"\d|week|month", q) else 28,
            "row_limit": 10,
        },
    ),
    Intent(
        name="low_stock",
        connector="shopify",
        operation="inventory_levels",
        all_of=_re(r"\b(low[- ]stock|running low|stock[- ]?outs?|out of stock|inventory levels?)\b"),
        none_of=_re(r"\b(when will|back in stock|notify)\b"),
        params=lambda q: {"only_low": True},
    ),
)


def match_intent(question: str, intents: tuple[Intent, ...] = INTENTS) -> Intent | None:
    return next((intent for intent in intents if intent.matches(question)), None)


def summarise(intent: Intent, data: Any) -> str:
    """One line a person can read; the data itself travels beside it."""
    if isinstance(data, dict) and isinstance(data.get("totals"), dict):
        t = data["totals"]
        cur = data.get("currency", "")
        return (
            f"{data.get('start')} to {data.get('end')}: {t.get('orders')} orders, {t.get('units')} units, "
            f"gross {t.get('gross')} {cur}, discounts {t.get('discounts')} {cur}, refunds {t.get('refunds')} {cur}."
        ).replace("  ", " ")
    if isinstance(data, dict):
        rows = next((v for v in data.values() if isinstance(v, list)), None)
        if rows is not None:
            return f"{intent.connector}.{intent.operation} returned {len(rows)} rows."
        scalars = {k: v for k, v in data.items() if isinstance(v, str | int | float)}
        return "; ".join(f"{k}: {v}" for k, v in list(scalars.items())[:8]) or f"{intent.operation} answered."
    return f"{intent.connector}.{intent.operation} answered."
