"""Discovery: which pages does the site have?

1. ``robots.txt`` (protego): what we may fetch, the ``Crawl-delay`` (it becomes the limiter),
   and the sitemaps it names (else ``/sitemap.xml``; no guessing a list of known paths).
2. Sitemaps, sitemap indexes and gzipped sitemaps, fetched through the pipeline and parsed with
   ultimate-sitemap-parser's string parser (XML, text, RSS, Atom), recursion bounded.
3. A bounded breadth-first crawl of same-origin links from the home page and every sitemap
   page, for the pages no sitemap lists. Every URL is canonicalised (:mod:`storelink.rag.urls`)
   and a page's ``<link rel=canonical>`` wins over the address it was reached by, so the set has
   no duplicates. ``noindex`` pages are followed but not kept; robots-disallowed ones are never
   fetched.

Only the site's origin (scheme, host and port, exactly) is ever fetched: a sitemap named by
robots.txt or by a sitemap index on another origin is not read, a sitemap's page on another origin
is not kept, and a page or sitemap that redirects to another origin is skipped
(:class:`~storelink.rag.fetch.OffSiteRedirect`). Each is counted in ``off_site`` with a sentence
saying why in ``off_site_notes``; ordinary links to other sites are simply not followed.

The URL set replaces the previous one in the store; ingest works from it.
"""

from __future__ import annotations

import asyncio
import gzip
import time
import zlib
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from storelink.connectors.progress import report_progress
from storelink.errors import ConnectorError, ErrorKind
from storelink.rag.docstore import KnowledgeStore
from storelink.rag.extract import page_links
from storelink.rag.fetch import Fetched, OffSiteRedirect, SiteFetcher
from storelink.rag.robots import RobotsRules
from storelink.rag.urls import canonical_url, origin_of, same_origin

__all__ = ["CrawlLimits", "DiscoverReport", "discover", "read_robots"]


@dataclass(frozen=True, slots=True)
class CrawlLimits:
    max_pages: int = 5_000  # pages fetched by the crawl (sitemap pages included)
    max_depth: int = 6  # link hops from the home page or a sitemap page
    max_sitemaps: int = 200
    concurrency: int = 8


MAX_NOTES = 20  # off-site notes kept in a report; the count covers the rest


class DiscoverReport(BaseModel):
    origin: str
    urls: int
    from_sitemaps: int
    from_crawl: int
    sitemaps_read: int
    pages_fetched: int
    duplicates: int
    disallowed: int
    missing: int
    errors: int
    off_site: int = 0  # sitemaps and pages on, or redirecting to, another origin: never fetched or kept
    off_site_notes: list[str] = Field(default_factory=list)  # why, for the first MAX_NOTES of them
    crawl_delay_s: float | None
    truncated: bool
    elapsed_s: float


async def read_robots(fetcher: SiteFetcher, origin: str) -> RobotsRules:
    """The site's robots.txt; none (404) allows everything. Other failures propagate."""
    try:
        fetched = await fetcher.get(f"{origin}/robots.txt", operation="fetch_robots")
    except ConnectorError as err:
        if err.kind in (ErrorKind.NOT_FOUND, ErrorKind.FORBIDDEN):
            return RobotsRules.allow_all()
        raise
    return RobotsRules.parse(fetched.content.decode("utf-8", errors="replace"))


def _sitemap_text(fetched: Fetched) -> str:
    body = fetched.content
    if body[:2] == b"\x1f\x8b":  # gzip magic: a .xml.gz, whatever the content type says
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error):
            return ""
    return body.decode("utf-8", errors="replace")


@dataclass
class _Crawl:
    origin: str
    robots: RobotsRules
    limits: CrawlLimits
    found: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # url -> (found_by, lastmod)
    visited: set[str] = field(default_factory=set)
    noindex: set[str] = field(default_factory=set)
    duplicates: int = 0
    disallowed: set[str] = field(default_factory=set)
    missing: int = 0
    errors: int = 0
    off_site: int = 0
    off_site_notes: list[str] = field(default_factory=list)
    fetched: int = 0
    truncated: bool = False

    def refuse(self, note: str) -> None:
        """Count one sitemap or page that is off the site's origin, with the reason."""
        self.off_site += 1
        if len(self.off_site_notes) < MAX_NOTES:
            self.off_site_notes.append(note)

    def admit(self, raw: str, base: str | None) -> str | None:
        url = canonical_url(raw, base)
        if url is None or not same_origin(url, self.origin):
            return None
        if not self.robots.allowed(url):
            self.disallowed.add(url)
            return None
        return url


async def _read_sitemaps(fetcher: SiteFetcher, crawl: _Crawl, roots: list[str]) -> int:
    from usp.objects.sitemap import AbstractIndexSitemap, InvalidSitemap
    from usp.tree import sitemap_from_str

    queue = list(dict.fromkeys(roots))
    seen: set[str] = set()
    read = 0
    while queue and read < crawl.limits.max_sitemaps:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        try:
            fetched = await fetcher.get(url, operation="fetch_sitemap")
        except OffSiteRedirect as err:
            crawl.refuse(f"The sitemap {err.message}")
            continue
        except ConnectorError as err:
            crawl.errors += err.kind is not ErrorKind.NOT_FOUND
            continue
        text = _sitemap_text(fetched)
        if not text.strip():
            continue
        read += 1
        tree = await asyncio.to_thread(sitemap_from_str, text)
        if isinstance(tree, InvalidSitemap):
            crawl.errors += 1
            continue
        if isinstance(tree, AbstractIndexSitemap):
            for sub in tree.sub_sitemaps:
                child = canonical_url(sub.url, keep_files=True)
                if child and same_origin(child, crawl.origin):
                    queue.append(child)
                else:
                    crawl.refuse(
                        f"The sitemap index {url} names the sitemap {sub.url}, not on {crawl.origin}; not read."
                    )
            continue
        for page in tree.all_pages():
            listed = canonical_url(page.url, None)
            if listed is not None and not same_origin(listed, crawl.origin):
                crawl.refuse(f"The sitemap {url} lists {listed}, not on {crawl.origin}; not kept.")
                continue
            admitted = crawl.admit(page.url, None)
            if admitted is not None and admitted not in crawl.found:
                lastmod = page.last_modified.date().isoformat() if page.last_modified else None
                crawl.found[admitted] = ("sitemap", lastmod)
    crawl.truncated |= bool(queue)
    return read


async def _visit(fetcher: SiteFetcher, crawl: _Crawl, url: str) -> list[str]:
    """Fetch one page; record its canonical URL; return the links to follow."""
    try:
        fetched = await fetcher.get(url, operation="crawl_page")
    except OffSiteRedirect as err:
        crawl.refuse(err.message)
        crawl.found.pop(url, None)
        crawl.visited.add(url)
        return []
    except ConnectorError as err:
        if err.kind is ErrorKind.NOT_FOUND:
            crawl.missing += 1
            crawl.found.pop(url, None)
        else:
            crawl.errors += 1
        return []
    crawl.fetched += 1
    if not fetched.is_html:
        crawl.found.pop(url, None)
        return []
    final = crawl.admit(fetched.url, None) or url
    links = await asyncio.to_thread(page_links, fetched.content)
    canonical = crawl.admit(links.canonical, fetched.url) if links.canonical else None
    keep = canonical or final
    if keep != url:
        how = crawl.found.pop(url, ("crawl", None))
        crawl.duplicates += 1
        if keep not in crawl.found:
            crawl.found[keep] = how
    elif url not in crawl.found:
        crawl.found[url] = ("crawl", None)
    crawl.visited.update({url, final, keep})
    if links.noindex:
        crawl.noindex.add(keep)
    if links.nofollow:
        return []
    return [u for raw in links.links if (u := crawl.admit(raw, fetched.url)) is not None]


async def discover(
    fetcher: SiteFetcher, docs: KnowledgeStore, *, start_url: str | None = None, limits: CrawlLimits | None = None
) -> DiscoverReport:
    """Find the site's pages and store the URL set. Progress goes to ``report_progress``."""
    started = time.perf_counter()
    limits = limits or CrawlLimits()
    site = start_url or fetcher.base_url
    if canonical_url(site, keep_files=True) is None:
        raise ConnectorError(
            ErrorKind.INVALID_REQUEST,
            f"{site!r} is not the address of a website: give an http(s) URL such as https://shop.example.",
        )
    origin = origin_of(site)
    fetcher.revalidate_all()
    robots = await read_robots(fetcher, origin)
    fetcher.honour_crawl_delay(robots.crawl_delay_s)
    crawl = _Crawl(origin=origin, robots=robots, limits=limits)

    roots: list[str] = []
    for named in robots.sitemaps:
        root = canonical_url(named, origin, keep_files=True)
        if root is not None and same_origin(root, origin):
            roots.append(root)
        else:
            crawl.refuse(f"robots.txt names the sitemap {named}, not on {origin}; not read.")
    sitemaps_read = await _read_sitemaps(fetcher, crawl, roots or [f"{origin}/sitemap.xml"])
    from_sitemaps = len(crawl.found)
    await report_progress(0, from_sitemaps, f"{from_sitemaps} URLs in sitemaps; crawling")

    home = crawl.admit(start_url or origin + "/", None)
    frontier = list(dict.fromkeys(([home] if home else []) + list(crawl.found)))
    depth = 0
    queued = set(frontier)
    while frontier and depth <= limits.max_depth:
        next_frontier: list[str] = []
        for start in range(0, len(frontier), limits.concurrency):
            if crawl.fetched >= limits.max_pages:
                crawl.truncated = True
                break
            batch = [u for u in frontier[start : start + limits.concurrency] if u not in crawl.visited]
            results = await asyncio.gather(*(_visit(fetcher, crawl, u) for u in batch))
            for links in results:
                for link in links:
                    if link not in queued and link not in crawl.visited:
                        queued.add(link)
                        next_frontier.append(link)
            total = len(queued)
            await report_progress(min(crawl.fetched, total), total, f"crawled {crawl.fetched} pages")
        frontier, depth = next_frontier, depth + 1
    crawl.truncated |= bool(frontier)

    rows = [(url, how, lastmod) for url, (how, lastmod) in sorted(crawl.found.items()) if url not in crawl.noindex]
    docs.replace_urls(rows)
    docs.set_state("origin", origin)
    report = DiscoverReport(
        origin=origin,
        urls=len(rows),
        from_sitemaps=sum(1 for _, how, _ in rows if how == "sitemap"),
        from_crawl=sum(1 for _, how, _ in rows if how == "crawl"),
        sitemaps_read=sitemaps_read,
        pages_fetched=crawl.fetched,
        duplicates=crawl.duplicates,
        disallowed=len(crawl.disallowed),
        missing=crawl.missing,
        errors=crawl.errors,
        off_site=crawl.off_site,
        off_site_notes=crawl.off_site_notes,
        crawl_delay_s=robots.crawl_delay_s,
        truncated=crawl.truncated,
        elapsed_s=round(time.perf_counter() - started, 3),
    )
    docs.set_json("last_discover", report.model_dump())
    await report_progress(len(rows), len(rows), f"{len(rows)} pages discovered")
    return report
