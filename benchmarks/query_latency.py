"""Query latency of `/search` over HTTP (uvicorn, one worker), per mode, with 1 and 8 concurrent
clients, beside the floor measured in the same run: query embedding alone plus FAISS search alone.

    python benchmarks/query_latency.py --index index            # an existing index (e.g. of data/)
    python benchmarks/query_latency.py --index /tmp/reuters --requests 300

Queries are natural-language questions from squad-dev-a when ../shared/data is present, else the
titles of articles in the index. Each request asks k=10 with highlights, as the search page does.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED_DATA, report, table  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def load_queries(index_dir: Path, count: int) -> list[str]:
    squad = SHARED_DATA / "squad-dev-a" / "queries.jsonl"
    if squad.exists():
        questions = [json.loads(line)["text"] for line in squad.open(encoding="utf-8")]
    else:
        import sqlite3

        conn = sqlite3.connect(index_dir / "index.sqlite")
        questions = [row[0] for row in conn.execute("SELECT title FROM articles WHERE title != ''")]
    random.Random(7).shuffle(questions)
    return questions[:count]


def start_server(index_dir: Path, backend: str | None = None, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """`article-search serve` over `index_dir` on a free port (`env`: its environment, for example
    with ARTICLE_SEARCH_API_KEY to take writes); returns the process and its URL once ready."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    extra = ["--backend", backend] if backend else []
    process = subprocess.Popen([sys.executable, "-m", "search_api.cli", "serve", "--index", str(index_dir),
                                "--port", str(port), "--log-level", "warning", *extra],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("server did not start")


def run_clients(url: str, queries: list[str], mode: str, clients: int, total: int) -> tuple[list[float], float, int]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(total))

    def worker():
        nonlocal errors
        with httpx.Client(base_url=url, timeout=60) as http:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                started = time.perf_counter()
                response = http.get("/search", params={"q": queries[i % len(queries)], "mode": mode, "k": 10})
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(elapsed)
                    errors += response.status_code != 200

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, total / (time.perf_counter() - started), errors


def floor(index_dir: Path, queries: list[str], backend: str | None) -> tuple[float, float, str]:
    """p50 of query embedding alone (same backend as the server) and of vector search alone (at
    the searcher's candidate depth), and the backend that embedded the queries."""
    from search_api.searcher import CANDIDATE_DEPTH, Searcher

    searcher = Searcher(index_dir, backend=backend)
    searcher.encoder.encode(["warm up"])
    encode_ms, faiss_ms = [], []
    for q in queries:
        t = time.perf_counter()
        vector = searcher.encoder.encode([q])
        encode_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        searcher.reader.vectors.search(vector, min(CANDIDATE_DEPTH, searcher.vector_count))
        faiss_ms.append((time.perf_counter() - t) * 1000)
    return statistics.median(encode_ms), statistics.median(faiss_ms), searcher.encoder.backend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default=os.environ.get("ARTICLE_SEARCH_INDEX", "index"))
    parser.add_argument("--requests", type=int, default=200, help="requests per mode and client count")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--modes", nargs="+", default=["hybrid", "dense", "lexical"])
    parser.add_argument("--backend", choices=["torch", "onnx"],
                        help="query encoder of the server (default: the server's, onnx where the index allows it)")
    args = parser.parse_args()
    index_dir = Path(args.index)
    queries = load_queries(index_dir, args.requests)
    stats = json.loads((index_dir / "manifest.json").read_text())["counts"]

    encode_p50, faiss_p50, backend = floor(index_dir, queries[:100], args.backend)
    process, url = start_server(index_dir, args.backend)
    rows = []
    try:
        for _ in range(20):  # warm-up
            httpx.get(f"{url}/search", params={"q": queries[0]}, timeout=60)
        for mode in args.modes:
            for clients in args.clients:
                latencies, rate, errors = run_clients(url, queries, mode, clients, args.requests)
                rows.append([mode, clients, len(latencies), errors, f"{percentile(latencies, 50):.1f}",
                             f"{percentile(latencies, 95):.1f}", f"{percentile(latencies, 99):.1f}", f"{rate:.1f}"])
    finally:
        process.terminate()
        process.wait()
    body = table(["mode", "clients", "requests", "errors", "p50 ms", "p95 ms", "p99 ms", "requests/s"], rows)
    notes = (f"Index: {stats['articles']} articles, {stats['passages']} passages (exact FAISS); server query "
             f"encoder: {backend}. "
             f"Floor in the same run, p50: query embedding {encode_p50:.1f} ms + FAISS search {faiss_p50:.1f} ms "
             f"= {encode_p50 + faiss_p50:.1f} ms. Latency is client-side over loopback HTTP, k=10 with highlights.")
    report(f"Query latency: /search over HTTP, {stats['passages']} passages, {backend} queries",
           body, notes)


if __name__ == "__main__":
    main()
