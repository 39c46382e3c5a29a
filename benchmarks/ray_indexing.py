"""Indexing on Ray against local indexing, on this machine, and what it means for a cluster.

    python benchmarks/ray_indexing.py --corpus ../shared/data/reuters21578/reuters21578.jsonl --limit 1000

Runs, on the same articles and in one process: a local `IndexWriter.add` (torch, 2 threads), then
`index --ray` on a local Ray instance (2 CPUs) with 1 actor of 2 threads and 2 actors of 1. Each
Ray run reports its phases: Ray start-up, the pipeline (read → chunk → embed → Parquet staging)
and the driver's sort-and-write. Each actor's busy time is summed: the rate of one actor on one core, and the
driver's write rate give the cluster estimate: nodes × cores → hours for 10M and 100M articles.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import first_records, report, table  # noqa: E402

from indexer.inputs import read_paths  # noqa: E402
from indexer.writer import IndexWriter  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(ROOT / "data" / "wikinews_en_2019_2020.jsonl"))
    parser.add_argument("--limit", type=int, default=1000, help="the first N records")
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    import ray

    from indexer.distributed import index_with_ray
    from indexer.models import TorchEncoder

    encoder = TorchEncoder()
    rows, rates = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = first_records(args.corpus, args.limit, tmp)
        with IndexWriter(Path(tmp) / "local", encoder=encoder) as writer:
            summary = writer.add(read_paths([corpus]))
        articles = summary.indexed
        passages = summary.chunks
        rates["local"] = passages / summary.seconds
        rows.append(["local IndexWriter (torch, 2 threads)", passages, f"{summary.seconds:.1f}", "", "", "",
                     f"{rates['local']:.1f}"])
        for actors in args.actors:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
            with IndexWriter(Path(tmp) / f"ray{actors}", encoder=encoder) as writer:
                summary = index_with_ray([corpus], writer, actors=actors)
            ray.shutdown()
            pipeline = summary.phases["read, chunk, embed, stage"]
            write = summary.phases["sort and write"]
            rates[actors] = {"total": summary.chunks / summary.seconds, "pipeline": summary.chunks / pipeline,
                             "write": summary.chunks / write,
                             "per actor": summary.chunks / summary.phases["actor-seconds embedding"]}
            threads = max(1, round(2 / actors))
            rows.append([f"--ray, {actors} actor(s) x {threads} thread(s)", summary.chunks, f"{summary.seconds:.1f}",
                         f"{summary.phases['ray start']:.1f} / {pipeline:.1f} / {write:.1f}",
                         f"{rates[actors]['per actor']:.1f}", f"{rates[actors]['pipeline']:.1f}",
                         f"{rates[actors]['total']:.1f}"])
    body = table(["run", "passages", "seconds", "phases: start / pipeline / write (s)",
                  "one actor's passages/s (busy time)", "pipeline passages/s", "end-to-end passages/s"], rows)
    # One actor per core with one thread: the rate of the run with as many actors as cores.
    per_actor = rates[max(args.actors)]["per actor"]
    write_rate = max(rates[a]["write"] for a in args.actors)
    per_article = passages / articles
    estimate = []
    for nodes, cores in ((1, 2), (10, 16), (50, 32), (100, 64)):
        embed_rate = nodes * cores * per_actor
        for count in (10_000_000, 100_000_000):
            total = count * per_article
            estimate.append([f"{nodes} x {cores}", f"{count // 1_000_000}M", f"{total / embed_rate / 3600:,.1f}",
                             f"{total / write_rate / 3600:,.1f}"])
    body += "\n\n" + table(["nodes x cores", "articles", "embedding hours (all actors)",
                             "one driver writing, hours"], estimate)
    notes = (f"{articles} articles, {passages} passages ({per_article:.2f} per article). One actor on one core "
             f"(busy time): {per_actor:.1f} passages/s; the driver's sort-and-write rate: "
             f"{write_rate:.0f} passages/s. The estimate assumes actors scale linearly (one per core, as Ray Data "
             "places them) and this corpus's passages per article. " + json.dumps(
                 {str(k): v for k, v in rates.items()}, default=lambda x: round(x, 1)))
    report("Distributed indexing (Ray) against local indexing", body, notes)


if __name__ == "__main__":
    main()
