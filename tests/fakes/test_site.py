"""The demo store's website: pages consistent with the catalogue, robots, sitemaps, validators."""

from __future__ import annotations

import gzip

import httpx2

from storelink.fakes.base import InProcessTransport
from storelink.fakes.data import ProductStatus, demo_store
from storelink.fakes.site import SITE_HOST, SiteFake

BASE = f"https://{SITE_HOST}"


def client(fake: SiteFake) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=InProcessTransport(fake.app), base_url=BASE)


async def test_a_few_hundred_pages_consistent_with_the_catalogue() -> None:
    fake = SiteFake()
    store = demo_store()
    active = [p for p in store.products if p.status is ProductStatus.ACTIVE]
    assert 300 <= len(fake.pages) <= 400
    assert {f"/products/{p.handle}" for p in active} <= set(fake.pages)
    assert not any(
        f"/products/{p.handle}" in fake.pages for p in store.products if p.status is not ProductStatus.ACTIVE
    )
    product = active[0]
    async with client(fake) as c:
        page = (await c.get(f"/products/{product.handle}")).text
        contact = (await c.get("/pages/contact")).text
    assert product.title in page and product.variants[0].sku in page and f"${product.variants[0].price}" in page
    assert store.shop.email in contact
    assert '<nav class="main-nav">' in page and "<footer" in page  # boilerplate around the content


async def test_robots_and_the_sitemap_index_with_a_gzipped_sitemap() -> None:
    fake = SiteFake(products=5, crawl_delay_s=1.5)
    async with client(fake) as c:
        robots = (await c.get("/robots.txt")).text
        index = (await c.get("/sitemap.xml")).text
        gz = await c.get("/sitemap-products.xml.gz")
        pages = (await c.get("/sitemap-pages.xml")).text
    assert "Disallow: /cart" in robots and "Crawl-delay: 1.5" in robots
    assert f"Sitemap: {BASE}/sitemap.xml" in robots
    assert index.count("<sitemap>") == 3 and "sitemap-products.xml.gz" in index
    products = gzip.decompress(gz.content).decode()
    assert products.count("<url>") == 5 and f"<loc>{BASE}/products/" in products
    assert "/pages/bedding-in-procedure" not in pages and "/pages/internal/" not in pages  # orphans, internal


async def test_etags_and_conditional_requests() -> None:
    fake = SiteFake(products=3)
    async with client(fake) as c:
        first = await c.get("/policies/returns")
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert (await c.get("/policies/returns", headers={"If-None-Match": etag})).status_code == 304
        assert (await c.get("/policies/returns", headers={"If-Modified-Since": modified})).status_code == 304
        fake.edit_page("/policies/returns", "Changed.")
        changed = await c.get("/policies/returns", headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.headers["etag"] != etag and "Changed." in changed.text
        fake.delete_page("/policies/returns")
        assert (await c.get("/policies/returns")).status_code == 404
    assert fake.conditional["/policies/returns"] == 3 and fake.not_modified == 2


async def test_duplicates_declare_their_canonical_and_hosts_follow_the_request() -> None:
    fake = SiteFake(products=3)
    handle = next(p for p in fake.pages if p.startswith("/products/")).removeprefix("/products/")
    async with httpx2.AsyncClient(transport=InProcessTransport(fake.app), base_url="http://demo-store.test:8080") as c:
        dup = (await c.get(f"/collections/brake-pads/products/{handle}")).text
        variant = (await c.get(f"/products/{handle}?variant=1")).text
        sitemap = (await c.get("/sitemap-pages.xml")).text
    canonical = f'<link rel="canonical" href="http://demo-store.test:8080/products/{handle}">'
    assert canonical in dup and canonical in variant
    assert "<loc>http://demo-store.test:8080/" in sitemap


async def test_admin_route_edits_and_deletes_pages() -> None:
    fake = SiteFake(products=3)
    async with client(fake) as c:
        listed = (await c.get("/_fake/site/pages")).json()
        assert "/pages/wholesale" in listed["orphans"] and "/policies/returns" in listed["sitemap"]
        assert (await c.post("/_fake/site/pages", json={"path": "/pages/new", "text": "Brand new."})).status_code == 200
        assert "Brand new." in (await c.get("/pages/new")).text
        assert (await c.delete("/_fake/site/pages", params={"path": "/pages/new"})).status_code == 200
        assert (await c.get("/pages/new")).status_code == 404
