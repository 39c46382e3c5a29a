"""Search-box keystrokes (issue 13): the latency of what a search box asks per keystroke (a search
with facets, and suggestions), the last word typed partially, on an existing index, in process (no HTTP).

    article-search index data/ --index /tmp/sample-index
    python benchmarks/keystrokes.py --index /tmp/sample-index

What is typed: the titles of the index's first `--titles` articles, each keystroke from the third
character on, as `Searcher.search(text_so_far, k=10, passages=1)` with the default typo tolerance
(a text that ends inside a word matches it as a prefix), the same with `facets=--facets`, and
`Searcher.suggest(text_so_far, k=8)`. A keystroke is the search with facets plus the suggestions
(a page sends both). Every request is timed after one warm-up pass over all of them; p50/p90/p99
per mode and part.
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
    parser.add_argument("--facets", default="source,author,year", help="facets asked with each search")
    args = parser.parse_args()
    facets = args.facets.split(",")
    searcher = Searcher(args.index)
    rows = searcher._conn().execute("SELECT title FROM articles ORDER BY id LIMIT ?", (args.titles,)).fetchall()
    texts = keystrokes([row[0] for row in rows])
    def timed(call) -> float:
        started = time.perf_counter()
        call()
        return (time.perf_counter() - started) * 1000

    def row(name: str, took: list[float]) -> list:
        cuts = statistics.quantiles(took, n=100)
        return [name, len(took), f"{statistics.median(took):.1f}", f"{cuts[89]:.1f}", f"{cuts[98]:.1f}"]

    result_rows = []
    for text in texts:  # warm-up: caches, the model's first calls
        searcher.suggest(text, 8)
    suggest = [timed(lambda: searcher.suggest(text, 8)) for text in texts]
    for mode in args.modes:
        for text in texts:
            searcher.search(text, k=10, mode=mode, passages=1, facets=facets)
        plain = [timed(lambda: searcher.search(text, k=10, mode=mode, passages=1)) for text in texts]
        faceted = [timed(lambda: searcher.search(text, k=10, mode=mode, passages=1, facets=facets)) for text in texts]
        result_rows += [row(f"{mode} search", plain), row(f"{mode} search + facets", faceted),
                        row(f"{mode} keystroke (search + facets + suggest)", [a + b for a, b in zip(faceted, suggest)])]
    result_rows.append(row("suggest", suggest))
    passages = searcher.stats()["passages"]
    report(f"Search-box keystrokes: {passages} passages, {len(texts)} keystrokes, facets {args.facets}, in process",
           table(["request", "requests", "p50 ms", "p90 ms", "p99 ms"], result_rows))


if __name__ == "__main__":
    main()
