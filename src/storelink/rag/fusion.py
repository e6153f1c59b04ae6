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

Chosen on the tuning halves only (``bench/rag.py --tune``; see ``quality.toml`` and docs/rag.md).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Literal

__all__ = ["FusionMethod", "FusionWeights", "fuse", "load_quality", "tuned_weights"]

FusionMethod = Literal["rrf", "zscore"]


@dataclass(frozen=True, slots=True)
class FusionWeights:
    lexical: float = 1.0
    dense: float = 1.0
    k: float = 60.0  # rrf only
    depth: int = 100  # how deep each ranking is read
    method: FusionMethod = "rrf"
    power: float = 2.0  # zscore only

    def describe(self) -> str:
        if self.method == "zscore":
            return f"z-score · lexical {self.lexical:g} · dense {self.dense:g} · power {self.power:g}"
        return f"lexical {self.lexical:g} · dense {self.dense:g} · k {self.k:g}"


def _zscores(ranking: Sequence[tuple[str, float]], power: float) -> dict[str, float]:
    if not ranking:
        return {}
    values = [score for _, score in ranking]
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) or 1.0
    return {doc_id: max((score - mean) / std, 0.0) ** power for doc_id, score in ranking}


def fuse(
    lexical: Sequence[tuple[str, float]], dense: Sequence[tuple[str, float]], weights: FusionWeights
) -> list[tuple[str, float]]:
    """Fused ``(id, score)``, best first; ties keep the lexical order, then the dense order."""
    scores: dict[str, float] = {}
    for weight, ranking in ((weights.lexical, lexical), (weights.dense, dense)):
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


def load_quality() -> dict[str, object]:
    """``quality.toml`` shipped in the package: the gate thresholds, the fusion and answer weights."""
    text = resources.files("storelink.rag").joinpath("quality.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def tuned_weights() -> FusionWeights:
    fusion = load_quality().get("fusion", {})
    assert isinstance(fusion, dict)
    method = str(fusion.get("method", "rrf"))
    if method not in ("rrf", "zscore"):
        raise ValueError(f"quality.toml: [fusion] method must be rrf or zscore, not {method!r}")
    return FusionWeights(
        lexical=float(fusion.get("lexical", 1.0)),
        dense=float(fusion.get("dense", 1.0)),
        k=float(fusion.get("k", 60.0)),
        method="zscore" if method == "zscore" else "rrf",
        power=float(fusion.get("power", 2.0)),
    )
