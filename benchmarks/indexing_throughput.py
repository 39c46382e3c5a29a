"""Indexing throughput: passages/s of the indexer beside raw `model.encode` on the same passages.

    python benchmarks/indexing_throughput.py                       # the shipped sample (data/)
    python benchmarks/indexing_throughput.py --corpus ../shared/data/reuters21578/reuters21578.jsonl --limit 2000 \
        --backends torch onnx-int8

Raw torch `model.encode` and the indexer with each backend are measured in the same run, on the
same chunk texts (title context + passage, as the indexer embeds them), after one warm-up batch.
Model load (and ONNX export) time is excluded.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import report, table  # noqa: E402

from indexer.article import Article  # noqa: E402
from indexer.cleaning import clean_text  # noqa: E402
from indexer.models import TorchEncoder, load_encoder  # noqa: E402
from indexer.inputs import read_paths  # noqa: E402
from indexer.writer import IndexWriter  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(ROOT / "data"), help="file or folder to index (default: data/)")
    parser.add_argument("--limit", type=int, default=None, help="the first N articles only")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--backends", nargs="+", default=["torch"], choices=["torch", "onnx", "onnx-int8"],
                        help="indexer backends to measure beside raw torch encode")
    args = parser.parse_args()

    articles = [a for a in itertools.islice((i for i in read_paths([args.corpus]) if isinstance(i, Article)),
                                             args.limit)]
    encoder = TorchEncoder()
    with tempfile.TemporaryDirectory() as tmp:
        writer = IndexWriter(Path(tmp) / "probe", encoder=encoder)
        texts = [writer.chunker.embedded_text(a.title, c.text) for a in articles
                 for c in writer.chunker.chunk(clean_text(a.text).text, a.title)]
        writer.close()
    encoder.encode(texts[:args.batch_size], batch_size=args.batch_size)  # warm-up
    started = time.perf_counter()
    encoder.encode(texts, batch_size=args.batch_size)
    raw_rate = len(texts) / (time.perf_counter() - started)
    rows = [["raw torch model.encode (same passages)", len(texts), f"{len(texts) / raw_rate:.1f}", f"{raw_rate:.1f}", "1.00"]]
    for backend in args.backends:
        indexer_encoder = encoder if backend == "torch" else load_encoder(None, backend)
        indexer_encoder.encode(texts[:args.batch_size], batch_size=args.batch_size)  # warm-up
        if backend != "torch":
            started = time.perf_counter()
            indexer_encoder.encode(texts, batch_size=args.batch_size)
            rate = len(texts) / (time.perf_counter() - started)
            rows.append([f"raw {backend} encode (same passages)", len(texts), f"{len(texts) / rate:.1f}",
                         f"{rate:.1f}", f"{rate / raw_rate:.2f}"])
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            with IndexWriter(Path(tmp) / "index", encoder=indexer_encoder) as writer:
                summary = writer.add(articles)
            seconds = time.perf_counter() - started
        assert summary.chunks == len(texts), (summary.chunks, len(texts))
        rate = len(texts) / seconds
        rows.append([f"article-search index, {backend} (read→clean→chunk→embed→SQLite+FAISS)", len(texts),
                     f"{seconds:.1f}", f"{rate:.1f}", f"**{rate / raw_rate:.2f}**"])
    tokens = sum(len(ids) for ids in encoder.tokenizer(texts)["input_ids"]) / len(texts)
    body = table(["what", "passages", "seconds", "passages/s", "ratio to raw torch"], rows)
    report(f"Indexing throughput: {Path(args.corpus).name}, {len(articles)} articles",
           body, f"Mean passage length {tokens:.0f} word pieces (special tokens included), batch {args.batch_size}.")


if __name__ == "__main__":
    main()
