"""Discovery over the demo site: robots.txt, the sitemap index (gzip too), the bounded crawl."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storelink.fakes.site import DISALLOWED_PREFIXES, SiteFake
from storelink.observability.metrics import Metrics
from storelink.rag.discover import CrawlLimits
from storelink.rag.fetch import SiteFetcher
from storelink.resilience.cache import ResponseCache
from storelink.settings import ConnectorKnobs
from storelink.store import EmbeddedStore
from tests.conftest import make_settings
from tests.rag.conftest import ConnectTo, open_kb, paths, serve_on_loopback


async def test_discover_finds_every_sitemap_url_and_the_orphans(tmp_path: Path) -> None:
    fake = SiteFake()
    async with open_kb(tmp_path, fake) as kb:
        report = await kb.discover()
        found = paths(kb.docs.urls())
    assert fake.sitemap_paths() <= found  # every sitemap URL, the gzipped product sitemap included
    assert fake.orphan_paths() <= found  # and the pages only links lead to
    assert found == fake.sitemap_paths() | fake.orphan_paths()  # and nothing else: no duplicates
    assert report.from_crawl == len(fake.orphan_paths()) == 8
    assert report.sitemaps_read == 4  # the index and its three sitemaps
    assert report.duplicates > 0  # /collections/<type>/products/<handle> and ?variant= merged by canonical
    assert not any(p.startswith(DISALLOWED_PREFIXES) for p in found)
    assert report.disallowed >= 3 and not report.truncated


async def test_discover_never_requests_what_robots_forbids(tmp_path: Path) -> None:
    fake = SiteFake(products=12)
    async with open_kb(tmp_path, fake) as kb:
        await kb.discover()
    requested = {key.split(" ", 1)[1] for key in fake.stats}
    assert "/robots.txt" in requested and "/sitemap-products.xml.gz" in requested
    assert not any(path.startswith(DISALLOWED_PREFIXES) for path in requested)


async def test_canonical_urls_have_no_duplicates(tmp_path: Path) -> None:
    fake = SiteFake(products=12)
    async with open_kb(tmp_path, fake) as kb:
        await kb.discover()
        urls = kb.docs.urls()
    assert len(urls) == len(set(urls))
    assert not any("?" in u or ("/collections/" in u and "/products/" in u) for u in urls)


async def test_crawl_bounds_are_kept(tmp_path: Path) -> None:
    fake = SiteFake(products=12)
    async with open_kb(tmp_path, fake) as kb:
        report = await kb.discover(limits=CrawlLimits(max_pages=10, concurrency=5))
    assert report.truncated
    assert report.pages_fetched <= 10


@pytest.mark.looptime
async def test_crawl_delay_paces_requests(tmp_path: Path) -> None:
    fake = SiteFake(products=3, crawl_delay_s=2.0)
    async with open_kb(tmp_path, fake) as kb:
        loop = asyncio.get_running_loop()
        started = loop.time()
        report = await kb.discover()
        elapsed = loop.time() - started
    assert report.crawl_delay_s == 2.0
    requests = sum(fake.stats.values())
    # One request per 2 s after robots.txt (the limiter starts with one token).
    assert elapsed >= (requests - 2) * 2.0
    assert kb.fetcher.crawl_delay_s == 2.0


@pytest.mark.slow
async def test_discover_over_a_loopback_server_by_hostname(tmp_path: Path) -> None:
    """A real HTTP server on 127.0.0.1, addressed as a hostname (trafilatura refuses IPs)."""
    fake = SiteFake(products=6)
    async with serve_on_loopback(fake) as port:
        settings = make_settings(tmp_path, site_url="http://demo-store.test")
        store = EmbeddedStore(None)
        fetcher = SiteFetcher.for_settings(
            settings, metrics=Metrics(), cache=ResponseCache(store), transport=ConnectTo("demo-store.test", port)
        )
        assert fetcher.mode == "live"
        assert fetcher.knobs.rate_limit == 10.0  # polite to a live site by default: 10 requests/s
        await fetcher.aclose()
        fast = ConnectorKnobs(rate_limit=1000.0, rate_burst=1000.0, cache_ttl=3600.0)
        fetcher = SiteFetcher(
            settings,
            base_url="http://demo-store.test",
            inner=ConnectTo("demo-store.test", port),
            metrics=Metrics(),
            cache=ResponseCache(store),
            mode="live",
            knobs=fast,
        )
        from storelink.rag.discover import discover
        from storelink.rag.docstore import KnowledgeStore

        docs = KnowledgeStore(store)
        try:
            report = await discover(fetcher, docs)
        finally:
            await fetcher.aclose()
    found = {u.removeprefix("http://demo-store.test") or "/" for u in docs.urls()}
    assert report.origin == "http://demo-store.test"
    assert found == fake.sitemap_paths() | fake.orphan_paths()
