"""Site fetching stays on the site (issue 14, finding 4).

Same origin (scheme, host and port, exactly) is the rule for every URL discovered or fetched:
sitemaps named by robots.txt, sitemap-index children, links, and redirect targets. A same-origin
redirect is followed and the page kept under its final URL; a cross-origin one is refused and
reported, never stored. Two small Starlette apps stand in for the shop and another server; the
real fetcher, pipeline and cache run over in-process ASGI transports.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from storelink.fakes.base import InProcessTransport
from storelink.rag.knowledge import SiteKnowledge
from storelink.settings import SiteKnobs
from storelink.store import EmbeddedStore
from tests.conftest import make_settings

SHOP = "http://shop.test"
ELSEWHERE = "http://elsewhere.test"


def _page(title: str, body: str, links: tuple[str, ...] = ()) -> Response:
    anchors = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    html = (
        f"<!doctype html><html><head><title>{title}</title></head><body><main><h1>{title}</h1>"
        f"<p>{body}</p><ul>{anchors}</ul></main></body></html>"
    )
    return Response(html, media_type="text/html")


def _urlset(*urls: str) -> Response:
    items = "".join(f"<url><loc>{u}</loc></url>" for u in urls)
    xml = f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</urlset>'
    return Response(xml, media_type="application/xml")


def _index(*urls: str) -> Response:
    items = "".join(f"<sitemap><loc>{u}</loc></sitemap>" for u in urls)
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</sitemapindex>'
    )
    return Response(xml, media_type="application/xml")


class Shop:
    """The configured site. ``/moved`` redirects on the site; ``/away``, ``/tls``, ``/port`` and
    ``/sitemap-hop.xml`` redirect to another origin; robots.txt and the index name another origin."""

    def __init__(self) -> None:
        self.away_target = f"{ELSEWHERE}/page"
        routes = [
            Route("/robots.txt", self.robots),
            Route("/sitemap.xml", self.sitemap_index),
            Route("/sitemap-pages.xml", self.sitemap_pages),
            Route("/sitemap-hop.xml", lambda r: RedirectResponse(f"{ELSEWHERE}/sitemap-hop.xml", 301)),
            Route("/", lambda r: _page("Home", "Welcome to the shop.", ("/a", "/moved", "/away", "/tls", "/port"))),
            Route("/a", lambda r: _page("Page A", "Alpha brake pads are in stock.")),
            Route("/moved", lambda r: RedirectResponse("/b", 301)),
            Route("/b", lambda r: _page("Page B", "Bravo exhaust systems ship in two days.")),
            Route("/away", lambda r: RedirectResponse(self.away_target, 302)),
            Route("/tls", lambda r: RedirectResponse("https://shop.test/tls", 301)),  # another scheme
            Route("/port", lambda r: RedirectResponse("http://shop.test:8080/port", 301)),  # another port
        ]
        self.app = Starlette(routes=routes)

    async def robots(self, request: Request) -> Response:
        return PlainTextResponse(
            f"User-agent: *\nAllow: /\nSitemap: {ELSEWHERE}/sitemap.xml\nSitemap: {SHOP}/sitemap.xml\n"
        )

    async def sitemap_index(self, request: Request) -> Response:
        return _index(f"{SHOP}/sitemap-pages.xml", f"{ELSEWHERE}/sitemap-more.xml", f"{SHOP}/sitemap-hop.xml")

    async def sitemap_pages(self, request: Request) -> Response:
        return _urlset(f"{SHOP}/", f"{SHOP}/a", f"{SHOP}/moved", f"{SHOP}/away", f"{ELSEWHERE}/listed")


class Elsewhere:
    """Another server: answers everything with content that must never reach the store."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()

        async def anything(request: Request) -> Response:
            self.hits[request.url.path] += 1
            if request.url.path.endswith(".xml"):
                return _urlset(f"{ELSEWHERE}/planted", f"{SHOP}/planted")
            return _page("Elsewhere", "Planted content from another server.", (f"{SHOP}/planted",))

        self.app = Starlette(routes=[Route("/{path:path}", anything)])


class Hosts(httpx2.AsyncBaseTransport):
    """Route by (scheme, host, port) to in-process apps; anything else is unreachable."""

    def __init__(self, apps: dict[str, InProcessTransport]) -> None:
        self.apps = apps
        self.requested: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
        self.requested[origin] += 1
        app = self.apps.get(origin)
        if app is None:
            raise httpx2.ConnectError(f"no route to {origin}", request=request)
        return await app.handle_async_request(request)


@pytest.fixture
def shop() -> Shop:
    return Shop()


@pytest.fixture
def elsewhere() -> Elsewhere:
    return Elsewhere()


@pytest.fixture
def hosts(shop: Shop, elsewhere: Elsewhere) -> Hosts:
    return Hosts({SHOP: InProcessTransport(shop.app), ELSEWHERE: InProcessTransport(elsewhere.app)})


async def _open(tmp_path: Path, hosts: Hosts) -> SiteKnowledge:
    # Live mode against SHOP, with the response cache on (SiteKnowledge always has one) and no pacing.
    settings = make_settings(tmp_path, site_url=SHOP, site=SiteKnobs(rate_limit=1000.0, rate_burst=1000.0))
    return await SiteKnowledge.open(settings, store=EmbeddedStore(None), transport=hosts, dense=False)


def _paths(urls: list[str] | set[str]) -> set[str]:
    return {u.removeprefix(SHOP) or "/" for u in urls}


async def test_discover_fetches_only_the_configured_origin(tmp_path: Path, hosts: Hosts, elsewhere: Elsewhere) -> None:
    kb = await _open(tmp_path, hosts)
    try:
        report = await kb.discover()
        found = set(kb.docs.urls())
    finally:
        await kb.aclose()
    # Nothing was requested from another origin: not the robots.txt sitemap, not the index's child,
    # not a redirect target (another host, another scheme, another port).
    assert set(hosts.requested) == {SHOP}, hosts.requested
    assert not elsewhere.hits
    # The same-origin redirect is followed and kept under its final URL; the off-site ones are not kept.
    assert _paths(found) == {"/", "/a", "/b"}
    assert report.urls == 3
    # Each refusal is reported, with its reason.
    assert report.off_site == 7  # 2 sitemaps named off-site, 1 sitemap redirect, /away, /tls, /port, 1 listed page
    notes = "\n".join(report.off_site_notes)
    assert f"{ELSEWHERE}/sitemap.xml" in notes and "robots.txt" in notes
    assert f"{SHOP}/away" in notes and f"{ELSEWHERE}/page" in notes and "redirect" in notes
    assert f"{SHOP}/port" in notes and f"{SHOP}/tls" in notes


async def test_ingest_refuses_a_page_that_now_redirects_off_site(
    tmp_path: Path, hosts: Hosts, shop: Shop, elsewhere: Elsewhere
) -> None:
    kb = await _open(tmp_path, hosts)
    try:
        await kb.discover()
        first = await kb.ingest(embed=False)
        assert first.updated == 3 and first.failed == 0 and first.off_site == 0
        assert kb.docs.page(f"{SHOP}/b") is not None  # stored under the redirect's final URL
        assert kb.docs.page(f"{SHOP}/moved") is None

        # /a starts redirecting to another server after discovery: ingest must not store that server's page.
        shop.app.router.routes.insert(0, Route("/a", lambda r: RedirectResponse(f"{ELSEWHERE}/a", 301)))
        again = await kb.ingest(embed=False)
        stored = kb.docs.page(f"{SHOP}/a")
    finally:
        await kb.aclose()
    assert not elsewhere.hits and set(hosts.requested) == {SHOP}
    assert again.off_site == 1 and again.failed == 0
    assert stored is not None and "Alpha brake pads" in stored.text  # the site's own page, kept as it was
    assert all("Planted" not in c.text for c in kb.docs.chunks())


async def test_ingest_stores_a_same_origin_redirect_under_its_final_url(tmp_path: Path, hosts: Hosts) -> None:
    kb = await _open(tmp_path, hosts)
    try:
        report = await kb.ingest(f"{SHOP}/moved", embed=False)
        moved, final = kb.docs.page(f"{SHOP}/moved"), kb.docs.page(f"{SHOP}/b")
        urls = set(kb.docs.urls())
    finally:
        await kb.aclose()
    assert report.updated == 1
    assert moved is None and final is not None and "Bravo exhaust" in final.text
    assert f"{SHOP}/b" in urls and f"{SHOP}/moved" not in urls


async def test_ingest_of_one_off_site_page_is_refused_with_the_reason(tmp_path: Path, hosts: Hosts) -> None:
    kb = await _open(tmp_path, hosts)
    try:
        report = await kb.ingest(f"{SHOP}/away", embed=False)
        assert kb.docs.page(f"{SHOP}/away") is None and not kb.docs.chunks()
    finally:
        await kb.aclose()
    assert (report.off_site, report.updated) == (1, 0)
    assert f"{SHOP}/away" in report.off_site_notes[0] and f"{ELSEWHERE}/page" in report.off_site_notes[0]
    assert set(hosts.requested) == {SHOP}


async def test_fetcher_follows_same_origin_redirects_through_the_cache(tmp_path: Path, hosts: Hosts) -> None:
    """With the cache on (the default), a redirect used to abort with httpx2.RequestNotRead."""
    kb = await _open(tmp_path, hosts)
    try:
        first = await kb.fetcher.get(f"{SHOP}/moved")
        second = await kb.fetcher.get(f"{SHOP}/moved")
    finally:
        await kb.aclose()
    assert first.url == second.url == f"{SHOP}/b"
    assert first.status == second.status == 200 and b"Bravo exhaust" in second.content
    assert second.source == "cache-fresh"
