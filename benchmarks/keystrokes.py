"""Search-box keystrokes (issue 13): the latency of one search per keystroke, the last word typed
partially, on an existing index, in process (no HTTP).

    article-search index data/ --index /tmp/sample-index
    python benchmarks/keystrokes.py --index /tmp/sample-index

What is typed: the titles of the index's first `--titles` articles, each keystroke from the third
character on, as `Searcher.search(text_so_far, k=10, passages=1)` with the default typo tolerance
(a text that ends inside a word matches it as a prefix). Every request is timed after one warm-up
pass over all of them; p50/p90/p99 per mode.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import report, table  # noqa: E402

from search_api.searcher import Searcher  # noqa: E402


def keystrokes(titles: list[str]) -> list[str]:
    """Every text a search box holds while the titles are typed, from 3 characters on."""
    return [title[:end] for title in titles for end in range(3, len(title) + 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--titles", type=int, default=30)
    parser.add_argument("--modes", nargs="+", default=["lexical", "hybrid"])
    args = parser.parse_args()
    searcher = Searcher(args.index)
    rows = searcher._conn().execute("SELECT title FROM articles ORDER BY id LIMIT ?", (args.titles,)).fetchall()
    texts = keystrokes([row[0] for row in rows])
    result_rows = []
    for mode in args.modes:
        for text in texts:  # warm-up: caches, the model's first calls
            searcher.search(text, k=10, mode=mode, passages=1)
        took = []
        for text in texts:
            started = time.perf_counter()
            searcher.search(text, k=10, mode=mode, passages=1)
            took.append((time.perf_counter() - started) * 1000)
        cuts = statistics.quantiles(took, n=100)
        result_rows.append([mode, len(took), f"{statistics.median(took):.1f}", f"{cuts[89]:.1f}", f"{cuts[98]:.1f}"])
    passages = searcher.stats()["passages"]
    report(f"Search-box keystrokes: {passages} passages, {len(texts)} keystrokes, in process",
           table(["mode", "requests", "p50 ms", "p90 ms", "p99 ms"], result_rows))


if __name__ == "__main__":
    main()
