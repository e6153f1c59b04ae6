"""Site knowledge, assembled: the fetcher, the document store, the hybrid index and the router.

The CLI, the MCP tools and the pages all hold one :class:`SiteKnowledge`::

    async with open_runtime(settings) as rt:
        kb = await SiteKnowledge.open(settings, store=rt.store, metrics=rt.metrics,
                                      cache=rt.cache, registry=rt.registry)
        answer = await kb.answer("How do I bed in new brake pads?")
        await kb.aclose()

In mock mode (no ``STORELINK_SITE_URL``) the site is the demo store's website, served
in-process, and the first search or answer discovers and ingests it (about 5 s lexical, plus
about a minute of embedding on 2 cores the first time; the embedding cache makes later runs cheap).
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx2

from storelink.clock import Clock
from storelink.connectors.registry import Registry
from storelink.errors import ConnectorError, ErrorKind, Mode
from storelink.observability.metrics import Metrics
from storelink.rag.corrections import Corrections, load_corrections
from storelink.rag.discover import CrawlLimits, DiscoverReport, discover
from storelink.rag.docstore import KnowledgeStore, PageRow
from storelink.rag.embed import Embedder, ModelUnavailable, load_embedder
from storelink.rag.extractive import AnswerSelector, AnswerWeights, tuned_answer_weights
from storelink.rag.fetch import SiteFetcher
from storelink.rag.fusion import FusionWeights, tuned_weights
from storelink.rag.index import HybridIndex, RetrievalMode
from storelink.rag.ingest import IngestReport, ingest
from storelink.rag.models import Answer, Passage
from storelink.rag.router import Router
from storelink.rag.synth import Synthesizer
from storelink.rag.urls import canonical_url, origin_of
from storelink.rag.vectors import VectorStore, open_chroma
from storelink.resilience.cache import ResponseCache
from storelink.settings import Settings
from storelink.store import EmbeddedStore

__all__ = ["SiteKnowledge", "open_knowledge"]

log = logging.getLogger("storelink.rag")


def _dense_parts(
    settings: Settings, dense: bool | None, vectors: VectorStore | None
) -> tuple[Embedder | None, VectorStore | None, str | None]:
    """The embedder and vector store, or why there are none (retrieval is then lexical-only)."""
    if dense is False:
        return None, None, "Dense retrieval is turned off; lexical-only (BM25)."
    try:
        embedder = load_embedder()
    except ModelUnavailable as exc:
        log.warning("%s", exc)
        return None, None, str(exc)
    if vectors is not None:
        return embedder, vectors, None
    try:
        store = open_chroma(data_dir=settings.data_dir, chroma_url=settings.chroma_url, model_id=embedder.model_id)
    except ImportError:
        reason = "chromadb is not installed (`pip install chromadb`); lexical-only (BM25)."
        log.warning("%s", reason)
        return None, None, reason
    return embedder, store, None


def _answer_embedder() -> Embedder | None:
    """The model for choosing answer sentences when retrieval runs without it; None if missing."""
    try:
        return load_embedder()
    except ModelUnavailable as exc:
        log.warning("%s", exc)
        return None


class SiteKnowledge:
    def __init__(
        self,
        settings: Settings,
        *,
        docs: KnowledgeStore,
        fetcher: SiteFetcher,
        index: HybridIndex,
        router: Router,
        corrections: Corrections,
        synthesizer: Synthesizer | None,
        selector: AnswerSelector | None = None,
    ) -> None:
        self.settings = settings
        self.selector = selector or router.selector
        self.docs = docs
        self.fetcher = fetcher
        self.index = index
        self.router = router
        self.corrections = corrections
        self.synthesizer = synthesizer
        self._ready = asyncio.Lock()
        # Why a search should not wait for the first ingest (someone else's, e.g. the runtime's
        # warm-up, with how far it got), or None to wait for it as usual.
        self.busy: Callable[[], str | None] = lambda: None

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        store: EmbeddedStore,
        metrics: Metrics | None = None,
        cache: ResponseCache | None = None,
        registry: Registry | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        llm_transport: httpx2.AsyncBaseTransport | None = None,
        dense: bool | None = None,
        vectors: VectorStore | None = None,
        weights: FusionWeights | None = None,
        clock: Clock | None = None,
        sentence_model: bool | None = None,
        answer_weights: AnswerWeights | None = None,
    ) -> SiteKnowledge:
        """``dense=None`` loads the embedding model when it is installed; ``False`` stays lexical.
        ``sentence_model`` chooses answer sentences with the model: ``None`` when retrieval has
        it, ``True`` even when retrieval is lexical (the test gate), ``False`` never.
        ``transport`` replaces the site's wire; ``llm_transport`` the LLM endpoint's."""
        metrics = metrics or Metrics()
        docs = KnowledgeStore(store)
        fetcher = SiteFetcher.for_settings(
            settings, metrics=metrics, cache=cache or ResponseCache(store), transport=transport, clock=clock
        )
        embedder, vector_store, reason = await asyncio.to_thread(_dense_parts, settings, dense, vectors)
        index = HybridIndex(
            docs,
            weights=weights or tuned_weights(),
            index_dir=settings.data_dir / "rag" / "bm25",
            embedder=embedder,
            vectors=vector_store,
            dense_unavailable=reason,
        )
        origin = docs.get_state("origin") or origin_of(fetcher.base_url)
        corrections = load_corrections(origin=origin, data_dir=settings.data_dir, embedder=embedder)
        answer_embedder: Embedder | None = embedder if sentence_model is not False else None
        if answer_embedder is None and sentence_model:
            answer_embedder = await asyncio.to_thread(_answer_embedder)
        selector = AnswerSelector(
            answer_weights or tuned_answer_weights(),
            embedder=answer_embedder,
            docs=docs,
            query_vector=index.query_vector if index.embedder is not None else None,
        )
        if index.embedder is not None and selector.embedder is not None:
            index.sentence_source = selector.chunk_sentences  # sentence-level dense retrieval
        synthesizer = (
            Synthesizer(settings, metrics=metrics, transport=llm_transport, clock=clock)
            if settings.llm_base_url and settings.llm.enabled
            else None
        )
        kb = cls(
            settings,
            docs=docs,
            fetcher=fetcher,
            index=index,
            router=Router(
                corrections=corrections,
                docs=docs,
                search=lambda q, k: kb.search(q, k),
                registry=registry,
                synthesizer=synthesizer,
                selector=selector,
            ),
            corrections=corrections,
            synthesizer=synthesizer,
            selector=selector,
        )
        return kb

    def with_registry(self, registry: Registry) -> SiteKnowledge:
        """The same knowledge (pages, index, corrections; one ingest lock) whose router answers data
        questions from ``registry``'s connectors: each store's view of the deployment's site."""
        view = copy.copy(self)
        view.router = Router(
            corrections=self.corrections,
            docs=self.docs,
            search=lambda q, k: view.search(q, k),
            registry=registry,
            synthesizer=self.synthesizer,
            selector=self.selector,
        )
        return view

    @property
    def mode(self) -> Mode:
        return self.fetcher.mode

    # -- building --------------------------------------------------------------------------------
    async def discover(self, url: str | None = None, *, limits: CrawlLimits | None = None) -> DiscoverReport:
        return await discover(self.fetcher, self.docs, start_url=url, limits=limits)

    async def ingest(self, url: str | None = None, *, embed: bool = True) -> IngestReport:
        report = await ingest(self.fetcher, self.docs, self.index, url=url, embed=embed)
        if embed and self.index.mode == "hybrid":  # answer sentences' vectors: answering never embeds
            await asyncio.to_thread(self.selector.warm, self.docs.chunks())
        return report

    async def ensure_ready(self) -> IngestReport | None:
        """Mock mode's first use: discover and ingest the demo site when nothing is ingested yet."""
        if self.mode != "mock":
            return None
        if self.docs.page_count() > 0 and not self._ready.locked():
            return None  # ingested, and no first ingest is still writing (the warm-up's, say)
        if (note := self.busy()) is not None:  # answer now with how far it got, not in 20-50 s
            raise ConnectorError(
                ErrorKind.UNAVAILABLE, note, connector="site", operation="search", retryable=True, retry_after_s=5.0
            )
        async with self._ready:
            if self.docs.page_count() > 0:
                return None
            log.info("site knowledge: first use in mock mode; ingesting the demo site")
            return await self.ingest()

    # -- reading ---------------------------------------------------------------------------------
    async def search(self, query: str, k: int = 10, *, mode: RetrievalMode | None = None) -> tuple[list[Passage], str]:
        """Ranked passages and the retrieval mode that produced them."""
        await self.ensure_ready()
        used: str = mode or self.index.mode
        if self.index.embedder is None:
            used = "lexical"
        hits = await asyncio.to_thread(self.index.search, query, k, mode=mode)
        passages = [
            row.passage(round(hit.score, 6), lexical_rank=hit.lexical_rank, dense_rank=hit.dense_rank)
            for hit, row in self.index.chunks_for(hits)
        ]
        return passages, used

    async def page(self, url_or_id: str) -> PageRow | None:
        """A stored page by URL (any spelling of it), page id or chunk id."""
        await self.ensure_ready()
        found = self.docs.page_by_id(url_or_id)
        if found is None and url_or_id.startswith(("http://", "https://", "/")):
            origin = self.docs.get_state("origin") or origin_of(self.fetcher.base_url)
            canonical = canonical_url(url_or_id, origin)
            found = self.docs.page(canonical) if canonical else None
        if found is None:
            chunk = self.docs.chunks_by_id([url_or_id]).get(url_or_id)
            found = self.docs.page(chunk.url) if chunk else None
        return found

    async def answer(self, question: str, *, k: int = 5, escalate: bool = False) -> Answer:
        return await self.router.route(question, k=k, escalate=escalate)

    def status(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "site": self.docs.get_state("origin") or self.fetcher.base_url,
            "urls": len(self.docs.urls()),
            "pages": self.docs.page_count(),
            "chunks": self.docs.chunk_count(),
            "retrieval": self.index.mode,
            "dense_note": self.index.dense_unavailable,
            "fusion": self.index.weights.describe(),
            "corrections": len(self.corrections.entries),
            "synthesis": bool(self.synthesizer),
            "last_discover": self.docs.get_json("last_discover"),
            "last_ingest": self.docs.get_json("last_ingest"),
        }

    async def aclose(self) -> None:
        await self.fetcher.aclose()
        if self.synthesizer is not None:
            await self.synthesizer.aclose()


@asynccontextmanager
async def open_knowledge(settings: Settings, **kwargs: Any) -> AsyncIterator[SiteKnowledge]:
    kb = await SiteKnowledge.open(settings, **kwargs)
    try:
        yield kb
    finally:
        await kb.aclose()
