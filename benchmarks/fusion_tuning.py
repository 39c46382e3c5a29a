"""Fusion tuning on a BEIR set: dense and lexical candidates computed once, re-fused offline.

    article-search eval ../shared/data/squad-dev-a --index /tmp/squad-idx --max-queries 10   # builds the index
    python benchmarks/fusion_tuning.py /tmp/squad-idx --dataset ../shared/data/squad-dev-a --max-queries 1500

Prints recall@5 / MRR@10 for RRF (several k), min-max linear fusion (several weights and depths),
z-score fusion and BM25-max normalisation; docs/quality.md records the results and the choice.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from search_api.evaluation import load_beir, mean_metrics, ranking_metrics, sample_queries
from search_api.fusion import group_by_article, linear_fusion, reciprocal_rank_fusion
from search_api.searcher import Searcher


def z_fusion(dense, lexical, weight):
    def z(candidates):
        if not candidates:
            return {}
        scores = np.array([s for _, s in candidates])
        mean, std = scores.mean(), scores.std() or 1.0
        return {i: (s - mean) / std for i, s in candidates}

    d, lx = z(dense), z(lexical)
    d_min, l_min = min(d.values(), default=0), min(lx.values(), default=0)
    fused = {i: weight * d.get(i, d_min) + (1 - weight) * lx.get(i, l_min) for i in set(d) | set(lx)}
    return sorted(fused.items(), key=lambda p: (-p[1], p[0]))


def max_fusion(dense, lexical, weight):
    top = max((s for _, s in lexical), default=1.0) or 1.0
    d, lx = dict(dense), {i: s / top for i, s in lexical}
    fused = {i: weight * d.get(i, 0) + (1 - weight) * lx.get(i, 0) for i in set(d) | set(lx)}
    return sorted(fused.items(), key=lambda p: (-p[1], p[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index")
    parser.add_argument("--dataset", default=str(Path(__file__).resolve().parents[2] / "shared/data/squad-dev-a"))
    parser.add_argument("--max-queries", type=int, default=1500)
    args = parser.parse_args()
    _, queries, qrels = load_beir(args.dataset)
    queries = sample_queries(queries, args.max_queries)
    searcher = Searcher(args.index)
    ids = list(queries)
    vectors = searcher.encoder.encode([queries[q] for q in ids], batch_size=64)
    dense = {q: searcher.reader.dense(v, 1000) for q, v in zip(ids, vectors)}
    lexical = {q: searcher.reader.lexical(queries[q], 1000) for q in ids}
    article_of = searcher.reader.article_of(list({c for q in ids for c, _ in dense[q] + lexical[q]}))

    def score(fuse) -> str:
        per_query = [ranking_metrics([a for a, _, _ in group_by_article(fuse(q), article_of, 1)][:10], qrels[q])
                     for q in ids]
        m = mean_metrics(per_query)
        return f"{m['recall@5']:.4f} / {m['mrr@10']:.4f}"

    print(f"{len(ids)} queries; recall@5 / MRR@10")
    print("dense", score(lambda q: dense[q]), " lexical", score(lambda q: lexical[q]))
    for k in (10, 30, 60):
        print(f"rrf k={k}", score(lambda q: reciprocal_rank_fusion([dense[q], lexical[q]], k)))
    for depth in (100, 300, 1000):
        for w in (0.4, 0.45, 0.5, 0.55, 0.6):
            print(f"min-max linear depth={depth} w={w}", score(lambda q: linear_fusion(dense[q][:depth], lexical[q][:depth], w)))
    for w in (0.4, 0.5, 0.6):
        print(f"z-score depth=1000 w={w}", score(lambda q: z_fusion(dense[q], lexical[q], w)))
    for w in (0.5, 0.6, 0.7, 0.8):
        print(f"cosine + bm25/max depth=100 w={w}", score(lambda q: max_fusion(dense[q][:100], lexical[q][:100], w)))


if __name__ == "__main__":
    main()
