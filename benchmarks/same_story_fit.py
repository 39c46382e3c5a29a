"""Fit the same-story decision of related coverage (search_api.related.SAME_STORY): a logistic
model over the legs of a candidate (search_api.related.LEGS), and the probability above which a candidate counts as
another report of the same story. Every article's candidates and legs are computed once
(search_api.related), then judged offline.

    article-search eval-related ../shared/data/ecbplus-dev/ecbplus_dev.jsonl --label subtopic --index /tmp/wt-related-ecb
    python benchmarks/same_story_fit.py /tmp/wt-related-ecb ../shared/data/ecbplus-dev/ecbplus_dev.jsonl \
        --label subtopic --split topic --fit-on 0

The set's groups (--split, here ECB+ topics) are cut in two halves, every second one in sorted
order. On one half the model is fitted on the (article, shortlisted candidate) pairs, and the
threshold chosen that maximises related-set F1 averaged over five archives: each event keeping 1,
2, 3, 5 or all of its reports (kept reports drawn with a fixed seed; the others are left out of
the candidates, as if never indexed). Both are then reported on the other half, and the whole is
repeated the other way round (`--fit-on 0` fits on half 0 only, leaving half 1 held out: how the
shipped model was made). A threshold is thus never chosen on the articles it is judged on.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from sklearn.linear_model import LogisticRegression

from search_api.evaluation import KEEPS, kept_reports, set_f1
from search_api.related import LEGS, WEIGHTS, SameStory, add_specifics, candidates
from search_api.searcher import Searcher

CAP = 20  # the related-set cap judged (the largest ECB+ event has 19 reports)
THRESHOLDS = [round(t, 2) for t in np.arange(0.05, 0.96, 0.05)]


def predicted(table, article: str, kept: set[str], model: SameStory) -> set[str]:
    """The related set of `article` when only `kept` articles are indexed (its shortlist among them)."""
    found = {other: c for other, c in table[article].items() if other in kept}
    first = sorted(found, key=lambda o: (-found[o].first(WEIGHTS), o))[:max(30, 3 * CAP)]
    chosen = sorted((o for o in first if model.probability(found[o]) >= model.threshold),
                    key=lambda o: -model.probability(found[o]))
    return set(chosen[:CAP])


def mean_f1(table, labels, ids: list[str], model: SameStory) -> dict:
    scores = {}
    for keep in KEEPS:
        kept = kept_reports(labels, keep)
        judged = [a for a in ids if a in kept]
        scores[keep or "all"] = round(float(np.mean([
            set_f1(predicted(table, a, kept, model), {o for o in kept if o != a and labels[o] == labels[a]})
            for a in judged])), 4)
    scores["mean"] = round(float(np.mean([scores[keep or "all"] for keep in KEEPS])), 4)
    return scores


def fit(table, labels, ids: list[str]) -> SameStory:
    rows, targets = [], []
    for a in ids:
        found = table[a]
        for other in sorted(found, key=lambda o: (-found[o].first(WEIGHTS), o))[:max(30, 3 * CAP)]:
            rows.append([getattr(found[other], leg) for leg in LEGS])
            targets.append(labels[other] == labels[a])
    model = LogisticRegression(C=1.0).fit(np.array(rows), np.array(targets))
    fitted = SameStory(round(float(model.intercept_[0]), 3),
                       *(round(float(w), 3) for w in model.coef_[0]), threshold=0.5)
    best = max(THRESHOLDS, key=lambda t: mean_f1(table, labels, ids, fitted.with_threshold(t))["mean"])
    return fitted.with_threshold(best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index")
    parser.add_argument("file")
    parser.add_argument("--label", required=True)
    parser.add_argument("--split", required=True, help="the field whose values cut the set in two halves")
    parser.add_argument("--fit-on", type=int, choices=(0, 1), action="append",
                        help="the half to fit on (repeatable; default both, each judged on the other)")
    args = parser.parse_args()

    records = [json.loads(line) for line in open(args.file, encoding="utf-8") if line.strip()]
    labels = {r["id"]: str(r[args.label]) for r in records}
    searcher = Searcher(args.index)
    table = {}
    for article_id in sorted(labels):
        article = searcher.article(article_id)
        table[article_id] = candidates(searcher.reader, article)
        add_specifics(searcher.reader, article, table[article_id], list(table[article_id]))
    groups = sorted({str(r[args.split]) for r in records})
    half_of = {r["id"]: groups.index(str(r[args.split])) % 2 for r in records}
    halves = [sorted(a for a in labels if half_of[a] == h) for h in (0, 1)]
    for chosen_on in args.fit_on or (0, 1):
        model = fit(table, labels, halves[chosen_on])
        print(f"fitted on half {chosen_on}: {model}")
        for name, ids in ((f"half {chosen_on}", halves[chosen_on]), (f"half {1 - chosen_on}", halves[1 - chosen_on])):
            print(f"   {name:7} set F1 by reports kept per event {mean_f1(table, labels, ids, model)}")
    from search_api.related import SAME_STORY

    print(f"default {SAME_STORY}")
    for h in (0, 1):
        print(f"   half {h}  {mean_f1(table, labels, halves[h], SAME_STORY)}")


if __name__ == "__main__":
    main()
