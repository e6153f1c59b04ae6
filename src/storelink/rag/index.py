"""The hybrid index: BM25 over the chunk table, dense vectors in Chroma, fused (z-score fusion).

* Lexical: :class:`~storelink.rag.lexical.LexicalIndex` (bm25s + PyStemmer), rebuilt when the
  chunk set changes and saved under ``<data dir>/rag/bm25``.
* Dense: all-MiniLM-L6-v2 int8 ONNX (:mod:`storelink.rag.embed`) into a
  :class:`~storelink.rag.vectors.VectorStore` (Chroma by default). Vectors come from the
  embedding cache, keyed by (model hash, chunk hash), so a chunk is embedded once per model.
* Dense, sentence by sentence: a chunk's dense score is the best of its own cosine and its best
  sentence's (multi-vector "max-sim"), for the chunks either side put in its top ``depth``. The
  sentence vectors are the answer selector's (``page title · heading: sentence``, embedded at
  ingest and cached), so this costs one small matrix product per query. A colloquial question
  ("do you guys save my card info") is near one sentence of a chunk that is about several
  things; the whole chunk's vector averages that sentence away. Page-level nDCG@10 (goldens,
  tuning.yaml): dense 0.904/0.821 by chunks, 0.972/0.913 with sentences; hybrid 0.954/0.830,
  0.983/0.912 (``bench/rag.py``).
* Fusion: :func:`~storelink.rag.fusion.fuse` with the weights tuned on the tuning halves; the
  lexical weight set by the share of the question's words the model knows (another language: BM25).
* Spelling: a query word that is neither a site word nor an English word is corrected to the
  nearest site word before either side reads it (:mod:`storelink.rag.spelling`).

With no embedding model (package missing, checksum mismatch) the index is lexical-only and
says why in :attr:`HybridIndex.dense_unavailable`; nothing crashes and nothing downloads.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from storelink.rag.docstore import ChunkRow, KnowledgeStore
from storelink.rag.embed import Embedder, english_words
from storelink.rag.fusion import FusionWeights, fuse, known_share
from storelink.rag.lexical import LexicalIndex
from storelink.rag.vectors import VectorStore

__all__ = ["Hit", "HybridIndex", "RetrievalMode", "SentenceVectors", "SyncReport"]

RetrievalMode = Literal["hybrid", "lexical", "dense"]
Progress = Callable[[int, int, str], Awaitable[None]]
Vector = npt.NDArray[np.float32]
# Each chunk's sentence vectors, one matrix per chunk id (the answer selector's, from the cache).
SentenceSource = Callable[[Sequence[ChunkRow]], dict[str, npt.NDArray[np.float32]]]


@dataclass(frozen=True, slots=True)
class SentenceVectors:
    """Every chunk's sentence vectors in one matrix: rows ``start[id]`` to ``end[id]``."""

    matrix: npt.NDArray[np.float32]
    start: dict[str, int]
    end: dict[str, int]

    @classmethod
    def build(cls, by_chunk: dict[str, npt.NDArray[np.float32]], dim: int) -> SentenceVectors:
        start: dict[str, int] = {}
        end: dict[str, int] = {}
        parts: list[npt.NDArray[np.float32]] = []
        row = 0
        for chunk_id in sorted(by_chunk):
            vectors = by_chunk[chunk_id]
            if len(vectors):
                start[chunk_id], end[chunk_id] = row, row + len(vectors)
                parts.append(vectors)
                row += len(vectors)
        matrix = np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, dim), dtype=np.float32)
        return cls(matrix, start, end)

    def best(self, chunk_ids: Sequence[str], vector: Vector) -> dict[str, float]:
        """Each chunk's best sentence cosine (chunks without sentences left out)."""
        present = [c for c in chunk_ids if c in self.start]
        if not present:
            return {}
        rows = np.concatenate([np.arange(self.start[c], self.end[c]) for c in present])
        scores = self.matrix[rows] @ vector
        offsets = np.cumsum([0] + [self.end[c] - self.start[c] for c in present[:-1]])
        return dict(zip(present, np.maximum.reduceat(scores, offsets).tolist(), strict=True))


@dataclass(frozen=True, slots=True)
class Hit:
    chunk_id: str
    score: float
    lexical_rank: int | None = None
    dense_rank: int | None = None


@dataclass(frozen=True, slots=True)
class SyncReport:
    embedded: int = 0  # vectors computed now
    cached: int = 0  # vectors taken from the embedding cache
    upserted: int = 0
    deleted: int = 0


class HybridIndex:
    def __init__(
        self,
        docs: KnowledgeStore,
        *,
        weights: FusionWeights,
        index_dir: Path | None = None,
        embedder: Embedder | None = None,
        vectors: VectorStore | None = None,
        dense_unavailable: str | None = None,
    ) -> None:
        self.docs = docs
        self.weights = weights
        self.index_dir = index_dir
        self.embedder = embedder if vectors is not None else None
        self.vectors = vectors if embedder is not None else None
        self.dense_unavailable = dense_unavailable
        if self.embedder is None and dense_unavailable is None:
            self.dense_unavailable = "No embedding model or vector store was configured."
        self._lexical: LexicalIndex | None = None
        self._lexical_version = ""
        self._lock = threading.Lock()
        self._query_vectors: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self.sentence_source: SentenceSource | None = None  # set by SiteKnowledge when it has the model
        self._sentences: SentenceVectors | None = None
        self._sentences_version = ""

    @property
    def mode(self) -> RetrievalMode:
        return "hybrid" if self.embedder is not None else "lexical"

    # -- lexical ---------------------------------------------------------------------------------
    def lexical(self) -> LexicalIndex:
        """The BM25 index of the current chunk set (loaded, or rebuilt when the chunks changed)."""
        version = self.docs.chunks_version()
        if self._lexical is not None and self._lexical_version == version:
            return self._lexical
        with self._lock:
            if self._lexical is not None and self._lexical_version == version:
                return self._lexical
            digest = self.docs.chunk_digest()
            loaded = LexicalIndex.load(self.index_dir, digest=digest) if self.index_dir else None
            if loaded is None:
                loaded = LexicalIndex.build([(c.id, c.indexed_text) for c in self.docs.chunks()], digest=digest)
                if self.index_dir is not None:
                    loaded.save(self.index_dir)
            self._lexical, self._lexical_version = loaded, version
            return loaded

    # -- dense -----------------------------------------------------------------------------------
    async def sync_dense(self, progress: Progress | None = None, *, batch: int = 64) -> SyncReport:
        """Make the vector store hold exactly one vector per chunk: embed what is missing (cache
        first), delete what no chunk has any more."""
        if self.embedder is None or self.vectors is None:
            return SyncReport()
        embedder, vectors = self.embedder, self.vectors
        chunks = {c.id: c for c in self.docs.chunks()}
        present = await asyncio.to_thread(vectors.ids)
        stale = sorted(present - chunks.keys())
        await asyncio.to_thread(vectors.delete, stale)
        missing = [chunks[cid] for cid in sorted(chunks.keys() - present)]
        embedded = cached = 0
        for start in range(0, len(missing), batch):
            part = missing[start : start + batch]
            shas = [c.sha for c in part]
            found = self.docs.cached_vectors(embedder.model_id, shas)
            todo = [c for c in part if c.sha not in found]
            if todo:
                fresh = await asyncio.to_thread(embedder.embed, [c.indexed_text for c in todo])
                self.docs.cache_vectors(embedder.model_id, [(c.sha, fresh[i]) for i, c in enumerate(todo)])
                found.update({c.sha: fresh[i] for i, c in enumerate(todo)})
            embedded += len(todo)
            cached += len(part) - len(todo)
            matrix = np.stack([found[c.sha] for c in part]).astype(np.float32)
            await asyncio.to_thread(vectors.upsert, [c.id for c in part], matrix, [c.url for c in part])
            if progress is not None:
                await progress(min(start + batch, len(missing)), len(missing), "embedding chunks")
        return SyncReport(embedded=embedded, cached=cached, upserted=len(missing), deleted=len(stale))

    def correct(self, query: str) -> str:
        """``query`` with its misspelt words corrected to the site's vocabulary."""
        return self.lexical().speller(english_words()).correct(query)

    def query_vector(self, query: str) -> npt.NDArray[np.float32]:
        assert self.embedder is not None
        query = self.correct(query)
        found = self._query_vectors.get(query)
        if found is None:
            found = self.embedder.embed([query])[0]
            self._query_vectors[query] = found
            if len(self._query_vectors) > 1024:
                self._query_vectors.popitem(last=False)
        return found

    def sentences(self) -> SentenceVectors | None:
        """The chunks' sentence vectors (rebuilt when the chunk set changed), or None without a source."""
        if self.sentence_source is None or self.embedder is None:
            return None
        version = self.docs.chunks_version()
        if self._sentences is not None and self._sentences_version == version:
            return self._sentences
        with self._lock:
            if self._sentences is None or self._sentences_version != version:
                by_chunk = self.sentence_source(self.docs.chunks())
                self._sentences, self._sentences_version = SentenceVectors.build(by_chunk, self.embedder.dim), version
            return self._sentences

    def dense(self, query: str, depth: int, lexical: Sequence[tuple[str, float]] = ()) -> list[tuple[str, float]]:
        """Dense top ``depth``: each chunk scored by the best of its cosine and its best sentence's,
        over the vector store's top ``depth`` and the chunks of ``lexical``."""
        assert self.vectors is not None
        vector = self.query_vector(query)
        chunks = dict(self.vectors.query(vector, depth))
        sentences = self.sentences()
        if sentences is None:
            return sorted(chunks.items(), key=lambda item: -item[1])
        pool = list(dict.fromkeys([*chunks, *(cid for cid, _ in lexical)]))
        best = sentences.best(pool, vector)
        scores = {cid: max(chunks.get(cid, -1.0), best.get(cid, -1.0)) for cid in pool}
        return sorted(((c, s) for c, s in scores.items() if s > -1.0), key=lambda item: -item[1])[:depth]

    # -- search ----------------------------------------------------------------------------------
    def search(self, query: str, k: int = 10, *, mode: RetrievalMode | None = None) -> list[Hit]:
        """Top ``k`` chunks for ``query``. ``mode`` defaults to hybrid when a model is loaded;
        asking for dense or hybrid without one answers lexically."""
        wanted = mode or self.mode
        if self.embedder is None or self.vectors is None:
            wanted = "lexical"
        depth = max(k, self.weights.depth)
        query = self.correct(query)
        lexical = self.lexical().search(query, depth) if wanted != "dense" else []
        if wanted == "lexical":
            return [Hit(cid, score, lexical_rank=i) for i, (cid, score) in enumerate(lexical[:k], start=1)]
        dense = self.dense(query, depth, lexical)
        if wanted == "dense":
            return [Hit(cid, score, dense_rank=i) for i, (cid, score) in enumerate(dense[:k], start=1)]
        lex_rank = {cid: i for i, (cid, _) in enumerate(lexical, start=1)}
        dense_rank = {cid: i for i, (cid, _) in enumerate(dense, start=1)}
        return [
            Hit(cid, score, lexical_rank=lex_rank.get(cid), dense_rank=dense_rank.get(cid))
            for cid, score in fuse(lexical, dense, self.weights, known=known_share(query, english_words()))[:k]
        ]

    def chunks_for(self, hits: list[Hit]) -> list[tuple[Hit, ChunkRow]]:
        rows = self.docs.chunks_by_id([h.chunk_id for h in hits])
        return [(h, rows[h.chunk_id]) for h in hits if h.chunk_id in rows]
