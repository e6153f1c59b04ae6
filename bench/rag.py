"""Site knowledge benchmark: ingest, query latency on 10k chunks, retrieval and answer quality.

1. **Ingest** the demo site in-process (discover first, untimed): pages per second for fetching,
   extraction and chunking without embeddings, the same for a second run over the unchanged
   site (all 304s), and the embedding rate on top (chunks/s and word-pieces/s).
2. **Query latency** (p50/p95) of lexical, dense and hybrid search on an index of at least
   10,000 chunks, and of each part (spelling + BM25, the query's embedding, Chroma's HNSW top
   100, the in-memory copy's exact top 100 that ships for the embedded store, the sentence-level
   max-sim over the pooled chunks, fusion), with the machine's load average: the demo site's
   chunks plus the FAQ set's answers and questions, replicated with a marker word until 10,000
   chunks. BM25 is built over all of them. Real embeddings of the distinct texts go into Chroma;
   each replica's vector is a normalised mix of two real vectors plus noise, so the HNSW graph is
   as dense as a real one (embedding 10k chunks for real would take ~25 min on 2 cores), and 8
   noisy copies of it stand for its sentences. The query is embedded for real on every call.
3. **Retrieval quality**, nDCG@10 of each mode (BM25, dense, RRF 1/1/k60, the first shipped RRF
   0.2/0.8/k5, the fixed z-score 1/3/p3 shipped before, the shipped fusion) side by side, on the
   *tuning* sets (the goldens, ``tuning.yaml`` and one half of each public set: even positions in
   id order) and on the *held-out* sets (the other halves and ``goldens.HELDOUT_FILES``, which
   nothing is tuned on). Public sets: ``zaragoza-construction-faq`` (PyPI, CC BY 4.0) in
   English and in Swedish, 503 questions against their answers, and the
   Python 3.11 FAQ (175 questions against their answers, PSF licence; ``bench/python_faq.py``).
   The demo site is scored page-level, with exact in-memory vectors.
4. **Answers**: pass rates on the goldens, ``tuning.yaml`` and the held-out file (hybrid, the
   router as shipped, live goldens left out), and the answer selection's own p50/p95, timed apart
   from retrieval.

``--tune`` prints the fusion grid on the tuning sets only; ``--tune-answers`` the answer grid
on the goldens and ``tuning.yaml`` only. The chosen values go into ``quality.toml`` by hand, with the figures.
Embeddings are cached under ``--cache`` (keyed by model hash and text hash), so reruns are fast.

    python bench/rag.py [--queries 300] [--cache .storelink/bench-rag] [--quality-only | --latency-only]
                        [--tune] [--tune-answers]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storelink.fakes.base import InProcessTransport
from storelink.fakes.site import SiteFake
from storelink.rag.docstore import ChunkRow, KnowledgeStore
from storelink.rag.embed import OnnxEmbedder, english_words, load_embedder
from storelink.rag.fusion import FusionWeights, fuse, fusion_grid, known_share, tuned_weights
from storelink.rag.goldens import (
    HELDOUT_FILES,
    Golden,
    answer_candidates,
    evaluate,
    load_goldens,
    load_heldout,
    load_tuning,
    tune_answers,
)
from storelink.rag.index import SentenceVectors
from storelink.rag.knowledge import SiteKnowledge
from storelink.rag.lexical import LexicalIndex
from storelink.rag.scoring import ndcg_at_k
from storelink.rag.vectors import ChromaVectors, MemoryVectors, open_chroma
from storelink.settings import Settings
from storelink.store import EmbeddedStore

console = Console(width=150)
PYTHON_FAQ = Path(__file__).resolve().parent / "data" / "python-faq-3.11.json"


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
    words = english_words()
    speller = lexical.speller(words)
    # Sentence-level dense scoring reads each pooled chunk's sentence vectors: 8 a chunk, as on the
    # demo site (3,310 sentences in 408 chunks); noisy copies of the chunk's vector (only the row
    # count matters for the time).
    per_chunk = 8
    sentence_rows = matrix[:, None, :] + 0.05 * rng.standard_normal((len(docs), per_chunk, matrix.shape[1]), np.float32)
    sentences = SentenceVectors.build({d: sentence_rows[i] for i, (d, _) in enumerate(docs)}, matrix.shape[1])
    del sentence_rows
    with tempfile.TemporaryDirectory() as tmp:
        chroma = open_chroma(data_dir=Path(tmp), chroma_url=None, model_id="bench")  # as shipped: a copy in memory
        started = time.perf_counter()
        chroma.upsert([d for d, _ in docs], matrix, ["" for _ in docs])
        add_s = time.perf_counter() - started
        hnsw = ChromaVectors(chroma._collection, mirror=False)  # the same collection, queried through Chroma
        weights = tuned_weights()
        queries = [r["q"] for r in faq][:n]
        parts = ("spelling + BM25", "query embedding", "Chroma HNSW top-100", "in-memory top-100",
                 "sentence max-sim (pool)", "fusion")  # fmt: skip
        timings: dict[str, list[float]] = {name: [] for name in (*parts, "lexical", "dense", "hybrid")}
        for q in queries[:10]:  # warm up (and load the in-memory copy)
            chroma.query(embedder.embed([q])[0], 100)
            hnsw.query(embedder.embed([q])[0], 100)
        for q in queries:
            t0 = time.perf_counter()
            corrected = speller.correct(q)
            lex = lexical.search(corrected, weights.depth)
            t1 = time.perf_counter()
            vector = embedder.embed([q])[0]
            t2 = time.perf_counter()
            hnsw.query(vector, weights.depth)
            t3 = time.perf_counter()
            chunk_top = dict(chroma.query(vector, weights.depth))
            t4 = time.perf_counter()
            pool = list(dict.fromkeys([*chunk_top, *(d for d, _ in lex)]))
            best = sentences.best(pool, vector)
            scored = {d: max(chunk_top.get(d, -1.0), best.get(d, -1.0)) for d in pool}
            dense = sorted(scored.items(), key=lambda item: -item[1])[: weights.depth]
            t5 = time.perf_counter()
            fuse(lex, dense, weights, known=known_share(corrected, words))[:10]
            t6 = time.perf_counter()
            for name, value in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5), strict=True):
                timings[name].append(value)
            timings["lexical"].append(t1 - t0)
            timings["dense"].append(t2 - t1 + t5 - t3)
            timings["hybrid"].append(t2 - t0 + t6 - t3)  # as shipped: without the HNSW query
    load = os.getloadavg()
    console.print(
        f"latency index: {len(docs)} chunks (BM25 built in {build_s:.1f} s; Chroma add {add_s:.1f} s); "
        f"{len(queries)} FAQ questions, top-{weights.depth} from each side, fused top 10; "
        f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} on {os.cpu_count()} cores"
    )
    table = Table("retrieval (as shipped: lexical, dense, hybrid) and its parts", "p50 ms", "p95 ms", "max ms")
    for name, values in timings.items():
        values.sort()
        p50 = statistics.median(values) * 1000
        p95 = values[int(0.95 * (len(values) - 1))] * 1000
        table.add_row(name, f"{p50:.1f}", f"{p95:.1f}", f"{values[-1] * 1000:.1f}")
        if name in ("lexical", "dense", "hybrid"):
            console.print(f"query {name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms on {len(docs)} chunks")
    console.print(table)


# -- 3. quality -------------------------------------------------------------------------------------------

Ranking = list[tuple[str, float]]
Fuser = Callable[[str, Ranking, Ranking], Ranking]  # (the query as searched, lexical, dense)


@dataclass
class RetrievalSet:
    """Each query (as searched), its relevant ids, BM25 top 100 and dense top 100; ``pages``
    collapses chunks to pages."""

    name: str
    queries: list[str]
    relevant: list[set[str]]
    lexical: list[Ranking]
    dense: list[Ranking]
    pages: dict[str, str] | None = None


def halves(rows: list[tuple[str, str, str]]) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """Tuning half (even positions in id order) and reporting half (odd)."""
    ordered = sorted(rows)
    return ordered[0::2], ordered[1::2]


def qa_set(name: str, rows: list[tuple[str, str, str]], embedder: OnnxEmbedder, cache: KnowledgeStore) -> RetrievalSet:
    """``(id, question, answer)`` rows: each question's one relevant document is its own answer."""
    lexical = LexicalIndex.build([(i, a) for i, _, a in rows])
    dense = MemoryVectors(embedder.dim)
    dense.upsert([i for i, _, _ in rows], cached_embed(embedder, [a for _, _, a in rows], cache), [""] * len(rows))
    q_vectors = cached_embed(embedder, [q for _, q, _ in rows], cache)
    return RetrievalSet(
        name,
        [q for _, q, _ in rows],
        [{i} for i, _, _ in rows],
        [lexical.search(q, 100) for _, q, _ in rows],
        [dense.query(q_vectors[n], 100) for n in range(len(rows))],
    )


def site_set(name: str, kb: SiteKnowledge, goldens: list[Golden]) -> RetrievalSet:
    scored = [g for g in goldens if g.ranked]
    assert kb.index.vectors is not None
    return RetrievalSet(
        name,
        [kb.index.correct(g.question) for g in scored],
        [set(g.expected_urls) for g in scored],
        [kb.index.lexical().search(kb.index.correct(g.question), 100) for g in scored],
        [kb.index.dense(g.question, 100, kb.index.lexical().search(kb.index.correct(g.question), 100)) for g in scored],
        {c.id: urlsplit(c.url).path or "/" for c in kb.docs.chunks()},
    )


def ndcg(s: RetrievalSet, fuser: Fuser) -> float:
    total = 0.0
    for query, relevant, lexical, dense in zip(s.queries, s.relevant, s.lexical, s.dense, strict=True):
        ranked = [d for d, _ in fuser(query, lexical, dense)]
        if s.pages is not None:
            ranked = list(dict.fromkeys(s.pages[d] for d in ranked))
        total += ndcg_at_k(ranked, relevant, 10)
    return total / len(s.relevant)


def fused(weights: FusionWeights) -> Fuser:
    words = english_words()
    return lambda query, lexical, dense: fuse(lexical, dense, weights, known=known_share(query, words))


def modes() -> dict[str, Fuser]:
    shipped = tuned_weights()
    return {
        "BM25": lambda query, lexical, dense: lexical,
        "dense": lambda query, lexical, dense: dense,
        "RRF 1/1/k60": fused(FusionWeights(1.0, 1.0, 60.0)),
        "RRF 0.2/0.8/k5 (first shipped)": fused(FusionWeights(0.2, 0.8, 5.0)),
        "z-score 1/3/p3 (before)": fused(FusionWeights(1.0, 3.0, method="zscore", power=3.0)),
        f"hybrid ({shipped.describe()})": fused(shipped),
    }


def grid() -> dict[str, Fuser]:
    out: dict[str, Fuser] = {}
    for lexical in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        for k in (5.0, 10.0, 20.0, 60.0):
            out[f"RRF {lexical:g}/{1 - lexical:g}/k{k:g}"] = fused(FusionWeights(lexical, 1 - lexical, k))
    for dense in (1.0, 1.5, 1.75, 2.0, 2.25, 2.5, 3.0):
        for power in (1.0, 1.5, 2.0, 3.0):
            out[f"z-score 1/{dense:g}/p{power:g}"] = fused(FusionWeights(1.0, dense, method="zscore", power=power))
    for w in fusion_grid():  # the lexical weight by the share of words the model knows
        out[f"z-score {w.lexical_unread:g}→{w.lexical:g}/{w.dense:g}/p{w.power:g}"] = fused(w)
    return out


def table(title: str, sets: list[RetrievalSet], fusers: dict[str, Fuser], *, sort: bool = False) -> None:
    scores = {name: [ndcg(s, f) for s in sets] for name, f in fusers.items()}
    best = [max(scores["BM25"][i], scores["dense"][i]) for i in range(len(sets))] if "BM25" in scores else None
    out = Table(title, *(s.name for s in sets), "worst margin over best single")
    rows = list(scores.items())
    if sort and best is not None:
        rows.sort(key=lambda kv: -min(v - b for v, b in zip(kv[1], best, strict=True)))
    for name, values in rows:
        margin = min(v - b for v, b in zip(values, best, strict=True)) if best is not None else 0.0
        out.add_row(name, *(f"{v:.3f}" for v in values), f"{margin:+.3f}")
    console.print(out)


async def open_site(cache_dir: Path, *, sentence_model: bool = True) -> SiteKnowledge:
    """The demo site, hybrid with exact in-memory vectors; its embeddings cached under ``cache_dir``."""
    settings = Settings(_env_file=None, data_dir=cache_dir / "site")  # type: ignore[call-arg]
    kb = await SiteKnowledge.open(
        settings,
        store=EmbeddedStore(cache_dir / "site.db"),
        transport=InProcessTransport(SiteFake().app),
        dense=True,
        vectors=MemoryVectors(384),
        sentence_model=sentence_model,
    )
    if kb.docs.page_count() == 0:
        await kb.discover()
    await kb.ingest()
    return kb


async def bench_quality(
    embedder: OnnxEmbedder, cache: KnowledgeStore, kb: SiteKnowledge, *, tune: bool, heldout: bool = True
) -> None:
    import zaragoza_construction_faq as zcf  # type: ignore[import-untyped]

    en = [(str(r["id"]), r["q"], r["a"]) for r in zcf.load(lang="en")]
    sv = [(str(r["id"]), r["q"], r["a"]) for r in zcf.load(lang="sv")]
    python_faq = json.loads(PYTHON_FAQ.read_text(encoding="utf-8"))["rows"]
    py = [(r["id"], r["q"], r["a"]) for r in python_faq]
    (en_a, en_b), (sv_a, sv_b), (py_a, py_b) = halves(en), halves(sv), halves(py)
    tuning = [
        qa_set("FAQ-en A", en_a, embedder, cache),
        qa_set("FAQ-sv A", sv_a, embedder, cache),
        qa_set("Python A", py_a, embedder, cache),
        site_set("goldens", kb, load_goldens()),
        site_set("tuning.yaml", kb, load_tuning()),
    ]
    if tune:
        table("fusion grid on the TUNING sets (nDCG@10), best worst-case margin first", tuning,
              {**modes(), **grid()}, sort=True)  # fmt: skip
        return
    if not heldout:
        table("nDCG@10, tuning sets (weights chosen here)", tuning, modes())
        return
    reporting = [
        qa_set("FAQ-en B", en_b, embedder, cache),
        qa_set("FAQ-sv B", sv_b, embedder, cache),
        qa_set("Python B", py_b, embedder, cache),
        *(site_set(name.removesuffix(".yaml"), kb, load_heldout(name)) for name in HELDOUT_FILES),
    ]
    table("nDCG@10, tuning sets (weights chosen here)", tuning, modes())
    table("nDCG@10, held-out sets (nothing tuned on them)", reporting, modes())
    console.print(
        f"sets: FAQ-en/-sv = zaragoza-construction-faq (PyPI, CC BY 4.0), {len(en)} questions, halves by id; "
        f"Python = the Python 3.11 FAQ (PSF licence, {len(py)} questions, bench/data/python-faq-3.11.json); "
        f"goldens/{'/'.join(n.removesuffix('.yaml') for n in HELDOUT_FILES)} = the demo site, page-level"
    )


async def bench_answers(kb: SiteKnowledge, *, tune: bool, heldout: bool = True) -> None:
    """Answer pass rates (hybrid retrieval, the router as shipped, live goldens left out: no
    connectors here) and the answer selection's own latency, apart from retrieval."""
    if tune:
        rows = tune_answers(await answer_candidates(kb, [*load_goldens(), *load_tuning()]))
        out = Table("lexical", "heading", "rank", "type miss", "catalogue", "stand-out", "min score", "passed",
                    "answered", "refused", title="answer grid on the goldens and tuning.yaml, best first")  # fmt: skip
        for r in rows[:25]:
            weights = (r.lexical, r.heading, r.rank, r.type_miss, r.catalogue, r.stand_out, r.min_score)
            out.add_row(*(f"{v:g}" for v in weights), f"{r.passed}/{r.total}", str(r.answered_right),
                        str(r.refused_right))  # fmt: skip
        console.print(out)
        return
    out = Table("answers (hybrid, extractive)", "pass rate", "passed", "hit@10", "nDCG@10", "refused right")
    questions: list[str] = []
    sets = [("goldens (tuned on)", load_goldens()), ("tuning.yaml (tuned on)", load_tuning())]
    if heldout:
        sets += [(f"{name} (never tuned on)", load_heldout(name)) for name in HELDOUT_FILES]
    for name, goldens in sets:
        report = await evaluate(kb, goldens, skip_routes=("live",))
        none = [r for r in report.results if r.expected_route == "none"]
        out.add_row(name, f"{report.pass_rate:.3f}", f"{report.passed}/{report.total}", f"{report.hit_at_k:.3f}",
                    f"{report.ndcg:.3f}", f"{sum(r.passed for r in none)}/{len(none)}")  # fmt: skip
        questions += [g.question for g in goldens if g.route in ("retrieval", "none")]
    console.print(out)
    console.print(f"answer weights: {kb.selector.weights.describe()}")
    timings: list[float] = []
    for question in questions:
        passages, _ = await kb.search(question, kb.selector.weights.depth)
        started = time.perf_counter()
        kb.selector.select(question, passages)
        timings.append(time.perf_counter() - started)
    timings.sort()
    console.print(
        f"answer selection (sentence vectors cached at ingest, question vector from retrieval): "
        f"p50 {statistics.median(timings) * 1000:.1f} ms, p95 {timings[int(0.95 * (len(timings) - 1))] * 1000:.1f} ms "
        f"over {len(timings)} questions"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--cache", type=Path, default=Path(".storelink/bench-rag"))
    parser.add_argument("--tune", action="store_true", help="the fusion grid on the tuning sets only")
    parser.add_argument("--tune-answers", action="store_true", help="the answer grid on the goldens only")
    parser.add_argument("--quality-only", action="store_true", help="skip ingest and latency")
    parser.add_argument("--latency-only", action="store_true", help="ingest and latency, no quality")
    parser.add_argument("--tuning-sets-only", action="store_true",
                        help="quality and answers on the tuning sets alone: nothing held out is read")  # fmt: skip
    args = parser.parse_args()
    import zaragoza_construction_faq as zcf

    faq: list[dict[str, str]] = zcf.load(lang="en")
    embedder = load_embedder()
    args.cache.mkdir(parents=True, exist_ok=True)
    cache = KnowledgeStore(EmbeddedStore(args.cache / "embeddings.db"))
    if not (args.tune or args.tune_answers or args.quality_only):
        chunks, _ = await bench_ingest(embedder)
        bench_latency(embedder, chunks, faq, cache, args.queries)
    if args.latency_only:
        return
    kb = await open_site(args.cache)
    try:
        if not args.tune_answers:
            await bench_quality(embedder, cache, kb, tune=args.tune, heldout=not args.tuning_sets_only)
        if not args.tune:
            await bench_answers(kb, tune=args.tune_answers, heldout=not args.tuning_sets_only)
    finally:
        await kb.aclose()


if __name__ == "__main__":
    asyncio.run(main())
