"""The Search Console API, faked over searches for the demo store's products.

Routes (api-facts.md §3): ``POST /webmasters/v3/sites/{siteUrl}/searchAnalytics/query``,
``GET /webmasters/v3/sites``, ``GET /webmasters/v3/sites/{siteUrl}/sitemaps``,
``POST /v1/urlInspection/index:inspect``, and the Google token endpoint beside them.

The data: about a thousand (query, page) pairs built from :func:`storelink.fakes.data.demo_store`
(exact product titles, "line type vehicle", "vehicle type" landing on the best seller, head terms
on collection pages, brand queries on the home page, how-to queries on blog posts), pages at the
store's own URLs. Each pair has a base volume, an average position and a CTR drawn from a
position curve (:func:`expected_ctr`), modulated per day by season, weekday and deterministic
noise; days are computed on demand for any date up to the fake's ``today`` (Pacific). Rows are
sorted by clicks; paging is ``startRow``/``rowLimit`` (≤ 25,000). A query computes only the top
rows its page needs (at most :data:`MAX_DEPTH`), in a worker thread, so a 486-day five-dimension
query neither holds its 1.8 M rows nor stalls the event loop it shares with the server. Country and device splits are
integer apportionments of each pair's impressions. ``searchAppearance`` can only be grouped alone
(the "two-step" rule) and filtered on otherwise.

Planted for analytics (:attr:`GscFake.signals`): striking-distance queries (positions 4–20 with
many impressions), queries whose CTR is far below the curve, pages losing clicks over the last
weeks, queries on which two pages compete (their positions swap from day to day), and product
pages Google crawled but did not index.

Limits (§3.5): 1,200 Search Analytics queries per minute per site, 600 URL inspections per minute
and 2,000 per day per site, 200 other requests per minute (20 per second) per user; a short-term
load budget per 10 minutes (:attr:`GscFake.load_budget`, unpublished by Google, so configurable)
answers 403 "Search Analytics load quota exceeded (short-term)". Final data stops three days
before ``today``; ``dataState=all`` adds the last two days (incomplete) and ``metadata``.

The package: :mod:`.app` (routes and checks), :mod:`.analytics` (the Search Analytics engine),
:mod:`.traffic` (the search data and its signals) and :mod:`.quotas` (request windows and the load
budget).
"""

from storelink.fakes.gsc.app import GscFake
from storelink.fakes.gsc.traffic import DEMO_SITE, SITE_ORIGIN, GscSignals, GscTraffic, expected_ctr

__all__ = ["DEMO_SITE", "SITE_ORIGIN", "GscFake", "GscSignals", "GscTraffic", "expected_ctr"]
