"""Reciprocal rank fusion: one ranking from several, by rank alone.

Dense cosines and BM25 scores live on different scales that shift with the
corpus and the query, so they are not added; each list contributes
``1 / (RRF_K + rank)`` per id (Cormack et al., 2009; 60 is their constant).
"""

from __future__ import annotations

RRF_K = 60


def reciprocal_rank_fusion(rankings: list[list[str]], k: int = RRF_K) -> list[tuple[str, float]]:
    """(id, fused score) best first; a tie keeps the order in which ids first appear
    (the first ranking's order before the second's)."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    first_seen = {item: i for i, item in enumerate(fused)}
    return sorted(fused.items(), key=lambda pair: (-pair[1], first_seen[pair[0]]))
