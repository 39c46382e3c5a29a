"""ANN at scale: FAISS layouts on 1,000,000 embedding-like vectors and on the real vectors alone.

    python benchmarks/ann_scale.py --index /tmp/reuters --index /tmp/bbc --index index [--size 1000000] [--hnsw]

How the vectors are made. Real passage vectors are read from the given indexes (their SQLite
`chunks.vector`, as embedded by the indexer). 500 of them are held back as queries. Each synthetic
vector is a real one (drawn at random) plus Gaussian noise scaled so that its expected distance from
that real vector equals the real vector's distance to its own nearest real neighbour, then
renormalised: the synthetic set keeps the real vectors' clustered geometry at a density like that
of a larger archive, instead of random noise (on which top-10 recall means nothing). Queries are the
embeddings of real questions (squad-dev-a, when ../shared/data is present) and the held-back
passages. Recall@10 is measured against exact search over the same vectors.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED_DATA, report, table  # noqa: E402
from indexer import store  # noqa: E402
from indexer.vectors import build  # noqa: E402


def real_vectors(index_dirs: list[str]) -> np.ndarray:
    parts = []
    for index_dir in index_dirs:
        conn = store.connect(index_dir, readonly=True)
        rows = conn.execute("SELECT vector FROM chunks").fetchall()
        parts.append(np.frombuffer(b"".join(r[0] for r in rows), dtype=np.float32).reshape(len(rows), -1))
    return np.unique(np.concatenate(parts), axis=0)


def question_vectors(count: int) -> np.ndarray:
    path = SHARED_DATA / "squad-dev-a" / "queries.jsonl"
    if not path.exists():
        return np.zeros((0, 384), dtype=np.float32)
    from indexer.models import TorchEncoder

    questions = [json.loads(line)["text"] for line in path.open(encoding="utf-8")]
    questions = [questions[i] for i in np.random.default_rng(3).choice(len(questions), count, replace=False)]
    return TorchEncoder().encode(questions, batch_size=64)


def synthesize(real: np.ndarray, size: int, rng) -> np.ndarray:
    import faiss

    flat = faiss.IndexFlatIP(real.shape[1])
    flat.add(real)
    similarity, _ = flat.search(real, 2)
    nn_distance = np.sqrt(np.maximum(2 - 2 * similarity[:, 1], 1e-6))  # unit vectors: |a-b|^2 = 2 - 2 cos
    out = np.empty((size, real.shape[1]), dtype=np.float32)
    for start in range(0, size, 100_000):
        n = min(100_000, size - start)
        base = rng.integers(0, len(real), n)
        noise = rng.standard_normal((n, real.shape[1])).astype(np.float32)
        noise *= (nn_distance[base] / np.sqrt(real.shape[1]))[:, None].astype(np.float32)
        block = real[base] + noise
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:start + n] = block
    return out


def measure(kind: str, vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray, nprobe: int | None = None,
            built=None) -> tuple[list, object]:
    import faiss

    faiss.omp_set_num_threads(2)
    started = time.perf_counter()
    if built is None:
        if kind == "hnsw32":
            index = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = 64
            index.add(vectors)
            description = "HNSW32,Flat (efSearch 64)"
        else:
            index = build(kind, vectors.shape[1], np.arange(len(vectors), dtype=np.int64), vectors)
            description = "IDMap2,Flat" if kind == "flat" else f"IVF{index.nlist},SQ8"
        build_seconds = time.perf_counter() - started
    else:
        index, description, build_seconds = built
    if nprobe is not None:
        index.nprobe = nprobe
        description = f"{description} nprobe {nprobe}"
    size = len(faiss.serialize_index(index))
    faiss.omp_set_num_threads(1)  # single queries, as the server runs them
    latencies, found = [], []
    for query in queries:
        t = time.perf_counter()
        _, ids = index.search(query[None, :], 10)
        latencies.append((time.perf_counter() - t) * 1000)
        found.append(ids[0])
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
    row = [description, f"{build_seconds:.1f}", f"{size / len(vectors):.0f}", f"{recall:.4f}",
           f"{np.percentile(latencies, 50):.2f}", f"{np.percentile(latencies, 99):.2f}"]
    return row, (index, description.split(" nprobe")[0], build_seconds)


def run(name: str, vectors: np.ndarray, queries: np.ndarray, hnsw: bool, nprobes: list[int]) -> list[list]:
    import faiss

    faiss.omp_set_num_threads(2)
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, truth = exact.search(queries, 10)
    del exact
    rows = []
    row, _ = measure("flat", vectors, queries, truth)
    rows.append([name] + row)
    built = None
    for nprobe in nprobes:
        row, built = measure("ivf-sq8", vectors, queries, truth, nprobe, built)
        rows.append([name] + row)
    if hnsw:
        row, _ = measure("hnsw32", vectors, queries, truth)
        rows.append([name] + row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", action="append", required=True, help="an index to read real vectors from")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--hnsw", action="store_true", help="also HNSW32 (slow to build: minutes at 1M)")
    parser.add_argument("--nprobe", type=int, nargs="+", default=[32, 64, 128, 256],
                        help="IVF lists probed per query, one row each")
    args = parser.parse_args()
    rng = np.random.default_rng(11)
    real = real_vectors(args.index)
    held = rng.choice(len(real), 500, replace=False)
    keep = np.setdiff1d(np.arange(len(real)), held)
    queries = np.concatenate([question_vectors(args.questions), real[held]]).astype(np.float32)
    base = real[keep]
    started = time.perf_counter()
    synthetic = synthesize(base, args.size, rng)
    made = time.perf_counter() - started
    rows = run(f"real ({len(base):,})", base, queries, args.hnsw, args.nprobe)
    rows += run(f"synthetic ({args.size:,})", synthetic, queries, args.hnsw, args.nprobe)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    body = table(["vectors", "index", "build s", "bytes/vector", "recall@10", "p50 ms", "p99 ms"], rows)
    notes = (f"{len(real):,} real passage vectors from {', '.join(args.index)}; {len(queries)} queries "
             f"({len(queries) - 500} squad-dev-a questions + 500 held-back passages); synthetic set made in "
             f"{made:.0f} s as described in the script's docstring. Search: one query at a time, one thread; "
             f"build: 2 threads. bytes/vector = serialized index size / vectors. Peak RSS of the run {peak:.1f} GiB.")
    report(f"ANN at scale: {args.size:,} embedding-like vectors", body, notes)


if __name__ == "__main__":
    main()
