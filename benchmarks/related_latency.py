"""Latency of related coverage in process: `Searcher.related` for every article of an index, p50,
p90 and p99 in milliseconds, after one warm-up pass. Runs on whichever checkout is first on
PYTHONPATH, so the same command measures before and after a change on one index.

    PYTHONPATH=/work/main python benchmarks/related_latency.py /tmp/wt-related-ecb            # before
    PYTHONPATH=. python benchmarks/related_latency.py /tmp/wt-related-ecb --scope story       # after
    PYTHONPATH=. python benchmarks/related_latency.py /tmp/wt-related-ecb --scope similar
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from search_api.searcher import Searcher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--scope", help="story or similar (leave out where related has no scope)")
    args = parser.parse_args()

    searcher = Searcher(args.index)
    ids = [row[0] for row in searcher.reader.snapshot.rows("SELECT id FROM articles ORDER BY id")]
    options = {"scope": args.scope} if args.scope else {}
    for article_id in ids:  # warm-up: pages in the vectors and the lexical index
        searcher.related(article_id, args.k, **options)
    took = []
    for article_id in ids:
        started = time.perf_counter()
        searcher.related(article_id, args.k, **options)
        took.append((time.perf_counter() - started) * 1000)
    p50, p90, p99 = np.percentile(took, [50, 90, 99])
    print(f"{len(ids)} articles, {searcher.vector_count} passages, k={args.k}, scope {args.scope or '-'}: "
          f"p50 {p50:.1f} ms, p90 {p90:.1f} ms, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
