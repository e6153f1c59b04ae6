"""The GA4 Data API v1beta, faked over a year of traffic consistent with the demo store.

Routes (api-facts.md §2): ``POST /v1beta/properties/{id}:runReport``, ``…:runRealtimeReport``,
``GET /v1beta/properties/{id}/metadata``; the Google token endpoint is mounted beside them
(:class:`~storelink.fakes.google_auth.GoogleTokenFake`), so one in-process app answers a
connector's API calls and token exchanges alike.

Data (built from :func:`storelink.fakes.data.demo_store`, dates in the property's time zone, the
shop's ``America/New_York``): per day, **transactions and revenue equal the demo store's orders**
(count and ``current_total_price``); sessions, users, engagement and page views follow from them
with a weekly cycle and noise. Three cubes can be asked for, as in GA4 where scopes do not mix:

* sessions: date, sessionDefaultChannelGroup, sessionSource, sessionMedium, sessionSourceMedium,
  deviceCategory, country × sessions, totalUsers, newUsers, activeUsers, engagedSessions,
  screenPageViews, userEngagementDuration, keyEvents (= conversions), transactions,
  ecommercePurchases, purchaseRevenue, totalRevenue and the rates. Splits are integer
  apportionments (largest remainder), so a split always adds up to the day's total; the country
  split of transactions and revenue is the orders' own shipping countries.
* pages: date, pagePath, pageTitle, hostName × screenPageViews, activeUsers, totalUsers,
  sessions, userEngagementDuration.
* items: date, itemId (the Shopify product id), itemName, itemCategory, itemBrand × itemsViewed,
  itemsAddedToCart, itemsPurchased (the orders' units, exactly), itemRevenue.

Asking across cubes answers 400 as GA4 does for incompatible fields. Planted for analytics
(:attr:`Ga4Fake.signals`): product pages with many views and few purchases (dead stock that still
draws visitors).

Quotas, with the real numbers per property (§2.4; :class:`QuotaLimits`): tokens per day (reset at
midnight Pacific), per hour and per project per hour (reset at the full hour), server errors per
hour, and concurrency: a request arriving while ``concurrent`` are already in flight is refused
with 429 ``Exhausted concurrent requests quota.``. Any exhausted bucket refuses every request with
its message. Every 5xx the app answers, injected faults included, counts as a server error.
:attr:`Ga4Fake.peak_in_flight` is the most requests it ever had in flight for one property;
``GET /_fake/quota`` reports it with the most server errors in an hour and the refusals, and
``DELETE /_fake/quota`` starts the counts (and the quotas) afresh.

The package: :mod:`.app` (routes, checks and quota charging), :mod:`.reports` (the report engine,
with :mod:`.filters`), :mod:`.traffic` (the traffic model), :mod:`.catalogue` (dimensions, metrics
and shares) and :mod:`.quota` (limits and usage).
"""

from storelink.fakes.ga4.app import DEMO_PROPERTY_ID, Ga4Fake
from storelink.fakes.ga4.quota import QuotaLimits
from storelink.fakes.ga4.traffic import Ga4Signals, apportion

__all__ = ["DEMO_PROPERTY_ID", "Ga4Fake", "Ga4Signals", "QuotaLimits", "apportion"]
