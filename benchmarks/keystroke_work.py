"""Search-box keystrokes in process (issue 22): their latency, the work each does, and where the
time of a median and a p99 keystroke goes.

    python benchmarks/keystroke_work.py --index /tmp/keystroke-100k/index
    python benchmarks/keystroke_work.py --index /tmp/big/index --questions 30 --no-report

What is typed: every prefix, from the 3rd character, of `--questions` squad-dev-a questions
(`query_latency.load_queries`, as benchmarks/archive_scale.py types them), or with `--typing
titles` of the index's own articles (whose words it holds), each a
`Searcher.search(text, k=10, mode=--mode, facets=source,author,year)` as `GET /search` asks it
(passages 3, highlights). A warm-up pass types 10 other questions (so that what is cached
between queries helps as it would a server's stream of keystrokes, not by having seen these), then:

- a timed pass: each keystroke's time, and the time of each step inside it (`Steps`: the reader's
  calls, the query encoding, the scoring of candidates), wall-clock per call; the lexical calls run
  in a thread pool beside the encoding, so steps may add up to more than the keystroke;
- a counted pass (untimed), over the next `--questions` questions (the timed ones are in the caches
  by then): per keystroke, the candidates scored (passages whose text and vector
  are read to decide the match), passage texts analysed for that, article rows read, passages
  hydrated for the page, and the passages the facet aggregation counts (each aggregation's query
  counted once more, so this pass is slower).
"""

from __future__ import annotations

import argparse
import collections
import copy
import functools
import sqlite3
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import report, table  # noqa: E402
from query_latency import load_queries, percentile  # noqa: E402

FACETS = ["source", "author", "year"]
# Reader calls timed as steps (those the reader of the searched index has).
READER_STEPS = ("dense", "lexical", "lexical_matching", "match_counts", "facet_counts", "passage_evidence",
                "article_of", "articles_meta", "hits", "lexical_statistics")


def keystrokes(questions: list[str]) -> list[str]:
    """Every text a search box holds while the questions are typed, from 3 characters on."""
    return [q[:end] for q in questions for end in range(3, len(q) + 1)]


class Steps:
    """Wall-clock seconds per step of the keystroke being run, summed over its calls: the reader's
    calls of `READER_STEPS`, the query encoding, and `scored` (search_api.matching), wrapped in place."""

    def __init__(self, searcher):
        self.current: collections.Counter = collections.Counter()
        self._lock = threading.Lock()
        for name in READER_STEPS:
            if hasattr(searcher.reader, name):
                setattr(searcher.reader, name, self._timed(name, getattr(searcher.reader, name)))
        searcher.encoder.encode = self._timed("encode", searcher.encoder.encode)
        from search_api import matching, searcher as searcher_module

        searcher_module.scored = self._timed("scored (match decision)", matching.scored)

    def _timed(self, name: str, call):
        @functools.wraps(call)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                with self._lock:
                    self.current[name] += time.perf_counter() - started
        return timed

    def take(self) -> collections.Counter:
        taken, self.current = self.current, collections.Counter()
        return taken


class _CountingSearcher:
    """A tantivy searcher whose aggregations also count the passages they aggregate."""

    def __init__(self, searcher, tally: collections.Counter):
        self._searcher, self._tally = searcher, tally

    def aggregate(self, query, aggregations):
        self._tally["facet passages counted"] += self._searcher.search(query, 1, count=True).count
        return self._searcher.aggregate(query, aggregations)

    def __getattr__(self, name):
        return getattr(self._searcher, name)


def counted(searcher, texts: list[str], mode: str) -> dict[str, float]:
    """The mean work per keystroke of `texts` (see the module's docstring); `searcher` is wrapped
    for the count, so it should be one of its own."""
    from search_api import matching

    tally: collections.Counter = collections.Counter()
    reader = searcher.reader
    # tantivy's own searcher is needed once for the statistics BM25 reads from a score's explanation.
    searcher.search(texts[0], k=10, mode=mode, facets=FACETS)
    lexical = copy.copy(reader.lexical_index)
    lexical.searcher = _CountingSearcher(reader.lexical_index.searcher, tally)
    originals = {name: getattr(reader, name) for name in ("passage_evidence", "articles_meta", "hits")}
    terms_of = matching.terms_of

    def evidence(chunk_ids):
        tally["candidates scored"] += len(chunk_ids)
        return originals["passage_evidence"](chunk_ids)

    def meta(ids):
        tally["article rows read"] += len(ids)
        return originals["articles_meta"](ids)

    def hits(page, query_vector):
        tally["passages hydrated for the page"] += sum(len(passages) for _, _, passages in page)
        return originals["hits"](page, query_vector)

    def analysed(text, stem=True):
        tally["passage texts analysed"] += stem and "\n" in text  # a title, a line break, a text: a passage
        return terms_of(text, stem)

    reader.passage_evidence, reader.articles_meta, reader.hits = evidence, meta, hits
    reader.lexical_index, matching.terms_of = lexical, analysed
    try:
        for text in texts:
            searcher.search(text, k=10, mode=mode, facets=FACETS)
    finally:
        matching.terms_of = terms_of
    return {name: count / len(texts) for name, count in sorted(tally.items())}


def timed(searcher, texts: list[str], mode: str) -> tuple[list[float], list[collections.Counter]]:
    """Each keystroke's milliseconds and its steps' seconds."""
    steps = Steps(searcher)
    took, parts = [], []
    for text in texts:
        started = time.perf_counter()
        searcher.search(text, k=10, mode=mode, facets=FACETS)
        took.append((time.perf_counter() - started) * 1000)
        parts.append(steps.take())
    return took, parts


def breakdown(took: list[float], parts: list[collections.Counter], texts: list[str]) -> list[list]:
    """Rows: the steps of the keystroke at the median and at the 99th percentile (and the mean of
    each step over all keystrokes), milliseconds."""
    order = sorted(range(len(took)), key=took.__getitem__)
    median, p99 = order[len(order) // 2], order[min(len(order) - 1, int(len(order) * 0.99))]
    names = sorted({name for part in parts for name in part}, key=lambda n: -sum(p[n] for p in parts))
    rows = [[f"whole keystroke ({texts[median]!r} / {texts[p99]!r})", f"{took[median]:.1f}", f"{took[p99]:.1f}",
             f"{statistics.mean(took):.1f}"]]
    for name in names:
        rows.append([name, f"{parts[median][name] * 1000:.1f}", f"{parts[p99][name] * 1000:.1f}",
                     f"{statistics.mean(p[name] for p in parts) * 1000:.1f}"])
    return rows


def titles(index: Path, count: int) -> list[str]:
    """`count` titles of the index's articles, spread over it (every 997th row), the same every run."""
    conn = sqlite3.connect(index / "index.sqlite")
    rows = conn.execute("SELECT title FROM articles WHERE title != '' AND rowid % 997 = 0 LIMIT ?", (count,)).fetchall()
    conn.close()
    return [title for (title,) in rows]


def profile(index: Path, questions: int, mode: str, typing: str = "questions") -> tuple[list[list], list[list],
                                                                                      list[list], int]:
    """(latency rows, step rows, work rows, keystrokes) of `mode` keystrokes over `index`, typing
    squad-dev-a questions or (`typing` "titles") titles of the index's own articles."""
    from search_api.searcher import Searcher

    searcher = Searcher(index)
    typed = (load_queries if typing == "questions" else titles)(index, 2 * questions + 10)
    texts, others = keystrokes(typed[:questions]), keystrokes(typed[questions:2 * questions])
    for text in keystrokes(typed[2 * questions:]):  # warm-up: the model's first calls, the page cache
        searcher.search(text, k=10, mode=mode, facets=FACETS)
    took, parts = timed(searcher, texts, mode)
    latency = [[f"{mode} keystroke typing {typing}, in process", len(took), *(f"{percentile(took, q):.1f}" for q in (50, 90, 99))]]
    work = [[name, f"{value:,.1f}"] for name, value in counted(Searcher(index, encoder=searcher.encoder), others,
                                                                 mode).items()]
    return latency, breakdown(took, parts, texts), work, len(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--questions", type=int, default=30, help="questions typed, each from its 3rd character")
    parser.add_argument("--mode", default="hybrid", choices=["hybrid", "lexical", "dense"])
    parser.add_argument("--typing", default="questions", choices=["questions", "titles"],
                        help="what is typed: squad-dev-a questions, or the titles of the index's articles")
    parser.add_argument("--note", default="", help="a line added to the report (for example the machine's load)")
    parser.add_argument("--no-report", action="store_true", help="print, do not append to docs/benchmarks.md")
    args = parser.parse_args()
    latency, steps, work, count = profile(args.index, args.questions, args.mode, args.typing)
    body = "\n\n".join([table(["request", "keystrokes", "p50 ms", "p90 ms", "p99 ms"], latency),
                        table(["step", "median keystroke ms", "p99 keystroke ms", "mean ms"], steps),
                        table(["work per keystroke (mean)", "count"], work)])
    print(body)
    if not args.no_report:
        report(f"Keystrokes in process: {args.index.name}, {count} keystrokes", body, args.note)


if __name__ == "__main__":
    main()
