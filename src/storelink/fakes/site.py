"""The demo store's website: a few hundred pages for discovery, ingest and retrieval to work on offline.

It is the storefront of the demo store in :mod:`storelink.fakes.data` ("Apex Performance Parts"):
one page per published product (title, vendor, SKUs and prices from the catalogue), a collection
per product type, a buying-and-installation guide per product type, fitment notes per vehicle,
policies, FAQs, blog posts, and the navigation and boilerplate a real theme wraps them in.

What a crawler must cope with, planted on purpose:

* ``/robots.txt`` disallows ``/cart``, ``/account``, ``/checkout``, ``/search`` and
  ``/pages/internal/``, names the sitemap index, and has a ``Crawl-delay`` when one is set;
* ``/sitemap.xml`` is an index of three sitemaps, one of them gzipped (``.xml.gz``);
* :data:`ORPHAN_PATHS` are in no sitemap and only reachable through links;
* links to disallowed pages (``/cart``, ``/account/login``, ``/pages/internal/staff-pricing``);
* duplicates: collections link products as ``/collections/<type>/products/<handle>`` and with
  ``?variant=``; such pages declare ``<link rel="canonical">`` to ``/products/<handle>``;
* every page has an ``ETag`` and ``Last-Modified`` and answers a matching conditional request
  with 304, so an unchanged site costs only 304s.

Absolute URLs (sitemaps, canonicals) are built from the request's own host, so the same app
serves ``https://www.apexperformanceparts.example`` in-process and a loopback server by name.
Pages change through :meth:`SiteFake.edit_page`, :meth:`SiteFake.delete_page` and
:meth:`SiteFake.add_page` (or ``POST /_fake/site/pages``, ``DELETE /_fake/site/pages?path=``).
"""

from __future__ import annotations

import gzip
import hashlib
import html
import tomllib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from email.utils import format_datetime, parsedate_to_datetime
from importlib import resources
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from storelink.fakes.base import FakeUpstream
from storelink.fakes.data import DemoStore, Product, ProductStatus, demo_store
from storelink.fakes.faults import FaultPlan

__all__ = ["DISALLOWED_PREFIXES", "ORPHAN_PATHS", "SITE_HOST", "SiteFake", "SitePage", "slug"]

SITE_HOST = "www.apexperformanceparts.example"
DISALLOWED_PREFIXES = ("/cart", "/account", "/checkout", "/search", "/pages/internal/")
_SITE_DATE = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def slug(text: str) -> str:
    out = "".join(c.lower() if c.isalnum() else "-" for c in text)
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-")


@dataclass(frozen=True, slots=True)
class SitePage:
    """One page: its path, title, body (HTML inside ``<article>``) and which sitemap lists it."""

    path: str
    title: str
    body: str
    sitemap: str | None  # "pages", "products", "blog"; None: reachable only through links
    modified: datetime = _SITE_DATE
    canonical: str | None = None  # a path; defaults to the page's own
    section: str = "page"


# -- content --------------------------------------------------------------------------------------
# The copy is data: site_content.toml, shipped in this package. Facts there are what the goldens ask about.


def _content() -> dict[str, Any]:
    return tomllib.loads(resources.files("storelink.fakes").joinpath("site_content.toml").read_text("utf-8"))


def _pairs(raw: list[list[str]]) -> list[tuple[str, str]]:
    return [(heading, text) for heading, text in raw]


_CONTENT = _content()
# Each guide, policy, FAQ and orphan page: (intro or title, [(heading, paragraph), ...]).
_GUIDES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    name: (guide["intro"], _pairs(guide["sections"])) for name, guide in _CONTENT["guides"].items()
}
_VEHICLE_NOTES: dict[str, str] = dict(_CONTENT["vehicle_notes"])
_POLICIES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    key: (policy["title"], _pairs(policy["sections"])) for key, policy in _CONTENT["policies"].items()
}
_FAQS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    key: (faq["title"], _pairs(faq["questions"])) for key, faq in _CONTENT["faqs"].items()
}
_BLOG: list[tuple[str, str, date, list[tuple[str, str]]]] = [
    (post["title"], post["handle"], post["date"], _pairs(post["sections"])) for post in _CONTENT["blog"]
]
_ORPHANS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    path: (page["title"], _pairs(page["sections"])) for path, page in _CONTENT["orphans"].items()
}
ORPHAN_PATHS = tuple(_ORPHANS)
_ABOUT = _pairs(_CONTENT["about"]["sections"])


# -- the fake -------------------------------------------------------------------------------------


def _sections(pairs: Iterable[tuple[str, str]], level: int = 2) -> str:
    return "".join(f"<h{level}>{html.escape(h)}</h{level}>\n<p>{html.escape(t)}</p>\n" for h, t in pairs)


class SiteFake(FakeUpstream):
    """The storefront. ``products`` limits how many catalogue products get pages (small sites for tests)."""

    name = "site"
    user_agent_rules: ClassVar[str] = "User-agent: *"

    def __init__(
        self,
        *,
        faults: FaultPlan | None = None,
        store: DemoStore | None = None,
        products: int | None = None,
        crawl_delay_s: float | None = None,
    ) -> None:
        super().__init__(faults=faults)
        self.store = store or demo_store()
        self.crawl_delay_s = crawl_delay_s
        self.pages: dict[str, SitePage] = {}
        self.conditional: Counter[str] = Counter()  # path -> requests that carried a validator
        self.unconditional: Counter[str] = Counter()  # path -> requests that carried none
        self.not_modified = 0
        self._rendered: dict[tuple[str, str], tuple[bytes, str]] = {}
        self._build(products)

    # -- page set ---------------------------------------------------------------------------------
    def _published(self, limit: int | None) -> list[Product]:
        live = [p for p in self.store.products if p.status is ProductStatus.ACTIVE]
        return live if limit is None else live[:limit]

    def _build(self, limit: int | None) -> None:
        products = self._published(limit)
        types = sorted({p.product_type for p in products})
        shop = self.store.shop
        self._add(SitePage("/", shop.name, self._home(types), "pages", section="home"))
        for t in types:
            members = [p for p in products if p.product_type == t]
            self._add(
                SitePage(f"/collections/{slug(t)}", t, self._collection(t, members), "pages", section="collection")
            )
            intro, parts = _GUIDES[t]
            self._add(
                SitePage(
                    f"/pages/guides/{slug(t)}",
                    f"{t} buying and installation guide",
                    self._guide(t, intro, parts),
                    "pages",
                    section="guide",
                )
            )
        for p in products:
            self._add(SitePage(f"/products/{p.handle}", p.title, self._product(p), "products",
                               modified=max(p.updated_at, _SITE_DATE), section="product"))  # fmt: skip
        vehicles = sorted({p.fitment for p in products if p.fitment in _VEHICLE_NOTES})
        self._add(SitePage("/pages/fitment", "Fitment notes by vehicle", self._fitment_index(vehicles), "pages"))
        for v in vehicles:
            fits = [p for p in products if p.fitment == v]
            self._add(SitePage(f"/pages/fitment/{slug(v)}", f"Fitment notes: {v}", self._fitment(v, fits), "pages",
                               section="fitment"))  # fmt: skip
        for key, (title, parts) in _POLICIES.items():
            self._add(SitePage(f"/policies/{key}", title, _sections(parts), "pages", section="policy"))
        self._add(SitePage("/pages/faq", "Frequently asked questions", self._faq_index(), "pages", section="faq"))
        for key, (title, qas) in _FAQS.items():
            self._add(SitePage(f"/pages/faq/{key}", f"FAQ: {title}", self._faq(key, qas), "pages", section="faq"))
        self._add(SitePage("/blogs/news", "News", self._blog_index(), "blog"))
        for title, handle, day, parts in _BLOG:
            stamp = datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)
            self._add(SitePage(f"/blogs/news/{handle}", title, self._post(handle, day, parts), "blog", modified=stamp,
                               section="blog"))  # fmt: skip
        self._add(SitePage("/pages/about", "About us", _sections(_ABOUT) + self._about_links(), "pages"))
        self._add(SitePage("/pages/contact", "Contact us", self._contact(), "pages"))
        for path, (title, parts) in _ORPHANS.items():
            self._add(SitePage(path, title, _sections(parts), None, section="orphan"))
        self._add(SitePage("/pages/internal/staff-pricing", "Staff pricing", "<p>Staff discount: 40 %.</p>", None))

    def _add(self, page: SitePage) -> None:
        self.pages[page.path] = page
        self._rendered.clear()

    # -- changing the site (tests and the admin route) --------------------------------------------
    def edit_page(self, path: str, text: str, *, heading: str = "Update") -> None:
        """Append a section to a page; its ETag and Last-Modified change."""
        page = self.pages[path]
        body = page.body + _sections([(heading, text)])
        self._add(replace(page, body=body, modified=datetime.now(UTC).replace(microsecond=0)))

    def delete_page(self, path: str) -> None:
        """Remove a page: it answers 404 and leaves its sitemap."""
        del self.pages[path]
        self._rendered.clear()

    def add_page(self, path: str, title: str, text: str, *, sitemap: str | None = "pages") -> None:
        self._add(SitePage(path, title, _sections([(title, text)]), sitemap, modified=datetime.now(UTC)))

    def sitemap_paths(self) -> set[str]:
        return {p.path for p in self.pages.values() if p.sitemap}

    def orphan_paths(self) -> set[str]:
        return {p.path for p in self.pages.values() if p.sitemap is None and not _disallowed(p.path)}

    # -- routes -----------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/_fake/site/pages", self._admin_pages, methods=["GET", "POST", "DELETE"]),
            Route("/robots.txt", self._robots, methods=["GET"]),
            Route("/sitemap.xml", self._sitemap_index, methods=["GET"]),
            Route("/sitemap-{name:str}.xml", self._sitemap, methods=["GET"]),
            Route("/sitemap-{name:str}.xml.gz", self._sitemap_gz, methods=["GET"]),
            Route("/collections/{kind:str}/products/{handle:str}", self._collection_product, methods=["GET"]),
            Route("/{path:path}", self._page, methods=["GET", "HEAD"]),
        ]

    async def _admin_pages(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"sitemap": sorted(self.sitemap_paths()), "orphans": sorted(self.orphan_paths())})
        if request.method == "DELETE":
            path = request.query_params.get("path", "")
            if path not in self.pages:
                return JSONResponse({"error": "no such page"}, 404)
            self.delete_page(path)
            return JSONResponse({"deleted": path})
        body = await request.json()
        path = str(body["path"])
        if path in self.pages:
            self.edit_page(path, str(body["text"]))
        else:
            self.add_page(path, str(body.get("title", path)), str(body["text"]))
        return JSONResponse({"ok": True, "path": path})

    def _origin(self, request: Request) -> str:
        return str(request.base_url).rstrip("/")

    async def _robots(self, request: Request) -> Response:
        lines = [self.user_agent_rules]
        lines += [f"Disallow: {prefix}" for prefix in DISALLOWED_PREFIXES]
        if self.crawl_delay_s is not None:
            lines.append(f"Crawl-delay: {self.crawl_delay_s:g}")
        lines += ["", f"Sitemap: {self._origin(request)}/sitemap.xml", ""]
        return self._conditional(request, "/robots.txt", "\n".join(lines).encode(), "text/plain", _SITE_DATE)

    def _sitemap_names(self) -> list[tuple[str, bool]]:
        return [("pages", False), ("products", True), ("blog", False)]

    async def _sitemap_index(self, request: Request) -> Response:
        origin = self._origin(request)
        entries = "".join(
            f"<sitemap><loc>{origin}/sitemap-{name}.xml{'.gz' if gz else ''}</loc></sitemap>"
            for name, gz in self._sitemap_names()
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</sitemapindex>\n'
        )
        return self._conditional(request, "/sitemap.xml", body.encode(), "application/xml", _SITE_DATE)

    def _urlset(self, request: Request, name: str) -> bytes:
        origin = self._origin(request)
        rows = "".join(
            f"<url><loc>{origin}{html.escape(p.path)}</loc><lastmod>{p.modified.date().isoformat()}</lastmod></url>"
            for p in sorted(self.pages.values(), key=lambda p: p.path)
            if p.sitemap == name
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{rows}</urlset>\n'
        ).encode()

    async def _sitemap(self, request: Request) -> Response:
        name = request.path_params["name"]
        if (name, False) not in self._sitemap_names():
            return self._not_found()
        return self._conditional(request, f"/sitemap-{name}.xml", self._urlset(request, name), "application/xml",
                                 _SITE_DATE)  # fmt: skip

    async def _sitemap_gz(self, request: Request) -> Response:
        name = request.path_params["name"]
        if (name, True) not in self._sitemap_names():
            return self._not_found()
        body = gzip.compress(self._urlset(request, name), mtime=0)
        return self._conditional(request, f"/sitemap-{name}.xml.gz", body, "application/gzip", _SITE_DATE)

    async def _collection_product(self, request: Request) -> Response:
        """Shopify's duplicate product path: same page, canonical to /products/<handle>."""
        path = f"/products/{request.path_params['handle']}"
        if path not in self.pages:
            return self._not_found()
        return self._serve(request, self.pages[path], request.url.path)

    async def _page(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        if path != "/" and path.endswith("/"):
            path = path.rstrip("/")
        page = self.pages.get(path)
        if page is None:
            return self._not_found()
        return self._serve(request, page, request.url.path)

    def _serve(self, request: Request, page: SitePage, served_path: str) -> Response:
        origin = self._origin(request)
        key = (origin, page.path)
        cached = self._rendered.get(key)
        if cached is None:
            body = self._render(page, origin).encode()
            cached = (body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')
            self._rendered[key] = cached
        return self._conditional(request, served_path, cached[0], "text/html; charset=utf-8", page.modified,
                                 etag=cached[1])  # fmt: skip

    def _conditional(
        self, request: Request, path: str, body: bytes, media_type: str, modified: datetime, etag: str | None = None
    ) -> Response:
        etag = etag or '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        last_modified = format_datetime(modified.astimezone(UTC), usegmt=True)
        headers = {"ETag": etag, "Last-Modified": last_modified, "Cache-Control": "no-cache"}
        inm = request.headers.get("if-none-match")
        ims = request.headers.get("if-modified-since")
        if inm or ims:
            self.conditional[path] += 1
        else:
            self.unconditional[path] += 1
        if inm is not None:
            fresh = etag in {tag.strip() for tag in inm.split(",")} or inm.strip() == "*"
        elif ims is not None:
            fresh = _not_after(modified, ims)
        else:
            fresh = False
        if fresh:
            self.not_modified += 1
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=media_type, headers=headers)

    def _not_found(self) -> Response:
        return Response(self._render_missing(), 404, media_type="text/html; charset=utf-8")

    # -- templates --------------------------------------------------------------------------------
    def _render(self, page: SitePage, origin: str) -> str:
        shop = self.store.shop
        canonical = origin + (page.canonical or page.path)
        title = html.escape(page.title)
        nav = "".join(
            f'<li><a href="/collections/{slug(t)}">{html.escape(t)}</a></li>'
            for t in sorted({p.product_type for p in self._published(None)})
        )
        crumbs = f'<nav class="breadcrumbs"><a href="/">Home</a> / <span>{title}</span></nav>'
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | {html.escape(shop.name)}</title>
<link rel="canonical" href="{html.escape(canonical)}">
<meta name="description" content="{title} at {html.escape(shop.name)}: performance parts, guides and fitment notes.">
</head><body>
<header class="site-header"><div class="announcement">Free US shipping on orders over $99 · Ships same day before
2 pm ET</div><a class="logo" href="/">{html.escape(shop.name)}</a>
<nav class="main-nav"><ul>{nav}<li><a href="/pages/guides/brake-pads">Guides</a></li>
<li><a href="/pages/fitment">Fitment</a></li><li><a href="/pages/faq">FAQ</a></li>
<li><a href="/blogs/news">News</a></li><li><a href="/search?q=brakes">Search</a></li>
<li><a href="/account/login">Log in</a></li><li><a href="/cart">Cart (0)</a></li></ul></nav></header>
{crumbs}
<main id="content"><article><h1>{title}</h1>
{page.body}
</article></main>
<aside class="newsletter"><p>Join our newsletter for race-day deals and new arrivals. We never share your
e-mail.</p><form action="/account/subscribe" method="post"><input name="email"><button>Subscribe</button></form>
</aside>
<footer class="site-footer"><ul><li><a href="/policies/shipping">Shipping</a></li>
<li><a href="/policies/returns">Returns</a></li><li><a href="/policies/warranty">Warranty</a></li>
<li><a href="/policies/privacy">Privacy</a></li><li><a href="/policies/terms">Terms</a></li>
<li><a href="/pages/about">About</a></li><li><a href="/pages/contact">Contact</a></li>
<li><a href="/pages/wholesale">Wholesale</a></li></ul>
<p>© 2026 {html.escape(shop.name)}. All rights reserved. Prices in {html.escape(shop.currency)}.</p></footer>
</body></html>
"""

    def _render_missing(self) -> str:
        return "<!DOCTYPE html><html><head><title>Page not found</title></head><body><h1>404</h1></body></html>"

    def _home(self, types: list[str]) -> str:
        cards = "".join(
            f'<li><a href="/collections/{slug(t)}">{html.escape(t)}</a> · '
            f'<a href="/pages/guides/{slug(t)}">{html.escape(t)} guide</a></li>'
            for t in types
        )
        return (
            "<p>Performance parts for track and street, shipped from Reno and Allentown.</p>"
            f"<h2>Shop by category</h2><ul>{cards}</ul>"
            '<h2>Help</h2><ul><li><a href="/pages/faq">FAQ</a></li><li><a href="/pages/fitment">Fitment notes</a>'
            '</li><li><a href="/policies/shipping">Shipping policy</a></li></ul>'
        )

    def _collection(self, kind: str, members: list[Product]) -> str:
        rows = []
        for i, p in enumerate(members):
            href = f"/products/{p.handle}"
            if i % 3 == 1:
                href = f"/collections/{slug(kind)}/products/{p.handle}"
            elif i % 3 == 2:
                href = f"/products/{p.handle}?variant={p.variants[0].id}"
            price = min(v.price for v in p.variants)
            rows.append(f'<li><a href="{html.escape(href)}">{html.escape(p.title)}</a> from ${price}</li>')
        return (
            f"<p>{len(members)} {html.escape(kind.lower())} in stock or on order. Read the "
            f'<a href="/pages/guides/{slug(kind)}">{html.escape(kind)} guide</a> before you choose.</p>'
            f"<ul>{''.join(rows)}</ul>"
        )

    def _guide(self, kind: str, intro: str, parts: list[tuple[str, str]]) -> str:
        body = f"<p>{html.escape(intro)}</p>\n" + _sections(parts)
        if kind == "Brake Pads":
            body += '<p>See the <a href="/pages/bedding-in-procedure">bedding-in procedure</a>.</p>'
        body += (
            f'<p>Browse all <a href="/collections/{slug(kind)}">{html.escape(kind.lower())}</a>, or check the '
            '<a href="/pages/fitment">fitment notes</a> for your car.</p>'
        )
        return body

    def _product(self, p: Product) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(v.title)}</td><td>{html.escape(v.sku)}</td><td>${v.price}</td>"
            f"<td>{'In stock' if v.inventory_quantity > 0 else 'Back-ordered'}</td></tr>"
            for v in p.variants
        )
        fits = (
            f"Fits the {html.escape(p.fitment)}."
            if p.fitment in _VEHICLE_NOTES
            else f"{html.escape(p.fitment)}: fits any car that specifies this grade."
        )
        fit_link = (
            f' See the <a href="/pages/fitment/{slug(p.fitment)}">fitment notes for the {html.escape(p.fitment)}</a>.'
            if p.fitment in _VEHICLE_NOTES
            else ""
        )
        return (
            f"<p>{html.escape(p.description)}</p>"
            f"<h2>Specifications</h2><p>Brand: {html.escape(p.vendor)}. Line: {html.escape(p.line)}. "
            f"Category: {html.escape(p.product_type)}.</p>"
            f"<table><tr><th>Variant</th><th>SKU</th><th>Price</th><th>Availability</th></tr>{rows}</table>"
            f"<h2>Fitment</h2><p>{fits}{fit_link}</p>"
            f'<h2>Installation</h2><p>Read the <a href="/pages/guides/{slug(p.product_type)}">'
            f"{html.escape(p.product_type.lower())} guide</a> before installing. Warranty and returns: see our "
            '<a href="/policies/warranty">warranty</a> and <a href="/policies/returns">returns</a> policies.</p>'
        )

    def _fitment_index(self, vehicles: list[str]) -> str:
        items = "".join(f'<li><a href="/pages/fitment/{slug(v)}">{html.escape(v)}</a></li>' for v in vehicles)
        return (
            f"<p>Parts we carry, by vehicle.</p><ul>{items}</ul>"
            '<p>Older cars: see the <a href="/pages/legacy-fitment-2019">legacy fitment notes</a>.</p>'
        )

    def _fitment(self, vehicle: str, fits: list[Product]) -> str:
        by_type: dict[str, list[Product]] = {}
        for p in fits:
            by_type.setdefault(p.product_type, []).append(p)
        lists = "".join(
            f"<h3>{html.escape(t)}</h3><ul>"
            + "".join(
                f'<li><a href="/products/{p.handle}">{html.escape(p.title)}</a>: {html.escape(p.line)} line by '
                f"{html.escape(p.vendor)}, from ${min(v.price for v in p.variants)}</li>"
                for p in ps
            )
            + "</ul>"
            for t, ps in sorted(by_type.items())
        )
        return f"<h2>Notes</h2><p>{html.escape(_VEHICLE_NOTES[vehicle])}</p><h2>Parts that fit</h2>{lists}"

    def _faq_index(self) -> str:
        items = "".join(f'<li><a href="/pages/faq/{key}">{html.escape(t)}</a></li>' for key, (t, _) in _FAQS.items())
        return f"<p>Answers to the questions we hear most.</p><ul>{items}</ul>"

    def _faq(self, key: str, qas: list[tuple[str, str]]) -> str:
        body = _sections(qas, level=3)
        if key == "installation":
            body += (
                '<p>Links: <a href="/pages/torque-specs">torque specifications</a>, '
                '<a href="/pages/bedding-in-procedure">bedding-in procedure</a>.</p>'
            )
        if key == "orders":
            body += '<p>See <a href="/pages/gift-cards">gift cards</a>.</p>'
        return body

    def _blog_index(self) -> str:
        items = "".join(
            f'<li><a href="/blogs/news/{handle}">{html.escape(title)}</a> ({day.isoformat()})</li>'
            for title, handle, day, _ in _BLOG
        )
        return f"<ul>{items}</ul>"

    def _post(self, handle: str, day: date, parts: list[tuple[str, str]]) -> str:
        body = f"<p>Posted {day.isoformat()}.</p>" + _sections(parts)
        if handle == "track-day-prep":
            body += '<p>Get the <a href="/pages/track-day-checklist">track day checklist</a>.</p>'
        if handle == "dyno-day-gr86":
            body += '<p>See the <a href="/pages/dyno-results">dyno results</a>.</p>'
        return body

    def _about_links(self) -> str:
        return '<p>Work with us: <a href="/pages/careers">careers</a>.</p>'

    def _contact(self) -> str:
        shop = self.store.shop
        return _sections(
            [
                ("E-mail", f"Email {shop.email}; we answer within one business day."),
                ("Hours", "Support is open Monday to Friday, 9 am to 6 pm Eastern time."),
            ]
        )


def _disallowed(path: str) -> bool:
    return path.startswith(DISALLOWED_PREFIXES)


def _not_after(modified: datetime, header: str) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    return modified.replace(microsecond=0) <= since
