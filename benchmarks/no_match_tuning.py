"""Calibrating "no good match" (search_api.searcher.MIN_CONFIDENCE): the confidence of questions the
archive answers against that of questions written for another corpus, per mode.

    article-search eval ../shared/data/squad-dev-a --index /tmp/squad-idx --max-queries 10   # builds the index
    python benchmarks/no_match_tuning.py /tmp/squad-idx --dataset ../shared/data/squad-dev-a \\
        --other tests/fixtures/wikinews_questions.jsonl --max-queries 2000

For each threshold it prints the share of the other corpus's questions left with no results and
the in-archive recall@5 with the decision against without it; docs/quality.md records the choice.
"""

from __future__ import annotations

import argparse

import numpy as np

from search_api.evaluation import load_beir, load_queries, sample_queries
from search_api.searcher import CANDIDATE_DEPTH, MODES, Filters, Searcher


def confidences(searcher: Searcher, queries: dict[str, str], mode: str) -> dict[str, tuple[float, list[str]]]:
    """Each query's confidence and its top 5 articles (no threshold), in `mode`."""
    ids = list(queries)
    vectors = searcher.encoder.encode([queries[q] for q in ids], batch_size=64, progress=False)
    result = {}
    for qid, vector in zip(ids, vectors):
        ranked = searcher._ranked(queries[qid], vector, mode, Filters(), CANDIDATE_DEPTH)
        top = searcher.search(queries[qid], k=5, mode=mode, passages=1, highlight=False, query_vector=vector,
                              min_confidence=0)
        result[qid] = (searcher.confidence(queries[qid], vector, ranked), [hit.article_id for hit in top.results])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", help="an index of the data set's corpus (article-search eval --index builds one)")
    parser.add_argument("--dataset", required=True, help="BEIR folder: the in-archive questions")
    parser.add_argument("--other", required=True, help="JSONL of questions written for another corpus (_id, text)")
    parser.add_argument("--max-queries", type=int, default=2000)
    parser.add_argument("--mode", nargs="+", choices=MODES, default=list(MODES))
    args = parser.parse_args()

    searcher = Searcher(args.index)
    _, queries, qrels = load_beir(args.dataset)
    queries = sample_queries(queries, args.max_queries)
    other = load_queries(args.other)
    for mode in args.mode:
        inside, outside = confidences(searcher, queries, mode), confidences(searcher, other, mode)
        scores = np.array([c for c, _ in outside.values()])
        print(f"{mode}: {len(inside)} in-archive, {len(outside)} other questions; confidence median "
              f"{np.median([c for c, _ in inside.values()]):.3f} in-archive, {np.median(scores):.3f} other")
        found = {q: bool(set(top) & set(qrels[q])) for q, (_, top) in inside.items()}
        base = sum(found.values()) / len(found)
        for threshold in np.arange(0.30, 0.501, 0.01):
            kept = sum(hit and inside[q][0] >= threshold for q, hit in found.items()) / len(found)
            print(f"  {threshold:.2f}  no results {np.mean(scores < threshold):6.1%}   recall@5 {kept:.4f} "
                  f"(without {base:.4f}, {100 * (kept - base):+.2f} points)")


if __name__ == "__main__":
    main()
