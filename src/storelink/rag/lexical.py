"""Lexical retrieval: BM25 (bm25s) over stemmed words (PyStemmer's Snowball English).

bm25s cannot add or remove documents (its IDF and average length would change, rag.md §4), so
the index is rebuilt from the chunk table whenever the chunk set changes; at our sizes that is
well under a second per thousand chunks. It is saved beside a digest of the chunk ids it was
built from, so opening an unchanged index costs a load, not a rebuild.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from storelink.rag.spelling import SiteSpeller

__all__ = ["STOPWORDS", "LexicalIndex", "analyse"]

_WORD = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")
# A short English stopword list: enough to drop the glue words questions are made of.
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "should",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "us",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
    ]
)


class _Stemmer:
    def __init__(self) -> None:
        import Stemmer  # type: ignore[import-not-found]

        self._stemmer = Stemmer.Stemmer("english")
        self._stemmer.maxCacheSize = 50_000

    def stem(self, words: list[str]) -> list[str]:
        return list(self._stemmer.stemWords(words))


_stemmer: _Stemmer | None = None


def analyse(text: str) -> list[str]:
    """Lower-case words, stopwords out, Snowball-stemmed (``"pads"`` and ``"pad"`` meet)."""
    global _stemmer
    if _stemmer is None:
        _stemmer = _Stemmer()
    words = [w.replace("'", "") for w in _WORD.findall(text.lower()) if w not in STOPWORDS]
    return _stemmer.stem(words)


def stem(words: list[str]) -> list[str]:
    """Snowball stems of ``words`` (already lower case), stopwords kept."""
    global _stemmer
    if _stemmer is None:
        _stemmer = _Stemmer()
    return _stemmer.stem(words)


def _bm25s() -> Any:
    """bm25s, imported on first use (it is slow to import). On import it sets its own logger to
    DEBUG, which would print a line per index build whatever STORELINK_LOG_LEVEL says: it inherits
    ours instead."""
    import bm25s  # type: ignore[import-untyped]

    logging.getLogger("bm25s").setLevel(logging.NOTSET)
    return bm25s


class LexicalIndex:
    """A BM25 index over ``(id, text)`` documents."""

    def __init__(self, ids: list[str], retriever: object, digest: str) -> None:
        self.ids = ids
        self._retriever = retriever
        self.digest = digest
        self._speller: SiteSpeller | None = None

    @classmethod
    def build(cls, docs: Sequence[tuple[str, str]], *, digest: str = "") -> LexicalIndex:
        bm25s = _bm25s()
        ids = [doc_id for doc_id, _ in docs]
        tokens = [analyse(text) or [""] for _, text in docs]
        retriever = bm25s.BM25(k1=1.2, b=0.75)
        if ids:
            retriever.index(tokens, show_progress=False)
        return cls(ids, retriever, digest)

    def __len__(self) -> int:
        return len(self.ids)

    def speller(self, dictionary: Collection[str]) -> SiteSpeller:
        """A speller over this index's vocabulary (each stem with the number of chunks using it);
        ``dictionary``: the English words it must never correct."""
        if self._speller is None:
            vocab: dict[str, int] = self._retriever.vocab_dict if self.ids else {}  # type: ignore[attr-defined]
            indptr = np.asarray(self._retriever.scores["indptr"]) if self.ids else np.zeros(1)  # type: ignore[attr-defined]
            counts = np.diff(indptr)
            df = {term: int(counts[i]) for term, i in vocab.items() if term and i < len(counts)}
            self._speller = SiteSpeller(df, stem, dictionary=dictionary, skip=STOPWORDS)
        return self._speller

    def search(self, query: str, k: int = 10) -> list[tuple[str, float]]:
        """Top ``k`` ``(id, score)`` with a positive score, best first."""
        if not self.ids:
            return []
        vocab: dict[str, int] = self._retriever.vocab_dict  # type: ignore[attr-defined]
        token_ids = [vocab[t] for t in analyse(query) if t in vocab]
        if not token_ids:
            return []
        scores = np.asarray(self._retriever.get_scores(token_ids), dtype=np.float32)  # type: ignore[attr-defined]
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    # -- persistence -----------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if self.ids:
            self._retriever.save(str(directory / "bm25"))  # type: ignore[attr-defined]
        (directory / "ids.json").write_text(json.dumps({"digest": self.digest, "ids": self.ids}))

    @classmethod
    def load(cls, directory: Path, *, digest: str) -> LexicalIndex | None:
        """The saved index if it was built from the chunk set ``digest``, else None."""
        bm25s = _bm25s()
        meta_path = directory / "ids.json"
        if not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError:
            return None
        if meta.get("digest") != digest:
            return None
        ids = list(meta["ids"])
        if not ids:
            return cls.build([], digest=digest)
        try:
            retriever = bm25s.BM25.load(str(directory / "bm25"))
        except (OSError, ValueError, KeyError):
            return None
        return cls(ids, retriever, digest)
