"""Load: mixed traffic from concurrent clients against a real server, for a fixed time.

    python benchmarks/load_test.py --index index                  # 16 clients, 120 s, on a copy of the index

Traffic: 90% search (random mode, questions from squad-dev-a or article titles), 8% related
coverage, 2% writes (POST a new article, DELETE an earlier one), over loopback only. The index is
copied first, so the writes never touch the original. Reports requests, errors, p50/p99 per kind
and requests/s; appends them to docs/reliability.md.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import report, table  # noqa: E402
from query_latency import load_queries, start_server  # noqa: E402

RELIABILITY = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"
KEY = "load-test-key"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="index")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=120)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        shutil.copytree(args.index, index, ignore=shutil.ignore_patterns(".lock"))
        ids = [row[0] for row in sqlite3.connect(index / "index.sqlite").execute("SELECT id FROM articles")]
        queries = load_queries(index, 2000)
        import os

        os.environ["ARTICLE_SEARCH_API_KEY"] = KEY
        process, url = start_server(index)
        results: dict[str, list[float]] = {"search": [], "related": [], "write": []}
        errors: dict[str, int] = {kind: 0 for kind in results}
        lock = threading.Lock()
        deadline = time.monotonic() + args.seconds
        written: list[str] = []

        def client(number: int) -> None:
            rng = random.Random(number)
            with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {KEY}"}) as http:
                while time.monotonic() < deadline:
                    roll = rng.random()
                    started = time.perf_counter()
                    if roll < 0.90:
                        kind = "search"
                        response = http.get("/search", params={"q": rng.choice(queries), "k": 10,
                                                               "mode": rng.choice(["hybrid", "dense", "lexical"])})
                        ok = response.status_code == 200
                    elif roll < 0.98:
                        kind = "related"
                        response = http.get(f"/articles/{rng.choice(ids)}/related", params={"k": 10})
                        ok = response.status_code == 200
                    else:
                        kind = "write"
                        with lock:
                            old = written.pop(0) if len(written) > 5 else None
                        if old:
                            response = http.delete(f"/articles/{old}")
                        else:
                            new_id = f"load-{number}-{rng.getrandbits(32)}"
                            response = http.post("/articles", json={
                                "id": new_id, "title": f"Load test article {new_id}",
                                "text": f"{rng.choice(queries)} This article was written by the load test."})
                            with lock:
                                written.append(new_id)
                        ok = response.status_code == 200
                    elapsed = (time.perf_counter() - started) * 1000
                    with lock:
                        results[kind].append(elapsed)
                        errors[kind] += not ok

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        duration = time.perf_counter() - started
        process.terminate()
        process.wait()

    total = sum(len(v) for v in results.values())
    rows = [[kind, len(v), errors[kind], f"{np.percentile(v, 50):.1f}" if v else "-",
             f"{np.percentile(v, 99):.1f}" if v else "-"] for kind, v in results.items()]
    rows.append(["all", total, sum(errors.values()), "", ""])
    body = table(["request", "count", "errors", "p50 ms", "p99 ms"], rows)
    notes = (f"{args.clients} clients for {duration:.0f} s over loopback: {total / duration:.1f} requests/s in all. "
             f"Index: {len(ids)} articles (a copy of {args.index}); one uvicorn worker, torch query encoder.")
    report("Load: 90% search, 8% related, 2% writes", body, notes, target=RELIABILITY)


if __name__ == "__main__":
    main()
