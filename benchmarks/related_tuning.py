"""Related-coverage tuning and ablation: each article's candidates and all their legs computed once
(search_api.related), then ranked offline under many weightings, as `related` ranks them.

    article-search eval-related ../shared/data/ecbplus-dev/ecbplus_dev.jsonl --label subtopic --index /tmp/h4-ecb
    python benchmarks/related_tuning.py /tmp/h4-ecb ../shared/data/ecbplus-dev/ecbplus_dev.jsonl --label subtopic \
        --split topic

Weights are chosen (best MAP) on one half of the groups named by --split (every second one in
sorted order) and reported on the other half and on all; then the ablation on all articles: the
default's legs removed one at a time, the two first-step legs alone and together. docs/quality.md records the results.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json

from search_api.evaluation import evaluate_related
from search_api.related import WEIGHTS, Weights, add_specifics, candidates, rank
from search_api.searcher import Searcher

LEGS = ("passages", "lexical", "names", "title")
GRID = [Weights(1.0, lexical, names, title) for lexical, names, title in itertools.product(
    (0.0, 0.25, 0.5, 1.0, 1.5, 2.0), (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.5), (0.0, 0.1, 0.2, 0.4, 0.6))]


def measure(table, weights: Weights, ids: list[str], labels: dict[str, str], k: int) -> dict[str, float]:
    lists = {a: [other for _, other in rank(table[a], weights, k)[:k]] for a in ids}
    return {name: round(value, 4) for name, value in evaluate_related(lists, labels).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index")
    parser.add_argument("file")
    parser.add_argument("--label", required=True)
    parser.add_argument("--split", help="the field whose values split the set in two halves to choose and check on")
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()

    records = [json.loads(line) for line in open(args.file, encoding="utf-8") if line.strip()]
    labels = {r["id"]: str(r[args.label]) for r in records}
    every = sorted(labels)
    searcher = Searcher(args.index)
    table = {}
    for article_id in every:
        article = searcher.article(article_id)
        table[article_id] = candidates(searcher.reader, article)
        add_specifics(searcher.reader, article, table[article_id], list(table[article_id]))

    if args.split:
        groups = sorted({str(r[args.split]) for r in records})
        half_of = {r["id"]: groups.index(str(r[args.split])) % 2 for r in records}
        halves = [[a for a in every if half_of[a] == h] for h in (0, 1)]
        for chosen_on in (0, 1):
            best = max(GRID, key=lambda w: (measure(table, w, halves[chosen_on], labels, args.k)["map"],
                                            -sum(dataclasses.astuple(w))))
            print(f"chosen on half {chosen_on}: {best}")
            for name, ids in ((f"half {chosen_on}", halves[chosen_on]), (f"half {1 - chosen_on}", halves[1 - chosen_on]),
                              ("all", every)):
                print(f"   {name:7} {measure(table, best, ids, labels, args.k)}")
        print(f"default {WEIGHTS}")
        for h in (0, 1):
            print(f"   half {h}  {measure(table, WEIGHTS, halves[h], labels, args.k)}")

    print("\nablation on all articles")
    rows = {"default": WEIGHTS}
    for leg in LEGS:
        rows[f"default without {leg}"] = dataclasses.replace(WEIGHTS, **{leg: 0.0})
    rows["passages alone (the previous default)"] = Weights(1.0)
    rows["lexical alone"] = Weights(0.0, 1.0)
    rows["passages + lexical"] = Weights(1.0, WEIGHTS.lexical)
    for name, weights in rows.items():
        print(f"{name:28} {measure(table, weights, every, labels, args.k)}")


if __name__ == "__main__":
    main()
