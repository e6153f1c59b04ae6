"""Fusion: z-score fusion lets the side whose top stands out decide; RRF as before."""

from __future__ import annotations

from storelink.rag.fusion import FusionWeights, fuse, tuned_weights

Z = FusionWeights(lexical=1.0, dense=2.25, method="zscore", power=2.0)


def _flat(prefix: str, n: int, top: float, rest: float) -> list[tuple[str, float]]:
    return [(f"{prefix}0", top)] + [(f"{prefix}{i}", rest - 0.001 * i) for i in range(1, n)]


def test_a_side_whose_top_stands_out_wins_over_a_flat_one() -> None:
    confident_dense = _flat("d", 50, top=0.9, rest=0.4)
    flat_lexical = [(f"l{i}", 10.0 - 0.01 * i) for i in range(50)]
    assert fuse(flat_lexical, confident_dense, Z)[0][0] == "d0"
    confident_lexical = _flat("l", 50, top=30.0, rest=5.0)
    flat_dense = [(f"d{i}", 0.5 - 0.0005 * i) for i in range(50)]
    assert fuse(confident_lexical, flat_dense, Z)[0][0] == "l0"


def test_a_document_both_sides_rank_high_beats_one_only_one_does() -> None:
    lexical = [("both", 20.0), ("lex", 19.0)] + [(f"l{i}", 5.0) for i in range(30)]
    dense = [("dense", 0.81), ("both", 0.80)] + [(f"d{i}", 0.3) for i in range(30)]
    assert fuse(lexical, dense, Z)[0][0] == "both"


def test_rrf_is_still_there_and_a_zero_weight_side_is_ignored() -> None:
    rrf = FusionWeights(lexical=0.0, dense=1.0, k=60)
    assert [d for d, _ in fuse([("a", 3.0)], [("b", 0.5), ("a", 0.4)], rrf)] == ["b", "a"]
    assert fuse([], [], Z) == []
    assert fuse([("only", 1.0)], [], Z) == [("only", 0.0)]  # one document: nothing stands out


def test_the_shipped_weights_are_the_z_score_fusion() -> None:
    weights = tuned_weights()
    assert weights.method == "zscore" and weights.dense > weights.lexical > 0
    assert weights.describe().startswith("z-score")
