"""What the fake GA4 property knows: its dimensions and metrics (with their types), the cubes they
combine into, and the fixed shares its traffic is split by (sources, devices, countries, weekdays)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

HOST = "www.apexperformanceparts.example"


INT, FLOAT, SECONDS, CURRENCY = "TYPE_INTEGER", "TYPE_FLOAT", "TYPE_SECONDS", "TYPE_CURRENCY"


_DIMENSIONS: dict[str, tuple[str, str]] = {  # name -> (ui name, category)
    "date": ("Date", "Time"),
    "sessionDefaultChannelGroup": ("Session default channel group", "Traffic source"),
    "sessionSource": ("Session source", "Traffic source"),
    "sessionMedium": ("Session medium", "Traffic source"),
    "sessionSourceMedium": ("Session source / medium", "Traffic source"),
    "deviceCategory": ("Device category", "Platform / device"),
    "country": ("Country", "Geography"),
    "pagePath": ("Page path", "Page / screen"),
    "pageTitle": ("Page title", "Page / screen"),
    "hostName": ("Hostname", "Page / screen"),
    "itemId": ("Item ID", "Ecommerce"),
    "itemName": ("Item name", "Ecommerce"),
    "itemCategory": ("Item category", "Ecommerce"),
    "itemBrand": ("Item brand", "Ecommerce"),
    "unifiedScreenName": ("Page title and screen name", "Page / screen"),
    "minutesAgo": ("Realtime minutes ago", "Time"),
    "platform": ("Platform", "Platform / device"),
}


_METRICS: dict[str, tuple[str, str, str]] = {  # name -> (ui name, type, category)
    "sessions": ("Sessions", INT, "Session"),
    "totalUsers": ("Total users", INT, "User"),
    "newUsers": ("New users", INT, "User"),
    "activeUsers": ("Active users", INT, "User"),
    "engagedSessions": ("Engaged sessions", INT, "Session"),
    "screenPageViews": ("Views", INT, "Page / screen"),
    "userEngagementDuration": ("User engagement", SECONDS, "User"),
    "keyEvents": ("Key events", INT, "Event"),
    "conversions": ("Conversions", INT, "Event"),
    "transactions": ("Transactions", INT, "Ecommerce"),
    "ecommercePurchases": ("Ecommerce purchases", INT, "Ecommerce"),
    "purchaseRevenue": ("Purchase revenue", CURRENCY, "Revenue"),
    "totalRevenue": ("Total revenue", CURRENCY, "Revenue"),
    "engagementRate": ("Engagement rate", FLOAT, "Session"),
    "bounceRate": ("Bounce rate", FLOAT, "Session"),
    "averageSessionDuration": ("Average session duration", SECONDS, "Session"),
    "sessionKeyEventRate": ("Session key event rate", FLOAT, "Session"),
    "screenPageViewsPerSession": ("Views per session", FLOAT, "Page / screen"),
    "itemsViewed": ("Items viewed", INT, "Ecommerce"),
    "itemsAddedToCart": ("Items added to cart", INT, "Ecommerce"),
    "itemsPurchased": ("Items purchased", INT, "Ecommerce"),
    "itemRevenue": ("Item revenue", CURRENCY, "Ecommerce"),
    "eventCount": ("Event count", INT, "Event"),
}


# Sum metrics per cube; ratio metrics are computed from sums after grouping.
_SESSION_SUMS = (
    "sessions",
    "totalUsers",
    "newUsers",
    "activeUsers",
    "engagedSessions",
    "screenPageViews",
    "userEngagementDuration",
    "keyEvents",
    "transactions",
    "totalRevenue",
)


_RATIOS: dict[str, Callable[[dict[str, float]], float]] = {
    "engagementRate": lambda s: s["engagedSessions"] / s["sessions"] if s["sessions"] else 0.0,
    "bounceRate": lambda s: 1 - s["engagedSessions"] / s["sessions"] if s["sessions"] else 0.0,
    "averageSessionDuration": lambda s: s["userEngagementDuration"] / s["sessions"] if s["sessions"] else 0.0,
    "sessionKeyEventRate": lambda s: s["keyEvents"] / s["sessions"] if s["sessions"] else 0.0,
    "screenPageViewsPerSession": lambda s: s["screenPageViews"] / s["sessions"] if s["sessions"] else 0.0,
}


_ALIASES = {
    "conversions": "keyEvents",
    "ecommercePurchases": "transactions",
    "purchaseRevenue": "totalRevenue",
}


@dataclass(frozen=True)
class _Cube:
    name: str
    dimensions: frozenset[str]
    metrics: frozenset[str]


_CUBES = (
    _Cube(
        "sessions",
        frozenset(
            {
                "date",
                "sessionDefaultChannelGroup",
                "sessionSource",
                "sessionMedium",
                "sessionSourceMedium",
                "deviceCategory",
                "country",
            }
        ),
        frozenset([*_SESSION_SUMS, *_RATIOS, *_ALIASES]),
    ),
    _Cube(
        "pages",
        frozenset(["date", "pagePath", "pageTitle", "hostName"]),
        frozenset(["screenPageViews", "activeUsers", "totalUsers", "sessions", "userEngagementDuration"]),
    ),
    _Cube(
        "items",
        frozenset(["date", "itemId", "itemName", "itemCategory", "itemBrand"]),
        frozenset(["itemsViewed", "itemsAddedToCart", "itemsPurchased", "itemRevenue"]),
    ),
)


_REALTIME = _Cube(
    "realtime",
    frozenset(["unifiedScreenName", "country", "deviceCategory", "minutesAgo", "platform"]),
    frozenset(["activeUsers", "screenPageViews", "eventCount", "keyEvents"]),
)


# Traffic sources: (channel, source, medium, session weight, conversion weight).
_SOURCES = (
    ("Organic Search", "google", "organic", 0.345, 0.30),
    ("Organic Search", "bing", "organic", 0.03, 0.028),
    ("Organic Search", "duckduckgo", "organic", 0.008, 0.006),
    ("Direct", "(direct)", "(none)", 0.20, 0.22),
    ("Paid Search", "google", "cpc", 0.14, 0.18),
    ("Email", "newsletter", "email", 0.06, 0.13),
    ("Organic Social", "instagram.com", "referral", 0.05, 0.02),
    ("Organic Social", "youtube.com", "referral", 0.04, 0.02),
    ("Referral", "forums.miata.example", "referral", 0.04, 0.035),
    ("Referral", "ft86club.example", "referral", 0.03, 0.025),
    ("Paid Social", "facebook.com", "cpc", 0.04, 0.017),
    ("Unassigned", "(not set)", "(not set)", 0.017, 0.019),
)


_DEVICES = (("mobile", 0.59, 0.43), ("desktop", 0.36, 0.52), ("tablet", 0.05, 0.05))


_COUNTRIES = {
    "US": "United States",
    "CA": "Canada",
    "GB": "United Kingdom",
    "AU": "Australia",
    "DE": "Germany",
    "NZ": "New Zealand",
    "IE": "Ireland",
}


_COUNTRY_SESSIONS = {"US": 0.74, "CA": 0.08, "GB": 0.07, "AU": 0.045, "DE": 0.03, "NZ": 0.02, "IE": 0.015}


_WEEKLY = (1.0, 1.03, 1.02, 0.99, 0.93, 1.06, 1.1)  # Monday … Sunday


def metadata_body(property_name: str) -> dict[str, Any]:
    return {
        "name": f"{property_name}/metadata",
        "dimensions": [
            {"apiName": name, "uiName": ui, "category": category, "description": f"{ui}.", "customDefinition": False}
            for name, (ui, category) in _DIMENSIONS.items()
        ],
        "metrics": [
            {"apiName": name, "uiName": ui, "type": kind, "category": category, "description": f"{ui}."}
            for name, (ui, kind, category) in _METRICS.items()
        ],
    }
