"""Query encoding: torch against onnx (fp32) and onnx-int8, one query at a time as a server embeds
them, and how close each one's vectors are to torch's on real text.

    python benchmarks/query_encoding.py --queries 300

Queries are squad-dev-a questions (a fixed random sample); the closeness is also measured on
squad-dev-a passages, embedded in batches as the indexer does. Each encoder embeds every query
once to warm up, then once timed. Load time is the encoder's construction in this process (torch
imported beforehand for all, so it is the model load alone, export cached).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED_DATA, report, table  # noqa: E402

from indexer.models import load_encoder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--passages", type=int, default=300)
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx", "onnx-int8"])
    args = parser.parse_args()
    data = SHARED_DATA / "squad-dev-a"
    questions = [json.loads(line)["text"] for line in (data / "queries.jsonl").open(encoding="utf-8")]
    random.Random(7).shuffle(questions)
    questions = questions[:args.queries]
    passages = [json.loads(line)["text"] for line in (data / "corpus.jsonl").open(encoding="utf-8")][:args.passages]

    import torch  # noqa: F401  (imported for every backend alike, so load times compare the models)

    rows, reference = [], {}
    for backend in args.backends:
        started = time.perf_counter()
        encoder = load_encoder(None, backend)
        load_s = time.perf_counter() - started
        for q in questions:
            encoder.encode([q])
        times, vectors = [], []
        for q in questions:
            t = time.perf_counter()
            vectors.append(encoder.encode([q])[0])
            times.append((time.perf_counter() - t) * 1000)
        passage_vectors = encoder.encode(passages)
        if backend == "torch":
            reference = {"q": np.stack(vectors), "p": passage_vectors}
        cos_q = (np.stack(vectors) * reference["q"]).sum(axis=1) if reference else None
        cos_p = (passage_vectors * reference["p"]).sum(axis=1) if reference else None
        rows.append([backend, f"{load_s:.2f}", f"{np.percentile(times, 50):.1f}", f"{np.percentile(times, 99):.1f}",
                     f"{cos_q.min():.6f} / {cos_q.mean():.6f}" if cos_q is not None else "-",
                     f"{cos_p.min():.6f} / {cos_p.mean():.6f}" if cos_p is not None else "-"])
        print(rows[-1], flush=True)
    body = table(["backend", "load s", "encode p50 ms", "encode p99 ms", "cosine to torch, questions (min / mean)",
                  "cosine to torch, passages (min / mean)"], rows)
    notes = (f"{len(questions)} squad-dev-a questions, one at a time, warm; {len(passages)} squad-dev-a passages "
             "embedded in batches of 32 for the cosine. The probe check that lets onnx answer an index's queries "
             "asks for cosine >= 0.999 (indexer.models.PROBE_MIN_COSINE).")
    report(f"Query encoding: torch, onnx and onnx-int8, {len(questions)} questions", body, notes)


if __name__ == "__main__":
    main()
