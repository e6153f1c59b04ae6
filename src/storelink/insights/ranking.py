"""Cutting a ranked list to ``limit`` rows per kind, so a kind with large values (dead stock worth a
fortune, a page of striking-distance queries) cannot hide the others."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar


class _Kinded(Protocol):
    @property
    def kind(self) -> str: ...


T = TypeVar("T", bound=_Kinded)


def per_kind(ranked: Sequence[T], limit: int) -> tuple[list[T], dict[str, int], bool]:
    """The first ``limit`` rows of each kind in their ranked order, the count per kind, and whether any was cut."""
    counts: dict[str, int] = {}
    kept: list[T] = []
    for row in ranked:
        counts[row.kind] = counts.get(row.kind, 0) + 1
        if counts[row.kind] <= limit:
            kept.append(row)
    return kept, counts, any(n > limit for n in counts.values())
