"""Ranking metrics over binary relevance: hit@k, recall@k, MRR@k, nDCG@k.

The SciFact and FAQ figures in the reference (rag.md §3) were computed with the same
definitions; nDCG uses log2 discounts and the ideal ranking of the relevant set.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

__all__ = ["hit_at_k", "mrr_at_k", "ndcg_at_k", "recall_at_k"]


def hit_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    return 1.0 if any(doc in relevant for doc in ranked[:k]) else 0.0


def recall_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    if not relevant:
        return 0.0
    return len(set(ranked[:k]) & set(relevant)) / len(set(relevant))


def mrr_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    for rank, doc in enumerate(ranked[:k], start=1):
        if doc in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    if not relevant:
        return 0.0
    dcg = sum(1.0 / math.log2(rank + 1) for rank, doc in enumerate(ranked[:k], start=1) if doc in relevant)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(k, len(set(relevant))) + 1))
    return dcg / ideal
