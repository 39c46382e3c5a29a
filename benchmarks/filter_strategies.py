"""Dense search with a filter: FAISS given the ids that pass (IDSelectorBatch) against a deeper
search that keeps what passes, across filter selectivities, to place `FILTER_SELECTOR_LIMIT`
(search_api/searcher.py) at their crossover.

    python benchmarks/filter_strategies.py --index /tmp/archive-1m --queries 40

The index is only read (an archive_scale.py index: 20 sources "Outlet 00".."Outlet 19", dates
spread over 1990-2024). Both strategies are the product's own code path, `Searcher.dense` at the
searcher's candidate depth, with the limit set so that one or the other is taken. Query vectors are
the stored vectors of random passages (no model is loaded). Each filter's passages are counted
first; each (filter, strategy) runs every query once to warm up, then once timed, in process, one
query at a time. Both strategies return the same kind of answer (the best passages that pass), so
only time is compared; the agreement of their top 10 is reported as a check (exact selector on the
probed lists against deeper IVF search).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import report, table  # noqa: E402

import search_api.index_readers as readers_module  # noqa: E402
from indexer import store  # noqa: E402
from search_api.query import Filters  # noqa: E402
from search_api.searcher import CANDIDATE_DEPTH, Searcher  # noqa: E402

FILTERS = [
    ("date 2010-06-15 (1 day)", Filters(None, "2010-06-15", "2010-06-15")),
    ("date 2010-06 (1 month)", Filters(None, "2010-06-01", "2010-06-30")),
    ("source + 2010", Filters("Outlet 03", "2010-01-01", "2010-12-31")),
    ("date 2010 H1 (6 months)", Filters(None, "2010-01-01", "2010-06-30")),
    ("date 2010 (1 year)", Filters(None, "2010-01-01", "2010-12-31")),
    ("source=Outlet 03", Filters("Outlet 03", None, None)),
    ("date 2009-2010 (2 years)", Filters(None, "2009-01-01", "2010-12-31")),
    ("date 2008-2010 (3 years)", Filters(None, "2008-01-01", "2010-12-31")),
    ("date 2008-2011 (4 years)", Filters(None, "2008-01-01", "2011-12-31")),
    ("date 2006-2010 (5 years)", Filters(None, "2006-01-01", "2010-12-31")),
    ("date 2005-2010 (6 years)", Filters(None, "2005-01-01", "2010-12-31")),
    ("date 2004-2010 (7 years)", Filters(None, "2004-01-01", "2010-12-31")),
    ("date_from=2015-01-01 (10 years)", Filters(None, "2015-01-01", None)),
    ("date_to=2009-12-31 (20 years)", Filters(None, None, "2009-12-31")),
]
STRATEGIES = {"selector (ids to FAISS)": 10 ** 12, "deeper search, keep passing": 0}


def query_vectors(searcher: Searcher, count: int, seed: int = 7) -> np.ndarray:
    """The stored vectors of `count` random passages, as the query vectors."""
    total = searcher.faiss.ntotal
    ids = random.Random(seed).sample(range(1, total + 1), count)
    conn = searcher._conn()
    rows = [conn.execute("SELECT vector FROM chunks WHERE id = ?", (i,)).fetchone() for i in ids]
    return np.stack([np.frombuffer(row[0], dtype=np.float32) for row in rows if row is not None])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", required=True, help="an index made by benchmarks/archive_scale.py (read only)")
    parser.add_argument("--queries", type=int, default=40, help="queries per filter and strategy")
    parser.add_argument("--only", nargs="+", metavar="TEXT",
                        help="only the filters whose name contains one of these (e.g. \"3 years\")")
    args = parser.parse_args()

    from indexer.models import OnnxEncoder

    # Only for Searcher's model check; the queries are stored vectors.
    searcher = Searcher(args.index, encoder=OnnxEncoder(None, "onnx"))
    vectors = query_vectors(searcher, args.queries)
    rows = []
    for name, filters in FILTERS:
        if args.only and not any(text in name for text in args.only):
            continue
        passing = searcher.reader.lexical_index.count(**filters.conditions())
        timings, tops = {}, {}
        for strategy, limit in STRATEGIES.items():
            readers_module.FILTER_SELECTOR_LIMIT = limit
            for vector in vectors:  # warm-up
                searcher.reader.dense(vector, CANDIDATE_DEPTH, filters)
            times, top = [], []
            for vector in vectors:
                started = time.perf_counter()
                found = searcher.reader.dense(vector, CANDIDATE_DEPTH, filters)
                times.append((time.perf_counter() - started) * 1000)
                top.append({c for c, _ in found[:10]})
            timings[strategy], tops[strategy] = times, top
        agree = statistics.mean(len(a & b) / max(len(a), 1) for a, b in zip(*tops.values()))
        cells = [f"{np.percentile(t, 50):.1f} / {np.percentile(t, 99):.1f}" for t in timings.values()]
        faster = min(timings, key=lambda s: statistics.median(timings[s]))
        rows.append([name, f"{passing:,}", f"{passing / searcher.faiss.ntotal:.2%}", *cells, faster, f"{agree:.2f}"])
        print(rows[-1], flush=True)
    manifest = store.read_manifest(args.index)
    body = table(["filter", "passages passing", "share", *(f"{s} p50 / p99 ms" for s in STRATEGIES),
                  "faster", "top-10 overlap"], rows)
    notes = (f"{searcher.faiss.ntotal:,} passages, FAISS {manifest['faiss']['description']} (nprobe "
             f"{getattr(searcher.faiss, 'nprobe', '-')}); `Searcher.dense` at depth {CANDIDATE_DEPTH}, "
             f"{len(vectors)} stored passage vectors as queries, warm, in process, one at a time. "
             "The filter is counted in the lexical index (tantivy fast fields) in both strategies.")
    report(f"Dense search with a filter: selector against deeper search, {searcher.faiss.ntotal:,} passages",
           body, notes)


if __name__ == "__main__":
    main()
