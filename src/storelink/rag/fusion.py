"""Weighted reciprocal-rank fusion of the lexical and dense rankings.

``score(d) = Σᵢ wᵢ / (k + rankᵢ(d))`` over the rankings that contain ``d`` (rank from 1).
Plain RRF (equal weights, k = 60) raised SciFact but *lowered* the FAQ set from dense 0.714 to
0.622 (rag.md §3.1): fusion that loses to one of its inputs is mis-tuned. The weights in use are
tuned on the goldens (``storelink rag eval --tune``) and kept in ``quality.toml``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

__all__ = ["FusionWeights", "fuse", "load_quality", "tuned_weights"]


@dataclass(frozen=True, slots=True)
class FusionWeights:
    lexical: float = 1.0
    dense: float = 1.0
    k: float = 60.0
    depth: int = 100  # how deep each ranking is read

    def describe(self) -> str:
        return f"lexical {self.lexical:g} · dense {self.dense:g} · k {self.k:g}"


def fuse(
    lexical: Sequence[tuple[str, float]], dense: Sequence[tuple[str, float]], weights: FusionWeights
) -> list[tuple[str, float]]:
    """Fused ``(id, score)``, best first; ties keep the lexical order, then the dense order."""
    scores: dict[str, float] = {}
    for weight, ranking in ((weights.lexical, lexical), (weights.dense, dense)):
        if weight <= 0:
            continue
        for rank, (doc_id, _) in enumerate(ranking[: weights.depth], start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + weight / (weights.k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


def load_quality() -> dict[str, object]:
    """``quality.toml`` shipped in the package: the gate threshold and the tuned fusion weights."""
    text = resources.files("storelink.rag").joinpath("quality.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def tuned_weights() -> FusionWeights:
    fusion = load_quality().get("fusion", {})
    assert isinstance(fusion, dict)
    return FusionWeights(
        lexical=float(fusion.get("lexical", 1.0)),
        dense=float(fusion.get("dense", 1.0)),
        k=float(fusion.get("k", 60.0)),
    )
