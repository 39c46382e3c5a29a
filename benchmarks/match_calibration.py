"""Calibrating the match decision (search_api.matching): features of every candidate passage of
BEIR questions over their index, and of questions from another corpus, dumped for fitting.

    python benchmarks/match_calibration.py INDEX --dataset ../shared/data/squad-dev-a \
        --other tests/fixtures/wikinews_questions.jsonl --out /tmp/features.json

Per question: its word count, how many passages hold each number of its words (the lexical
index's counts), and per candidate passage (lexical top 300 of any word and dense top 300) the
article, cosine, idf-weighted word share, words held, and whether it is the answer. The fit and
the threshold choice are `fit` below (run with --fit FEATURES).
"""

from __future__ import annotations

import argparse
import json
import math
import random

import numpy as np

from indexer.lexical import search_matching
from search_api.evaluation import load_beir, load_queries, sample_queries
from search_api.matching import word_shares
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--other", required=True)
    parser.add_argument("--max-queries", type=int, help="a fixed sample of N questions of each set")
    parser.add_argument("--out", required=True)
    dump(parser.parse_args())


if __name__ == "__main__":
    main()
