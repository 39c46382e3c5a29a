"""Pure ranking helpers: fusing dense and lexical candidate lists, grouping passages by article.

Candidates are `(chunk_id, score)` lists, best first. Nothing here touches the disk or the model,
so the ranking logic is tested without an index.
"""

from __future__ import annotations

from collections.abc import Sequence

Candidates = Sequence[tuple[int, float]]


def reciprocal_rank_fusion(lists: Sequence[Candidates], k: float = 60.0) -> list[tuple[int, float]]:
    """RRF (Cormack et al. 2009): each list adds 1 / (k + rank) for every item it ranks (rank from 1).

    >>> reciprocal_rank_fusion([[(1, .9), (2, .8)], [(2, 7.0), (3, 5.0)]], k=60)[0][0]
    2
    """
    fused: dict[int, float] = {}
    for candidates in lists:
        for rank, (item, _) in enumerate(candidates, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))


def _min_max(candidates: Candidates) -> dict[int, float]:
    if not candidates:
        return {}
    scores = [score for _, score in candidates]
    low, high = min(scores), max(scores)
    span = high - low
    return {item: (score - low) / span if span > 0 else 1.0 for item, score in candidates}


def linear_fusion(dense: Candidates, lexical: Candidates, weight: float = 0.5) -> list[tuple[int, float]]:
    """Min-max normalise each list's scores to [0, 1], then `weight * dense + (1 - weight) * lexical`;
    an item missing from a list gets 0 from it.

    Passage 2, second on the dense side and first on the lexical one, beats passage 1, first on
    the dense side alone:

    >>> linear_fusion([(1, .9), (2, .8), (4, .1)], [(2, 12.0), (3, 3.0)], weight=0.5)[:2]
    [(2, 0.9375), (1, 0.5)]
    """
    d, lx = _min_max(dense), _min_max(lexical)
    fused = {item: weight * d.get(item, 0.0) + (1 - weight) * lx.get(item, 0.0) for item in set(d) | set(lx)}
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))


def group_by_article(ranked: Candidates, article_of: dict[int, str], per_article: int) -> list[tuple[str, float, list[tuple[int, float]]]]:
    """Group ranked passages by article: an article scores its best passage and keeps up to
    `per_article` of its passages, best first. Articles come best first, ties by id, so that the
    order is the same on every call (stable pagination). Passages whose article is unknown (removed
    since the candidates were found) are dropped."""
    groups: dict[str, list[tuple[int, float]]] = {}
    for chunk_id, score in ranked:
        article_id = article_of.get(chunk_id)
        if article_id is None:
            continue
        passages = groups.setdefault(article_id, [])
        if len(passages) < per_article:
            passages.append((chunk_id, score))
    ordered = sorted(groups.items(), key=lambda item: (-item[1][0][1], item[0]))
    return [(article_id, passages[0][1], passages) for article_id, passages in ordered]
