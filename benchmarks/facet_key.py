"""Facets and `total` counted by the article id as text against a numeric article key (issue 22):
the same match sets counted by two copies of one index, one written before `article_key`
(indexer.lexical.ARTICLE_KEY) and one rebuilt with it (`article-search index --repair`).

    python benchmarks/facet_key.py --old /tmp/facets-100k --keyed /tmp/facets-100k-keyed --questions 10

The match sets are those real keystrokes count: every prefix, from the 3rd character, of
`--questions` squad-dev-a questions is searched in `--mode` with facets=source,author,year on the
old copy, and each `match_counts` call it makes (query, filters, typo tolerance, minimum, the dense
candidates) is recorded. Each is then replayed on both copies, alternating which goes first,
`--repeats` times (the fastest kept): the milliseconds of each, whether the answers are equal,
and for the totals that differ, how far each is from the exact number of articles (read from
the keyed copy's fast field, passage by passage).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from keystroke_work import FACETS, keystrokes  # noqa: E402
from query_latency import load_queries, percentile  # noqa: E402


def recorded_calls(index: Path, questions: int, mode: str) -> list[tuple]:
    """The (query, names, filters, options) of each `match_counts` the keystrokes make."""
    from search_api.searcher import Searcher

    searcher = Searcher(index)
    calls, count = [], searcher.reader.match_counts

    def recording(query, names, filters, **options):
        calls.append((query, names, filters, options))
        return count(query, names, filters, **options)

    searcher.reader.match_counts = recording
    for text in keystrokes(load_queries(index, questions)):
        searcher.search(text, k=10, mode=mode, facets=FACETS)
    return calls


def exact_articles(reader, query: str, filters, options: dict) -> int:
    """The exact number of articles of a match set, from the keyed copy's article keys."""
    from indexer import lexical
    from indexer.lexical import queries
    from search_api.query import typed_words

    words, prefix = typed_words(query)
    index = reader.lexical_index
    condition = None
    if options["minimum"] is not None:
        condition = queries._words_condition(index, words, prefix, options["typos"], options["minimum"], None, None)
    found = queries._set_query(index, condition, options["among"], **filters.conditions())
    if found is None:
        return 0
    passages = index.searcher.search(found, 1, count=True).count
    hits = index.searcher.search(found, max(passages, 1), count=False).hits
    return len(set(index.searcher.fast_field_values(lexical.ARTICLE_KEY, [address for _, address in hits])))


def replayed(old, keyed, calls: list[tuple], repeats: int) -> dict:
    """Milliseconds per call on each copy and how their answers compare."""
    took = {"old": [], "keyed": []}
    equal, totals_off = 0, []
    for n, (query, names, filters, options) in enumerate(calls):
        best, answers = {}, {}
        for repeat in range(repeats):
            order = [("old", old), ("keyed", keyed)][::1 if (n + repeat) % 2 else -1]
            for name, reader in order:
                started = time.perf_counter()
                answers[name] = reader.match_counts(query, names, filters, **options)
                best[name] = min(best.get(name, float("inf")), (time.perf_counter() - started) * 1000)
        for name in took:
            took[name].append(best[name])
        if answers["old"] == answers["keyed"]:
            equal += 1
        elif answers["old"][0] != answers["keyed"][0]:
            exact = exact_articles(keyed, query, filters, options)
            totals_off.append((exact, answers["old"][0], answers["keyed"][0]))
    return {"took": took, "equal": equal, "totals_off": totals_off}


def main() -> None:
    from search_api.readers import LocalReader

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", type=Path, required=True, help="an index written before article_key")
    parser.add_argument("--keyed", type=Path, required=True, help="the same index rebuilt with it")
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--mode", default="hybrid", choices=["hybrid", "lexical"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    calls = recorded_calls(args.old, args.questions, args.mode)
    result = replayed(LocalReader(args.old), LocalReader(args.keyed), calls, args.repeats)
    print(f"{len(calls)} match sets ({args.mode} keystrokes of {args.questions} questions), fastest of {args.repeats}")
    for name, took in result["took"].items():
        print(f"  {name:6} match_counts ms: p50 {percentile(took, 50):.2f}  p90 {percentile(took, 90):.2f}  "
              f"p99 {percentile(took, 99):.2f}  max {max(took):.2f}  mean {statistics.mean(took):.2f}")
    print(f"  answers equal (total and every facet count): {result['equal']} of {len(calls)}")
    off = result["totals_off"]
    if off:
        print(f"  totals that differ: {len(off)}, of {min(e for e, _, _ in off):,} to {max(e for e, _, _ in off):,} "
              f"articles (exact); off the exact count, mean / max:")
        for name, column in (("by text id", 1), ("by key", 2)):
            errors = [abs(row[column] - row[0]) / row[0] for row in off]
            print(f"    {name}: {statistics.mean(errors):.2%} / {max(errors):.2%}")


if __name__ == "__main__":
    main()
