"""Site knowledge benchmark: ingest rate, query latency on 10k chunks, retrieval quality on a public set.

1. **Ingest** the demo site in-process (discover first, untimed): pages per second for fetching,
   extraction and chunking without embeddings, the same for a second run over the unchanged
   site (all 304s), and the embedding rate on top (chunks/s and word-pieces/s).
2. **Query latency** (p50/p95) of lexical, dense and hybrid search on an index of at least
   10,000 chunks: the demo site's chunks plus the FAQ set's answers and questions, replicated
   with a marker word until 10,000 chunks. BM25 is built over all of them. Real embeddings of
   the distinct texts go into Chroma; each replica's vector is a normalised mix of two real
   vectors plus noise, so the HNSW graph is as dense as a real one (embedding 10k chunks for
   real would take ~25 min on 2 cores). The query is embedded for real on every call.
3. **Quality** on ``zaragoza-construction-faq`` (PyPI, CC BY 4.0): the 503 English questions
   against the 503 answers, one relevant answer each. nDCG@10, recall@10 and MRR@10 for BM25,
   dense, equal-weight RRF (k = 60) and the weights tuned on our goldens (quality.toml).

Embeddings are cached under ``--cache`` (keyed by model hash and text hash), so reruns are fast.

    python bench/rag.py [--queries 300] [--cache .storelink/bench-rag]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storelink.fakes.base import InProcessTransport
from storelink.fakes.site import SiteFake
from storelink.rag.docstore import ChunkRow, KnowledgeStore
from storelink.rag.embed import OnnxEmbedder, load_embedder
from storelink.rag.fusion import FusionWeights, fuse, tuned_weights
from storelink.rag.knowledge import SiteKnowledge
from storelink.rag.lexical import LexicalIndex
from storelink.rag.scoring import mrr_at_k, ndcg_at_k, recall_at_k
from storelink.rag.vectors import MemoryVectors, open_chroma
from storelink.settings import Settings
from storelink.store import EmbeddedStore

console = Console()


def cached_embed(embedder: OnnxEmbedder, texts: list[str], cache: KnowledgeStore) -> np.ndarray:
    shas = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    found = cache.cached_vectors(embedder.model_id, sorted(set(shas)))
    todo = sorted({s: t for s, t in zip(shas, texts, strict=True) if s not in found}.items())
    for start in range(0, len(todo), 256):
        part = todo[start : start + 256]
        vectors = embedder.embed([t for _, t in part])
        cache.cache_vectors(embedder.model_id, [(s, vectors[i]) for i, (s, _) in enumerate(part)])
        found.update({s: vectors[i] for i, (s, _) in enumerate(part)})
    return np.stack([found[s] for s in shas]).astype(np.float32)


# -- 1. ingest ------------------------------------------------------------------------------------------


async def bench_ingest(embedder: OnnxEmbedder) -> tuple[list[ChunkRow], dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp))  # type: ignore[call-arg]
        store = EmbeddedStore(Path(tmp) / "bench.db")
        fake = SiteFake()
        kb = await SiteKnowledge.open(settings, store=store, transport=InProcessTransport(fake.app), dense=False)
        try:
            await kb.discover()
            first = await kb.ingest(embed=False)
            second = await kb.ingest(embed=False)
            chunks = kb.docs.chunks()
        finally:
            await kb.aclose()
    console.print(
        f"ingest (no embeddings): {first.pages} pages, {first.chunks_total} chunks: "
        f"{first.pages_per_s:.0f} pages/s first run, {second.pages_per_s:.0f} pages/s unchanged "
        f"({second.not_modified} answered 304)"
    )
    sample = chunks[:200]
    texts = [c.indexed_text for c in sample]
    tokens = sum(min(embedder.count_tokens(t) + 2, 256) for t in texts)
    started = time.perf_counter()
    embedder.embed(texts)
    elapsed = time.perf_counter() - started
    console.print(
        f"embedding on top: {len(texts) / elapsed:.1f} chunks/s, {tokens / elapsed:.0f} word-pieces/s "
        f"({len(texts)} demo-site chunks, mean {tokens / len(texts):.0f} word-pieces); "
        f"the whole site's {first.chunks_total} chunks ≈ {first.chunks_total / (len(texts) / elapsed):.0f} s once"
    )
    return chunks, {
        "ingest_pages_per_s": first.pages_per_s,
        "unchanged_pages_per_s": second.pages_per_s,
        "embed_chunks_per_s": len(texts) / elapsed,
    }


# -- 2. latency -------------------------------------------------------------------------------------------


def bench_latency(
    embedder: OnnxEmbedder, site_chunks: list[ChunkRow], faq: list[dict[str, str]], cache: KnowledgeStore, n: int
) -> None:
    base = [(c.id, c.indexed_text) for c in site_chunks]
    base += [(f"faq-a-{r['id']}", r["a"]) for r in faq] + [(f"faq-q-{r['id']}", r["q"]) for r in faq]
    base_vectors = cached_embed(embedder, [t for _, t in base], cache)
    rng = np.random.default_rng(7)
    docs: list[tuple[str, str]] = list(base)
    vectors = [base_vectors]
    replica = 0
    while len(docs) < 10_000:
        replica += 1
        docs += [(f"{doc_id}-r{replica}", f"{text} edition{replica}") for doc_id, text in base]
        a = base_vectors[rng.permutation(len(base))]
        mix = 0.7 * base_vectors + 0.3 * a + rng.normal(0, 0.02, base_vectors.shape).astype(np.float32)
        vectors.append((mix / np.linalg.norm(mix, axis=1, keepdims=True)).astype(np.float32))
    matrix = np.concatenate(vectors)[: len(docs)]
    started = time.perf_counter()
    lexical = LexicalIndex.build(docs)
    build_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        chroma = open_chroma(data_dir=Path(tmp), chroma_url=None, model_id="bench")
        started = time.perf_counter()
        chroma.upsert([d for d, _ in docs], matrix, ["" for _ in docs])
        add_s = time.perf_counter() - started
        weights = tuned_weights()
        queries = [r["q"] for r in faq][:n]
        timings: dict[str, list[float]] = {"lexical": [], "dense": [], "hybrid": []}
        for q in queries[:10]:  # warm up
            chroma.query(embedder.embed([q])[0], 100)
        for q in queries:
            t0 = time.perf_counter()
            lex = lexical.search(q, weights.depth)
            t1 = time.perf_counter()
            dense = chroma.query(embedder.embed([q])[0], weights.depth)
            t2 = time.perf_counter()
            fuse(lex, dense, weights)[:10]
            t3 = time.perf_counter()
            timings["lexical"].append(t1 - t0)
            timings["dense"].append(t2 - t1)
            timings["hybrid"].append(t3 - t0)
    console.print(
        f"latency index: {len(docs)} chunks (BM25 built in {build_s:.1f} s; Chroma add {add_s:.1f} s); "
        f"{len(queries)} FAQ questions, top-{weights.depth} from each side, fused top 10"
    )
    table = Table("retrieval", "p50 ms", "p95 ms", "max ms")
    for name, values in timings.items():
        values.sort()
        p50 = statistics.median(values) * 1000
        p95 = values[int(0.95 * (len(values) - 1))] * 1000
        table.add_row(name, f"{p50:.1f}", f"{p95:.1f}", f"{values[-1] * 1000:.1f}")
        console.print(f"query {name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms on {len(docs)} chunks")
    console.print(table)


# -- 3. quality -------------------------------------------------------------------------------------------


def bench_quality(embedder: OnnxEmbedder, faq: list[dict[str, str]], cache: KnowledgeStore) -> None:
    answers = [(r["id"], r["a"]) for r in faq]
    lexical = LexicalIndex.build(answers)
    dense = MemoryVectors(embedder.dim)
    dense.upsert([i for i, _ in answers], cached_embed(embedder, [a for _, a in answers], cache), [""] * len(answers))
    questions = [(r["id"], r["q"]) for r in faq]
    q_vectors = cached_embed(embedder, [q for _, q in questions], cache)
    runs: dict[str, list[list[str]]] = {}
    lex_lists = [lexical.search(q, 100) for _, q in questions]
    dense_lists = [dense.query(q_vectors[i], 100) for i in range(len(questions))]
    runs["BM25 (bm25s + stemmer)"] = [[d for d, _ in r] for r in lex_lists]
    runs["dense (MiniLM int8)"] = [[d for d, _ in r] for r in dense_lists]
    equal = FusionWeights(1.0, 1.0, 60.0)
    runs["hybrid, equal RRF k=60"] = [
        [d for d, _ in fuse(a, b, equal)] for a, b in zip(lex_lists, dense_lists, strict=True)
    ]
    tuned = tuned_weights()
    runs[f"hybrid, tuned ({tuned.describe()})"] = [
        [d for d, _ in fuse(a, b, tuned)] for a, b in zip(lex_lists, dense_lists, strict=True)
    ]
    table = Table("zaragoza-construction-faq EN (n=503)", "nDCG@10", "recall@10", "MRR@10")
    for name, ranked in runs.items():
        nd = np.mean([ndcg_at_k(r, {qid}, 10) for r, (qid, _) in zip(ranked, questions, strict=True)])
        rc = np.mean([recall_at_k(r, {qid}, 10) for r, (qid, _) in zip(ranked, questions, strict=True)])
        mr = np.mean([mrr_at_k(r, {qid}, 10) for r, (qid, _) in zip(ranked, questions, strict=True)])
        table.add_row(name, f"{nd:.3f}", f"{rc:.3f}", f"{mr:.3f}")
    console.print(table)
    console.print("reference (rag.md §3.1, bm25s without stemmer): BM25 0.497, dense 0.714, equal RRF 0.622")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--cache", type=Path, default=Path(".storelink/bench-rag"))
    args = parser.parse_args()
    import zaragoza_construction_faq as zcf  # type: ignore[import-untyped]

    faq: list[dict[str, str]] = zcf.load(lang="en")
    embedder = load_embedder()
    args.cache.mkdir(parents=True, exist_ok=True)
    cache = KnowledgeStore(EmbeddedStore(args.cache / "embeddings.db"))
    chunks, _ = await bench_ingest(embedder)
    bench_latency(embedder, chunks, faq, cache, args.queries)
    bench_quality(embedder, faq, cache)


if __name__ == "__main__":
    asyncio.run(main())
