"""Fusion: z-score fusion lets the side whose top stands out decide, BM25 weighs more on a question
the model cannot read; RRF as before."""

from __future__ import annotations

import pytest

from storelink.rag.fusion import FusionWeights, fuse, known_share, tuned_weights

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
    assert weights.lexical_unread is not None and weights.lexical_unread > weights.lexical
    assert weights.describe().startswith("z-score")


def test_the_share_of_words_the_model_knows_tells_english_from_another_language() -> None:
    vocabulary = {"how", "long", "is", "the", "return", "window", "for", "parts"}
    assert known_share("How long is the return window for parts?", vocabulary) == 1.0
    assert known_share("Hur lång är returtiden för delar?", vocabulary) == 0.0
    assert known_share("return window för delar", vocabulary) == 0.5  # words in any alphabet count
    assert known_share("ICB-BP-0000 return", vocabulary) == pytest.approx(1 / 3)  # codes are words it lacks
    assert known_share("1234 ???", vocabulary) == 1.0  # no words: nothing to go by
    assert known_share("Hur lång är returtiden?", frozenset()) == 1.0  # no vocabulary (no model): neither


def test_the_lexical_weight_moves_from_unread_to_known_linearly() -> None:
    weights = FusionWeights(lexical=0.2, dense=3.0, method="zscore", power=3.0, lexical_unread=1.5)
    assert weights.lexical_weight(1.0) == pytest.approx(0.2)
    assert weights.lexical_weight(0.0) == pytest.approx(1.5)
    assert weights.lexical_weight(0.5) == pytest.approx(0.85)
    assert weights.lexical_weight(7.0) == pytest.approx(0.2)  # clamped
    assert FusionWeights(lexical=0.7).lexical_weight(0.0) == 0.7  # without lexical_unread: fixed
    assert "1.5→0.2 by words known" in weights.describe()


def test_a_question_the_model_cannot_read_is_answered_by_its_words() -> None:
    """The same two rankings: the dense top wins for an English question, BM25's top for one the
    model cannot read (it embeds word pieces: its top is noise there)."""
    weights = FusionWeights(lexical=0.2, dense=3.0, method="zscore", power=3.0, lexical_unread=1.5)
    lexical = _flat("l", 30, top=12.0, rest=4.0)
    dense = [("d0", 0.55)] + [(f"d{i}", 0.5 - 0.002 * i) for i in range(1, 30)]
    assert fuse(lexical, dense, weights, known=1.0)[0][0] == "d0"
    assert fuse(lexical, dense, weights, known=0.0)[0][0] == "l0"
    assert fuse(lexical, dense, weights)[0][0] == "d0"  # known defaults to 1: every word read
