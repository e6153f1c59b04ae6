"""Fusion of the lexical and dense rankings: z-score fusion (in use) or weighted reciprocal ranks.

**z-score fusion** (``method = "zscore"``). Each side's scores over its top ``depth`` are
standardised (``z = (s - mean) / std``); a document earns ``w · max(z, 0) ** power`` from each side
that ranks it, and the sums are sorted. Squaring the positive part lets a side count only where
its top stands out from its own tail, query by query: a confident dense hit wins on a question
written in other words, a rare exact word wins when the model is lost (another language, a SKU).

**Weighted RRF** (``method = "rrf"``): ``score(d) = Σᵢ wᵢ / (k + rankᵢ(d))``. Ranks throw away how
far ahead a side's top is, so one fixed set of weights had to choose between sets where dense is
far ahead (the FAQ sets, where plain RRF loses 0.07-0.09 to dense alone) and sets where BM25 is
(rag.md §3: SciFact, the Swedish FAQ): no grid point held the best single retriever on all of them.

**The lexical weight follows the words the model can read** (``lexical_unread``). The embedding
model is English: on a Swedish question it reads word pieces, and BM25 is the better side by far
(0.51 against 0.35 on the Swedish FAQ); on an English one it is the other way round (0.61 against
0.79). A question's *known share*, the share of its words that are whole words of the model's
vocabulary (:func:`known_share`: 0.9-1.0 on English questions, 0.16 on Swedish ones, lower with a
SKU or a code in it), moves the lexical weight linearly from ``lexical_unread`` (no word known) to
``lexical`` (every word known). Peaks, gaps and the agreement of the two lists did not tell those
sets apart (docs/rag.md); the words do, before either side is searched.

Chosen on the tuning halves only (``bench/rag.py --tune``; see ``quality.toml`` and docs/rag.md).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Literal

__all__ = ["FusionMethod", "FusionWeights", "fuse", "fusion_grid", "known_share", "load_quality", "tuned_weights"]

FusionMethod = Literal["rrf", "zscore"]
_WORD = re.compile(r"[^\W\d_]+")  # runs of letters, in any alphabet


@dataclass(frozen=True, slots=True)
class FusionWeights:
    lexical: float = 1.0
    dense: float = 1.0
    k: float = 60.0  # rrf only
    depth: int = 100  # how deep each ranking is read
    method: FusionMethod = "rrf"
    power: float = 2.0  # zscore only
    lexical_unread: float | None = None  # the lexical weight when the model knows none of the words

    def lexical_weight(self, known: float) -> float:
        """The lexical weight for a question whose words the model knows a share ``known`` of."""
        if self.lexical_unread is None:
            return self.lexical
        return self.lexical_unread + (self.lexical - self.lexical_unread) * min(max(known, 0.0), 1.0)

    def describe(self) -> str:
        lexical = f"lexical {self.lexical:g}"
        if self.lexical_unread is not None:
            lexical = f"lexical {self.lexical_unread:g}→{self.lexical:g} by words known"
        if self.method == "zscore":
            return f"z-score · {lexical} · dense {self.dense:g} · power {self.power:g}"
        return f"{lexical} · dense {self.dense:g} · k {self.k:g}"


def known_share(query: str, vocabulary: Collection[str]) -> float:
    """The share of ``query``'s words that are whole words of the model's ``vocabulary`` (1.0 for a
    query without words, or without a vocabulary: then there is nothing to go by)."""
    words = [w.lower() for w in _WORD.findall(query)]
    if not words or not vocabulary:
        return 1.0
    return sum(w in vocabulary for w in words) / len(words)


def _zscores(ranking: Sequence[tuple[str, float]], power: float) -> dict[str, float]:
    if not ranking:
        return {}
    values = [score for _, score in ranking]
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) or 1.0
    return {doc_id: max((score - mean) / std, 0.0) ** power for doc_id, score in ranking}


def fuse(
    lexical: Sequence[tuple[str, float]],
    dense: Sequence[tuple[str, float]],
    weights: FusionWeights,
    *,
    known: float = 1.0,
) -> list[tuple[str, float]]:
    """Fused ``(id, score)``, best first; ties keep the lexical order, then the dense order.
    ``known``: the question's :func:`known_share`, which sets the lexical weight."""
    scores: dict[str, float] = {}
    for weight, ranking in ((weights.lexical_weight(known), lexical), (weights.dense, dense)):
        if weight <= 0:
            continue
        top = ranking[: weights.depth]
        if weights.method == "zscore":
            for doc_id, z in _zscores(top, weights.power).items():
                scores[doc_id] = scores.get(doc_id, 0.0) + weight * z
        else:
            for rank, (doc_id, _) in enumerate(top, start=1):
                scores[doc_id] = scores.get(doc_id, 0.0) + weight / (weights.k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


def fusion_grid() -> list[FusionWeights]:
    """The points the shipped weights were chosen among (``bench/rag.py --tune``, ``storelink rag
    eval --tune``): z-score fusion with the lexical weight by the words the model knows (``known``
    0-0.2, ``lexical_unread`` 1.5-3), dense 2-3, power 2-3."""
    return [
        FusionWeights(known, dense, method="zscore", power=power, lexical_unread=unread)
        for known in (0.0, 0.05, 0.1, 0.2)
        for unread in (1.5, 2.0, 3.0)
        for dense in (2.0, 3.0)
        for power in (2.0, 3.0)
    ]


def load_quality() -> dict[str, object]:
    """``quality.toml`` shipped in the package: the gate thresholds, the fusion and answer weights."""
    text = resources.files("storelink.rag").joinpath("quality.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def tuned_weights() -> FusionWeights:
    fusion = load_quality().get("fusion", {})
    assert isinstance(fusion, dict)
    method = str(fusion.get("method", "rrf"))
    unread = fusion.get("lexical_unread")
    if method not in ("rrf", "zscore"):
        raise ValueError(f"quality.toml: [fusion] method must be rrf or zscore, not {method!r}")
    return FusionWeights(
        lexical=float(fusion.get("lexical", 1.0)),
        dense=float(fusion.get("dense", 1.0)),
        k=float(fusion.get("k", 60.0)),
        method="zscore" if method == "zscore" else "rrf",
        power=float(fusion.get("power", 2.0)),
        lexical_unread=None if unread is None else float(unread),
    )
