"""In-process search latency over 1, 2 and 4 shards of the same articles, and whether the rankings agree.

    python benchmarks/shard_search.py --corpus ../shared/data/reuters21578/reuters21578.jsonl --limit 2000

The articles are indexed once per layout with one loaded model. Each query is embedded once and
the vector handed to every layout, so the numbers are the search itself (fan-out, BM25 over the
shards' statistics, fusion, grouping, highlights) without the model. Queries are squad-dev-a
questions when ../shared/data is present, else article titles. With --ray-serve the largest layout
is also deployed on Ray Serve (shard deployments and a router, as `serve --ray`) and asked through
the router's handle, as the HTTP app asks it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import first_records, report, table  # noqa: E402
from query_latency import load_queries, percentile  # noqa: E402

from indexer.models import TorchEncoder  # noqa: E402
from indexer.inputs import read_paths  # noqa: E402
from indexer.sharding import open_writer  # noqa: E402
from search_api.searcher import Searcher  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(ROOT / "data" / "wikinews_en_2019_2020.jsonl"))
    parser.add_argument("--limit", type=int, default=2000, help="the first N records")
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 2, 4], help="layouts (1 = a plain index)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ray-serve", action="store_true",
                        help="also the largest layout behind Ray Serve (a local Ray instance, 1 replica a shard)")
    args = parser.parse_args()

    encoder = TorchEncoder()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = first_records(args.corpus, args.limit, tmp)
        searchers = {}
        for count in args.shards:
            index = Path(tmp) / f"shards-{count}"
            with open_writer(index, shards=count if count > 1 else None, encoder=encoder) as writer:
                writer.add(read_paths([corpus]))
            searchers[count] = Searcher(index, encoder=encoder)
        if args.ray_serve:
            import ray

            from search_api.ray_serve import RemoteSearcher, deploy

            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, configure_logging=False)
            largest = Path(tmp) / f"shards-{max(args.shards)}"
            searchers[f"{max(args.shards)}, Ray Serve"] = RemoteSearcher(deploy(largest, replicas=1), largest)
        first = searchers[args.shards[0]]
        titles_from = Path(tmp) / f"shards-{args.shards[0]}"  # titles, when squad-dev-a is not there
        queries = load_queries(titles_from if args.shards[0] == 1 else titles_from / "shard-000", args.queries)
        vectors = encoder.encode(queries)
        rows = []
        for mode in ("dense", "lexical", "hybrid"):
            expected = [[h.article_id for h in first.search(q, k=10, mode=mode, query_vector=v).results]
                        for q, v in zip(queries, vectors)]
            for count, searcher in searchers.items():
                times, same = [], 0
                searcher.search(queries[0], k=10, mode=mode, query_vector=vectors[0])  # warm-up
                for query, vector, ranking in zip(queries, vectors, expected):
                    started = time.perf_counter()
                    result = searcher.search(query, k=10, mode=mode, query_vector=vector)
                    times.append((time.perf_counter() - started) * 1000)
                    same += [h.article_id for h in result.results] == ranking
                rows.append([mode, count, f"{percentile(times, 50):.1f}", f"{percentile(times, 95):.1f}",
                             f"{same}/{len(queries)}"])
        passages = first.stats()["passages"]
    body = table(["mode", "shards", "p50 ms", "p95 ms", f"top-10 equal to {args.shards[0]} shard(s)"], rows)
    notes = (f"{passages} passages; {len(queries)} queries, k=10 with highlights, one client, query vectors "
             "computed beforehand (add ~11 ms for torch, ~4 ms for onnx to embed a query).")
    report("Search over shards (in process)", body, notes)


if __name__ == "__main__":
    main()
