"""Ingest: fetch every page of the URL set, extract, chunk, and bring the indexes up to date.

Cheap when nothing changed, by construction:

* every fetch is a conditional GET through the pipeline's cache (ETag / Last-Modified), so an
  unchanged page costs a 304 and no body;
* a page whose content hash is unchanged is not extracted again (the hash covers the extractor's
  and the chunker's versions too, so a new version re-extracts every page once); a changed page keeps the ids
  (and so the vectors) of its unchanged chunks, and only new chunk texts are embedded, from the
  embedding cache when the same text was embedded before;
* pages that answer 404/410, or left the URL set, are removed with their chunks and vectors;
* BM25 is rebuilt only when the chunk set changed.

Only the site's origin is fetched. A page that redirects within it is kept under its final URL,
which replaces the old one in the URL set; a page that redirects to another origin is skipped
(counted in ``off_site``, with the reason in ``off_site_notes``) and its stored copy, the site's
own, is left as it was: the next discovery drops the URL.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from storelink.connectors.progress import report_progress
from storelink.errors import ConnectorError, ErrorKind
from storelink.rag.chunk import CHUNKER_VERSION, TokenCounter, chunk_id, chunk_markdown, word_counter
from storelink.rag.discover import MAX_NOTES, discover, read_robots
from storelink.rag.docstore import ChunkRow, KnowledgeStore, PageRow, page_id
from storelink.rag.extract import EXTRACTOR_VERSION, extract_main, page_title
from storelink.rag.fetch import Fetched, OffSiteRedirect, SiteFetcher
from storelink.rag.index import HybridIndex
from storelink.rag.urls import canonical_url, origin_of, same_origin

__all__ = ["IngestReport", "Processed", "content_hash", "ingest", "process_page"]


class IngestReport(BaseModel):
    pages: int  # URLs visited
    not_modified: int  # answered 304 (revalidated from the cache)
    unchanged: int  # content hash unchanged (includes the 304s)
    updated: int  # new or changed pages, re-chunked
    removed: int  # gone (404/410) or no longer in the URL set
    failed: int  # fetch failed for another reason; the stored page is kept
    skipped: int  # not HTML, disallowed, or no main text
    off_site: int = 0  # redirected to another origin: not fetched there, nothing stored
    off_site_notes: list[str] = Field(default_factory=list)  # why, for the first MAX_NOTES of them
    chunks_added: int
    chunks_removed: int
    chunks_total: int
    embedded: int  # vectors computed in this run
    embed_cache_hits: int
    retrieval: str  # "hybrid" or "lexical"
    dense_note: str | None
    elapsed_s: float
    fetch_extract_s: float  # fetching, extraction and chunking: the part measured in pages/s
    embed_s: float

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.fetch_extract_s if self.fetch_extract_s > 0 else 0.0


def content_hash(content: bytes) -> str:
    """A page's body hashed with the versions of what turns it into chunks: a page ingested by an
    older extractor or chunker (say, one that let the site's menu into short pages) is not
    "unchanged" to a newer one."""
    return hashlib.sha256(f"{EXTRACTOR_VERSION}|{CHUNKER_VERSION}|".encode() + content).hexdigest()


@dataclass(frozen=True, slots=True)
class Processed:
    page: PageRow
    chunks: list[ChunkRow]
    links: list[tuple[str, str]]  # (anchor, canonical target URL) in the page's text


def process_page(url: str, fetched: Fetched, *, count: TokenCounter, counter_name: str) -> Processed | None:
    """Extract and chunk one fetched page (CPU-bound: run it off the event loop)."""
    html = fetched.content.decode("utf-8", errors="replace")
    main = extract_main(html, url)
    text = main.text
    if not text.strip():
        return None
    title = page_title(html) or url
    drafts = chunk_markdown(text, title=title, count=count)
    chunks = []
    for d in drafts:
        row = ChunkRow(
            id=chunk_id(url, d.text, counter_name), url=url, ord=d.ord, title=title, heading=d.heading,
            text=d.text, sha="", tokens=d.tokens,
        )  # fmt: skip
        sha = hashlib.sha256(row.indexed_text.encode()).hexdigest()
        chunks.append(ChunkRow(row.id, url, d.ord, title, d.heading, d.text, sha, d.tokens))
    page = PageRow(
        url=url, id=page_id(url), title=title, text=text, content_sha=content_hash(fetched.content),
        etag=fetched.etag, last_modified=fetched.last_modified, fetched_at=time.time(),
    )  # fmt: skip
    links = [(anchor, target) for anchor, href in main.links if (target := canonical_url(href, url))]
    return Processed(page, chunks, list(dict.fromkeys(links)))  # links to the page itself: links_from skips them


@dataclass
class _Tally:
    pages: int = 0
    not_modified: int = 0
    unchanged: int = 0
    updated: int = 0
    removed: int = 0
    failed: int = 0
    skipped: int = 0
    off_site: int = 0
    off_site_notes: list[str] = field(default_factory=list)
    added: int = 0
    dropped: int = 0


async def _fetch(fetcher: SiteFetcher, url: str) -> Fetched | ConnectorError:
    try:
        return await fetcher.get(url, operation="fetch_page")
    except ConnectorError as err:
        return err


async def ingest(
    fetcher: SiteFetcher,
    docs: KnowledgeStore,
    index: HybridIndex,
    *,
    url: str | None = None,
    embed: bool = True,
    concurrency: int = 16,
) -> IngestReport:
    """Ingest the whole URL set (discovering first if there is none), or just ``url``."""
    started = time.perf_counter()
    origin = docs.get_state("origin") or origin_of(fetcher.base_url)
    if url is None and not docs.urls():
        await discover(fetcher, docs)
        origin = docs.get_state("origin") or origin
    fetcher.revalidate_all()
    robots = await read_robots(fetcher, origin)
    fetcher.honour_crawl_delay(robots.crawl_delay_s)

    tally = _Tally()
    if url is not None:
        target = canonical_url(url, origin)
        if target is None or not same_origin(target, origin):
            raise ConnectorError(
                ErrorKind.INVALID_REQUEST, f"Only pages of {origin} can be ingested; {url!r} is not one of them."
            )
        if not robots.allowed(target):
            raise ConnectorError(ErrorKind.FORBIDDEN, f"robots.txt forbids fetching {target}; it was not ingested.")
        targets = [target]
    else:
        targets = [u for u in docs.urls() if same_origin(u, origin) and robots.allowed(u)]
        tally.skipped += len(docs.urls()) - len(targets)

    embedder = index.embedder
    count: TokenCounter = embedder.count_tokens if embedder is not None else word_counter
    counter_name = "wp" if embedder is not None else "words"
    for start in range(0, len(targets), concurrency):
        batch = targets[start : start + concurrency]
        results = await asyncio.gather(*(_fetch(fetcher, u) for u in batch))
        for target, result in zip(batch, results, strict=True):
            tally.pages += 1
            await _one(docs, target, result, tally, count=count, counter_name=counter_name, single=url is not None)
        await report_progress(tally.pages, len(targets), f"ingested {tally.pages} of {len(targets)} pages")

    if url is None:  # pages that left the URL set since they were ingested
        for gone in sorted(docs.page_urls() - set(docs.urls())):
            tally.dropped += len(docs.delete_page(gone))
            tally.removed += 1
    fetch_extract_s = time.perf_counter() - started
    await asyncio.to_thread(index.lexical)  # rebuilds only if the chunk set changed

    embed_started = time.perf_counter()
    sync = await index.sync_dense(report_progress) if embed else None
    embed_s = time.perf_counter() - embed_started
    report = IngestReport(
        pages=tally.pages,
        not_modified=tally.not_modified,
        unchanged=tally.unchanged,
        updated=tally.updated,
        removed=tally.removed,
        failed=tally.failed,
        skipped=tally.skipped,
        off_site=tally.off_site,
        off_site_notes=tally.off_site_notes,
        chunks_added=tally.added,
        chunks_removed=tally.dropped,
        chunks_total=docs.chunk_count(),
        embedded=sync.embedded if sync else 0,
        embed_cache_hits=sync.cached if sync else 0,
        retrieval=index.mode,
        dense_note=index.dense_unavailable,
        elapsed_s=round(time.perf_counter() - started, 3),
        fetch_extract_s=round(fetch_extract_s, 3),
        embed_s=round(embed_s, 3),
    )
    docs.set_json("last_ingest", report.model_dump())
    return report


async def _one(
    docs: KnowledgeStore,
    url: str,
    result: Fetched | ConnectorError,
    tally: _Tally,
    *,
    count: TokenCounter,
    counter_name: str,
    single: bool,
) -> None:
    if isinstance(result, OffSiteRedirect):
        tally.off_site += 1
        if len(tally.off_site_notes) < MAX_NOTES:
            tally.off_site_notes.append(result.message)
        return
    if isinstance(result, ConnectorError):
        if result.kind is ErrorKind.NOT_FOUND:
            tally.dropped += len(docs.delete_page(url))
            docs.remove_url(url)
            tally.removed += 1
        else:
            tally.failed += 1
        return
    final = canonical_url(result.url, keep_files=True) or url
    if final != url:  # redirected within the site: the page lives at its final URL now
        tally.removed += docs.page(url) is not None
        tally.dropped += len(docs.delete_page(url))
        docs.remove_url(url)
        docs.add_url(final, "redirect")
        url = final
    if result.source == "cache-revalidated":
        tally.not_modified += 1
    content_sha = content_hash(result.content)
    stored = docs.page(url)
    if stored is not None and stored.content_sha == content_sha:
        tally.unchanged += 1
        if (stored.etag, stored.last_modified) != (result.etag, result.last_modified):
            docs.touch_page(url, result.etag, result.last_modified)
        return
    if not result.is_html:
        tally.skipped += 1
        return
    processed = await asyncio.to_thread(process_page, url, result, count=count, counter_name=counter_name)
    if processed is None:
        tally.skipped += 1
        return
    if single:
        docs.add_url(url, "ingest")
    added, removed = docs.save_page(processed.page, processed.chunks, processed.links)
    tally.updated += 1
    tally.added += len(added)
    tally.dropped += len(removed)
