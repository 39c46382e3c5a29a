"""Calibrating the match decision (search_api.matching): features of every candidate passage of
BEIR questions over their index, and of questions from another corpus, dumped for fitting.

    python benchmarks/match_calibration.py INDEX --dataset ../shared/data/squad-dev-a \
        --other tests/fixtures/wikinews_questions.jsonl --out /tmp/features.json

Per question: its word count, how many passages hold each number of its words (the lexical
index's counts), and per candidate passage (lexical top 300 of any word and dense top 300) the
article, cosine, idf-weighted word share, words held, and whether it is the answer.

    python benchmarks/match_calibration.py --fit /tmp/features.json

fits the logistic model on two thirds of the in-archive questions (seed 13) and prints, per
word rule and probability threshold, the share of out-of-archive questions left with nothing
and recall@5 on the held-out third (articles ranked as the searcher ranks a match set).
(scikit-learn, which the fit uses, comes with sentence-transformers; only this script needs it.)
"""

from __future__ import annotations

import argparse
import json
import math
import random

import numpy as np

from indexer.lexical import search_matching
from search_api.evaluation import load_beir, load_queries, sample_queries
from search_api.matching import RARE_WORDS_HELD, word_shares
from search_api.query import Filters, typed_words
from search_api.searcher import Searcher

DEPTH = 300
KEPT = 40


def question_features(searcher: Searcher, text: str, vector: np.ndarray, relevant: set[str]) -> dict:
    reader = searcher.reader
    typed = text.lstrip()
    words, prefix = typed_words(typed)
    count = len(words) + (1 if prefix else 0)
    dense = reader.dense(vector, DEPTH, Filters())
    lexical = reader.lexical(typed, DEPTH, Filters(), typos=True)
    bm25 = dict(lexical)
    ids = list(dict.fromkeys([c for c, _ in dense] + [c for c, _ in lexical]))
    evidence = reader.passage_evidence(ids)
    shares = word_shares(reader, typed, {c: t for c, (t, _) in evidence.items()})
    article = reader.article_of(ids)
    # Whether any passage holds at least m of the words, m = 1..count (each word as a match set counts it).
    holding = {m: len(search_matching(reader.lexical_index, words, 1, prefix=prefix, typos=True, minimum=m))
               for m in range(1, count + 1)}
    members_at = {m: [c for c, _ in search_matching(reader.lexical_index, words, DEPTH, prefix=prefix, typos=True,
                                                     minimum=m)] for m in range(1, count + 1)}
    held = {}
    for m in range(1, count + 1):
        for c in members_at[m]:
            held[c] = m
    # The top KEPT of each side (and the answer): what a top 10 is drawn from.
    kept = {c for c, _ in dense[:KEPT]} | {c for c, _ in lexical[:KEPT]} | {c for c in ids if article.get(c) in relevant}
    candidates = [{"article": article.get(c), "cosine": round(float(np.dot(v, vector)), 4),
                   "share": round(shares[c], 4), "held": held.get(c, 0), "bm25": round(bm25.get(c, 0.0), 3),
                   "relevant": article.get(c) in relevant} for c, (_, v) in evidence.items() if c in kept]
    return {"words": count, "holding": holding, "candidates": candidates}


def dump(args) -> None:
    corpus, queries, qrels = load_beir(args.dataset)
    queries = sample_queries(queries, args.max_queries)
    other = sample_queries(load_queries(args.other), args.max_queries)
    searcher = Searcher(args.index)
    out = {}
    for name, questions in (("inside", queries), ("outside", other)):
        ids = list(questions)
        vectors = searcher.encoder.encode([questions[q] for q in ids], batch_size=64, progress=False)
        out[name] = {q: question_features(searcher, questions[q], v, set(qrels.get(q, {})))
                     for q, v in zip(ids, vectors)}
    with open(args.out, "w") as handle:
        json.dump(out, handle)


def recall_at_5(questions: list[dict], weights, minimum_rule, threshold: float | None) -> float:
    """Recall@5 of the match sets (threshold None: every candidate listed), ranked by relevance
    with articles holding the rare words first, as `Searcher` ranks them."""
    found = 0
    for question in questions:
        minimum = minimum_rule(question["words"])
        best: dict[str, tuple] = {}
        for c in question["candidates"]:
            relevance = _relevance(weights, c)
            if threshold is not None and c["held"] < minimum and relevance < threshold:
                continue
            old = best.get(c["article"], (False, 0.0, False))
            best[c["article"]] = (old[0] or c["share"] >= RARE_WORDS_HELD, max(old[1], relevance), old[2] or c["relevant"])
        found += any(hit for _, _, hit in sorted(best.values(), key=lambda v: (v[0], v[1]), reverse=True)[:5])
    return found / len(questions)


def _relevance(weights, candidate: dict) -> float:
    intercept, cosine, share = weights
    return 1 / (1 + math.exp(-(intercept + cosine * candidate["cosine"] + share * candidate["share"])))


def fit(path: str) -> None:
    from sklearn.linear_model import LogisticRegression

    data = json.load(open(path))
    inside, outside = data["inside"], data["outside"]
    ids = sorted(inside)
    random.Random(13).shuffle(ids)
    dev, held = [inside[q] for q in ids[:len(ids) * 2 // 3]], [inside[q] for q in ids[len(ids) * 2 // 3:]]
    features = np.array([[c["cosine"], c["share"]] for q in dev for c in q["candidates"]])
    labels = np.array([c["relevant"] for q in dev for c in q["candidates"]])
    model = LogisticRegression(C=100).fit(features, labels)
    weights = (model.intercept_[0], *model.coef_[0])
    print(f"weights: intercept {weights[0]:.3f}, cosine {weights[1]:.3f}, share {weights[2]:.3f}")
    print(f"held-out recall@5, every candidate listed: {recall_at_5(held, weights, lambda n: n, None):.4f}")
    for all_up_to, spare_every in ((1, 3), (2, 2), (2, 3), (99, 1)):
        def rule(n, a=all_up_to, e=spare_every):
            return n if n <= a else n - math.ceil((n - a) / e)
        for threshold in (0.003, 0.006, 0.01, 0.02, 0.05):
            empty = sum(not q["holding"].get(str(rule(q["words"])), 0)
                        and all(_relevance(weights, c) < threshold for c in q["candidates"]) for q in outside.values())
            print(f"all words up to {all_up_to}, one spared per {spare_every} more, probability {threshold}: "
                  f"{empty / len(outside):.1%} of other questions get nothing; held-out recall@5 "
                  f"{recall_at_5(held, weights, rule, threshold):.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", nargs="?")
    parser.add_argument("--dataset")
    parser.add_argument("--other")
    parser.add_argument("--max-queries", type=int, help="a fixed sample of N questions of each set")
    parser.add_argument("--out")
    parser.add_argument("--fit", metavar="FEATURES", help="fit and print the choices from a dump")
    args = parser.parse_args()
    if args.fit:
        fit(args.fit)
    elif not (args.index and args.dataset and args.other and args.out):
        parser.error("INDEX, --dataset, --other and --out are needed to dump features (or --fit FEATURES)")
    else:
        dump(args)


if __name__ == "__main__":
    main()
